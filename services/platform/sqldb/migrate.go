package sqldb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// migrationLockKey is the advisory lock key that serialises migrations of
// one PostgreSQL database across replicas. It is fixed for the whole suite
// so that it can never collide with a lock another part of Comity takes; it
// spells "comity:m" in ASCII.
const migrationLockKey int64 = 0x636f6d6974793a6d

// migrationName is the form of a migration file: a version of at least four
// digits, so that files sort in the order they apply, and a name.
var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9_]+)\.sql$`)

// createMigrations is the bookkeeping table of each engine, as it has been
// since the first release: existing databases open unchanged.
var createMigrations = map[Dialect]string{
	SQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`,
	Postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version bigint PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`,
}

type migration struct {
	version int64
	file    string
	sql     string
}

// readMigrations returns the migrations at the root of fsys in version order.
// A .sql file that does not follow the naming scheme is an error rather than
// skipped, so that a misnamed migration cannot silently never run.
func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", e.Name())
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("migrations %s and %s have the same version", prev, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, file: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate applies the migrations of db's engine: the files NNNN_name.sql in
// the folder of fsys named after the dialect ("sqlite" or "postgres"), in
// version order, those the database has not recorded in schema_migrations
// yet, each in its own transaction together with its record, so that a crash
// leaves every migration either applied and recorded or neither.
//
// Processes migrating one database at once apply each migration exactly
// once: on SQLite the write transactions are serialised (across processes by
// SQLite's lock), on PostgreSQL each transaction first takes an advisory
// lock; the others wait, then find it recorded.
//
// A recorded version whose file name differs from the one in fsys is an
// error: it means the migrations were renumbered, or two services were
// pointed at one database, and applying the rest would corrupt it.
func Migrate(ctx context.Context, db *DB, fsys fs.FS) error {
	sub, err := fs.Sub(fsys, db.d.String())
	if err != nil {
		return fmt.Errorf("read migrations/%s: %w", db.d, err)
	}
	ms, err := readMigrations(sub)
	if err != nil {
		return fmt.Errorf("migrations/%s: %w", db.d, err)
	}
	for _, m := range ms {
		if err := db.WithTx(ctx, func(tx *Tx) error { return apply(ctx, tx, m) }); err != nil {
			return err
		}
	}
	return nil
}

// apply applies m in tx unless the database has recorded it.
func apply(ctx context.Context, tx *Tx, m migration) error {
	if err := tx.AdvisoryLock(ctx, migrationLockKey); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can
	// fail on PostgreSQL's catalog's unique index.
	if _, err := tx.Exec(ctx, createMigrations[tx.db.d]); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var name string
	err := tx.QueryRow(ctx, `SELECT name FROM schema_migrations WHERE version = ?`, m.version).Scan(&name)
	switch {
	case err == nil && name == m.file:
		return nil
	case err == nil:
		return fmt.Errorf("migration %d: database has %s applied, not %s", m.version, name, m.file)
	case !errors.Is(err, ErrNoRows):
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	// No arguments and no rewriting: pgx sends it with the simple protocol,
	// which allows several statements in one file, and a "?" in it is SQL's.
	if err := tx.execScript(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.file, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.file, tx.db.d.Time(time.Now())); err != nil {
		return fmt.Errorf("record migration %s: %w", m.file, err)
	}
	return nil
}

// execScript runs statements as they are, without arguments.
func (tx *Tx) execScript(ctx context.Context, statements string) error {
	if tx.lite != nil {
		_, err := tx.lite.ExecContext(ctx, statements)
		return err
	}
	_, err := tx.pg.Exec(ctx, statements)
	return err
}
