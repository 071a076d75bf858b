package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/sqlite"
	"github.com/comity-mla/comity/services/request/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) request.Store {
		db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "requests.db"))
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
