package gateway_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/services/identity"
)

// An agency that calls too fast gets 429 with Retry-After, without slowing
// other agencies; a forged token naming an agency spends no budget of that
// agency's; once the time said has passed, the agency is served again.
func TestEachAgencyIsRateLimited(t *testing.T) {
	// One call every 2 s on average: the bucket does not refill while the
	// test makes its first calls.
	s := startSuite(t, suiteOptions{quiet: true, rateLimit: gateway.RateLimit{PerSecond: 0.5, Burst: 3}})
	kz := s.token("kz-gpo", identity.Prosecutor)
	kzColleague := s.tokenFor("another-prosecutor", "kz-gpo", identity.CentralAuthority)
	uz := s.token("uz-gpo", identity.CentralAuthority)

	for range 3 {
		s.mustDo("GET", "/v1/agencies/uz-247", kz, nil, 200)
	}
	// The agency's budget is shared by its users.
	r := s.do("GET", "/v1/agencies/uz-247", kzColleague, nil)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("4th call of kz-gpo at once: %d %s, want 429", r.status, r.raw)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 (seconds)", r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.message(), "agency kz-gpo") || r.body["code"] != float64(8) {
		t.Errorf("429 body = %s, want RESOURCE_EXHAUSTED naming agency kz-gpo", r.raw)
	}

	// Tokens naming uz-gpo but signed with a key no issuer has are counted
	// against the caller's address, not against uz-gpo.
	forgerDir := t.TempDir()
	if _, err := identity.EnsureDevIssuer(forgerDir); err != nil {
		t.Fatal(err)
	}
	forged, err := identity.MintDevToken(forgerDir, identity.TokenRequest{Agency: "uz-gpo", Roles: []identity.Role{identity.CentralAuthority}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	limited := false
	for range 4 {
		r := s.do("GET", "/v1/agencies/uz-247", forged, nil)
		switch r.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited = true
		default:
			t.Fatalf("forged token: %d %s", r.status, r.raw)
		}
	}
	if !limited {
		t.Error("4 calls with a forged token at once were not limited")
	}
	s.mustDo("GET", "/v1/agencies/uz-247", uz, nil, 200)

	time.Sleep(time.Duration(retry)*time.Second + 100*time.Millisecond)
	s.mustDo("GET", "/v1/agencies/uz-247", kz, nil, 200)
	// Health and readiness are never limited.
	for range 5 {
		s.mustDo("GET", "/healthz", "", nil, 200)
		s.mustDo("GET", "/readyz", "", nil, 200)
	}
}
