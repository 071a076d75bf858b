package identity

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	jose "github.com/go-jose/go-jose/v4"
)

// devKid reads the kid of the dev issuer's JWKS and checks it is the RFC 7638
// thumbprint of the key, computed here independently of go-jose.
func devKid(t *testing.T, jwksPath string) string {
	t.Helper()
	data, err := os.ReadFile(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid, D string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		t.Fatalf("key is %s %s, want an Ed25519 key", k.Kty, k.Crv)
	}
	if k.D != "" {
		t.Fatal("the public JWKS holds the private key")
	}
	sum := sha256.Sum256([]byte(`{"crv":"` + k.Crv + `","kty":"` + k.Kty + `","x":"` + k.X + `"}`))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.Kid != want {
		t.Fatalf("kid %q is not the RFC 7638 thumbprint %q", k.Kid, want)
	}
	return k.Kid
}

func TestEnsureDevIssuer(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "var")
	iss, err := EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if iss.ID != DevIssuerID {
		t.Errorf("issuer id %q, want %q", iss.ID, DevIssuerID)
	}
	if want, _ := filepath.Abs(filepath.Join(dataDir, "dev-issuer", "jwks.json")); iss.JWKS != want {
		t.Errorf("JWKS %q, want %q", iss.JWKS, want)
	}
	kid := devKid(t, iss.JWKS)
	keyPath := filepath.Join(dataDir, "dev-issuer", "signing-key.jwk")
	keyBefore, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	for path, want := range map[string]os.FileMode{
		keyPath:                              0o600,
		iss.JWKS:                             0o644,
		filepath.Join(dataDir, "dev-issuer"): 0o700 | os.ModeDir,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
		}
	}

	again, err := EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if again != iss || devKid(t, again.JWKS) != kid {
		t.Fatalf("second call changed the issuer: %+v, kid %s; was %+v, kid %s", again, devKid(t, again.JWKS), iss, kid)
	}
	keyAfter, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(keyAfter) != string(keyBefore) {
		t.Fatal("second call rewrote the signing key")
	}
	entries, _ := os.ReadDir(filepath.Dir(keyPath))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// A lost jwks.json is written again from the key.
	if err := os.Remove(iss.JWKS); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureDevIssuer(dataDir); err != nil {
		t.Fatal(err)
	}
	if got := devKid(t, iss.JWKS); got != kid {
		t.Fatalf("rewritten JWKS has kid %s, want %s", got, kid)
	}
}

func TestEnsureDevIssuerRefusesForeignKey(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "dev-issuer"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"), []byte(`{"kty":"oct","k":"c2VjcmV0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureDevIssuer(dataDir); err == nil {
		t.Fatal("EnsureDevIssuer accepted an HMAC key as the dev issuer's key")
	}
}

