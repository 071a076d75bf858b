package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// migrationName is the form of a migration file: a version of at least four
// digits, so that files sort in the order they apply, and a name.
var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9_]+)\.sql$`)

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

// Migrate applies, in version order, the migrations NNNN_name.sql at the root
// of fsys that the database has not recorded in schema_migrations yet, each in
// its own transaction together with its record, so that a crash leaves every
// migration either applied and recorded or neither.
//
// A recorded version whose file name differs from the one in fsys is an
// error: it means the migrations were renumbered, or two services were
// pointed at one database, and applying the rest would corrupt it.
func Migrate(ctx context.Context, db *DB, fsys fs.FS) error {
	ms, err := readMigrations(fsys)
	if err != nil {
		return err
	}
	for _, m := range ms {
		// The IMMEDIATE transaction of the write pool serialises processes
		// migrating the same file: the second one finds the record.
		err := WithTx(ctx, db.Write, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version INTEGER PRIMARY KEY,
				name TEXT NOT NULL,
				applied_at INTEGER NOT NULL
			) STRICT`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var name string
			err := tx.QueryRowContext(ctx, `SELECT name FROM schema_migrations WHERE version = ?`, m.version).Scan(&name)
			switch {
			case err == nil && name == m.file:
				return nil
			case err == nil:
				return fmt.Errorf("migration %d: database has %s applied, not %s", m.version, name, m.file)
			case err != sql.ErrNoRows:
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.file, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.file, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("record migration %s: %w", m.file, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
