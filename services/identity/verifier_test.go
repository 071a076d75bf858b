package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	testIssuer  = "https://idp.kz.example/realms/gpo"
	otherIssuer = "https://idp.uz.example"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeTrust is the directory as a map.
type fakeTrust struct {
	mu       sync.Mutex
	agencies map[string]AgencyTrust
	err      error
	calls    int
}

func (f *fakeTrust) AgencyTrust(_ context.Context, id string) (AgencyTrust, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return AgencyTrust{}, f.err
	}
	t, ok := f.agencies[id]
	if !ok {
		return AgencyTrust{}, errs.New(errs.NotFound, "agency %q not found", id)
	}
	return t, nil
}

func (f *fakeTrust) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// change edits the trust of agency id as fn says.
func (f *fakeTrust) change(id string, fn func(*AgencyTrust)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.agencies[id]
	fn(&a)
	f.agencies[id] = a
}

func newFakeTrust() *fakeTrust {
	return &fakeTrust{agencies: map[string]AgencyTrust{
		"kz-gpo":             {State: "KZ", Kind: "CENTRAL_AUTHORITY", Active: true, TrustedIssuers: []string{testIssuer, DevIssuerID}},
		"kz-city-prosecutor": {State: "KZ", Kind: "PROSECUTION", Active: true, TrustedIssuers: []string{testIssuer}},
		"kz-police-cyber":    {State: "KZ", Kind: "LAW_ENFORCEMENT", Active: true, TrustedIssuers: []string{testIssuer}},
		"kz-247":             {State: "KZ", Kind: "CONTACT_POINT_24_7", Active: true, TrustedIssuers: []string{testIssuer}},
		"kz-oversight":       {State: "KZ", Kind: "OVERSIGHT", Active: true, TrustedIssuers: []string{testIssuer}},
		"kz-academy":         {State: "KZ", Kind: "TRAINING_INSTITUTION", Active: true, TrustedIssuers: []string{testIssuer}},
		"uz-gp":              {State: "UZ", Kind: "CENTRAL_AUTHORITY", Active: true, TrustedIssuers: []string{otherIssuer}},
		"kz-retired":         {State: "KZ", Kind: "CENTRAL_AUTHORITY", Active: false, TrustedIssuers: []string{testIssuer}},
		"xx-broken":          {Kind: "CENTRAL_AUTHORITY", Active: true, TrustedIssuers: []string{testIssuer}},
		"xx-kindless":        {State: "KZ", Active: true, TrustedIssuers: []string{testIssuer}},
	}}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testKey is an issuer's signing key.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newKey(tb testing.TB, alg jose.SignatureAlgorithm, kid string) testKey {
	tb.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		priv = rsaKey()
	default:
		tb.Fatalf("no test key for %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return testKey{kid: kid, alg: alg, priv: priv}
}

// writeJWKS publishes the public halves of keys at path.
func writeJWKS(tb testing.TB, path string, keys ...testKey) []byte {
	tb.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig"})
	}
	data, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	if path != "" {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return data
}

// signRaw signs payload with k, setting kid when k has one.
func signRaw(tb testing.TB, k testKey, payload []byte) string {
	tb.Helper()
	var key any = k.priv
	if k.kid != "" {
		key = jose.JSONWebKey{Key: k.priv, KeyID: k.kid}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func sign(tb testing.TB, k testKey, claims map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return signRaw(tb, k, payload)
}

// validClaims are the claims of a token that verifies at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":    testIssuer,
		"aud":    []string{"comity"},
		"sub":    "u-1842",
		"name":   "Aigerim Nurlanovna",
		"agency": "kz-gpo",
		"roles":  []string{"prosecutor"},
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
		"jti":    "j-1",
	}
}

// with returns a copy of c with the changes applied; a nil value deletes.
func with(c map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// fixture is a Verifier that trusts one issuer whose JWKS is a file.
type fixture struct {
	v        *Verifier
	key      testKey
	jwksPath string
	trust    *fakeTrust
	clock    *fakeClock
}

func newFixture(tb testing.TB, opts ...VerifierOption) *fixture {
	tb.Helper()
	f := &fixture{
		key:      newKey(tb, jose.EdDSA, "kz-2026-01"),
		jwksPath: filepath.Join(tb.TempDir(), "jwks.json"),
		trust:    newFakeTrust(),
		clock:    &fakeClock{now: t0},
	}
	writeJWKS(tb, f.jwksPath, f.key)
	v, err := NewVerifier([]Issuer{{ID: testIssuer, JWKS: f.jwksPath}}, f.trust,
		append([]VerifierOption{WithClock(f.clock.Now)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	f.v = v
	return f
}

// accepts fails t at once unless the verifier accepts tok; when, if not
// empty, says in what situation.
func (f *fixture) accepts(t *testing.T, tok, when string) {
	t.Helper()
	if _, err := f.v.Verify(t.Context(), tok); err != nil {
		if when != "" {
			t.Fatalf("%s: %v", when, err)
		}
		t.Fatal(err)
	}
}

// refuses fails t at once unless the verifier refuses tok as
// unauthenticated with a message containing msg.
func (f *fixture) refuses(t *testing.T, tok, msg string) {
	t.Helper()
	_, err := f.v.Verify(t.Context(), tok)
	wantCode(t, err, errs.Unauthenticated, msg)
}

func (f *fixture) token(tb testing.TB, changes map[string]any) string {
	tb.Helper()
	return sign(tb, f.key, with(validClaims(t0), changes))
}

// wantCode fails unless err is an *errs.Error of code whose message contains
// msg.
func wantCode(t *testing.T, err error, code errs.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v %q", code, msg)
	}
	if got := errs.CodeOf(err); got != code {
		t.Fatalf("got code %v (%v), want %v", got, err, code)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("got message %q, want it to contain %q", err.Error(), msg)
	}
}

func TestVerifyAcceptsValidTokens(t *testing.T) {
	edKey := newKey(t, jose.EdDSA, "ed")
	ecKey := newKey(t, jose.ES256, "ec")
	rsKey := newKey(t, jose.RS256, "rs")
	psKey := newKey(t, jose.PS256, "rs")
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, jwks, edKey, ecKey, rsKey)
	trust := newFakeTrust()
	clock := &fakeClock{now: t0}
	v, err := NewVerifier([]Issuer{{ID: testIssuer, JWKS: jwks}}, trust, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}

	base := validClaims(t0)
	// aigerim is the principal base names; at is she with other roles, at
	// another agency.
	aigerim := Principal{Subject: "u-1842", Name: "Aigerim Nurlanovna", Agency: "kz-gpo", State: "KZ",
		Roles: []Role{Prosecutor}, Issuer: testIssuer}
	at := func(agency string, roles ...Role) Principal {
		p := aigerim
		p.Agency, p.Roles = agency, roles
		return p
	}
	unnamed := aigerim
	unnamed.Name = ""
	tests := []struct {
		name  string
		key   testKey
		claim map[string]any
		want  Principal
	}{
		{
			name: "EdDSA",
			key:  edKey,
			want: aigerim,
		},
		{
			name: "ES256",
			key:  ecKey,
			want: aigerim,
		},
		{
			name: "RS256",
			key:  rsKey,
			want: aigerim,
		},
		{
			name: "PS256 with the RSA key",
			key:  psKey,
			want: aigerim,
		},
		{
			name: "unknown roles ignored (case-sensitive), duplicates removed, order kept",
			key:  edKey,
			claim: map[string]any{"roles": []string{"liaison_officer", "janitor", "prosecutor", "liaison_officer",
				"ADMIN", "PROSECUTOR", "Auditor"}},
			want: at("kz-gpo", LiaisonOfficer, Prosecutor),
		},
		{
			name:  "no name, audience as a string",
			key:   edKey,
			claim: map[string]any{"name": nil, "aud": "comity"},
			want:  unnamed,
		},
		{
			name:  "every role a prosecution agency may hold",
			key:   edKey,
			claim: map[string]any{"agency": "kz-city-prosecutor", "roles": []string{"prosecutor", "liaison_officer"}},
			want:  at("kz-city-prosecutor", Prosecutor, LiaisonOfficer),
		},
		{
			name:  "every role an oversight agency may hold",
			key:   edKey,
			claim: map[string]any{"agency": "kz-oversight", "roles": []string{"auditor", "directory_admin"}},
			want:  at("kz-oversight", Auditor, DirectoryAdmin),
		},
		{
			name:  "several audiences",
			key:   edKey,
			claim: map[string]any{"aud": []string{"account", "comity"}},
			want:  aigerim,
		},
		{
			name:  "expired within the leeway",
			key:   edKey,
			claim: map[string]any{"exp": t0.Add(-20 * time.Second).Unix()},
			want:  aigerim,
		},
		{
			name:  "issued slightly in the future, within the leeway",
			key:   edKey,
			claim: map[string]any{"iat": t0.Add(20 * time.Second).Unix(), "nbf": t0.Add(20 * time.Second).Unix()},
			want:  aigerim,
		},
		{
			name:  "fractional dates",
			key:   edKey,
			claim: map[string]any{"exp": float64(t0.Unix()) + 3600.5, "iat": float64(t0.Unix()) - 0.25},
			want:  aigerim,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, tc.key, with(base, tc.claim))
			got, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !principalsEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			// Expiry is when the verifier stops accepting the token: its
			// exp, to the nanosecond a NumericDate can say, plus the
			// (default) leeway.
			exp, _ := with(base, tc.claim)["exp"].(int64)
			wantExp := time.Unix(exp, 0)
			if f, ok := with(base, tc.claim)["exp"].(float64); ok {
				wantExp = time.Unix(0, int64(f*1e9))
			}
			wantExp = wantExp.Add(defaultLeeway)
			if !got.Expiry.Equal(wantExp) {
				t.Errorf("Expiry = %v, want %v", got.Expiry, wantExp)
			}
		})
	}
}

func principalsEqual(a, b Principal) bool {
	return a.Subject == b.Subject && a.Name == b.Name && a.Agency == b.Agency && a.State == b.State &&
		a.Issuer == b.Issuer && slices.Equal(a.Roles, b.Roles)
}

func TestVerifyWithoutKid(t *testing.T) {
	one := newKey(t, jose.EdDSA, "")
	two := newKey(t, jose.EdDSA, "second")
	ec := newKey(t, jose.ES256, "ec")

	tests := []struct {
		name    string
		jwks    []testKey
		wantErr string
	}{
		{name: "the only key", jwks: []testKey{one}},
		{name: "the only key of the token's type", jwks: []testKey{one, ec}},
		{name: "several keys of the token's type", jwks: []testKey{one, two}, wantErr: "no key id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "jwks.json")
			writeJWKS(t, path, tc.jwks...)
			clock := &fakeClock{now: t0}
			v, err := NewVerifier([]Issuer{{ID: testIssuer, JWKS: path}}, newFakeTrust(), WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(t.Context(), sign(t, one, validClaims(t0)))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantCode(t, err, errs.Unauthenticated, tc.wantErr)
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	valid := f.token(t, nil)
	parts := strings.Split(valid, ".")

	pubBytes := []byte(f.key.priv.Public().(ed25519.PublicKey))
	jwksBytes, err := os.ReadFile(f.jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(key []byte) string {
		h := b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + f.key.kid + `"}`))
		input := h + "." + parts[1]
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}

	otherKeySameKid := newKey(t, jose.EdDSA, f.key.kid)
	ecKeySameKid := newKey(t, jose.ES256, f.key.kid)
	unknownKid := newKey(t, jose.EdDSA, "kz-2099-01")

	tamperedPayload := func() string {
		claims := validClaims(t0)
		claims["roles"] = []string{"prosecutor", "directory_admin"}
		p, _ := json.Marshal(claims)
		return parts[0] + "." + b64(p) + "." + parts[2]
	}()
	tamperedSignature := func() string {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[10] ^= 0x01
		return parts[0] + "." + parts[1] + "." + b64(sig)
	}()

	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"expired", f.token(t, map[string]any{"exp": t0.Add(-time.Minute).Unix()}), "token expired"},
		{"not yet valid", f.token(t, map[string]any{"nbf": t0.Add(2 * time.Minute).Unix()}), "not yet valid"},
		{"issued in the future", f.token(t, map[string]any{"iat": t0.Add(2 * time.Minute).Unix()}), "issued in the future"},
		{"no exp", f.token(t, map[string]any{"exp": nil}), "no expiry"},
		{"exp as a string", f.token(t, map[string]any{"exp": "tomorrow"}), `claim "exp" is not a date`},
		{"exp as a string of digits", f.token(t, map[string]any{"exp": strconv.FormatInt(t0.Add(time.Hour).Unix(), 10)}),
			`claim "exp" is not a date: it must be a JSON number`},
		{"nbf as a string of digits", f.token(t, map[string]any{"nbf": strconv.FormatInt(t0.Unix(), 10)}), `claim "nbf" is not a date`},
		{"iat as a string of digits", f.token(t, map[string]any{"iat": strconv.FormatInt(t0.Unix(), 10)}), `claim "iat" is not a date`},
		{"exp as a boolean", f.token(t, map[string]any{"exp": true}), `claim "exp" is not a date`},
		{"payload changed after signing", tamperedPayload, "token signature invalid"},
		{"signature changed", tamperedSignature, "token signature invalid"},
		{"signature removed", parts[0] + "." + parts[1] + ".", "token signature invalid"},
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", `algorithm "none" is not allowed`},
		{"HS256 MACed with the public key", hs256(pubBytes), `algorithm "HS256" is not allowed`},
		{"HS256 MACed with the JWKS", hs256(jwksBytes), `algorithm "HS256" is not allowed`},
		{"ES384", b64([]byte(`{"alg":"ES384"}`)) + "." + parts[1] + "." + parts[2], `algorithm "ES384" is not allowed`},
		{"critical header", b64([]byte(`{"alg":"EdDSA","crit":["b64"],"b64":false}`)) + "." + parts[1] + "." + parts[2], "critical"},
		{"wrong audience", f.token(t, map[string]any{"aud": []string{"account"}}), "audience is not comity"},
		{"no audience", f.token(t, map[string]any{"aud": nil}), "audience is not comity"},
		{"unknown issuer", f.token(t, map[string]any{"iss": "https://evil.example"}), `issuer "https://evil.example" is not known`},
		{"no issuer", f.token(t, map[string]any{"iss": nil}), "no issuer"},
		{"issuer not trusted for the agency's state", f.token(t, map[string]any{"agency": "uz-gp"}),
			`token issuer "` + testIssuer + `" is not trusted for state UZ`},
		{"unknown agency", f.token(t, map[string]any{"agency": "xx-nobody"}), `agency "xx-nobody" is not in the directory`},
		{"deactivated agency", f.token(t, map[string]any{"agency": "kz-retired"}), `agency "kz-retired" is deactivated`},
		{"no roles", f.token(t, map[string]any{"roles": nil}), "the token grants no Comity role"},
		{"an empty list of roles", f.token(t, map[string]any{"roles": []string{}}), "the token grants no Comity role"},
		{"only an unknown role", f.token(t, map[string]any{"roles": []string{"admin"}}), "the token grants no Comity role"},
		{"a role in capitals", f.token(t, map[string]any{"roles": []string{"PROSECUTOR"}}), "the token grants no Comity role"},
		{"central_authority at an oversight agency", f.token(t, map[string]any{"agency": "kz-oversight", "roles": []string{"central_authority"}}),
			`role "central_authority" cannot be held at agency "kz-oversight" (OVERSIGHT)`},
		{"central_authority at a training institution", f.token(t, map[string]any{"agency": "kz-academy", "roles": []string{"central_authority"}}),
			`role "central_authority" cannot be held at agency "kz-academy" (TRAINING_INSTITUTION)`},
		{"auditor at the central authority", f.token(t, map[string]any{"roles": []string{"auditor"}}),
			`role "auditor" cannot be held at agency "kz-gpo" (CENTRAL_AUTHORITY)`},
		{"prosecutor at law enforcement", f.token(t, map[string]any{"agency": "kz-police-cyber", "roles": []string{"liaison_officer", "prosecutor"}}),
			`role "prosecutor" cannot be held at agency "kz-police-cyber" (LAW_ENFORCEMENT)`},
		{"prosecutor at the 24/7 contact point", f.token(t, map[string]any{"agency": "kz-247", "roles": []string{"prosecutor"}}),
			`role "prosecutor" cannot be held at agency "kz-247" (CONTACT_POINT_24_7)`},
		{"malformed agency", f.token(t, map[string]any{"agency": "KZ GPO"}), "is not an agency id"},
		{"no agency", f.token(t, map[string]any{"agency": nil}), "no agency"},
		{"no subject", f.token(t, map[string]any{"sub": ""}), "no subject"},
		{"subject too long", f.token(t, map[string]any{"sub": strings.Repeat("u", 300)}), "subject is longer"},
		{"subject with a newline", f.token(t, map[string]any{"sub": "u-1\nforged log line"}), "subject is not printable"},
		{"roles an object", f.token(t, map[string]any{"roles": map[string]any{"prosecutor": true}}), `claim "roles" is not a list of strings`},
		{"roles with a number", f.token(t, map[string]any{"roles": []any{"prosecutor", 7}}), `claim "roles" is not a list of strings`},
		{"name not a string", f.token(t, map[string]any{"name": 42}), `claim "name" is not a string`},
		{"signed by another key with the same kid", sign(t, otherKeySameKid, validClaims(t0)), "token signature invalid"},
		{"ES256 key under the EdDSA key's kid", sign(t, ecKeySameKid, validClaims(t0)), "signing key is not known"},
		{"unknown kid", sign(t, unknownKid, validClaims(t0)), "signing key is not known"},
		{"duplicate claim", signRaw(t, f.key, []byte(`{"iss":"`+testIssuer+`","aud":"comity","sub":"u","agency":"kz-gpo","agency":"uz-gp","exp":9999999999}`)), "claims are malformed"},
		{"claims not an object", signRaw(t, f.key, []byte(`["iss"]`)), "claims are malformed"},
		{"non-canonical base64", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", "malformed"},
		{"too long", parts[0] + "." + strings.Repeat("A", maxTokenLen) + "." + parts[2], "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Verify(t.Context(), tc.token)
			wantCode(t, err, errs.Unauthenticated, tc.want)
			if strings.Contains(err.Error(), string(jwksBytes)) {
				t.Fatalf("error %q echoes key material", err)
			}
		})
	}
}

func TestVerifyRefusesGarbage(t *testing.T) {
	f := newFixture(t)
	random := make([]byte, 64)
	rand.Read(random)
	for _, s := range []string{"", "a.b", "...", "a.b.c", "a.b.c.d", string(random), "Bearer x.y.z",
		" " + f.token(t, nil), b64([]byte("{}")) + "." + b64([]byte("{}")) + ".", "eyJ.eyJ.e"} {
		t.Run(strings.ToValidUTF8(s, "?"), func(t *testing.T) {
			f.refuses(t, s, "token")
		})
	}
}

func TestVerifyDirectoryDown(t *testing.T) {
	f := newFixture(t)
	cause := errors.New("dial tcp 10.0.0.7:443: connection refused")
	f.trust.err = cause
	_, err := f.v.Verify(t.Context(), f.token(t, nil))
	wantCode(t, err, errs.Unavailable, "directory")
	if !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap the TrustSource's error", err)
	}
	if strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("error %q shows the cause to the caller", err)
	}

	// Failures are not cached: the directory coming back is noticed at once.
	f.trust.mu.Lock()
	f.trust.err = nil
	f.trust.mu.Unlock()
	if _, err := f.v.Verify(t.Context(), f.token(t, nil)); err != nil {
		t.Fatalf("Verify after the directory came back: %v", err)
	}
}

