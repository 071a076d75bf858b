package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/cliauth"
	"github.com/comity-mla/comity/gateway/gatewaytest"
)

// TestComityLocalServesTheConsole: comity-local serves the console at / with
// its security headers, and the development OpenID provider it signs in
// with, whose issuer every state of the directory trusts; comityctl login's
// device sign-in there, as client comityctl, gives a token the gateway
// accepts.
func TestComityLocalServesTheConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	bin, ctl := binaries(t)
	dataDir := t.TempDir()
	p := start(t, bin, dataDir)
	defer p.stop(t)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get("http://" + p.http + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Errorf("GET / without a session: %d to %q, want 303 to /signin", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get("http://" + p.http + "/signin?state=KZ")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("the sign-in page's %s is %q, want %q", h, got, want)
		}
	}

	resp, err = http.Get("http://" + p.devOIDC + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer string `json:"issuer"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Issuer != "http://"+p.devOIDC {
		t.Fatalf("the development provider's discovery names issuer %q (%v), want http://%s", disc.Issuer, err, p.devOIDC)
	}
	code, state := call(t, http.MethodGet, "http://"+p.http+"/v1/states/KZ", token(t, ctl, dataDir, "kz-gpo", "directory_admin"), "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/states/KZ: %d %v", code, state)
	}
	issuers, _ := state["trustedIssuers"].([]any)
	found := false
	for _, iss := range issuers {
		found = found || iss == disc.Issuer
	}
	if !found {
		t.Errorf("KZ trusts %v, not the development provider %s", issuers, disc.Issuer)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	address, _, done := gatewaytest.StartLogin(t, ctx, cliauth.Options{Issuer: disc.Issuer, ClientID: cliauth.DefaultClientID})
	page := gatewaytest.OpenDevicePage(t, address)
	if ok := page.Submit(t, "approve", url.Values{"agency": {"kz-gpo"}, "role": {"prosecutor"}}); ok.Status != http.StatusOK {
		t.Fatalf("approving comityctl login at the development provider's device page: %d %.300s", ok.Status, ok.Body)
	}
	select {
	case r := <-done:
		if r.Err != nil {
			t.Fatalf("comityctl login's sign-in at the development provider: %v", r.Err)
		}
		code, caller := call(t, http.MethodGet, "http://"+p.http+"/v1/caller", r.Token.Token, "")
		roles, _ := caller["roles"].([]any)
		if code != http.StatusOK || caller["agency"] != "agencies/kz-gpo" || !slices.Equal(roles, []any{"prosecutor"}) {
			t.Errorf("GET /v1/caller with comityctl login's token: %d %v; want kz-gpo, prosecutor", code, caller)
		}
	case <-ctx.Done():
		t.Fatal("comityctl login's sign-in did not end after the approval")
	}
	if !strings.Contains(p.logs.String(), "DEVELOPMENT ONLY") {
		t.Error("comity-local does not warn that the development provider is serving")
	}
}
