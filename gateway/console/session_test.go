package console

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/comity-mla/comity/gateway/console/devprovider"
	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

var testSecret = []byte(strings.Repeat("k", MinSessionSecretLen))

func TestSealer(t *testing.T) {
	s, err := newSealer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	in := session{Access: "a.b.c", Refresh: "r", Agency: "kz-gpo", Roles: []string{"prosecutor"}}
	sealed, err := s.seal("comity-session", in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "a.b.c") || strings.Contains(sealed, "kz-gpo") {
		t.Fatal("the sealed cookie shows its content")
	}
	var out session
	if err := s.open("comity-session", sealed, &out); err != nil || out.Access != "a.b.c" || out.Agency != "kz-gpo" {
		t.Fatalf("open = %+v, %v", out, err)
	}
	other, _ := newSealer([]byte(strings.Repeat("x", MinSessionSecretLen)))
	flipped := []byte(sealed)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		s            *sealer
		cookie, text string
	}{
		"another cookie's value": {s, "comity-signin", sealed},
		"another secret":         {other, "comity-session", sealed},
		"a changed byte":         {s, "comity-session", string(flipped)},
		"not base64":             {s, "comity-session", "%%%"},
		"too short":              {s, "comity-session", "AAAA"},
	} {
		t.Run(name, func(t *testing.T) {
			var v session
			if err := tc.s.open(tc.cookie, tc.text, &v); err == nil {
				t.Errorf("a cookie with %s was accepted", name)
			}
		})
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Error("a 5-byte session secret was accepted")
	}
}

