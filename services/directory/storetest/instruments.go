package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/trail"
)

// profiles are two instrument profiles, the second ranked better, with
// every field set on the first.
func profiles() []directory.Instrument {
	return []directory.Instrument{
		{LegalBasis: directory.MinskConvention1993, DisplayName: "Minsk 1993", RequiredFields: []string{"facts_summary", "offence.statute_text"},
			RefusalGrounds: []string{"ESSENTIAL_INTERESTS"}, AcknowledgeWithin: 48 * time.Hour, AnswerWithin: 30 * 24 * time.Hour,
			Languages: []string{"ru"}, LanguageRule: "Art 17", Rank: 5, Source: "CIS register"},
		{LegalBasis: directory.UNTOC2000, DisplayName: "UNTOC", Rank: 2, Source: "UNTC"},
	}
}

// entries are instrument entries with every field set.
func entries(source string) []directory.StateInstrument {
	return []directory.StateInstrument{
		{LegalBasis: directory.BudapestConvention, Status: directory.InForce, InForceSince: "2020-01-01",
			Reservations: []directory.Reservation{{Article: "29(4)", Text: "dual criminality for preservation"}},
			Authorities:  []directory.DesignatedAuthority{{Stage: directory.StagePreservation, Agency: "kz-247"}},
			Source:       source, Confirmed: true},
		{LegalBasis: directory.UNTOC2000, Status: directory.Unknown, Source: source},
	}
}

// testInstruments: SeedInstruments loads the profiles and the entries of
// states that never had any, once, and overwrites nothing an administrator
// set: neither entries edited (even to none) nor a stored profile. What is
// stored reads back whole; a state given entries gets a new version.
func testInstruments(t *testing.T, newStore func(t *testing.T) Store) {
	s := seeded(t, newStore)
	ctx := t.Context()
	if got, err := s.ListInstruments(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListInstruments before seeding = %v, %v; want none", got, err)
	}
	if kz := getState(t, s, "KZ"); kz.Instruments != nil {
		t.Fatalf("KZ before seeding has instruments %+v", kz.Instruments)
	}
	before := getState(t, s, "KG")
	n, err := s.SeedInstruments(ctx, profiles(), map[string][]directory.StateInstrument{
		"KZ": entries("seed"), "KG": entries("seed"), "XX": entries("seed"), "TJ": nil,
	})
	if err != nil || n != 2 {
		t.Fatalf("SeedInstruments = %d, %v; want 2 states (XX is unknown, TJ given none)", n, err)
	}
	got, err := s.ListInstruments(ctx)
	want := profiles()
	want[0], want[1] = want[1], want[0] // best rank first
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListInstruments = %+v, %v\nwant %+v", got, err, want)
	}
	kg := getState(t, s, "KG")
	if !reflect.DeepEqual(kg.Instruments, entries("seed")) {
		t.Errorf("KG instruments = %+v\nwant %+v", kg.Instruments, entries("seed"))
	}
	if kg.Version != before.Version+1 {
		t.Errorf("KG version %d after its instruments were seeded, want %d", kg.Version, before.Version+1)
	}
	if tj := getState(t, s, "TJ"); tj.Instruments != nil {
		t.Errorf("TJ has instruments %+v, given none", tj.Instruments)
	}

	// An administrator edits KZ's entries, and clears KG's.
	edited := entries("the administrator")
	for code, list := range map[string][]directory.StateInstrument{"KZ": edited, "KG": {}} {
		if _, err := s.UpdateState(ctx, code, func(st *directory.State) (trail.Event, error) {
			st.Instruments = list
			return newEvent("states/"+code, code), nil
		}); err != nil {
			t.Fatalf("UpdateState(%s): %v", code, err)
		}
	}
	changed := profiles()
	changed[0].DisplayName = "changed"
	n, err = s.SeedInstruments(ctx, changed, map[string][]directory.StateInstrument{
		"KZ": entries("seed"), "KG": entries("seed"), "UZ": entries("seed"),
	})
	if err != nil || n != 1 {
		t.Fatalf("SeedInstruments again = %d, %v; want 1 (UZ only)", n, err)
	}
	if kz := getState(t, s, "KZ"); !reflect.DeepEqual(kz.Instruments, edited) {
		t.Errorf("KZ instruments after a second seed = %+v\nwant the administrator's %+v", kz.Instruments, edited)
	}
	if kg := getState(t, s, "KG"); kg.Instruments != nil {
		t.Errorf("KG instruments after a second seed = %+v; the administrator cleared them", kg.Instruments)
	}
	if got, _ := s.ListInstruments(ctx); len(got) != 2 || got[1].DisplayName != "Minsk 1993" {
		t.Errorf("a stored profile was overwritten: %+v", got)
	}
}
