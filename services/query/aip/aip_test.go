package aip_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/query/aip"
	"github.com/comity-mla/comity/services/query/querytest"
)

// schema is the test schema: one field of each kind, and a dotted name.
var schema = querytest.Schema

const allFields = querytest.AllFields

func TestParseFilter(t *testing.T) {
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		filter   string
		sqlite   string
		postgres string
		args     []any
	}{
		{"empty", "", "1=1", "TRUE", nil},
		{"only spaces", "  \t\n", "1=1", "TRUE", nil},
		{"string", `name = "Alpha"`, "display_name = ?", "display_name = $1", []any{"Alpha"}},
		{"single-quoted string", `name = 'Al"pha'`, "display_name = ?", "display_name = $1", []any{`Al"pha`}},
		{"escaped quote", `name = "O\"Brien"`, "display_name = ?", "display_name = $1", []any{`O"Brien`}},
		{"string order", `name >= "m"`, "display_name >= ?", "display_name >= $1", []any{"m"}},
		{"not equal", `name != "x"`, "display_name <> ?", "display_name <> $1", []any{"x"}},
		{"bare enum", `kind = CENTRAL_AUTHORITY`, "kind = ?", "kind = $1", []any{"CENTRAL_AUTHORITY"}},
		{"quoted enum", `kind != "COURT"`, "kind <> ?", "kind <> $1", []any{"COURT"}},
		{"bool true", `archived = true`, "archived = ?", "archived = $1", []any{true}},
		{"bool false", `archived != false`, "archived <> ?", "archived <> $1", []any{false}},
		{"int", `priority > 3`, "priority > ?", "priority > $1", []any{int64(3)}},
		{"negative int", `priority <= -3`, "priority <= ?", "priority <= $1", []any{int64(-3)}},
		{"hex int", `priority < 0x10`, "priority < ?", "priority < $1", []any{int64(16)}},
		{"zero", `priority = 0`, "priority = ?", "priority = $1", []any{int64(0)}},
		{"quoted timestamp", `createTime > "2026-01-01T00:00:00Z"`, "create_time > ?", "create_time > $1", []any{jan}},
		{"timestamp function", `createTime >= timestamp("2026-01-01T00:00:00Z")`, "create_time >= ?", "create_time >= $1", []any{jan}},
		{"timestamp offset becomes UTC", `createTime < "2026-01-01T05:00:00+05:00"`, "create_time < ?", "create_time < $1", []any{jan}},
		{"timestamp fraction", `createTime = "2026-01-01T00:00:00.25Z"`, "create_time = ?", "create_time = $1", []any{jan.Add(250 * time.Millisecond)}},
		{"dotted field", `sender.country = "KZ"`, "sender_country = ?", "sender_country = $1", []any{"KZ"}},
		{"no spaces", `priority>3`, "priority > ?", "priority > $1", []any{int64(3)}},
		{
			"AND", `name = "a" AND priority = 1`,
			"(display_name = ? AND priority = ?)", "(display_name = $1 AND priority = $2)",
			[]any{"a", int64(1)},
		},
		{
			"AND chain is flat", `name = "a" AND priority = 1 AND archived = true`,
			"(display_name = ? AND priority = ? AND archived = ?)", "(display_name = $1 AND priority = $2 AND archived = $3)",
			[]any{"a", int64(1), true},
		},
		{
			"OR", `kind = COURT OR kind = PROSECUTOR`,
			"(kind = ? OR kind = ?)", "(kind = $1 OR kind = $2)",
			[]any{"COURT", "PROSECUTOR"},
		},
		{
			// AIP-160: OR binds tighter than AND.
			"OR binds tighter than AND", `priority = 1 AND archived = false OR kind = COURT`,
			"(priority = ? AND (archived = ? OR kind = ?))", "(priority = $1 AND (archived = $2 OR kind = $3))",
			[]any{int64(1), false, "COURT"},
		},
		{
			"parentheses", `(priority = 1 OR priority = 2) AND name != "y"`,
			"((priority = ? OR priority = ?) AND display_name <> ?)", "((priority = $1 OR priority = $2) AND display_name <> $3)",
			[]any{int64(1), int64(2), "y"},
		},
		{"NOT", `NOT archived = true`, "NOT (archived = ?)", "NOT (archived = $1)", []any{true}},
		{"minus negation", `-kind = COURT`, "NOT (kind = ?)", "NOT (kind = $1)", []any{"COURT"}},
		{
			"NOT of a group", `NOT (kind = COURT OR archived = true)`,
			"NOT (kind = ? OR archived = ?)", "NOT (kind = $1 OR archived = $2)",
			[]any{"COURT", true},
		},
		{
			"several lines", "name = \"a\"\n  AND priority = 1\n",
			"(display_name = ? AND priority = ?)", "(display_name = $1 AND priority = $2)",
			[]any{"a", int64(1)},
		},
		{"SQL in a value stays a value", `name = "x' OR '1'='1"`, "display_name = ?", "display_name = $1", []any{"x' OR '1'='1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := aip.ParseFilter(tc.filter, schema)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
			}
			querytest.WantWhere(t, schema, e, 0, tc.sqlite, tc.postgres, tc.args)
		})
	}
}

