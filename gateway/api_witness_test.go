package gateway_test

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/identity"
)

// newWitnessKey returns a witness's cosignature/v1 verifier key, made as
// comity-witness makes its own, and the plain Ed25519 key it derives from.
func newWitnessKey(t *testing.T, name string) (vkey, plain string) {
	t.Helper()
	_, plain, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	if vkey, err = fnote.VKeyToCosignatureV1(plain); err != nil {
		t.Fatal(err)
	}
	return vkey, plain
}

// TestStateWitnessREST, on both engines: through the gateway, a state's
// witness is set, read and cleared by a directory_admin of its oversight
// agency (PATCH /v1/states/KZ?updateMask=witness, DESIGN §6.1); the state's
// other directory_admin and another state's oversight admin are refused
// with words saying who may; bad values are refused on their fields.
func TestStateWitnessREST(t *testing.T) {
	for _, engine := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(engine.name, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine.postgres})
			oversight := s.token("kz-oversight", identity.DirectoryAdmin)
			ca := s.token("kz-gpo", identity.DirectoryAdmin)
			uzOversight := s.token("uz-oversight", identity.DirectoryAdmin)
			vkey, plain := newWitnessKey(t, "witness.kz.comity.test")
			patch := func(token string, witness any) response {
				st := s.mustDo("GET", "/v1/states/KZ", token, nil, http.StatusOK)
				body := map[string]any{"etag": st.body["etag"]}
				if witness != nil {
					body["witness"] = witness
				}
				return s.do("PATCH", "/v1/states/KZ?updateMask=witness", token, body)
			}
			if st := s.mustDo("GET", "/v1/states/KZ", ca, nil, http.StatusOK); st.body["witness"] != nil {
				t.Errorf("the seed records a witness for KZ: %v", st.body["witness"])
			}
			w := map[string]any{"url": "https://witness.kz.example", "publicKey": vkey}
			for _, token := range []string{ca, uzOversight} {
				r := patch(token, w)
				if r.status != http.StatusForbidden || !strings.Contains(r.message(), "only a directory_admin of the oversight agency (kind OVERSIGHT) of KZ may change its witness") {
					t.Errorf("refused admin: %d %s; want 403 saying who may", r.status, r.raw)
				}
			}
			r := patch(oversight, w)
			if r.status != http.StatusOK {
				t.Fatalf("the oversight agency's admin: %d %s", r.status, r.raw)
			}
			got, _ := r.body["witness"].(map[string]any)
			if got["url"] != w["url"] || got["publicKey"] != vkey {
				t.Errorf("answer's witness %v; want %v", got, w)
			}
			// Every user reads it.
			p := s.token("kg-gpo", identity.Prosecutor)
			if st := s.mustDo("GET", "/v1/states/KZ", p, nil, http.StatusOK); !reflectEqualJSON(st.body["witness"], w) {
				t.Errorf("read by another state's prosecutor: %v; want %v", st.body["witness"], w)
			}
			// The state's other admin cannot clear it either, but may change
			// the rest of the state.
			if r := patch(ca, nil); r.status != http.StatusForbidden {
				t.Errorf("the central authority's admin clears it: %d %s; want 403", r.status, r.raw)
			}
			st := s.mustDo("GET", "/v1/states/KZ", ca, nil, http.StatusOK)
			if r := s.do("PATCH", "/v1/states/KZ?updateMask=timeZone", ca, map[string]any{"timeZone": "Asia/Qostanay", "etag": st.body["etag"]}); r.status != http.StatusOK {
				t.Errorf("the central authority's admin changes the time zone: %d %s", r.status, r.raw)
			}

			for _, tc := range []struct {
				witness map[string]any
				field   string
			}{
				{map[string]any{"url": "http://witness.kz.example", "publicKey": vkey}, "state.witness.url: "},
				{map[string]any{"url": "https://witness.kz.example", "publicKey": plain}, "state.witness.public_key: the key is a plain Ed25519"},
				{map[string]any{"url": "https://witness.kz.example", "publicKey": "not a key"}, "state.witness.public_key: "},
			} {
				r := patch(oversight, tc.witness)
				if r.status != http.StatusBadRequest || !slices.ContainsFunc(r.violations(), func(v string) bool { return strings.HasPrefix(v, tc.field) }) {
					t.Errorf("%v: %d %v; want 400 with %q", tc.witness, r.status, r.violations(), tc.field)
				}
			}
			if r := s.do("PATCH", "/v1/states/KZ?updateMask=witness.url", oversight, map[string]any{"witness": map[string]any{"url": "https://x.example"}}); r.status != http.StatusBadRequest {
				t.Errorf("half a witness in the mask: %d %s; want 400", r.status, r.raw)
			}
			if st := s.mustDo("GET", "/v1/states/KZ", p, nil, http.StatusOK); !reflectEqualJSON(st.body["witness"], w) {
				t.Errorf("after the refusals: %v; want %v", st.body["witness"], w)
			}

			if r := patch(oversight, nil); r.status != http.StatusOK || r.body["witness"] != nil {
				t.Errorf("clear: %d %v", r.status, r.body["witness"])
			}
			if st := s.mustDo("GET", "/v1/states/KZ", p, nil, http.StatusOK); st.body["witness"] != nil {
				t.Errorf("cleared, read back: %v", st.body["witness"])
			}
		})
	}
}

func reflectEqualJSON(got any, want map[string]any) bool {
	m, ok := got.(map[string]any)
	if !ok || len(m) != len(want) {
		return false
	}
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}

