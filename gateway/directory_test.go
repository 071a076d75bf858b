package gateway_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/comity-mla/comity/services/identity"
)

func names(t *testing.T, r response, key string) []string {
	t.Helper()
	items, _ := r.body[key].([]any)
	var out []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		n, _ := m["name"].(string)
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestAgenciesOfAState(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	tok := s.token("kz-gpo", identity.Prosecutor)

	r := s.do("GET", "/v1/agencies?filter="+url.QueryEscape(`state="UZ"`), tok, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := []string{"agencies/uz-247", "agencies/uz-city-prosecutor", "agencies/uz-gpo", "agencies/uz-oversight", "agencies/uz-police-cyber"}
	if got := names(t, r, "agencies"); !slices.Equal(got, want) {
		t.Errorf("agencies of UZ = %v, want %v", got, want)
	}

	r = s.do("GET", "/v1/agencies/uz-247", tok, nil)
	if r.status != http.StatusOK || r.body["kind"] != "CONTACT_POINT_24_7" || r.body["state"] != "UZ" || r.body["active"] != true {
		t.Errorf("GET uz-247 = %d %s", r.status, r.raw)
	}
	if langs, _ := r.body["acceptedLanguages"].([]any); !slices.Contains(langs, any("ru")) || !slices.Contains(langs, any("uz")) {
		t.Errorf("uz-247 accepted languages = %v, want ru and uz", langs)
	}

	r = s.do("GET", "/v1/states", tok, nil)
	if got := names(t, r, "states"); !slices.Equal(got, []string{"states/KG", "states/KZ", "states/TJ", "states/TM", "states/UZ"}) {
		t.Errorf("states = %v", got)
	}
	r = s.do("GET", "/v1/states/KZ", tok, nil)
	if r.status != http.StatusOK || r.body["timeZone"] != "Asia/Almaty" {
		t.Errorf("GET states/KZ = %d %s", r.status, r.raw)
	}
	r = s.do("GET", "/v1/states/ZZ", tok, nil)
	if r.status != http.StatusNotFound {
		t.Errorf("GET states/ZZ = %d, want 404", r.status)
	}
}

func TestListPagesThroughEveryAgency(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	tok := s.token("tj-gpo", identity.LiaisonOfficer)
	var seen []string
	pageToken := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("more pages than agencies")
		}
		r := s.do("GET", "/v1/agencies?pageSize=3&orderBy="+url.QueryEscape("state desc")+"&pageToken="+url.QueryEscape(pageToken), tok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		items := names(t, r, "agencies")
		if len(items) > 3 {
			t.Fatalf("page of %d agencies, want at most 3", len(items))
		}
		seen = append(seen, items...)
		pageToken, _ = r.body["nextPageToken"].(string)
		if pageToken == "" {
			break
		}
	}
	sort.Strings(seen)
	if len(seen) != 25 || len(slices.Compact(slices.Clone(seen))) != 25 {
		t.Errorf("paged through %d agencies (%v), want the 25 seeded ones once each", len(seen), seen)
	}
}

func TestResolveRoute(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	tok := s.token("kz-gpo", identity.Prosecutor)
	for _, tc := range []struct {
		typ, priority, want string
	}{
		{"DATA_PRESERVATION", "URGENT", "agencies/uz-247"},
		{"DATA_PRESERVATION", "EMERGENCY", "agencies/uz-247"},
		{"DATA_PRESERVATION", "ROUTINE", "agencies/uz-gpo"},
		{"SUBSCRIBER_INFORMATION", "URGENT", "agencies/uz-gpo"},
		{"CONTENT_DATA", "ROUTINE", "agencies/uz-gpo"},
	} {
		t.Run(tc.typ+"/"+tc.priority, func(t *testing.T) {
			r := s.do("GET", "/v1/routes:resolve?requestedState=UZ&requestType="+tc.typ+"&priority="+tc.priority, tok, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			agency, _ := r.body["agency"].(map[string]any)
			if agency["name"] != tc.want {
				t.Errorf("route = %v, want %s", agency["name"], tc.want)
			}
		})
	}

	// With its 24/7 contact point deactivated, urgent preservation falls back
	// to the central authority; with that gone too, nothing receives it.
	// An administrator of uz-oversight does it: one of uz-gpo may not
	// deactivate their own agency (their role would stop counting there).
	admin := s.token("uz-oversight", identity.DirectoryAdmin)
	if r := s.do("POST", "/v1/agencies/uz-247:deactivate", admin, s.withEtag("uz-247", admin, nil)); r.status != http.StatusOK || r.body["active"] != false {
		t.Fatalf("deactivate uz-247 = %d %s", r.status, r.raw)
	}
	r := s.do("GET", "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION&priority=URGENT", tok, nil)
	if agency, _ := r.body["agency"].(map[string]any); agency["name"] != "agencies/uz-gpo" {
		t.Errorf("route without a 24/7 point = %s", r.raw)
	}
	if r := s.do("POST", "/v1/agencies/uz-gpo:deactivate", admin, s.withEtag("uz-gpo", admin, nil)); r.status != http.StatusOK {
		t.Fatalf("deactivate uz-gpo = %d %s", r.status, r.raw)
	}
	r = s.do("GET", "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION&priority=URGENT", tok, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.message(), "no active agency") {
		t.Errorf("route with no receiving agency = %d %s, want 400 naming the problem", r.status, r.raw)
	}
	r = s.do("GET", "/v1/routes:resolve?requestedState=ZZ&requestType=DATA_PRESERVATION&priority=URGENT", tok, nil)
	if r.status != http.StatusBadRequest || !slices.ContainsFunc(r.violations(), func(v string) bool { return strings.HasPrefix(v, "requested_state") }) {
		t.Errorf("route to an unknown state = %d %s, want 400 naming requested_state", r.status, r.raw)
	}
}

// devKey is the dev issuer's private key, to forge tokens that differ from a
// good one in exactly one respect.
func devKey(t *testing.T, dataDir string) jose.JSONWebKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, key jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claims(iss, agency string, mutate func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": iss, "aud": []string{"comity"}, "sub": "tester", "agency": agency,
		"roles": []string{"prosecutor"}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func b64(v any) string {
	data, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(data)
}

// writeIssuer creates a second issuer's key and JWKS file.
func writeIssuer(t *testing.T, id string) (identity.Issuer, jose.JSONWebKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: "other-1", Algorithm: string(jose.EdDSA), Use: "sig"}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "other-1", Algorithm: string(jose.EdDSA), Use: "sig"}}}
	path := filepath.Join(t.TempDir(), "jwks.json")
	data, _ := json.Marshal(set)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return identity.Issuer{ID: id, JWKS: path}, key
}

