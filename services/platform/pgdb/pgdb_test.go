package pgdb_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
)

// open opens an empty database of the test's own.
func open(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return sqldbtest.Postgres(t).Pool()
}

func TestWithTx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := open(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	errFn := errors.New("refused")
	if err := pgdb.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			return err
		}
		return errFn
	}); err != errFn {
		t.Errorf("WithTx returned %v; want fn's error as is", err)
	}
	if err := pgdb.WithTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES (2)`)
		return err
	}); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	var sum int
	if err := pool.QueryRow(ctx, `SELECT COALESCE(SUM(x), 0) FROM t`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 2 {
		t.Errorf("sum %d; want 2: the failed transaction must be rolled back and the other committed", sum)
	}
}
