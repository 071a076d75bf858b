package identity

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/comity-mla/comity/services/errs"
)

func TestServiceTokens(t *testing.T) {
	dir := t.TempDir()
	svcIss, err := EnsureServiceIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := EnsureDevIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	trust := newFakeTrust()
	v, err := NewVerifier([]Issuer{svcIss, dev}, trust, WithServiceIssuers(ServiceIssuerID))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := NewServiceCredentials(dir, "comity-request")
	if err != nil {
		t.Fatal(err)
	}
	md, err := creds.GetRequestMetadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimPrefix(md["authorization"], "Bearer ")
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("service token refused: %v", err)
	}
	if p.Service != "comity-request" || p.Agency != "" || len(p.Roles) != 0 || p.State != "" {
		t.Errorf("service principal = %+v", p)
	}
	if again, _ := creds.Token(); again != tok {
		t.Error("a fresh token was minted while the last one is valid")
	}
	if _, err := NewServiceCredentials(dir, "comity-evil"); err == nil {
		t.Error("credentials for an unknown service")
	}
	if _, err := NewServiceCredentials(t.TempDir(), "comity-request"); errs.CodeOf(err) != errs.FailedPrecondition {
		t.Errorf("credentials without a key: %v", err)
	}

	sign := func(path string, claims map[string]any) string {
		t.Helper()
		key, err := loadDevKey(path)
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", key.KeyID))
		payload, _ := json.Marshal(claims)
		jws, _ := signer.Sign(payload)
		s, _ := jws.CompactSerialize()
		return s
	}
	now := time.Now()
	base := func(iss string) map[string]any {
		return map[string]any{"iss": iss, "sub": "x", "aud": []string{Audience}, "exp": now.Add(time.Hour).Unix()}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	svcKey := dir + "/service-issuer/signing-key.jwk"
	devKey := dir + "/dev-issuer/signing-key.jwk"
	for _, tc := range []struct {
		name, token string
	}{
		{"a user token claiming a service", sign(devKey, with(base(DevIssuerID), "agency", "kz-gpo", "roles", []string{"auditor"}, "service", "comity-request"))},
		{"a service token for an unknown service", sign(svcKey, with(base(ServiceIssuerID), "service", "comity-evil"))},
		{"a service token naming an agency", sign(svcKey, with(base(ServiceIssuerID), "service", "comity-request", "agency", "kz-gpo"))},
		{"a service token with roles", sign(svcKey, with(base(ServiceIssuerID), "service", "comity-request", "roles", []string{"auditor"}))},
		{"a service token signed by the dev key", sign(devKey, with(base(ServiceIssuerID), "service", "comity-request"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), tc.token); errs.CodeOf(err) != errs.Unauthenticated {
				t.Errorf("Verify = %v, want Unauthenticated", err)
			}
		})
	}
	// A verifier that does not treat the issuer as a service issuer refuses
	// its tokens (they name no agency).
	plain, _ := NewVerifier([]Issuer{svcIss}, trust)
	if _, err := plain.Verify(t.Context(), tok); errs.CodeOf(err) != errs.Unauthenticated {
		t.Errorf("service token without WithServiceIssuers: %v", err)
	}
}