func TestEveryBadTokenIsRefused(t *testing.T) {
	other, otherKey := writeIssuer(t, "urn:test:other-idp")
	s := startSuite(t, suiteOptions{extraIssuers: []identity.Issuer{other}})
	key := devKey(t, s.dataDir)
	good := s.token("kz-gpo", identity.Prosecutor)
	if r := s.do("GET", "/v1/agencies/kz-gpo", good, nil); r.status != http.StatusOK {
		t.Fatalf("good token refused: %d %s", r.status, r.raw)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var pc map[string]any
	_ = json.Unmarshal(payload, &pc)
	pc["agency"] = "uz-gpo"
	changedSig := []byte(parts[2])
	changedSig[3] ^= 'A' ^ 'B'
	pubJWKS, _ := os.ReadFile(filepath.Join(s.dataDir, "dev-issuer", "jwks.json"))
	hsInput := b64(map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.KeyID}) + "." + b64(claims(identity.DevIssuerID, "kz-gpo", nil))
	mac := hmac.New(sha256.New, pubJWKS)
	mac.Write([]byte(hsInput))

	for _, tc := range []struct{ name, token string }{
		{"no token", ""},
		{"expired", sign(t, key, claims(identity.DevIssuerID, "kz-gpo", func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			c["iat"], c["nbf"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
		}))},
		{"changed payload", parts[0] + "." + b64(pc) + "." + parts[2]},
		{"changed signature", parts[0] + "." + parts[1] + "." + string(changedSig)},
		{"alg none", b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(claims(identity.DevIssuerID, "kz-gpo", nil)) + "."},
		{"HS256 keyed with the public key", hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))},
		{"wrong audience", sign(t, key, claims(identity.DevIssuerID, "kz-gpo", func(c map[string]any) { c["aud"] = []string{"other-system"} }))},
		{"unknown issuer", sign(t, key, claims("urn:test:unknown", "kz-gpo", nil))},
		{"issuer not trusted for the agency's state", sign(t, otherKey, claims(other.ID, "kz-gpo", nil))},
		{"agency not in the directory", sign(t, key, claims(identity.DevIssuerID, "zz-nowhere", nil))},
		{"not a JWT", "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("GET", "/v1/agencies/kz-gpo", tc.token, nil)
			if r.status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401: %s", r.status, r.raw)
			}
			if r.message() == "" {
				t.Errorf("401 without a message: %s", r.raw)
			}
		})
	}

	// Once KZ trusts the other issuer, its tokens work for KZ agencies and
	// still not for UZ ones.
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	st := s.do("GET", "/v1/states/KZ", admin, nil)
	trusted := append(st.body["trustedIssuers"].([]any), other.ID)
	r := s.do("PATCH", "/v1/states/KZ?updateMask=trustedIssuers", admin, map[string]any{"trustedIssuers": trusted, "etag": st.body["etag"]})
	if r.status != http.StatusOK {
		t.Fatalf("trust other issuer for KZ: %d %s", r.status, r.raw)
	}
	// The verifier caches trust answers briefly; poll until the change shows.
	deadline := time.Now().Add(45 * time.Second)
	for {
		r = s.do("GET", "/v1/agencies/kz-gpo", sign(t, otherKey, claims(other.ID, "kz-gpo", nil)), nil)
		if r.status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r.status != http.StatusOK {
		t.Errorf("token of an issuer KZ trusts, for kz-gpo: %d %s", r.status, r.raw)
	}
	if r := s.do("GET", "/v1/agencies/kz-gpo", sign(t, otherKey, claims(other.ID, "uz-gpo", nil)), nil); r.status != http.StatusUnauthorized {
		t.Errorf("token of an issuer only KZ trusts, for uz-gpo: %d, want 401", r.status)
	}
}

