package sqldb_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/query"
)

// engines runs f on a fresh SQLite file and a fresh PostgreSQL database.
func engines(t *testing.T, f func(t *testing.T, db *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, sqldbtest.SQLite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, sqldbtest.Postgres(t))
	})
}

// schema is a table with each kind of column the stores use, in each
// engine's types.
var schema = fstest.MapFS{
	"sqlite/README.md":   {Data: []byte(`not a migration`)},
	"postgres/README.md": {Data: []byte(`not a migration`)},
	"sqlite/0001_things.sql": {Data: []byte(`
		CREATE TABLE parents (id TEXT PRIMARY KEY) STRICT;
		CREATE TABLE things (
			id TEXT PRIMARY KEY,
			parent TEXT REFERENCES parents (id),
			n INTEGER NOT NULL,
			flag INTEGER NOT NULL,
			at INTEGER,
			note TEXT NOT NULL DEFAULT 'what? no'
		) STRICT;`)},
	"postgres/0001_things.sql": {Data: []byte(`
		CREATE TABLE parents (id text PRIMARY KEY);
		CREATE TABLE things (
			id text PRIMARY KEY,
			parent text REFERENCES parents (id),
			n bigint NOT NULL,
			flag boolean NOT NULL,
			at timestamptz,
			note text NOT NULL DEFAULT 'what? no'
		);`)},
}

func migrated(t *testing.T, db *sqldb.DB) {
	if err := sqldb.Migrate(t.Context(), db, schema); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

type thing struct {
	id   string
	n    int64
	flag bool
	at   time.Time
	note string
}

func scanThing(row sqldb.Scanner) (thing, error) {
	var th thing
	err := row.Scan(&th.id, &th.n, &th.flag, sqldb.ScanTime(&th.at), &th.note)
	return th, err
}

func TestStatements(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		migrated(t, db)
		d := db.Dialect()
		at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600))
		err := db.WithTx(ctx, func(tx *sqldb.Tx) error {
			for i, id := range []string{"a", "b", "c"} {
				if _, err := tx.Exec(ctx, `INSERT INTO things (id, n, flag, at) VALUES (?, ?, ?, ?)`,
					id, int64(i), i%2 == 1, d.NullTime(at.Add(time.Duration(i)*time.Hour))); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO things (id, n, flag, at) VALUES (?, ?, ?, ?)`, "z", 9, false, d.NullTime(time.Time{}))
			return err
		})
		if err != nil {
			t.Fatalf("insert: %v", err)
		}

		got, err := collect(scanThing)(db.Query(ctx, `SELECT id, n, flag, at, note FROM things ORDER BY id LIMIT ? OFFSET ?`, d.Limit(0), 1))
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		want := []thing{
			{"b", 1, true, at.Add(time.Hour).UTC().Truncate(time.Microsecond), "what? no"},
			{"c", 2, false, at.Add(2 * time.Hour).UTC().Truncate(time.Microsecond), "what? no"},
			{"z", 9, false, time.Time{}, "what? no"},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].id != want[i].id || got[i].n != want[i].n || got[i].flag != want[i].flag ||
				!got[i].at.Equal(want[i].at) || got[i].at.Location() != time.UTC || got[i].note != want[i].note {
				t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		two, err := collect(scanThing)(db.Query(ctx, `SELECT id, n, flag, at, note FROM things ORDER BY id LIMIT ?`, d.Limit(2)))
		if err != nil || len(two) != 2 {
			t.Errorf("LIMIT 2: %d rows, %v", len(two), err)
		}

		// A time argument compares with the stored times on both engines.
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM things WHERE at >= ?`, d.Time(at.Add(time.Hour))).Scan(&n); err != nil || n != 2 {
			t.Errorf("count at >= : %d, %v; want 2", n, err)
		}
		ids, err := collect(scanString)(db.Query(ctx, `SELECT id FROM things WHERE `+d.In("id")+` ORDER BY id`,
			sqldb.List(d, []string{"c", "a", "nope", `q"uote`})))
		if err != nil || strings.Join(ids, ",") != "a,c" {
			t.Errorf("In: %v, %v; want a,c", ids, err)
		}
		ns, err := collect(scanString)(db.Query(ctx, `SELECT id FROM things WHERE `+d.In("n")+` ORDER BY id`, sqldb.List(d, []int64{9, 1})))
		if err != nil || strings.Join(ns, ",") != "b,z" {
			t.Errorf("In of integers: %v, %v; want b,z", ns, err)
		}

		if err := db.QueryRow(ctx, `SELECT id FROM things WHERE id = ?`, "nope").Scan(new(string)); !errors.Is(err, sqldb.ErrNoRows) {
			t.Errorf("QueryRow of nothing: %v; want ErrNoRows", err)
		}
		changed, err := db.Exec(ctx, `UPDATE things SET n = n + 1 WHERE n < ?`, 2)
		if err != nil || changed != 2 {
			t.Errorf("Exec = %d, %v; want 2 rows", changed, err)
		}
	})
}

