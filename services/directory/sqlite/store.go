// Package sqlite is the directory.Store of the embedded deployment, on one
// SQLite file opened with package sqlitedb. It is also the directory's
// trail.Outbox.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/storedoc"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps the directory in SQLite. Writes go through the single write
// connection in IMMEDIATE transactions, which serialises them within the
// process and, through SQLite's lock, with other processes on the file.
//
// A write keeps the UpdateTime it is given, since the domain takes it from its
// own clock, and uses the time of the write only when it is zero. Times are
// stored in UTC truncated to microseconds, as on PostgreSQL.
type Store struct {
	sqlitedb.Outbox
	db *sqlitedb.DB
}

var (
	_ directory.Store = (*Store)(nil)
	_ trail.Outbox    = (*Store)(nil)
)

// New applies the directory's migrations to db and returns a store on it. The
// caller keeps ownership of db and closes it after the last use of the store.
func New(ctx context.Context, db *sqlitedb.DB) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("directory migrations: %w", err)
	}
	if err := sqlitedb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate directory: %w", err)
	}
	return &Store{Outbox: sqlitedb.Outbox{DB: db}, db: db}, nil
}

// updateTime is the update time to store for t: t itself, because the
// domain sets it from its own clock, or, when t is zero (a seed file without
// times), the time of the write. It is UTC truncated to microseconds, the
// precision of both backends, so that what a write returns equals what a
// later read returns.
func updateTime(t, write time.Time) time.Time {
	if t.IsZero() {
		t = write
	}
	return t.UTC().Truncate(time.Microsecond)
}

func fromMicros(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface {
	Scan(dest ...any) error
}

func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// States.

const stateColumns = `code, display_names, official_languages, accepted_languages, time_zone, trusted_issuers, claim_mappings, version, update_time`

func scanState(row scanner) (directory.State, error) {
	var (
		s                                            directory.State
		names, official, accepted, issuers, mappings string
		updated                                      int64
	)
	if err := row.Scan(&s.Code, &names, &official, &accepted, &s.TimeZone, &issuers, &mappings, &s.Version, &updated); err != nil {
		return directory.State{}, err
	}
	var err error
	if s.DisplayNames, err = storedoc.DecodeMap(names); err != nil {
		return directory.State{}, fmt.Errorf("state %s display_names: %w", s.Code, err)
	}
	if s.OfficialLanguages, err = storedoc.DecodeList[string](official); err != nil {
		return directory.State{}, fmt.Errorf("state %s official_languages: %w", s.Code, err)
	}
	if s.AcceptedLanguages, err = storedoc.DecodeList[string](accepted); err != nil {
		return directory.State{}, fmt.Errorf("state %s accepted_languages: %w", s.Code, err)
	}
	if s.TrustedIssuers, err = storedoc.DecodeList[string](issuers); err != nil {
		return directory.State{}, fmt.Errorf("state %s trusted_issuers: %w", s.Code, err)
	}
	if s.ClaimMappings, err = storedoc.DecodeClaimMappings(mappings); err != nil {
		return directory.State{}, fmt.Errorf("state %s claim_mappings: %w", s.Code, err)
	}
	s.UpdateTime = fromMicros(updated)
	return s, nil
}

func getState(ctx context.Context, q querier, code string) (directory.State, error) {
	s, err := scanState(q.QueryRowContext(ctx, `SELECT `+stateColumns+` FROM states WHERE code = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return directory.State{}, errs.New(errs.NotFound, "state %q not found", code)
	}
	if err != nil {
		return directory.State{}, fmt.Errorf("get state %s: %w", code, err)
	}
	return s, nil
}

// ListStates implements directory.Store.
func (s *Store) ListStates(ctx context.Context) ([]directory.State, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+stateColumns+` FROM states ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list states: %w", err)
	}
	defer rows.Close()
	var out []directory.State
	for rows.Next() {
		st, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("list states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list states: %w", err)
	}
	return out, nil
}

// GetState implements directory.Store.
func (s *Store) GetState(ctx context.Context, code string) (directory.State, error) {
	return getState(ctx, s.db.Read, code)
}

// UpdateState implements directory.Store. fn runs while the transaction holds
// the database's only write connection, so it must not write through this
// store.
func (s *Store) UpdateState(ctx context.Context, code string, fn func(*directory.State) (trail.Event, error)) (directory.State, error) {
	var out directory.State
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		st, err := getState(ctx, tx, code)
		if err != nil {
			return err
		}
		version := st.Version
		ev, err := fn(&st)
		if err != nil {
			return err
		}
		if st.Code != code {
			return errs.New(errs.Invalid, "state code cannot change from %q to %q", code, st.Code)
		}
		st.Version = version + 1
		st.UpdateTime = updateTime(st.UpdateTime, time.Now())
		storedoc.NormalizeState(&st)
		if _, err := tx.ExecContext(ctx, `UPDATE states SET display_names = ?, official_languages = ?,
			accepted_languages = ?, time_zone = ?, trusted_issuers = ?, claim_mappings = ?, version = ?, update_time = ?
			WHERE code = ?`,
			storedoc.EncodeMap(st.DisplayNames), storedoc.EncodeList(st.OfficialLanguages), storedoc.EncodeList(st.AcceptedLanguages),
			st.TimeZone, storedoc.EncodeList(st.TrustedIssuers), storedoc.EncodeClaimMappings(st.ClaimMappings), st.Version, st.UpdateTime.UnixMicro(), code); err != nil {
			return fmt.Errorf("update state %s: %w", code, err)
		}
		if err := sqlitedb.InsertEvent(ctx, tx, ev); err != nil {
			return err
		}
		out = st
		return nil
	})
	if err != nil {
		return directory.State{}, err
	}
	return out, nil
}

