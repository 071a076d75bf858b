package directory_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
)

// TestApplicable: an instrument recorded not in force for either state is
// left out; those in force for both come first, then those with an unknown
// status, each group by rank; an entry unconfirmed or unknown on either
// side is flagged.
func TestApplicable(t *testing.T) {
	profiles := []directory.Instrument{
		{LegalBasis: directory.CISITCrimeAgreement2018, Rank: 1},
		{LegalBasis: directory.BudapestConvention, Rank: 2},
		{LegalBasis: directory.ChisinauConvention2002, Rank: 4},
		{LegalBasis: directory.MinskConvention1993, Rank: 5},
		{LegalBasis: directory.UNTOC2000, Rank: 6},
	}
	entry := func(b string, s directory.InstrumentStatus, confirmed bool) directory.StateInstrument {
		return directory.StateInstrument{LegalBasis: b, Status: s, Source: "test", Confirmed: confirmed}
	}
	kz := directory.State{Code: "KZ", Instruments: []directory.StateInstrument{
		entry(directory.CISITCrimeAgreement2018, directory.InForce, true),
		entry(directory.BudapestConvention, directory.NotInForce, true),
		entry(directory.ChisinauConvention2002, directory.InForce, true),
		entry(directory.MinskConvention1993, directory.InForce, true),
		entry(directory.UNTOC2000, directory.InForce, true),
	}}
	uz := directory.State{Code: "UZ", Instruments: []directory.StateInstrument{
		entry(directory.CISITCrimeAgreement2018, directory.Unknown, false),
		entry(directory.BudapestConvention, directory.Unknown, false),
		entry(directory.MinskConvention1993, directory.InForce, false),
		entry(directory.UNTOC2000, directory.InForce, true),
		// Chisinau: no entry, so unknown.
	}}
	got := directory.Applicable(profiles, kz, uz)
	type row struct {
		basis       string
		requested   directory.InstrumentStatus
		unconfirmed bool
	}
	var rows []row
	for _, a := range got {
		rows = append(rows, row{a.LegalBasis, a.RequestedStatus, a.Unconfirmed})
	}
	want := []row{
		{directory.MinskConvention1993, directory.InForce, true},
		{directory.UNTOC2000, directory.InForce, false},
		{directory.CISITCrimeAgreement2018, directory.Unknown, true},
		{directory.ChisinauConvention2002, directory.Unknown, true},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("Applicable(KZ, UZ) =\n%v\nwant\n%v", rows, want)
	}
}

