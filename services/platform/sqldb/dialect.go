package sqldb

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/comity-mla/comity/services/query"
)

// Dialect is what a store's SQL differs in between the engines. Stores get
// it from DB.Dialect or Tx.Dialect; the zero Dialect is invalid.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String returns the dialect's name, which is also the folder of its
// migrations (see Migrate).
func (d Dialect) String() string { return d.Query().String() }

// Query returns the dialect of package query's filter compiler.
func (d Dialect) Query() query.Dialect {
	if d == Postgres {
		return query.Postgres
	}
	return query.SQLite
}

// Where compiles a filter on s into a condition with "?" placeholders, the
// layer's form, and its arguments; a nil e is a condition that always holds.
// Where (and OrderBy) is query.Dialect's; only the placeholders are the
// layer's, which numbers them on PostgreSQL with the rest of the query.
func (d Dialect) Where(s query.Schema, e query.Expr) (string, []any, error) {
	return query.SQLite.Where(s, e, 0)
}

// Clauses compiles what a list asks of s: its filter, as Where does, and its
// ordering, ending with tiebreak (see query.Dialect.OrderBy).
func (d Dialect) Clauses(s query.Schema, e query.Expr, orders []query.Order, tiebreak string) (where string, args []any, order string, err error) {
	if where, args, err = d.Where(s, e); err != nil {
		return "", nil, "", err
	}
	if order, err = d.Query().OrderBy(s, orders, tiebreak); err != nil {
		return "", nil, "", err
	}
	return where, args, order, nil
}

// Limit is the argument of "LIMIT ?" for at most n rows, n of 0 or less
// meaning all of them: n itself, or SQLite's -1 or PostgreSQL's NULL.
func (d Dialect) Limit(n int) any {
	switch {
	case n > 0:
		return int64(n)
	case d == Postgres:
		return nil
	}
	return int64(-1)
}

// Time is the argument for a time column: on SQLite an INTEGER of
// microseconds since the Unix epoch, the type of every time column there; on
// PostgreSQL the time for a timestamptz. Either way it is truncated to
// microseconds, the precision of both, so that what a write returns equals
// what a later read returns (PostgreSQL would round). Read it back with
// ScanTime.
func (d Dialect) Time(t time.Time) any {
	if d == SQLite {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// ForUpdate is the clause that locks the rows a SELECT reads until the
// transaction ends: " FOR UPDATE" on PostgreSQL, nothing on SQLite, whose
// write transactions run one at a time.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// ForNoKeyUpdate is ForUpdate's weaker lock, which leaves the foreign-key
// checks of concurrent inserts that reference the row free.
func (d Dialect) ForNoKeyUpdate() string {
	if d == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// In is the condition that column is one of a list bound as one argument
// (see List): no limit on the number of values, and one query text whatever
// their number.
func (d Dialect) In(column string) string {
	if d == Postgres {
		return column + " = ANY(?)"
	}
	return column + " IN (SELECT value FROM json_each(?))"
}

// List is the argument of In for values: on SQLite their JSON array, on
// PostgreSQL the slice itself.
func List[T ~string | ~int64](d Dialect, values []T) any {
	if d == Postgres {
		return values
	}
	b, _ := json.Marshal(values) // strings and integers always marshal
	return string(b)
}

// UniqueViolation reports whether err is a violated UNIQUE or PRIMARY KEY
// constraint, and which: on PostgreSQL the constraint's name (such as
// "agencies_pkey"), on SQLite, which names no constraint, its columns as
// SQLite gives them (such as "agencies.id").
func UniqueViolation(err error) (constraint string, ok bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName, pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		msg := se.Error()
		if i := strings.LastIndex(msg, "failed: "); i >= 0 {
			msg = msg[i+len("failed: "):]
		}
		if i := strings.Index(msg, " ("); i >= 0 {
			msg = msg[:i]
		}
		return msg, true
	}
	return "", false
}

// ForeignKeyViolation reports whether err is a violated FOREIGN KEY
// constraint.
func ForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