// upsertState inserts st with Version 1 and its UpdateTime (t if it has
// none), or, when upsert is set and the code exists, replaces it and
// increments its Version.
func upsertState(ctx context.Context, tx *sql.Tx, st directory.State, t time.Time, upsert bool) error {
	q := `INSERT INTO states (` + stateColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`
	if upsert {
		q += ` ON CONFLICT (code) DO UPDATE SET display_names = excluded.display_names,
			official_languages = excluded.official_languages, accepted_languages = excluded.accepted_languages,
			time_zone = excluded.time_zone, trusted_issuers = excluded.trusted_issuers,
			claim_mappings = excluded.claim_mappings, version = states.version + 1, update_time = excluded.update_time`
	}
	_, err := tx.ExecContext(ctx, q, st.Code, storedoc.EncodeMap(st.DisplayNames), storedoc.EncodeList(st.OfficialLanguages),
		storedoc.EncodeList(st.AcceptedLanguages), st.TimeZone, storedoc.EncodeList(st.TrustedIssuers), storedoc.EncodeClaimMappings(st.ClaimMappings), updateTime(st.UpdateTime, t).UnixMicro())
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return errs.Wrap(err, errs.Invalid, "state %q is given twice", st.Code)
	}
	if err != nil {
		return fmt.Errorf("store state %s: %w", st.Code, err)
	}
	return nil
}

// Agencies.

const agencyColumns = `id, state, kind, display_names, receives, accepted_languages, contact_points, active, version, update_time`

func scanAgency(row scanner) (directory.Agency, error) {
	var (
		a                                        directory.Agency
		names, receives, accepted, contactPoints string
		active                                   int64
		updated                                  int64
	)
	if err := row.Scan(&a.ID, &a.State, &a.Kind, &names, &receives, &accepted, &contactPoints, &active, &a.Version, &updated); err != nil {
		return directory.Agency{}, err
	}
	var err error
	if a.DisplayNames, err = storedoc.DecodeMap(names); err != nil {
		return directory.Agency{}, fmt.Errorf("agency %s display_names: %w", a.ID, err)
	}
	if a.Receives, err = storedoc.DecodeList[cooperation.RequestType](receives); err != nil {
		return directory.Agency{}, fmt.Errorf("agency %s receives: %w", a.ID, err)
	}
	if a.AcceptedLanguages, err = storedoc.DecodeList[string](accepted); err != nil {
		return directory.Agency{}, fmt.Errorf("agency %s accepted_languages: %w", a.ID, err)
	}
	if a.ContactPoints, err = storedoc.DecodeContactPoints(contactPoints); err != nil {
		return directory.Agency{}, fmt.Errorf("agency %s contact_points: %w", a.ID, err)
	}
	a.Active = active != 0
	a.UpdateTime = fromMicros(updated)
	return a, nil
}

func getAgency(ctx context.Context, q querier, id string) (directory.Agency, error) {
	a, err := scanAgency(q.QueryRowContext(ctx, `SELECT `+agencyColumns+` FROM agencies WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return directory.Agency{}, errs.New(errs.NotFound, "agency %q not found", id)
	}
	if err != nil {
		return directory.Agency{}, fmt.Errorf("get agency %s: %w", id, err)
	}
	return a, nil
}

