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

// Open is OpenPing without the ping.
func Open[S any](ctx context.Context, database string,
	newSQLite func(context.Context, *sqlitedb.DB) (S, error),
	newPostgres func(context.Context, *pgxpool.Pool) (S, error)) (S, func(), error) {
	store, closeDB, _, err := OpenPing(ctx, database, newSQLite, newPostgres)
	return store, closeDB, err
}

// OpenStore is OpenPing for a store written once over package sqldb:
// newStore gets the database of either engine.
func OpenStore[S any](ctx context.Context, database string,
	newStore func(context.Context, *sqldb.DB) (S, error)) (store S, closeDB func(), ping func(context.Context) error, err error) {
	return OpenPing(ctx, database,
		func(ctx context.Context, db *sqlitedb.DB) (S, error) { return newStore(ctx, sqldb.FromSQLite(db)) },
		func(ctx context.Context, pool *pgxpool.Pool) (S, error) {
			return newStore(ctx, sqldb.FromPostgres(pool))
		})
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
