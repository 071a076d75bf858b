package cliauth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/comity-mla/comity/gateway/cliauth"
	"github.com/comity-mla/comity/gateway/console/devprovider"
	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// startProvider serves the development provider as comity-local does, with
// the console's client and comityctl's, polled every second; codeTTL is
// how long a user code lives (the provider's default when zero).
func startProvider(t *testing.T, codeTTL time.Duration) string {
	t.Helper()
	dataDir := t.TempDir()
	if _, err := identity.EnsureDevIssuer(dataDir); err != nil {
		t.Fatal(err)
	}
	// The issuer is the provider's address: listen first, serve later.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	p, err := devprovider.New(devprovider.Config{
		Issuer: issuer, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"),
		DevicePollInterval: time.Second, DeviceCodeTTL: codeTTL,
		Clients: []devprovider.Client{
			{ID: "comity-console", Secret: "secret", RedirectURIs: []string{"http://127.0.0.1:1/signin/callback"}},
			{ID: cliauth.DefaultClientID, Device: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return issuer
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// result waits for a background Login.
func result(t *testing.T, ctx context.Context, done <-chan gatewaytest.LoginResult) gatewaytest.LoginResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		t.Fatal("Login did not return")
	}
	return gatewaytest.LoginResult{}
}

var kzProsecutor = url.Values{"agency": {"kz-gpo"}, "role": {"prosecutor"}}

// TestLoginDenied: the user denies at the device page; Login says access
// was denied, and the code cannot be approved afterwards.
func TestLoginDenied(t *testing.T) {
	issuer := startProvider(t, 0)
	ctx := testContext(t)
	address, _, done := gatewaytest.StartLogin(t, ctx, cliauth.Options{Issuer: issuer, ClientID: cliauth.DefaultClientID})
	page := gatewaytest.OpenDevicePage(t, address)
	if denied := page.Submit(t, "deny", nil); denied.Status != http.StatusOK || !strings.Contains(denied.Body, "Sign-in denied") {
		t.Fatalf("denying at the device page: %d %.300s", denied.Status, denied.Body)
	}
	r := result(t, ctx, done)
	if !errors.Is(r.Err, cliauth.ErrAccessDenied) || !strings.Contains(r.Err.Error(), "access denied: the sign-in was denied at the identity provider") {
		t.Errorf("Login after a denial: %v; want access denied in words", r.Err)
	}
	if late := page.Submit(t, "approve", kzProsecutor); late.Status != http.StatusBadRequest || !strings.Contains(late.Body, "unknown, expired or already used") {
		t.Errorf("approving a denied code: %d %.300s; want 400 saying the code is used", late.Status, late.Body)
	}
}

// TestLoginExpired: nobody approves before the code expires; Login says
// so and how long the user had, and the page refuses the expired code.
func TestLoginExpired(t *testing.T) {
	issuer := startProvider(t, 2*time.Second)
	ctx := testContext(t)
	address, _, done := gatewaytest.StartLogin(t, ctx, cliauth.Options{Issuer: issuer, ClientID: cliauth.DefaultClientID})
	// The provider made the code before Login printed it.
	expired := time.Now().Add(2 * time.Second)
	r := result(t, ctx, done)
	if !errors.Is(r.Err, cliauth.ErrExpired) || !strings.Contains(r.Err.Error(), "the code expired before the sign-in was approved") ||
		!strings.Contains(r.Err.Error(), "within 2 seconds") {
		t.Errorf("Login whose code expired: %v; want the code expired, approve within 2 seconds", r.Err)
	}
	// Login stops polling at the code's expiry as it measured it, which
	// may come a few milliseconds before the provider's own: the page is
	// tried once the code has expired at the provider for sure.
	time.Sleep(time.Until(expired))
	page := gatewaytest.OpenDevicePage(t, address)
	if late := page.Submit(t, "approve", kzProsecutor); late.Status != http.StatusBadRequest || !strings.Contains(late.Body, "unknown, expired or already used") {
		t.Errorf("approving an expired code: %d %.300s; want 400 saying the code expired", late.Status, late.Body)
	}
}

// TestLoginWithoutDeviceGrant: a provider whose discovery document names
// no device_authorization_endpoint (mockoidc, an independent provider) is
// refused before anything is printed, saying to pass --token instead.
func TestLoginWithoutDeviceGrant(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	var out strings.Builder
	_, err = cliauth.Login(testContext(t), cliauth.Options{Issuer: m.Issuer(), ClientID: m.ClientID, Out: &out})
	if !errors.Is(err, cliauth.ErrNoDeviceGrant) || !strings.Contains(err.Error(), "does not offer the device authorization grant") ||
		!strings.Contains(err.Error(), "--token") {
		t.Errorf("Login at a provider without the device grant: %v; want ErrNoDeviceGrant saying to pass --token", err)
	}
	if out.Len() != 0 {
		t.Errorf("Login printed %q before failing", out.String())
	}
}

// TestLoginRefusesBadOptions: each wrong setting is refused with words
// naming it, before the user is asked to do anything.
func TestLoginRefusesBadOptions(t *testing.T) {
	issuer := startProvider(t, 0)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://" + closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name string
		o    cliauth.Options
		want string
	}{
		{"no issuer", cliauth.Options{ClientID: "comityctl"}, `the issuer "" is not the URL of an identity provider`},
		{"not a URL", cliauth.Options{Issuer: "idp.example.org", ClientID: "comityctl"}, `the issuer "idp.example.org" is not the URL`},
		{"plain http across the network", cliauth.Options{Issuer: "http://idp.example.org", ClientID: "comityctl"}, "plain http: tokens would cross the network unencrypted"},
		{"no client", cliauth.Options{Issuer: issuer}, "no client id"},
		{"unreachable", cliauth.Options{Issuer: nowhere, ClientID: "comityctl"}, "cannot be reached or is not an OpenID provider"},
		{"unknown client", cliauth.Options{Issuer: issuer, ClientID: "nobody"}, `does not let client "nobody" use the device grant`},
		{"client without the device grant", cliauth.Options{Issuer: issuer, ClientID: "comity-console"}, `does not let client "comity-console" use the device grant`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			tc.o.Out = &out
			_, err := cliauth.Login(testContext(t), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Login: %v; want an error saying %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("Login printed %q before failing", out.String())
			}
		})
	}
	if _, err := cliauth.Login(testContext(t), cliauth.Options{Issuer: issuer, ClientID: "comityctl"}); err == nil || !strings.Contains(err.Error(), "Out is nil") {
		t.Errorf("Login without Out: %v; want a refusal (the user would never see the code)", err)
	}
	if _, err := cliauth.Refresh(testContext(t), cliauth.Options{Issuer: issuer, ClientID: "comityctl"}, "not-a-refresh-token"); !errors.Is(err, cliauth.ErrRefreshRefused) {
		t.Errorf("Refresh with an unknown refresh token: %v; want ErrRefreshRefused", err)
	}
}