// stateAgencies returns the agencies of the states codes, ordered by id,
// but the one with id except (none if empty).
func stateAgencies(ctx context.Context, q querier, codes []string, except string) ([]directory.Agency, error) {
	var out []directory.Agency
	for _, code := range codes {
		rows, err := q.QueryContext(ctx, `SELECT `+agencyColumns+` FROM agencies WHERE state = ? AND id <> ? ORDER BY id`, code, except)
		if err != nil {
			return nil, fmt.Errorf("agencies of %s: %w", code, err)
		}
		for rows.Next() {
			a, err := scanAgency(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("agencies of %s: %w", code, err)
			}
			out = append(out, a)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("agencies of %s: %w", code, err)
		}
	}
	slices.SortFunc(out, func(a, b directory.Agency) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// GetAgency implements directory.Store.
func (s *Store) GetAgency(ctx context.Context, id string) (directory.Agency, error) {
	return getAgency(ctx, s.db.Read, id)
}

// ListAgencies implements directory.Store. A Limit of zero or less returns
// every matching agency from Offset on.
func (s *Store) ListAgencies(ctx context.Context, q directory.AgencyQuery) (directory.AgencyPage, error) {
	where, args, err := query.SQLite.Where(directory.AgencySchema, q.Filter, 0)
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	order, err := query.SQLite.OrderBy(directory.AgencySchema, q.OrderBy, "id")
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	limit := int64(q.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var page directory.AgencyPage
	// One read transaction: the count and the page come from one snapshot.
	err = sqlitedb.WithTx(ctx, s.db.Read, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM agencies WHERE `+where, args...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT `+agencyColumns+` FROM agencies WHERE `+where+` `+order+` LIMIT ? OFFSET ?`,
			append(args, limit, max(q.Offset, 0))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAgency(rows)
			if err != nil {
				return err
			}
			page.Agencies = append(page.Agencies, a)
		}
		return rows.Err()
	})
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	return page, nil
}

// conflict is what insertAgency does when the id exists.
type conflict int

const (
	conflictFail    conflict = iota // an error: the input repeats an id
	conflictIgnore                  // no row written; the caller checks
	conflictReplace                 // replace the row, incrementing its version
)

// insertAgency writes a with Version 1 (or, replacing, the stored version
// plus one) and its UpdateTime (t if it has none), and reports whether a row
// was written. A state not in the store is errs.FailedPrecondition.
func insertAgency(ctx context.Context, tx *sql.Tx, a directory.Agency, t time.Time, c conflict) (bool, error) {
	q := `INSERT INTO agencies (` + agencyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`
	switch c {
	case conflictIgnore:
		q += ` ON CONFLICT (id) DO NOTHING`
	case conflictReplace:
		q += ` ON CONFLICT (id) DO UPDATE SET state = excluded.state, kind = excluded.kind,
			display_names = excluded.display_names, receives = excluded.receives,
			accepted_languages = excluded.accepted_languages, contact_points = excluded.contact_points,
			active = excluded.active, version = agencies.version + 1, update_time = excluded.update_time`
	}
	res, err := tx.ExecContext(ctx, q, a.ID, a.State, string(a.Kind), storedoc.EncodeMap(a.DisplayNames),
		storedoc.EncodeList(a.Receives), storedoc.EncodeList(a.AcceptedLanguages), storedoc.EncodeContactPoints(a.ContactPoints),
		a.Active, updateTime(a.UpdateTime, t).UnixMicro())
	switch {
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return false, errs.Wrap(err, errs.FailedPrecondition, "agency %q: state %q not found", a.ID, a.State)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return false, errs.Wrap(err, errs.Invalid, "agency %q is given twice", a.ID)
	case err != nil:
		return false, fmt.Errorf("store agency %s: %w", a.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store agency %s: %w", a.ID, err)
	}
	return n > 0, nil
}

// CreateAgency implements directory.Store.
func (s *Store) CreateAgency(ctx context.Context, a directory.Agency, ev trail.Event) (directory.Agency, error) {
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		// Checked first, rather than read from the foreign key error, so
		// that the error names the state on both backends.
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM states WHERE code = ?)`, a.State).Scan(&exists); err != nil {
			return fmt.Errorf("create agency %s: %w", a.ID, err)
		}
		if !exists {
			return errs.New(errs.FailedPrecondition, "state %q not found", a.State)
		}
		a.Version = 1
		a.UpdateTime = updateTime(a.UpdateTime, time.Now())
		created, err := insertAgency(ctx, tx, a, a.UpdateTime, conflictIgnore)
		if err != nil {
			return err
		}
		if !created {
			return errs.New(errs.AlreadyExists, "agency %q already exists", a.ID)
		}
		return sqlitedb.InsertEvent(ctx, tx, ev)
	})
	if err != nil {
		return directory.Agency{}, err
	}
	storedoc.NormalizeAgency(&a)
	return a, nil
}

