package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/comity-mla/comity/gateway/console"
	"github.com/comity-mla/comity/services/identity"
)

// kgIssuer is a provider of Kyrgyzstan whose tokens are shaped otherwise
// than Comity's: the agency as an organisation code in a nested object,
// roles as group names, the name in `full_name`.
const kgIssuer = "https://idp.kg.example/realms/prosecution"

// kgMapping is the directory entry that maps kgIssuer's tokens, as the REST
// API takes it.
func kgMapping(issuer string) map[string]any {
	return map[string]any{
		"issuer": issuer, "agencyClaim": "kg_org.code", "rolesClaim": "groups", "nameClaim": "full_name",
		"agencyValues": map[string]any{"KG-PROSECUTOR-GENERAL": "kg-gpo"},
		"roleValues":   map[string]any{"mla-prosecutors": "prosecutor", "mla-liaison": "liaison_officer"},
	}
}

// kgClaims are the provider's claims of a KG user: Comity's own claims are
// absent.
func kgClaims(org string, groups ...string) map[string]any {
	return map[string]any{
		"full_name": "Aidai Bekova",
		"kg_org":    map[string]any{"code": org},
		"groups":    groups,
	}
}

// testIssuer signs tokens of one issuer whose JWK Set is a file.
type testIssuer struct {
	id   string
	key  ed25519.PrivateKey
	jwks string
}

func newTestIssuer(t *testing.T, id string) testIssuer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "kg-1", Use: "sig", Algorithm: string(jose.EdDSA)}}}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kg-jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return testIssuer{id: id, key: key, jwks: path}
}

// token signs claims with the registered ones a valid token has.
func (ti testIssuer) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	all := map[string]any{"iss": ti.id, "sub": "kg-user-17", "aud": "comity",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		all[k] = v
	}
	payload, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: ti.key, KeyID: "kg-1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setKGMapping gives KG's entry of issuer the mapping, as KG's directory
// administrator does through the REST API.
func setKGMapping(t testing.TB, s *suite, mapping map[string]any) {
	t.Helper()
	admin := s.token("kg-gpo", identity.DirectoryAdmin)
	st := s.mustDo("GET", "/v1/states/KG", admin, nil, http.StatusOK)
	r := s.do("PATCH", "/v1/states/KG?updateMask=claimMappings", admin,
		map[string]any{"etag": st.body["etag"], "claimMappings": []any{mapping}})
	if r.status != http.StatusOK {
		t.Fatalf("setting KG's claim mapping: %d %s", r.status, r.raw)
	}
	got, _ := r.body["claimMappings"].([]any)
	if len(got) != 1 {
		t.Fatalf("KG's state after the change has claim mappings %v, want the one set", r.body["claimMappings"])
	}
}

