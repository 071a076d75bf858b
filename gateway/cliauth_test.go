package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/cliauth"
	"github.com/comity-mla/comity/gateway/console/devprovider"
	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// TestCLILoginTokenIsAccepted: comityctl login's sign-in (cliauth.Login)
// against the development provider, completed at its device page as a
// browser would, gives a token the services accept exactly like the
// console's: GET /v1/caller through the gateway answers the agency, roles
// and name picked on the page. Its refresh token renews it once (the
// provider rotates them): the spent one is refused in words.
func TestCLILoginTokenIsAccepted(t *testing.T) {
	dataDir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	// The provider's issuer is its address, needed before the directory
	// is seeded with it: listen first, serve later.
	opL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + opL.Addr().String()
	s := startSuite(t, suiteOptions{dataDir: dataDir, trustedIssuers: []identity.Issuer{{ID: issuer, JWKS: dev.JWKS}}})
	p, err := devprovider.New(devprovider.Config{
		Issuer: issuer, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"), DevicePollInterval: time.Second,
		Clients: []devprovider.Client{{ID: cliauth.DefaultClientID, Device: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(opL)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := cliauth.Options{Issuer: issuer, ClientID: cliauth.DefaultClientID}
	address, code, done := gatewaytest.StartLogin(t, ctx, o)
	if !strings.HasPrefix(address, issuer+"/device?") {
		t.Errorf("Login sent the user to %s, want the provider's device page", address)
	}
	page := gatewaytest.OpenDevicePage(t, address)
	if page.Status != http.StatusOK || page.Code != code || !strings.Contains(page.Body, "DEVELOPMENT ONLY") {
		t.Fatalf("the device page: %d, code %q (Login printed %q): %.300s", page.Status, page.Code, code, page.Body)
	}
	answer := page.Submit(t, "approve", url.Values{"agency": {"kz-gpo"}, "role": {"prosecutor", "liaison_officer"}, "name": {"Aigerim Nurlanovna"}})
	if answer.Status != http.StatusOK || !strings.Contains(answer.Body, "Device signed in") {
		t.Fatalf("approving at the device page: %d %.300s", answer.Status, answer.Body)
	}
	var res gatewaytest.LoginResult
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("Login did not return after the sign-in was approved")
	}
	if res.Err != nil {
		t.Fatalf("Login after approval: %v", res.Err)
	}
	if res.Token.Expiry.Before(time.Now().Add(30*time.Minute)) || res.Token.RefreshToken == "" {
		t.Errorf("the token expires %v with refresh token %q; want about an hour ahead and a refresh token", res.Token.Expiry, res.Token.RefreshToken)
	}
	caller := func(tok string) {
		t.Helper()
		r := s.do("GET", "/v1/caller", tok, nil)
		roles, _ := r.body["roles"].([]any)
		if r.status != http.StatusOK || r.body["agency"] != "agencies/kz-gpo" || r.body["state"] != "KZ" ||
			!slices.Equal(roles, []any{"prosecutor", "liaison_officer"}) || r.body["displayName"] != "Aigerim Nurlanovna" || r.body["issuer"] != issuer {
			t.Errorf("GET /v1/caller with the signed-in token: %d %s; want Aigerim Nurlanovna, kz-gpo of KZ, prosecutor and liaison_officer, from %s", r.status, r.raw, issuer)
		}
	}
	caller(res.Token.Token)

	renewed, err := cliauth.Refresh(ctx, o, res.Token.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if renewed.Token == res.Token.Token || renewed.RefreshToken == "" || renewed.RefreshToken == res.Token.RefreshToken {
		t.Errorf("Refresh gave the same token or no new refresh token")
	}
	caller(renewed.Token)
	_, err = cliauth.Refresh(ctx, o, res.Token.RefreshToken)
	if !errors.Is(err, cliauth.ErrRefreshRefused) || !strings.Contains(err.Error(), "sign in again") {
		t.Errorf("a spent refresh token: %v; want ErrRefreshRefused saying to sign in again", err)
	}
}