// wantFilterRefused asserts that ParseFilter refuses filter under s with
// the Invalid error of one violation of "filter" whose description
// contains every one of want.
func wantFilterRefused(t *testing.T, s query.Schema, filter string, want ...string) {
	t.Helper()
	e, err := aip.ParseFilter(filter, s)
	if err == nil {
		t.Fatalf("ParseFilter(%q) = %#v, want an error", filter, e)
	}
	wantInvalid(t, err, "filter", want...)
}

// wantInvalid asserts that err is the Invalid error of one violation of field
// whose description contains every one of want.
func wantInvalid(t *testing.T, err error, field string, want ...string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
	}
	if e.Code != errs.Invalid {
		t.Errorf("code = %v, want %v", e.Code, errs.Invalid)
	}
	if len(e.Violations) != 1 {
		t.Fatalf("violations = %+v, want exactly one", e.Violations)
	}
	v := e.Violations[0]
	if v.Field != field {
		t.Errorf("violation field = %q, want %q", v.Field, field)
	}
	for _, w := range want {
		if !strings.Contains(v.Description, w) {
			t.Errorf("description %q does not contain %q", v.Description, w)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter string
		want   []string
	}{
		// Syntax, with where.
		{"dangling AND", `name = "x" AND`, []string{"column 12", "AND must be followed by a condition"}},
		{"dangling NOT", `NOT`, []string{"column 1", "NOT must be followed by a condition"}},
		{"doubled AND", `name = "a" AND AND priority = 1`, []string{"column 16", `unexpected "AND"`}},
		{"unclosed parenthesis", `(name = "x"`, []string{"column 12", `expected ")" but the filter ends there`}},
		{"extra parenthesis", `name = "x")`, []string{"column 11", `unexpected ")"`}},
		{"unclosed string", `name = "x`, []string{"column 8", "not closed"}},
		{"bad escape", `name = "x\q"`, []string{"column 8", "invalid escape sequence"}},
		{"no field", `= 1`, []string{"column 1", `unexpected "="`}},
		{"double equals", `name == "x"`, []string{"column 7", `unexpected "="`}},
		{"ends after minus", `-`, []string{"column 2", "ends too early"}},
		{"position on a later line", "name = \"x\"\nAND priority = 1 )", []string{"line 2, column 18", `unexpected ")"`}},
		{"position counts characters", `name = "ü" )`, []string{"column 12"}},
		{"missing AND", `name = "x" priority = 1`, []string{"column 12", "joined with AND or OR"}},
		{"missing AND inside a group", `name = "a" OR (kind = COURT name = "b")`, []string{"column 29", "joined with AND or OR"}},
		{"first missing AND", `name = "x" & p`, []string{"column 12", "joined with AND or OR"}},
		{"number out of range", `priority = 99999999999999999999`, []string{"column 12", `"99999999999999999999" is out of range`}},
		{"leading zero", `priority = 010`, []string{"must not start with 0"}},
		{"bad hex", `priority = 0x`, []string{`"0x" is not a valid number`}},
		{"non-ASCII digits", `priority = 1٣`, []string{"digits 0-9"}},
		{"not UTF-8", "name = \"\xff\"", []string{"not valid UTF-8"}},
		// Fields.
		{"unknown field", `foo = 1`, []string{`unknown field "foo"`, allFields}},
		{"unknown dotted field", `name.x = "a"`, []string{`unknown field "name.x"`, allFields}},
		{"left side not a field", `1 = priority`, []string{"left side of = must be a field name", "the integer 1"}},
		{"field alone", `archived`, []string{`field "archived" must be compared with a value`, "archived = true"}},
		{"free text", `foo`, []string{`the bare word "foo" is not a condition`, "free-text search is not supported", allFields}},
		{"quoted free text", `"foo"`, []string{`the string "foo" is not a condition`}},
		// Types.
		{"string for an int", `priority = "1"`, []string{`field "priority" takes an integer, not the string "1"`}},
		{"float for an int", `priority = 1.5`, []string{`field "priority" takes an integer, not the number 1.5`}},
		{"float without fraction", `priority > 1.`, []string{"not the number 1.0"}},
		{"int for a string", `name = 5`, []string{`field "name" takes a quoted string, not the integer 5`}},
		{"bare word for a string", `name = foo`, []string{`field "name" takes a quoted string, not the bare word "foo"`, `name = "foo"`}},
		{"quoted bool", `archived = "true"`, []string{`field "archived" takes true or false, not the string "true"`}},
		{"upper-case bool", `archived = TRUE`, []string{`takes true or false, not the bare word "TRUE"`}},
		{"int for a timestamp", `createTime = 5`, []string{`field "createTime" takes an RFC 3339 timestamp`, "not the integer 5"}},
		{"not a timestamp", `createTime > "yesterday"`, []string{`takes an RFC 3339 timestamp such as "2026-01-01T00:00:00Z", not the string "yesterday"`}},
		{"date only", `createTime > "2026-01-01"`, []string{"RFC 3339", `not the string "2026-01-01"`}},
		{"bad timestamp function", `createTime > timestamp("x")`, []string{`timestamp(…) takes one quoted RFC 3339 time`}},
		{"empty timestamp function", `createTime = timestamp()`, []string{`timestamp(…) takes one quoted RFC 3339 time`}},
		{"timestamp function on a string", `name = timestamp("2026-01-01T00:00:00Z")`, []string{`field "name" takes a quoted string, not a call of function "timestamp"`}},
		{"nested condition as value", `name = (1 OR 2)`, []string{`value compared with field "name" must be a single value`}},
		// Enums.
		{"enum value not allowed", `kind = JUDGE`, []string{`"JUDGE" is not a value of field "kind"`, "CENTRAL_AUTHORITY, PROSECUTOR, COURT"}},
		{"quoted enum value not allowed", `kind = "court"`, []string{`"court" is not a value of field "kind"`}},
		{"int for an enum", `kind = 5`, []string{`field "kind" takes one of CENTRAL_AUTHORITY, PROSECUTOR, COURT, not the integer 5`}},
		// Operators and functions.
		{"order on an enum", `kind < COURT`, []string{`field "kind" can only be compared with = or !=, not <`}},
		{"order on a bool", `archived >= true`, []string{`field "archived" can only be compared with = or !=, not >=`}},
		{"has operator", `name:"x"`, []string{`the has operator ":" is not supported`}},
		{"unknown function", `foo(1)`, []string{`function "foo" is not supported`}},
		{"unknown function as value", `createTime > now()`, []string{`function "now" is not supported`}},
		{"duration", `createTime > duration("1h")`, []string{`function "duration" is not supported`}},
		{"timestamp alone", `timestamp("2026-01-01T00:00:00Z")`, []string{"can only be the value compared with a timestamp field"}},
		// Bounds.
		{"too long", `name = "` + strings.Repeat("x", aip.MaxLength) + `"`, []string{"2057 characters long; the limit is 2048"}},
		{"too deep", strings.Repeat("(", aip.MaxDepth+1) + "priority = 1" + strings.Repeat(")", aip.MaxDepth+1), []string{"nested more than 32 deep", "column 33"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFilterRefused(t, schema, tc.filter, tc.want...)
		})
	}
}

