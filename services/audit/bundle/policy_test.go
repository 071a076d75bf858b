package bundle_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/witness/witnesskey"
)

// cosigner is a witness's key: the signer key and the cosignature/v1
// verifier key it publishes.
type cosigner struct{ skey, vkey, plain string }

func newCosigner(t testing.TB, name string) cosigner {
	t.Helper()
	skey, plain, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := fnote.VKeyToCosignatureV1(plain)
	if err != nil {
		t.Fatal(err)
	}
	return cosigner{skey, vkey, plain}
}

var states = []string{"UZ", "KZ", "TM", "KG", "TJ"}

// policyOf returns n witnesses (of states, out of order) and their keys.
func policyOf(t *testing.T, n int) ([]bundle.PolicyWitness, map[string]cosigner) {
	keys := map[string]cosigner{}
	var ws []bundle.PolicyWitness
	for _, st := range states[:n] {
		keys[st] = newCosigner(t, "witness."+strings.ToLower(st)+".comity.test")
		ws = append(ws, bundle.PolicyWitness{Name: st, PublicKey: keys[st].vkey, URL: "https://witness." + strings.ToLower(st) + ".example"})
	}
	return ws, keys
}

func TestWitnessPolicyThreshold(t *testing.T) {
	log := newCosigner(t, origin)
	for _, tc := range []struct{ n, k int }{{5, 3}, {4, 3}, {3, 2}, {2, 2}, {1, 1}} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			ws, keys := policyOf(t, tc.n)
			text, err := bundle.WitnessPolicy(log.plain, ws)
			if err != nil {
				t.Fatal(err)
			}
			g, err := fwitness.ParsePolicy(text)
			if err != nil {
				t.Fatalf("formats does not parse the policy: %v\n%s", err, text)
			}
			if g.N != tc.k || len(g.Components) != tc.n {
				t.Fatalf("group needs %d of %d, want %d of %d:\n%s", g.N, len(g.Components), tc.k, tc.n, text)
			}
			// Lines by name, so that one directory gives one text.
			var named []string
			for _, line := range strings.Split(string(text), "\n") {
				if f := strings.Fields(line); len(f) == 4 && f[0] == "witness" {
					named = append(named, f[1])
				}
			}
			if want := strings.Join(sortedStates(tc.n), " "); strings.Join(named, " ") != want {
				t.Errorf("witness lines in order %v, want %s", named, want)
			}
			if !strings.HasPrefix(string(text), "#") || !strings.Contains(string(text), "log "+log.plain+"\n") {
				t.Errorf("no comment header or log line:\n%s", text)
			}
			// What a user notices: k witnesses' cosignatures satisfy it,
			// k-1 do not.
			cp := sign(t, keyPair{log.skey, log.plain}, body(origin, 1, make([]byte, 32)))
			for i, st := range sortedStates(tc.n) {
				s, err := fnote.NewSignerForCosignatureV1(keys[st].skey)
				if err != nil {
					t.Fatal(err)
				}
				n, err := note.Open(cp, note.VerifierList(mustVerifier(t, log.plain)))
				if err != nil {
					t.Fatal(err)
				}
				if got := g.Satisfied(cp); got != (i >= tc.k) {
					t.Errorf("with %d cosignatures Satisfied = %t, want %t", i, got, i >= tc.k)
				}
				if cp, err = note.Sign(n, s); err != nil {
					t.Fatal(err)
				}
			}
			if !g.Satisfied(cp) {
				t.Errorf("with every witness's cosignature the policy is not satisfied")
			}
		})
	}
}

func sortedStates(n int) []string {
	all := map[string]bool{}
	for _, s := range states[:n] {
		all[s] = true
	}
	var out []string
	for _, s := range []string{"KG", "KZ", "TJ", "TM", "UZ"} {
		if all[s] {
			out = append(out, s)
		}
	}
	return out
}

