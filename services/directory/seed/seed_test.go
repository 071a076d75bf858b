package seed_test

import (
	"strings"
	"testing"

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
