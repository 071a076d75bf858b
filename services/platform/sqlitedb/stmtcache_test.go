package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	return openWithTable(t, `CREATE TABLE t (x INTEGER PRIMARY KEY, s TEXT)`)
}

// openWithTable opens a new database in t's temporary directory and creates
// its one table, t, with create.
func openWithTable(t *testing.T, create string) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Write.ExecContext(t.Context(), create); err != nil {
		t.Fatal(err)
	}
	return db
}

// cachedTexts returns the statements the one connection of pool keeps.
func cachedTexts(t *testing.T, pool *sql.DB) []string {
	t.Helper()
	conn, err := pool.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var texts []string
	if err := conn.Raw(func(dc any) error {
		for q := range dc.(*cachingConn).stmts {
			texts = append(texts, q)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(texts)
	return texts
}

func TestStatementsArePreparedOnce(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	const insert = `INSERT INTO t (x, s) VALUES (?, ?)`
	for i := range 50 {
		if err := WithTx(ctx, db.Write, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, insert, i, fmt.Sprint("row ", i))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var last string
	for range 3 {
		if err := db.Write.QueryRowContext(ctx, `SELECT COUNT(*), MAX(s) FROM t WHERE x >= ?`, 0).Scan(&n, &last); err != nil {
			t.Fatal(err)
		}
	}
	if n != 50 || last != "row 9" {
		t.Errorf("count %d, max %q; want 50 and \"row 9\"", n, last)
	}
	got := cachedTexts(t, db.Write)
	want := []string{`CREATE TABLE t (x INTEGER PRIMARY KEY, s TEXT)`, insert, `SELECT COUNT(*), MAX(s) FROM t WHERE x >= ?`}
	if !slices.Equal(got, want) {
		t.Errorf("cached statements %q; want one per text %q", got, want)
	}
}

func TestOpenRowsOfAStatementAndItsTextAgain(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for i := range 5 {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT x FROM t WHERE x >= ? ORDER BY x`
	var pairs []string
	err := WithTx(ctx, db.Write, func(tx *sql.Tx) error {
		outer, err := tx.QueryContext(ctx, q, 3)
		if err != nil {
			return err
		}
		defer outer.Close()
		for outer.Next() {
			var x int
			if err := outer.Scan(&x); err != nil {
				return err
			}
			// The same text while the outer rows are open cannot reuse
			// their statement.
			inner, err := tx.QueryContext(ctx, q, x)
			if err != nil {
				return err
			}
			for inner.Next() {
				var y int
				if err := inner.Scan(&y); err != nil {
					return err
				}
				pairs = append(pairs, fmt.Sprint(x, y))
			}
			if err := inner.Close(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, 0); err != nil {
				return err
			}
		}
		return outer.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"3 3", "3 4", "4 4"}; !slices.Equal(pairs, want) {
		t.Errorf("nested queries gave %q; want %q", pairs, want)
	}
}

func TestCachedStatementAfterAnError(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	const insert = `INSERT INTO t (x) VALUES (?)`
	if _, err := db.Write.ExecContext(ctx, insert, 1); err != nil {
		t.Fatal(err)
	}
	_, err := db.Write.ExecContext(ctx, insert, 1)
	var serr *sqlite.Error
	if !errors.As(err, &serr) || serr.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		t.Fatalf("duplicate key: %v; want the driver's primary key error", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.Write.ExecContext(cancelled, insert, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled exec: %v", err)
	}
	if _, err := db.Write.ExecContext(ctx, insert, 3); err != nil {
		t.Fatalf("the statement after its errors: %v", err)
	}
	var n int
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows %d (%v); want 2", n, err)
	}
}

func TestCachedStatementSeesSchemaChanges(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	const q = `SELECT * FROM t`
	columns := func() []string {
		rows, err := db.Write.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return cols
	}
	if got := columns(); len(got) != 2 {
		t.Fatalf("columns %q", got)
	}
	if _, err := db.Write.ExecContext(ctx, `ALTER TABLE t ADD COLUMN y TEXT`); err != nil {
		t.Fatal(err)
	}
	if got := columns(); !slices.Equal(got, []string{"x", "s", "y"}) {
		t.Fatalf("columns after ALTER TABLE %q; want x, s, y", got)
	}
}

func TestStatementCacheIsBounded(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for i := range maxCachedStmts + 20 {
		var got int
		if err := db.Write.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&got); err != nil || got != i {
			t.Fatalf("SELECT %d = %d, %v", i, got, err)
		}
	}
	if n := len(cachedTexts(t, db.Write)); n > maxCachedStmts {
		t.Errorf("connection keeps %d statements; bound is %d", n, maxCachedStmts)
	}
}
