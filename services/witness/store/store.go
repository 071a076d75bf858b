// Package store keeps a comity-witness's state — the latest checkpoint it
// cosigned for each log, and every checkpoint it ever cosigned — on SQLite
// or PostgreSQL through the SQL layer of package platform/sqldb, behind the
// witness.LogStatePersistence interface of github.com/transparency-dev/witness.
//
// The library ships an SQLite store of its own; this one runs on both
// engines with the project's migrations and connection settings (sqlitedb's
// WAL, synchronous writes and group commit; pgdb's pool), so that a state's
// oversight body can keep its witness in the PostgreSQL it already runs,
// and it keeps the history the library's does not.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/witness/witness"

	"github.com/comity-mla/comity/services/platform/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Store is a witness's state. It is safe for concurrent use, also by
// several processes on one database: Update serialises the updates of one
// origin (see Update).
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ witness.LogStatePersistence = (*Store)(nil)

// New applies the witness store's migrations to db and returns a store on
// it. The caller keeps ownership of db's engine handle and closes it after
// the last use of the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("witness store migrations: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate witness store: %w", err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Init does nothing: New has applied the migrations. The library calls it
// once when it builds its witness.
func (s *Store) Init(context.Context) error { return nil }

// Key returns the witness's verifier key the database records (RecordKey),
// or "" when it records none, and whether it holds any cosigned checkpoint.
func (s *Store) Key(ctx context.Context) (vkey string, hasState bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT vkey FROM witness_key WHERE id = 1`).Scan(&vkey)
	if err != nil && !errors.Is(err, sqldb.ErrNoRows) {
		return "", false, fmt.Errorf("witness store: read the witness's key: %w", err)
	}
	err = s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM history)`).Scan(&hasState)
	if err != nil {
		return "", false, fmt.Errorf("witness store: read whether the witness cosigned anything: %w", err)
	}
	return vkey, hasState, nil
}

// RecordKey records vkey as the witness's key when the database records
// none, and returns the key it records: vkey, or the one recorded before
// (a witness started at the same time on the same database may have
// recorded its own first).
func (s *Store) RecordKey(ctx context.Context, vkey string) (string, error) {
	if _, err := s.db.Exec(ctx, `INSERT INTO witness_key (id, vkey) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, vkey); err != nil {
		return "", fmt.Errorf("witness store: record the witness's key: %w", err)
	}
	var got string
	if err := s.db.QueryRow(ctx, `SELECT vkey FROM witness_key WHERE id = 1`).Scan(&got); err != nil {
		return "", fmt.Errorf("witness store: read the witness's key: %w", err)
	}
	return got, nil
}

// Latest returns the latest checkpoint stored for origin, or nil when there
// is none.
func (s *Store) Latest(ctx context.Context, origin string) ([]byte, error) {
	return latest(ctx, s.db, origin, "")
}

func latest(ctx context.Context, q sqldb.Querier, origin, lock string) ([]byte, error) {
	var cp []byte
	err := q.QueryRow(ctx, `SELECT checkpoint FROM latest WHERE origin = ?`+lock, origin).Scan(&cp)
	if err != nil && !errors.Is(err, sqldb.ErrNoRows) {
		return nil, fmt.Errorf("witness store: read the latest checkpoint of %q: %w", origin, err)
	}
	return cp, nil
}

// Update runs f on the latest checkpoint stored for origin (nil when there
// is none) and stores what f returns as the new latest one, adding it to
// the history, all in one transaction. An error of f is returned wrapped
// (errors.Is finds it, as the library's HTTP status mapping needs) and
// nothing is stored.
//
// Updates of one origin run one at a time, each reading what the one before
// stored: on SQLite every write transaction does; on PostgreSQL each locks
// the origin's row (SELECT … FOR UPDATE), having inserted it first if it is
// the origin's first checkpoint, so that two first updates meet on the
// primary key instead of both reading nothing.
func (s *Store) Update(ctx context.Context, origin string, f func([]byte) ([]byte, error)) error {
	return s.db.WithTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO latest (origin, checkpoint) VALUES (?, NULL) ON CONFLICT (origin) DO NOTHING`, origin); err != nil {
			return fmt.Errorf("witness store: lock %q: %w", origin, err)
		}
		prev, err := latest(ctx, tx, origin, tx.Dialect().ForUpdate())
		if err != nil {
			return err
		}
		next, err := f(prev)
		if err != nil {
			return fmt.Errorf("witness store: update %q: %w", origin, err)
		}
		var cp log.Checkpoint
		if _, err := cp.Unmarshal(next); err != nil {
			return fmt.Errorf("witness store: the checkpoint to store for %q: %w", origin, err)
		}
		if cp.Origin != origin {
			return fmt.Errorf("witness store: the checkpoint to store for %q is of origin %q", origin, cp.Origin)
		}
		if cp.Size > math.MaxInt64 {
			return fmt.Errorf("witness store: the checkpoint to store for %q has size %d, beyond what the store keeps (%d)", origin, cp.Size, int64(math.MaxInt64))
		}
		if _, err := tx.Exec(ctx, `UPDATE latest SET checkpoint = ? WHERE origin = ?`, next, origin); err != nil {
			return fmt.Errorf("witness store: store the checkpoint of %q: %w", origin, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO history (origin, size, root_hash, checkpoint, cosigned_at) VALUES (?, ?, ?, ?, ?)`,
			origin, int64(cp.Size), cp.Hash, next, tx.Dialect().Time(s.now())); err != nil {
			return fmt.Errorf("witness store: record the checkpoint of %q: %w", origin, err)
		}
		return nil
	})
}

// Cosigned is a checkpoint the witness cosigned, as History returns it.
type Cosigned struct {
	// Seq orders the history: a later cosignature has a larger Seq.
	Seq    int64
	Origin string
	Size   uint64
	// RootHash is the checkpoint's root hash.
	RootHash []byte
	// Checkpoint is the checkpoint as stored: the log's signed note with
	// the witness's cosignature.
	Checkpoint []byte
	// Time is when the witness stored it, in UTC.
	Time time.Time
}

// History returns up to limit (at most 1,000) of the checkpoints the
// witness cosigned for origin, newest first, starting before Seq before (0:
// from the newest). The next page starts before the Seq of the last one
// returned.
func (s *Store) History(ctx context.Context, origin string, before int64, limit int) ([]Cosigned, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.Query(ctx, `SELECT seq, origin, size, root_hash, checkpoint, cosigned_at FROM history
		WHERE origin = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, origin, before, limit)
	out, err := sqldb.Collect(rows, err, func(r sqldb.Scanner) (Cosigned, error) {
		var c Cosigned
		var size int64
		err := r.Scan(&c.Seq, &c.Origin, &size, &c.RootHash, &c.Checkpoint, sqldb.ScanTime(&c.Time))
		c.Size = uint64(size)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("witness store: read the history of %q: %w", origin, err)
	}
	return out, nil
}
