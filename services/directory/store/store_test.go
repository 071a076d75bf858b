package store_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/store"
	"github.com/comity-mla/comity/services/directory/storetest"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
)

func openSQLite(t *testing.T, path string) *store.Store {
	t.Helper()
	return newStore(t, sqldbtest.SQLiteAt(t, path))
}

// openPostgres opens a store of its own on the database at url, as a
// replica would. It reports failures with Errorf, so that goroutines may
// call it, and returns nil then.
func openPostgres(t *testing.T, url string) *store.Store {
	pool, err := pgdb.Open(t.Context(), url)
	if err != nil {
		t.Errorf("open: %v", err)
		return nil
	}
	t.Cleanup(pool.Close)
	s, err := store.New(t.Context(), sqldb.FromPostgres(pool))
	if err != nil {
		t.Errorf("New: %v", err)
		return nil
	}
	return s
}

func newStore(t *testing.T, db *sqldb.DB) *store.Store {
	t.Helper()
	return sqldbtest.New(t, store.New, db)
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := openPostgres(t, pgtest.NewDatabase(t))
		if s == nil {
			t.FailNow()
		}
		return s
	})
}

// TestSeedAcrossProcesses seeds one file through separate sqlitedb.DBs, as
// two processes would: their write pools do not queue behind each other, so
// only SQLite's lock (BEGIN IMMEDIATE and busy_timeout) keeps them apart.
func TestSeedAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	const n = 4
	stores := make(chan *store.Store, n)
	for range n {
		stores <- openSQLite(t, path)
	}
	seedTogether(t, n, func() *store.Store { return <-stores })
}

// TestReplicasStartTogether starts several replicas on one empty PostgreSQL
// database at once: each migrates and seeds it, and the database ends up
// migrated and seeded exactly once.
func TestReplicasStartTogether(t *testing.T) {
	url := pgtest.NewDatabase(t)
	seedTogether(t, 4, func() *store.Store { return openPostgres(t, url) })
}

// seedTogether gets n stores from open, at once, seeds through each at
// once, and checks that exactly one of them seeded.
func seedTogether(t *testing.T, n int, open func() *store.Store) {
	states := []directory.State{{Code: "KZ"}, {Code: "UZ"}}
	agencies := []directory.Agency{{ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority}}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		seeded int
		last   *store.Store
	)
	for range n {
		wg.Go(func() {
			s := open()
			if s == nil {
				return
			}
			ok, err := s.Seed(t.Context(), states, agencies)
			if err != nil {
				t.Errorf("Seed: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				seeded++
			}
			last = s
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if seeded != 1 {
		t.Errorf("%d of %d stores on one database seeded it; want 1", seeded, n)
	}
	got, err := last.ListStates(t.Context())
	if err != nil || len(got) != len(states) {
		t.Errorf("ListStates = %d states, %v; want %d", len(got), err, len(states))
	}
}