// UpdateAgency implements directory.Store. fn runs while the transaction holds
// the database's only write connection, so it must not write through this
// store.
func (s *Store) UpdateAgency(ctx context.Context, id string, fn func(a *directory.Agency, peers []directory.Agency) (trail.Event, error)) (directory.Agency, error) {
	var out directory.Agency
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		a, err := getAgency(ctx, tx, id)
		if err != nil {
			return err
		}
		// The write transaction is the only writer of the database, so
		// the peers stay as read until it commits.
		peers, err := stateAgencies(ctx, tx, []string{a.State}, id)
		if err != nil {
			return err
		}
		state, version := a.State, a.Version
		ev, err := fn(&a, peers)
		if err != nil {
			return err
		}
		if a.ID != id {
			return errs.New(errs.Invalid, "agency id cannot change from %q to %q", id, a.ID)
		}
		if a.State != state {
			return errs.New(errs.Invalid, "agency %q cannot move from state %q to %q", id, state, a.State)
		}
		a.Version = version + 1
		a.UpdateTime = updateTime(a.UpdateTime, time.Now())
		storedoc.NormalizeAgency(&a)
		if _, err := tx.ExecContext(ctx, `UPDATE agencies SET kind = ?, display_names = ?, receives = ?,
			accepted_languages = ?, contact_points = ?, active = ?, version = ?, update_time = ?
			WHERE id = ?`,
			string(a.Kind), storedoc.EncodeMap(a.DisplayNames), storedoc.EncodeList(a.Receives), storedoc.EncodeList(a.AcceptedLanguages),
			storedoc.EncodeContactPoints(a.ContactPoints), a.Active, a.Version, a.UpdateTime.UnixMicro(), id); err != nil {
			return fmt.Errorf("update agency %s: %w", id, err)
		}
		if err := sqlitedb.InsertEvent(ctx, tx, ev); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return directory.Agency{}, err
	}
	return out, nil
}

// Seed implements directory.Store; it writes no audit event. The IMMEDIATE transaction holds the write
// lock from its first statement, so a concurrent seeder, in this process or
// another, waits and then finds the states written.
func (s *Store) Seed(ctx context.Context, states []directory.State, agencies []directory.Agency) (bool, error) {
	seeded := false
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM states)`).Scan(&exists); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if exists {
			return nil
		}
		t := time.Now()
		for _, st := range states {
			if err := upsertState(ctx, tx, st, t, false); err != nil {
				return err
			}
		}
		for _, a := range agencies {
			if _, err := insertAgency(ctx, tx, a, t, conflictFail); err != nil {
				return err
			}
		}
		seeded = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return seeded, nil
}

// Import implements directory.Store; it writes no audit event. Agencies may name states of the same
// import; a state in neither is errs.FailedPrecondition and nothing is stored.
func (s *Store) Import(ctx context.Context, states []directory.State, agencies []directory.Agency, keep func(stored directory.State, imported *directory.State), keepAgencies func(stored, imported []directory.Agency)) error {
	return sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		t := time.Now()
		for _, st := range states {
			if keep != nil {
				stored, err := getState(ctx, tx, st.Code)
				switch {
				case err == nil:
					code := st.Code
					keep(stored, &st)
					if st.Code != code {
						return errs.New(errs.Invalid, "state code cannot change from %q to %q", code, st.Code)
					}
				case !errors.Is(err, errs.ErrNotFound):
					return err
				}
			}
			if err := upsertState(ctx, tx, st, t, true); err != nil {
				return err
			}
		}
		if keepAgencies != nil && len(agencies) > 0 {
			var codes []string
			for _, a := range agencies {
				if !slices.Contains(codes, a.State) {
					codes = append(codes, a.State)
				}
			}
			stored, err := stateAgencies(ctx, tx, codes, "")
			if err != nil {
				return err
			}
			agencies = slices.Clone(agencies)
			if err := storedoc.KeepAgencies(agencies, func() { keepAgencies(stored, agencies) }); err != nil {
				return err
			}
		}
		for _, a := range agencies {
			if _, err := insertAgency(ctx, tx, a, t, conflictReplace); err != nil {
				return err
			}
		}
		return nil
	})
}
