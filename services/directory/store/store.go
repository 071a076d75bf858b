// Package store is the directory.Store, on SQLite (the embedded deployment)
// or PostgreSQL (the scaled-out one, whose replicas share the database),
// through the SQL layer of package platform/sqldb. It is also the
// directory's trail.Outbox.
//
// It owns the directory's tables and their migrations (migrations/sqlite,
// migrations/postgres) and the mapping of directory.AgencySchema's fields to
// columns. It may import directory and directory/storedoc (the domain types
// and their stored form), the platform packages sqldb, errs, query and
// trail.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/storedoc"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations
var migrations embed.FS

// agencyFields maps the fields of directory.AgencySchema to the columns of
// agencies.
var agencyFields = map[string]string{
	"name":       "id",
	"state":      "state",
	"kind":       "kind",
	"active":     "active",
	"updateTime": "update_time",
}

// Store keeps the directory. Read-modify-write methods read the rows they
// change with Dialect.ForUpdate: on PostgreSQL that locks them, so that
// concurrent updates from any replica are serialised and none is lost; on
// SQLite write transactions run one at a time anyway, within the process
// and, through SQLite's lock, with other processes on the file.
//
// A write keeps the UpdateTime it is given, since the domain takes it from its
// own clock, and uses the time of the write only when it is zero. Times are
// stored in UTC truncated to microseconds, the precision of both engines.
type Store struct {
	sqldb.Outbox
	db     *sqldb.DB
	agency query.Schema
}

var (
	_ directory.Store = (*Store)(nil)
	_ trail.Outbox    = (*Store)(nil)
)

// New applies the directory's migrations to db and returns a store on it. The
// caller keeps ownership of db's engine handle and closes it after the last
// use of the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	agency, err := directory.AgencySchema.WithColumns(agencyFields)
	if err != nil {
		return nil, fmt.Errorf("directory store: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("directory migrations: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate directory: %w", err)
	}
	return &Store{Outbox: sqldb.Outbox{DB: db}, db: db, agency: agency}, nil
}

// updateTime is the update time to store for t: t itself, because the
// domain sets it from its own clock, or, when t is zero (a seed file without
// times), the time of the write. It is UTC truncated to microseconds, the
// precision of both engines, so that what a write returns equals what a
// later read returns.
func updateTime(t, write time.Time) time.Time {
	if t.IsZero() {
		t = write
	}
	return t.UTC().Truncate(time.Microsecond)
}

// States.

const stateColumns = `code, display_names, official_languages, accepted_languages, time_zone, trusted_issuers, claim_mappings, version, update_time, instruments, retention_after_close_ns, witness_url, witness_public_key`

// stateSelect reads stateColumns; instruments never recorded read as none,
// and a retention or a witness never set as none (zero).
const stateSelect = `code, display_names, official_languages, accepted_languages, time_zone, trusted_issuers, claim_mappings, version, update_time, COALESCE(instruments, '[]'), COALESCE(retention_after_close_ns, 0), COALESCE(witness_url, ''), COALESCE(witness_public_key, '')`

// retentionOf is the column value of a state's retention: NULL for none.
func retentionOf(d time.Duration) any {
	if d <= 0 {
		return nil
	}
	return int64(d)
}

// witnessOf is the column values of a state's witness: NULL for none.
func witnessOf(w directory.StateWitness) (url, key any) {
	if w.IsZero() {
		return nil, nil
	}
	return w.URL, w.PublicKey
}

func scanState(row sqldb.Scanner) (directory.State, error) {
	var (
		s                                            directory.State
		names, official, accepted, issuers, mappings string
		instruments                                  string
		retention                                    int64
	)
	if err := row.Scan(&s.Code, &names, &official, &accepted, &s.TimeZone, &issuers, &mappings, &s.Version, sqldb.ScanTime(&s.UpdateTime),
		&instruments, &retention, &s.Witness.URL, &s.Witness.PublicKey); err != nil {
		return directory.State{}, err
	}
	d := columns{row: "state " + s.Code}
	decode(&d, "display_names", &s.DisplayNames, storedoc.DecodeMap, names)
	decode(&d, "official_languages", &s.OfficialLanguages, storedoc.DecodeList[string], official)
	decode(&d, "accepted_languages", &s.AcceptedLanguages, storedoc.DecodeList[string], accepted)
	decode(&d, "trusted_issuers", &s.TrustedIssuers, storedoc.DecodeList[string], issuers)
	decode(&d, "claim_mappings", &s.ClaimMappings, storedoc.DecodeClaimMappings, mappings)
	decode(&d, "instruments", &s.Instruments, storedoc.DecodeStateInstruments, instruments)
	if d.err != nil {
		return directory.State{}, d.err
	}
	s.RetentionAfterClose = time.Duration(retention)
	return s, nil
}

