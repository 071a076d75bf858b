// Package sqldb is the one SQL layer of Comity's stores: a store is written
// once against it and runs on SQLite (the embedded deployment) and on
// PostgreSQL (the scaled-out one).
//
// It owns the engine-neutral handle (DB, Tx, Rows, Row), the Dialect — the
// few things the two engines spell differently: placeholders, "no limit",
// times, row and advisory locks, constraint errors, lists as one argument —
// the migrations of a store (Migrate) and the audit outbox every producer's
// database holds (Outbox). A store writes its SQL with "?" placeholders; on
// PostgreSQL the layer numbers them ($1, $2, …) once per query text.
//
// It may import the engines' packages (platform/sqlitedb, which keeps
// SQLite's group-commit writer, statement cache and read pool; pgx), package
// query, whose filter compiler it hands the right query.Dialect, errs and
// trail. It must not import any service package.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// ErrNoRows is what Row.Scan returns when the query found nothing, on both
// engines.
var ErrNoRows = sql.ErrNoRows

// DB is a store's database on either engine. Its methods Query and QueryRow
// read outside any transaction (SQLite: on the read pool); Exec writes on
// its own; WithTx and ReadTx run a transaction. A DB is safe for concurrent
// use and owns nothing: the caller closes the sqlitedb.DB or pool it was
// made from, after the last use.
type DB struct {
	d    Dialect
	lite *sqlitedb.DB
	pool *pgxpool.Pool
	// numbered caches the PostgreSQL text of each query text, up to
	// maxNumbered texts: filters from requests make texts of many shapes,
	// which must not grow it without bound.
	numbered  sync.Map // string → string
	nNumbered atomic.Int64
}

// maxNumbered bounds DB.numbered. The texts written in code are far fewer;
// past the bound a text is numbered on each use, which costs a scan of it.
const maxNumbered = 4096

// FromSQLite returns the DB of an open SQLite database.
func FromSQLite(db *sqlitedb.DB) *DB { return &DB{d: SQLite, lite: db} }

// FromPostgres returns the DB of a PostgreSQL pool.
func FromPostgres(pool *pgxpool.Pool) *DB { return &DB{d: Postgres, pool: pool} }

// Dialect returns the dialect of db's engine.
func (db *DB) Dialect() Dialect { return db.d }

// Pool returns the PostgreSQL pool, or nil on SQLite. It is for the fast
// paths only one engine has (COPY, batches); SQL for it goes through SQL.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQL returns q as db's engine takes it: q itself on SQLite; on PostgreSQL
// with its "?" placeholders numbered, computed once per text.
func (db *DB) SQL(q string) string {
	if db.d == SQLite {
		return q
	}
	if s, ok := db.numbered.Load(q); ok {
		return s.(string)
	}
	s := number(q)
	if db.nNumbered.Load() < maxNumbered {
		if _, loaded := db.numbered.LoadOrStore(q, s); !loaded {
			db.nNumbered.Add(1)
		}
	}
	return s
}

// number rewrites the "?" placeholders of q as $1, $2, … in order. A "?"
// inside a plain string literal, a quoted identifier or a comment is left
// alone; jsonb's "?" operators cannot be written (use jsonb_exists), nor can
// a "?" stand inside an escape string (E'…') or a dollar-quoted one ($$…$$):
// the stores write neither.
func number(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+2])
			i += end + 1
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+4])
			i += end + 3
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Query runs a query outside any transaction.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*Rows, error) {
	if db.d == SQLite {
		rows, err := db.lite.Read.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return &Rows{lite: rows}, nil
	}
	rows, err := db.pool.Query(ctx, db.SQL(q), args...)
	if err != nil {
		return nil, err
	}
	return &Rows{pg: rows}, nil
}

// QueryRow runs a query of at most one row outside any transaction.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *Row {
	if db.d == SQLite {
		return &Row{lite: db.lite.Read.QueryRowContext(ctx, q, args...)}
	}
	return &Row{pg: db.pool.QueryRow(ctx, db.SQL(q), args...)}
}

// Exec runs one writing statement in a transaction of its own and returns
// the number of rows it changed.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if db.d == SQLite {
		var n int64
		err := db.WithTx(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.Exec(ctx, q, args...)
			return err
		})
		return n, err
	}
	tag, err := db.pool.Exec(ctx, db.SQL(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// WithTx runs fn in a write transaction, committing if fn returns nil and
// rolling back otherwise (also if fn panics). The error of fn is returned
// as is, so that callers can match domain errors.
//
// On SQLite the transaction is one call of sqlitedb's group-commit writer:
// writes are serialised, so fn needs no row lock, and fn must not wait for
// another write of the same database. On PostgreSQL it is a READ COMMITTED
// transaction: fn takes the row and advisory locks it needs (Dialect.ForUpdate,
// Tx.AdvisoryLock).
func (db *DB) WithTx(ctx context.Context, fn func(*Tx) error) error {
	if db.d == SQLite {
		return sqlitedb.WithTx(ctx, db.lite.Write, func(tx *sql.Tx) error {
			return fn(&Tx{db: db, lite: tx})
		})
	}
	return pgdb.WithTx(ctx, db.pool, func(tx pgx.Tx) error {
		return fn(&Tx{db: db, pg: tx})
	})
}

// CheckpointTruncate makes the SQLite database's WAL empty, its content
// copied into the database file (sqlitedb.DB.CheckpointTruncate): after an
// erasure, no old version of a page is left in the WAL. PostgreSQL has no
// such step (its dead tuples are VACUUM's): nil.
func (db *DB) CheckpointTruncate(ctx context.Context) error {
	if db.d == SQLite {
		return db.lite.CheckpointTruncate(ctx)
	}
	return nil
}

// ReadTx runs fn in a read-only transaction whose queries all see one
// snapshot (SQLite: a transaction on the read pool; PostgreSQL: REPEATABLE
// READ), for reads that must agree with each other, such as a count and a
// page.
func (db *DB) ReadTx(ctx context.Context, fn func(*Tx) error) error {
	if db.d == SQLite {
		return sqlitedb.WithTx(ctx, db.lite.Read, func(tx *sql.Tx) error {
			return fn(&Tx{db: db, lite: tx})
		})
	}
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(&Tx{db: db, pg: tx}) })
}

