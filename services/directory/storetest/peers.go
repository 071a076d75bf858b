package storetest

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/trail"
)

// stateAgenciesOf returns the agencies of state in all, but the one with id
// except, ordered by id (as ListAgencies returns them).
func stateAgenciesOf(all []directory.Agency, state, except string) []directory.Agency {
	var out []directory.Agency
	for _, a := range all {
		if a.State == state && a.ID != except {
			out = append(out, a)
		}
	}
	return out
}

// testUpdateAgencyPeers checks that UpdateAgency gives fn the other
// agencies of the agency's state, as stored, inactive ones included, and no
// agency of another state: the directory's rules decide from them whether a
// change would leave a state with no agency where a role counts.
func testUpdateAgencyPeers(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	all := allAgencies(t, s)
	for _, id := range []string{"kz-oversight", "kg-gpo"} {
		var got []directory.Agency
		_, err := s.UpdateAgency(ctx, id, func(a *directory.Agency, peers []directory.Agency) (trail.Event, error) {
			got = peers
			return trail.Event{}, errs.New(errs.FailedPrecondition, "look only")
		})
		check.Code(t, "UpdateAgency refused by fn", err, errs.ErrFailedPrecondition)
		a := getAgency(t, s, id)
		check.Equal(t, "peers of "+id, got, stateAgenciesOf(all, a.State, id))
	}
}

// testImportKeepAgencies checks the keepAgencies hook of Import: called once
// with every stored agency of the imported agencies' states (and no other
// state's); what it changes is stored; a change of an agency's id or state
// is refused and nothing is stored.
func testImportKeepAgencies(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	all := allAgencies(t, s)
	oversight := getAgency(t, s, "kz-oversight")
	imported := oversight
	imported.Kind, imported.Active = directory.LawEnforcement, false
	calls := 0
	var seen []directory.Agency
	err := s.Import(ctx, nil, []directory.Agency{imported}, nil, func(stored, agencies []directory.Agency) {
		calls++
		seen = slices.Clone(stored)
		agencies[0].Kind, agencies[0].Active = directory.Oversight, true
	})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if calls != 1 {
		t.Errorf("keepAgencies called %d times; want once", calls)
	}
	check.Equal(t, "stored agencies keepAgencies was called with", seen, stateAgenciesOf(all, "KZ", ""))
	got := getAgency(t, s, "kz-oversight")
	if got.Kind != directory.Oversight || !got.Active || got.Version != oversight.Version+1 {
		t.Errorf("kz-oversight after Import: kind %s, active %t, version %d; want what keepAgencies kept (OVERSIGHT, active), version %d",
			got.Kind, got.Active, got.Version, oversight.Version+1)
	}

	before := allAgencies(t, s)
	for name, change := range map[string]func(*directory.Agency){
		"id":    func(a *directory.Agency) { a.ID = "kz-other" },
		"state": func(a *directory.Agency) { a.State = "UZ" },
	} {
		err := s.Import(ctx, nil, []directory.Agency{imported}, nil, func(_, agencies []directory.Agency) { change(&agencies[0]) })
		check.Code(t, "Import whose keepAgencies changes the "+name, err, errs.ErrInvalid)
		check.Equal(t, "agencies after a refused Import", allAgencies(t, s), before)
	}
}

// testUpdateAgencyPeersSerialised checks that updates of different agencies
// of one state take turns, so that what fn saw of the peers is still true
// when its change is written: each active KZ agency at once deactivates
// itself only if all its peers are active. Exactly one may succeed; two
// would mean a rule looking at the whole state (the last agency where a role
// counts) could be beaten by two administrators acting together.
func testUpdateAgencyPeersSerialised(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	var ids []string
	for _, a := range stateAgenciesOf(allAgencies(t, s), "KZ", "") {
		if a.Active {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) < 2 {
		t.Fatalf("the fixtures have %d active KZ agencies; the test needs two or more", len(ids))
	}
	var (
		wg                 sync.WaitGroup
		succeeded, arrived atomic.Int32
		all                = make(chan struct{})
	)
	for _, id := range ids {
		wg.Go(func() {
			_, err := s.UpdateAgency(ctx, id, func(a *directory.Agency, peers []directory.Agency) (trail.Event, error) {
				if slices.ContainsFunc(peers, func(p directory.Agency) bool { return !p.Active }) {
					return trail.Event{}, errs.New(errs.FailedPrecondition, "a peer is inactive")
				}
				// Wait until every update has read its peers, or a while:
				// a store that serialises them lets only one in at a time
				// (and this wait then only slows the test), while one that
				// does not lets them all read the same peers, so that the
				// check below cannot pass by luck.
				if arrived.Add(1) == int32(len(ids)) {
					close(all)
				}
				select {
				case <-all:
				case <-time.After(200 * time.Millisecond):
				}
				a.Active = false
				return newEvent("agencies/"+id, a.State), nil
			})
			switch {
			case err == nil:
				succeeded.Add(1)
			case !errors.Is(err, errs.ErrFailedPrecondition):
				t.Errorf("UpdateAgency %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if n := succeeded.Load(); n != 1 {
		t.Errorf("%d of %d concurrent updates each saw every peer active and wrote; want exactly 1", n, len(ids))
	}
	inactive := 0
	for _, a := range stateAgenciesOf(allAgencies(t, s), "KZ", "") {
		if slices.Contains(ids, a.ID) && !a.Active {
			inactive++
		}
	}
	if inactive != 1 {
		t.Errorf("%d KZ agencies inactive after the race; want 1", inactive)
	}
}
