package store_test

import (
	"errors"
	"fmt"
	"slices"

	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/store"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/request/storetest"
	"github.com/comity-mla/comity/services/trail"
)

// engines runs f on an empty database of each engine.
func engines(t *testing.T, f func(t *testing.T, db *sqldb.DB)) {
	for _, o := range sqldbtest.Engines {
		t.Run(o.Name, func(t *testing.T) { f(t, o.Open(t)) })
	}
}

func newStore(t *testing.T, db *sqldb.DB) *store.Store {
	t.Helper()
	return sqldbtest.New(t, store.New, db)
}

// TestStore runs the conformance suite on each engine, on a new database
// for each of its tests.
func TestStore(t *testing.T) {
	for _, o := range sqldbtest.Engines {
		t.Run(o.Name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) request.Store { return newStore(t, o.Open(t)) })
		})
	}
}

// migrateTo applies the engine's migrations named, and only those.
func migrateTo(t *testing.T, db *sqldb.DB, names ...string) {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range names {
		path := db.Dialect().String() + "/" + name
		b, err := os.ReadFile("migrations/" + path)
		if err != nil {
			t.Fatal(err)
		}
		fsys[path] = &fstest.MapFile{Data: b}
	}
	if err := sqldb.Migrate(t.Context(), db, fsys); err != nil {
		t.Fatal(err)
	}
}

// insertRequest writes r as the stores before 0005 did.
func insertRequest(t *testing.T, db *sqldb.DB, r request.Request) {
	t.Helper()
	d := db.Dialect()
	if _, err := db.Exec(t.Context(), `INSERT INTO requests (id, reference, type, priority, status,
		requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
		create_time, update_time, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status), r.RequestingAgency, r.RequestingState,
		r.RequestedAgency, r.RequestedState, r.Owner, !r.TransmitTime.IsZero(), d.Time(r.CreateTime), d.Time(r.UpdateTime),
		r.Version, storedoc.EncodeRequest(r)); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyKeys migrates a database whose idempotency key predates
// 0002_create_keys (it knew only the owner's subject) and checks what
// became of the key.
func TestLegacyKeys(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		migrateTo(t, db, "0001_requests.sql")
		r := storedoc.Stored(storetest.LegacyKeyRequest())
		insertRequest(t, db, r)
		if _, err := db.Exec(ctx, `INSERT INTO reference_counters (state, year, last) VALUES ('KZ', 2026, 1)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO idempotency_keys (owner, key, request_id) VALUES (?, ?, ?)`,
			r.Owner, storetest.LegacyKey, r.ID); err != nil {
			t.Fatal(err)
		}
		storetest.CheckLegacyKey(t, newStore(t, db))
	})
}

// TestClarificationsBackfill migrates a database at 0004, whose questions and
// answers are only in the history, and checks what 0005 made of them.
func TestClarificationsBackfill(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		migrateTo(t, db, "0001_requests.sql", "0002_create_keys.sql", "0003_audit_dead_letters.sql", "0004_requests_update_time.sql")
		asked, quiet := storetest.LegacyAsked()
		insertRequest(t, db, asked)
		insertRequest(t, db, quiet)
		for _, h := range storetest.LegacyAskedHistory() {
			if _, err := db.Exec(t.Context(), `INSERT INTO history (request_id, reference, from_status, to_status, action,
				actor_subject, actor_name, actor_agency, time, reason,
				requesting_agency, requesting_state, requested_agency, requested_state, owner)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				h.RequestID, h.Reference, string(h.From), string(h.To), h.Action,
				h.Actor.Subject, h.Actor.Name, h.Actor.Agency, db.Dialect().Time(h.Time), h.Reason,
				h.RequestingAgency, h.RequestingState, h.RequestedAgency, h.RequestedState, h.Owner); err != nil {
				t.Fatal(err)
			}
		}
		storetest.CheckBackfilledClarifications(t, newStore(t, db))
	})
}

