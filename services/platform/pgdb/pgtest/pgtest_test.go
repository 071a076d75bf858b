package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

// TestNewDatabase checks that each test gets an empty database of its own,
// and that it is gone after the test.
func TestNewDatabase(t *testing.T) {
	var urls [2]string
	for i := range urls {
		t.Run("db", func(t *testing.T) {
			urls[i] = pgtest.NewDatabase(t)
			conn, err := pgx.Connect(t.Context(), urls[i])
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer conn.Close(context.Background())
			var tables int
			if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Errorf("new database has %d tables; want 0", tables)
			}
			if _, err := conn.Exec(t.Context(), `CREATE TABLE t (x int)`); err != nil {
				t.Fatal(err)
			}
		})
	}
	if t.Skipped() || urls[0] == "" || urls[1] == "" {
		return
	}
	if urls[0] == urls[1] {
		t.Fatalf("two tests got the same database %s", urls[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, urls[0]); err == nil {
		conn.Close(ctx)
		t.Errorf("database %s still exists after its test", urls[0])
	}
}
