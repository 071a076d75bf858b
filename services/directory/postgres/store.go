// Package postgres is the directory.Store of the scaled-out deployment, on a
// PostgreSQL database that several replicas share. It is also the
// directory's trail.Outbox.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/storedoc"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLSTATE codes the store turns into domain errors.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

// Store keeps the directory in PostgreSQL. Read-modify-write methods lock
// the row (SELECT … FOR UPDATE), so that concurrent updates from any replica
// are serialised and none is lost.
//
// A write keeps the UpdateTime it is given, since the domain takes it from its
// own clock, and uses the time of the write only when it is zero. Times are
// stored truncated to microseconds, timestamptz's precision, and read in UTC.
type Store struct {
	pgdb.Outbox
	pool *pgxpool.Pool
}

var (
	_ directory.Store = (*Store)(nil)
	_ trail.Outbox    = (*Store)(nil)
)

// New applies the directory's migrations to the database of pool and returns
// a store on it. The caller keeps ownership of pool and closes it after the
// last use of the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("directory migrations: %w", err)
	}
	if err := pgdb.Migrate(ctx, pool, sub); err != nil {
		return nil, fmt.Errorf("migrate directory: %w", err)
	}
	return &Store{Outbox: pgdb.Outbox{Pool: pool}, pool: pool}, nil
}

// updateTime is the update time to store for t: t itself or, when t is zero
// (a seed file without times), the time of the write. It is UTC truncated to
// microseconds so that what a write returns equals what a later read returns;
// PostgreSQL would round instead.
func updateTime(t, write time.Time) time.Time {
	if t.IsZero() {
		t = write
	}
	return t.UTC().Truncate(time.Microsecond)
}

// querier is what the pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// States.

const stateColumns = `code, display_names, official_languages, accepted_languages, time_zone, trusted_issuers, claim_mappings, version, update_time`