// tracedPool opens a pool on a new database whose connections report to
// tracer.
func tracedPool(t *testing.T, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func draft(id string) request.Request {
	return request.Request{ID: id, RequestingState: "KZ", Status: request.Draft, CreateTime: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func create(t *testing.T, s *store.Store, id string) {
	t.Helper()
	if _, _, err := s.Create(t.Context(), draft(id), request.IdempotencyKey{}, request.Change{
		History: &request.HistoryEntry{To: request.Draft}, Event: trail.Event{ID: "ev-create-" + id},
	}); err != nil {
		t.Fatal(err)
	}
}

func submit(ctx context.Context, s *store.Store, id string) error {
	_, err := s.Update(ctx, id, func(r *request.Request) (request.Change, error) {
		r.Status = request.Submitted
		return request.Change{
			History: &request.HistoryEntry{From: request.Draft, To: request.Submitted},
			Event:   trail.Event{ID: "ev-submit-" + id},
		}, nil
	})
	return err
}

// roundTrips counts the round trips of the connections it traces: each
// statement sent alone is one, and each batch one.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestRoundTrips pins how many round trips to PostgreSQL a create and an
// update take, which bounds their throughput: the reference counter's row
// lock and the history lock are held across every round trip after they are
// taken. A create is one batch run as an implicit transaction (the old store
// took 7 round trips); an update BEGIN, the locking read, one batch and
// COMMIT (7 before).
func TestRoundTrips(t *testing.T) {
	tracer := &roundTrips{}
	s := newStore(t, sqldb.FromPostgres(tracedPool(t, tracer)))
	for _, id := range []string{"req-a", "req-b"} {
		// The first statements of a connection are prepared first, a
		// round trip more: count the second create and update.
		before := tracer.n.Load()
		create(t, s, id)
		created := tracer.n.Load() - before
		before = tracer.n.Load()
		if err := submit(t.Context(), s, id); err != nil {
			t.Fatal(err)
		}
		updated := tracer.n.Load() - before
		if id == "req-b" && (created != 1 || updated != 4) {
			t.Errorf("round trips of a create, an update = %d, %d; want 1, 4", created, updated)
		}
	}
}

// holdKey marks the context of the one Update whose transaction the tracer
// holds open.
type holdKey struct{}

// holdTracer holds the marked transaction just after the batch with its
// history insert: it has taken its seq and not committed.
type holdTracer struct {
	inserted chan struct{} // closed when the marked batch is done
	release  chan struct{} // closed by the test to let it commit
}

func (h *holdTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (h *holdTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (h *holdTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if ctx.Value(holdKey{}) == nil {
		return ctx
	}
	for _, q := range data.Batch.QueuedQueries {
		if strings.Contains(q.SQL, "INSERT INTO history") {
			return context.WithValue(ctx, heldInsert{}, true)
		}
	}
	return ctx
}

func (h *holdTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (h *holdTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	if ctx.Value(heldInsert{}) != nil && data.Err == nil {
		close(h.inserted)
		<-h.release
	}
}

// heldInsert marks, in the tracer's context, the batch to hold.
type heldInsert struct{}

// TestHistoryCommitsInSeqOrder holds a transaction after it took its history
// seq and runs another change meanwhile: the other change must not commit
// its (later) seq first, or a Watch following HistoryAfter would resume
// after it and never see the held one. The interleaving cannot be arranged
// through request.Store, hence this test beside the suite. (SQLite writes
// one transaction at a time.)
func TestHistoryCommitsInSeqOrder(t *testing.T) {
	ctx := t.Context()
	tracer := &holdTracer{inserted: make(chan struct{}), release: make(chan struct{})}
	pool := tracedPool(t, tracer)
	s := newStore(t, sqldb.FromPostgres(pool))
	for _, id := range []string{"req-a", "req-b"} {
		create(t, s, id)
	}
	after, err := s.LastHistorySeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() { aDone <- submit(context.WithValue(ctx, holdKey{}, true), s, "req-a") }()
	select {
	case <-tracer.inserted:
	case err := <-aDone:
		t.Fatalf("Update of req-a ended before it was held: %v", err)
	}
	go func() { bDone <- submit(ctx, s, "req-b") }()
	// Wait until req-b's update either committed or waits for a lock.
	for waiting := false; !waiting; {
		select {
		case err := <-bDone:
			h, _ := s.HistoryAfter(ctx, after, 0)
			close(tracer.release)
			<-aDone
			t.Fatalf("Update of req-b ended (%v) while req-a's held an earlier seq; HistoryAfter(%d) = %+v, "+
				"so a follower would resume after req-b's entry and never see req-a's", err, after, h)
		default:
		}
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := s.HistoryAfter(ctx, after, 0); err != nil || h != nil {
		t.Errorf("HistoryAfter(%d) while both are pending = %+v, %v; want nothing", after, h, err)
	}
	close(tracer.release)
	for name, done := range map[string]chan error{"req-a": aDone, "req-b": bDone} {
		if err := <-done; err != nil {
			t.Errorf("Update of %s: %v", name, err)
		}
	}
	h, err := s.HistoryAfter(ctx, after, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].RequestID != "req-a" || h[1].RequestID != "req-b" || h[0].Seq >= h[1].Seq {
		t.Errorf("HistoryAfter(%d) = %+v; want req-a's entry, then req-b's", after, h)
	}
}

// TestConcurrentCreatesWithFailures creates requests at once on PostgreSQL,
// where the store writes creates that arrive together in one transaction,
// some of them with an id already taken: those fail alone, with
// AlreadyExists, and the others get every number from 2 on, once each.
func TestConcurrentCreatesWithFailures(t *testing.T) {
	s := newStore(t, sqldb.FromPostgres(tracedPool(t, &roundTrips{})))
	create(t, s, "taken")
	const n = 40
	failures := make(chan error, n)
	refs := make(chan string, n)
	for i := range n {
		go func() {
			id := fmt.Sprintf("req-%02d", i)
			if i%10 == 0 {
				id = "taken"
			}
			r, _, err := s.Create(t.Context(), draft(id), request.IdempotencyKey{}, request.Change{
				History: &request.HistoryEntry{To: request.Draft}, Event: trail.Event{ID: fmt.Sprintf("ev-%02d", i)},
			})
			refs <- r.Reference
			failures <- err
		}()
	}
	var got []string
	failed := 0
	for range n {
		ref, err := <-refs, <-failures
		switch {
		case errors.Is(err, errs.ErrAlreadyExists):
			failed++
		case err != nil:
			t.Errorf("Create: %v", err)
		default:
			got = append(got, ref)
		}
	}
	slices.Sort(got)
	var want []string
	for i := 2; i <= n-n/10+1; i++ {
		want = append(want, fmt.Sprintf("KZ-2026-%06d", i))
	}
	if failed != n/10 || !slices.Equal(got, want) {
		t.Errorf("%d creates failed, references %v; want %d failed and %v", failed, got, n/10, want)
	}
}

// TestDocumentsCarryTheReference: the reference is numbered in SQL, yet the
// stored document and the create's history snapshot carry it, as they did
// when the store numbered it first: a replica of the release before, which
// reads the reference from the document, shows it during a rolling upgrade.
func TestDocumentsCarryTheReference(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		create(t, s, "r1")
		create(t, s, "r2")
		for _, id := range []string{"r1", "r2"} {
			var doc, snapshot, ref string
			if err := db.QueryRow(t.Context(), `SELECT r.doc, h.snapshot, r.reference FROM requests r
				JOIN history h ON h.request_id = r.id WHERE r.id = ?`, id).Scan(&doc, &snapshot, &ref); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ref, "KZ-2026-") {
				t.Fatalf("%s: reference column %q", id, ref)
			}
			for what, text := range map[string]string{"document": doc, "history snapshot": snapshot} {
				r, err := storedoc.DecodeRequest(text)
				if err != nil {
					t.Fatalf("%s: %s: %v", id, what, err)
				}
				if r.Reference != ref || r.ID != id {
					t.Errorf("%s: the %s holds reference %q (id %q), want %q", id, what, r.Reference, r.ID, ref)
				}
			}
		}
	})
}
