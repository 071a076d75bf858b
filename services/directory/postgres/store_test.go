package postgres_test

import (
	"sync"
	"testing"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/postgres"
	"github.com/comity-mla/comity/services/directory/storetest"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
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

// TestReplicasStartTogether starts several replicas on one empty database at
// once: each migrates and seeds it, and the database ends up migrated and
// seeded exactly once.
func TestReplicasStartTogether(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	states := []directory.State{{Code: "KZ"}, {Code: "UZ"}}
	agencies := []directory.Agency{{ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority}}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		seeded int
		last   *postgres.Store
	)
	for range n {
		wg.Go(func() {
			pool, err := pgdb.Open(t.Context(), url)
			if err != nil {
				t.Errorf("open: %v", err)
				return
			}
			t.Cleanup(pool.Close)
			s, err := postgres.New(t.Context(), pool)
			if err != nil {
				t.Errorf("New: %v", err)
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
		t.Errorf("%d of %d replicas seeded the database; want 1", seeded, n)
	}
	got, err := last.ListStates(t.Context())
	if err != nil || len(got) != len(states) {
		t.Errorf("ListStates = %d states, %v; want %d", len(got), err, len(states))
	}
}
