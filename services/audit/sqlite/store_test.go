package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/sqlite"
	"github.com/comity-mla/comity/services/audit/storetest"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) audit.Index {
		db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlite.New(t.Context(), db)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}
