package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/witness/witness"

	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/witness/store"
)

const origin = "example.com/log"

// checkpoint is a checkpoint of origin and size as the store is handed it
// (the signature lines are the library's business, not the store's).
func checkpoint(origin string, size uint64) []byte {
	h := sha256.Sum256([]byte(strconv.FormatUint(size, 10)))
	return fmt.Appendf(nil, "%s\n%d\n%s\n\n— witness AAAA\n", origin, size, base64.StdEncoding.EncodeToString(h[:]))
}

// sizeOf reads the size line of a checkpoint; nil is size 0.
func sizeOf(cp []byte) uint64 {
	if cp == nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.SplitN(string(cp), "\n", 3)[1], 10, 64)
	return n
}

func TestStore(t *testing.T) {
	for _, e := range sqldbtest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Run("update and latest", func(t *testing.T) { testUpdate(t, sqldbtest.New(t, store.New, e.Open(t))) })
			t.Run("concurrent updates", func(t *testing.T) { testConcurrent(t, sqldbtest.New(t, store.New, e.Open(t))) })
			t.Run("same previous state", func(t *testing.T) { testSamePrevious(t, sqldbtest.New(t, store.New, e.Open(t))) })
		})
	}
}

func testUpdate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if cp, err := s.Latest(ctx, origin); err != nil || cp != nil {
		t.Fatalf("Latest of a new store = %q, %v; want nil, nil", cp, err)
	}
	// A refused update stores nothing, not even the row that locks the
	// origin, and its error is the one f returned.
	err := s.Update(ctx, origin, func(prev []byte) ([]byte, error) { return nil, witness.ErrCheckpointStale })
	if !errors.Is(err, witness.ErrCheckpointStale) {
		t.Fatalf("Update returning ErrCheckpointStale = %v; want it wrapped", err)
	}
	if cp, err := s.Latest(ctx, origin); err != nil || cp != nil {
		t.Fatalf("Latest after a refused update = %q, %v; want nil, nil", cp, err)
	}
	// Nor does an update whose result is not a checkpoint of the origin.
	for _, bad := range [][]byte{[]byte("foo\ncp"), checkpoint("other.example/log", 3), nil} {
		if err := s.Update(ctx, origin, func([]byte) ([]byte, error) { return bad, nil }); err == nil {
			t.Errorf("Update storing %q succeeded; want an error", bad)
		}
	}
	for size := uint64(1); size <= 3; size++ {
		var seen []byte
		if err := s.Update(ctx, origin, func(prev []byte) ([]byte, error) {
			seen = prev
			return checkpoint(origin, size), nil
		}); err != nil {
			t.Fatalf("Update to size %d: %v", size, err)
		}
		if size > 1 && !bytes.Equal(seen, checkpoint(origin, size-1)) {
			t.Errorf("Update to size %d saw %q; want the checkpoint of size %d", size, seen, size-1)
		}
		if cp, err := s.Latest(ctx, origin); err != nil || !bytes.Equal(cp, checkpoint(origin, size)) {
			t.Fatalf("Latest after size %d = %q, %v", size, cp, err)
		}
	}
	if cp, err := s.Latest(ctx, "other.example/log"); err != nil || cp != nil {
		t.Errorf("Latest of another origin = %q, %v; want nil, nil", cp, err)
	}

	// The history, newest first, paged.
	page, err := s.History(ctx, origin, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Size != 3 || page[1].Size != 2 {
		t.Fatalf("History first page = %+v; want sizes 3, 2", page)
	}
	h := sha256.Sum256([]byte("3"))
	if !bytes.Equal(page[0].RootHash, h[:]) || !bytes.Equal(page[0].Checkpoint, checkpoint(origin, 3)) ||
		page[0].Origin != origin || page[0].Time.IsZero() {
		t.Errorf("History entry = %+v; want the checkpoint of size 3 with its root hash and a time", page[0])
	}
	rest, err := s.History(ctx, origin, page[1].Seq, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].Size != 1 {
		t.Fatalf("History second page = %+v; want size 1 only", rest)
	}
}

// testConcurrent runs updates that each add one to the stored size at once:
// if two read the same previous state, one increment is lost.
func testConcurrent(t *testing.T, s *store.Store) {
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := s.Update(t.Context(), origin, func(prev []byte) ([]byte, error) {
				return checkpoint(origin, sizeOf(prev)+1), nil
			}); err != nil {
				t.Errorf("Update: %v", err)
			}
		})
	}
	wg.Wait()
	cp, err := s.Latest(t.Context(), origin)
	if err != nil {
		t.Fatal(err)
	}
	if got := sizeOf(cp); got != n {
		t.Errorf("after %d concurrent increments the size is %d: updates read the same previous state", n, got)
	}
	hist, err := s.History(t.Context(), origin, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range hist {
		if want := uint64(n - i); c.Size != want {
			t.Errorf("history[%d] has size %d, want %d", i, c.Size, want)
		}
	}
}

// testSamePrevious runs updates that each succeed only from the state they
// all read first: exactly one may.
func testSamePrevious(t *testing.T, s *store.Store) {
	for _, start := range []struct {
		name string
		prev []byte
	}{{"first checkpoint", nil}, {"later checkpoint", checkpoint(origin, 1)}} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 8 {
			wg.Go(func() {
				err := s.Update(t.Context(), origin, func(prev []byte) ([]byte, error) {
					if !bytes.Equal(prev, start.prev) {
						return nil, witness.ErrCheckpointStale
					}
					return checkpoint(origin, sizeOf(start.prev)+uint64(i)+1), nil
				})
				switch {
				case err == nil:
					mu.Lock()
					won++
					mu.Unlock()
				case !errors.Is(err, witness.ErrCheckpointStale):
					t.Errorf("Update: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%s: %d concurrent updates from the same previous state succeeded; want 1", start.name, won)
		}
		// Bring the state to the next round's start.
		if err := s.Update(t.Context(), origin, func([]byte) ([]byte, error) { return checkpoint(origin, 1), nil }); err != nil {
			t.Fatal(err)
		}
	}
}