func scanState(row pgx.Row) (directory.State, error) {
	var (
		s                                            directory.State
		names, official, accepted, issuers, mappings string
		updated                                      time.Time
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
	s.UpdateTime = updated.UTC()
	return s, nil
}

// getState reads a state; lock adds FOR UPDATE.
func getState(ctx context.Context, q querier, code string, lock bool) (directory.State, error) {
	sql := `SELECT ` + stateColumns + ` FROM states WHERE code = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	s, err := scanState(q.QueryRow(ctx, sql, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.State{}, errs.New(errs.NotFound, "state %q not found", code)
	}
	if err != nil {
		return directory.State{}, fmt.Errorf("get state %s: %w", code, err)
	}
	return s, nil
}

// ListStates implements directory.Store.
func (s *Store) ListStates(ctx context.Context) ([]directory.State, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stateColumns+` FROM states ORDER BY code`)
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
	return getState(ctx, s.pool, code, false)
}

// UpdateState implements directory.Store. fn runs while the row is locked.
func (s *Store) UpdateState(ctx context.Context, code string, fn func(*directory.State) (trail.Event, error)) (directory.State, error) {
	var out directory.State
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		st, err := getState(ctx, tx, code, true)
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
		if _, err := tx.Exec(ctx, `UPDATE states SET display_names = $1, official_languages = $2,
			accepted_languages = $3, time_zone = $4, trusted_issuers = $5, claim_mappings = $6, version = $7, update_time = $8
			WHERE code = $9`,
			storedoc.EncodeMap(st.DisplayNames), storedoc.EncodeList(st.OfficialLanguages), storedoc.EncodeList(st.AcceptedLanguages),
			st.TimeZone, storedoc.EncodeList(st.TrustedIssuers), storedoc.EncodeClaimMappings(st.ClaimMappings), st.Version, st.UpdateTime, code); err != nil {
			return fmt.Errorf("update state %s: %w", code, err)
		}
		if err := pgdb.InsertEvent(ctx, tx, ev); err != nil {
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

// upsertState inserts st with Version 1 and its UpdateTime (t if it has none),
// or, when upsert is set and the code exists, replaces it and increments its
// Version.
func upsertState(ctx context.Context, tx pgx.Tx, st directory.State, t time.Time, upsert bool) error {
	q := `INSERT INTO states (` + stateColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)`
	if upsert {
		q += ` ON CONFLICT (code) DO UPDATE SET display_names = excluded.display_names,
			official_languages = excluded.official_languages, accepted_languages = excluded.accepted_languages,
			time_zone = excluded.time_zone, trusted_issuers = excluded.trusted_issuers,
			claim_mappings = excluded.claim_mappings, version = states.version + 1, update_time = excluded.update_time`
	}
	_, err := tx.Exec(ctx, q, st.Code, storedoc.EncodeMap(st.DisplayNames), storedoc.EncodeList(st.OfficialLanguages),
		storedoc.EncodeList(st.AcceptedLanguages), st.TimeZone, storedoc.EncodeList(st.TrustedIssuers), storedoc.EncodeClaimMappings(st.ClaimMappings), updateTime(st.UpdateTime, t))
	if pgCode(err) == uniqueViolation {
		return errs.Wrap(err, errs.Invalid, "state %q is given twice", st.Code)
	}
	if err != nil {
		return fmt.Errorf("store state %s: %w", st.Code, err)
	}
	return nil
}

// Agencies.

const agencyColumns = `id, state, kind, display_names, receives, accepted_languages, contact_points, active, version, update_time`

func scanAgency(row pgx.Row) (directory.Agency, error) {
	var (
		a                                        directory.Agency
		names, receives, accepted, contactPoints string
		updated                                  time.Time
	)
	if err := row.Scan(&a.ID, &a.State, &a.Kind, &names, &receives, &accepted, &contactPoints, &a.Active, &a.Version, &updated); err != nil {
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
	a.UpdateTime = updated.UTC()
	return a, nil
}

// getAgency reads an agency; lock adds FOR UPDATE.
func getAgency(ctx context.Context, q querier, id string, lock bool) (directory.Agency, error) {
	sql := `SELECT ` + agencyColumns + ` FROM agencies WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	a, err := scanAgency(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.Agency{}, errs.New(errs.NotFound, "agency %q not found", id)
	}
	if err != nil {
		return directory.Agency{}, fmt.Errorf("get agency %s: %w", id, err)
	}
	return a, nil
}

// lockStateAgencies takes the lock that serialises the changes of the
// agencies of the states codes (their rows, FOR NO KEY UPDATE), in code
// order so that two transactions never wait for each other.
func lockStateAgencies(ctx context.Context, tx pgx.Tx, codes []string) error {
	codes = slices.Sorted(slices.Values(codes))
	if _, err := tx.Exec(ctx, `SELECT code FROM states WHERE code = ANY($1) ORDER BY code FOR NO KEY UPDATE`, codes); err != nil {
		return fmt.Errorf("lock the agencies of %v: %w", codes, err)
	}
	return nil
}

// stateAgencies returns the agencies of the states codes, ordered by id,
// but the one with id except (none if empty).
func stateAgencies(ctx context.Context, q querier, codes []string, except string) ([]directory.Agency, error) {
	rows, err := q.Query(ctx, `SELECT `+agencyColumns+` FROM agencies WHERE state = ANY($1) AND id <> $2 ORDER BY id`, codes, except)
	if err != nil {
		return nil, fmt.Errorf("agencies of %v: %w", codes, err)
	}
	defer rows.Close()
	var out []directory.Agency
	for rows.Next() {
		a, err := scanAgency(rows)
		if err != nil {
			return nil, fmt.Errorf("agencies of %v: %w", codes, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agencies of %v: %w", codes, err)
	}
	return out, nil
}

// GetAgency implements directory.Store.
func (s *Store) GetAgency(ctx context.Context, id string) (directory.Agency, error) {
	return getAgency(ctx, s.pool, id, false)
}

// ListAgencies implements directory.Store. A Limit of zero or less returns
// every matching agency from Offset on.
func (s *Store) ListAgencies(ctx context.Context, q directory.AgencyQuery) (directory.AgencyPage, error) {
	where, args, err := query.Postgres.Where(directory.AgencySchema, q.Filter, 0)
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	order, err := query.Postgres.OrderBy(directory.AgencySchema, q.OrderBy, "id")
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	limit := "ALL"
	if q.Limit > 0 {
		limit = fmt.Sprint(q.Limit)
	}
	page := fmt.Sprintf(`SELECT %s FROM agencies WHERE %s %s LIMIT %s OFFSET %d`,
		agencyColumns, where, order, limit, max(q.Offset, 0))
	var out directory.AgencyPage
	// REPEATABLE READ: the count and the page come from one snapshot, so
	// Total agrees with the rows even while another replica writes.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM agencies WHERE `+where, args...).Scan(&out.Total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, page, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAgency(rows)
			if err != nil {
				return err
			}
			out.Agencies = append(out.Agencies, a)
		}
		return rows.Err()
	})
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	return out, nil
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
func insertAgency(ctx context.Context, tx pgx.Tx, a directory.Agency, t time.Time, c conflict) (bool, error) {
	q := `INSERT INTO agencies (` + agencyColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)`
	switch c {
	case conflictIgnore:
		q += ` ON CONFLICT (id) DO NOTHING`
	case conflictReplace:
		q += ` ON CONFLICT (id) DO UPDATE SET state = excluded.state, kind = excluded.kind,
			display_names = excluded.display_names, receives = excluded.receives,
			accepted_languages = excluded.accepted_languages, contact_points = excluded.contact_points,
			active = excluded.active, version = agencies.version + 1, update_time = excluded.update_time`
	}
	tag, err := tx.Exec(ctx, q, a.ID, a.State, string(a.Kind), storedoc.EncodeMap(a.DisplayNames),
		storedoc.EncodeList(a.Receives), storedoc.EncodeList(a.AcceptedLanguages), storedoc.EncodeContactPoints(a.ContactPoints),
		a.Active, updateTime(a.UpdateTime, t))
	switch {
	case pgCode(err) == foreignKeyViolation:
		return false, errs.Wrap(err, errs.FailedPrecondition, "agency %q: state %q not found", a.ID, a.State)
	case pgCode(err) == uniqueViolation:
		return false, errs.Wrap(err, errs.Invalid, "agency %q is given twice", a.ID)
	case err != nil:
		return false, fmt.Errorf("store agency %s: %w", a.ID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// CreateAgency implements directory.Store.
func (s *Store) CreateAgency(ctx context.Context, a directory.Agency, ev trail.Event) (directory.Agency, error) {
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Checked first, rather than read from the foreign key error, so
		// that the error names the state on both backends.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM states WHERE code = $1)`, a.State).Scan(&exists); err != nil {
			return fmt.Errorf("create agency %s: %w", a.ID, err)
		}
		if !exists {
			return errs.New(errs.FailedPrecondition, "state %q not found", a.State)
		}
		a.Version = 1
		a.UpdateTime = updateTime(a.UpdateTime, time.Now())
		// DO NOTHING also covers a concurrent create of the same id: the
		// second insert waits for the first and then writes nothing.
		created, err := insertAgency(ctx, tx, a, a.UpdateTime, conflictIgnore)
		if err != nil {
			return err
		}
		if !created {
			return errs.New(errs.AlreadyExists, "agency %q already exists", a.ID)
		}
		return pgdb.InsertEvent(ctx, tx, ev)
	})
	if err != nil {
		return directory.Agency{}, err
	}
	storedoc.NormalizeAgency(&a)
	return a, nil
}