func TestOnlyAStatesDirectoryAdminWrites(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	kzAdmin := s.token("kz-gpo", identity.DirectoryAdmin)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	contact := map[string]any{"contactPoints": []any{map[string]any{"role": "Night desk", "phone": "+7 7172 111 111", "alwaysAvailable": true}}}
	newAgency := map[string]any{"kind": "PROSECUTION", "displayNames": map[string]string{"en": "Astana city prosecutor"}, "acceptedLanguages": []string{"ru", "kk"}}

	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		want                      int
	}{
		{"kz admin patches a kz agency", kzAdmin, "PATCH", "/v1/agencies/kz-police-cyber", s.withEtag("kz-police-cyber", kzAdmin, contact), http.StatusOK},
		{"kz admin patches a uz agency", kzAdmin, "PATCH", "/v1/agencies/uz-247", contact, http.StatusForbidden},
		{"kz admin deactivates a uz agency", kzAdmin, "POST", "/v1/agencies/uz-247:deactivate", map[string]any{}, http.StatusForbidden},
		{"kz admin creates a uz agency", kzAdmin, "POST", "/v1/agencies?agencyId=uz-new", mapWith(newAgency, "state", "UZ"), http.StatusForbidden},
		{"kz admin patches the UZ state", kzAdmin, "PATCH", "/v1/states/UZ", map[string]any{"trustedIssuers": []string{"urn:evil"}}, http.StatusForbidden},
		{"prosecutor patches", prosecutor, "PATCH", "/v1/agencies/kz-police-cyber", contact, http.StatusForbidden},
		{"prosecutor creates", prosecutor, "POST", "/v1/agencies?agencyId=kz-new", newAgency, http.StatusForbidden},
		{"prosecutor deactivates", prosecutor, "POST", "/v1/agencies/kz-oversight:deactivate", map[string]any{}, http.StatusForbidden},
		{"prosecutor patches a state", prosecutor, "PATCH", "/v1/states/KZ", map[string]any{"timeZone": "Asia/Aqtobe"}, http.StatusForbidden},
		{"kz admin creates a kz agency", kzAdmin, "POST", "/v1/agencies?agencyId=kz-astana-prosecutor", newAgency, http.StatusOK},
		{"kz admin creates it again", kzAdmin, "POST", "/v1/agencies?agencyId=kz-astana-prosecutor", newAgency, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.token, tc.body)
			if r.status != tc.want {
				t.Errorf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
		})
	}

	// The PATCH changed only the contact points, and the new agency is there.
	r := s.do("GET", "/v1/agencies/kz-police-cyber", prosecutor, nil)
	cps, _ := r.body["contactPoints"].([]any)
	if len(cps) != 1 || cps[0].(map[string]any)["role"] != "Night desk" || r.body["kind"] != "LAW_ENFORCEMENT" {
		t.Errorf("kz-police-cyber after PATCH = %s", r.raw)
	}
	r = s.do("GET", "/v1/agencies/kz-astana-prosecutor", prosecutor, nil)
	if r.status != http.StatusOK || r.body["state"] != "KZ" || r.body["active"] != true {
		t.Errorf("created agency = %d %s", r.status, r.raw)
	}
	// Nothing of UZ changed.
	r = s.do("GET", "/v1/agencies/uz-247", prosecutor, nil)
	if r.body["active"] != true || len(r.body["contactPoints"].([]any)) != 1 {
		t.Errorf("uz-247 changed by a refused call: %s", r.raw)
	}
}

