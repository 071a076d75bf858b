// Package sqlite is the audit.Index of the embedded deployment, on one SQLite
// file opened with package sqlitedb.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps the audit index in SQLite. Put writes through the single write
// connection in an IMMEDIATE transaction, so that its checks and its writes
// are not interleaved with another Put, in this process or another.
//
// Each entry is stored with its leaf, and reads decode the event from the
// leaf: the log is the truth, and the other columns only serve filters.
type Store struct {
	db *sqlitedb.DB
}

var _ audit.Index = (*Store)(nil)

// New applies the audit index's migrations to db and returns a store on it.
// The caller keeps ownership of db and closes it after the last use of the
// store.
func New(ctx context.Context, db *sqlitedb.DB) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("audit index migrations: %w", err)
	}
	if err := sqlitedb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate audit index: %w", err)
	}
	return &Store{db: db}, nil
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
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("lookup audit events: %w", err)
	}
	// One JSON argument rather than a placeholder per id: no limit on the
	// number of variables to mind.
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT event_id, idx FROM entries WHERE event_id IN (SELECT value FROM json_each(?))`, string(list))
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
	return sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		insertEntry, err := tx.PrepareContext(ctx, `INSERT INTO entries (idx, event_id, event_time, service, action,
			resource, actor_subject, actor_agency, outcome, leaf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("put audit entries: %w", err)
		}
		defer insertEntry.Close()
		insertState, err := tx.PrepareContext(ctx, `INSERT INTO entry_states (idx, state) VALUES (?, ?)
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("put audit entries: %w", err)
		}
		defer insertState.Close()
		for _, r := range rows {
			e := r.event
			res, err := insertEntry.ExecContext(ctx, r.idx, e.ID, e.Time.UnixMicro(), e.Service, e.Action,
				e.Resource, e.Actor.Subject, e.Actor.Agency, e.Outcome, r.leaf)
			if err != nil {
				return fmt.Errorf("put audit entry %d: %w", r.idx, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("put audit entry %d: %w", r.idx, err)
			}
			if n == 0 {
				// Either the index or the event id is taken.
				if err := checkRecorded(ctx, tx, r); err != nil {
					return err
				}
				continue
			}
			for _, st := range e.States {
				if _, err := insertState.ExecContext(ctx, r.idx, st); err != nil {
					return fmt.Errorf("put audit entry %d: %w", r.idx, err)
				}
			}
		}
		return nil
	})
}

// checkRecorded returns nil when r's event is recorded at r's index, and
// errs.Conflict when the index holds another event or the event is at
// another index.
func checkRecorded(ctx context.Context, tx *sql.Tx, r row) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT event_id FROM entries WHERE idx = ?`, r.idx).Scan(&id)
	switch {
	case err == nil && id == r.event.ID:
		return nil
	case err == nil:
		return errs.New(errs.Conflict, "audit index %d holds event %q, not %q", r.idx, id, r.event.ID)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("put audit entry %d: %w", r.idx, err)
	}
	var idx int64
	if err := tx.QueryRowContext(ctx, `SELECT idx FROM entries WHERE event_id = ?`, r.event.ID).Scan(&idx); err != nil {
		return fmt.Errorf("put audit entry %d: %w", r.idx, err)
	}
	return errs.New(errs.Conflict, "audit event %q is recorded at index %d, not %d", r.event.ID, idx, r.idx)
}

// Get implements audit.Index.
func (s *Store) Get(ctx context.Context, index uint64) (audit.Entry, error) {
	if index > math.MaxInt64 {
		return audit.Entry{}, errs.New(errs.NotFound, "audit entry %d not found", index)
	}
	var leaf []byte
	err := s.db.Read.QueryRowContext(ctx, `SELECT leaf FROM entries WHERE idx = ?`, int64(index)).Scan(&leaf)
	if errors.Is(err, sql.ErrNoRows) {
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
	var sb strings.Builder
	args := []any{max(q.AfterIndex, -1)}
	sb.WriteString(`SELECT idx, leaf FROM entries WHERE idx > ?`)
	if q.State != "" {
		sb.WriteString(` AND EXISTS (SELECT 1 FROM entry_states s WHERE s.state = ? AND s.idx = entries.idx)`)
		args = append(args, q.State)
	}
	if q.Filter != nil {
		where, fargs, err := query.SQLite.Where(audit.EntrySchema, q.Filter, len(args))
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
	if q.Limit > 0 {
		sb.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}
	rows, err := s.db.Read.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var (
			idx  int64
			leaf []byte
		)
		if err := rows.Scan(&idx, &leaf); err != nil {
			return nil, fmt.Errorf("list audit entries: %w", err)
		}
		e, err := entry(idx, leaf)
		if err != nil {
			return nil, fmt.Errorf("list audit entries: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return out, nil
}

// Size implements audit.Index.
func (s *Store) Size(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit index size: %w", err)
	}
	return uint64(n), nil
}

// Count implements audit.Index.
func (s *Store) Count(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit index count: %w", err)
	}
	return uint64(n), nil
}
