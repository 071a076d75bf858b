// Package querytest holds what the tests of package query and of its
// parsers (query/aip) share: a schema with a field of each kind, and the
// checks of the SQL that each dialect writes.
package querytest

import (
	"reflect"
	"testing"

	"github.com/comity-mla/comity/services/query"
)

// Schema has one field of each kind, and a dotted name.
var Schema = query.Schema{
	{Name: "name", Kind: query.String, Column: "display_name"},
	{Name: "kind", Kind: query.Enum, Enum: []string{"CENTRAL_AUTHORITY", "PROSECUTOR", "COURT"}, Column: "kind"},
	{Name: "archived", Kind: query.Bool, Column: "archived"},
	{Name: "priority", Kind: query.Int, Column: "priority"},
	{Name: "createTime", Kind: query.Timestamp, Column: "create_time"},
	{Name: "sender.country", Kind: query.String, Column: "sender_country"},
}

// AllFields are Schema's fields as an error lists them.
const AllFields = "name, kind, archived, priority, createTime, sender.country"

// Dialects are the dialects every check covers.
var Dialects = []query.Dialect{query.SQLite, query.Postgres}

// WantWhere checks that each dialect writes e under s, its arguments
// numbered from offset, as the clause sqlite or postgres with the
// arguments args, and returns the arguments each wrote (in the order of
// Dialects) for checks of the caller's own.
func WantWhere(t testing.TB, s query.Schema, e query.Expr, offset int, sqlite, postgres string, args []any) [][]any {
	t.Helper()
	var got [][]any
	for i, want := range []string{sqlite, postgres} {
		d := Dialects[i]
		sql, a, err := d.Where(s, e, offset)
		if err != nil {
			t.Fatalf("%v: Where: %v", d, err)
		}
		if sql != want {
			t.Errorf("%v: sql = %q, want %q", d, sql, want)
		}
		if !reflect.DeepEqual(a, args) {
			t.Errorf("%v: args = %#v, want %#v", d, a, args)
		}
		got = append(got, a)
	}
	return got
}

// WantOrderBy checks that each dialect writes orders under s, then the
// tiebreak, as the clause want.
func WantOrderBy(t testing.TB, s query.Schema, orders []query.Order, tiebreak, want string) {
	t.Helper()
	for _, d := range Dialects {
		sql, err := d.OrderBy(s, orders, tiebreak)
		if err != nil {
			t.Fatalf("%v: OrderBy: %v", d, err)
		}
		if sql != want {
			t.Errorf("%v: OrderBy = %q, want %q", d, sql, want)
		}
	}
}
