// Package sqlitedb opens the SQLite databases of Comity's embedded deployment
// and applies their schema migrations.
//
// SQLite allows one writer at a time. A database therefore has two pools: a
// Write pool of exactly one connection, whose transactions take the write lock
// at BEGIN, so that writers in this process queue in Go rather than spin on
// SQLITE_BUSY and a read-modify-write transaction can never be upgraded too
// late; and a Read pool of several read-only connections, which WAL lets run
// beside the writer.
//
// Every connection binds a time.Time argument as an INTEGER of microseconds
// since the Unix epoch (UTC). Stores keep timestamps in INTEGER columns of that
// unit, so that a time.Time in a WHERE clause compares correctly with them and
// the precision matches PostgreSQL's timestamptz.
//
// Every connection keeps the statements it has prepared (see
// stmtCacheConnector), and WithTx on a Write pool runs transactions in the
// order they were asked for, committing those that queued together (see
// writer).
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// DB is one SQLite database file, reached through a writer pool and a reader
// pool.
type DB struct {
	// Write has a single connection; its transactions begin IMMEDIATE. Use it
	// for every statement that writes, and for reads that must see the
	// state they are about to change. A transaction holds the only
	// connection: code inside it must not wait for another use of Write.
	Write *sql.DB
	// Read has several read-only connections for queries that need no lock.
	Read *sql.DB

	checkpoints *checkpointer
}

// busyTimeout is how long a connection waits for a lock held by another
// process on the same file before failing with SQLITE_BUSY.
const busyTimeout = "10000" // milliseconds

// Open opens (creating if needed) the database file at path, creating its
// directory with mode 0700 because the database holds case-related data.
// It does not apply migrations; see Migrate.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools on an in-memory database would be two databases.
		return nil, fmt.Errorf("open sqlite: %q is not a database file path", path)
	}
	if strings.ContainsAny(path, "?#") {
		// The driver splits the DSN at the first '?'.
		return nil, fmt.Errorf("open sqlite %s: path must not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout("+busyTimeout+")")
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous(NORMAL)")
	// What is deleted or overwritten is zeroed in the file rather than
	// left in free space: an erased request's content (DESIGN §10) must
	// not stay readable in the database file.
	common.Add("_pragma", "secure_delete(1)")
	common.Set("_time_integer_format", "unix_micro")

	wq := cloneValues(common)
	// journal_mode is a property of the file; setting it on the writer,
	// which opens first, is enough and the read-only readers could not.
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "wal_autocheckpoint("+safetyCheckpointPages+")")
	wq.Set("_txlock", "immediate")
	write, err := openPool(path + "?" + wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	rq := cloneValues(common)
	// query_only turns an accidental write on a reader into an error instead
	// of a second writer competing for the lock.
	rq.Add("_pragma", "query_only(1)")
	read, err := openPool(path + "?" + rq.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ckpt, err := openPool(path + "?" + common.Encode())
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	checkpoints := startCheckpointer(ckpt)
	writers.Store(write, startWriter(write, checkpoints.committed))
	return &DB{Write: write, Read: read, checkpoints: checkpoints}, nil
}

func openPool(dsn string) (*sql.DB, error) {
	c, err := newConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Close closes both pools, after which the WAL is checkpointed by SQLite when
// the last connection to the file closes.
func (db *DB) Close() error {
	if w, ok := writers.LoadAndDelete(db.Write); ok {
		w.(*writer).close()
	}
	var errs []error
	if db.checkpoints != nil {
		errs = append(errs, db.checkpoints.close())
	}
	return errors.Join(append(errs, db.Read.Close(), db.Write.Close())...)
}

// WithTx runs fn in a transaction on db, committing if fn returns nil and
// rolling back otherwise (also if fn panics). The error of fn is returned as
// is, so that callers can match domain errors.
//
// On the Write pool of a DB, calls run in the order they were made, and
// calls made while others run share a commit; each still commits or rolls
// back on its own (see writer). fn must not wait for anything that needs
// the Write pool: the pool has one connection, which fn is using.
func WithTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) (err error) {
	if w, ok := writers.Load(db); ok {
		return w.(*writer).withTx(ctx, fn)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// CheckpointTruncate copies the whole WAL into the database file and
// truncates the WAL to nothing, so that old versions of pages (content
// since deleted) are in no file. It runs on the write connection, after
// the transactions in progress. A checkpoint of the DB's checkpointer
// running at that moment, or a reader still on an older snapshot, holds it
// back: it tries again for a while, then fails, and can be run again.
func (db *DB) CheckpointTruncate(ctx context.Context) error {
	const attempts, pause = 50, 20 * time.Millisecond
	var busy, frames, copied int
	for range attempts {
		if err := db.Write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
			return fmt.Errorf("sqlite checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("sqlite checkpoint: held back by other connections %d times (%d of %d WAL frames copied); try again", attempts, copied, frames)
}