func TestParseFilterDepthLimit(t *testing.T) {
	deepest := strings.Repeat("(", aip.MaxDepth) + "priority = 1" + strings.Repeat(")", aip.MaxDepth)
	if _, err := aip.ParseFilter(deepest, schema); err != nil {
		t.Errorf("nesting %d deep: %v", aip.MaxDepth, err)
	}
	longest := `name = "` + strings.Repeat("ü", aip.MaxLength-9) + `"`
	if _, err := aip.ParseFilter(longest, schema); err != nil {
		t.Errorf("filter of %d characters: %v", aip.MaxLength, err)
	}
}

func TestBadSchemaIsNotTheCallersFault(t *testing.T) {
	// No kind. (No column is no mistake here: a domain declares none, and
	// its store supplies them.)
	bad := query.Schema{{Name: "a"}}
	if _, err := aip.ParseFilter(`a = "x"`, bad); err == nil || errs.CodeOf(err) != errs.Internal {
		t.Errorf("ParseFilter with a bad schema = %v, want an internal error", err)
	}
	if _, err := aip.ParseOrderBy(`a`, bad); err == nil || errs.CodeOf(err) != errs.Internal {
		t.Errorf("ParseOrderBy with a bad schema = %v, want an internal error", err)
	}
}

// A schema without columns, as a domain declares it, parses.
func TestSchemaWithoutColumns(t *testing.T) {
	bare := query.Schema{{Name: "a", Kind: query.String}}
	if _, err := aip.ParseFilter(`a = "x"`, bare); err != nil {
		t.Errorf("ParseFilter on a schema without columns: %v", err)
	}
	if _, err := aip.ParseOrderBy(`a`, bare); err != nil {
		t.Errorf("ParseOrderBy on a schema without columns: %v", err)
	}
}

