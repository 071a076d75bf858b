// Package store is the audit.Index, on SQLite (the embedded deployment) or
// PostgreSQL (the scaled-out one) through the SQL layer of package
// platform/sqldb. It owns the index's tables and their migrations
// (migrations/sqlite, migrations/postgres) and the mapping of
// audit.EntrySchema's fields to columns. It may import audit (the domain
// types it stores), the platform packages sqldb, errs and query.
package store

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations
var migrations embed.FS

// entryColumns maps the fields of audit.EntrySchema to the columns of
// entries. resource is a path field: its column compares bytes (SQLite's
// BINARY, PostgreSQL's COLLATE "C"), as query.Has needs.
var entryColumns = map[string]string{
	"resource": "resource",
	"actor":    "actor_subject",
	"agency":   "actor_agency",
	"action":   "action",
	"outcome":  "outcome",
	"service":  "service",
	"purpose":  "purpose",
	"time":     "event_time",
}

// Store keeps the audit index. Each entry is stored with its leaf, and reads
// decode the event from the leaf: the log is the truth, and the other
// columns only serve filters.
//
// Put writes a call's entries skipping those whose index or event id is
// taken, and then checks that every entry of the call is the one recorded.
// On SQLite the write transaction is the only writer; on PostgreSQL a
// concurrent Put of the same entries waits on the unique indexes and then
// finds them.
type Store struct {
	db     *sqldb.DB
	schema query.Schema
}

var _ audit.Index = (*Store)(nil)

// New applies the audit index's migrations to db and returns a store on it.
// The caller keeps ownership of db's engine handle and closes it after the
// last use of the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	schema, err := audit.EntrySchema.WithColumns(entryColumns)
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("audit index migrations: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate audit index: %w", err)
	}
	return &Store{db: db, schema: schema}, nil
}

// row is one entry as Put writes it: its columns come from the event its
// leaf holds, not from Entry.Event, so that the index cannot disagree with
// what reads return.
type row struct {
	idx   int64
	event trail.Event
	leaf  []byte
}

// newRows checks entries and decodes their leaves, dropping repeats of an
// entry within the call, and returns them in index order, so that
// concurrent calls take the locks of their common entries in one order and
// cannot deadlock. An index beyond int64, a leaf that is not an event with
// an id, or an Entry.Event of another id than its leaf's is errs.Invalid.
func newRows(entries []audit.Entry) ([]row, error) {
	type key struct {
		idx uint64
		id  string
	}
	rows := make([]row, 0, len(entries))
	seen := make(map[key]bool, len(entries))
	for _, e := range entries {
		if e.Index > math.MaxInt64 {
			return nil, errs.New(errs.Invalid, "audit entry index %d is out of range", e.Index)
		}
		ev, err := audit.ParseLeaf(e.Leaf)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "audit entry %d: leaf is not an event", e.Index)
		}
		if ev.ID == "" {
			return nil, errs.New(errs.Invalid, "audit entry %d: leaf has no event id", e.Index)
		}
		if e.Event.ID != "" && e.Event.ID != ev.ID {
			return nil, errs.New(errs.Invalid, "audit entry %d: event %q is not its leaf's event %q", e.Index, e.Event.ID, ev.ID)
		}
		k := key{e.Index, ev.ID}
		if seen[k] {
			continue
		}
		seen[k] = true
		// Truncated here rather than left to how the engine rounds.
		ev.Time = ev.Time.UTC().Truncate(time.Microsecond)
		rows = append(rows, row{idx: int64(e.Index), event: ev, leaf: e.Leaf})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.idx, b.idx) })
	return rows, nil
}

// entry decodes a stored leaf. Times are returned in UTC, whatever zone the
// producer wrote, as the other stores return them.
func entry(idx int64, leaf []byte) (audit.Entry, error) {
	ev, err := audit.ParseLeaf(leaf)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("audit entry %d: %w", idx, err)
	}
	ev.Time = ev.Time.UTC()
	return audit.Entry{Index: uint64(idx), Event: ev, Leaf: leaf}, nil
}

func scanInt(row sqldb.Scanner) (int64, error) {
	var n int64
	err := row.Scan(&n)
	return n, err
}

func scanEntry(row sqldb.Scanner) (audit.Entry, error) {
	var (
		idx  int64
		leaf []byte
	)
	if err := row.Scan(&idx, &leaf); err != nil {
		return audit.Entry{}, err
	}
	return entry(idx, leaf)
}