// columns decodes the JSON columns of one row (see decode), keeping the
// first failure, which names the row and the column.
type columns struct {
	row string
	err error
}

// decode sets *dst to what dec makes of the column's text src, unless an
// earlier column of d's row failed.
func decode[T any](d *columns, column string, dst *T, dec func(string) (T, error), src string) {
	if d.err != nil {
		return
	}
	v, err := dec(src)
	if err != nil {
		d.err = fmt.Errorf("%s %s: %w", d.row, column, err)
		return
	}
	*dst = v
}

// getOne reads the row of the noun (state, agency) key with query and scan;
// a missing row is NotFound.
func getOne[T any](ctx context.Context, q sqldb.Querier, scan func(sqldb.Scanner) (T, error), query, noun, key string) (T, error) {
	v, err := scan(q.QueryRow(ctx, query, key))
	if errors.Is(err, sqldb.ErrNoRows) {
		return v, errs.New(errs.NotFound, "%s %q not found", noun, key)
	}
	if err != nil {
		return v, fmt.Errorf("get %s %s: %w", noun, key, err)
	}
	return v, nil
}

// getState reads a state; lock is "" or a Dialect's row lock clause.
func getState(ctx context.Context, q sqldb.Querier, code, lock string) (directory.State, error) {
	return getOne(ctx, q, scanState, `SELECT `+stateSelect+` FROM states WHERE code = ?`+lock, "state", code)
}

// ListStates implements directory.Store.
func (s *Store) ListStates(ctx context.Context) ([]directory.State, error) {
	rows, err := s.db.Query(ctx, `SELECT `+stateSelect+` FROM states ORDER BY code`)
	out, err := sqldb.Collect(rows, err, scanState)
	if err != nil {
		return nil, fmt.Errorf("list states: %w", err)
	}
	return out, nil
}

// GetState implements directory.Store.
func (s *Store) GetState(ctx context.Context, code string) (directory.State, error) {
	return getState(ctx, s.db, code, "")
}