func TestVerifyRefusesAgencyWithoutState(t *testing.T) {
	f := newFixture(t)
	_, err := f.v.Verify(t.Context(), f.token(t, map[string]any{"agency": "xx-broken"}))
	wantCode(t, err, errs.Internal, "no state")
	_, err = f.v.Verify(t.Context(), f.token(t, map[string]any{"agency": "xx-kindless"}))
	wantCode(t, err, errs.Internal, "no kind")
}

func TestVerifyCachesTrust(t *testing.T) {
	f := newFixture(t, WithTrustCacheTTL(time.Minute))
	known := f.token(t, nil)
	unknown := f.token(t, map[string]any{"agency": "xx-nobody"})

	for range 3 {
		f.accepts(t, known, "")
		if _, err := f.v.Verify(t.Context(), unknown); err == nil {
			t.Fatal("unknown agency verified")
		}
	}
	if got := f.trust.callCount(); got != 2 {
		t.Fatalf("directory asked %d times for 2 agencies within the TTL, want 2", got)
	}

	// A deactivation is noticed once the TTL has passed.
	f.trust.change("kz-gpo", func(a *AgencyTrust) { a.Active = false })
	f.accepts(t, known, "deactivation noticed before the TTL passed")
	f.clock.Advance(time.Minute)
	f.refuses(t, known, "deactivated")
}