// Lookup implements audit.Index, in one query however many ids there are.
// Unknown ids are absent from the map.
func (s *Store) Lookup(ctx context.Context, ids []string) (map[string]uint64, error) {
	out := make(map[string]uint64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	d := s.db.Dialect()
	q := `SELECT event_id, idx FROM entries WHERE ` + d.In("event_id")
	if d == sqldb.Postgres {
		// One index probe per id. With event_id = ANY(…), past a few
		// thousand ids (the audit service groups the lookups of
		// concurrent Appends) the planner scans the whole table, which
		// grows with the log. LIMIT keeps the subquery from being
		// flattened into a hash join.
		q = `SELECT u.id, e.idx FROM unnest(?::text[]) AS u(id)
			CROSS JOIN LATERAL (SELECT idx FROM entries WHERE event_id = u.id LIMIT 1) AS e`
	}
	rows, err := s.db.Query(ctx, q, sqldb.List(d, ids))
	if err != nil {
		return nil, fmt.Errorf("lookup audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			idx int64
		)
		if err := rows.Scan(&id, &idx); err != nil {
			return nil, fmt.Errorf("lookup audit events: %w", err)
		}
		out[id] = uint64(idx)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lookup audit events: %w", err)
	}
	return out, nil
}

// Put implements audit.Index in one transaction: when it returns an error,
// nothing of the call is written. An entry already recorded at its index is
// left as it is, even if its leaf differs. A different event at a recorded
// index, or a recorded event at another index (also within the call), is
// errs.Conflict; a malformed entry is errs.Invalid (see newRows).
func (s *Store) Put(ctx context.Context, entries []audit.Entry) error {
	rows, err := newRows(entries)
	if err != nil || len(rows) == 0 {
		return err
	}
	return s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		insert := insertRows
		if tx.Dialect() == sqldb.Postgres {
			insert = insertBatch
		}
		inserted, err := insert(ctx, tx, rows)
		if err != nil {
			return fmt.Errorf("put audit entries: %w", err)
		}
		if len(inserted) < len(rows) {
			return checkRecorded(ctx, tx, rows)
		}
		return nil
	})
}