// collect is sqldb.Collect in the form f(query(…)) reads.
func collect[T any](scan func(sqldb.Scanner) (T, error)) func(*sqldb.Rows, error) ([]T, error) {
	return func(rows *sqldb.Rows, err error) ([]T, error) { return sqldb.Collect(rows, err, scan) }
}

func scanString(row sqldb.Scanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

func TestFilter(t *testing.T) {
	s, err := query.Schema{
		{Name: "count", Kind: query.Int},
		{Name: "flag", Kind: query.Bool},
		{Name: "at", Kind: query.Timestamp},
	}.WithColumns(map[string]string{"count": "n", "flag": "flag", "at": "at"})
	if err != nil {
		t.Fatal(err)
	}
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		migrated(t, db)
		d := db.Dialect()
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, id := range []string{"a", "b", "c"} {
			if _, err := db.Exec(ctx, `INSERT INTO things (id, n, flag, at) VALUES (?, ?, ?, ?)`,
				id, i, i != 1, d.Time(at.Add(time.Duration(i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		filter := query.And{
			Left:  query.Compare{Field: "flag", Op: query.Eq, Value: true},
			Right: query.Compare{Field: "at", Op: query.Ge, Value: at},
		}
		where, args, order, err := d.Clauses(s, filter, []query.Order{{Field: "count", Desc: true}}, "id")
		if err != nil {
			t.Fatal(err)
		}
		ids, err := collect(scanString)(db.Query(ctx, `SELECT id FROM things WHERE n >= ? AND `+where+` `+order+` LIMIT ?`,
			append(append([]any{0}, args...), d.Limit(0))...))
		if err != nil || strings.Join(ids, ",") != "c,a" {
			t.Errorf("filtered: %v, %v; want c,a", ids, err)
		}
		all, _, err := d.Where(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM things WHERE `+all).Scan(&n); err != nil || n != 3 {
			t.Errorf("no filter: %d, %v; want 3", n, err)
		}
	})
}

func TestTransactions(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		migrated(t, db)
		d := db.Dialect()
		if _, err := db.Exec(ctx, `INSERT INTO parents (id) VALUES (?)`, "p"); err != nil {
			t.Fatal(err)
		}
		// An error of fn rolls everything back and comes back as it is.
		mine := errors.New("mine")
		err := db.WithTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO things (id, n, flag) VALUES (?, 1, ?)`, "r", true); err != nil {
				return err
			}
			return mine
		})
		if err != mine {
			t.Errorf("WithTx = %v; want fn's error as is", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil || n != 0 {
			t.Errorf("after rollback: %d rows, %v", n, err)
		}

		err = db.WithTx(ctx, func(tx *sqldb.Tx) error {
			if err := tx.AdvisoryLock(ctx, 42); err != nil {
				return err
			}
			if err := tx.AdvisoryLockName(ctx, "comity.sqldb.test"); err != nil {
				return err
			}
			var id string
			if err := tx.QueryRow(ctx, `SELECT id FROM parents WHERE id = ?`+d.ForUpdate(), "p").Scan(&id); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT id FROM parents WHERE id = ?`+d.ForNoKeyUpdate(), "p").Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO things (id, parent, n, flag) VALUES (?, ?, 1, ?)`, "t", id, true)
			return err
		})
		if err != nil {
			t.Fatalf("locked write: %v", err)
		}

		_, err = db.Exec(ctx, `INSERT INTO things (id, n, flag) VALUES (?, 1, ?)`, "t", true)
		c, ok := sqldb.UniqueViolation(err)
		want := map[sqldb.Dialect]string{sqldb.SQLite: "things.id", sqldb.Postgres: "things_pkey"}[d]
		if !ok || c != want {
			t.Errorf("UniqueViolation(%v) = %q, %v; want %q", err, c, ok, want)
		}
		if sqldb.ForeignKeyViolation(err) {
			t.Errorf("ForeignKeyViolation(%v) = true", err)
		}
		_, err = db.Exec(ctx, `INSERT INTO things (id, parent, n, flag) VALUES (?, ?, 1, ?)`, "u", "nobody", true)
		if !sqldb.ForeignKeyViolation(err) {
			t.Errorf("ForeignKeyViolation(%v) = false", err)
		}
		if _, ok := sqldb.UniqueViolation(err); ok {
			t.Errorf("UniqueViolation(%v) = true", err)
		}
		if _, ok := sqldb.UniqueViolation(errors.New("other")); ok {
			t.Error("UniqueViolation of another error = true")
		}

		err = db.ReadTx(ctx, func(tx *sqldb.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil {
				return err
			}
			_, err := collect(scanString)(tx.Query(ctx, `SELECT id FROM things`))
			return err
		})
		if err != nil || n != 1 {
			t.Errorf("ReadTx: %d rows, %v", n, err)
		}
		if err := db.ReadTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM things`)
			return err
		}); err == nil {
			t.Error("a write in ReadTx succeeded")
		}
	})
}

func TestMigrate(t *testing.T) {
	engines(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		d := db.Dialect()
		migrated(t, db)
		migrated(t, db) // again: nothing to do
		more := fstest.MapFS{}
		for k, v := range schema {
			more[k] = v
		}
		more["sqlite/0002_more.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE more (x INTEGER) STRICT;`)}
		more["postgres/0002_more.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE more (x bigint);`)}
		if err := sqldb.Migrate(ctx, db, more); err != nil {
			t.Fatalf("Migrate 0002: %v", err)
		}
		names, err := collect(scanString)(db.Query(ctx, `SELECT name FROM schema_migrations ORDER BY version`))
		if err != nil || strings.Join(names, ",") != "0001_things.sql,0002_more.sql" {
			t.Errorf("recorded: %v, %v", names, err)
		}
		var applied time.Time
		if err := db.QueryRow(ctx, `SELECT applied_at FROM schema_migrations WHERE version = 2`).Scan(sqldb.ScanTime(&applied)); err != nil ||
			time.Since(applied) > time.Minute || time.Since(applied) < 0 {
			t.Errorf("applied_at = %v, %v; want about now", applied, err)
		}

		renamed := fstest.MapFS{
			"sqlite/0001_other.sql":   {Data: []byte(`SELECT 1;`)},
			"postgres/0001_other.sql": {Data: []byte(`SELECT 1;`)},
		}
		if err := sqldb.Migrate(ctx, db, renamed); err == nil || !strings.Contains(err.Error(), "database has 0001_things.sql applied, not 0001_other.sql") {
			t.Errorf("renumbered migration: %v", err)
		}
		bad := fstest.MapFS{"sqlite/1_x.sql": {}, "postgres/1_x.sql": {}}
		if err := sqldb.Migrate(ctx, db, bad); err == nil || !strings.Contains(err.Error(), "name is not NNNN_name.sql") {
			t.Errorf("misnamed migration: %v", err)
		}
		broken := fstest.MapFS{"sqlite/0003_broken.sql": {Data: []byte(`CREATE TABLE ok (x INTEGER); NOT SQL`)},
			"postgres/0003_broken.sql": {Data: []byte(`CREATE TABLE ok (x bigint); NOT SQL`)}}
		for k, v := range more {
			broken[k] = v
		}
		if err := sqldb.Migrate(ctx, db, broken); err == nil || !strings.Contains(err.Error(), "apply migration 0003_broken.sql") {
			t.Errorf("broken migration: %v", err)
		}
		if err := db.QueryRow(ctx, `SELECT count(*) FROM ok`).Scan(new(int)); err == nil {
			t.Error("a failed migration left its first statement applied")
		}
		// A store without its engine's folder is a mistake, not a store
		// without tables.
		if err := sqldb.Migrate(ctx, db, fstest.MapFS{"other/0001_x.sql": {}}); err == nil || !strings.Contains(err.Error(), "migrations/"+d.String()) {
			t.Errorf("no migrations for the engine: %v", err)
		}
	})
}

// TestMigrateConcurrently starts processes (SQLite: several DBs on one
// file) or replicas (PostgreSQL: several pools) at once on an empty
// database: each migration is applied and recorded exactly once.
func TestMigrateConcurrently(t *testing.T) {
	url := ""
	path := filepath.Join(t.TempDir(), "shared.db")
	opens := map[string]func(t *testing.T) (*sqldb.DB, func(), error){
		"sqlite": func(t *testing.T) (*sqldb.DB, func(), error) {
			lite, err := sqlitedb.Open(t.Context(), path)
			if err != nil {
				return nil, nil, err
			}
			return sqldb.FromSQLite(lite), func() { lite.Close() }, nil
		},
		"postgres": func(t *testing.T) (*sqldb.DB, func(), error) {
			if url == "" {
				url = pgtest.NewDatabase(t)
			}
			pool, err := pgdb.Open(t.Context(), url)
			if err != nil {
				return nil, nil, err
			}
			return sqldb.FromPostgres(pool), pool.Close, nil
		},
	}
	for engine, open := range opens {
		t.Run(engine, func(t *testing.T) {
			first, closeFirst, err := open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer closeFirst()
			const n = 6
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					db, closeDB, err := open(t)
					if err != nil {
						t.Errorf("open #%d: %v", i, err)
						return
					}
					defer closeDB()
					if err := sqldb.Migrate(t.Context(), db, schema); err != nil {
						t.Errorf("Migrate #%d: %v", i, err)
					}
				})
			}
			wg.Wait()
			names, err := collect(scanString)(first.Query(t.Context(), `SELECT name FROM schema_migrations ORDER BY version`))
			if err != nil || strings.Join(names, ",") != "0001_things.sql" {
				t.Errorf("recorded: %v, %v; want 0001_things.sql once", names, err)
			}
		})
	}
}

