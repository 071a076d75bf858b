package identity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/errs"
)

// mappedTrust is fakeTrust that also knows which states trust an issuer,
// with which claim mapping, as the directory does.
type mappedTrust struct {
	*fakeTrust
	entries map[string][]IssuerEntry
}

func (m *mappedTrust) IssuerEntries(_ context.Context, issuer string) ([]IssuerEntry, error) {
	if m.err != nil {
		return nil, m.err
	}
	return m.entries[issuer], nil
}

// keycloakMapping is how a Keycloak-like provider of KZ shapes its tokens:
// the agency as an organisation code in a nested object, roles as realm
// groups, the name as `display`.
var keycloakMapping = ClaimMapping{
	Issuer:       testIssuer,
	AgencyClaim:  "org.unit",
	RolesClaim:   "realm_access.roles",
	NameClaim:    "display",
	AgencyValues: map[string]string{"GPO-KZ": "kz-gpo", "CITY-PROS": "kz-city-prosecutor"},
	RoleValues:   map[string]string{"mla-prosecutors": "prosecutor", "mla-officers": "liaison_officer"},
}

// keycloakClaims are a token of that provider for the GPO's prosecutor.
func keycloakClaims(changes map[string]any) map[string]any {
	c := with(validClaims(t0), map[string]any{
		"agency": nil, "roles": nil, "name": nil,
		"display":      "Aigerim Nurlanovna",
		"org":          map[string]any{"unit": "GPO-KZ"},
		"realm_access": map[string]any{"roles": []string{"offline_access", "mla-prosecutors"}},
	})
	return with(c, changes)
}

// newMappedFixture is a fixture whose directory gives testIssuer mapping m
// for KZ.
func newMappedFixture(t *testing.T, m ClaimMapping) (*fixture, *mappedTrust) {
	t.Helper()
	f := newFixture(t)
	// The same key and clock, seen through the mapping.
	trust := &mappedTrust{fakeTrust: f.trust, entries: map[string][]IssuerEntry{testIssuer: {{State: "KZ", Mapping: m}}}}
	v, err := NewVerifier([]Issuer{{ID: testIssuer, JWKS: f.jwksPath}}, trust, WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f, trust
}

func TestVerifyAppliesTheIssuersClaimMapping(t *testing.T) {
	f, _ := newMappedFixture(t, keycloakMapping)
	p, err := f.v.Verify(context.Background(), sign(t, f.key, keycloakClaims(nil)))
	if err != nil {
		t.Fatalf("a token mapped by its issuer's entry was refused: %v", err)
	}
	if p.Agency != "kz-gpo" || p.State != "KZ" || p.Name != "Aigerim Nurlanovna" || !slices.Equal(p.Roles, []Role{Prosecutor}) {
		t.Errorf("mapped principal = %+v, want kz-gpo in KZ, Aigerim Nurlanovna, [prosecutor]", p)
	}

	// Our own claims mean nothing to this issuer's mapping.
	_, err = f.v.Verify(context.Background(), sign(t, f.key, validClaims(t0)))
	wantCode(t, err, errs.Unauthenticated, `token has no agency (claim "org.unit")`)
}

func TestVerifyRefusesUnmappedValuesNamingTheClaim(t *testing.T) {
	f, _ := newMappedFixture(t, keycloakMapping)
	tests := []struct {
		name   string
		claims map[string]any
		msg    string
		agency string
	}{
		{"an agency the mapping does not list", keycloakClaims(map[string]any{"org": map[string]any{"unit": "MINISTRY"}}),
			`token claim "org.unit" value "MINISTRY" maps to no agency`, ""},
		{"groups none of which is mapped", keycloakClaims(map[string]any{"realm_access": map[string]any{"roles": []string{"offline_access", "admins"}}}),
			`token claim "realm_access.roles" values "offline_access", "admins" map to no Comity role`, "kz-gpo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.v.Verify(context.Background(), sign(t, f.key, tt.claims))
			wantCode(t, err, errs.Unauthenticated, tt.msg)
			var r *RefusedError
			if !errors.As(err, &r) {
				t.Fatalf("the refusal of a genuine token is %T, want a *RefusedError so that it is recorded", err)
			}
			if r.Claimed.State != "KZ" || r.Claimed.Subject != "u-1842" || r.Claimed.Agency != tt.agency {
				t.Errorf("claimed = %+v, want subject u-1842 of KZ, agency %q", r.Claimed, tt.agency)
			}
		})
	}
}

