package devprovider

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/comity-mla/comity/services/identity"
)

// TestLoginRefusesBadChoices: the development sign-in page says what is
// wrong with a choice and issues nothing for it; a good choice completes the
// authorization request.
func TestLoginRefusesBadChoices(t *testing.T) {
	dataDir := t.TempDir()
	if _, err := identity.EnsureDevIssuer(dataDir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(nil)
	defer srv.Close()
	p, err := New(Config{Issuer: srv.URL, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"),
		Clients: []Client{{ID: "c", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:1/cb"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p

	// An authorization request, as a relying party starts it.
	oc := oauth2.Config{ClientID: "c", ClientSecret: "s", RedirectURL: "http://127.0.0.1:1/cb", Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/oauth/token"}}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host == "127.0.0.1:1" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := client.Get(oc.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" || !strings.Contains(string(page), "DEVELOPMENT ONLY") {
		t.Fatalf("the authorization request led to %s without the development warning", resp.Request.URL)
	}

	post := func(form url.Values) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.URL)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"unknown agency", url.Values{"authRequestID": {id}, "agency": {"xx-nowhere"}, "role": {"prosecutor"}}, "Pick an agency of the list."},
		{"no role", url.Values{"authRequestID": {id}, "agency": {"kz-gpo"}}, "Pick at least one role."},
		{"unknown role", url.Values{"authRequestID": {id}, "agency": {"kz-gpo"}, "role": {"prosecutor", "king"}}, "Pick roles of the list only."},
		{"long name", url.Values{"authRequestID": {id}, "agency": {"kz-gpo"}, "role": {"prosecutor"}, "name": {strings.Repeat("n", 201)}}, "longer than 200"},
		{"unknown request", url.Values{"authRequestID": {"nope"}, "agency": {"kz-gpo"}, "role": {"prosecutor"}}, "unknown or expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(tc.form)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d, want 400 saying %q; got %s", tc.name, resp.StatusCode, tc.want, body)
			}
		})
	}

	// A cross-origin post is refused.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(url.Values{"authRequestID": {id}, "agency": {"kz-gpo"}, "role": {"prosecutor"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site post of the sign-in form answered %d, want 403", resp.StatusCode)
	}

	// A good choice: the provider redirects to the relying party with a code.
	resp, _ = post(url.Values{"authRequestID": {id}, "agency": {"kz-gpo"}, "role": {"prosecutor"}, "name": {"Aigerim"}})
	loc, err := resp.Location()
	if err != nil || loc.Host != "127.0.0.1:1" || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st" {
		t.Fatalf("a good sign-in answered %d to %v (%v), want a redirect to the client with a code and its state", resp.StatusCode, loc, err)
	}
}