// insertRows writes rows and the states of those it wrote, one statement
// each: SQLite runs them in the process, with no round trip to save. It
// returns the indexes written.
func insertRows(ctx context.Context, tx *sqldb.Tx, rows []row) (map[int64]bool, error) {
	d := tx.Dialect()
	inserted := make(map[int64]bool, len(rows))
	for _, r := range rows {
		e := r.event
		// DO NOTHING covers both unique keys: a skipped row is one whose
		// index or event id is taken, which checkRecorded tells apart.
		n, err := tx.Exec(ctx, `INSERT INTO entries (idx, event_id, event_time, service, action,
			resource, actor_subject, actor_agency, outcome, purpose, leaf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, r.idx, e.ID, d.Time(e.Time), e.Service, e.Action,
			e.Resource, e.Actor.Subject, e.Actor.Agency, e.Outcome, e.Purpose, r.leaf)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", r.idx, err)
		}
		if n == 0 {
			continue // a recorded entry stays as it was, states too
		}
		inserted[r.idx] = true
		for _, st := range e.States {
			if _, err := tx.Exec(ctx, `INSERT INTO entry_states (idx, state) VALUES (?, ?) ON CONFLICT DO NOTHING`, r.idx, st); err != nil {
				return nil, fmt.Errorf("entry %d: %w", r.idx, err)
			}
		}
	}
	return inserted, nil
}

// insertBatch is insertRows in two statements whatever the number of rows,
// for PostgreSQL, where each statement is a round trip.
func insertBatch(ctx context.Context, tx *sqldb.Tx, rows []row) (map[int64]bool, error) {
	n := len(rows)
	idxs, times, leaves := make([]int64, n), make([]time.Time, n), make([][]byte, n)
	ids, services, actions, resources := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	subjects, agencies, outcomes, purposes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		e := r.event
		idxs[i], ids[i], leaves[i], times[i] = r.idx, e.ID, r.leaf, e.Time
		services[i], actions[i], resources[i], outcomes[i] = e.Service, e.Action, e.Resource, e.Outcome
		subjects[i], agencies[i], purposes[i] = e.Actor.Subject, e.Actor.Agency, e.Purpose
	}
	res, err := tx.Query(ctx, `INSERT INTO entries (idx, event_id, event_time, service, action,
			resource, actor_subject, actor_agency, outcome, purpose, leaf)
		SELECT * FROM unnest(?::bigint[], ?::text[], ?::timestamptz[], ?::text[], ?::text[],
			?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bytea[])
		ON CONFLICT DO NOTHING
		RETURNING idx`,
		idxs, ids, times, services, actions, resources, subjects, agencies, outcomes, purposes, leaves)
	written, err := sqldb.Collect(res, err, scanInt)
	if err != nil {
		return nil, err
	}
	inserted := make(map[int64]bool, n)
	for _, idx := range written {
		inserted[idx] = true
	}
	var stateIdxs []int64
	var states []string
	for _, r := range rows {
		if !inserted[r.idx] {
			continue
		}
		for _, st := range r.event.States {
			stateIdxs = append(stateIdxs, r.idx)
			states = append(states, st)
		}
	}
	if len(states) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO entry_states (idx, state)
			SELECT * FROM unnest(?::bigint[], ?::text[]) ON CONFLICT DO NOTHING`, stateIdxs, states); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// checkRecorded returns nil when the event of every row is recorded at its
// index, and errs.Conflict for the first row whose index holds another event
// or whose event is at another index.
func checkRecorded(ctx context.Context, tx *sqldb.Tx, rows []row) error {
	d := tx.Dialect()
	idxs := make([]int64, len(rows))
	for i, r := range rows {
		idxs[i] = r.idx
	}
	res, err := tx.Query(ctx, `SELECT idx, event_id FROM entries WHERE `+d.In("idx"), sqldb.List(d, idxs))
	got, err := sqldb.Collect(res, err, func(sc sqldb.Scanner) (row, error) {
		var r row
		err := sc.Scan(&r.idx, &r.event.ID)
		return r, err
	})
	if err != nil {
		return fmt.Errorf("put audit entries: %w", err)
	}
	recorded := make(map[int64]string, len(got))
	for _, r := range got {
		recorded[r.idx] = r.event.ID
	}
	for _, r := range rows {
		id, ok := recorded[r.idx]
		switch {
		case ok && id == r.event.ID:
			continue
		case ok:
			return errs.New(errs.Conflict, "audit index %d holds event %q, not %q", r.idx, id, r.event.ID)
		}
		var at int64
		if err := tx.QueryRow(ctx, `SELECT idx FROM entries WHERE event_id = ?`, r.event.ID).Scan(&at); err != nil {
			return fmt.Errorf("put audit entry %d: %w", r.idx, err)
		}
		return errs.New(errs.Conflict, "audit event %q is recorded at index %d, not %d", r.event.ID, at, r.idx)
	}
	return nil
}

// Get implements audit.Index.
func (s *Store) Get(ctx context.Context, index uint64) (audit.Entry, error) {
	if index > math.MaxInt64 {
		return audit.Entry{}, errs.New(errs.NotFound, "audit entry %d not found", index)
	}
	e, err := scanEntry(s.db.QueryRow(ctx, `SELECT idx, leaf FROM entries WHERE idx = ?`, int64(index)))
	if errors.Is(err, sqldb.ErrNoRows) {
		return audit.Entry{}, errs.New(errs.NotFound, "audit entry %d not found", index)
	}
	if err != nil {
		return audit.Entry{}, fmt.Errorf("get audit entry %d: %w", index, err)
	}
	return e, nil
}

// List implements audit.Index. A Limit of zero or less returns every
// matching entry; an AfterIndex below -1 counts as -1.
func (s *Store) List(ctx context.Context, q audit.EntryQuery) ([]audit.Entry, error) {
	d := s.db.Dialect()
	var sb strings.Builder
	args := []any{max(q.AfterIndex, -1)}
	sb.WriteString(`SELECT idx, leaf FROM entries WHERE idx > ?`)
	if q.State != "" {
		sb.WriteString(` AND EXISTS (SELECT 1 FROM entry_states s WHERE s.state = ? AND s.idx = entries.idx)`)
		args = append(args, q.State)
	}
	if q.Filter != nil {
		where, fargs, err := d.Where(s.schema, q.Filter)
		if err != nil {
			return nil, fmt.Errorf("list audit entries: %w", err)
		}
		sb.WriteString(` AND ` + where)
		args = append(args, fargs...)
	}
	if q.BeforeIndex > 0 {
		sb.WriteString(` AND idx < ?`)
		args = append(args, int64(q.BeforeIndex))
	}
	sb.WriteString(` ORDER BY idx`)
	if q.Descending {
		sb.WriteString(` DESC`)
	}
	sb.WriteString(` LIMIT ?`)
	args = append(args, d.Limit(q.Limit))
	rows, err := s.db.Query(ctx, sb.String(), args...)
	out, err := sqldb.Collect(rows, err, scanEntry)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return out, nil
}

// Size implements audit.Index.
func (s *Store) Size(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit index size: %w", err)
	}
	return uint64(n), nil
}

// Count implements audit.Index.
func (s *Store) Count(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit index count: %w", err)
	}
	return uint64(n), nil
}
