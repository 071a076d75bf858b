// Package store is the request.Store of both deployments, written once over
// platform/sqldb: the embedded one on a SQLite file, the scaled-out one on a
// PostgreSQL database that several replicas share.
//
// It owns the request service's tables, their migrations per engine
// (migrations/sqlite, migrations/postgres) and the mapping of the domain's
// filter fields to columns. It may import the request domain, its stored
// document (storedoc), platform/sqldb, query, errs and trail; on PostgreSQL
// it also uses pgx directly, for batches.
package store

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations
var migrations embed.FS

// historyLockKey is the transaction-level advisory lock every history insert
// takes on PostgreSQL just before it, so that history entries commit in seq
// order.
//
// An identity column hands out values in the order transactions ask, but
// they become visible in the order transactions commit: without the lock, a
// Watch reading HistoryAfter could see seq 8, resume after it, and never see
// seq 7 committed a moment later. With it, an entry is inserted only after
// the previous one committed (PostgreSQL makes a commit visible before it
// releases the transaction's locks), so the visible seqs are always a prefix.
// The lock is held only from the insert to the commit, the last steps of a
// change, which reach the server in one batch with it (see run): it
// serialises that short tail across every replica. The value is fixed for
// the whole suite; it spells "comity:h" in ASCII, beside the migrations'
// "comity:m". SQLite writes one transaction at a time and needs no lock.
const historyLockKey int64 = 0x636f6d6974793a68

// columns maps the domain's filter fields (request.StoreSchema) to columns.
var columns = map[string]string{
	"owner":            "owner",
	"transmitted":      "transmitted",
	"acknowledgeBy":    "acknowledge_by",
	"answerBy":         "answer_by",
	"status":           "status",
	"type":             "type",
	"priority":         "priority",
	"requestingState":  "requesting_state",
	"requestedState":   "requested_state",
	"requestingAgency": "requesting_agency",
	"requestedAgency":  "requested_agency",
	"createTime":       "create_time",
	"updateTime":       "update_time",
	"reference":        "reference",
	"retentionFrom":    "retention_from",
	"evidenceEraseBy":  "evidence_erase_by",
	"erasurePending":   "erasure_pending",
}

// storeSchema is request.StoreSchema with the columns of engine d.
// "overdue" has none: the Service rewrites it into deadline comparisons
// before a query reaches the store.
//
// confirmation_due_by (and obligation_due_by likewise) is NULL for every request but one recorded from a
// call and not yet confirmed, and the Service negates its comparison (not
// overdue): under SQL's three-valued logic NOT (due < now) is NULL, not true,
// for a NULL due, and would drop every other request from a list of those
// not overdue. The filter compares it as a date that never comes instead.
func storeSchema(d sqldb.Dialect) (query.Schema, error) {
	cols := maps.Clone(columns)
	cols["confirmationDueBy"] = "COALESCE(confirmation_due_by, 'infinity'::timestamptz)"
	cols["obligationDueBy"] = "COALESCE(obligation_due_by, 'infinity'::timestamptz)"
	if d == sqldb.SQLite {
		cols["confirmationDueBy"] = "COALESCE(confirmation_due_by, 9223372036854775807)"
		cols["obligationDueBy"] = "COALESCE(obligation_due_by, 9223372036854775807)"
	}
	return slices.DeleteFunc(slices.Clone(request.StoreSchema), func(f query.Field) bool {
		return f.Name == "overdue"
	}).WithColumns(cols)
}

// Store keeps requests, their history, messages, attachment records and the
// audit outbox, in SQLite or PostgreSQL.
//
// On SQLite every write is one IMMEDIATE transaction of sqlitedb's single
// writer, which serialises writers within the process and, through SQLite's
// lock, with other processes on the file: that alone makes reference numbers
// gap-free, read-modify-write updates race-free and history seqs commit in
// order. On PostgreSQL, Create numbers references with an upsert on
// reference_counters, whose row lock makes concurrent creators of one state
// and year take turns; Update locks the request row (SELECT … FOR UPDATE);
// history inserts take historyLockKey. The locked part of each write reaches
// the server as one batch, so that a lock is held for the server's work and
// the commit, not for round trips.
//
// A request's reference is its column's: Create numbers it inside the
// statement that inserts the request, and sets it in the document (and the
// history snapshot) in SQL, so that every document carries it as before;
// reads set it from the column.
//
// Times are stored in UTC truncated to microseconds, and kept as given: the
// domain takes them from its own clock. Only a zero CreateTime (and then
// UpdateTime) of a new request, or CreateTime of a message or attachment, is
// set to the time of the write.
type Store struct {
	sqldb.Outbox
	db      *sqldb.DB
	schema  query.Schema
	creates creates
}

var (
	_ request.Store = (*Store)(nil)
	_ trail.Outbox  = (*Store)(nil)
)

