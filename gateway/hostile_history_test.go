package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestHostileReturnReasonOfTheRequestingSide: why a central authority
// returned a draft to its prosecutor, before the request was transmitted,
// is the requesting side's own business; the requested state used to read
// it in the request's history.
func TestHostileReturnReasonOfTheRequestingSide(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzCA := s.token("uz-247", identity.CentralAuthority)
	uzLiaison := s.token("uz-gpo", identity.LiaisonOfficer)
	const internal = "INTERNAL: the prosecutor misquoted article 205"

	uzWatch := openWatch(t, s, uzLiaison)
	if uzWatch.status != http.StatusOK {
		t.Fatalf("watch = %d %v", uzWatch.status, uzWatch.refusal)
	}
	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	path := "/v1/" + r.body["name"].(string)
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, http.StatusOK)
	s.mustDo("POST", path+":return", kzCA, map[string]any{"reason": internal}, http.StatusOK)
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, http.StatusOK)
	s.mustDo("POST", path+":transmit", kzCA, map[string]any{}, http.StatusOK)
	s.mustDo("POST", path+":acknowledge", uzCA, map[string]any{}, http.StatusOK)
	s.mustDo("POST", path+":requestClarification", uzCA, map[string]any{"questions": "Which port range?"}, http.StatusOK)

	reasons := func(tok string) []string {
		t.Helper()
		h := s.mustDo("GET", path+"/history", tok, nil, http.StatusOK)
		var out []string
		changes, _ := h.body["changes"].([]any)
		for _, ch := range changes {
			if reason, _ := ch.(map[string]any)["reason"].(string); reason != "" {
				out = append(out, reason)
			}
		}
		return out
	}
	for _, tc := range []struct {
		who, token string
		want       []string
	}{
		{"the requesting central authority", kzCA, []string{internal, "Which port range?"}},
		{"the requesting prosecutor", prosecutor, []string{internal, "Which port range?"}},
		{"the requested central authority", uzCA, []string{"Which port range?"}},
		{"the requested state's liaison officer", uzLiaison, []string{"Which port range?"}},
	} {
		t.Run(tc.who, func(t *testing.T) {
			if got := reasons(tc.token); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("history reasons = %q; want %q", got, tc.want)
			}
		})
	}

	// The requested side's watch delivers the changes it may see, never
	// with the requesting side's own reason.
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case m, ok := <-uzWatch.lines:
			if !ok {
				t.Fatal("the watch ended")
			}
			res, _ := m["result"].(map[string]any)
			change, _ := res["change"].(map[string]any)
			if change["reason"] == internal {
				t.Errorf("the requested side's watch delivered the return reason: %v", change)
			}
			seen = change["toStatus"] == "CLARIFICATION_REQUESTED"
		case <-deadline:
			t.Fatal("the requested side's watch did not deliver the clarification request in 20s")
		}
	}
}
