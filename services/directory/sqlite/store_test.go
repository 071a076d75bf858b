package sqlite_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/sqlite"
	"github.com/comity-mla/comity/services/directory/storetest"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlite.New(t.Context(), db)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

// TestSeedAcrossProcesses seeds one file through separate sqlitedb.DBs, as
// two processes would: their write pools do not queue behind each other, so
// only SQLite's lock (BEGIN IMMEDIATE and busy_timeout) keeps them apart.
func TestSeedAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	const n = 4
	stores := make([]*sqlite.Store, n)
	for i := range stores {
		stores[i] = open(t, path)
	}
	states := []directory.State{{Code: "KZ"}, {Code: "UZ"}}
	agencies := []directory.Agency{{ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority}}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		seeded int
	)
	for _, s := range stores {
		wg.Go(func() {
			ok, err := s.Seed(t.Context(), states, agencies)
			if err != nil {
				t.Errorf("Seed: %v", err)
			}
			if ok {
				mu.Lock()
				seeded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if seeded != 1 {
		t.Errorf("%d of %d stores on one file seeded it; want 1", seeded, n)
	}
	got, err := stores[n-1].ListStates(t.Context())
	if err != nil || len(got) != len(states) {
		t.Errorf("ListStates = %d states, %v; want %d", len(got), err, len(states))
	}
}
