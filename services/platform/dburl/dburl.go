// Package dburl reads the --database setting every service takes: a
// PostgreSQL URL (postgres://… or postgresql://…) or an SQLite file
// (sqlite:PATH).
package dburl

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// Engine is a storage engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Parse returns the engine and what to open: a file path for SQLite, the URL
// itself for PostgreSQL.
func Parse(s string) (Engine, string, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return Postgres, s, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("database %q: sqlite: needs a file path, e.g. sqlite:./var/directory.db", s)
		}
		return SQLite, path, nil
	}
	return "", "", fmt.Errorf("database %q: want postgres://… or sqlite:PATH", s)
}

// Stores opens a service's store on either engine, as --database names it.
type Stores[S any] struct {
	// What names the database in errors, e.g. "request database".
	What string
	// New builds the store on an open database of either engine (package
	// sqldb), applying its migrations.
	New func(context.Context, *sqldb.DB) (S, error)
}

// Open is OpenPing without the ping.
func (o Stores[S]) Open(ctx context.Context, database string) (S, func(), error) {
	store, closeDB, _, err := o.OpenPing(ctx, database)
	return store, closeDB, err
}

// OpenPing opens the store at database (OpenPing), its errors prefixed with
// What.
func (o Stores[S]) OpenPing(ctx context.Context, database string) (S, func(), func(context.Context) error, error) {
	store, closeDB, ping, err := OpenPing(ctx, database,
		func(ctx context.Context, db *sqlitedb.DB) (S, error) { return o.New(ctx, sqldb.FromSQLite(db)) },
		func(ctx context.Context, pool *pgxpool.Pool) (S, error) { return o.New(ctx, sqldb.FromPostgres(pool)) })
	if err != nil {
		return store, nil, nil, fmt.Errorf("%s: %w", o.What, err)
	}
	return store, closeDB, ping, nil
}

// OpenPing opens the database named by database and builds a store on it with
// newSQLite or newPostgres (which apply the store's migrations). It returns
// the store and a function that closes the database; on error nothing stays
// open. Every service opens its store this way.
//
// ping checks that the database answers, for the service's readiness.
func OpenPing[S any](ctx context.Context, database string,
	newSQLite func(context.Context, *sqlitedb.DB) (S, error),
	newPostgres func(context.Context, *pgxpool.Pool) (S, error)) (store S, closeDB func(), ping func(context.Context) error, err error) {
	var zero S
	engine, dsn, err := Parse(database)
	if err != nil {
		return zero, nil, nil, err
	}
	if engine == Postgres {
		pool, err := pgdb.Open(ctx, dsn)
		if err != nil {
			return zero, nil, nil, err
		}
		store, err := newPostgres(ctx, pool)
		if err != nil {
			pool.Close()
			return zero, nil, nil, err
		}
		return store, pool.Close, pool.Ping, nil
	}
	db, err := sqlitedb.Open(ctx, dsn)
	if err != nil {
		return zero, nil, nil, err
	}
	store, err = newSQLite(ctx, db)
	if err != nil {
		db.Close()
		return zero, nil, nil, err
	}
	ping = func(ctx context.Context) error {
		// Read the schema from the file, not only the connection.
		var n int
		return db.Read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
	}
	return store, func() { db.Close() }, ping, nil
}