// TestStateWitnessThroughComityctl: the oversight body's directory_admin
// sets the state's witness with comityctl (the key from its witness.pub),
// anyone reads it with states get, and an auditor derives the policy with
// audit policy: more than half of the witnesses recorded, the states
// without one listed.
func TestStateWitnessThroughComityctl(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	c := ctlRun{t: t, bin: bin, s: s, dir: t.TempDir()}
	auditor := s.token("kz-oversight", identity.Auditor)
	kzCA := s.token("kz-gpo", identity.DirectoryAdmin)

	// No witness yet: no policy, and the states without one are named.
	out, errOut, ok := c.run(auditor, "audit", "policy")
	if ok || !strings.Contains(errOut, "no witness") || !strings.Contains(errOut, "KG, KZ, TJ, TM, UZ") {
		t.Errorf("audit policy with no witness: ok=%t\n%s%s", ok, out, errOut)
	}

	keys := map[string]string{}
	for _, st := range []string{"KZ", "KG", "UZ"} {
		vkey, _ := newWitnessKey(t, "witness."+strings.ToLower(st)+".comity.test")
		keys[st] = vkey
		pub := filepath.Join(c.dir, st+"-witness.pub")
		if err := os.WriteFile(pub, []byte(vkey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		admin := s.token(strings.ToLower(st)+"-oversight", identity.DirectoryAdmin)
		got := c.obj(admin, "states", "update", st, "--witness-url", "https://witness."+strings.ToLower(st)+".example", "--witness-key", pub)
		if w, _ := got["witness"].(map[string]any); w["publicKey"] != vkey {
			t.Errorf("states update %s: witness %v; want key %s", st, got["witness"], vkey)
		}
	}
	if errOut := c.refused(kzCA, "states", "update", "KZ", "--clear-witness"); !strings.Contains(errOut, "oversight agency") {
		t.Errorf("the central authority's admin clears KZ's witness: %s; want it refused naming who may", errOut)
	}
	kzOversight := s.token("kz-oversight", identity.DirectoryAdmin)
	if errOut := c.refused(kzOversight, "states", "update", "KZ", "--witness-url", "https://w.example"); !strings.Contains(errOut, "give both --witness-url and --witness-key") {
		t.Errorf("url without key: %s", errOut)
	}
	if errOut := c.refused(kzOversight, "states", "update", "KZ", "--clear-witness", "--witness-key", keys["KZ"]); !strings.Contains(errOut, "--clear-witness") {
		t.Errorf("clear with a key: %s", errOut)
	}
	if errOut := c.refused(kzOversight, "states", "update", "KZ", "--witness-url", "http://w.example", "--witness-key", keys["KZ"]); !strings.Contains(errOut, "witness.url") {
		t.Errorf("plain http: %s; want it refused naming witness.url", errOut)
	}
	out, _, ok = c.run(auditor, "states", "get", "KZ")
	if !ok || !strings.Contains(out, "https://witness.kz.example") || !strings.Contains(out, keys["KZ"]) {
		t.Errorf("states get KZ shows no witness:\n%s", out)
	}

	policyFile := filepath.Join(c.dir, "witness-policy")
	out, errOut, ok = c.run(auditor, "audit", "policy", "--out", policyFile)
	if !ok || !strings.Contains(out, "3 witnesses (a quorum of 2)") || !strings.Contains(out, "TJ, TM") {
		t.Fatalf("audit policy --out: ok=%t\n%s%s", ok, out, errOut)
	}
	if !strings.Contains(errOut, "warning: only 3 of the 5 states record a witness") {
		t.Errorf("audit policy with 2 of 5 states missing a witness gives no warning:\n%s", errOut)
	}
	text, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	g, err := fwitness.ParsePolicy(text)
	if err != nil || g.N != 2 || len(g.Components) != 3 {
		t.Errorf("the policy kept: %v, %d of %d; want 2 of 3\n%s", err, g.N, len(g.Components), text)
	}
	for st, k := range keys {
		if !strings.Contains(string(text), "witness "+st+" "+k+" https://witness."+strings.ToLower(st)+".example\n") {
			t.Errorf("no line for %s's witness:\n%s", st, text)
		}
	}
	// A key the auditor keeps that is not the gateway's is refused.
	other, _ := newWitnessKey(t, "comity.local/audit")
	if errOut := c.refused(auditor, "audit", "policy", "--public-key", other); !strings.Contains(errOut, "do not use this policy") {
		t.Errorf("another log key: %s", errOut)
	}

	// Cleared by its oversight body: gone from get and from the policy.
	c.obj(s.token("uz-oversight", identity.DirectoryAdmin), "states", "update", "UZ", "--clear-witness")
	if st := c.obj(auditor, "states", "get", "UZ"); st["witness"] != nil {
		t.Errorf("UZ's witness after --clear-witness: %v", st["witness"])
	}
	out, errOut, ok = c.run(auditor, "audit", "policy")
	if !ok || strings.Contains(out, "witness UZ") || !strings.Contains(out, "group states 2 KG KZ\n") || !strings.Contains(errOut, "TJ, TM, UZ") {
		t.Errorf("audit policy after UZ cleared its witness: ok=%t\n%s%s", ok, out, errOut)
	}
	if !strings.Contains(errOut, "warning: only 2 of the 5 states record a witness: the quorum, 2 of 2") {
		t.Errorf("audit policy with 3 of 5 states missing a witness gives no warning:\n%s", errOut)
	}
}
