package storetest

import (
	"slices"
	"testing"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
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
		_, err := s.UpdateAgency(ctx, id, func(a *directory.Agency, peers []directory.Agency) (audit.Event, error) {
			got = peers
			return audit.Event{}, errs.New(errs.FailedPrecondition, "look only")
		})
		checkCode(t, "UpdateAgency refused by fn", err, errs.ErrFailedPrecondition)
		a, err := s.GetAgency(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, "peers of "+id, got, stateAgenciesOf(all, a.State, id))
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
	oversight, err := s.GetAgency(ctx, "kz-oversight")
	if err != nil {
		t.Fatal(err)
	}
	imported := oversight
	imported.Kind, imported.Active = directory.LawEnforcement, false
	calls := 0
	var seen []directory.Agency
	err = s.Import(ctx, nil, []directory.Agency{imported}, nil, func(stored, agencies []directory.Agency) {
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
	checkEqual(t, "stored agencies keepAgencies was called with", seen, stateAgenciesOf(all, "KZ", ""))
	got, err := s.GetAgency(ctx, "kz-oversight")
	if err != nil {
		t.Fatal(err)
	}
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
		checkCode(t, "Import whose keepAgencies changes the "+name, err, errs.ErrInvalid)
		checkEqual(t, "agencies after a refused Import", allAgencies(t, s), before)
	}
}