// TestClaimMappingThroughTheServices: a provider whose tokens carry no
// Comity claims is trusted for KG with a claim mapping set through the REST
// API; its users' tokens then pass every service over real gRPC, as the
// services see them (GET /v1/caller), and a value the mapping does not know
// is refused naming the claim and the value. A mapping that would name an
// unknown role is refused naming its field.
func TestClaimMappingThroughTheServices(t *testing.T) {
	kg := newTestIssuer(t, kgIssuer)
	s := startSuite(t, suiteOptions{trustedIssuers: []identity.Issuer{{ID: kg.id, JWKS: kg.jwks}}})

	bad := kgMapping(kg.id)
	bad["roleValues"] = map[string]any{"mla-prosecutors": "chief"}
	admin := s.token("kg-gpo", identity.DirectoryAdmin)
	etag := s.mustDo("GET", "/v1/states/KG", admin, nil, http.StatusOK).body["etag"]
	r := s.do("PATCH", "/v1/states/KG?updateMask=claimMappings", admin, map[string]any{"etag": etag, "claimMappings": []any{bad}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "claim_mappings[0].role_values") || !strings.Contains(r.raw, `\"chief\" is not a Comity role`) {
		t.Errorf("a mapping to an unknown role: %d %s; want 400 naming claim_mappings[0].role_values", r.status, r.raw)
	}

	// Before the mapping, the provider's token names no agency.
	tok := kg.token(t, kgClaims("KG-PROSECUTOR-GENERAL", "staff", "mla-prosecutors", "mla-liaison"))
	if r := s.do("GET", "/v1/caller", tok, nil); r.status != http.StatusUnauthorized || !strings.Contains(r.raw, `token has no agency (claim \"agency\")`) {
		t.Errorf("an unmapped provider token: %d %s; want 401 saying it has no agency", r.status, r.raw)
	}

	setKGMapping(t, s, kgMapping(kg.id))

	// The directory's answers are cached briefly (2s in the directory
	// itself): the change is seen within that time.
	deadline := time.Now().Add(10 * time.Second)
	for r = s.do("GET", "/v1/caller", tok, nil); r.status != http.StatusOK && time.Now().Before(deadline); r = s.do("GET", "/v1/caller", tok, nil) {
		time.Sleep(250 * time.Millisecond)
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/caller with a mapped token: %d %s", r.status, r.raw)
	}
	roles, _ := r.body["roles"].([]any)
	if r.body["agency"] != "agencies/kg-gpo" || r.body["state"] != "KG" || r.body["displayName"] != "Aidai Bekova" ||
		r.body["subject"] != "kg-user-17" || r.body["issuer"] != kg.id ||
		!slices.Equal(roles, []any{"prosecutor", "liaison_officer"}) {
		t.Errorf("the caller the services see: %s; want Aidai Bekova, kg-gpo of KG, prosecutor and liaison_officer", r.raw)
	}

	// The request service accepts the mapped token too: a KG prosecutor's
	// draft is created and listed.
	created := s.do("POST", "/v1/requests", tok, map[string]any{"type": "DATA_PRESERVATION", "priority": "URGENT", "requestedState": "UZ"})
	if created.status != http.StatusOK {
		t.Fatalf("create as the mapped KG prosecutor: %d %s", created.status, created.raw)
	}
	if from := created.body["requestingAgency"]; from != "agencies/kg-gpo" {
		t.Errorf("the mapped user's request is from %v, want agencies/kg-gpo", from)
	}

	for _, tc := range []struct {
		name, want string
		claims     map[string]any
	}{
		{"an organisation the mapping does not list", `token claim \"kg_org.code\" value \"KG-MINISTRY\" maps to no agency`,
			kgClaims("KG-MINISTRY", "mla-prosecutors")},
		{"groups none of which is mapped", `token claim \"groups\" values \"staff\", \"admins\" map to no Comity role`,
			kgClaims("KG-PROSECUTOR-GENERAL", "staff", "admins")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/caller", "/v1/requests"} {
				r := s.do("GET", path, kg.token(t, tc.claims), nil)
				if r.status != http.StatusUnauthorized || !strings.Contains(r.raw, tc.want) {
					t.Errorf("GET %s: %d %s; want 401 saying %s", path, r.status, r.raw, tc.want)
				}
			}
		})
	}

	// The dev issuer keeps the default mapping.
	if r := s.do("GET", "/v1/caller", s.token("kz-gpo", identity.Prosecutor), nil); r.status != http.StatusOK || r.body["agency"] != "agencies/kz-gpo" {
		t.Errorf("a dev token's caller: %d %s", r.status, r.raw)
	}
}

// mappedMockUser is a mockoidc user whose ID token carries claims shaped
// as another provider's would be (see kgClaims), not Comity's.
type mappedMockUser struct {
	subject string
	claims  map[string]any
}

func (u mappedMockUser) ID() string { return u.subject }

func (u mappedMockUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]any{"sub": u.subject})
}

func (u mappedMockUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return mappedMockClaims{IDTokenClaims: base, extra: u.claims}, nil
}

// mappedMockClaims are mockoidc's registered claims and the user's own.
type mappedMockClaims struct {
	*mockoidc.IDTokenClaims
	extra map[string]any
}

func (c mappedMockClaims) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(c.IDTokenClaims)
	if err != nil {
		return nil, err
	}
	all := map[string]any{}
	if err := json.Unmarshal(base, &all); err != nil {
		return nil, err
	}
	for k, v := range c.extra {
		all[k] = v
	}
	return json.Marshal(all)
}

