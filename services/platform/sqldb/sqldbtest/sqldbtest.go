// Package sqldbtest opens the databases that tests run on, on either engine,
// so that each test says which engine and not again how to open it.
package sqldbtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// SQLiteAt opens the SQLite database at path, creating it, until t ends.
func SQLiteAt(t testing.TB, path string) *sqldb.DB {
	t.Helper()
	lite, err := sqlitedb.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { lite.Close() })
	return sqldb.FromSQLite(lite)
}

// SQLite opens an empty SQLite database in t's temporary directory.
func SQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	return SQLiteAt(t, filepath.Join(t.TempDir(), "test.db"))
}

// Postgres opens an empty PostgreSQL database of t's own (see
// pgtest.NewDatabase), until t ends.
func Postgres(t testing.TB) *sqldb.DB {
	t.Helper()
	pool, err := pgdb.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(pool.Close)
	return sqldb.FromPostgres(pool)
}

// Engines opens an empty database of each engine, by the engine's name.
var Engines = []struct {
	Name string
	Open func(t testing.TB) *sqldb.DB
}{{"sqlite", SQLite}, {"postgres", Postgres}}

// New returns the store newStore opens on db (a store package's New),
// failing t when it fails.
func New[S any](t testing.TB, newStore func(context.Context, *sqldb.DB) (S, error), db *sqldb.DB) S {
	t.Helper()
	s, err := newStore(t.Context(), db)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}