func TestVerifyMappingReadsClaimShapes(t *testing.T) {
	tests := []struct {
		name    string
		mapping ClaimMapping
		changes map[string]any
		want    []Role
		errMsg  string
	}{
		{"a namespaced claim whose name has dots", ClaimMapping{Issuer: testIssuer, AgencyClaim: "https://comity.example/agency"},
			map[string]any{"agency": nil, "https://comity.example/agency": "kz-gpo"}, []Role{Prosecutor}, ""},
		{"roles as a single string", ClaimMapping{Issuer: testIssuer},
			map[string]any{"roles": "liaison_officer"}, []Role{LiaisonOfficer}, ""},
		{"a path through a claim that is no object", ClaimMapping{Issuer: testIssuer, RolesClaim: "realm_access.roles"},
			map[string]any{"realm_access": "prosecutor"}, nil, `claim "realm_access" is not an object`},
		{"a name that is not a string", ClaimMapping{Issuer: testIssuer, NameClaim: "given"},
			map[string]any{"given": 7}, nil, `claim "given" is not a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newMappedFixture(t, tt.mapping)
			p, err := f.v.Verify(context.Background(), f.token(t, tt.changes))
			if tt.errMsg != "" {
				wantCode(t, err, errs.Unauthenticated, tt.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Agency != "kz-gpo" || !slices.Equal(p.Roles, tt.want) {
				t.Errorf("principal = %+v, want kz-gpo with %v", p, tt.want)
			}
		})
	}
}

func TestVerifyPicksTheMappingOfTheAgencysState(t *testing.T) {
	// KZ and UZ both trust one issuer and map its tokens differently: a
	// token counts through the mapping of the state its agency is in.
	f, trust := newMappedFixture(t, keycloakMapping)
	uz := ClaimMapping{Issuer: testIssuer, AgencyClaim: "uz_agency"}
	trust.entries[testIssuer] = append(trust.entries[testIssuer], IssuerEntry{State: "UZ", Mapping: uz})
	trust.agencies["uz-gp"] = AgencyTrust{State: "UZ", Kind: "CENTRAL_AUTHORITY", Active: true, TrustedIssuers: []string{testIssuer}}

	p, err := f.v.Verify(context.Background(), f.token(t, map[string]any{"agency": nil, "uz_agency": "uz-gp"}))
	if err != nil || p.Agency != "uz-gp" || p.State != "UZ" {
		t.Fatalf("UZ-mapped token: %+v, %v; want uz-gp of UZ", p, err)
	}
	p, err = f.v.Verify(context.Background(), sign(t, f.key, keycloakClaims(nil)))
	if err != nil || p.Agency != "kz-gpo" {
		t.Fatalf("KZ-mapped token: %+v, %v; want kz-gpo", p, err)
	}
	// UZ's mapping naming a KZ agency does not borrow KZ's trust.
	_, err = f.v.Verify(context.Background(), f.token(t, map[string]any{"agency": nil, "uz_agency": "kz-gpo"}))
	wantCode(t, err, errs.Unauthenticated, "none of them maps this token to an agency of its own state")
}

func TestClaimMappingViolationsNameTheField(t *testing.T) {
	m := ClaimMapping{
		AgencyClaim:  "org..unit",
		RolesClaim:   "exp",
		NameClaim:    "display name",
		AgencyValues: map[string]string{"GPO": "KZ GPO"},
		RoleValues:   map[string]string{"admins": "superuser", "": "prosecutor"},
	}
	got := map[string]string{}
	for _, v := range m.Violations("state.claim_mappings[0].") {
		got[v.Field] += v.Description + "; "
	}
	want := map[string]string{
		"state.claim_mappings[0].issuer":        "required",
		"state.claim_mappings[0].agency_claim":  "empty part",
		"state.claim_mappings[0].roles_claim":   "registered JWT claim",
		"state.claim_mappings[0].name_claim":    "without spaces",
		"state.claim_mappings[0].agency_values": `"KZ GPO" is not an agency id`,
		"state.claim_mappings[0].role_values":   `"superuser" is not a Comity role`,
	}
	for field, msg := range want {
		if !strings.Contains(got[field], msg) {
			t.Errorf("%s: got %q, want it to say %q", field, got[field], msg)
		}
	}
	if !strings.Contains(got["state.claim_mappings[0].role_values"], `provider value ""`) {
		t.Errorf("an empty provider value is not named: %q", got["state.claim_mappings[0].role_values"])
	}
	if vs := keycloakMapping.Violations("x."); len(vs) != 0 {
		t.Errorf("a valid mapping has violations: %v", vs)
	}
	if !DefaultMapping(DevIssuerID).IsDefault() || keycloakMapping.IsDefault() {
		t.Error("IsDefault does not tell the default mapping from another")
	}
}

// FuzzClaimMapping reads arbitrary token payloads through a mapping with
// nested paths and value maps, as a hostile issuer's signed token would
// reach it: it never panics, an error always has a message, and what it
// maps is only ever a value the maps list.
func FuzzClaimMapping(f *testing.F) {
	for _, seed := range []string{
		`{"org":{"unit":"GPO-KZ"},"realm_access":{"roles":["mla-prosecutors"]},"display":"A"}`,
		`{"org":{"unit":"MINISTRY"}}`,
		`{"org":"GPO-KZ"}`,
		`{"org":{"unit":7}}`,
		`{"org":{"unit":"GPO-KZ","unit":"CITY-PROS"}}`,
		`{"org":{"unit":"GPO-KZ"},"realm_access":{"roles":"mla-officers"}}`,
		`{"org":{"unit":"GPO-KZ"},"realm_access":{"roles":[null]}}`,
		`{"org.unit":"CITY-PROS"}`,
		`{"display":{"x":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := decodeObject(data)
		if err != nil {
			return
		}
		m, err := keycloakMapping.apply(fields)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("apply(%q): an error without a message", data)
			}
			return
		}
		if m.agency != "" && m.agency != "kz-gpo" && m.agency != "kz-city-prosecutor" {
			t.Fatalf("apply(%q) mapped the agency to %q, which the mapping does not list", data, m.agency)
		}
		for _, r := range m.roles {
			if r != "prosecutor" && r != "liaison_officer" {
				t.Fatalf("apply(%q) mapped a role to %q, which the mapping does not list", data, r)
			}
		}
	})
}