// New applies the request service's migrations of db's engine and returns a
// store on it. The caller keeps ownership of the database under db and
// closes it after the last use of the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("request migrations: %w", err)
	}
	schema, err := storeSchema(db.Dialect())
	if err != nil {
		return nil, fmt.Errorf("request store: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate requests: %w", err)
	}
	st := &Store{Outbox: sqldb.Outbox{DB: db}, db: db, schema: schema}
	st.creates.cond = sync.NewCond(&st.creates.mu)
	return st, nil
}

// stmt is one statement of a write; into, when set, receives the columns of
// the one row it returns.
type stmt struct {
	sql  string
	args []any
	into []any
}

// run executes stmts in order in tx and returns the first error with the
// index of its statement. On PostgreSQL they go as one batch: one round trip
// for all, the server skipping the rest after an error.
func (s *Store) run(ctx context.Context, tx *sqldb.Tx, stmts []stmt) (int, error) {
	if pg := tx.Postgres(); pg != nil {
		return s.batch(ctx, pg, stmts)
	}
	for i, st := range stmts {
		var err error
		if st.into != nil {
			err = tx.QueryRow(ctx, st.sql, st.args...).Scan(st.into...)
		} else {
			_, err = tx.Exec(ctx, st.sql, st.args...)
		}
		if err != nil {
			return i, err
		}
	}
	return 0, nil
}

// runAlone executes stmts as a transaction of their own. On PostgreSQL that
// is one batch outside any transaction block, which the server runs as one
// implicit transaction, committed at its end or rolled back at its first
// error: BEGIN and COMMIT cost no round trips of their own.
func (s *Store) runAlone(ctx context.Context, stmts []stmt) (int, error) {
	if pool := s.db.Pool(); pool != nil {
		return s.batch(ctx, pool, stmts)
	}
	var at int
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		at, err = s.run(ctx, tx, stmts)
		return err
	})
	return at, err
}

// batch sends stmts to PostgreSQL at once and reads their results in order.
func (s *Store) batch(ctx context.Context, to interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, stmts []stmt) (int, error) {
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(s.db.SQL(st.sql), st.args...)
	}
	res := to.SendBatch(ctx, b)
	defer res.Close()
	for i, st := range stmts {
		var err error
		if st.into != nil {
			err = res.QueryRow().Scan(st.into...)
		} else {
			_, err = res.Exec()
		}
		if err != nil {
			return i, err
		}
	}
	return 0, res.Close()
}

// duplicate reports whether err violates the unique key named pg on
// PostgreSQL, or made of the columns lite on SQLite.
func duplicate(err error, pg, lite string) bool {
	c, ok := sqldb.UniqueViolation(err)
	return ok && (c == pg || c == lite)
}

// Requests.

// requestColumns are what scanRequest reads.
const requestColumns = `reference, doc`

func scanRequest(row sqldb.Scanner) (request.Request, error) {
	var ref, doc string
	if err := row.Scan(&ref, &doc); err != nil {
		return request.Request{}, err
	}
	r, err := storedoc.DecodeRequest(doc)
	if err != nil {
		return request.Request{}, fmt.Errorf("decode request: %w", err)
	}
	r.Reference = ref
	return r, nil
}

// getRequest reads a request; lock takes its row lock until the end of the
// transaction.
func getRequest(ctx context.Context, q sqldb.Querier, d sqldb.Dialect, id string, lock bool) (request.Request, error) {
	sql := `SELECT ` + requestColumns + ` FROM requests WHERE id = ?`
	if lock {
		sql += d.ForUpdate()
	}
	r, err := scanRequest(q.QueryRow(ctx, sql, id))
	if errors.Is(err, sqldb.ErrNoRows) {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", id)
	}
	if err != nil {
		return request.Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// replay answers a create whose idempotency key is taken: with the request
// it created, or KeyReused when the body differs. found is false when the
// key is free.
func (s *Store) replay(ctx context.Context, key request.IdempotencyKey) (r request.Request, found bool, err error) {
	return replayOn(ctx, s.db, s.db.Dialect(), key)
}

// replayOn is replay, reading through q.
func replayOn(ctx context.Context, q sqldb.Querier, d sqldb.Dialect, key request.IdempotencyKey) (r request.Request, found bool, err error) {
	// The caller's own key, or one carried over from before keys named the
	// issuer (empty issuer).
	var id, sum string
	err = q.QueryRow(ctx, `SELECT request_id, body_sha256 FROM create_keys
		WHERE subject = ? AND agency = ? AND key = ? AND issuer IN (?, '')
		ORDER BY issuer DESC LIMIT 1`, key.Subject, key.Agency, key.Key, key.Issuer).Scan(&id, &sum)
	switch {
	case errors.Is(err, sqldb.ErrNoRows):
		return request.Request{}, false, nil
	case err != nil:
		return request.Request{}, false, fmt.Errorf("idempotency key: %w", err)
	case sum != "" && sum != key.BodySHA256:
		return request.Request{}, true, request.KeyReused(key.Key)
	}
	r, err = getRequest(ctx, q, d, id, false)
	return r, true, err
}

// withReference is the SQL of the JSON document doc with its reference set
// to the SQL text value ref: documents carry their reference, as every
// release before the reference was numbered in SQL read it from there.
func withReference(d sqldb.Dialect, doc, ref string) string {
	if d == sqldb.Postgres {
		return `jsonb_set(` + doc + `::jsonb, '{reference}', to_jsonb(` + ref + `::text))`
	}
	return `json_set(` + doc + `, '$.reference', ` + ref + `)`
}

// referenceOf is the SQL of a new request's reference, "KZ-2026-000042",
// from the columns state, year and n (its number).
func referenceOf(d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return `state || '-' || lpad(year::text, greatest(4, length(year::text)), '0') || '-' ||
			lpad(n::text, greatest(6, length(n::text)), '0')`
	}
	return `printf('%s-%04d-%06d', state, year, n)`
}

// maxGroup bounds the creates one transaction writes.
const maxGroup = 100

// groupTimeout bounds the writing of a group of creates, which runs on no
// caller's context (see createAll).
const groupTimeout = time.Minute

// pendingCreate is a Create in its way to the database: r as it is stored
// (its Reference set by the transaction that writes it), and, once done is
// true, its outcome.
type pendingCreate struct {
	r    request.Request
	key  request.IdempotencyKey
	ch   request.Change
	ev   stmt // writes ch.Event
	done bool
	err  error
}

// creates queues the Creates of one Store on PostgreSQL (see createAll).
type creates struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when a group is written
	queue   []*pendingCreate
	running bool
}

