package aip

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/query/querytest"
)

// fuzzSchema has a field of each kind, and a dotted name.
var fuzzSchema = querytest.Schema

// checkRefusal fails unless err is the Invalid error of one violation of
// field, with a description.
func checkRefusal(t *testing.T, input string, err error, field string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid {
		t.Fatalf("%q: error %v is not errs.Invalid", input, err)
	}
	if len(e.Violations) != 1 || e.Violations[0].Field != field || e.Violations[0].Description == "" {
		t.Fatalf("%q: violations %+v, want one of field %q with a description", input, e.Violations, field)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{
		``,
		`name = "Alpha"`,
		`name = 'x\'y'`,
		`kind = CENTRAL_AUTHORITY AND archived = false`,
		`kind = "COURT" OR priority >= -3`,
		`NOT (priority < 0x10 OR -archived = true)`,
		`createTime > "2026-01-01T00:00:00Z"`,
		`createTime <= timestamp("2026-01-01T05:00:00+05:00")`,
		`sender.country = "KZ"`,
		`priority = 1 AND archived = false OR kind = COURT`,
		`name = "x" priority = 1`,
		`a.b.c:d`,
		`foo(bar, "baz", 1.5, -2)`,
		`((((priority = 1))))`,
		`name = (1 OR 2)`,
		`priority = 99999999999999999999`,
		`priority > 1.`,
		`NOT`,
		`-`,
		`"unterminated`,
		"name = \"\xff\"",
		"name = \"a\"\nAND",
		`x = y = z`,
		`timestamp("x") = createTime`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		e, err := ParseFilter(filter, fuzzSchema)
		if err != nil {
			checkRefusal(t, filter, err, filterField)
			var ee *errs.Error
			errors.As(err, &ee)
			if ee.Violations[0].Description == uncheckedDescription {
				t.Fatalf("%q: accepted by the conversion but refused by einride's checker: %v", filter, ee.Err)
			}
			return
		}
		if strings.TrimSpace(filter) != "" && e == nil {
			t.Fatalf("%q: no error and no expression", filter)
		}
		// Whatever parses must compile, with one argument per placeholder.
		for _, d := range []query.Dialect{query.SQLite, query.Postgres} {
			sql, args, err := d.Where(fuzzSchema, e, 0)
			if err != nil {
				t.Fatalf("%q: %v: Where: %v", filter, d, err)
			}
			marks := strings.Count(sql, "?")
			if d == query.Postgres {
				marks = strings.Count(sql, "$")
			}
			if marks != len(args) {
				t.Fatalf("%q: %v: %q has %d placeholders for %d args", filter, d, sql, marks, len(args))
			}
		}
	})
}

func FuzzParseOrderBy(f *testing.F) {
	for _, seed := range []string{
		``,
		`name`,
		`priority desc, createTime`,
		` kind asc ,sender.country desc `,
		`name DESC`,
		`name,,priority`,
		`name, name`,
		`name asc desc`,
		`name; DROP TABLE x`,
		`ünïcode`,
		"name\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, orderBy string) {
		orders, err := ParseOrderBy(orderBy, fuzzSchema)
		if err != nil {
			checkRefusal(t, orderBy, err, orderByField)
			return
		}
		for _, d := range []query.Dialect{query.SQLite, query.Postgres} {
			if _, err := d.OrderBy(fuzzSchema, orders, "id"); err != nil {
				t.Fatalf("%q: %v: OrderBy: %v", orderBy, d, err)
			}
		}
	})
}

// camel is the inverse of ProtoPath for paths without underscores: "_x"
// becomes "X".
func camel(path string) string {
	var b strings.Builder
	up := false
	for _, r := range path {
		switch {
		case r == '_':
			up = true
			continue
		case up && 'a' <= r && r <= 'z':
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

func FuzzProtoPath(f *testing.F) {
	for _, seed := range []string{
		``,
		`factsSummary`,
		`facts_summary`,
		`offence.legalQualification`,
		`trustedIssuers`,
		`*`,
		`Name`,
		`ABC`,
		`a..b`,
		`_x`,
		`displayNames.en`,
		`ünïcodeÜ`,
		"bad\xffutf8",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, jsonPath string) {
		p := ProtoPath(jsonPath)
		if strings.ContainsFunc(p, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			t.Fatalf("ProtoPath(%q) = %q has upper-case letters", jsonPath, p)
		}
		if again := ProtoPath(p); again != p {
			t.Fatalf("ProtoPath(%q) = %q, but ProtoPath(%q) = %q: a proto path must map to itself", jsonPath, p, p, again)
		}
		// A JSON name maps to the one proto name whose JSON name it is.
		if utf8.ValidString(jsonPath) && !strings.Contains(jsonPath, "_") {
			if back := camel(p); back != jsonPath {
				t.Fatalf("ProtoPath(%q) = %q, whose JSON name is %q", jsonPath, p, back)
			}
		}
	})
}
