package identity

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
)

// TestRoleAllowedAt spells out DESIGN §3's table, every role at every kind.
func TestRoleAllowedAt(t *testing.T) {
	kinds := []string{"CENTRAL_AUTHORITY", "PROSECUTION", "LAW_ENFORCEMENT", "CONTACT_POINT_24_7", "OVERSIGHT", "TRAINING_INSTITUTION"}
	allowed := map[Role][]string{
		Prosecutor:       {"PROSECUTION", "CENTRAL_AUTHORITY"},
		CentralAuthority: {"CENTRAL_AUTHORITY", "CONTACT_POINT_24_7"},
		LiaisonOfficer:   {"CENTRAL_AUTHORITY", "CONTACT_POINT_24_7", "LAW_ENFORCEMENT", "PROSECUTION"},
		Auditor:          {"OVERSIGHT"},
		DirectoryAdmin:   {"CENTRAL_AUTHORITY", "OVERSIGHT"},
	}
	for _, r := range append(slices.Clone(Roles), "PROSECUTOR", "admin", "") {
		for _, k := range append(slices.Clone(kinds), "prosecution", "") {
			t.Run(string(r)+"@"+k, func(t *testing.T) {
				want := slices.Contains(allowed[r], k)
				if got := RoleAllowedAt(r, k); got != want {
					t.Errorf("RoleAllowedAt(%q, %q) = %v, want %v", r, k, got, want)
				}
			})
		}
	}
	// No role that sees case content at oversight or training agencies.
	for _, k := range []string{"OVERSIGHT", "TRAINING_INSTITUTION"} {
		for _, r := range []Role{Prosecutor, CentralAuthority, LiaisonOfficer} {
			if RoleAllowedAt(r, k) {
				t.Errorf("%s counts at a %s agency", r, k)
			}
		}
	}
}

// TestVerifyRefusalNamesTheClaimedActor: a genuine token refused for what
// it claims says who it claimed to be (so the refusal can be recorded),
// with the agency's state when the directory knows the agency; a token
// that is not genuine names nobody.
func TestVerifyRefusalNamesTheClaimedActor(t *testing.T) {
	f := newFixture(t)
	// The verifier accepts the token until its exp plus the leeway.
	exp := t0.Add(time.Hour).Add(defaultLeeway)
	claimed := func(agency, state string, roles ...Role) Principal {
		return Principal{Subject: "u-1842", Name: "Aigerim Nurlanovna", Agency: agency, State: state,
			Roles: roles, Issuer: testIssuer, Expiry: exp}
	}
	tests := []struct {
		name   string
		claims map[string]any
		want   Principal
		msg    string
	}{
		{"unknown agency", map[string]any{"agency": "xx-nowhere"}, claimed("xx-nowhere", "", Prosecutor),
			`agency "xx-nowhere" is not in the directory`},
		{"deactivated agency", map[string]any{"agency": "kz-retired"}, claimed("kz-retired", "KZ", Prosecutor),
			`agency "kz-retired" is deactivated`},
		{"untrusted issuer", map[string]any{"agency": "uz-gp"}, claimed("uz-gp", "UZ", Prosecutor),
			"is not trusted for state UZ"},
		{"role its agency may not hold", map[string]any{"agency": "kz-oversight", "roles": []string{"auditor", "central_authority"}},
			claimed("kz-oversight", "KZ", Auditor, CentralAuthority),
			`role "central_authority" cannot be held at agency "kz-oversight" (OVERSIGHT)`},
		{"no known role", map[string]any{"roles": []string{"admin", "PROSECUTOR"}}, claimed("kz-gpo", "KZ"),
			"the token grants no Comity role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Verify(t.Context(), f.token(t, tc.claims))
			wantCode(t, err, errs.Unauthenticated, tc.msg)
			var r *RefusedError
			if !errors.As(err, &r) {
				t.Fatalf("error %v is not a *RefusedError", err)
			}
			if !principalsEqual(r.Claimed, tc.want) || !r.Claimed.Expiry.Equal(tc.want.Expiry) {
				t.Errorf("claimed %+v, want %+v", r.Claimed, tc.want)
			}
		})
	}

	t.Run("not genuine: no claimed actor", func(t *testing.T) {
		for _, tok := range []string{
			f.token(t, map[string]any{"exp": "9999999999"}),
			f.token(t, map[string]any{"iss": "https://evil.example"}),
			sign(t, newKey(t, "EdDSA", f.key.kid), validClaims(t0)),
		} {
			_, err := f.v.Verify(t.Context(), tok)
			var r *RefusedError
			if errors.As(err, &r) {
				t.Errorf("refusal %v names %+v, but the token proves nothing", err, r.Claimed)
			}
			wantCode(t, err, errs.Unauthenticated, "token")
		}
	})
}