// TestSigninOffersTrustedProviders: the sign-in page lists for a state only
// the configured providers whose issuer the directory trusts for it, read
// without a token (GET /v1/trustedIssuers answers anyone); a configured
// provider the directory does not trust is left out with a log line
// saying why.
func TestSigninOffersTrustedProviders(t *testing.T) {
	kg := newTestIssuer(t, kgIssuer)
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	const untrusted = "https://idp.elsewhere.example/"
	s := startSuite(t, suiteOptions{
		trustedIssuers: []identity.Issuer{{ID: kg.id, JWKS: kg.jwks}},
		logger:         zap.New(core), metrics: reg,
		console: func(base string) *console.Config {
			return &console.Config{PublicURL: base, SessionSecret: []byte(strings.Repeat("0123456789abcdef", 4)),
				Providers: []console.Provider{
					{ID: "kg-idp", Name: "KG prosecution IdP", Issuer: kg.id, ClientID: "comity", ClientSecret: "x", States: []string{"KG", "UZ"}},
					{ID: "elsewhere", Name: "Untrusted IdP", Issuer: untrusted, ClientID: "comity", ClientSecret: "x", States: []string{"KG"}},
				}}
		},
	})

	r := s.do("GET", "/v1/trustedIssuers", "", nil)
	if r.status != http.StatusOK || !strings.Contains(r.raw, `"state":"KG"`) || !strings.Contains(r.raw, kg.id) {
		t.Fatalf("GET /v1/trustedIssuers without a token: %d %s; want every state with its issuers", r.status, r.raw)
	}

	page := func(state string) string {
		t.Helper()
		resp, err := s.http.Get(s.baseURL + "/signin?state=" + state)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in page of %s: %d", state, resp.StatusCode)
		}
		return b.String()
	}
	kgPage := page("KG")
	if !strings.Contains(kgPage, `data-provider="kg-idp"`) {
		t.Error("the KG sign-in page does not offer the provider the directory trusts for KG")
	}
	if strings.Contains(kgPage, `data-provider="elsewhere"`) {
		t.Error("the KG sign-in page offers a provider whose issuer the directory does not trust")
	}
	said := logs.FilterMessage("console provider not offered: the directory does not trust its issuer for the state").
		FilterField(zap.String("provider", "elsewhere")).FilterField(zap.String("issuer", untrusted))
	if said.Len() == 0 {
		t.Error("leaving out the untrusted provider was not logged with its id and issuer")
	}
	// The reads without a token are counted as anonymous calls (and
	// recorded in their aggregate audit events).
	if n := anonymousReads(t, reg); n < 2 {
		t.Errorf("comity_unauthenticated_calls_total counts %v anonymous reads of ListTrustedIssuers, want the API's and the sign-in page's", n)
	}

	// UZ stops trusting the KG issuer: it is no longer offered for UZ.
	admin := s.token("uz-gpo", identity.DirectoryAdmin)
	st := s.mustDo("GET", "/v1/states/UZ", admin, nil, http.StatusOK)
	issuers := []any{}
	for _, iss := range st.body["trustedIssuers"].([]any) {
		if iss != kg.id {
			issuers = append(issuers, iss)
		}
	}
	if r := s.do("PATCH", "/v1/states/UZ?updateMask=trustedIssuers", admin, map[string]any{"etag": st.body["etag"], "trustedIssuers": issuers}); r.status != http.StatusOK {
		t.Fatalf("UZ drops the KG issuer: %d %s", r.status, r.raw)
	}
	if strings.Contains(page("UZ"), `data-provider="kg-idp"`) {
		t.Error("the UZ sign-in page offers a provider UZ no longer trusts")
	}
}

// anonymousReads is how many ListTrustedIssuers calls the directory counted
// as anonymous reads.
func anonymousReads(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range families {
		if f.GetName() != "comity_unauthenticated_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["reason"] == "anonymous_read" && strings.HasSuffix(labels["method"], "/ListTrustedIssuers") {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
