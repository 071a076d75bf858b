// Package query describes the filter and the ordering of a list method as
// plain Go values, and compiles them to parameterised SQL for the SQLite and
// the PostgreSQL stores.
//
// It knows neither proto nor the AIP-160/AIP-132 syntax: package query/aip
// parses the `filter` and `order_by` strings of a request into these values,
// so that the domain and the stores depend only on this package.
package query

import (
	"fmt"
	"slices"
)

// Expr is a filter expression tree: And, Or, Not or Compare (or pointers to
// them). A nil Expr means "no filter".
type Expr interface{ isExpr() }

// And holds when both Left and Right hold.
type And struct{ Left, Right Expr }

// Or holds when Left or Right holds.
type Or struct{ Left, Right Expr }

// Not holds when X does not.
type Not struct{ X Expr }

// Op is a comparison operator.
type Op string

// The comparison operators. Bool and Enum fields take only Eq and Ne: an
// order between true and false or between enum values means nothing to a user.
const (
	Eq Op = "="
	Ne Op = "!="
	Lt Op = "<"
	Le Op = "<="
	Gt Op = ">"
	Ge Op = ">="
	// Has, on a Path field only, holds when the field is Value or a name
	// under it: Value followed by "/" and anything. "requests/X" has
	// requests/X and requests/X/attachments/Y, but not requests/X2.
	Has Op = ":"
)

// valid reports whether op is one of the seven operators.
func (op Op) valid() bool {
	switch op {
	case Eq, Ne, Lt, Le, Gt, Ge, Has:
		return true
	}
	return false
}

// Compare holds when the field compares to Value by Op.
//
// Value's Go type follows the field's Kind: string for String and Enum, bool
// for Bool, int64 for Int (int is accepted too), time.Time for Timestamp.
type Compare struct {
	Field string
	Op    Op
	Value any
}

func (And) isExpr()     {}
func (Or) isExpr()      {}
func (Not) isExpr()     {}
func (Compare) isExpr() {}

// Kind is the type of a filterable field.
type Kind int

// The kinds of field. The zero Kind is invalid, so that a Field whose Kind was
// forgotten is refused by Schema.Validate.
const (
	// String is text, compared exactly (and ordered by the column's collation).
	String Kind = iota + 1
	// Bool is true or false. PostgreSQL columns are BOOLEAN; SQLite columns
	// are INTEGER 0/1 (the driver binds a Go bool as 1 or 0).
	Bool
	// Int is a 64-bit integer.
	Int
	// Timestamp is an instant, bound as a UTC time.Time.
	Timestamp
	// Enum is one of Field.Enum, stored and compared as text.
	Enum
)

var kindNames = [...]string{
	String:    "string",
	Bool:      "bool",
	Int:       "int",
	Timestamp: "timestamp",
	Enum:      "enum",
}

// String returns the kind's name, e.g. "timestamp".
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Field declares a field that a filter may compare and an ordering may sort by.
type Field struct {
	// Name is the field as a filter writes it, e.g. "createTime" or
	// "sender.agency". One name per Field: declare two Fields for two spellings.
	Name string
	// Kind is the field's type.
	Kind Kind
	// Enum lists the values an Enum field may take, e.g. "CENTRAL_AUTHORITY".
	// It must be empty for every other Kind.
	Enum []string
	// Column is the SQL expression for the field, e.g. "create_time". It is
	// written into the SQL as is, so it must come from code, never from input.
	// A domain package declares its schema without columns, in its own
	// names; the store that compiles filters supplies them with WithColumns,
	// so that the mapping of a name to a column lives in the store.
	Column string
	// Path says that a String field holds slash-separated names, such as
	// "requests/X/attachments/Y", and takes Has. The column must compare
	// bytes (SQLite's default BINARY collation, PostgreSQL's COLLATE "C"):
	// Has is compiled to a range of bytes, which no wildcard in a value can
	// widen and which an index on the column serves.
	Path bool
	// Upper says that the field's values are upper case (state codes,
	// references): a filter's value for it is upper-cased before the
	// comparison, so that "uz" finds UZ as a body's "uz" is taken as UZ.
	// String fields only.
	Upper bool
}

// Schema is the set of fields a list method can filter and order by.
type Schema []Field

// Lookup returns the field named name, and false when there is none.
func (s Schema) Lookup(name string) (Field, bool) {
	for _, f := range s {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Names returns the names of the fields, in declaration order.
func (s Schema) Names() []string {
	names := make([]string, len(s))
	for i, f := range s {
		names[i] = f.Name
	}
	return names
}

// Validate reports a mistake in the declaration of s: an empty or repeated
// name, an unknown Kind, or Enum values on the wrong Kind. The error is a
// programming error, not the caller's. Columns may be missing: a domain
// declares none, and Where and OrderBy refuse a field that has none (see
// WithColumns).
func (s Schema) Validate() error {
	seen := make(map[string]bool, len(s))
	for i, f := range s {
		switch {
		case f.Name == "":
			return fmt.Errorf("query: field %d has no name", i)
		case seen[f.Name]:
			return fmt.Errorf("query: field %q is declared twice", f.Name)
		case f.Kind < String || f.Kind > Enum:
			return fmt.Errorf("query: field %q has invalid kind %v", f.Name, f.Kind)
		case f.Kind == Enum && len(f.Enum) == 0:
			return fmt.Errorf("query: enum field %q lists no values", f.Name)
		case f.Kind != Enum && len(f.Enum) != 0:
			return fmt.Errorf("query: field %q of kind %v lists enum values", f.Name, f.Kind)
		case f.Path && f.Kind != String:
			return fmt.Errorf("query: path field %q is of kind %v, not string", f.Name, f.Kind)
		case f.Upper && f.Kind != String:
			return fmt.Errorf("query: field %q of kind %v is upper-cased", f.Name, f.Kind)
		case f.Kind == Enum && slices.Contains(f.Enum, ""):
			return fmt.Errorf("query: enum field %q lists an empty value", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// WithColumns returns a copy of s whose fields take their Column from
// columns, keyed by field name; s is left as it is. It is how a store maps a
// domain's schema onto its tables. A key that names no field of s, and a
// field left without a column, are errors (programming errors, as with
// Validate), so that a store and its domain cannot drift apart silently.
func (s Schema) WithColumns(columns map[string]string) (Schema, error) {
	for name := range columns {
		if _, ok := s.Lookup(name); !ok {
			return nil, fmt.Errorf("query: column for unknown field %q", name)
		}
	}
	out := slices.Clone(s)
	for i := range out {
		if c, ok := columns[out[i].Name]; ok {
			out[i].Column = c
		}
		if out[i].Column == "" {
			return nil, fmt.Errorf("query: field %q has no column", out[i].Name)
		}
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// Order sorts by one field, ascending unless Desc.
type Order struct {
	Field string
	Desc  bool
}
