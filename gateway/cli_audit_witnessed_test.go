package gateway_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/identity"
)

// TestAuditVerifyWitnessedBundle: a suite whose audit log is witnessed by
// five real comity-witness servers (a quorum of 3). A bundle exported as an
// auditor does verifies with `comityctl audit verify --policy` against the
// auditor's copy of the policy, naming the witnesses that cosigned; without
// --policy it says the cosignatures were not checked. It is refused, naming
// the fault, when the cosignatures were stripped from the checkpoint, when
// one was forged, when the auditor's policy asks 3 of 5 and only 2 of its
// witnesses cosigned, and when the policy names other witnesses entirely.
func TestAuditVerifyWitnessedBundle(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{witnesses: 5})
	auditor := s.token("kz-oversight", identity.Auditor)

	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
	filter := `resource = "` + name + `"`
	got := s.awaitEntries(auditor, filter, 15*time.Second, func(es []auditEntry) bool { return len(es) > 0 })
	cp := s.awaitCheckpoint(auditor, got[len(got)-1].Index+1)
	exported := s.mustDo("GET", "/v1/audit/entries:export?"+url.Values{"filter": {filter}}.Encode(), auditor, nil, 200)

	dir := t.TempDir()
	policyFile := filepath.Join(dir, "witness-policy")
	writeFile(t, policyFile, s.witnessPolicy)
	file := filepath.Join(dir, "case.bundle")
	writeFile(t, file, []byte(exported.raw))

	out, ok := runCtl(t, bin, "audit", "verify", "--public-key", cp.publicKey, "--policy", policyFile, file)
	if !ok || !strings.Contains(out, "verified: ") || !strings.Contains(out, "satisfying") {
		t.Fatalf("a fresh witnessed bundle is not verified with the policy:\n%s", out)
	}
	// The cosigners are named; the report must match the checkpoint.
	var b map[string]any
	if err := json.Unmarshal([]byte(exported.raw), &b); err != nil {
		t.Fatal(err)
	}
	signed := b["checkpoint"].(map[string]any)["note"].(string)
	rep, err := bundle.VerifyCosignatures([]byte(signed), s.witnessPolicy)
	if err != nil || len(rep.Cosigned) < 3 {
		t.Fatalf("the bundle's checkpoint is not cosigned by a quorum: %v %v", rep.Cosigned, err)
	}
	if !strings.Contains(out, fmt.Sprintf("cosigned by %d of 5 witnesses", len(rep.Cosigned))) {
		t.Errorf("audit verify --policy does not say %d of the 5 witnesses cosigned", len(rep.Cosigned))
	}
	for _, w := range rep.Cosigned {
		if !strings.Contains(out, w) {
			t.Errorf("audit verify --policy does not name cosigner %s", w)
		}
	}

	out, ok = runCtl(t, bin, "audit", "verify", "--public-key", cp.publicKey, file)
	if !ok || !strings.Contains(out, "witness cosignatures NOT checked") {
		t.Errorf("audit verify without --policy does not say the cosignatures were not checked:\n%s", out)
	}

	// refused runs comityctl on the bundle whose checkpoint note is note,
	// with policy, and wants a refusal saying want.
	refused := func(what, note string, policy []byte, want string) {
		t.Helper()
		b["checkpoint"].(map[string]any)["note"] = note
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, file, raw)
		pf := filepath.Join(dir, "policy-"+strings.ReplaceAll(what, " ", "-"))
		writeFile(t, pf, policy)
		out, ok := runCtl(t, bin, "audit", "verify", "--public-key", cp.publicKey, "--policy", pf, file)
		if ok || !strings.Contains(out, "NOT VERIFIED") || !strings.Contains(out, want) {
			t.Errorf("%s: audit verify --policy = ok %v, want a refusal saying %q:\n%s", what, ok, want, out)
		}
	}
	text, sigs := splitNote(t, signed)
	logSig := sigs[0]
	if !strings.HasPrefix(logSig, "— "+suiteAuditOrigin+" ") {
		t.Fatalf("the checkpoint's first signature is not the log's: %q", logSig)
	}
	refused("cosignatures removed", text+logSig, s.witnessPolicy, "none of them cosigned")

	// One cosignature's signature bytes changed (its key hash kept, so it
	// is still that witness's).
	forged := slices.Clone(sigs)
	i := 1
	raw := forged[i][strings.LastIndex(forged[i], " ")+1 : len(forged[i])-1]
	sig, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	forged[i] = forged[i][:strings.LastIndex(forged[i], " ")+1] + base64.StdEncoding.EncodeToString(sig) + "\n"
	forger := strings.Fields(forged[i])[1]
	refused("forged", text+strings.Join(forged, ""), s.witnessPolicy, "cosignature of witness "+forger+" does not verify")

	// The auditor's policy names two witnesses that cosigned and three
	// others (keys of their own), and asks 3 of the 5.
	pw := policyWitnesses(t, s.witnessPolicy)
	var mine []bundle.PolicyWitness
	for _, w := range pw {
		if slices.Contains(rep.Cosigned, w.Name) && len(mine) < 2 {
			mine = append(mine, w)
		}
	}
	for i := range 3 {
		mine = append(mine, otherWitness(t, fmt.Sprintf("other-%d", i+1)))
	}
	refused("two of five", signed, witnessPolicyText(t, cp.publicKey, mine),
		"only "+mine[0].Name+", "+mine[1].Name+" cosigned")

	var others []bundle.PolicyWitness
	for i := range 5 {
		others = append(others, otherWitness(t, fmt.Sprintf("stranger-%d", i+1)))
	}
	refused("other keys", signed, witnessPolicyText(t, cp.publicKey, others), "none of them cosigned")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// splitNote splits a signed note into its text (with the blank line) and
// its signature lines (each with its newline).
func splitNote(t *testing.T, signed string) (string, []string) {
	t.Helper()
	i := strings.Index(signed, "\n\n")
	if i < 0 {
		t.Fatalf("not a signed note: %q", signed)
	}
	lines := strings.SplitAfter(signed[i+2:], "\n")
	return signed[:i+2], slices.DeleteFunc(lines, func(l string) bool { return l == "" })
}

// policyWitnesses are the witnesses policy names.
func policyWitnesses(t *testing.T, policy []byte) []bundle.PolicyWitness {
	t.Helper()
	p, err := bundle.ParsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	return p.Witnesses()
}

// witnessPolicyText is a policy of ws asking more than half of them.
func witnessPolicyText(t *testing.T, logKey string, ws []bundle.PolicyWitness) []byte {
	t.Helper()
	p, err := bundle.WitnessPolicy(logKey, ws)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// otherWitness is a witness with a fresh key that never saw the log.
func otherWitness(t *testing.T, name string) bundle.PolicyWitness {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	cosig, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return bundle.PolicyWitness{Name: name, PublicKey: cosig, URL: "https://" + name + ".example"}
}