// oldBookkeeping is what the engine packages' own Migrate (every database
// before this package) left beside the tables of 0001_things.sql: its
// schema_migrations table, in each engine's types, and the row it recorded.
// SQLite's applied_at was microseconds since the epoch; PostgreSQL's took
// its default.
var oldBookkeeping = map[string]string{
	"sqlite": `
		CREATE TABLE schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT;
		INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, '0001_things.sql', 1767225600000000);`,
	"postgres": `
		CREATE TABLE schema_migrations (
			version bigint PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		);
		INSERT INTO schema_migrations (version, name) VALUES (1, '0001_things.sql');`,
}

// A database that the engine packages' own Migrate set up opens with the
// same recorded versions and applies nothing again (applying 0001_things.sql
// again would fail: its tables exist).
func TestMigrateExisting(t *testing.T) {
	// oldDB opens a fresh database and runs script on it as the old
	// Migrate ran a migration: the whole text at once, without arguments.
	oldDB := map[string]func(t *testing.T, script string) (*sqldb.DB, error){
		"sqlite": func(t *testing.T, script string) (*sqldb.DB, error) {
			path := filepath.Join(t.TempDir(), "old.db")
			old, err := sqlitedb.Open(t.Context(), path)
			if err != nil {
				return nil, err
			}
			_, err = old.Write.ExecContext(t.Context(), script)
			old.Close()
			return sqldbtest.SQLiteAt(t, path), err
		},
		"postgres": func(t *testing.T, script string) (*sqldb.DB, error) {
			db := sqldbtest.Postgres(t)
			_, err := db.Pool().Exec(t.Context(), script)
			return db, err
		},
	}
	for engine, open := range oldDB {
		t.Run(engine, func(t *testing.T) {
			db, err := open(t, string(schema[engine+"/0001_things.sql"].Data)+"\n"+oldBookkeeping[engine])
			if err != nil {
				t.Fatalf("the old database: %v", err)
			}
			migrated(t, db)
			names, err := collect(scanString)(db.Query(t.Context(), `SELECT name FROM schema_migrations ORDER BY version`))
			if err != nil || strings.Join(names, ",") != "0001_things.sql" {
				t.Errorf("recorded: %v, %v; want 0001_things.sql once", names, err)
			}
		})
	}
}

