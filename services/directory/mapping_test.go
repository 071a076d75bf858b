package directory_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// TestClaimMappings: an administrator gives a trusted issuer a claim
// mapping; a wrong one is refused with a complaint on its field and changes
// nothing; the identity layer is told each state's mapping of an issuer.
func TestClaimMappings(t *testing.T) {
	const own, idp = "urn:comity:dev-issuer", "https://idp.kz.example/"
	admin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: own}
	groups := identity.ClaimMapping{Issuer: idp, AgencyClaim: "org.unit", RolesClaim: "groups",
		AgencyValues: map[string]string{"GPO": "kz-gpo"}, RoleValues: map[string]string{"mla-prosecutors": "prosecutor"}}
	mappings := func(v ...identity.ClaimMapping) *[]identity.ClaimMapping { return &v }
	for _, tc := range []struct {
		name         string
		change       directory.StateChange
		field, words string
	}{
		{"an issuer the state does not trust", directory.StateChange{ClaimMappings: mappings(identity.ClaimMapping{Issuer: "https://elsewhere.example/"})},
			"state.claim_mappings[0].issuer", "is not among the state's trusted_issuers"},
		{"two mappings of one issuer", directory.StateChange{ClaimMappings: mappings(groups, groups)},
			"state.claim_mappings[1].issuer", "has another claim mapping above"},
		{"a role that is not Comity's", directory.StateChange{ClaimMappings: mappings(identity.ClaimMapping{Issuer: idp, RoleValues: map[string]string{"admins": "root"}})},
			"state.claim_mappings[0].role_values", `provider value "admins" maps to "root" is not a Comity role`},
		{"a malformed claim path", directory.StateChange{ClaimMappings: mappings(identity.ClaimMapping{Issuer: idp, AgencyClaim: "org..unit"})},
			"state.claim_mappings[0].agency_claim", "has an empty part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t, time.Now())
			before := trustBoth(t, store, own, idp)
			_, err := svc.UpdateState(t.Context(), admin, "KZ", before.Etag(), tc.change)
			var e *errs.Error
			if !errors.Is(err, errs.ErrInvalid) || !errors.As(err, &e) {
				t.Fatalf("error %v; want invalid", err)
			}
			if !slices.ContainsFunc(e.Violations, func(v errs.Violation) bool {
				return v.Field == tc.field && strings.Contains(v.Description, tc.words)
			}) {
				t.Errorf("violations %+v; want one of %s saying %q", e.Violations, tc.field, tc.words)
			}
			if after, _ := store.GetState(t.Context(), "KZ"); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused change changed the state:\n got %+v\nwant %+v", after, before)
			}
		})
	}

	svc, store := newService(t, time.Now())
	before := trustBoth(t, store, own, idp)
	got, err := svc.UpdateState(t.Context(), admin, "KZ", before.Etag(), directory.StateChange{ClaimMappings: mappings(groups)})
	if err != nil {
		t.Fatalf("a valid mapping was refused: %v", err)
	}
	if !reflect.DeepEqual(got.ClaimMappings, []identity.ClaimMapping{groups}) {
		t.Errorf("stored mappings %+v, want %+v", got.ClaimMappings, groups)
	}
	entries, err := svc.IssuerEntries(t.Context(), idp)
	if err != nil || len(entries) != 1 || entries[0].State != "KZ" || !entries[0].Mapping.Equal(groups) {
		t.Errorf("IssuerEntries(%s) = %+v, %v; want KZ with the groups mapping", idp, entries, err)
	}
	entries, err = svc.IssuerEntries(t.Context(), own)
	if err != nil || len(entries) != 1 || !entries[0].Mapping.IsDefault() {
		t.Errorf("IssuerEntries(%s) = %+v, %v; want KZ with the default mapping", own, entries, err)
	}

	// Dropping the issuer drops its mapping with it.
	issuers := []string{own}
	got, err = svc.UpdateState(t.Context(), admin, "KZ", got.Etag(), directory.StateChange{TrustedIssuers: &issuers})
	if err != nil || len(got.ClaimMappings) != 0 {
		t.Errorf("after dropping %s: mappings %+v, %v; want none", idp, got.ClaimMappings, err)
	}
}

// trustBoth makes KZ trust issuers and returns the state.
func trustBoth(t *testing.T, store directory.Store, issuers ...string) directory.State {
	t.Helper()
	st, err := store.UpdateState(t.Context(), "KZ", func(st *directory.State) (trail.Event, error) {
		st.TrustedIssuers = issuers
		return trail.Event{ID: "setup"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
