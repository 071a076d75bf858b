package sqlitedb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"

	"modernc.org/sqlite"
)

// maxCachedStmts bounds the prepared statements one connection keeps. The
// stores use a few dozen fixed statements; list queries built from filters
// vary, and the bound keeps them from growing the cache without end.
const maxCachedStmts = 128

// stmtCacheConnector opens connections that keep their prepared statements.
//
// The stores call ExecContext and QueryContext with SQL text, and the driver
// parses and plans that text again on every call: on the write connection,
// which every write queues for, parsing was a third of the time a request's
// transaction held it. A connection of this connector prepares each text
// once and reuses the statement, which SQLite resets between uses.
type stmtCacheConnector struct{ driver.Connector }

func newConnector(dsn string) (driver.Connector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return stmtCacheConnector{base}, nil
}

// Connect implements driver.Connector.
func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(innerConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite connection %T lacks an interface database/sql needs", conn)
	}
	return &cachingConn{innerConn: inner, stmts: make(map[string]*cachedStmt)}, nil
}

// innerConn is what the driver's connections implement and what cachingConn
// forwards, so that database/sql sees the same connection, with its
// cancellation and validation, as without the cache.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmt is what a prepared statement of the driver implements.
type stmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type cachedStmt struct {
	stmt stmt
	// busy is set while rows of the statement are open: until they are
	// closed, the statement cannot run again, and a call with its text
	// prepares a statement of its own.
	busy bool
}

// cachingConn is a driver connection that keeps a prepared statement per SQL
// text. database/sql never uses a connection from two goroutines at once
// (rows are closed under the same lock), so the cache needs no lock.
type cachingConn struct {
	innerConn
	stmts map[string]*cachedStmt
	// shield makes statements ignore the cancellation of their context,
	// while the connection runs a group of write transactions (see writer).
	shield bool
}

// Unwrap returns the driver's connection, for the driver's helpers that
// look through wrappers.
func (c *cachingConn) Unwrap() driver.Conn { return c.innerConn }

// cached returns the idle cached statement of query, preparing it when it is
// not cached; nil when it is busy or the cache is full of busy statements.
func (c *cachingConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		return cs, nil
	}
	if len(c.stmts) >= maxCachedStmts && !c.evictOne() {
		return nil, nil
	}
	ds, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s, ok := ds.(stmt)
	if !ok {
		ds.Close()
		return nil, nil
	}
	cs := &cachedStmt{stmt: s}
	c.stmts[query] = cs
	return cs, nil
}

// evictOne closes an idle statement to make room, and reports whether it
// could.
func (c *cachingConn) evictOne() bool {
	for q, cs := range c.stmts {
		if !cs.busy {
			delete(c.stmts, q)
			cs.stmt.Close()
			return true
		}
	}
	return false
}

// ExecContext implements driver.ExecerContext.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.shield {
		ctx = context.WithoutCancel(ctx)
	}
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.shield {
		ctx = context.WithoutCancel(ctx)
	}
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	r, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return newCachedRows(r, cs), nil
}

// Close implements driver.Conn.
func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.innerConn.Close())...)
}

// cachedRows are rows of a cached statement; closing them frees it.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

// Close implements driver.Rows.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}

// newCachedRows wraps r, keeping the column type information the driver's
// rows give, which database/sql finds by interface.
func newCachedRows(r driver.Rows, cs *cachedStmt) driver.Rows {
	base := &cachedRows{Rows: r, cs: cs}
	if ct, ok := r.(columnTyper); ok {
		return &typedRows{cachedRows: base, ct: ct}
	}
	return base
}

type columnTyper interface {
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

type typedRows struct {
	*cachedRows
	ct columnTyper
}

func (r *typedRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.ct.ColumnTypeDatabaseTypeName(i)
}
func (r *typedRows) ColumnTypeLength(i int) (int64, bool)  { return r.ct.ColumnTypeLength(i) }
func (r *typedRows) ColumnTypeNullable(i int) (bool, bool) { return r.ct.ColumnTypeNullable(i) }
func (r *typedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.ct.ColumnTypePrecisionScale(i)
}
func (r *typedRows) ColumnTypeScanType(i int) reflect.Type { return r.ct.ColumnTypeScanType(i) }

var (
	_ innerConn                             = (*cachingConn)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*typedRows)(nil)
)
