package console

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/comity-mla/comity/gateway/console/devprovider"
	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
)

// TestSignoutEndsTheProviderSession: signing out of the console also ends
// the session at the development provider (RP-initiated logout): the
// console answers with a page moving on to the provider's
// end_session_endpoint with the ID token as hint, the provider sends the
// user back to the sign-in page, and the session's refresh token no longer
// works there.
func TestSignoutEndsTheProviderSession(t *testing.T) {
	dataDir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	opSrv := httptest.NewServer(nil)
	defer opSrv.Close()
	consoleSrv := httptest.NewServer(nil)
	defer consoleSrv.Close()
	op, err := devprovider.New(devprovider.Config{
		Issuer: opSrv.URL, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"),
		Clients: []devprovider.Client{{ID: "console", Secret: "secret", RedirectURIs: []string{consoleSrv.URL + "/signin/callback"},
			PostLogoutRedirectURIs: []string{consoleSrv.URL + "/signin"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opSrv.Config.Handler = op
	dirConn := startDirectory(t, dataDir, identity.Issuer{ID: opSrv.URL, JWKS: dev.JWKS})
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := New(Config{PublicURL: consoleSrv.URL, SessionSecret: testSecret, Providers: []Provider{{
		ID: "dev", Issuer: opSrv.URL, ClientID: "console", ClientSecret: "secret", States: []string{"KZ"},
	}}}, Backends{Directory: directoryv1.NewDirectoryServiceClient(dirConn), Requests: requestv1.NewRequestServiceClient(conn),
		Audit: auditv1.NewAuditServiceClient(conn)}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range c.Routes() {
		mux.Handle(pattern, h)
	}
	var got *session
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) { got, _ = c.session(w, r) })
	consoleSrv.Config.Handler = mux

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(consoleSrv.URL + "/signin/start?provider=dev")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := url.Values{"authRequestID": {resp.Request.URL.Query().Get("authRequestID")}, "agency": {"kz-gpo"}, "role": {"prosecutor"}, "name": {"Aigerim"}}
	req, _ := http.NewRequest(http.MethodPost, opSrv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", opSrv.URL)
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.String() != consoleSrv.URL+"/" {
		t.Fatalf("the sign-in ended at %s", resp.Request.URL)
	}
	if resp, err = client.Get(consoleSrv.URL + "/probe"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got == nil || got.IDToken == "" || got.Refresh == "" {
		t.Fatalf("the session %+v keeps no ID token or refresh token", got)
	}
	refresh := got.Refresh

	// Sign out: a same-origin form post.
	req, _ = http.NewRequest(http.MethodPost, consoleSrv.URL+"/signout", nil)
	req.Header.Set("Origin", consoleSrv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	noFollow := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	refreshTo := strings.TrimPrefix(resp.Header.Get("Refresh"), "0; url=")
	end, err := url.Parse(refreshTo)
	if resp.StatusCode != http.StatusOK || err != nil || !strings.HasPrefix(refreshTo, opSrv.URL+"/") ||
		end.Query().Get("id_token_hint") != got.IDToken || end.Query().Get("post_logout_redirect_uri") != consoleSrv.URL+"/signin" {
		t.Fatalf("sign-out answered %d with Refresh %q; want the provider's end_session_endpoint with the ID token and the sign-in page", resp.StatusCode, resp.Header.Get("Refresh"))
	}
	if resp, err = client.Get(refreshTo); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.String() != consoleSrv.URL+"/signin" {
		t.Errorf("the provider's sign-out ended at %s, want the console's sign-in page", resp.Request.URL)
	}
	// The provider ended its session: the refresh token is refused.
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"console"}, "client_secret": {"secret"}}
	if resp, err = http.PostForm(opSrv.URL+"/oauth/token", form); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("after the sign-out the provider still renews the session's refresh token")
	}
	if resp, err = client.Get(consoleSrv.URL + "/probe"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != nil {
		t.Error("the console session survived the sign-out")
	}
}

// TestSessionWithoutRoomForTheIDToken: an ID token too large for the
// session cookie is left out, with a log line saying that signing out will
// then be local only; the session itself is kept.
func TestSessionWithoutRoomForTheIDToken(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, err := newSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{log: zap.New(core), sealer: s, cookies: newCookieNames(false), now: time.Now,
		cfg: Config{MaxSessionAge: DefaultMaxSessionAge}}
	sess := &session{Provider: "dev", Access: strings.Repeat("a", 1000), IDToken: strings.Repeat("i", 3000),
		Expiry: time.Now().Add(time.Hour).Unix(), Started: time.Now().Unix()}
	rec := httptest.NewRecorder()
	if err := c.saveSession(rec, sess); err != nil {
		t.Fatalf("a session whose ID token does not fit was not saved: %v", err)
	}
	r := &http.Request{Header: http.Header{"Cookie": rec.Result().Header.Values("Set-Cookie")}}
	var back session
	ck, err := r.Cookie(c.cookies.session)
	if err != nil || c.sealer.open(c.cookies.session, ck.Value, &back) != nil {
		t.Fatalf("no session cookie: %v", err)
	}
	if back.IDToken != "" || back.Access != sess.Access {
		t.Errorf("the saved session keeps an ID token of %d bytes, access token %d bytes; want none and the access token", len(back.IDToken), len(back.Access))
	}
	if logs.FilterMessageSnippet("the ID token does not fit in the session cookie").Len() == 0 {
		t.Error("leaving the ID token out was not logged")
	}
}

// TestSessionTokensTooLarge: a provider whose access and refresh tokens do
// not fit in the session cookie even without the ID token does not sign
// its user in with an internal error: the page says what to tell the
// administrator, and the log names the provider and the sizes.
func TestSessionTokensTooLarge(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, err := newSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{log: zap.New(core), sealer: s, cookies: newCookieNames(false), now: time.Now, i18n: cat,
		cfg: Config{MaxSessionAge: DefaultMaxSessionAge}}
	sess := &session{Provider: "big-idp", Access: strings.Repeat("a", 3000), Refresh: strings.Repeat("r", 2000),
		Expiry: time.Now().Add(time.Hour).Unix(), Started: time.Now().Unix()}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/signin/callback", nil)
	r.Header.Set("Accept-Language", "en")
	if c.keepSession(rec, r, c.page(rec, r, nil), sess) {
		t.Fatal("a session too large for its cookie was kept")
	}
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "too large for the console to keep") {
		t.Errorf("the user was answered %d: %.400s", rec.Code, rec.Body.String())
	}
	if len(rec.Result().Header.Values("Set-Cookie")) != 0 {
		t.Error("a session cookie was set anyway")
	}
	if logs.FilterMessageSnippet("do not fit in the session cookie").FilterField(zap.String("provider", "big-idp")).Len() != 1 {
		t.Error("the refusal was not logged with the provider")
	}
}

// TestUntrustedProviderLoggedOnce: the anonymous sign-in page asks the
// directory on every visit; that a configured provider is not trusted for
// a state is logged once, not once a visit, and again only after it was
// trusted in between.
func TestUntrustedProviderLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	c := &Console{log: zap.New(core)}
	p := Provider{ID: "kz-idp", Issuer: "https://idp.example.kz"}
	for range 1000 {
		if c.noteTrust(p, "KZ", false) {
			t.Fatal("an untrusted provider was offered")
		}
	}
	if !c.noteTrust(p, "KG", true) || c.noteTrust(p, "KG", false) {
		t.Fatal("the trust of another state decided this one")
	}
	if !c.noteTrust(p, "KZ", true) {
		t.Fatal("a trusted provider was not offered")
	}
	c.noteTrust(p, "KZ", false)
	if n := logs.FilterMessageSnippet("does not trust its issuer").Len(); n != 3 {
		t.Errorf("%d log lines, want 3: KZ once, KG once, KZ again after it was trusted in between", n)
	}
}