// TestVerifyMappingChoiceWithDirectoryDown: when several states map one
// issuer differently, the directory being unreachable while the console
// asks which state the mapped agency is in is the directory's outage
// (Unavailable, try again), not a refusal of the token, which would end the
// user's session.
func TestVerifyMappingChoiceWithDirectoryDown(t *testing.T) {
	f, trust := newMappedFixture(t, keycloakMapping)
	uz := ClaimMapping{Issuer: testIssuer, AgencyClaim: "uz_agency"}
	trust.entries[testIssuer] = append(trust.entries[testIssuer], IssuerEntry{State: "UZ", Mapping: uz})
	trust.agencies["uz-gp"] = AgencyTrust{State: "UZ", Kind: "CENTRAL_AUTHORITY", Active: true, TrustedIssuers: []string{testIssuer}}
	// The issuer's mappings are known (cached by a first call); then the
	// directory goes down.
	if _, err := f.v.Verify(t.Context(), sign(t, f.key, keycloakClaims(nil))); err != nil {
		t.Fatal(err)
	}
	trust.mu.Lock()
	trust.err = errors.New("dial tcp 10.0.0.7:443: connection refused")
	trust.mu.Unlock()

	_, err := f.v.Verify(t.Context(), f.token(t, map[string]any{"agency": nil, "uz_agency": "uz-gp"}))
	wantCode(t, err, errs.Unavailable, "directory")
}
