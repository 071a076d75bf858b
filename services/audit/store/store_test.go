package store_test

import (
	"path/filepath"
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/store"
	"github.com/comity-mla/comity/services/audit/storetest"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Index {
		db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return newStore(t, sqldb.FromSQLite(db))
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Index {
		pool, err := pgdb.Open(t.Context(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(pool.Close)
		return newStore(t, sqldb.FromPostgres(pool))
	})
}

func newStore(t *testing.T, db *sqldb.DB) *store.Store {
	s, err := store.New(t.Context(), db)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}