func mapWith(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for kk, vv := range m {
		out[kk] = vv
	}
	return out
}

func TestStaleEtagIsAConflict(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	first := s.do("GET", "/v1/agencies/kz-oversight", admin, nil)
	etag, _ := first.body["etag"].(string)
	if etag == "" {
		t.Fatalf("no etag: %s", first.raw)
	}
	names := map[string]any{"displayNames": map[string]string{"en": "Oversight board", "ru": "Надзорный совет"}, "etag": etag}
	r := s.do("PATCH", "/v1/agencies/kz-oversight", admin, names)
	if r.status != http.StatusOK || r.body["etag"] == etag {
		t.Fatalf("PATCH with the current etag = %d %s", r.status, r.raw)
	}
	r = s.do("PATCH", "/v1/agencies/kz-oversight", admin, map[string]any{"displayNames": map[string]string{"en": "Lost update"}, "etag": etag})
	if r.status != http.StatusConflict {
		t.Errorf("PATCH with a stale etag = %d, want 409: %s", r.status, r.raw)
	}
	r = s.do("GET", "/v1/agencies/kz-oversight", admin, nil)
	if dn, _ := r.body["displayNames"].(map[string]any); dn["en"] != "Oversight board" {
		t.Errorf("a refused PATCH changed the agency: %s", r.raw)
	}
	r = s.do("POST", "/v1/agencies/kz-oversight:deactivate", admin, map[string]any{"etag": etag})
	if r.status != http.StatusConflict {
		t.Errorf("deactivate with a stale etag = %d, want 409", r.status)
	}
}

func TestBadInputIsA4xxNamingTheProblem(t *testing.T) {
	s := startSuite(t, suiteOptions{maxBody: 64 << 10})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	valid := `{"kind":"PROSECUTION","displayNames":{"en":"X"},"acceptedLanguages":["ru"]}`
	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
		mention            string
	}{
		{"malformed JSON", "POST", "/v1/agencies?agencyId=kz-x", `{"kind": "PROSECUTION",`, 400, "not valid JSON"},
		{"unknown enum value", "POST", "/v1/agencies?agencyId=kz-x", `{"kind":"SPY_AGENCY","displayNames":{"en":"X"}}`, 400, "SPY_AGENCY"},
		{"unspecified enum value", "POST", "/v1/agencies?agencyId=kz-x", `{"kind":"KIND_UNSPECIFIED","displayNames":{"en":"X"}}`, 400, "agency.kind"},
		{"unknown field", "POST", "/v1/agencies?agencyId=kz-x", `{"kind":"PROSECUTION","colour":"red"}`, 400, "colour"},
		{"empty agency id", "POST", "/v1/agencies?agencyId=", valid, 400, "agency_id"},
		{"agency id of another state", "POST", "/v1/agencies?agencyId=uz-x", valid, 400, "agency_id"},
		{"agency id with capitals", "POST", "/v1/agencies?agencyId=KZ-X", valid, 400, "agency_id"},
		{"no display name", "POST", "/v1/agencies?agencyId=kz-x", `{"kind":"PROSECUTION"}`, 400, "display_names"},
		{"bad email", "PATCH", "/v1/agencies/kz-gpo", `{"contactPoints":[{"role":"desk","email":"not-an-email"}]}`, 400, "email"},
		{"unknown update mask field", "PATCH", "/v1/agencies/kz-gpo?updateMask=colour", `{}`, 400, "colour"},
		{"moving an agency to another state", "PATCH", "/v1/agencies/kz-gpo?updateMask=kind", `{"state":"UZ","kind":"PROSECUTION"}`, 400, "state"},
		{"unknown time zone", "PATCH", "/v1/states/KZ", `{"timeZone":"Mars/Olympus"}`, 400, "time_zone"},
		{"bad filter syntax", "GET", "/v1/agencies?filter=" + url.QueryEscape(`state = `), nil, 400, "filter"},
		{"filter on an unknown field", "GET", "/v1/agencies?filter=" + url.QueryEscape(`colour = "red"`), nil, 400, "colour"},
		{"filter with a wrong enum", "GET", "/v1/agencies?filter=" + url.QueryEscape(`kind = SPIES`), nil, 400, "SPIES"},
		{"bad page token", "GET", "/v1/agencies?pageToken=garbage", nil, 400, "page_token"},
		{"negative page size", "GET", "/v1/agencies?pageSize=-1", nil, 400, "page_size"},
		{"bad order by", "GET", "/v1/agencies?orderBy=colour", nil, 400, "order_by"},
		{"unspecified route priority", "GET", "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION", nil, 400, "priority"},
		{"unknown route type", "GET", "/v1/routes:resolve?requestedState=UZ&requestType=GOSSIP&priority=URGENT", nil, 400, "GOSSIP"},
		{"body over the limit", "POST", "/v1/agencies?agencyId=kz-x", `{"kind":"PROSECUTION","displayNames":{"en":"` + strings.Repeat("x", 70<<10) + `"}}`, 413, "limit"},
		{"unknown agency", "GET", "/v1/agencies/kz-nothing", nil, 404, "kz-nothing"},
		{"unknown route", "GET", "/v1/nothing-here", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, admin, tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			all := r.message() + " " + strings.Join(r.violations(), " ")
			if !strings.Contains(all, tc.mention) {
				t.Errorf("error %q does not mention %q", all, tc.mention)
			}
		})
	}
	// A page token is bound to its query.
	first := s.do("GET", "/v1/agencies?pageSize=2&filter="+url.QueryEscape(`state = "KZ"`), admin, nil)
	tok, _ := first.body["nextPageToken"].(string)
	r := s.do("GET", "/v1/agencies?pageSize=2&pageToken="+url.QueryEscape(tok)+"&filter="+url.QueryEscape(`state = "UZ"`), admin, nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("page token reused with another filter = %d, want 400", r.status)
	}
}

