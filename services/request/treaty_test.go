package request_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// treatyProfiles are the profiles the treaty tests give the fake directory.
var treatyProfiles = []directory.Instrument{
	{LegalBasis: directory.BudapestConvention, DisplayName: "Budapest Convention", Rank: 2, Source: "test",
		RequiredFields: []string{"offence.description"}},
	{LegalBasis: directory.MinskConvention1993, DisplayName: "Minsk Convention", Rank: 5, Source: "test",
		RequiredFields: []string{"offence.statute_text", "purpose"}, Languages: []string{"ru", "kk"}},
	{LegalBasis: directory.UNTOC2000, DisplayName: "UNTOC", Rank: 6, Source: "test", RequiredFields: []string{"investigating_authority.case_number", "no_such_field"}},
}

func entry(b string, s directory.InstrumentStatus) directory.StateInstrument {
	return directory.StateInstrument{LegalBasis: b, Status: s, Source: "test"}
}

// TestTreatySafeguards: at :submit and again at :transmit, a legal basis the
// directory records NOT_IN_FORCE for either state is refused naming the
// legal basis and the state; one whose status is unknown is accepted and
// the request marked unconfirmed; one in force for both is accepted and not
// marked; the instrument's required fields are safeguards, each naming its
// field; a bilateral treaty and reciprocity have no profile to check. The
// language an instrument accepts (Russian under the CIS conventions) is
// accepted whatever the agency lists.
func TestTreatySafeguards(t *testing.T) {
	inForce := map[string][]directory.StateInstrument{
		"KZ": {entry(directory.BudapestConvention, directory.InForce), entry(directory.MinskConvention1993, directory.InForce), entry(directory.UNTOC2000, directory.InForce)},
		"UZ": {entry(directory.BudapestConvention, directory.NotInForce), entry(directory.MinskConvention1993, directory.InForce)},
	}
	for _, tc := range []struct {
		name string
		// entries replaces the states' entries (nil: inForce).
		entries     map[string][]directory.StateInstrument
		change      func(r *request.Request)
		want        []violation
		message     string
		unconfirmed bool
	}{
		{name: "not in force for the requested state", change: func(r *request.Request) { r.LegalBasis = directory.BudapestConvention },
			want: []violation{{"legal_basis", "LEGAL_BASIS_NOT_IN_FORCE"}}, message: "BUDAPEST_CONVENTION is not in force for UZ according to the directory"},
		{name: "not in force for the requesting state", entries: map[string][]directory.StateInstrument{
			"KZ": {entry(directory.BudapestConvention, directory.NotInForce)}, "UZ": {entry(directory.BudapestConvention, directory.InForce)}},
			change: func(r *request.Request) { r.LegalBasis = directory.BudapestConvention },
			want:   []violation{{"legal_basis", "LEGAL_BASIS_NOT_IN_FORCE"}}, message: "BUDAPEST_CONVENTION is not in force for KZ"},
		{name: "in force for both, required fields missing", change: func(r *request.Request) { r.LegalBasis = directory.MinskConvention1993 },
			want: []violation{{"offence.statute_text", "REQUIRED_BY_INSTRUMENT"}, {"purpose", "REQUIRED_BY_INSTRUMENT"}}, message: "required under Minsk Convention"},
		{name: "in force for both, required fields given", change: func(r *request.Request) {
			r.LegalBasis, r.Offence.StatuteText, r.Purpose = directory.MinskConvention1993, "Art. 205: unlawful access …", "To identify the intruder."
		}},
		{name: "in force for both, a language accepted under the instrument", change: func(r *request.Request) {
			r.LegalBasis, r.Offence.StatuteText, r.Purpose = directory.MinskConvention1993, "Art. 205", "To identify."
			r.Language = "kk" // the fake agency accepts only ru; the profile adds kk
		}},
		{name: "the same language under an instrument without that rule", entries: map[string][]directory.StateInstrument{
			"KZ": {entry(directory.BudapestConvention, directory.InForce)}, "UZ": {entry(directory.BudapestConvention, directory.InForce)}},
			change: func(r *request.Request) { r.LegalBasis, r.Language = directory.BudapestConvention, "kk" },
			want:   []violation{{"language", "LANGUAGE_NOT_ACCEPTED"}}},
		{name: "unknown for the requested state", change: func(r *request.Request) {
			r.LegalBasis, r.InvestigatingAuthority = directory.UNTOC2000, &request.InvestigatingAuthority{Name: "Investigation Department, KZ GPO", CaseNumber: "42"}
		}, want: []violation{{"legal_basis", "INSTRUMENT_FIELD_UNKNOWN"}}, message: `requires "no_such_field"`},
		{name: "unknown, absent message's field", change: func(r *request.Request) { r.LegalBasis = directory.UNTOC2000 },
			want: []violation{{"investigating_authority.case_number", "REQUIRED_BY_INSTRUMENT"}, {"legal_basis", "INSTRUMENT_FIELD_UNKNOWN"}}},
		{name: "no entry anywhere: unknown, accepted", entries: map[string][]directory.StateInstrument{},
			change: func(r *request.Request) { r.LegalBasis = directory.CISITCrimeAgreement2018 }, unconfirmed: true},
		{name: "unknown for one state: accepted, unconfirmed", entries: map[string][]directory.StateInstrument{
			"KZ": {entry(directory.BudapestConvention, directory.InForce)}, "UZ": {entry(directory.BudapestConvention, directory.Unknown)}},
			change: func(r *request.Request) { r.LegalBasis = directory.BudapestConvention }, unconfirmed: true},
		{name: "in force for both: confirmed", entries: map[string][]directory.StateInstrument{
			"KZ": {entry(directory.BudapestConvention, directory.InForce)}, "UZ": {entry(directory.BudapestConvention, directory.InForce)}},
			change: func(r *request.Request) { r.LegalBasis = directory.BudapestConvention }},
		{name: "reciprocity: no profile check", change: func(r *request.Request) { r.LegalBasis = directory.Reciprocity }},
		{name: "bilateral treaty: its citation only", change: func(r *request.Request) {
			r.LegalBasis, r.TreatyCitation = directory.BilateralTreaty, "KZ-UZ treaty of 2 June 1997"
		}},
	} {
		for _, at := range []request.Status{request.Draft, request.Submitted} {
			t.Run(tc.name+"/"+string(at), func(t *testing.T) {
				dm := newDomain(t, request.Policy{})
				entries := tc.entries
				if entries == nil {
					entries = inForce
				}
				for code, list := range entries {
					dm.dir.instruments.Store(code, list)
				}
				profiles := slices.Clone(treatyProfiles)
				dm.dir.profiles.Store(&profiles)
				r := seeded(at)
				tc.change(&r)
				dm.store.put(r)
				var (
					v   request.View
					err error
				)
				if at == request.Draft {
					v, err = dm.svc.Submit(ctx, kzProsecutor, r.ID, "", false)
				} else {
					v, err = dm.svc.Transmit(ctx, kzCA, r.ID, "", false)
				}
				if tc.want == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if v.LegalBasisUnconfirmed != tc.unconfirmed {
						t.Errorf("legal_basis_unconfirmed = %v, want %v", v.LegalBasisUnconfirmed, tc.unconfirmed)
					}
					return
				}
				code, vs := refusal(err)
				if code != errs.FailedPrecondition || !slices.Equal(vs, tc.want) || !strings.Contains(err.Error(), tc.message) {
					t.Errorf("= %v %v (%v); want FAILED_PRECONDITION %v saying %q", code, vs, err, tc.want, tc.message)
				}
				if got, _ := dm.store.Get(ctx, r.ID); got.Status != at || got.Version != 1 {
					t.Errorf("a refused request changed: %s version %d", got.Status, got.Version)
				}
			})
		}
	}
}

