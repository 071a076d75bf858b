package sqlitedb_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

func open(t *testing.T, path string) *sqlitedb.DB {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "directory")
	db := open(t, filepath.Join(dir, "directory.db"))

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("database directory mode %o; want 700", perm)
	}

	pragmas := []struct {
		pool *sql.DB
		name string
		want string
	}{
		{db.Write, "journal_mode", "wal"},
		{db.Write, "foreign_keys", "1"},
		{db.Write, "synchronous", "1"}, // NORMAL
		{db.Write, "busy_timeout", "10000"},
		{db.Read, "journal_mode", "wal"},
		{db.Read, "foreign_keys", "1"},
		{db.Read, "query_only", "1"},
		{db.Read, "busy_timeout", "10000"},
	}
	for _, p := range pragmas {
		var got string
		if err := p.pool.QueryRowContext(t.Context(), "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.name, err)
		}
		if got != p.want {
			pool := "Write"
			if p.pool == db.Read {
				pool = "Read"
			}
			t.Errorf("%s: PRAGMA %s = %s; want %s", pool, p.name, got, p.want)
		}
	}
	if n := db.Write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("Write pool allows %d connections; want 1", n)
	}

	if _, err := db.Write.ExecContext(t.Context(), `CREATE TABLE t (at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Read.ExecContext(t.Context(), `INSERT INTO t VALUES (1)`); err == nil {
		t.Error("Read pool accepted a write")
	}

	// A time.Time binds as microseconds since the epoch, so stores can keep
	// times in INTEGER columns and filter them with time.Time arguments.
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	if _, err := db.Write.ExecContext(t.Context(), `INSERT INTO t VALUES (?)`, at); err != nil {
		t.Fatalf("insert time: %v", err)
	}
	var got int64
	if err := db.Read.QueryRowContext(t.Context(), `SELECT at FROM t WHERE at <= ?`, at).Scan(&got); err != nil {
		t.Fatalf("select time: %v", err)
	}
	if got != at.UnixMicro() {
		t.Errorf("stored %d; want %d", got, at.UnixMicro())
	}
}

func TestOpenRefusesNonFile(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:", filepath.Join(t.TempDir(), "a?mode=ro")} {
		if db, err := sqlitedb.Open(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded; want an error", path)
		}
	}
}

func TestWithTx(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"))
	ctx := t.Context()
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	errFn := errors.New("refused")
	if err := sqlitedb.WithTx(ctx, db.Write, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			return err
		}
		return errFn
	}); err != errFn {
		t.Errorf("WithTx returned %v; want fn's error as is", err)
	}
	if err := sqlitedb.WithTx(ctx, db.Write, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
		return err
	}); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	var sum int
	if err := db.Read.QueryRowContext(ctx, `SELECT COALESCE(SUM(x), 0) FROM t`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 2 {
		t.Errorf("sum %d; want 2: the failed transaction must be rolled back and the other committed", sum)
	}
}