func TestVerifyWithoutTrustCache(t *testing.T) {
	f := newFixture(t, WithTrustCacheTTL(0))
	tok := f.token(t, nil)
	for range 3 {
		f.accepts(t, tok, "")
	}
	if got := f.trust.callCount(); got != 3 {
		t.Fatalf("directory asked %d times with the cache off, want 3", got)
	}
}

func TestVerifyLeeway(t *testing.T) {
	tests := []struct {
		name    string
		leeway  time.Duration
		expIn   time.Duration
		wantErr bool
	}{
		{"default leeway covers 20s of skew", 0, -20 * time.Second, false},
		{"default leeway does not cover 40s", 0, -40 * time.Second, true},
		{"no leeway", time.Nanosecond, -time.Second, true},
		{"two minutes of leeway", 2 * time.Minute, -100 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []VerifierOption
			if tc.leeway != 0 {
				opts = append(opts, WithLeeway(tc.leeway))
			}
			f := newFixture(t, opts...)
			_, err := f.v.Verify(t.Context(), f.token(t, map[string]any{"exp": t0.Add(tc.expIn).Unix()}))
			if tc.wantErr {
				wantCode(t, err, errs.Unauthenticated, "token expired")
			} else if err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	f := newFixture(t)
	oldTok := f.token(t, nil)
	newKey := newKey(t, jose.EdDSA, "kz-2026-02")
	newTok := sign(t, newKey, validClaims(t0))

	f.accepts(t, oldTok, "")
	writeJWKS(t, f.jwksPath, newKey)

	// The keys were read at start less than 30s ago: an unknown kid does
	// not make the verifier read them again yet.
	f.clock.Advance(10 * time.Second)
	f.refuses(t, newTok, "signing key is not known")

	f.clock.Advance(refreshInterval)
	f.accepts(t, newTok, "token of the new key after the refresh")
	// The withdrawn key is gone with the refresh.
	f.refuses(t, oldTok, "signing key is not known")
}

func TestVerifyDropsWithdrawnKeyEventually(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, map[string]any{"exp": t0.Add(24 * time.Hour).Unix()})
	writeJWKS(t, f.jwksPath, newKey(t, jose.EdDSA, "kz-2026-02"))

	// A token of a known kid never triggers a refresh, but keys older than
	// keyMaxAge are read again.
	f.accepts(t, tok, "before keyMaxAge")
	f.clock.Advance(keyMaxAge)
	f.refuses(t, tok, "signing key is not known")
}

func TestVerifyKeepsKeysWhenJWKSBreaks(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, map[string]any{"exp": t0.Add(24 * time.Hour).Unix()})
	if err := os.WriteFile(f.jwksPath, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(keyMaxAge)
	f.accepts(t, tok, "a broken JWKS file locked callers out")
}

// jwksServer serves a JWK Set over HTTP and counts the fetches.
type jwksServer struct {
	*httptest.Server
	body   atomic.Pointer[[]byte]
	status atomic.Int32
	hits   atomic.Int32
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{}
	s.body.Store(&body)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(int(s.status.Load()))
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func TestVerifyURLJWKS(t *testing.T) {
	key := newKey(t, jose.ES256, "uz-1")
	srv := newJWKSServer(t, writeJWKS(t, "", key))
	trust := newFakeTrust()
	clock := &fakeClock{now: t0}
	v, err := NewVerifier([]Issuer{{ID: otherIssuer, JWKS: srv.URL + "/jwks"}}, trust,
		WithClock(clock.Now), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 0 {
		t.Fatalf("NewVerifier fetched a URL JWKS %d times, want lazily", got)
	}
	tok := sign(t, key, with(validClaims(t0), map[string]any{"iss": otherIssuer, "agency": "uz-gp"}))

	for range 3 {
		p, err := v.Verify(t.Context(), tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if p.State != "UZ" || p.Issuer != otherIssuer {
			t.Fatalf("got %+v", p)
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times for 3 tokens, want 1", got)
	}

	// Made-up kids cost one fetch per refreshInterval at most.
	clock.Advance(refreshInterval)
	for i := range 5 {
		forged := sign(t, newKey(t, jose.ES256, "made-up-"+string(rune('a'+i))),
			with(validClaims(t0), map[string]any{"iss": otherIssuer, "agency": "uz-gp"}))
		_, err := v.Verify(t.Context(), forged)
		wantCode(t, err, errs.Unauthenticated, "signing key is not known")
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", got)
	}
}

func TestVerifyURLJWKSUnreachable(t *testing.T) {
	key := newKey(t, jose.EdDSA, "uz-1")
	srv := newJWKSServer(t, []byte("oops"))
	srv.status.Store(http.StatusServiceUnavailable)
	clock := &fakeClock{now: t0}
	v, err := NewVerifier([]Issuer{{ID: otherIssuer, JWKS: srv.URL + "/jwks"}}, newFakeTrust(),
		WithClock(clock.Now), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, key, with(validClaims(t0), map[string]any{"iss": otherIssuer, "agency": "uz-gp"}))

	_, err = v.Verify(t.Context(), tok)
	wantCode(t, err, errs.Unavailable, "cannot be fetched")

	// The identity provider comes back; the verifier retries soon after.
	body := writeJWKS(t, "", key)
	srv.body.Store(&body)
	srv.status.Store(http.StatusOK)
	clock.Advance(retryInterval)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify after the JWKS came back: %v", err)
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "jwks.json")
	writeJWKS(t, good, newKey(t, jose.EdDSA, "k"))
	hmacOnly := filepath.Join(dir, "hmac.json")
	if err := os.WriteFile(hmacOnly, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		issuers []Issuer
		trust   TrustSource
		opts    []VerifierOption
	}{
		{name: "no issuers", trust: newFakeTrust()},
		{name: "no trust source", issuers: []Issuer{{ID: testIssuer, JWKS: good}}},
		{name: "issuer without id", issuers: []Issuer{{JWKS: good}}, trust: newFakeTrust()},
		{name: "issuer twice", issuers: []Issuer{{ID: testIssuer, JWKS: good}, {ID: testIssuer, JWKS: good}}, trust: newFakeTrust()},
		{name: "missing JWKS file", issuers: []Issuer{{ID: testIssuer, JWKS: filepath.Join(dir, "nope.json")}}, trust: newFakeTrust()},
		{name: "JWKS with only an HMAC key", issuers: []Issuer{{ID: testIssuer, JWKS: hmacOnly}}, trust: newFakeTrust()},
		{name: "negative leeway", issuers: []Issuer{{ID: testIssuer, JWKS: good}}, trust: newFakeTrust(), opts: []VerifierOption{WithLeeway(-time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(tc.issuers, tc.trust, tc.opts...); err == nil {
				t.Fatal("NewVerifier accepted it")
			}
		})
	}
}

func TestVerifyConcurrently(t *testing.T) {
	f := newFixture(t, WithTrustCacheTTL(time.Second))
	good := f.token(t, nil)
	unknownKid := sign(t, newKey(t, jose.EdDSA, "other"), validClaims(t0))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				if g%4 == 0 && i%10 == 0 {
					f.clock.Advance(time.Second)
				}
				if _, err := f.v.Verify(context.Background(), good); err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
				if _, err := f.v.Verify(context.Background(), unknownKid); errs.CodeOf(err) != errs.Unauthenticated {
					t.Errorf("unknown kid: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header  string
		want    string
		wantErr string
	}{
		{header: "Bearer abc.def.ghi", want: "abc.def.ghi"},
		{header: "bearer abc.def.ghi", want: "abc.def.ghi"},
		{header: "BEARER   abc.def.ghi  ", want: "abc.def.ghi"},
		{header: "", wantErr: "missing bearer token"},
		{header: "   ", wantErr: "missing bearer token"},
		{header: "Bearer", wantErr: "missing bearer token"},
		{header: "Bearer   ", wantErr: "missing bearer token"},
		{header: "Basic dXNlcjpwYXNz", wantErr: "not a bearer token"},
		{header: "abc.def.ghi", wantErr: "not a bearer token"},
		{header: "Bearerabc.def.ghi", wantErr: "not a bearer token"},
		{header: "Bearer abc def", wantErr: "not a bearer token"},
		{header: "Bearer abc\x00def", wantErr: "not a bearer token"},
		{header: "Bearer dGVzdA==", want: "dGVzdA=="},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			got, err := BearerToken(tc.header)
			if tc.wantErr != "" {
				wantCode(t, err, errs.Unauthenticated, tc.wantErr)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	tok := f.token(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	valid := fx.token(f, nil)
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")
	f.Add(b64([]byte(`{"alg":"HS256"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(fx.token(f, map[string]any{"exp": nil}))
	f.Add(fx.token(f, map[string]any{"exp": 1e300}))
	f.Add(fx.token(f, map[string]any{"roles": map[string]any{"a": 1}}))
	f.Add(signRaw(f, fx.key, []byte(`{"iss":"`+testIssuer+`","exp":-1}`)))
	f.Add("")
	f.Add("a.b")
	f.Add("...")

	f.Fuzz(func(t *testing.T, s string) {
		_, err := fx.v.Verify(context.Background(), s)
		if err == nil {
			if s != valid {
				t.Fatalf("Verify accepted %q, which is not the valid token", s)
			}
			return
		}
		if code := errs.CodeOf(err); code != errs.Unauthenticated {
			t.Fatalf("Verify(%q) = %v, code %v; want unauthenticated", s, err, code)
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c ", "Basic x", "", "Bearer", "Bearer a b", "\tBearer\tx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := BearerToken(h)
		if err != nil {
			if code := errs.CodeOf(err); code != errs.Unauthenticated {
				t.Fatalf("BearerToken(%q) code %v, want unauthenticated", h, code)
			}
			return
		}
		trimmed := strings.TrimSpace(h)
		switch {
		case tok == "":
			t.Fatalf("BearerToken(%q) returned an empty token", h)
		case strings.ContainsFunc(tok, func(r rune) bool {
			return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=", r)
		}):
			t.Fatalf("BearerToken(%q) = %q, which is not a b64token", h, tok)
		case !strings.HasSuffix(trimmed, tok):
			t.Fatalf("BearerToken(%q) = %q, not the end of the header", h, tok)
		case len(trimmed) < 7 || !strings.EqualFold(trimmed[:7], "bearer "):
			t.Fatalf("BearerToken(%q) accepted a header that does not start with the Bearer scheme", h)
		}
	})
}