// TestPreservationDualCriminalityReservation: the directory method the
// preservation refusal rule asks (DESIGN §5.2) answers from the requested
// state's profile: only the Budapest Art 29(4) reservation lets a
// preservation be refused on DUAL_CRIMINALITY_NOT_MET.
func TestPreservationDualCriminalityReservation(t *testing.T) {
	refuse := func(dm domain) error {
		v := dm.transmitted(t, completeDraft())
		ok(t)(dm.svc.Acknowledge(ctx, uzCA, v.ID, ""))
		_, err := dm.svc.Refuse(ctx, uzCA, v.ID, "", request.Refusal{Grounds: []string{"DUAL_CRIMINALITY_NOT_MET"},
			Explanation: "Not an offence in Uzbekistan."})
		return err
	}
	// UZ has made the reservation: it may refuse a preservation for want
	// of dual criminality.
	dm := newDomain(t, request.Policy{})
	budapest := entry(directory.BudapestConvention, directory.InForce)
	budapest.Reservations = []directory.Reservation{{Article: "29(4)", Text: "Dual criminality may be required."}}
	dm.dir.instruments.Store("UZ", []directory.StateInstrument{budapest})
	if err := refuse(dm); err != nil {
		t.Errorf("refusal by a state with the Art 29(4) reservation: %v; want it recorded", err)
	}
	// Without it, the same refusal is refused, naming the ground.
	dm = newDomain(t, request.Policy{})
	dm.dir.instruments.Store("UZ", []directory.StateInstrument{entry(directory.BudapestConvention, directory.InForce)})
	err := refuse(dm)
	if code, vs := refusal(err); code != errs.FailedPrecondition || len(vs) != 1 || vs[0].field != "grounds[0]" {
		t.Errorf("refusal without the reservation = %v %v (%v); want FAILED_PRECONDITION on grounds[0]", code, vs, err)
	}
}