// Create implements request.Store.
//
// It is one transaction: the idempotency key (if any), the reference
// counter's upsert, the request with its reference numbered from the
// counter, the event and the history entry. On PostgreSQL it is written
// together with the creates that arrive meanwhile (see createAll).
//
// A create whose key is taken answers with the key's request (see replay).
// Two creates with one key at once: the second's key insert waits for the
// first to end; if it committed, the second fails on the key and then reads
// the winner's request, having written nothing. If it rolled back, the
// second goes on.
func (s *Store) Create(ctx context.Context, r request.Request, key request.IdempotencyKey, ch request.Change) (request.Request, bool, error) {
	if r.ID == "" {
		return request.Request{}, false, errors.New("create request: no id")
	}
	if key.Key != "" {
		got, found, err := s.replay(ctx, key)
		if found || err != nil {
			return got, false, err
		}
	}
	r.Version = 1
	if r.CreateTime.IsZero() {
		r.CreateTime = time.Now()
	}
	if r.UpdateTime.IsZero() {
		r.UpdateTime = r.CreateTime
	}
	r.Reference = ""
	// The event is built here, so that a bad one fails its create alone.
	ev, err := eventOf(s.db.Dialect(), ch.Event)
	if err != nil {
		return request.Request{}, false, fmt.Errorf("create request %s: %w", r.ID, err)
	}
	p := &pendingCreate{r: storedoc.Stored(r), key: key, ch: ch, ev: ev}
	err = s.createAll(ctx, p)
	switch {
	case err == nil:
		return p.r, true, nil
	case key.Key != "" && duplicate(err, "create_keys_pkey", "create_keys.issuer, create_keys.subject, create_keys.agency, create_keys.key"):
		// A concurrent create with the key was written first. On SQLite
		// it may be in the group transaction that refused this one, not
		// yet committed: read the key in a write transaction of its own,
		// which begins once that group has committed.
		var got request.Request
		var found bool
		err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
			var err error
			got, found, err = replayOn(ctx, tx, s.db.Dialect(), key)
			return err
		})
		if err == nil && !found {
			err = fmt.Errorf("create request %s: idempotency key %q taken and not found", r.ID, key.Key)
		}
		return got, false, err
	case duplicate(err, "requests_pkey", "requests.id"):
		return request.Request{}, false, errs.Wrap(err, errs.AlreadyExists, "request %q already exists", r.ID)
	}
	return request.Request{}, false, fmt.Errorf("create request %s: %w", r.ID, err)
}

// createAll writes p, and returns its error.
//
// On SQLite it is one transaction of sqlitedb's writer, which commits the
// transactions of concurrent writes together. On PostgreSQL every create of
// a state and year takes the row lock of its reference counter and holds it
// to the commit, its WAL flush included: creates one at a time would take
// turns at the disk's pace. So the creates that arrive while one transaction
// runs queue, and the next transaction writes them all (up to maxGroup), as
// one batch: one round trip, one lock, one flush for the group. Should it
// fail, each of its creates is written alone, so that one create's error
// (a taken id or key) is its own.
func (s *Store) createAll(ctx context.Context, p *pendingCreate) error {
	pool := s.db.Pool()
	if pool == nil {
		_, err := s.runAlone(ctx, createStmts(s.db.Dialect(), []*pendingCreate{p}))
		return err
	}
	// Once queued, p is written whatever becomes of ctx: its group's
	// transaction may run in another create's call. groupTimeout bounds
	// the wait instead, should the database not answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	c := &s.creates
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, p)
	for !p.done {
		if c.running {
			c.cond.Wait()
			continue
		}
		var group []*pendingCreate
		group, c.queue = nextGroup(c.queue)
		c.running = true
		c.mu.Unlock()
		s.writeGroup(ctx, pool, group)
		c.mu.Lock()
		c.running = false
		c.cond.Broadcast()
	}
	return p.err
}