// Tx is a transaction of WithTx or ReadTx, valid only inside its function.
type Tx struct {
	db   *DB
	lite *sql.Tx
	pg   pgx.Tx
}

// Dialect returns the dialect of the transaction's engine.
func (tx *Tx) Dialect() Dialect { return tx.db.d }

// Postgres returns the PostgreSQL transaction, or nil on SQLite, for the
// fast paths only that engine has; SQL for it goes through DB.SQL.
func (tx *Tx) Postgres() pgx.Tx { return tx.pg }

// Exec runs a statement and returns the number of rows it changed.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if tx.lite != nil {
		res, err := tx.lite.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	tag, err := tx.pg.Exec(ctx, tx.db.SQL(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Query runs a query in the transaction.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*Rows, error) {
	if tx.lite != nil {
		rows, err := tx.lite.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return &Rows{lite: rows}, nil
	}
	rows, err := tx.pg.Query(ctx, tx.db.SQL(q), args...)
	if err != nil {
		return nil, err
	}
	return &Rows{pg: rows}, nil
}

// QueryRow runs a query of at most one row in the transaction.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *Row {
	if tx.lite != nil {
		return &Row{lite: tx.lite.QueryRowContext(ctx, q, args...)}
	}
	return &Row{pg: tx.pg.QueryRow(ctx, tx.db.SQL(q), args...)}
}

// AdvisoryLock takes the transaction-level advisory lock key, held until
// the transaction ends, so that transactions of every replica that take it
// run their locked part one at a time. On SQLite, whose writes are
// serialised anyway, it does nothing.
func (tx *Tx) AdvisoryLock(ctx context.Context, key int64) error {
	if tx.pg == nil {
		return nil
	}
	if _, err := tx.pg.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("advisory lock %#x: %w", key, err)
	}
	return nil
}

// AdvisoryLockName is AdvisoryLock with the key PostgreSQL derives from
// name (hashtextextended(name, 0)), for locks named in text.
func (tx *Tx) AdvisoryLockName(ctx context.Context, name string) error {
	if tx.pg == nil {
		return nil
	}
	if _, err := tx.pg.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, name); err != nil {
		return fmt.Errorf("advisory lock %q: %w", name, err)
	}
	return nil
}

// Querier is what DB (outside a transaction) and Tx have in common, for
// reads written once for both.
type Querier interface {
	Query(ctx context.Context, q string, args ...any) (*Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *Row
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = (*Tx)(nil)
)

// Scanner is a row to scan: a *Row or the current row of *Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is the result of Query. Close it, or read it to the end with Next.
type Rows struct {
	lite *sql.Rows
	pg   pgx.Rows
}

// Next advances to the next row and reports whether there is one.
func (r *Rows) Next() bool {
	if r.lite != nil {
		return r.lite.Next()
	}
	return r.pg.Next()
}

// Scan copies the current row's columns into dest.
func (r *Rows) Scan(dest ...any) error {
	if r.lite != nil {
		return r.lite.Scan(dest...)
	}
	return r.pg.Scan(dest...)
}

// Err returns the error that ended Next early, if any.
func (r *Rows) Err() error {
	if r.lite != nil {
		return r.lite.Err()
	}
	return r.pg.Err()
}

// Close releases the rows; it may be called more than once.
func (r *Rows) Close() {
	if r.lite != nil {
		r.lite.Close()
		return
	}
	r.pg.Close()
}

// Row is the result of QueryRow.
type Row struct {
	lite *sql.Row
	pg   pgx.Row
}

// Scan copies the row's columns into dest; with no row it returns an error
// that errors.Is ErrNoRows on both engines.
func (r *Row) Scan(dest ...any) error {
	if r.lite != nil {
		return r.lite.Scan(dest...)
	}
	return r.pg.Scan(dest...)
}

// Collect scans every row of rows with scan and closes rows; an empty
// result is nil. It takes the error of the Query call too, so that a caller
// checks one error: rows, err := db.Query(…); out, err := Collect(rows, err, scan).
func Collect[T any](rows *Rows, err error, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// NullTime is the argument for a nullable time column: NULL for the zero
// time, else t as Dialect.Time stores it.
func (d Dialect) NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.Time(t)
}

// ScanTime returns the destination that scans a time column into t on
// either engine: SQLite's microseconds since the Unix epoch or PostgreSQL's
// timestamptz, in UTC; NULL scans as the zero time.
func ScanTime(t *time.Time) sql.Scanner { return timeScanner{t} }

type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	case time.Time:
		*s.t = v.UTC()
	default:
		return fmt.Errorf("sqldb: scan time: unsupported type %T", src)
	}
	return nil
}