// TestSessionRefresh signs in through the development provider with the
// console's relying party, over HTTP without a browser, then checks that an
// access token about to expire is renewed with the refresh token, that the
// refresh token rotates, and that a session whose refresh token the
// provider no longer knows ends.
func TestSessionRefresh(t *testing.T) {
	dataDir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	opSrv := httptest.NewUnstartedServer(nil)
	opSrv.Start()
	defer opSrv.Close()
	var consoleURL string
	newOP := func() *devprovider.Provider {
		p, err := devprovider.New(devprovider.Config{
			Issuer: opSrv.URL, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"),
			Clients: []devprovider.Client{{ID: "console", Secret: "secret", RedirectURIs: []string{consoleURL + "/signin/callback"}}},
			// Shorter than the refresh margin: every page renews it.
			AccessTokenTTL: 10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The directory says who signed in (GetCaller); the other services are
	// not needed here: clients that are never reached.
	dirConn := startDirectory(t, dataDir, identity.Issuer{ID: opSrv.URL, JWKS: dev.JWKS})
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	consoleSrv := httptest.NewServer(nil)
	defer consoleSrv.Close()
	consoleURL = consoleSrv.URL
	opSrv.Config.Handler = newOP()
	c, err := New(Config{PublicURL: consoleURL, SessionSecret: testSecret, Providers: []Provider{{
		ID: "dev", Issuer: opSrv.URL, ClientID: "console", ClientSecret: "secret", States: []string{"KZ"},
	}}}, Backends{Directory: directoryv1.NewDirectoryServiceClient(dirConn), Requests: requestv1.NewRequestServiceClient(conn), Audit: auditv1.NewAuditServiceClient(conn)}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range c.Routes() {
		mux.Handle(pattern, h)
	}
	// A probe page that shows whether the request has a session.
	var got *session
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) {
		got, _ = c.session(w, r)
	})
	consoleSrv.Config.Handler = mux

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	signIn := func() {
		t.Helper()
		resp, err := client.Get(consoleURL + "/signin/start?provider=dev")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/login") {
			t.Fatalf("sign-in start ended at %s with %d, want the provider's login page", resp.Request.URL, resp.StatusCode)
		}
		form := url.Values{"authRequestID": {resp.Request.URL.Query().Get("authRequestID")}, "agency": {"kz-gpo"},
			"role": {"prosecutor"}, "name": {"Aigerim"}}
		req, _ := http.NewRequest(http.MethodPost, opSrv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", opSrv.URL)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.String() != consoleURL+"/" {
			t.Fatalf("the sign-in ended at %s, want the console's dashboard", resp.Request.URL)
		}
	}
	signIn()

	probe := func() *session {
		t.Helper()
		got = nil
		resp, err := client.Get(consoleURL + "/probe")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return got
	}
	first := probe()
	if first == nil || first.Refresh == "" || first.Agency != "kz-gpo" || first.Name != "Aigerim" {
		t.Fatalf("after the sign-in the session is %+v, want kz-gpo's with a refresh token", first)
	}
	second := probe()
	switch {
	case second == nil:
		t.Fatal("the session ended instead of being refreshed")
	case second.Access == first.Access:
		t.Error("an access token about to expire was not renewed")
	case second.Refresh == first.Refresh:
		t.Error("the refresh token did not rotate")
	}
	if third := probe(); third == nil || third.Access == second.Access {
		t.Error("the rotated refresh token was not stored in the cookie")
	}

	// Two pages at once: the one that comes second with the same cookie
	// finds its refresh token spent; its access token is still valid, so
	// it is served and leaves the cookie alone.
	u, _ := url.Parse(consoleURL)
	var before *http.Cookie
	for _, ck := range jar.Cookies(u) {
		if ck.Name == c.cookies.session {
			before = ck
		}
	}
	if before == nil {
		t.Fatal("no session cookie in the jar")
	}
	probe() // the first page: refreshes, rotates
	got = nil
	req, _ := http.NewRequest(http.MethodGet, consoleURL+"/probe", nil)
	req.AddCookie(before)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got == nil {
		t.Error("a page racing a refresh lost its session")
	}
	if sc := resp.Header.Get("Set-Cookie"); sc != "" {
		t.Errorf("a page racing a refresh set %q", sc)
	}

	// A provider that no longer knows the refresh token (here: restarted)
	// ends the session once its access token expired; the next page asks
	// the user to sign in.
	opSrv.Config.Handler = newOP()
	if s := probe(); s == nil {
		t.Error("a session whose access token is still valid ended when its refresh was refused")
	}
	c.now = func() time.Time { return time.Now().Add(time.Minute) }
	if s := probe(); s != nil {
		t.Error("a session whose token expired and whose refresh was refused is still open")
	}
	c.now = time.Now
	resp, err = client.Get(consoleURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/signin" {
		t.Errorf("after the session ended the dashboard leads to %s, want /signin", resp.Request.URL)
	}

	// A session past its maximum age ends, however fresh its token.
	signIn()
	if probe() == nil {
		t.Fatal("no session after signing in again")
	}
	c.now = func() time.Time { return time.Now().Add(DefaultMaxSessionAge + time.Minute) }
	defer func() { c.now = time.Now }()
	if s := probe(); s != nil {
		t.Error("a session older than its maximum age is still open")
	}
}

// startDirectory runs a real directory service on SQLite whose states all
// trust issuer, and returns a connection to it.
func startDirectory(t *testing.T, dataDir string, issuer identity.Issuer) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- directoryd.Run(ctx, directoryd.Config{
			Listener: l, Database: "sqlite:" + filepath.Join(dataDir, "directory.db"),
			Issuers: []identity.Issuer{issuer}, SeedTrustedIssuers: []string{issuer.ID},
			Producer: relay.Producer{AuditDigestKey: make(trail.DigestKey, trail.DigestKeySize)}, Logger: zaptest.NewLogger(t),
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("directory service: %v", err)
		}
	})
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestCookieNames(t *testing.T) {
	for _, tc := range []struct {
		secure     bool
		wantPrefix string
	}{{true, "__Host-"}, {false, "comity-"}} {
		n := newCookieNames(tc.secure)
		for _, name := range []string{n.session, n.signin, n.lang} {
			c := n.cookie(name, "v", time.Hour)
			switch {
			case !strings.HasPrefix(c.Name, tc.wantPrefix):
				t.Errorf("secure=%v: cookie %q lacks the prefix %q", tc.secure, c.Name, tc.wantPrefix)
			case c.Secure != tc.secure, !c.HttpOnly, c.SameSite != http.SameSiteLaxMode, c.Path != "/", c.Domain != "":
				// __Host- cookies must be Secure, Path=/ and without Domain.
				t.Errorf("secure=%v: cookie %s is %+v", tc.secure, c.Name, c)
			}
		}
	}
}