func TestCreatedAgencySurvivesARestart(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, suiteOptions{dataDir: dataDir})
	admin := s.token("kg-gpo", identity.DirectoryAdmin)
	r := s.do("POST", "/v1/agencies?agencyId=kg-bishkek-cyber", admin, map[string]any{
		"kind": "LAW_ENFORCEMENT", "displayNames": map[string]string{"en": "Bishkek cyber police"},
		"contactPoints": []any{map[string]any{"role": "duty", "email": "duty@bishkek.example"}},
	})
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	s.stop()

	s = startSuite(t, suiteOptions{dataDir: dataDir})
	r = s.do("GET", "/v1/agencies/kg-bishkek-cyber", s.token("kz-oversight", identity.Auditor), nil)
	if r.status != http.StatusOK || r.body["state"] != "KG" {
		t.Errorf("after restart: %d %s", r.status, r.raw)
	}
	r = s.do("GET", "/v1/agencies?filter="+url.QueryEscape(`state = "KG"`), admin, nil)
	if n := len(names(t, r, "agencies")); n != 6 {
		t.Errorf("KG has %d agencies after restart, want 5 seeded + 1 created (seeding must not run twice)", n)
	}
}

func TestHealthAndTraceID(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	r := s.do("GET", "/healthz", "", nil)
	if r.status != http.StatusOK {
		t.Errorf("/healthz = %d", r.status)
	}
	r = s.do("GET", "/readyz", "", nil)
	if r.status != http.StatusOK || r.body["ready"] != true {
		t.Errorf("/readyz = %d %s", r.status, r.raw)
	}
	r = s.do("GET", "/v1/agencies/kz-gpo", "", nil)
	if id := r.header.Get("X-Trace-Id"); len(id) < 8 {
		t.Errorf("no trace id on a refused call: %v", r.header)
	}
}

func TestCORSIsOffUnlessConfigured(t *testing.T) {
	preflight := func(s *suite, origin string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("OPTIONS", s.baseURL+"/v1/agencies", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	off := startSuite(t, suiteOptions{})
	if h := preflight(off, "https://portal.gpo.kz.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS answered without being configured: %v", h)
	}
	on := startSuite(t, suiteOptions{corsOrigins: []string{"https://portal.gpo.kz.example"}})
	if h := preflight(on, "https://portal.gpo.kz.example"); h.Get("Access-Control-Allow-Origin") != "https://portal.gpo.kz.example" {
		t.Errorf("an allowed origin's preflight: %v", h)
	}
	if h := preflight(on, "https://elsewhere.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin was allowed: %v", h)
	}
	// A real call from the allowed origin carries the header, and the
	// token is still required.
	req, _ := http.NewRequest("GET", on.baseURL+"/v1/agencies/kz-gpo", nil)
	req.Header.Set("Origin", "https://portal.gpo.kz.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "https://portal.gpo.kz.example" {
		t.Errorf("cross-origin call without a token = %d %v", resp.StatusCode, resp.Header)
	}
}