func TestMintDevTokenVerifies(t *testing.T) {
	dataDir, iss := newDevIssuer(t)
	clock := &fakeClock{now: t0}
	v, err := NewVerifier([]Issuer{iss}, newFakeTrust(), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		req  TokenRequest
		want Principal
	}{
		{
			name: "defaults",
			req:  TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor, LiaisonOfficer}},
			want: Principal{Subject: "dev:kz-gpo:prosecutor", Name: "dev:kz-gpo:prosecutor", Agency: "kz-gpo",
				State: "KZ", Roles: []Role{Prosecutor, LiaisonOfficer}, Issuer: DevIssuerID},
		},
		{
			name: "subject and name",
			req:  TokenRequest{Agency: "kz-gpo", Roles: []Role{CentralAuthority}, Subject: "asel", Name: "Asel B."},
			want: Principal{Subject: "asel", Name: "Asel B.", Agency: "kz-gpo", State: "KZ",
				Roles: []Role{CentralAuthority}, Issuer: DevIssuerID},
		},
		{
			name: "subject only",
			req:  TokenRequest{Agency: "kz-gpo", Roles: []Role{LiaisonOfficer}, Subject: "marat", TTL: time.Hour},
			want: Principal{Subject: "marat", Name: "marat", Agency: "kz-gpo", State: "KZ",
				Roles: []Role{LiaisonOfficer}, Issuer: DevIssuerID},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := MintDevToken(dataDir, tc.req, t0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !principalsEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMintDevTokenClaims(t *testing.T) {
	dataDir, iss := newDevIssuer(t)
	tok, err := MintDevToken(dataDir, TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != "EdDSA" || h.KeyID != devKid(t, iss.JWKS) {
		t.Errorf("header alg %q kid %q, want EdDSA and the JWKS kid", h.Algorithm, h.KeyID)
	}
	var c struct {
		Iss, Sub, Jti, Agency string
		Aud                   []string
		Iat, Nbf, Exp         int64
		Roles                 []string
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	if c.Iss != DevIssuerID || !slices.Equal(c.Aud, []string{"comity"}) || c.Iat != t0.Unix() || c.Nbf != c.Iat ||
		c.Exp != t0.Add(8*time.Hour).Unix() || c.Jti == "" || !slices.Equal(c.Roles, []string{"prosecutor"}) {
		t.Errorf("claims %+v", c)
	}

	other, err := MintDevToken(dataDir, TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if other == tok {
		t.Error("two tokens minted at the same instant are identical; jti is not random")
	}
}

func TestMintDevTokenTTL(t *testing.T) {
	dataDir, iss := newDevIssuer(t)
	tests := []struct {
		name    string
		ttl     time.Duration
		after   time.Duration
		wantErr bool
	}{
		{"default 8h, just before", 0, 8*time.Hour - time.Minute, false},
		{"default 8h, just after", 0, 8*time.Hour + time.Minute, true},
		{"30 days, just before", 30 * 24 * time.Hour, 30*24*time.Hour - time.Minute, false},
		{"15 minutes, after", 15 * time.Minute, 16 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := MintDevToken(dataDir, TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}, TTL: tc.ttl}, t0)
			if err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{now: t0.Add(tc.after)}
			v, err := NewVerifier([]Issuer{iss}, newFakeTrust(), WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(t.Context(), tok)
			if tc.wantErr {
				wantCode(t, err, errs.Unauthenticated, "token expired")
			} else if err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestMintDevTokenRefusesBadRequests(t *testing.T) {
	dataDir, _ := newDevIssuer(t)
	tests := []struct {
		name  string
		req   TokenRequest
		field string
		msg   string
	}{
		{"no agency", TokenRequest{Roles: []Role{Prosecutor}}, "agency", "not an agency id"},
		{"agency with capitals", TokenRequest{Agency: "KZ-GPO", Roles: []Role{Prosecutor}}, "agency", "not an agency id"},
		{"agency too long", TokenRequest{Agency: strings.Repeat("a", 64), Roles: []Role{Prosecutor}}, "agency", "not an agency id"},
		{"no role", TokenRequest{Agency: "kz-gpo"}, "roles", "at least one role"},
		{"unknown role", TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor, "judge"}}, "roles", `"judge" is not a role`},
		{"negative ttl", TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}, TTL: -time.Hour}, "ttl", "between"},
		{"ttl under a second", TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}, TTL: time.Millisecond}, "ttl", "between"},
		{"ttl over 30 days", TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}, TTL: 31 * 24 * time.Hour}, "ttl", "between"},
		{"subject with a newline", TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}, Subject: "a\nb"}, "subject", "not printable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MintDevToken(dataDir, tc.req, t0)
			wantCode(t, err, errs.Invalid, tc.msg)
			var e *errs.Error
			if !errors.As(err, &e) || !slices.ContainsFunc(e.Violations, func(v errs.Violation) bool { return v.Field == tc.field }) {
				t.Fatalf("error %v does not name field %s", err, tc.field)
			}
		})
	}
}

func TestMintDevTokenWithoutIssuer(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "var")
	_, err := MintDevToken(dataDir, TokenRequest{Agency: "kz-gpo", Roles: []Role{Prosecutor}}, t0)
	wantCode(t, err, errs.FailedPrecondition, filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"))
	if !strings.Contains(err.Error(), "start comity-local") {
		t.Fatalf("error %q does not say how to create the key", err)
	}
	if _, statErr := os.Stat(dataDir); !os.IsNotExist(statErr) {
		t.Fatal("MintDevToken created the data directory")
	}
}

// newDevIssuer creates the dev issuer in a temporary data directory and
// returns both.
func newDevIssuer(t *testing.T) (string, Issuer) {
	t.Helper()
	dataDir := t.TempDir()
	iss, err := EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return dataDir, iss
}