// UpdateAgency implements directory.Store. fn runs while the row is locked.
func (s *Store) UpdateAgency(ctx context.Context, id string, fn func(a *directory.Agency, peers []directory.Agency) (trail.Event, error)) (directory.Agency, error) {
	var out directory.Agency
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := getAgency(ctx, tx, id, false)
		if err != nil {
			return err
		}
		// The state's row is the lock of its agencies: updates of any
		// agency of one state take turns, so that fn's view of the peers
		// stays true until this one commits. NO KEY UPDATE leaves
		// the foreign-key checks of a concurrent create free.
		if err := lockStateAgencies(ctx, tx, []string{a.State}); err != nil {
			return err
		}
		if a, err = getAgency(ctx, tx, id, true); err != nil {
			return err
		}
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
		if _, err := tx.Exec(ctx, `UPDATE agencies SET kind = $1, display_names = $2, receives = $3,
			accepted_languages = $4, contact_points = $5, active = $6, version = $7, update_time = $8
			WHERE id = $9`,
			string(a.Kind), storedoc.EncodeMap(a.DisplayNames), storedoc.EncodeList(a.Receives), storedoc.EncodeList(a.AcceptedLanguages),
			storedoc.EncodeContactPoints(a.ContactPoints), a.Active, a.Version, a.UpdateTime, id); err != nil {
			return fmt.Errorf("update agency %s: %w", id, err)
		}
		if err := pgdb.InsertEvent(ctx, tx, ev); err != nil {
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

// Seed implements directory.Store; it writes no audit event. Replicas starting at once all call it; an
// advisory lock makes them take turns, and READ COMMITTED lets each one that
// waited see the states the first one committed.
func (s *Store) Seed(ctx context.Context, states []directory.State, agencies []directory.Agency) (bool, error) {
	seeded := false
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('comity.directory.seed', 0))`); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM states)`).Scan(&exists); err != nil {
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
	return pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		t := time.Now()
		for _, st := range states {
			if keep != nil {
				// FOR UPDATE: a concurrent change of the state waits, so
				// that keep sees what the import replaces.
				stored, err := getState(ctx, tx, st.Code, true)
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
			if err := lockStateAgencies(ctx, tx, codes); err != nil {
				return err
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