// TestUpdateStateInstruments: a directory_admin of the state records its
// instruments; what is wrong is refused naming each field, a designated
// authority must be an agency of the state, and another state's
// administrator may not change them.
func TestUpdateStateInstruments(t *testing.T) {
	svc, _ := newService(t, time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC))
	ctx := t.Context()
	admin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}}
	good := []directory.StateInstrument{{LegalBasis: directory.BudapestConvention, Status: directory.InForce, InForceSince: "2026-01-01",
		Reservations: []directory.Reservation{{Article: "29(4)", Text: "Dual criminality may be required for preservation."}},
		Authorities:  []directory.DesignatedAuthority{{Stage: directory.StageContactPoint247, Agency: "kz-247"}},
		Source:       "Council of Europe Treaty Office", Confirmed: true}}
	st, err := svc.GetState(ctx, admin, "KZ")
	if err != nil {
		t.Fatal(err)
	}
	updated, err := svc.UpdateState(ctx, admin, "KZ", st.Etag(), directory.StateChange{Instruments: &good})
	if err != nil {
		t.Fatalf("UpdateState: %v", err)
	}
	if si, ok := updated.Instrument(directory.BudapestConvention); !ok || !si.HasReservation("29(4)") || si.Status != directory.InForce {
		t.Errorf("after the update: %+v", updated.Instruments)
	}

	tests := []struct {
		name   string
		list   []directory.StateInstrument
		fields []string
	}{
		{"unknown basis, bad status, date and source", []directory.StateInstrument{{LegalBasis: "HAGUE", Status: "MAYBE", InForceSince: "2026-13-01"}},
			[]string{"state.instruments[0].legal_basis", "state.instruments[0].status", "state.instruments[0].in_force_since", "state.instruments[0].source"}},
		{"reciprocity", []directory.StateInstrument{{LegalBasis: directory.Reciprocity, Status: directory.InForce, Source: "x"}},
			[]string{"state.instruments[0].legal_basis"}},
		{"twice", []directory.StateInstrument{{LegalBasis: directory.UNTOC2000, Status: directory.InForce, Source: "x"},
			{LegalBasis: directory.UNTOC2000, Status: directory.Unknown, Source: "x"}}, []string{"state.instruments[1].legal_basis"}},
		{"a date for an instrument not in force", []directory.StateInstrument{{LegalBasis: directory.UNTOC2000, Status: directory.Unknown, InForceSince: "2003-01-01", Source: "x"}},
			[]string{"state.instruments[0].in_force_since"}},
		{"reservation without article or text", []directory.StateInstrument{{LegalBasis: directory.BudapestConvention, Status: directory.InForce, Source: "x",
			Reservations: []directory.Reservation{{Article: "twenty-nine"}}}},
			[]string{"state.instruments[0].reservations[0].article", "state.instruments[0].reservations[0].text"}},
		{"another state's agency", []directory.StateInstrument{{LegalBasis: directory.UNTOC2000, Status: directory.InForce, Source: "x",
			Authorities: []directory.DesignatedAuthority{{Stage: directory.StageMutualAssistance, Agency: "uz-gpo"}}}},
			[]string{"state.instruments[0].authorities[0].agency"}},
		{"unknown stage", []directory.StateInstrument{{LegalBasis: directory.UNTOC2000, Status: directory.InForce, Source: "x",
			Authorities: []directory.DesignatedAuthority{{Stage: "EXTRADITION", Agency: "kz-gpo"}}}},
			[]string{"state.instruments[0].authorities[0].stage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.UpdateState(ctx, admin, "KZ", updated.Etag(), directory.StateChange{Instruments: &tc.list})
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid {
				t.Fatalf("UpdateState = %v; want invalid", err)
			}
			var fields []string
			for _, v := range e.Violations {
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("violations on %v, want %v (%v)", fields, tc.fields, err)
			}
		})
	}
	uzAdmin := admin
	uzAdmin.State, uzAdmin.Agency = "UZ", "uz-gpo"
	if _, err := svc.UpdateState(ctx, uzAdmin, "KZ", updated.Etag(), directory.StateChange{Instruments: &good}); !errors.Is(err, errs.ErrPermissionDenied) {
		t.Errorf("UZ admin changing KZ's instruments: %v; want permission denied", err)
	}
}

