// Package postgres is the audit.Index of the scaled-out deployment, on a
// PostgreSQL database.
package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps the audit index in PostgreSQL. Put writes a call's entries
// with one statement, skipping those whose index or event id is taken, and
// then checks that every entry of the call is the one recorded; a concurrent
// Put of the same entries waits on the unique indexes and then finds them.
//
// Each entry is stored with its leaf, and reads decode the event from the
// leaf: the log is the truth, and the other columns only serve filters.
type Store struct {
	pool *pgxpool.Pool
}

var _ audit.Index = (*Store)(nil)

// New applies the audit index's migrations to the database of pool and
// returns a store on it. The caller keeps ownership of pool and closes it
// after the last use of the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("audit index migrations: %w", err)
	}
	if err := pgdb.Migrate(ctx, pool, sub); err != nil {
		return nil, fmt.Errorf("migrate audit index: %w", err)
	}
	return &Store{pool: pool}, nil
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
// entry within the call. An index beyond int64, a leaf that is not an event
// with an id, or an Entry.Event of another id than its leaf's is
// errs.Invalid.
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
		rows = append(rows, row{idx: int64(e.Index), event: ev, leaf: e.Leaf})
	}
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

// Lookup implements audit.Index, in one query however many ids there are.
// Unknown ids are absent from the map.
func (s *Store) Lookup(ctx context.Context, ids []string) (map[string]uint64, error) {
	out := make(map[string]uint64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// One index probe per id. With event_id = ANY($1), past a few
	// thousand ids (the audit service groups the lookups of concurrent
	// Appends) the planner scans the whole table, which grows with the log,
	// so such a lookup costs ever more while this one stays a probe per id.
	// LIMIT keeps the subquery from being flattened into a hash join.
	rows, err := s.pool.Query(ctx, `SELECT u.id, e.idx FROM unnest($1::text[]) AS u(id)
		CROSS JOIN LATERAL (SELECT idx FROM entries WHERE event_id = u.id LIMIT 1) AS e`, ids)
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
	// In index order, so that concurrent calls take the row locks of their
	// common entries in one order and cannot deadlock.
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.idx, b.idx) })
	n := len(rows)
	idxs, times, leaves := make([]int64, n), make([]time.Time, n), make([][]byte, n)
	ids, services, actions, resources := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	subjects, agencies, outcomes := make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		e := r.event
		idxs[i], ids[i], leaves[i] = r.idx, e.ID, r.leaf
		// Truncated here, as on SQLite, rather than left to how the
		// driver or the server rounds.
		times[i] = e.Time.UTC().Truncate(time.Microsecond)
		services[i], actions[i], resources[i], outcomes[i] = e.Service, e.Action, e.Resource, e.Outcome
		subjects[i], agencies[i] = e.Actor.Subject, e.Actor.Agency
	}
	return pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		// DO NOTHING covers both unique keys: a skipped row is one whose
		// index or event id is taken, which the check below tells apart.
		res, err := tx.Query(ctx, `INSERT INTO entries (idx, event_id, event_time, service, action,
				resource, actor_subject, actor_agency, outcome, leaf)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
				$6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])
			ON CONFLICT DO NOTHING
			RETURNING idx`,
			idxs, ids, times, services, actions, resources, subjects, agencies, outcomes, leaves)
		if err != nil {
			return fmt.Errorf("put audit entries: %w", err)
		}
		inserted := make(map[int64]bool, n)
		var idx int64
		if _, err := pgx.ForEachRow(res, []any{&idx}, func() error {
			inserted[idx] = true
			return nil
		}); err != nil {
			return fmt.Errorf("put audit entries: %w", err)
		}
		if len(inserted) < n {
			if err := checkRecorded(ctx, tx, rows, idxs); err != nil {
				return err
			}
		}
		// Only the states of the entries written: a recorded entry stays as
		// it was.
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
		if len(states) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO entry_states (idx, state)
			SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`, stateIdxs, states); err != nil {
			return fmt.Errorf("put audit entries: %w", err)
		}
		return nil
	})
}

// checkRecorded returns nil when the event of every row is recorded at its
// index, and errs.Conflict for the first row whose index holds another event
// or whose event is at another index.
func checkRecorded(ctx context.Context, tx pgx.Tx, rows []row, idxs []int64) error {
	res, err := tx.Query(ctx, `SELECT idx, event_id FROM entries WHERE idx = ANY($1)`, idxs)
	if err != nil {
		return fmt.Errorf("put audit entries: %w", err)
	}
	recorded := make(map[int64]string, len(idxs))
	var (
		idx int64
		id  string
	)
	if _, err := pgx.ForEachRow(res, []any{&idx, &id}, func() error {
		recorded[idx] = id
		return nil
	}); err != nil {
		return fmt.Errorf("put audit entries: %w", err)
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
		if err := tx.QueryRow(ctx, `SELECT idx FROM entries WHERE event_id = $1`, r.event.ID).Scan(&at); err != nil {
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
	var leaf []byte
	err := s.pool.QueryRow(ctx, `SELECT leaf FROM entries WHERE idx = $1`, int64(index)).Scan(&leaf)
	if errors.Is(err, pgx.ErrNoRows) {
		return audit.Entry{}, errs.New(errs.NotFound, "audit entry %d not found", index)
	}
	if err != nil {
		return audit.Entry{}, fmt.Errorf("get audit entry %d: %w", index, err)
	}
	return entry(int64(index), leaf)
}

// List implements audit.Index. A Limit of zero or less returns every
// matching entry; an AfterIndex below -1 counts as -1.
func (s *Store) List(ctx context.Context, q audit.EntryQuery) ([]audit.Entry, error) {
	var (
		sb   strings.Builder
		args []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	sb.WriteString(`SELECT idx, leaf FROM entries WHERE idx > ` + arg(max(q.AfterIndex, -1)))
	if q.State != "" {
		sb.WriteString(` AND EXISTS (SELECT 1 FROM entry_states s WHERE s.state = ` + arg(q.State) + ` AND s.idx = entries.idx)`)
	}
	if q.Filter != nil {
		where, fargs, err := query.Postgres.Where(audit.EntrySchema, q.Filter, len(args))
		if err != nil {
			return nil, fmt.Errorf("list audit entries: %w", err)
		}
		sb.WriteString(` AND ` + where)
		args = append(args, fargs...)
	}
	if q.BeforeIndex > 0 {
		sb.WriteString(` AND idx < ` + arg(int64(q.BeforeIndex)))
	}
	sb.WriteString(` ORDER BY idx`)
	if q.Descending {
		sb.WriteString(` DESC`)
	}
	if q.Limit > 0 {
		sb.WriteString(` LIMIT ` + arg(int64(q.Limit)))
	}
	rows, err := s.pool.Query(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Entry, error) {
		var (
			idx  int64
			leaf []byte
		)
		if err := row.Scan(&idx, &leaf); err != nil {
			return audit.Entry{}, err
		}
		return entry(idx, leaf)
	})
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return out, nil
}

// Size implements audit.Index.
func (s *Store) Size(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit index size: %w", err)
	}
	return uint64(n), nil
}

// Count implements audit.Index.
func (s *Store) Count(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit index count: %w", err)
	}
	return uint64(n), nil
}