func TestSQL(t *testing.T) {
	db := sqldb.FromPostgres(nil)
	for q, want := range map[string]string{
		`SELECT a FROM t WHERE a = ? AND b = ?`:              `SELECT a FROM t WHERE a = $1 AND b = $2`,
		`SELECT '?', "a?" FROM t WHERE x = ? -- why?` + "\n": `SELECT '?', "a?" FROM t WHERE x = $1 -- why?` + "\n",
		`SELECT 'it''s?' /* ? */ , ?`:                        `SELECT 'it''s?' /* ? */ , $1`,
		`SELECT ?::text[]`:                                   `SELECT $1::text[]`,
		`SELECT 'open ?`:                                     `SELECT 'open ?`,
	} {
		if got := db.SQL(q); got != want {
			t.Errorf("SQL(%q) = %q, want %q", q, got, want)
		}
		if got := db.SQL(q); got != want {
			t.Errorf("SQL(%q) the second time = %q, want %q", q, got, want)
		}
	}
	// Past the cache's bound texts are still numbered.
	for i := range 5000 {
		if got, want := db.SQL(fmt.Sprintf(`SELECT ? + %d`, i)), fmt.Sprintf(`SELECT $1 + %d`, i); got != want {
			t.Fatalf("SQL of text %d = %q, want %q", i, got, want)
		}
	}
	if got := sqldbtest.SQLite(t).SQL(`SELECT ?`); got != `SELECT ?` {
		t.Errorf("SQLite SQL = %q; want it unchanged", got)
	}
}