func TestParseOrderBy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		orderBy string
		want    []query.Order
		sql     string
	}{
		{"empty", "", nil, "ORDER BY id"},
		{"spaces", "   ", nil, "ORDER BY id"},
		{"one field", "priority", []query.Order{{Field: "priority"}}, "ORDER BY priority, id"},
		{"desc", "priority desc", []query.Order{{Field: "priority", Desc: true}}, "ORDER BY priority DESC, id"},
		{"asc", "priority asc", []query.Order{{Field: "priority"}}, "ORDER BY priority, id"},
		{
			"several", " kind,createTime desc ,  name ",
			[]query.Order{{Field: "kind"}, {Field: "createTime", Desc: true}, {Field: "name"}},
			"ORDER BY kind, create_time DESC, display_name, id",
		},
		{"dotted field", "sender.country desc", []query.Order{{Field: "sender.country", Desc: true}}, "ORDER BY sender_country DESC, id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := aip.ParseOrderBy(tc.orderBy, schema)
			if err != nil {
				t.Fatalf("ParseOrderBy(%q): %v", tc.orderBy, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseOrderBy(%q) = %+v, want %+v", tc.orderBy, got, tc.want)
			}
			querytest.WantOrderBy(t, schema, got, "id", tc.sql)
		})
	}
}

func TestParseOrderByErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		orderBy string
		want    []string
	}{
		{"unknown field", "rank", []string{`unknown field "rank"`, allFields}},
		{"field twice", "name, name desc", []string{`field "name" appears more than once`}},
		{"upper-case direction", "name DESC", []string{`direction after a field must be "asc" or "desc", not "DESC"`}},
		{"bad direction", "name down", []string{`not "down"`}},
		{"three words", "name asc desc", []string{`"name asc desc" is not a field name optionally followed by`}},
		{"missing comma", "name priority desc", []string{"separate fields with commas"}},
		{"empty item", "name,,priority", []string{"empty item at column 6"}},
		{"trailing comma", "name,", []string{"empty item at column 6"}},
		{"SQL", "name; DROP TABLE agencies", []string{"unexpected character ';' at column 5"}},
		{"tab", "name\tdesc", []string{`unexpected character '\t' at column 5`}},
		{"minus", "-name", []string{"unexpected character '-' at column 1"}},
		{"not UTF-8", "name\xff", []string{"not valid UTF-8"}},
		{"too long", strings.Repeat("a", aip.MaxLength+1), []string{"2049 characters long; the limit is 2048"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := aip.ParseOrderBy(tc.orderBy, schema)
			if err == nil {
				t.Fatalf("ParseOrderBy(%q) = %+v, want an error", tc.orderBy, got)
			}
			wantInvalid(t, err, "order_by", tc.want...)
		})
	}
}

