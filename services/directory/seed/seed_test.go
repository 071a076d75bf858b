package seed_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/seed"
)

// snapshot is an import file with one state; issuers is its trustedIssuers
// and claimMappings members.
func snapshot(issuers string) string {
	return `{"states": [{"name": "states/KG", "displayNames": {"en": "Kyrgyzstan"}, "acceptedLanguages": ["ru"],
		"timeZone": "Asia/Bishkek", ` + issuers + `}]}`
}

// TestLoadClaimMappings: an import file may give a trusted issuer a claim
// mapping; an old file of plain issuer strings still imports, each issuer
// with the default mapping; a wrong mapping is refused naming its field.
func TestLoadClaimMappings(t *testing.T) {
	states, _, err := seed.Load(strings.NewReader(snapshot(`"trustedIssuers": ["https://idp.kg.example/"]`)))
	if err != nil {
		t.Fatalf("an old file of plain issuer strings: %v", err)
	}
	if m := states[0].MappingOf("https://idp.kg.example/"); !m.IsDefault() {
		t.Errorf("a plain issuer has mapping %+v, want the default", m)
	}

	states, _, err = seed.Load(strings.NewReader(snapshot(`"trustedIssuers": ["https://idp.kg.example/"],
		"claimMappings": [{"issuer": "https://idp.kg.example/", "agencyClaim": "org.unit", "rolesClaim": "groups",
			"agencyValues": {"GPO": "kg-gpo"}, "roleValues": {"mla-prosecutors": "prosecutor"}}]`)))
	if err != nil {
		t.Fatalf("a file with a claim mapping: %v", err)
	}
	m := states[0].MappingOf("https://idp.kg.example/")
	if m.AgencyClaim != "org.unit" || m.RolesClaim != "groups" || m.AgencyValues["GPO"] != "kg-gpo" || m.RoleValues["mla-prosecutors"] != "prosecutor" {
		t.Errorf("imported mapping %+v", m)
	}

	_, _, err = seed.Load(strings.NewReader(snapshot(`"trustedIssuers": ["https://idp.kg.example/"],
		"claimMappings": [{"issuer": "https://idp.kg.example/", "roleValues": {"admins": "root"}}]`)))
	if err == nil || !strings.Contains(err.Error(), "claim_mappings[0].role_values") || !strings.Contains(err.Error(), `"root" is not a Comity role`) {
		t.Errorf("a mapping to an unknown role: %v; want a complaint naming claim_mappings[0].role_values", err)
	}
}

// TestDefaultTreatyProfiles: the shipped seed records, for every state, an
// entry for every instrument the directory profiles (BILATERAL_TREATY and
// RECIPROCITY are no instrument: a request cites its bilateral treaty, and
// reciprocity binds no one in advance), each citing its source and left
// for the state's administrators to confirm; every such instrument has a
// profile citing its text. What public sources do not settle stays UNKNOWN:
// no state is recorded as party to the Budapest Convention, and the 2018
// CIS agreement and the 2024 UN convention are unknown everywhere.
func TestDefaultTreatyProfiles(t *testing.T) {
	states, _, err := seed.Default()
	if err != nil {
		t.Fatal(err)
	}
	profiles, entries, err := seed.DefaultInstruments()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 5 {
		t.Fatalf("%d states, want 5", len(states))
	}
	for _, st := range states {
		if !reflect.DeepEqual(st.Instruments, entries[st.Code]) {
			t.Errorf("%s: Default and DefaultInstruments disagree", st.Code)
		}
		for _, b := range directory.ProfiledBases {
			si, ok := st.Instrument(b)
			switch {
			case !ok:
				t.Errorf("%s has no entry for %s", st.Code, b)
			case strings.TrimSpace(si.Source) == "":
				t.Errorf("%s %s cites no source", st.Code, b)
			case si.Confirmed:
				t.Errorf("%s %s is confirmed; the seed confirms nothing", st.Code, b)
			}
		}
		for _, b := range []string{directory.BilateralTreaty, directory.Reciprocity} {
			if _, ok := st.Instrument(b); ok {
				t.Errorf("%s has an entry for %s", st.Code, b)
			}
		}
		if got := st.StatusOf(directory.BudapestConvention); got == directory.InForce {
			t.Errorf("%s: Budapest recorded in force; no public source says so", st.Code)
		}
		for _, b := range []string{directory.CISITCrimeAgreement2018, directory.UNCybercrimeConvention2024} {
			if got := st.StatusOf(b); got != directory.Unknown {
				t.Errorf("%s: %s is %s, want UNKNOWN", st.Code, b, got)
			}
		}
		if got := st.StatusOf(directory.UNTOC2000); got != directory.InForce {
			t.Errorf("%s: UNTOC is %s; all five are parties", st.Code, got)
		}
	}
	var bases []string
	for _, p := range profiles {
		bases = append(bases, p.LegalBasis)
		if strings.TrimSpace(p.Source) == "" {
			t.Errorf("profile %s cites no source", p.LegalBasis)
		}
	}
	slices.Sort(bases)
	want := slices.Sorted(slices.Values(directory.ProfiledBases))
	if !slices.Equal(bases, want) {
		t.Errorf("profiles for %v, want %v", bases, want)
	}
}

// TestLoadInstrumentsInvalid: a snapshot whose instrument entry or profile
// is wrong is refused naming the field.
func TestLoadInstrumentsInvalid(t *testing.T) {
	for _, tc := range []struct{ name, snap, field string }{
		{"unknown legal basis", `{"states": [{"name": "states/KG", "displayNames": {"en": "Kyrgyzstan"}, "acceptedLanguages": ["ru"],
			"timeZone": "Asia/Bishkek", "instruments": [{"legalBasis": "HAGUE", "status": "IN_FORCE", "source": "x"}]}]}`, "instruments[0].legal_basis"},
		{"no source", `{"states": [{"name": "states/KG", "displayNames": {"en": "Kyrgyzstan"}, "acceptedLanguages": ["ru"],
			"timeZone": "Asia/Bishkek", "instruments": [{"legalBasis": "UNTOC_2000", "status": "UNKNOWN"}]}]}`, "instruments[0].source"},
		{"profile ground", `{"instruments": [{"legalBasis": "UNTOC_2000", "displayName": "UNTOC", "rank": 1, "source": "x",
			"refusalGrounds": ["BORED"]}]}`, "instruments[0].refusal_grounds[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := seed.Load(strings.NewReader(tc.snap))
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Load = %v; want a complaint naming %s", err, tc.field)
			}
		})
	}
}