// nextGroup splits queue into the next group to write, in arrival order and
// at most maxGroup, and what stays queued. A create whose idempotency key is
// already in the group (a client's retry that came while the first was
// queued) waits for the next one, where it finds the first committed: in
// one group the two would fail it, and every create of it be written again
// alone.
func nextGroup(queue []*pendingCreate) (group, rest []*pendingCreate) {
	keys := map[request.IdempotencyKey]bool{}
	for _, p := range queue {
		k := p.key
		k.BodySHA256 = ""
		switch {
		case len(group) == maxGroup, k.Key != "" && keys[k]:
			rest = append(rest, p)
			continue
		case k.Key != "":
			keys[k] = true
		}
		group = append(group, p)
	}
	return group, rest
}

// writeGroup writes group in one transaction, or else each create alone,
// and marks them done.
func (s *Store) writeGroup(ctx context.Context, pool *pgxpool.Pool, group []*pendingCreate) {
	_, err := s.batch(ctx, pool, createStmts(sqldb.Postgres, group))
	// A database that did not answer in time would not answer each
	// create alone either.
	alone := err != nil && len(group) > 1 && ctx.Err() == nil
	for _, p := range group {
		if alone {
			_, p.err = s.batch(ctx, pool, createStmts(sqldb.Postgres, []*pendingCreate{p}))
			if duplicate(p.err, "requests_pkey", "") && s.committed(ctx, p) {
				// The group did commit (its answer was lost): p is written.
				p.err = nil
			}
		} else {
			p.err = err
		}
	}
	s.creates.mu.Lock()
	for _, p := range group {
		p.done = true
	}
	s.creates.mu.Unlock()
}

// committed reports whether p's create is in the database with its own
// event: its id alone could be another create's, its event id is p's.
func (s *Store) committed(ctx context.Context, p *pendingCreate) bool {
	err := s.db.QueryRow(ctx, `SELECT r.reference FROM requests r, audit_outbox o
		WHERE r.id = ? AND o.event_id = ?`, p.r.ID, p.ch.Event.ID).Scan(&p.r.Reference)
	return err == nil
}

// createStmts is the transaction that writes group: each state and year's
// reference counter advanced by its number of creates, then for each create
// its key, its request (numbered in its order within the group) and its
// event, then the history entries, under historyLockKey on PostgreSQL.
func createStmts(d sqldb.Dialect, group []*pendingCreate) []stmt {
	type counter struct {
		state string
		year  int
	}
	count := map[counter]int{}
	var counters []counter
	for _, p := range group {
		c := counter{p.r.RequestingState, p.r.CreateTime.Year()}
		if count[c] == 0 {
			counters = append(counters, c)
		}
		count[c]++
	}
	// In one order, so that groups of several replicas cannot deadlock.
	slices.SortFunc(counters, func(a, b counter) int {
		return cmp.Or(cmp.Compare(a.state, b.state), cmp.Compare(a.year, b.year))
	})
	var stmts, history []stmt
	for _, c := range counters {
		stmts = append(stmts, stmt{sql: `INSERT INTO reference_counters (state, year, last) VALUES (?, ?, ?)
			ON CONFLICT (state, year) DO UPDATE SET last = reference_counters.last + excluded.last`,
			args: []any{c.state, c.year, count[c]}})
	}
	for _, p := range group {
		r, key := &p.r, p.key
		if key.Key != "" {
			stmts = append(stmts, stmt{sql: `INSERT INTO create_keys (issuer, subject, agency, key, body_sha256, request_id)
				VALUES (?, ?, ?, ?, ?, ?)`, args: []any{key.Issuer, key.Subject, key.Agency, key.Key, key.BodySHA256, r.ID}})
		}
		c := counter{r.RequestingState, r.CreateTime.Year()}
		// The last of the counter's numbers is the last create's of c.
		count[c]--
		// The reference is numbered here, in the column and in the
		// document alike (the same subquery twice, in one transaction).
		ref := `(SELECT ` + referenceOf(d) + ` FROM (SELECT state, year, last - ? AS n FROM reference_counters
				WHERE state = ? AND year = ?) AS c)`
		stmts = append(stmts, stmt{sql: `INSERT INTO requests (id, reference, type, priority, status,
			requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
			acknowledge_by, answer_by, confirmation_due_by, retention_from, evidence_erase_by, obligation_due_by, erasure_pending,
			create_time, update_time, version, doc)
			VALUES (?, ` + ref + `, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` + withReference(d, "?", ref) + `)
			RETURNING reference`,
			args: []any{r.ID, count[c], c.state, c.year, string(r.Type), string(r.Priority), string(r.Status),
				r.RequestingAgency, r.RequestingState, r.RequestedAgency, r.RequestedState, r.Owner, !r.TransmitTime.IsZero(),
				d.NullTime(r.Deadlines.AcknowledgeBy), d.NullTime(r.Deadlines.AnswerBy), d.NullTime(r.Deadlines.ConfirmationDueBy),
				d.NullTime(r.RetentionStart()), d.NullTime(r.Deadlines.EvidenceEraseBy), d.NullTime(r.ObligationDueBy()), r.ErasurePending(),
				d.Time(r.CreateTime), d.Time(r.UpdateTime), r.Version, storedoc.EncodeRequest(*r), count[c], c.state, c.year},
			into: []any{&r.Reference}}, p.ev)
		if p.ch.History != nil {
			history = append(history, historyStmt(d, *r, *p.ch.History))
		}
	}
	return append(stmts, lockHistory(d, history)...)
}

