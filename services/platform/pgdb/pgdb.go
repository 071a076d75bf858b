// Package pgdb opens the PostgreSQL databases of Comity's scaled-out
// deployment and applies their schema migrations. Several replicas of a
// service share one database, so everything here is safe when they start at
// once.
package pgdb

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxConnsCap bounds the default pool size: every replica of every service
// opens its own pool, and PostgreSQL's default max_connections is 100.
const maxConnsCap = 16

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string) and pings it, so that a wrong address fails at start-up
// rather than on the first request. The pool holds one connection per CPU,
// at least 4 and at most 16, unless the URL sets pool_max_conns.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(min(max(4, runtime.NumCPU()), maxConnsCap))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// WithTx runs fn in a transaction, committing if fn returns nil and rolling
// back otherwise (also if fn panics). The error of fn is returned as is, so
// that callers can match domain errors.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback(ctx)
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		// With ctx cancelled pgx closes the connection instead, which
		// also ends the transaction.
		tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
