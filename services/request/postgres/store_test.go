package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/postgres"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/request/storetest"
	"github.com/comity-mla/comity/services/trail"
)

// TestLegacyKeys migrates a database whose idempotency key predates
// 0002_create_keys (it knew only the owner's subject) and checks what
// became of the key.
func TestLegacyKeys(t *testing.T) {
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(pool.Close)
	first, err := os.ReadFile("migrations/0001_requests.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Migrate(ctx, pool, fstest.MapFS{"0001_requests.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	r := storedoc.Stored(storetest.LegacyKeyRequest())
	if _, err := pool.Exec(ctx, `INSERT INTO requests (id, reference, type, priority, status,
		requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
		create_time, update_time, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11, $12, $13, $14)`,
		r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status), r.RequestingAgency, r.RequestingState,
		r.RequestedAgency, r.RequestedState, r.Owner, r.CreateTime, r.UpdateTime, r.Version,
		storedoc.EncodeRequest(r)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO reference_counters (state, year, last) VALUES ('KZ', 2026, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (owner, key, request_id) VALUES ($1, $2, $3)`,
		r.Owner, storetest.LegacyKey, r.ID); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.New(ctx, pool)
	if err != nil {
		t.Fatalf("New on a database at 0001: %v", err)
	}
	storetest.CheckLegacyKey(t, s)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) request.Store {
		pool, err := pgdb.Open(t.Context(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(pool.Close)
		s, err := postgres.New(t.Context(), pool)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

// holdKey marks the context of the one Update whose transaction the tracer
// holds open.
type holdKey struct{}

// heldInsert marks, in the tracer's context, the history insert to hold.
type heldInsert struct{}

// holdTracer holds the marked transaction just after its history insert:
// it has taken its seq and not committed.
type holdTracer struct {
	inserted chan struct{} // closed when the marked insert is done
	release  chan struct{} // closed by the test to let it commit
}

func (h *holdTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if ctx.Value(holdKey{}) != nil && strings.Contains(data.SQL, "INSERT INTO history") {
		return context.WithValue(ctx, heldInsert{}, true)
	}
	return ctx
}

func (h *holdTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if ctx.Value(heldInsert{}) != nil && data.Err == nil {
		close(h.inserted)
		<-h.release
	}
}

// TestHistoryCommitsInSeqOrder holds a transaction after it took its history
// seq and runs another change meanwhile: the other change must not commit
// its (later) seq first, or a Watch following HistoryAfter would resume
// after it and never see the held one. The interleaving cannot be arranged
// through request.Store, hence this test beside the suite.
func TestHistoryCommitsInSeqOrder(t *testing.T) {
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	tracer := &holdTracer{inserted: make(chan struct{}), release: make(chan struct{})}
	cfg.ConnConfig.Tracer = tracer
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := postgres.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"req-a", "req-b"} {
		r := request.Request{ID: id, RequestingState: "KZ", Status: request.Draft, CreateTime: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		if _, _, err := s.Create(ctx, r, request.IdempotencyKey{}, request.Change{
			History: &request.HistoryEntry{To: request.Draft}, Event: trail.Event{ID: "ev-create-" + id},
		}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := s.LastHistorySeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(ctx context.Context, id string, done chan<- error) {
		_, err := s.Update(ctx, id, func(r *request.Request) (request.Change, error) {
			r.Status = request.Submitted
			return request.Change{
				History: &request.HistoryEntry{From: request.Draft, To: request.Submitted},
				Event:   trail.Event{ID: "ev-submit-" + id},
			}, nil
		})
		done <- err
	}

	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go submit(context.WithValue(ctx, holdKey{}, true), "req-a", aDone)
	select {
	case <-tracer.inserted:
	case err := <-aDone:
		t.Fatalf("Update of req-a ended before it was held: %v", err)
	}
	go submit(ctx, "req-b", bDone)
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

// TestClarificationsBackfill migrates a database at 0004, whose questions and
// answers are only in the history, and checks what 0005 made of them.
func TestClarificationsBackfill(t *testing.T) {
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(pool.Close)
	before := fstest.MapFS{}
	for _, name := range []string{"0001_requests.sql", "0002_create_keys.sql", "0003_audit_dead_letters.sql", "0004_requests_update_time.sql"} {
		b, err := os.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: b}
	}
	if err := pgdb.Migrate(ctx, pool, before); err != nil {
		t.Fatal(err)
	}
	asked, quiet := storetest.LegacyAsked()
	for _, r := range []request.Request{asked, quiet} {
		if _, err := pool.Exec(ctx, `INSERT INTO requests (id, reference, type, priority, status,
			requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
			create_time, update_time, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status), r.RequestingAgency, r.RequestingState,
			r.RequestedAgency, r.RequestedState, r.Owner, !r.TransmitTime.IsZero(), r.CreateTime, r.UpdateTime, r.Version,
			storedoc.EncodeRequest(r)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range storetest.LegacyAskedHistory() {
		if _, err := pool.Exec(ctx, `INSERT INTO history (request_id, reference, from_status, to_status, action,
			actor_subject, actor_name, actor_agency, time, reason,
			requesting_agency, requesting_state, requested_agency, requested_state, owner)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			h.RequestID, h.Reference, string(h.From), string(h.To), h.Action,
			h.Actor.Subject, h.Actor.Name, h.Actor.Agency, h.Time, h.Reason,
			h.RequestingAgency, h.RequestingState, h.RequestedAgency, h.RequestedState, h.Owner); err != nil {
			t.Fatal(err)
		}
	}
	s, err := postgres.New(ctx, pool)
	if err != nil {
		t.Fatalf("New on a database at 0004: %v", err)
	}
	storetest.CheckBackfilledClarifications(t, s)
}
