package query

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL dialect a store speaks. The zero Dialect is invalid.
type Dialect int

// The dialects.
const (
	// SQLite numbers nothing: every placeholder is "?", bound by position.
	SQLite Dialect = iota + 1
	// Postgres numbers placeholders "$1", "$2", …
	Postgres
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Where compiles e into a SQL boolean expression and the arguments to bind to
// its placeholders. A nil e compiles to "TRUE" (Postgres) or "1=1" (SQLite).
//
// argOffset is the number of arguments the caller binds before these: Postgres
// placeholders start at $argOffset+1; SQLite placeholders are all "?", so the
// caller must append args after its own argOffset arguments.
//
// The result is safe to embed in a larger condition (every And and Or is
// parenthesised), and no value is ever written into the SQL text. Values bind
// as Go string, bool, int64 and UTC time.Time:
//
//   - Bool: PostgreSQL compares a BOOLEAN column to the bool; the SQLite driver
//     (modernc.org/sqlite) binds the bool as integer 1 or 0, which matches a
//     column holding 1/0.
//   - Timestamp: PostgreSQL compares a timestamptz column to the time; the
//     SQLite driver binds it as text (or an integer, per its _time_format and
//     _time_integer_format options). That compares in time order only when the
//     column was written through the same driver with the same options, as UTC
//     time.Time values, which the stores must do.
//
// Fields are looked up in s. An unknown field, an operator other than the
// seven, Has on a field that is not a Path, an ordering operator on a Bool or Enum field, a value whose type does not
// match the field, or an enum value not in Field.Enum is an error. Such errors
// are programming errors (package aip refuses bad input before it gets here),
// so they are not *errs.Error values.
func (d Dialect) Where(s Schema, e Expr, argOffset int) (sql string, args []any, err error) {
	if err := d.check(); err != nil {
		return "", nil, err
	}
	if argOffset < 0 {
		return "", nil, fmt.Errorf("query: negative argument offset %d", argOffset)
	}
	if e == nil {
		if d == Postgres {
			return "TRUE", nil, nil
		}
		return "1=1", nil, nil
	}
	c := compiler{d: d, s: s, offset: argOffset}
	sql, err = c.expr(e)
	if err != nil {
		return "", nil, err
	}
	return sql, c.args, nil
}

// OrderBy compiles orders to "ORDER BY col [DESC], …, tiebreak". tiebreak is a
// SQL expression from the caller that makes the order total (such as the
// primary key, possibly "id DESC"); it is omitted when empty. With no orders
// and no tiebreak the result is "". An undeclared or repeated field is an
// error (a programming error, as with Where).
func (d Dialect) OrderBy(s Schema, orders []Order, tiebreak string) (string, error) {
	if err := d.check(); err != nil {
		return "", err
	}
	terms := make([]string, 0, len(orders)+1)
	seen := make(map[string]bool, len(orders))
	for _, o := range orders {
		f, ok := s.Lookup(o.Field)
		if !ok {
			return "", fmt.Errorf("query: unknown field %q in order", o.Field)
		}
		if seen[o.Field] {
			return "", fmt.Errorf("query: field %q ordered twice", o.Field)
		}
		seen[o.Field] = true
		if f.Column == "" {
			return "", errNoColumn(f)
		}
		term := f.Column
		if o.Desc {
			term += " DESC"
		}
		terms = append(terms, term)
	}
	if tiebreak != "" {
		terms = append(terms, tiebreak)
	}
	if len(terms) == 0 {
		return "", nil
	}
	return "ORDER BY " + strings.Join(terms, ", "), nil
}

func (d Dialect) check() error {
	if d != SQLite && d != Postgres {
		return fmt.Errorf("query: unknown dialect %v", d)
	}
	return nil
}

// compiler accumulates the arguments of one Where.
type compiler struct {
	d      Dialect
	s      Schema
	offset int
	args   []any
}

// expr compiles e into a condition that can stand next to AND, OR or NOT
// without changing meaning.
func (c *compiler) expr(e Expr) (string, error) {
	e, err := deref(e)
	if err != nil {
		return "", err
	}
	switch e := e.(type) {
	case And:
		return c.chain(e, "AND")
	case Or:
		return c.chain(e, "OR")
	case Not:
		x, err := deref(e.X)
		if err != nil {
			return "", err
		}
		inner, err := c.expr(x)
		if err != nil {
			return "", err
		}
		switch x.(type) {
		case And, Or: // already parenthesised
			return "NOT " + inner, nil
		}
		return "NOT (" + inner + ")", nil
	case Compare:
		return c.compare(e)
	}
	return "", fmt.Errorf("query: unsupported expression %T", e)
}

// chain compiles a run of the same operator flat, "(a AND b AND c)", rather
// than "((a AND b) AND c)", so that a long list of conditions does not nest.
func (c *compiler) chain(e Expr, op string) (string, error) {
	var terms []string
	var walk func(Expr) error
	walk = func(x Expr) error {
		x, err := deref(x)
		if err != nil {
			return err
		}
		switch x := x.(type) {
		case And:
			if op == "AND" {
				if err := walk(x.Left); err != nil {
					return err
				}
				return walk(x.Right)
			}
		case Or:
			if op == "OR" {
				if err := walk(x.Left); err != nil {
					return err
				}
				return walk(x.Right)
			}
		}
		term, err := c.expr(x)
		if err != nil {
			return err
		}
		terms = append(terms, term)
		return nil
	}
	if err := walk(e); err != nil {
		return "", err
	}
	return "(" + strings.Join(terms, " "+op+" ") + ")", nil
}

func (c *compiler) compare(e Compare) (string, error) {
	f, ok := c.s.Lookup(e.Field)
	if !ok {
		return "", fmt.Errorf("query: unknown field %q", e.Field)
	}
	if !e.Op.valid() {
		return "", fmt.Errorf("query: unknown operator %q on field %q", e.Op, e.Field)
	}
	if f.Column == "" {
		return "", errNoColumn(f)
	}
	if e.Op == Has {
		return c.has(f, e)
	}
	if (f.Kind == Bool || f.Kind == Enum) && e.Op != Eq && e.Op != Ne {
		return "", fmt.Errorf("query: operator %q on %v field %q", e.Op, f.Kind, e.Field)
	}
	v, err := bindValue(f, e.Value)
	if err != nil {
		return "", err
	}
	c.args = append(c.args, v)
	op := string(e.Op)
	if e.Op == Ne {
		op = "<>"
	}
	return f.Column + " " + op + " " + c.placeholder(), nil
}

// has compiles Has: the name itself, or a name in the range of the bytes
// that start with name + "/", which ends before name + "0" ('0' is the byte
// after '/'). A range rather than LIKE: a "%" or "_" in the value is then
// just a byte, with nothing to escape, and SQLite's LIKE, which ignores
// case, is kept out of it.
func (c *compiler) has(f Field, e Compare) (string, error) {
	if !f.Path {
		return "", fmt.Errorf("query: operator %q on field %q, which is not a path", e.Op, e.Field)
	}
	v, err := bindValue(f, e.Value)
	if err != nil {
		return "", err
	}
	name := v.(string)
	c.args = append(c.args, name)
	self := c.placeholder()
	c.args = append(c.args, name+"/")
	from := c.placeholder()
	c.args = append(c.args, name+"0")
	to := c.placeholder()
	return "(" + f.Column + " = " + self + " OR (" + f.Column + " >= " + from + " AND " + f.Column + " < " + to + "))", nil
}

// errNoColumn is the error for a field compiled before a store gave it a
// column (see Schema.WithColumns).
func errNoColumn(f Field) error {
	return fmt.Errorf("query: field %q has no column", f.Name)
}

// placeholder returns the placeholder of the argument appended last.
func (c *compiler) placeholder() string {
	if c.d == Postgres {
		return "$" + strconv.Itoa(c.offset+len(c.args))
	}
	return "?"
}

// bindValue returns v as the Go type the drivers bind for f's kind.
func bindValue(f Field, v any) (any, error) {
	switch f.Kind {
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Enum:
		if s, ok := v.(string); ok {
			if !slices.Contains(f.Enum, s) {
				return nil, fmt.Errorf("query: %q is not a value of enum field %q", s, f.Name)
			}
			return s, nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Int:
		switch n := v.(type) {
		case int64:
			return n, nil
		case int:
			return int64(n), nil
		}
	case Timestamp:
		if t, ok := v.(time.Time); ok {
			// UTC also drops the monotonic reading, which would otherwise
			// appear in the text SQLite stores.
			return t.UTC(), nil
		}
	}
	return nil, fmt.Errorf("query: %v field %q compared with a %T", f.Kind, f.Name, v)
}

// valueOf is what p points to, or e when p is nil.
func valueOf[T Expr](p *T, e Expr) Expr {
	if p == nil {
		return e
	}
	return *p
}

// deref turns the pointer forms of the expression types into values.
func deref(e Expr) (Expr, error) {
	switch p := e.(type) {
	case nil:
		return nil, fmt.Errorf("query: nil operand")
	case *And:
		e = valueOf(p, e)
	case *Or:
		e = valueOf(p, e)
	case *Not:
		e = valueOf(p, e)
	case *Compare:
		e = valueOf(p, e)
	default:
		return e, nil
	}
	switch e.(type) {
	case *And, *Or, *Not, *Compare:
		return nil, fmt.Errorf("query: nil %T operand", e)
	}
	return e, nil
}
