package aip_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"reflect"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/query/aip"
)

// row is one agency of the test table.
type row struct {
	id       int64
	name     string
	kind     string
	archived bool
	priority int64
	created  time.Time
	country  string
}

var rows = []row{
	{1, "Alpha", "CENTRAL_AUTHORITY", false, 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "KZ"},
	{2, "beta", "PROSECUTOR", true, 5, time.Date(2026, 3, 15, 12, 30, 0, 500_000_000, time.UTC), "KZ"},
	{3, "Gamma", "COURT", false, -2, time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), "UZ"},
	{4, "alpha", "PROSECUTOR", false, 3, time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC), "UZ"},
	{5, "O'Brien'); DROP TABLE agencies; --", "COURT", true, 10, time.Date(2027, 6, 1, 8, 0, 0, 0, time.FixedZone("+02", 7200)), "KZ"},
}

// dbCases are filters and orderings with the ids they select, in order. The
// query always ends with the tiebreak "id".
var dbCases = []struct {
	name    string
	filter  string
	orderBy string
	want    []int64
}{
	{"everything", "", "", []int64{1, 2, 3, 4, 5}},
	{"exact string", `name = "alpha"`, "", []int64{4}},
	{"string not equal", `name != "alpha"`, "", []int64{1, 2, 3, 5}},
	{"SQL in a value", `name = "O'Brien'); DROP TABLE agencies; --"`, "", []int64{5}},
	{"bare enum", `kind = PROSECUTOR`, "", []int64{2, 4}},
	{"quoted enum and bool", `kind != "COURT" AND archived = false`, "", []int64{1, 4}},
	{"bool true", `archived = true`, "", []int64{2, 5}},
	{"bool not true", `archived != true`, "", []int64{1, 3, 4}},
	{"int range", `priority >= 3`, "", []int64{2, 4, 5}},
	{"negative int", `priority < 0`, "", []int64{3}},
	{"after a timestamp, to the microsecond", `createTime > "2026-01-01T00:00:00Z"`, "", []int64{2, 4, 5}},
	{"timestamp function", `createTime <= timestamp("2026-01-01T00:00:00Z")`, "", []int64{1, 3}},
	{"timestamp equality", `createTime = "2026-01-01T00:00:00Z"`, "", []int64{1}},
	{"timestamp in another zone", `createTime >= "2026-01-01T05:00:00+05:00"`, "", []int64{1, 2, 4, 5}},
	{"fractional seconds", `createTime < "2026-03-15T12:30:00.6Z" AND createTime > "2026-03-15T12:30:00.4Z"`, "", []int64{2}},
	{"dotted field OR", `sender.country = "UZ" OR priority = 10`, "", []int64{3, 4, 5}},
	{"NOT a group", `NOT (kind = COURT OR archived = true)`, "", []int64{1, 4}},
	{"minus", `-kind = COURT`, "", []int64{1, 2, 4}},
	{"OR binds tighter than AND", `priority = 1 AND archived = false OR kind = COURT`, "", []int64{1}},
	{"order desc", "", "priority desc", []int64{5, 2, 4, 1, 3}},
	{"order by two fields", "", "kind, createTime desc", []int64{1, 5, 3, 2, 4}},
	{"order by bool then int", "", "archived, priority", []int64{3, 1, 4, 2, 5}},
	{"filter and order", `sender.country = "KZ"`, "createTime desc", []int64{5, 2, 1}},
}

