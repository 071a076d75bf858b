// Package sqldbtest opens the databases that tests run on, on either engine,
// so that each test says which engine and not again how to open it.
package sqldbtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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

// SQLiteCopy opens a copy of the SQLite database file at path, so that a
// test may migrate and change a fixture without changing it.
func SQLiteCopy(t testing.TB, path string) *sqldb.DB {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	cp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return SQLiteAt(t, cp)
}

// PostgresFrom opens a database of t's own (see pgtest.NewDatabase) into
// which it has loaded the plain SQL dump at path, as pg_dump --inserts
// writes it.
func PostgresFrom(t testing.TB, path string) *sqldb.DB {
	t.Helper()
	dump, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	// pg_dump brackets its output in \restrict and \unrestrict, which are
	// commands of psql, not SQL: the server would refuse them.
	var script strings.Builder
	for line := range strings.Lines(string(dump)) {
		if !strings.HasPrefix(line, `\restrict `) && !strings.HasPrefix(line, `\unrestrict `) {
			script.WriteString(line)
		}
	}
	url := pgtest.NewDatabase(t)
	// A connection of its own: the dump empties the search_path of the
	// connection that loads it.
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	// Without arguments Exec sends the script as one simple query, every
	// statement in one implicit transaction.
	if _, err := conn.Exec(t.Context(), script.String()); err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	pool, err := pgdb.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(pool.Close)
	return sqldb.FromPostgres(pool)
}
