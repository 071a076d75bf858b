package pgdb_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

func open(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgdb.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

var base = fstest.MapFS{
	// Not idempotent on purpose: running it twice fails.
	"0001_first.sql":  {Data: []byte(`CREATE TABLE a (x int); INSERT INTO a VALUES (1);`)},
	"0002_second.sql": {Data: []byte(`CREATE TABLE b (y int);`)},
	"README.md":       {Data: []byte(`not a migration`)},
}

func with(extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for k, v := range base {
		fsys[k] = v
	}
	for k, v := range extra {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

// TestMigrateConcurrently starts replicas at once on an empty database.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pool, err := pgdb.Open(t.Context(), url)
			if err != nil {
				t.Errorf("Open #%d: %v", i, err)
				return
			}
			defer pool.Close()
			if err := pgdb.Migrate(t.Context(), pool, base); err != nil {
				t.Errorf("Migrate #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	pool, err := pgdb.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var versions, rows int
	if err := pool.QueryRow(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil || versions != 2 {
		t.Errorf("%d migrations recorded, %v; want 2", versions, err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT COUNT(*) FROM a`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("table a has %d rows, %v; want 1", rows, err)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		next      fstest.MapFS
		wantErr   string
		wantTable string
		noTable   string
		versions  int
	}{
		{name: "again is a no-op", next: base, versions: 2},
		{name: "new migration", next: with(map[string]string{"0003_third.sql": `CREATE TABLE c (z int);`}), wantTable: "c", versions: 3},
		{name: "failed migration rolls back",
			next:    with(map[string]string{"0003_bad.sql": `CREATE TABLE c (z int); INSERT INTO missing VALUES (1);`}),
			wantErr: "0003_bad.sql", noTable: "c", versions: 2},
		{name: "renumbered", next: fstest.MapFS{"0001_other.sql": {Data: []byte(`SELECT 1;`)}}, wantErr: "0001_first.sql", versions: 2},
		{name: "misnamed", next: with(map[string]string{"3_third.sql": `SELECT 1;`}), wantErr: "3_third.sql", versions: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			pool := open(t)
			if err := pgdb.Migrate(ctx, pool, base); err != nil {
				t.Fatalf("first Migrate: %v", err)
			}
			err := pgdb.Migrate(ctx, pool, tc.next)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Migrate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Migrate error %v; want one naming %s", err, tc.wantErr)
			}
			var versions int
			if err := pool.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
				t.Fatal(err)
			}
			if versions != tc.versions {
				t.Errorf("%d migrations recorded; want %d", versions, tc.versions)
			}
			exists := func(table string) bool {
				var ok bool
				if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if tc.wantTable != "" && !exists(tc.wantTable) {
				t.Errorf("table %s missing", tc.wantTable)
			}
			if tc.noTable != "" && exists(tc.noTable) {
				t.Errorf("table %s exists after a failed migration", tc.noTable)
			}
		})
	}
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