// runDB creates the test table through db, inserts rows, and runs dbCases.
// table is the table's (qualified) name and ddl its column types.
func runDB(t *testing.T, db *sql.DB, d query.Dialect, table, ddl string) {
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" "+ddl); err != nil {
		t.Fatalf("create table: %v", err)
	}
	insert := "INSERT INTO " + table + " VALUES (?, ?, ?, ?, ?, ?, ?)"
	if d == query.Postgres {
		insert = "INSERT INTO " + table + " VALUES ($1, $2, $3, $4, $5, $6, $7)"
	}
	for _, r := range rows {
		// The stores write timestamps as UTC time.Time, as Where binds them.
		if _, err := db.ExecContext(ctx, insert, r.id, r.name, r.kind, r.archived, r.priority, r.created.UTC(), r.country); err != nil {
			t.Fatalf("insert %d: %v", r.id, err)
		}
	}
	for _, tc := range dbCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := aip.ParseFilter(tc.filter, schema)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
			}
			orders, err := aip.ParseOrderBy(tc.orderBy, schema)
			if err != nil {
				t.Fatalf("ParseOrderBy(%q): %v", tc.orderBy, err)
			}
			// One argument of the caller's comes first, to exercise argOffset.
			where, args, err := d.Where(schema, e, 1)
			if err != nil {
				t.Fatalf("Where: %v", err)
			}
			order, err := d.OrderBy(schema, orders, "id")
			if err != nil {
				t.Fatalf("OrderBy: %v", err)
			}
			first := "id > ?"
			if d == query.Postgres {
				first = "id > $1"
			}
			q := "SELECT id FROM " + table + " WHERE " + first + " AND " + where + " " + order
			got := selectIDs(t, db, q, append([]any{int64(0)}, args...)...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s\nargs %v\nselected %v, want %v", q, args, got, tc.want)
			}
		})
	}
	if got := selectIDs(t, db, "SELECT id FROM "+table+" ORDER BY id"); len(got) != len(rows) {
		t.Errorf("after the queries the table holds ids %v, want %d rows", got, len(rows))
	}
}

func selectIDs(t *testing.T, db *sql.DB, q string, args ...any) []int64 {
	t.Helper()
	rs, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	var ids []int64
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			t.Fatalf("scan: %v", err)
		}
		ids = append(ids, id)
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return ids
}

func TestSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // one in-memory database
	runDB(t, db, query.SQLite, "agencies", `(
		id INTEGER PRIMARY KEY,
		display_name TEXT NOT NULL,
		kind TEXT NOT NULL,
		archived INTEGER NOT NULL,
		priority INTEGER NOT NULL,
		create_time TIMESTAMP NOT NULL,
		sender_country TEXT NOT NULL)`)

	// What the comparisons above rely on: the driver stores a Go bool as the
	// integer 1 or 0, and a time.Time as text, the same way whether it is
	// inserted or bound as a filter argument.
	var typ string
	var archived int64
	if err := db.QueryRow("SELECT typeof(archived), archived FROM agencies WHERE id = 2").Scan(&typ, &archived); err != nil {
		t.Fatal(err)
	}
	if typ != "integer" || archived != 1 {
		t.Errorf("archived of row 2 is %s %d, want integer 1", typ, archived)
	}
	if err := db.QueryRow("SELECT typeof(create_time) FROM agencies WHERE id = 2").Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "text" {
		t.Errorf("create_time is stored as %s, want text", typ)
	}
}

func TestPostgres(t *testing.T) {
	url := os.Getenv("COMITY_TEST_POSTGRES")
	if url == "" {
		if os.Getenv("COMITY_TEST_POSTGRES_REQUIRED") == "1" {
			t.Fatal("COMITY_TEST_POSTGRES_REQUIRED=1 but COMITY_TEST_POSTGRES is not set")
		}
		t.Skip("COMITY_TEST_POSTGRES is not set; skipping the PostgreSQL check")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	s := "query_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + s); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + s + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", s, err)
		}
	})
	runDB(t, db, query.Postgres, s+".agencies", `(
		id BIGINT PRIMARY KEY,
		display_name TEXT NOT NULL,
		kind TEXT NOT NULL,
		archived BOOLEAN NOT NULL,
		priority BIGINT NOT NULL,
		create_time TIMESTAMPTZ NOT NULL,
		sender_country TEXT NOT NULL)`)
}