// changeOf is the statements that write the event and the history entry of a
// change of r, the last of its transaction: on PostgreSQL the history insert
// takes historyLockKey, held until the commit.
func changeOf(d sqldb.Dialect, r request.Request, ch request.Change) ([]stmt, error) {
	ev, err := eventOf(d, ch.Event)
	if err != nil {
		return nil, err
	}
	if ch.History == nil {
		return []stmt{ev}, nil
	}
	return append([]stmt{ev}, lockHistory(d, []stmt{historyStmt(d, r, *ch.History)})...), nil
}

// lockHistory is history preceded, on PostgreSQL, by the statement that
// takes historyLockKey; nothing for no history.
func lockHistory(d sqldb.Dialect, history []stmt) []stmt {
	if d != sqldb.Postgres || len(history) == 0 {
		return history
	}
	return append([]stmt{{sql: `SELECT pg_advisory_xact_lock(?)`, args: []any{historyLockKey}}}, history...)
}

// historyStmt inserts the history entry h of a change of r. The entry's
// reference is the request's column, which Create numbers in the same
// transaction.
func historyStmt(d sqldb.Dialect, r request.Request, h request.HistoryEntry) stmt {
	h = historyOf(r, h)
	return stmt{sql: `INSERT INTO history (request_id, reference, from_status, to_status, action,
		actor_subject, actor_name, actor_agency, time, reason,
		requesting_agency, requesting_state, requested_agency, requested_state, owner, snapshot)
		SELECT ?, reference, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` + withReference(d, "?", "reference") + ` FROM requests WHERE id = ?`,
		args: []any{h.RequestID, string(h.From), string(h.To), h.Action,
			h.Actor.Subject, h.Actor.Name, h.Actor.Agency, d.Time(h.Time), h.Reason,
			h.RequestingAgency, h.RequestingState, h.RequestedAgency, h.RequestedState, h.Owner,
			storedoc.EncodeRequest(*h.Snapshot), h.RequestID}}
}

