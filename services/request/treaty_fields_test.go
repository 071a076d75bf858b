package request

import (
	"testing"

	"github.com/comity-mla/comity/services/directory/seed"
)

// TestSeedRequiredFieldsAreRequestFields: every field the shipped seed's
// instrument profiles require is a field of a request, so that none of them
// refuses every request under its instrument as a misconfiguration.
func TestSeedRequiredFieldsAreRequestFields(t *testing.T) {
	profiles, _, err := seed.DefaultInstruments()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range profiles {
		for _, path := range p.RequiredFields {
			n++
			if _, known := fieldFilled(Request{}, path); !known {
				t.Errorf("%s requires %q, no field of a request", p.LegalBasis, path)
			}
		}
	}
	if n == 0 {
		t.Error("the seed's profiles require no field at all")
	}
}

// TestFieldFilled: a path is filled when its text is not blank, its list
// not empty, its number not zero, its message present with the field
// filled; a path naming no field is unknown.
func TestFieldFilled(t *testing.T) {
	r := Request{FactsSummary: "  ", Purpose: "To identify the intruder.", Offence: Offence{MaximumPenaltyYears: 5},
		InvestigatingAuthority: &InvestigatingAuthority{CaseNumber: "42"}}
	for _, tc := range []struct {
		path          string
		filled, known bool
	}{
		{"purpose", true, true},
		{"facts_summary", false, true},
		{"offence.maximum_penalty_years", true, true},
		{"offence.statute_text", false, true},
		{"investigating_authority.case_number", true, true},
		{"investigating_authority.name", false, true},
		{"contact.phone", false, true},
		{"identifiers", false, true},
		{"offence.no_such", false, false},
		{"no_such", false, false},
		{"purpose.deeper", false, false},
	} {
		filled, known := fieldFilled(r, tc.path)
		if filled != tc.filled || known != tc.known {
			t.Errorf("fieldFilled(%s) = %v, %v; want %v, %v", tc.path, filled, known, tc.filled, tc.known)
		}
	}
}