// UpdateState implements directory.Store. fn runs while the row is locked
// (on SQLite: while the transaction holds the database's only write
// connection, so fn must not write through this store).
func (s *Store) UpdateState(ctx context.Context, code string, fn func(*directory.State) (trail.Event, error)) (directory.State, error) {
	var out directory.State
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		d := tx.Dialect()
		st, err := getState(ctx, tx, code, d.ForUpdate())
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
		witnessURL, witnessKey := witnessOf(st.Witness)
		if _, err := tx.Exec(ctx, `UPDATE states SET display_names = ?, official_languages = ?,
			accepted_languages = ?, time_zone = ?, trusted_issuers = ?, claim_mappings = ?, version = ?, update_time = ?,
			instruments = ?, retention_after_close_ns = ?, witness_url = ?, witness_public_key = ? WHERE code = ?`,
			storedoc.EncodeMap(st.DisplayNames), storedoc.EncodeList(st.OfficialLanguages), storedoc.EncodeList(st.AcceptedLanguages),
			st.TimeZone, storedoc.EncodeList(st.TrustedIssuers), storedoc.EncodeClaimMappings(st.ClaimMappings), st.Version, d.Time(st.UpdateTime),
			storedoc.EncodeStateInstruments(st.Instruments), retentionOf(st.RetentionAfterClose), witnessURL, witnessKey, code); err != nil {
			return fmt.Errorf("update state %s: %w", code, err)
		}
		if err := sqldb.InsertEvent(ctx, tx, ev); err != nil {
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
// increments its Version. A state given with no instruments has them
// stored as never recorded (NULL), so that SeedInstruments may fill them;
// directory.Import keeps a stored state's entries when a snapshot lists
// none.
func upsertState(ctx context.Context, tx *sqldb.Tx, st directory.State, t time.Time, upsert bool) error {
	q := `INSERT INTO states (` + stateColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`
	if upsert {
		q += ` ON CONFLICT (code) DO UPDATE SET display_names = excluded.display_names,
			official_languages = excluded.official_languages, accepted_languages = excluded.accepted_languages,
			time_zone = excluded.time_zone, trusted_issuers = excluded.trusted_issuers,
			claim_mappings = excluded.claim_mappings, version = states.version + 1, update_time = excluded.update_time,
			instruments = excluded.instruments, retention_after_close_ns = excluded.retention_after_close_ns,
			witness_url = excluded.witness_url, witness_public_key = excluded.witness_public_key`
	}
	witnessURL, witnessKey := witnessOf(st.Witness)
	var instruments any
	if len(st.Instruments) > 0 {
		instruments = storedoc.EncodeStateInstruments(st.Instruments)
	}
	_, err := tx.Exec(ctx, q, st.Code, storedoc.EncodeMap(st.DisplayNames), storedoc.EncodeList(st.OfficialLanguages),
		storedoc.EncodeList(st.AcceptedLanguages), st.TimeZone, storedoc.EncodeList(st.TrustedIssuers),
		storedoc.EncodeClaimMappings(st.ClaimMappings), tx.Dialect().Time(updateTime(st.UpdateTime, t)), instruments,
		retentionOf(st.RetentionAfterClose), witnessURL, witnessKey)
	if _, dup := sqldb.UniqueViolation(err); dup {
		return errs.Wrap(err, errs.Invalid, "state %q is given twice", st.Code)
	}
	if err != nil {
		return fmt.Errorf("store state %s: %w", st.Code, err)
	}
	return nil
}

// Agencies.

const agencyColumns = `id, state, kind, display_names, receives, accepted_languages, contact_points, active, version, update_time`

func scanAgency(row sqldb.Scanner) (directory.Agency, error) {
	var (
		a                                        directory.Agency
		names, receives, accepted, contactPoints string
	)
	if err := row.Scan(&a.ID, &a.State, &a.Kind, &names, &receives, &accepted, &contactPoints, &a.Active, &a.Version, sqldb.ScanTime(&a.UpdateTime)); err != nil {
		return directory.Agency{}, err
	}
	d := columns{row: "agency " + a.ID}
	decode(&d, "display_names", &a.DisplayNames, storedoc.DecodeMap, names)
	decode(&d, "receives", &a.Receives, storedoc.DecodeList[cooperation.RequestType], receives)
	decode(&d, "accepted_languages", &a.AcceptedLanguages, storedoc.DecodeList[string], accepted)
	decode(&d, "contact_points", &a.ContactPoints, storedoc.DecodeContactPoints, contactPoints)
	if d.err != nil {
		return directory.Agency{}, d.err
	}
	return a, nil
}

// getAgency reads an agency; lock is "" or a Dialect's row lock clause.
func getAgency(ctx context.Context, q sqldb.Querier, id, lock string) (directory.Agency, error) {
	return getOne(ctx, q, scanAgency, `SELECT `+agencyColumns+` FROM agencies WHERE id = ?`+lock, "agency", id)
}

// lockStateAgencies takes the lock that serialises the changes of the
// agencies of the states codes: on PostgreSQL their rows, FOR NO KEY UPDATE,
// which leaves the foreign-key checks of a concurrent create free, in code
// order so that two transactions never wait for each other. SQLite's write
// transactions need none.
func lockStateAgencies(ctx context.Context, tx *sqldb.Tx, codes []string) error {
	d := tx.Dialect()
	lock := d.ForNoKeyUpdate()
	if lock == "" {
		return nil
	}
	codes = slices.Sorted(slices.Values(codes))
	if _, err := tx.Exec(ctx, `SELECT code FROM states WHERE `+d.In("code")+` ORDER BY code`+lock, sqldb.List(d, codes)); err != nil {
		return fmt.Errorf("lock the agencies of %v: %w", codes, err)
	}
	return nil
}

// stateAgencies returns the agencies of the states codes, ordered by id,
// but the one with id except (none if empty).
func stateAgencies(ctx context.Context, tx *sqldb.Tx, codes []string, except string) ([]directory.Agency, error) {
	d := tx.Dialect()
	rows, err := tx.Query(ctx, `SELECT `+agencyColumns+` FROM agencies WHERE `+d.In("state")+` AND id <> ? ORDER BY id`,
		sqldb.List(d, codes), except)
	out, err := sqldb.Collect(rows, err, scanAgency)
	if err != nil {
		return nil, fmt.Errorf("agencies of %v: %w", codes, err)
	}
	return out, nil
}

// GetAgency implements directory.Store.
func (s *Store) GetAgency(ctx context.Context, id string) (directory.Agency, error) {
	return getAgency(ctx, s.db, id, "")
}

// ListAgencies implements directory.Store. A Limit of zero or less returns
// every matching agency from Offset on.
func (s *Store) ListAgencies(ctx context.Context, q directory.AgencyQuery) (directory.AgencyPage, error) {
	d := s.db.Dialect()
	where, args, order, err := d.Clauses(s.agency, q.Filter, q.OrderBy, "id")
	if err != nil {
		return directory.AgencyPage{}, fmt.Errorf("list agencies: %w", err)
	}
	var page directory.AgencyPage
	// One snapshot: Total agrees with the rows even while another replica
	// writes.
	err = s.db.ReadTx(ctx, func(tx *sqldb.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM agencies WHERE `+where, args...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+agencyColumns+` FROM agencies WHERE `+where+` `+order+` LIMIT ? OFFSET ?`,
			append(args, d.Limit(q.Limit), max(q.Offset, 0))...)
		page.Agencies, err = sqldb.Collect(rows, err, scanAgency)
		return err
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
func insertAgency(ctx context.Context, tx *sqldb.Tx, a directory.Agency, t time.Time, c conflict) (bool, error) {
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
	n, err := tx.Exec(ctx, q, a.ID, a.State, string(a.Kind), storedoc.EncodeMap(a.DisplayNames),
		storedoc.EncodeList(a.Receives), storedoc.EncodeList(a.AcceptedLanguages), storedoc.EncodeContactPoints(a.ContactPoints),
		a.Active, tx.Dialect().Time(updateTime(a.UpdateTime, t)))
	_, dup := sqldb.UniqueViolation(err)
	switch {
	case sqldb.ForeignKeyViolation(err):
		return false, errs.Wrap(err, errs.FailedPrecondition, "agency %q: state %q not found", a.ID, a.State)
	case dup:
		return false, errs.Wrap(err, errs.Invalid, "agency %q is given twice", a.ID)
	case err != nil:
		return false, fmt.Errorf("store agency %s: %w", a.ID, err)
	}
	return n > 0, nil
}

// CreateAgency implements directory.Store.
func (s *Store) CreateAgency(ctx context.Context, a directory.Agency, ev trail.Event) (directory.Agency, error) {
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		// Checked first, rather than read from the foreign key error, so
		// that the error names the state on both engines.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM states WHERE code = ?)`, a.State).Scan(&exists); err != nil {
			return fmt.Errorf("create agency %s: %w", a.ID, err)
		}
		if !exists {
			return errs.New(errs.FailedPrecondition, "state %q not found", a.State)
		}
		a.Version = 1
		a.UpdateTime = updateTime(a.UpdateTime, time.Now())
		// DO NOTHING also covers a concurrent create of the same id on
		// PostgreSQL: the second insert waits for the first and then
		// writes nothing.
		created, err := insertAgency(ctx, tx, a, a.UpdateTime, conflictIgnore)
		if err != nil {
			return err
		}
		if !created {
			return errs.New(errs.AlreadyExists, "agency %q already exists", a.ID)
		}
		return sqldb.InsertEvent(ctx, tx, ev)
	})
	if err != nil {
		return directory.Agency{}, err
	}
	storedoc.NormalizeAgency(&a)
	return a, nil
}

