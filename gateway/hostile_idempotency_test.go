package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/identity"
)

// TestHostileRequestIDOfAnotherUser: a request id (AIP-155) belongs to the
// user who sent it. A TJ prosecutor whose token's `sub` equals a KZ
// prosecutor's used to get the KZ draft back in full by sending the same
// requestId; and the same id with another body used to answer with the
// first request.
func TestHostileRequestIDOfAnotherUser(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	const sub, id = "shared-subject", "idem-7f3a"
	kz := s.tokenFor(sub, "kz-gpo", identity.Prosecutor)
	tj := s.tokenFor(sub, "tj-gpo", identity.Prosecutor)

	secret := preservation()
	secret["factsSummary"] = "IDEMP-SECRET"
	created := s.mustDo("POST", "/v1/requests?requestId="+id, kz, secret, http.StatusOK)
	name, _ := created.body["name"].(string)

	t.Run("same id and subject, another state's user", func(t *testing.T) {
		r := s.do("POST", "/v1/requests?requestId="+id, tj, preservation())
		if strings.Contains(r.raw, "IDEMP-SECRET") || r.body["name"] == name {
			t.Fatalf("the TJ prosecutor got the KZ request: %d %.300s", r.status, r.raw)
		}
		if r.status != http.StatusOK || r.body["requestingAgency"] != "agencies/tj-gpo" {
			t.Errorf("the TJ prosecutor's create = %d %.300s; want a request of their own", r.status, r.raw)
		}
	})
	t.Run("same id and body, same user", func(t *testing.T) {
		r := s.mustDo("POST", "/v1/requests?requestId="+id, kz, secret, http.StatusOK)
		if r.body["name"] != name {
			t.Errorf("a retry got %v; want the request it created, %s", r.body["name"], name)
		}
	})
	t.Run("same id, another body, same user", func(t *testing.T) {
		changed := preservation()
		changed["factsSummary"] = "Another case entirely."
		r := s.do("POST", "/v1/requests?requestId="+id, kz, changed)
		if r.status != http.StatusConflict || !slices.ContainsFunc(r.violations(), func(v string) bool {
			return strings.HasPrefix(v, "request_id: ") && strings.Contains(v, "different request")
		}) {
			t.Errorf("the id reused for another body = %d %.400s; want 409 naming request_id", r.status, r.raw)
		}
		if r.body["name"] == name {
			t.Errorf("the id reused for another body answered with the first request")
		}
	})
}