// TestResolveRouteLegalBasis: under a legal basis for which the state
// designated an authority for the request's stage, that agency receives
// the request; without one (no legal basis, no entry, no authority for the
// stage, an authority that does not receive the type) the usual rule
// applies. An unknown legal basis is refused naming the field.
func TestResolveRouteLegalBasis(t *testing.T) {
	store := openStore(t, sqldbtest.SQLite(t))
	ctx := t.Context()
	agency := func(id string, k directory.Kind, receives ...cooperation.RequestType) directory.Agency {
		return directory.Agency{ID: id, State: "KZ", Kind: k, DisplayNames: map[string]string{"en": id}, Active: true,
			Receives: receives, AcceptedLanguages: []string{"ru"}}
	}
	kz := directory.State{Code: "KZ", DisplayNames: map[string]string{"en": "KZ"}, AcceptedLanguages: []string{"ru"}, TimeZone: "Asia/Almaty",
		Instruments: []directory.StateInstrument{
			{LegalBasis: directory.UNTOC2000, Status: directory.InForce, Source: "x", Authorities: []directory.DesignatedAuthority{
				{Stage: directory.StageMutualAssistance, Agency: "kz-police-cyber"}, {Stage: directory.StagePreservation, Agency: "kz-police-cyber"}}},
			{LegalBasis: directory.BudapestConvention, Status: directory.InForce, Source: "x", Authorities: []directory.DesignatedAuthority{
				{Stage: directory.StageContactPoint247, Agency: "kz-police-cyber"}, {Stage: directory.StageMutualAssistance, Agency: "kz-oversight"}}},
		}}
	if _, err := store.Seed(ctx, []directory.State{kz}, []directory.Agency{
		agency("kz-gpo", directory.CentralAuthority, cooperation.RequestTypes...),
		agency("kz-247", directory.ContactPoint247, cooperation.DataPreservation),
		agency("kz-police-cyber", directory.LawEnforcement, cooperation.RequestTypes...),
		agency("kz-oversight", directory.Oversight),
	}); err != nil {
		t.Fatal(err)
	}
	svc := directory.NewService(store, nil)
	tests := []struct {
		name  string
		t     cooperation.RequestType
		p     cooperation.Priority
		basis string
		want  string
	}{
		{"no legal basis", cooperation.SubscriberInformation, cooperation.Routine, "", "kz-gpo"},
		{"designated for assistance", cooperation.SubscriberInformation, cooperation.Routine, directory.UNTOC2000, "kz-police-cyber"},
		{"designated for preservation", cooperation.DataPreservation, cooperation.Routine, directory.UNTOC2000, "kz-police-cyber"},
		{"urgent preservation, the instrument's 24/7 point", cooperation.DataPreservation, cooperation.Urgent, directory.BudapestConvention, "kz-police-cyber"},
		{"urgent preservation, no 24/7 point designated", cooperation.DataPreservation, cooperation.Urgent, directory.UNTOC2000, "kz-police-cyber"},
		{"no entry for the instrument", cooperation.SubscriberInformation, cooperation.Routine, directory.MinskConvention1993, "kz-gpo"},
		{"designated agency does not receive the type", cooperation.TrafficData, cooperation.Routine, directory.BudapestConvention, "kz-gpo"},
		{"bilateral treaty", cooperation.DataPreservation, cooperation.Urgent, directory.BilateralTreaty, "kz-247"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, why, err := svc.ResolveRoute(ctx, identity.Principal{}, "kz", tc.t, tc.p, tc.basis)
			if err != nil || a.ID != tc.want {
				t.Errorf("ResolveRoute = %s (%s), %v; want %s", a.ID, why, err, tc.want)
			}
		})
	}
	_, _, err := svc.ResolveRoute(ctx, identity.Principal{}, "KZ", cooperation.DataPreservation, cooperation.Urgent, "HAGUE")
	if !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), "legal_basis") {
		t.Errorf("an unknown legal basis: %v; want invalid naming legal_basis", err)
	}
}

// TestApplicableInstrumentsUnknownState: an unknown state is refused naming
// its field.
func TestApplicableInstrumentsUnknownState(t *testing.T) {
	svc, _ := newService(t, time.Now())
	_, err := svc.ApplicableInstruments(t.Context(), identity.Principal{}, "KZ", "XX")
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 1 || e.Violations[0].Field != "requested_state" {
		t.Errorf("ApplicableInstruments(KZ, XX) = %v; want invalid naming requested_state", err)
	}
}

// TestReservesPreservationDualCriminality: only a Budapest entry with the
// Art 29(4) reservation lets a preservation be refused for dual
// criminality; a 29(4) reservation recorded under another instrument, or
// another Budapest reservation, does not.
func TestReservesPreservationDualCriminality(t *testing.T) {
	res := func(article string) []directory.Reservation {
		return []directory.Reservation{{Article: article, Text: "x"}}
	}
	tests := []struct {
		name string
		list []directory.StateInstrument
		want bool
	}{
		{"none", nil, false},
		{"Budapest 29(4)", []directory.StateInstrument{{LegalBasis: directory.BudapestConvention, Status: directory.InForce, Reservations: res("29(4)")}}, true},
		{"Budapest 27(9)(e)", []directory.StateInstrument{{LegalBasis: directory.BudapestConvention, Status: directory.InForce, Reservations: res("27(9)(e)")}}, false},
		{"29(4) under UNTOC", []directory.StateInstrument{{LegalBasis: directory.UNTOC2000, Status: directory.InForce, Reservations: res("29(4)")}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (directory.State{Code: "UZ", Instruments: tc.list}).ReservesPreservationDualCriminality(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