// pathSchema has a Path field, which takes the has operator.
var pathSchema = query.Schema{
	{Name: "resource", Kind: query.String, Column: "resource", Path: true},
	{Name: "actor", Kind: query.String, Column: "actor"},
}

// TestParseHas checks resource:"requests/X": the name itself or a name in
// the byte range under "requests/X/", whatever the value holds ("%" and "_"
// are bytes like any other, bound, never written into the SQL).
func TestParseHas(t *testing.T) {
	for _, tc := range []struct {
		name, filter     string
		sqlite, postgres string
		args             []any
	}{
		{"has", `resource:"requests/X"`,
			"(resource = ? OR (resource >= ? AND resource < ?))", "(resource = $1 OR (resource >= $2 AND resource < $3))",
			[]any{"requests/X", "requests/X/", "requests/X0"}},
		{"wildcards of LIKE are bytes", `resource : "requests/a_b%c\\"`,
			"(resource = ? OR (resource >= ? AND resource < ?))", "(resource = $1 OR (resource >= $2 AND resource < $3))",
			[]any{`requests/a_b%c\`, `requests/a_b%c\/`, `requests/a_b%c\0`}},
		{"NOT and AND", `NOT resource:"requests/X" AND actor = "a"`,
			"(NOT ((resource = ? OR (resource >= ? AND resource < ?))) AND actor = ?)",
			"(NOT ((resource = $1 OR (resource >= $2 AND resource < $3))) AND actor = $4)",
			[]any{"requests/X", "requests/X/", "requests/X0", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := aip.ParseFilter(tc.filter, pathSchema)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
			}
			querytest.WantWhere(t, pathSchema, e, 0, tc.sqlite, tc.postgres, tc.args)
		})
	}
	for _, tc := range []struct {
		name, filter string
		want         []string
	}{
		{"on a field that is not a path", `actor:"a"`, []string{`only resource takes it`, `compare field "actor" with =`}},
		{"unknown field", `name:"x"`, []string{`unknown field "name"`, "resource, actor"}},
		{"empty name", `resource:""`, []string{`resource:"" names nothing`, `resource:"requests/…"`}},
		{"a slash alone", `resource:"/"`, []string{`resource:"/" names nothing`}},
		{"final slash", `resource:"requests/X/"`, []string{`write resource:"requests/X" without the final "/"`}},
		{"number", `resource:5`, []string{`field "resource" takes a quoted string, not the integer 5`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFilterRefused(t, pathSchema, tc.filter, tc.want...)
		})
	}
}

// TestUpperFieldsIgnoreCase: a field declared Upper (state codes) compares
// the filter's value in upper case, so that "uz" finds UZ; other string
// fields compare exactly; and only a string field can be declared so.
func TestUpperFieldsIgnoreCase(t *testing.T) {
	s := query.Schema{
		{Name: "state", Kind: query.String, Column: "state", Upper: true},
		{Name: "name", Kind: query.String, Column: "name"},
	}
	got, err := aip.ParseFilter(`state = "uz" AND name = "uz"`, s)
	if err != nil {
		t.Fatal(err)
	}
	want := query.And{Left: query.Compare{Field: "state", Op: query.Eq, Value: "UZ"}, Right: query.Compare{Field: "name", Op: query.Eq, Value: "uz"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("filter = %#v, want %#v", got, want)
	}
	bad := query.Schema{{Name: "active", Kind: query.Bool, Column: "active", Upper: true}}
	if err := bad.Validate(); err == nil {
		t.Error("a Bool field declared Upper was accepted")
	}
}

// TestParseList checks that a list's filter and order_by are both parsed,
// each against its schema, and that a bad one is refused naming its field,
// the filter first.
func TestParseList(t *testing.T) {
	f, o, err := aip.ParseList(`kind = "COURT"`, "name desc", schema, schema)
	if err != nil || f == nil || !reflect.DeepEqual(o, []query.Order{{Field: "name", Desc: true}}) {
		t.Fatalf("ParseList = %v, %+v, %v; want a filter and [name desc]", f, o, err)
	}
	_, _, err = aip.ParseList("rank = 1", "rank", schema, schema)
	wantInvalid(t, err, "filter", `unknown field "rank"`)
	_, _, err = aip.ParseList("", "name", schema, pathSchema)
	wantInvalid(t, err, "order_by", `unknown field "name"`)
}
