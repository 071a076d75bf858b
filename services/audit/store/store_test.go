package store_test

import (
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/store"
	"github.com/comity-mla/comity/services/audit/storetest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Index {
		return newStore(t, sqldbtest.SQLite(t))
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Index {
		return newStore(t, sqldbtest.Postgres(t))
	})
}

func newStore(t *testing.T, db *sqldb.DB) *store.Store {
	t.Helper()
	return sqldbtest.New(t, store.New, db)
}