// UpdateAgency implements directory.Store. fn runs while the agency's row
// and the lock of its state's agencies are held (on SQLite: while the
// transaction holds the database's only write connection, so fn must not
// write through this store).
func (s *Store) UpdateAgency(ctx context.Context, id string, fn func(a *directory.Agency, peers []directory.Agency) (trail.Event, error)) (directory.Agency, error) {
	var out directory.Agency
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		d := tx.Dialect()
		a, err := getAgency(ctx, tx, id, "")
		if err != nil {
			return err
		}
		// The state's lock first, then the agency's row, in the order every
		// writer of the state's agencies takes them: updates of any agency
		// of one state take turns, so that fn's view of the peers stays
		// true until this one commits.
		if lock := d.ForUpdate(); lock != "" {
			if err := lockStateAgencies(ctx, tx, []string{a.State}); err != nil {
				return err
			}
			if a, err = getAgency(ctx, tx, id, lock); err != nil {
				return err
			}
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
		if _, err := tx.Exec(ctx, `UPDATE agencies SET kind = ?, display_names = ?, receives = ?,
			accepted_languages = ?, contact_points = ?, active = ?, version = ?, update_time = ?
			WHERE id = ?`,
			string(a.Kind), storedoc.EncodeMap(a.DisplayNames), storedoc.EncodeList(a.Receives), storedoc.EncodeList(a.AcceptedLanguages),
			storedoc.EncodeContactPoints(a.ContactPoints), a.Active, a.Version, d.Time(a.UpdateTime), id); err != nil {
			return fmt.Errorf("update agency %s: %w", id, err)
		}
		if err := sqldb.InsertEvent(ctx, tx, ev); err != nil {
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

// Seed implements directory.Store; it writes no audit event. Processes or
// replicas starting at once all call it and take turns: on SQLite the write
// transaction holds the write lock from its first statement, on PostgreSQL
// an advisory lock, and READ COMMITTED lets each one that waited see the
// states the first one committed.
func (s *Store) Seed(ctx context.Context, states []directory.State, agencies []directory.Agency) (bool, error) {
	seeded := false
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		if err := tx.AdvisoryLockName(ctx, "comity.directory.seed"); err != nil {
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
	return s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		t := time.Now()
		for _, st := range states {
			if keep != nil {
				// Locked: a concurrent change of the state waits, so that
				// keep sees what the import replaces.
				stored, err := getState(ctx, tx, st.Code, tx.Dialect().ForUpdate())
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

// Instruments.

// ListInstruments implements directory.Store.
func (s *Store) ListInstruments(ctx context.Context) ([]directory.Instrument, error) {
	rows, err := s.db.Query(ctx, `SELECT legal_basis, profile FROM instruments ORDER BY rank, legal_basis`)
	out, err := sqldb.Collect(rows, err, func(row sqldb.Scanner) (directory.Instrument, error) {
		var basis, profile string
		if err := row.Scan(&basis, &profile); err != nil {
			return directory.Instrument{}, err
		}
		in, err := storedoc.DecodeInstrument(profile)
		if err != nil {
			return directory.Instrument{}, fmt.Errorf("instrument %s profile: %w", basis, err)
		}
		return in, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list instruments: %w", err)
	}
	return out, nil
}

// SeedInstruments implements directory.Store; it writes no audit event. A
// state it gives entries gets a new version (its etag changes), since what
// readers see of it changed.
func (s *Store) SeedInstruments(ctx context.Context, profiles []directory.Instrument, instruments map[string][]directory.StateInstrument) (int, error) {
	seeded := 0
	err := s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		seeded = 0
		for _, in := range profiles {
			if _, err := tx.Exec(ctx, `INSERT INTO instruments (legal_basis, rank, profile) VALUES (?, ?, ?)
				ON CONFLICT (legal_basis) DO NOTHING`, in.LegalBasis, in.Rank, storedoc.EncodeInstrument(in)); err != nil {
				return fmt.Errorf("seed instrument %s: %w", in.LegalBasis, err)
			}
		}
		for _, code := range slices.Sorted(maps.Keys(instruments)) {
			list := instruments[code]
			if len(list) == 0 {
				continue
			}
			n, err := tx.Exec(ctx, `UPDATE states SET instruments = ?, version = version + 1 WHERE code = ? AND instruments IS NULL`,
				storedoc.EncodeStateInstruments(list), code)
			if err != nil {
				return fmt.Errorf("seed the instruments of %s: %w", code, err)
			}
			if n > 0 {
				seeded++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return seeded, nil
}
