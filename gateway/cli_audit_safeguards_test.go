package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestAuditSafeguardsOfABundle: a request submitted, transmitted and
// accepted in a real suite; its bundle, exported as an auditor does, shows
// with `comityctl audit safeguards` every check of its submission and
// transmission and the three assessments of its acceptance, without the
// request's facts; a bundle whose accepted event was changed is not
// verified, and nothing is reported from it.
func TestAuditSafeguardsOfABundle(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	kzAuditor := s.token("kz-oversight", identity.Auditor)
	uzCA := s.token("uz-247", identity.CentralAuthority)
	const secret = "Marmot-Quokka-5813 moved the funds through a pawnshop in Termez"

	d := preservation()
	d["requestedState"], d["factsSummary"] = "UZ", secret
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, d, 200).body["name"].(string)
	s.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
	s.mustDo("POST", "/v1/"+name+":transmit", s.token("kz-gpo", identity.CentralAuthority), map[string]any{}, 200)
	s.mustDo("POST", "/v1/"+name+":acknowledge", uzCA, map[string]any{}, 200)
	s.mustDo("POST", "/v1/"+name+":accept", uzCA, map[string]any{"dualCriminality": "NOT_REQUIRED",
		"humanRightsReview": map[string]any{"note": "No concerns."}}, 200)

	filter := `resource = "` + name + `"`
	got := s.awaitEntries(kzAuditor, filter, 15*time.Second, func(es []auditEntry) bool {
		return slices.ContainsFunc(es, func(e auditEntry) bool { return strings.HasSuffix(e.Event.Action, "/AcceptRequest") })
	})
	cp := s.awaitCheckpoint(kzAuditor, got[len(got)-1].Index+1)
	exported := s.mustDo("GET", "/v1/audit/entries:export?"+url.Values{"filter": {filter}}.Encode(), kzAuditor, nil, 200)
	if strings.Contains(exported.raw, secret) {
		t.Fatal("the bundle holds the request's facts")
	}
	file := filepath.Join(t.TempDir(), "case.bundle")
	if err := os.WriteFile(file, []byte(exported.raw), 0o600); err != nil {
		t.Fatal(err)
	}
	out, ok := runCtl(t, bin, "audit", "safeguards", "--public-key", cp.publicKey, file)
	if !ok {
		t.Fatalf("audit safeguards of an accepted request that passed its checks failed:\n%s", out)
	}
	for _, want := range []string{
		"verified: ", name,
		"SubmitRequest", "TransmitRequest", "AcceptRequest",
		"CUSTODIAN=PASSED", "FOLLOW_UP_INTENDED=PASSED", "JUDICIAL_AUTHORISATION=NOT_APPLICABLE",
		"DUAL_CRIMINALITY=NOT_REQUIRED", "HUMAN_RIGHTS_REVIEW=NO_CONCERNS", "DEATH_PENALTY_ASSURANCE=NOT_APPLICABLE",
		"every accepted request in the bundle shows its checks passed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("audit safeguards does not say %q", want)
		}
	}
	if strings.Contains(out, "PROBLEM") || strings.Contains(out, secret) {
		t.Errorf("audit safeguards reports a problem or the facts:\n%s", out)
	}

	// The accepted event's leaf changed as a forger would (an assessment
	// that was not made): the inclusion proof fails, and the bundle is
	// not verified.
	var b map[string]any
	if err := json.Unmarshal([]byte(exported.raw), &b); err != nil {
		t.Fatal(err)
	}
	tampered := false
	for _, pe := range b["entries"].([]any) {
		entry := pe.(map[string]any)["entry"].(map[string]any)
		leaf, err := base64.StdEncoding.DecodeString(entry["leaf"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if changed := bytes.Replace(leaf, []byte(`"outcome":"NOT_REQUIRED"`), []byte(`"outcome":"MET"`), 1); !bytes.Equal(changed, leaf) {
			entry["leaf"] = base64.StdEncoding.EncodeToString(changed)
			tampered = true
		}
	}
	if !tampered {
		t.Fatal("no leaf of the bundle holds DUAL_CRIMINALITY NOT_REQUIRED")
	}
	forged, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	out, ok = runCtl(t, bin, "audit", "safeguards", "--public-key", cp.publicKey, file)
	if ok || !strings.Contains(out, "NOT VERIFIED") || strings.Contains(out, "DUAL_CRIMINALITY=") {
		t.Errorf("audit safeguards of a tampered bundle succeeded or reported from it:\n%s", out)
	}
}
