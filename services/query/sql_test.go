package query_test

import (
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/query/querytest"
)

var schema = querytest.Schema

func cmp(field string, op query.Op, v any) query.Compare {
	return query.Compare{Field: field, Op: op, Value: v}
}

func TestWhere(t *testing.T) {
	jan := time.Date(2026, 1, 1, 5, 0, 0, 0, time.FixedZone("+05", 5*3600))
	janUTC := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		expr      query.Expr
		offset    int
		sqlite    string
		postgres  string
		args      []any
		wantTimes bool // args hold a time that must be UTC
	}{
		{
			name:     "nil is no filter",
			sqlite:   "1=1",
			postgres: "TRUE",
		},
		{
			name:     "string equality",
			expr:     cmp("name", query.Eq, "Alpha"),
			sqlite:   "display_name = ?",
			postgres: "display_name = $1",
			args:     []any{"Alpha"},
		},
		{
			name:     "not equal is <>",
			expr:     cmp("name", query.Ne, "x"),
			sqlite:   "display_name <> ?",
			postgres: "display_name <> $1",
			args:     []any{"x"},
		},
		{
			name:     "bool binds a Go bool",
			expr:     cmp("archived", query.Eq, false),
			sqlite:   "archived = ?",
			postgres: "archived = $1",
			args:     []any{false},
		},
		{
			name:     "enum binds its text",
			expr:     cmp("kind", query.Ne, "COURT"),
			sqlite:   "kind <> ?",
			postgres: "kind <> $1",
			args:     []any{"COURT"},
		},
		{
			name:     "int accepts int and binds int64",
			expr:     cmp("priority", query.Le, 3),
			sqlite:   "priority <= ?",
			postgres: "priority <= $1",
			args:     []any{int64(3)},
		},
		{
			name:      "timestamp binds in UTC",
			expr:      cmp("createTime", query.Gt, jan),
			sqlite:    "create_time > ?",
			postgres:  "create_time > $1",
			args:      []any{janUTC},
			wantTimes: true,
		},
		{
			name:     "placeholders start after the offset",
			expr:     query.And{Left: cmp("priority", query.Ge, int64(1)), Right: cmp("priority", query.Lt, int64(9))},
			offset:   3,
			sqlite:   "(priority >= ? AND priority < ?)",
			postgres: "(priority >= $4 AND priority < $5)",
			args:     []any{int64(1), int64(9)},
		},
		{
			name: "a chain of AND is flat",
			expr: query.And{
				Left:  query.And{Left: cmp("name", query.Eq, "a"), Right: cmp("kind", query.Eq, "COURT")},
				Right: cmp("archived", query.Eq, true),
			},
			sqlite:   "(display_name = ? AND kind = ? AND archived = ?)",
			postgres: "(display_name = $1 AND kind = $2 AND archived = $3)",
			args:     []any{"a", "COURT", true},
		},
		{
			name: "OR inside AND keeps its parentheses",
			expr: query.And{
				Left:  cmp("priority", query.Eq, int64(1)),
				Right: query.Or{Left: cmp("archived", query.Eq, false), Right: cmp("kind", query.Eq, "COURT")},
			},
			sqlite:   "(priority = ? AND (archived = ? OR kind = ?))",
			postgres: "(priority = $1 AND (archived = $2 OR kind = $3))",
			args:     []any{int64(1), false, "COURT"},
		},
		{
			name:     "NOT of a comparison",
			expr:     query.Not{X: cmp("archived", query.Eq, true)},
			sqlite:   "NOT (archived = ?)",
			postgres: "NOT (archived = $1)",
			args:     []any{true},
		},
		{
			name:     "NOT of an OR does not double its parentheses",
			expr:     query.Not{X: query.Or{Left: cmp("name", query.Eq, "a"), Right: cmp("name", query.Eq, "b")}},
			sqlite:   "NOT (display_name = ? OR display_name = ?)",
			postgres: "NOT (display_name = $1 OR display_name = $2)",
			args:     []any{"a", "b"},
		},
		{
			name:     "pointer forms",
			expr:     &query.Or{Left: &query.Not{X: &query.Compare{Field: "name", Op: query.Eq, Value: "a"}}, Right: cmp("name", query.Eq, "b")},
			sqlite:   "(NOT (display_name = ?) OR display_name = ?)",
			postgres: "(NOT (display_name = $1) OR display_name = $2)",
			args:     []any{"a", "b"},
		},
		{
			name:     "a value that looks like SQL stays an argument",
			expr:     cmp("name", query.Eq, "x' OR '1'='1"),
			sqlite:   "display_name = ?",
			postgres: "display_name = $1",
			args:     []any{"x' OR '1'='1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			written := querytest.WantWhere(t, schema, tc.expr, tc.offset, tc.sqlite, tc.postgres, tc.args)
			for i, args := range written {
				if tc.wantTimes {
					tm := args[0].(time.Time)
					if tm.Location() != time.UTC {
						t.Errorf("%v: time arg in %v, want UTC", querytest.Dialects[i], tm.Location())
					}
				}
			}
		})
	}
}

func TestWhereErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect query.Dialect
		expr    query.Expr
		offset  int
		want    string
	}{
		{"unknown field", query.Postgres, cmp("nope", query.Eq, "x"), 0, `unknown field "nope"`},
		{"unknown operator", query.Postgres, cmp("name", query.Op("LIKE"), "x"), 0, `unknown operator "LIKE"`},
		{"order on a bool", query.SQLite, cmp("archived", query.Lt, true), 0, `operator "<" on bool field`},
		{"order on an enum", query.SQLite, cmp("kind", query.Ge, "COURT"), 0, `operator ">=" on enum field`},
		{"enum value not declared", query.Postgres, cmp("kind", query.Eq, "court"), 0, `"court" is not a value`},
		{"string for an int", query.Postgres, cmp("priority", query.Eq, "1"), 0, "int field \"priority\" compared with a string"},
		{"float for an int", query.Postgres, cmp("priority", query.Eq, 1.5), 0, "compared with a float64"},
		{"int for a timestamp", query.Postgres, cmp("createTime", query.Eq, int64(1)), 0, "compared with a int64"},
		{"string for a bool", query.SQLite, cmp("archived", query.Eq, "true"), 0, "compared with a string"},
		{"nil operand", query.SQLite, query.And{Left: cmp("name", query.Eq, "a")}, 0, "nil operand"},
		{"nil pointer", query.SQLite, (*query.Compare)(nil), 0, "nil *query.Compare operand"},
		{"nil NOT operand", query.SQLite, query.Not{}, 0, "nil operand"},
		{"zero dialect", query.Dialect(0), cmp("name", query.Eq, "a"), 0, "unknown dialect"},
		{"negative offset", query.Postgres, cmp("name", query.Eq, "a"), -1, "negative argument offset"},
		{"has on a field that is not a path", query.SQLite, cmp("name", query.Has, "a"), 0, `operator ":" on field "name", which is not a path`},
		{"has on an enum", query.Postgres, cmp("kind", query.Has, "COURT"), 0, `which is not a path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sql, args, err := tc.dialect.Where(schema, tc.expr, tc.offset)
			if err == nil {
				t.Fatalf("Where = %q, %v; want an error", sql, args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestOrderBy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		orders   []query.Order
		tiebreak string
		want     string
	}{
		{"nothing", nil, "", ""},
		{"tiebreak only", nil, "id", "ORDER BY id"},
		{"fields then tiebreak", []query.Order{{Field: "priority", Desc: true}, {Field: "createTime"}}, "id", "ORDER BY priority DESC, create_time, id"},
		{"caller's tiebreak direction kept", []query.Order{{Field: "name"}}, "id DESC", "ORDER BY display_name, id DESC"},
		{"no tiebreak", []query.Order{{Field: "kind", Desc: true}}, "", "ORDER BY kind DESC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			querytest.WantOrderBy(t, schema, tc.orders, tc.tiebreak, tc.want)
		})
	}
}

func TestOrderByErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect query.Dialect
		orders  []query.Order
		want    string
	}{
		{"unknown field", query.Postgres, []query.Order{{Field: "id; DROP TABLE x"}}, "unknown field"},
		{"field twice", query.SQLite, []query.Order{{Field: "name"}, {Field: "name", Desc: true}}, `"name" ordered twice`},
		{"zero dialect", query.Dialect(0), nil, "unknown dialect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.dialect.OrderBy(schema, tc.orders, "id")
			if err == nil {
				t.Fatalf("OrderBy = %q; want an error", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestSchemaValidate(t *testing.T) {
	if err := schema.Validate(); err != nil {
		t.Fatalf("Validate of the test schema: %v", err)
	}
	for _, tc := range []struct {
		name   string
		schema query.Schema
		want   string
	}{
		{"no name", query.Schema{{Kind: query.String, Column: "c"}}, "has no name"},
		{"twice", query.Schema{{Name: "a", Kind: query.String, Column: "c"}, {Name: "a", Kind: query.Int, Column: "d"}}, "declared twice"},
		{"zero kind", query.Schema{{Name: "a", Column: "c"}}, "invalid kind"},
		{"enum without values", query.Schema{{Name: "a", Kind: query.Enum, Column: "c"}}, "lists no values"},
		{"values on a string", query.Schema{{Name: "a", Kind: query.String, Enum: []string{"X"}, Column: "c"}}, "lists enum values"},
		{"empty enum value", query.Schema{{Name: "a", Kind: query.Enum, Enum: []string{"X", ""}, Column: "c"}}, "empty value"},
		{"path of ints", query.Schema{{Name: "a", Kind: query.Int, Column: "c", Path: true}}, `path field "a" is of kind int`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.schema.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A field without a column passes Validate (a domain declares none) but
// cannot be compiled until a store gives it one.
func TestNoColumn(t *testing.T) {
	bare := query.Schema{{Name: "a", Kind: query.Int}}
	if err := bare.Validate(); err != nil {
		t.Fatalf("Validate of a schema without columns: %v", err)
	}
	for _, d := range []query.Dialect{query.SQLite, query.Postgres} {
		if sql, _, err := d.Where(bare, query.Compare{Field: "a", Op: query.Eq, Value: 1}, 0); err == nil || !strings.Contains(err.Error(), `field "a" has no column`) {
			t.Errorf("%v: Where = %q, %v; want an error saying a has no column", d, sql, err)
		}
		if sql, err := d.OrderBy(bare, []query.Order{{Field: "a"}}, ""); err == nil || !strings.Contains(err.Error(), `field "a" has no column`) {
			t.Errorf("%v: OrderBy = %q, %v; want an error saying a has no column", d, sql, err)
		}
	}
}

func TestWithColumns(t *testing.T) {
	bare := query.Schema{{Name: "a", Kind: query.Int}, {Name: "b", Kind: query.String, Column: "kept"}}
	got, err := bare.WithColumns(map[string]string{"a": "col_a"})
	if err != nil {
		t.Fatalf("WithColumns: %v", err)
	}
	if got[0].Column != "col_a" || got[1].Column != "kept" {
		t.Errorf("WithColumns = %+v; want a→col_a, b kept", got)
	}
	if bare[0].Column != "" {
		t.Errorf("WithColumns changed its receiver: %+v", bare)
	}
	sql, args, err := query.Postgres.Where(got, query.Compare{Field: "a", Op: query.Eq, Value: 1}, 0)
	if err != nil || sql != "col_a = $1" || len(args) != 1 {
		t.Errorf("Where on the mapped schema = %q, %v, %v; want col_a = $1", sql, args, err)
	}
	for _, tc := range []struct {
		name    string
		columns map[string]string
		want    string
	}{
		{"unknown field", map[string]string{"a": "c", "zz": "c"}, `unknown field "zz"`},
		{"field left without column", map[string]string{"b": "c"}, `field "a" has no column`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bare.WithColumns(tc.columns); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WithColumns = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
