package postgres_test

import (
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/postgres"
	"github.com/comity-mla/comity/services/audit/storetest"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Index {
		pool, err := pgdb.Open(t.Context(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(pool.Close)
		s, err := postgres.New(t.Context(), pool)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}