// TestVerifyPassesOnTheDirectorysRefusal: a TrustSource that asks the
// directory with the caller's token gets the directory's refusal of it;
// that is the caller's fault (401 with the directory's reason), not an
// outage (503).
func TestVerifyPassesOnTheDirectorysRefusal(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantState string
	}{
		{"a plain refusal", errs.New(errs.Unauthenticated, `agency "xx-nowhere" is not in the directory`), ""},
		{"a refusal naming the agency's state", &RefusedError{Claimed: Principal{State: "KZ"},
			Err: errs.New(errs.Unauthenticated, `agency "xx-nowhere" is not in the directory`)}, "KZ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.trust.err = tc.err
			_, err := f.v.Verify(t.Context(), f.token(t, map[string]any{"agency": "xx-nowhere"}))
			wantCode(t, err, errs.Unauthenticated, `agency "xx-nowhere" is not in the directory`)
			var r *RefusedError
			if !errors.As(err, &r) {
				t.Fatalf("error %v is not a *RefusedError", err)
			}
			want := Principal{Subject: "u-1842", Name: "Aigerim Nurlanovna", Agency: "xx-nowhere", State: tc.wantState,
				Roles: []Role{Prosecutor}, Issuer: testIssuer}
			if !principalsEqual(r.Claimed, want) {
				t.Errorf("claimed %+v, want %+v", r.Claimed, want)
			}
		})
	}
}

// TestVerifyNoticesAKindChange: whether a role counts is decided on every
// call from the directory's answer, not remembered with the token: an
// agency whose kind changes stops granting roles it may no longer hold once
// the trust cache has expired, though the token is still in the token
// cache.
func TestVerifyNoticesAKindChange(t *testing.T) {
	f := newFixture(t, WithTrustCacheTTL(time.Minute), WithTokenCacheTTL(time.Hour))
	tok := f.token(t, map[string]any{"roles": []string{"central_authority"}})
	f.accepts(t, tok, "")
	f.trust.change("kz-gpo", func(a *AgencyTrust) { a.Kind = "OVERSIGHT" })
	f.clock.Advance(2 * time.Minute)
	if f.v.tokens.len() != 1 {
		t.Fatalf("the token cache holds %d entries, want the token", f.v.tokens.len())
	}
	f.refuses(t, tok, `role "central_authority" cannot be held at agency "kz-gpo" (OVERSIGHT)`)
}

// TestVerifyRemembersTheDirectorysRefusal: a token the directory refused is
// refused again without asking it, until the trust cache's TTL has passed,
// so that repeating it costs the directory (which records every refusal)
// nothing more.
func TestVerifyRemembersTheDirectorysRefusal(t *testing.T) {
	f := newFixture(t, WithTrustCacheTTL(30*time.Second))
	f.trust.err = errs.New(errs.Unauthenticated, `agency "xx-nowhere" is not in the directory`)
	tok := f.token(t, map[string]any{"agency": "xx-nowhere"})
	for range 5 {
		f.refuses(t, tok, `agency "xx-nowhere" is not in the directory`)
	}
	if n := f.trust.callCount(); n != 1 {
		t.Errorf("the directory was asked %d times, want once", n)
	}
	// Another token is asked about: the refusal was of that token only.
	_, err := f.v.Verify(t.Context(), f.token(t, map[string]any{"agency": "xx-nowhere", "sub": "u-2"}))
	wantCode(t, err, errs.Unauthenticated, "not in the directory")
	if n := f.trust.callCount(); n != 2 {
		t.Errorf("the directory was asked %d times, want twice", n)
	}
	f.clock.Advance(31 * time.Second)
	f.trust.mu.Lock()
	f.trust.err = nil
	f.trust.agencies["xx-nowhere"] = AgencyTrust{State: "KZ", Kind: "CENTRAL_AUTHORITY", Active: true, TrustedIssuers: []string{testIssuer}}
	f.trust.mu.Unlock()
	if _, err := f.v.Verify(t.Context(), tok); err != nil {
		t.Errorf("after the TTL, with the agency created: %v", err)
	}
}