// TestDevicePageRefusesBadInput: a wrong code, a form too large, a missing
// role or no button pressed are refused with words, and the sign-in still
// completes with the right code afterwards.
func TestDevicePageRefusesBadInput(t *testing.T) {
	issuer := startProvider(t, 0)
	ctx := testContext(t)
	address, code, done := gatewaytest.StartLogin(t, ctx, cliauth.Options{Issuer: issuer, ClientID: cliauth.DefaultClientID})
	page := gatewaytest.OpenDevicePage(t, address)
	for _, tc := range []struct {
		name   string
		action string
		fields url.Values
		want   string
	}{
		{"wrong code", "approve", url.Values{"user_code": {"BBBB-BBBB"}, "agency": {"kz-gpo"}, "role": {"prosecutor"}}, "This code is unknown, expired or already used"},
		{"a code too long", "approve", url.Values{"user_code": {strings.Repeat("B", 5000)}, "agency": {"kz-gpo"}, "role": {"prosecutor"}}, "This code is unknown, expired or already used"},
		{"denial of a wrong code", "deny", url.Values{"user_code": {"not a code \x00<script>"}}, "This code is unknown, expired or already used"},
		{"no role", "approve", url.Values{"agency": {"kz-gpo"}}, "Pick at least one role."},
		{"unknown agency", "approve", url.Values{"agency": {"xx-nowhere"}, "role": {"prosecutor"}}, "Pick an agency of the list."},
		{"no button", "", kzProsecutor, "Choose Approve or Deny."},
		{"form too large", "approve", url.Values{"agency": {"kz-gpo"}, "role": {"prosecutor"}, "name": {strings.Repeat("n", 100<<10)}}, "The form could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := page.Submit(t, tc.action, tc.fields)
			if got.Status != http.StatusBadRequest || !strings.Contains(got.Body, tc.want) || !strings.Contains(got.Body, "DEVELOPMENT ONLY") {
				t.Errorf("%d %.400s; want 400 saying %q", got.Status, got.Body, tc.want)
			}
		})
	}
	// The code was typed by hand: lower case, without its dash.
	typed := page
	typed.Code = strings.ToLower(strings.ReplaceAll(code, "-", ""))
	if ok := typed.Submit(t, "approve", kzProsecutor); ok.Status != http.StatusOK || !strings.Contains(ok.Body, "Device signed in") {
		t.Fatalf("approving with the right code after the refusals: %d %.300s", ok.Status, ok.Body)
	}
	if r := result(t, ctx, done); r.Err != nil || r.Token.Token == "" {
		t.Errorf("Login after the refusals and the approval: %v", r.Err)
	}
	if again := page.Submit(t, "approve", kzProsecutor); again.Status != http.StatusBadRequest || !strings.Contains(again.Body, "already used") {
		t.Errorf("approving a used code: %d %.300s; want 400", again.Status, again.Body)
	}
}

// TestDevicePageBoundsGuesses: after 10 wrong codes in a minute the page
// checks no code, not even the right one, and says to wait (RFC 8628
// §5.1); the waiting Login is not disturbed and ends when its context
// does, saying it was interrupted.
func TestDevicePageBoundsGuesses(t *testing.T) {
	issuer := startProvider(t, 0)
	ctx, cancel := context.WithCancel(testContext(t))
	address, _, done := gatewaytest.StartLogin(t, ctx, cliauth.Options{Issuer: issuer, ClientID: cliauth.DefaultClientID})
	page := gatewaytest.OpenDevicePage(t, address)
	for i := range 10 {
		guess := page
		guess.Code = "BCDF-GH" + string(rune('A'+i)) + "Z"
		if got := guess.Submit(t, "approve", kzProsecutor); got.Status != http.StatusBadRequest {
			t.Fatalf("wrong code %d: %d %.300s; want 400", i+1, got.Status, got.Body)
		}
	}
	got := page.Submit(t, "approve", kzProsecutor)
	if got.Status != http.StatusTooManyRequests || !strings.Contains(got.Body, "Too many wrong codes were entered here: wait a minute") {
		t.Errorf("the right code after 10 wrong ones: %d %.300s; want 429 saying to wait a minute", got.Status, got.Body)
	}
	cancel()
	r := <-done
	if !errors.Is(r.Err, context.Canceled) || !strings.Contains(r.Err.Error(), "the sign-in was interrupted") {
		t.Errorf("Login ended by its context: %v; want interrupted", r.Err)
	}
}