func TestWitnessPolicyRefuses(t *testing.T) {
	log := newCosigner(t, origin)
	ws, _ := policyOf(t, 3)
	other := newCosigner(t, "witness.other")
	for _, tc := range []struct {
		name string
		edit func([]bundle.PolicyWitness) []bundle.PolicyWitness
		want string
	}{
		{"none", func([]bundle.PolicyWitness) []bundle.PolicyWitness { return nil }, "no witness"},
		{"duplicated key", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			w[1].PublicKey = w[0].PublicKey
			return w
		}, "same public key"},
		{"same key under another name", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			raw := strings.SplitN(w[0].PublicKey, "+", 3)[2]
			w[2].PublicKey = renamed(t, "another.name", raw)
			return w
		}, "same public key"},
		{"same url", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			w[1].URL = w[0].URL
			return w
		}, "same url"},
		{"same name", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			return append(w, bundle.PolicyWitness{Name: w[0].Name, PublicKey: other.vkey, URL: "https://x.example"})
		}, "given twice"},
		{"plain Ed25519 key", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			w[1].PublicKey = other.plain
			return w
		}, "witness KZ: public key: is a plain Ed25519"},
		{"http url", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			w[0].URL = "http://witness.example"
			return w
		}, "witness UZ: url:"},
		{"keyword name", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			w[0].Name = "quorum"
			return w
		}, "word of the policy format"},
		{"name with space", func(w []bundle.PolicyWitness) []bundle.PolicyWitness {
			w[0].Name = "K Z"
			return w
		}, "spaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.edit(append([]bundle.PolicyWitness(nil), ws...))
			text, err := bundle.WitnessPolicy(log.plain, in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WitnessPolicy = %q, %v; want an error containing %q", text, err, tc.want)
			}
		})
	}
	if _, err := bundle.WitnessPolicy("not a key", ws); err == nil || !strings.Contains(err.Error(), "audit log public key") {
		t.Errorf("bad log key: %v, want an error naming the audit log public key", err)
	}
}

// renamed is the cosignature/v1 key of raw (base64, algorithm byte first)
// under name, with its correct key hash.
func renamed(t *testing.T, name, raw string) string {
	t.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(name + "+00000000+" + raw)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s+%08x+%s", name, v.KeyHash(), raw)
}

func TestParseWitnessKey(t *testing.T) {
	c := newCosigner(t, "witness.kz.comity.test")
	v, err := witnesskey.Parse(c.vkey)
	if err != nil || v.Name() != "witness.kz.comity.test" {
		t.Fatalf("ParseWitnessKey(%q) = %v, %v", c.vkey, v, err)
	}
	name, rest, _ := strings.Cut(c.vkey, "+")
	hash, raw, _ := strings.Cut(rest, "+")
	key, _ := base64.StdEncoding.DecodeString(raw)
	ml := base64.StdEncoding.EncodeToString(append([]byte{0x06}, key[1:]...))
	for _, tc := range []struct{ in, want string }{
		{"", "not a note verifier key"},
		{c.vkey + "\n", "line break"},
		{"+" + hash + "+" + raw, "no name"},
		{name + "+" + hash, "not a note verifier key"},
		{name + "+12345+" + raw, "8 hex digits"},
		{name + "+" + hash + "+!!!", "not base64"},
		{c.plain, "algorithm 0x01"},
		{name + "+" + hash + "+" + ml, "ML-DSA-44"},
		{name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(key[:20]), "holds 19 key bytes"},
		{"other.name+" + hash + "+" + raw, "does not match"},
		{name + "+00000000+" + raw, "does not match"},
	} {
		if _, err := witnesskey.Parse(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseWitnessKey(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestCheckWitnessURL(t *testing.T) {
	for _, ok := range []string{"https://witness.kz.example", "https://witness.kz.example:8443/w", "http://127.0.0.1:9104", "http://localhost:9104", "http://[::1]:9104"} {
		if err := witnesskey.CheckURL(ok); err != nil {
			t.Errorf("CheckWitnessURL(%q) = %v, want nil", ok, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "required"},
		{"witness.kz.example", "not an http(s) URL"},
		{"ftp://witness.kz.example", "not an http(s) URL"},
		{"https://", "names no host"},
		{"https://user:pw@witness.kz.example", "user name or password"},
		{"https://witness.kz.example/?a=1", "query"},
		{"https://witness.kz.example/#x", "fragment"},
		{"http://witness.kz.example", "only https is allowed, except for a loopback host"},
		{"http://10.0.0.1", "loopback"},
		{"https://witness kz", "space"},
	} {
		if err := witnesskey.CheckURL(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckWitnessURL(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