// eventOf is the statement that adds e to the outbox, as sqldb.InsertEvent
// does, for a batch.
func eventOf(d sqldb.Dialect, e trail.Event) (stmt, error) {
	if e.ID == "" {
		return stmt{}, errors.New("audit event has no id")
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(e)
	if err != nil {
		return stmt{}, fmt.Errorf("audit outbox: %w", err)
	}
	return stmt{sql: `INSERT INTO audit_outbox (event_id, event, created_at) VALUES (?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING`, args: []any{e.ID, string(doc), d.Time(time.Now())}}, nil
}

// historyOf is h as stored for a change of r: the request's id, reference,
// parties and snapshot (as they are after the change), whatever h said.
func historyOf(r request.Request, h request.HistoryEntry) request.HistoryEntry {
	h.Seq = 0
	h.RequestID, h.Reference = r.ID, r.Reference
	h.RequestingAgency, h.RequestingState = r.RequestingAgency, r.RequestingState
	h.RequestedAgency, h.RequestedState, h.Owner = r.RequestedAgency, r.RequestedState, r.Owner
	h.Time = storedoc.StoredTime(h.Time)
	h.Snapshot = request.Snapshot(r)
	return h
}

// Get implements request.Store.
func (s *Store) Get(ctx context.Context, id string) (request.Request, error) {
	return getRequest(ctx, s.db, s.db.Dialect(), id, false)
}

// List implements request.Store. Filters compare columns with SQL's
// three-valued logic: a deadline not set is NULL and matches no comparison,
// negated or not. Without OrderBy the order is by id.
func (s *Store) List(ctx context.Context, q request.ListQuery) (request.Page, error) {
	d := s.db.Dialect()
	where, args, order, err := d.Clauses(s.schema, q.Filter, q.OrderBy, "id")
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	count := `SELECT COUNT(*) FROM requests WHERE ` + where
	countArgs := args
	if q.CountLimit > 0 {
		count = `SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE ` + where + ` LIMIT ?) AS matching`
		countArgs = append(slices.Clone(args), q.CountLimit+1)
	}
	// One more row than the page tells whether another page follows.
	limit := q.Limit
	if limit > 0 {
		limit++
	}
	var page request.Page
	// One snapshot: Total agrees with the rows even while another replica
	// writes.
	err = s.db.ReadTx(ctx, func(tx *sqldb.Tx) error {
		if err := tx.QueryRow(ctx, count, countArgs...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM requests WHERE `+where+` `+order+` LIMIT ? OFFSET ?`,
			append(args, d.Limit(limit), max(q.Offset, 0))...)
		page.Requests, err = sqldb.Collect(rows, err, scanRequest)
		return err
	})
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	if q.Limit > 0 && len(page.Requests) > q.Limit {
		page.Requests, page.More = page.Requests[:q.Limit], true
	}
	return page, nil
}

// Update implements request.Store. fn runs while the request is locked: on
// SQLite by the single writer, on PostgreSQL by its row lock.
func (s *Store) Update(ctx context.Context, id string, fn func(*request.Request) (request.Change, error)) (request.Request, error) {
	d := s.db.Dialect()
	var out request.Request
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		cur, err := getRequest(ctx, tx, d, id, true)
		if err != nil {
			return err
		}
		r := cur
		ch, err := fn(&r)
		if err != nil {
			return err
		}
		out, err = s.writeUpdate(ctx, tx, cur, r, ch)
		return err
	})
	if err != nil {
		return request.Request{}, err
	}
	return out, nil
}

// UpdatePair implements request.Store. Both rows are locked before fn
// runs, in the order of their ids, so that two transactions locking the
// same two requests never wait on each other; on SQLite the single writer
// serialises them anyway.
func (s *Store) UpdatePair(ctx context.Context, id, other string, fn func(r, o *request.Request) (request.Change, *request.Change, error)) (request.Request, error) {
	if id == other {
		return request.Request{}, fmt.Errorf("update request %s: a pair of one request", id)
	}
	d := s.db.Dialect()
	var out request.Request
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		first, second := id, other
		if second < first {
			first, second = second, first
		}
		locked := map[string]request.Request{}
		for _, x := range []string{first, second} {
			r, err := getRequest(ctx, tx, d, x, true)
			if err != nil {
				return err
			}
			locked[x] = r
		}
		cur, oCur := locked[id], locked[other]
		r, o := cur, oCur
		ch, oCh, err := fn(&r, &o)
		if err != nil {
			return err
		}
		if out, err = s.writeUpdate(ctx, tx, cur, r, ch); err != nil {
			return err
		}
		if oCh != nil {
			_, err = s.writeUpdate(ctx, tx, oCur, o, *oCh)
		}
		return err
	})
	if err != nil {
		return request.Request{}, err
	}
	return out, nil
}

// writeUpdate writes r, read as cur in tx, with the change ch, and returns
// it as stored.
func (s *Store) writeUpdate(ctx context.Context, tx *sqldb.Tx, cur, r request.Request, ch request.Change) (request.Request, error) {
	return s.writeRequest(ctx, tx, cur, r, func(r request.Request) ([]stmt, error) { return changeOf(s.db.Dialect(), r, ch) })
}

// writeRequest writes r, read as cur in tx, with the statements changeOf
// makes of r as stored (its event and history entry), and returns it as
// stored.
func (s *Store) writeRequest(ctx context.Context, tx *sqldb.Tx, cur, r request.Request, changeOf func(request.Request) ([]stmt, error)) (request.Request, error) {
	d := s.db.Dialect()
	if err := request.CheckImmutable(cur, r); err != nil {
		return request.Request{}, err
	}
	r.Version = cur.Version + 1
	r = storedoc.Stored(r)
	change, err := changeOf(r)
	if err != nil {
		return request.Request{}, fmt.Errorf("update request %s: %w", r.ID, err)
	}
	if _, err := s.run(ctx, tx, append([]stmt{{sql: `UPDATE requests SET type = ?, priority = ?, status = ?,
		requested_agency = ?, requested_state = ?, owner = ?, transmitted = ?, acknowledge_by = ?, answer_by = ?,
		confirmation_due_by = ?, retention_from = ?, evidence_erase_by = ?, obligation_due_by = ?, erasure_pending = ?,
		create_time = ?, update_time = ?, version = ?, doc = ?
		WHERE id = ?`, args: []any{string(r.Type), string(r.Priority), string(r.Status), r.RequestedAgency, r.RequestedState, r.Owner,
		!r.TransmitTime.IsZero(), d.NullTime(r.Deadlines.AcknowledgeBy), d.NullTime(r.Deadlines.AnswerBy), d.NullTime(r.Deadlines.ConfirmationDueBy),
		d.NullTime(r.RetentionStart()), d.NullTime(r.Deadlines.EvidenceEraseBy), d.NullTime(r.ObligationDueBy()), r.ErasurePending(),
		d.Time(r.CreateTime), d.Time(r.UpdateTime), r.Version, storedoc.EncodeRequest(r), cur.ID}}}, change...)); err != nil {
		return request.Request{}, fmt.Errorf("update request %s: %w", cur.ID, err)
	}
	return r, nil
}

// StatisticsRows implements request.Store, oldest first.
func (s *Store) StatisticsRows(ctx context.Context, q request.StatisticsRowsQuery) ([]request.Request, error) {
	d := s.db.Dialect()
	var sb strings.Builder
	args := []any{string(request.Draft), d.Time(q.Start), d.Time(q.End)}
	sb.WriteString(`SELECT ` + requestColumns + ` FROM requests WHERE status <> ? AND create_time >= ? AND create_time < ?`)
	if q.Involving != "" {
		sb.WriteString(` AND (requesting_state = ? OR requested_state = ?)`)
		args = append(args, q.Involving, q.Involving)
	}
	if q.RequestingState != "" {
		sb.WriteString(` AND requesting_state = ?`)
		args = append(args, q.RequestingState)
	}
	if q.RequestedState != "" {
		sb.WriteString(` AND requested_state = ?`)
		args = append(args, q.RequestedState)
	}
	sb.WriteString(` ORDER BY create_time, id`)
	rows, err := s.db.Query(ctx, sb.String(), args...)
	out, err := sqldb.Collect(rows, err, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("statistics rows: %w", err)
	}
	return out, nil
}

// History.

const historyColumns = `seq, request_id, reference, from_status, to_status, action,
	actor_subject, actor_name, actor_agency, time, reason,
	requesting_agency, requesting_state, requested_agency, requested_state, owner, snapshot`

func scanHistory(row sqldb.Scanner) (request.HistoryEntry, error) {
	var (
		h        request.HistoryEntry
		from, to string
		snapshot *string
	)
	if err := row.Scan(&h.Seq, &h.RequestID, &h.Reference, &from, &to, &h.Action,
		&h.Actor.Subject, &h.Actor.Name, &h.Actor.Agency, sqldb.ScanTime(&h.Time), &h.Reason,
		&h.RequestingAgency, &h.RequestingState, &h.RequestedAgency, &h.RequestedState, &h.Owner, &snapshot); err != nil {
		return request.HistoryEntry{}, err
	}
	// Entries written before migration 0005 have none.
	if snapshot != nil {
		r, err := storedoc.DecodeRequest(*snapshot)
		if err != nil {
			return request.HistoryEntry{}, fmt.Errorf("history entry %d: snapshot: %w", h.Seq, err)
		}
		r.Reference = h.Reference
		h.Snapshot = &r
	}
	h.From, h.To = request.Status(from), request.Status(to)
	return h, nil
}

// History implements request.Store. A request without history, or unknown,
// has none: nil.
func (s *Store) History(ctx context.Context, id string) ([]request.HistoryEntry, error) {
	rows, err := s.db.Query(ctx, `SELECT `+historyColumns+` FROM history WHERE request_id = ? ORDER BY seq`, id)
	out, err := sqldb.Collect(rows, err, scanHistory)
	if err != nil {
		return nil, fmt.Errorf("history of request %s: %w", id, err)
	}
	return out, nil
}

// HistoryAfter implements request.Store. A limit of 0 or less means no
// limit. No entry is skipped: see historyLockKey.
func (s *Store) HistoryAfter(ctx context.Context, after int64, limit int) ([]request.HistoryEntry, error) {
	rows, err := s.db.Query(ctx, `SELECT `+historyColumns+` FROM history WHERE seq > ? ORDER BY seq LIMIT ?`,
		after, s.db.Dialect().Limit(limit))
	out, err := sqldb.Collect(rows, err, scanHistory)
	if err != nil {
		return nil, fmt.Errorf("history after %d: %w", after, err)
	}
	return out, nil
}

// LastHistorySeq implements request.Store.
func (s *Store) LastHistorySeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM history`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last history seq: %w", err)
	}
	return seq, nil
}

// Messages and attachments.

// insertWithEvent writes a record of request requestID (what) with the
// statement st, and its event, in one transaction. The request is checked
// first, rather than read from the foreign key error, so that an unknown one
// is errs.NotFound naming it; a duplicate of the record's id (pg, lite: see
// duplicate) is errs.AlreadyExists. The request is read under the lock
// Erase takes, so that a record and an erasure of its request's content
// are one after the other: a record that comes after the erasure is
// refused (request.ContentErasedErr), one before it is erased with the
// rest.
func (s *Store) insertWithEvent(ctx context.Context, requestID, what, id string, st stmt, pg, lite string, ev trail.Event) error {
	d := s.db.Dialect()
	evStmt, err := eventOf(d, ev)
	if err != nil {
		return fmt.Errorf("create %s %s: %w", what, id, err)
	}
	return s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		r, err := getRequest(ctx, tx, d, requestID, true)
		if err != nil {
			return err
		}
		if r.ContentErased() {
			return request.ContentErasedErr(r)
		}
		_, err = s.run(ctx, tx, []stmt{st, evStmt})
		if duplicate(err, pg, lite) {
			return errs.Wrap(err, errs.AlreadyExists, "%s %q already exists", what, id)
		}
		if err != nil {
			return fmt.Errorf("create %s %s: %w", what, id, err)
		}
		return nil
	})
}

// created is what a create returns: the record written, or the zero
// record and err when the write failed.
func created[T any](v T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// stamp sets a zero creation time to the time of the write, and truncates
// it as it is stored.
func stamp(t *time.Time) {
	if t.IsZero() {
		*t = time.Now()
	}
	*t = storedoc.StoredTime(*t)
}

// CreateMessage implements request.Store. A message id that exists is
// errs.AlreadyExists and an unknown request errs.NotFound.
func (s *Store) CreateMessage(ctx context.Context, m request.Message, ev trail.Event) (request.Message, error) {
	stamp(&m.CreateTime)
	return created(m, s.insertWithEvent(ctx, m.RequestID, "message", m.ID, stmt{sql: `INSERT INTO messages (id, request_id, body, visibility,
		author_subject, author_name, author_agency, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		args: []any{m.ID, m.RequestID, m.Body, m.Visibility, m.Author.Subject, m.Author.Name, m.Author.Agency, s.db.Dialect().Time(m.CreateTime)}},
		"messages_pkey", "messages.id", ev))
}

func scanMessage(row sqldb.Scanner) (request.Message, error) {
	var m request.Message
	if err := row.Scan(&m.ID, &m.RequestID, &m.Body, &m.Visibility, &m.Author.Subject, &m.Author.Name, &m.Author.Agency,
		sqldb.ScanTime(&m.CreateTime)); err != nil {
		return request.Message{}, err
	}
	return m, nil
}

// ListMessages implements request.Store. Messages created at the same time
// are in id order.
func (s *Store) ListMessages(ctx context.Context, requestID string, offset, limit int) ([]request.Message, error) {
	rows, err := s.db.Query(ctx, `SELECT id, request_id, body, visibility, author_subject, author_name,
		author_agency, create_time FROM messages WHERE request_id = ? ORDER BY create_time, id LIMIT ? OFFSET ?`,
		requestID, s.db.Dialect().Limit(limit), max(offset, 0))
	out, err := sqldb.Collect(rows, err, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("list messages of request %s: %w", requestID, err)
	}
	return out, nil
}

const attachmentColumns = `id, request_id, kind, filename, media_type, language, sha256, size_bytes, blob_key,
	uploader_subject, uploader_name, uploader_agency, create_time, erase_time`

// CreateAttachment implements request.Store. An attachment id that exists is
// errs.AlreadyExists and an unknown request errs.NotFound.
func (s *Store) CreateAttachment(ctx context.Context, a request.Attachment, ev trail.Event) (request.Attachment, error) {
	stamp(&a.CreateTime)
	return created(a, s.insertWithEvent(ctx, a.RequestID, "attachment", a.ID, stmt{sql: `INSERT INTO attachments (` + attachmentColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		args: []any{a.ID, a.RequestID, a.Kind, a.Filename, a.MediaType, a.Language, a.SHA256, a.SizeBytes, a.BlobKey,
			a.Uploader.Subject, a.Uploader.Name, a.Uploader.Agency, s.db.Dialect().Time(a.CreateTime), s.db.Dialect().NullTime(a.EraseTime)}},
		"attachments_pkey", "attachments.id", ev))
}

func scanAttachment(row sqldb.Scanner) (request.Attachment, error) {
	var a request.Attachment
	if err := row.Scan(&a.ID, &a.RequestID, &a.Kind, &a.Filename, &a.MediaType, &a.Language, &a.SHA256, &a.SizeBytes,
		&a.BlobKey, &a.Uploader.Subject, &a.Uploader.Name, &a.Uploader.Agency, sqldb.ScanTime(&a.CreateTime), sqldb.ScanTime(&a.EraseTime)); err != nil {
		return request.Attachment{}, err
	}
	return a, nil
}

// GetAttachment implements request.Store. An attachment of another request
// is not found.
func (s *Store) GetAttachment(ctx context.Context, requestID, id string) (request.Attachment, error) {
	a, err := scanAttachment(s.db.QueryRow(ctx,
		`SELECT `+attachmentColumns+` FROM attachments WHERE request_id = ? AND id = ?`, requestID, id))
	if errors.Is(err, sqldb.ErrNoRows) {
		return request.Attachment{}, errs.New(errs.NotFound, "attachment %q of request %q not found", id, requestID)
	}
	if err != nil {
		return request.Attachment{}, fmt.Errorf("get attachment %s: %w", id, err)
	}
	return a, nil
}

// ListAttachments implements request.Store. Attachments created at the same
// time are in id order.
func (s *Store) ListAttachments(ctx context.Context, requestID string) ([]request.Attachment, error) {
	rows, err := s.db.Query(ctx,
		`SELECT `+attachmentColumns+` FROM attachments WHERE request_id = ? ORDER BY create_time, id`, requestID)
	out, err := sqldb.Collect(rows, err, scanAttachment)
	if err != nil {
		return nil, fmt.Errorf("list attachments of request %s: %w", requestID, err)
	}
	return out, nil
}
