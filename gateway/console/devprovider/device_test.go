package devprovider

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestDeviceClientsArePublic: a device client is configured without a
// secret or a redirect URI, and an empty secret does not authenticate it.
func TestDeviceClientsArePublic(t *testing.T) {
	dataDir := t.TempDir()
	if _, err := identity.EnsureDevIssuer(dataDir); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dataDir, "dev-issuer", "signing-key.jwk")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"device client with a secret", Config{Clients: []Client{{ID: "comityctl", Secret: "s", Device: true}}}, `device client "comityctl" is public`},
		{"device client with a redirect URI", Config{Clients: []Client{{ID: "comityctl", RedirectURIs: []string{"http://127.0.0.1:1/cb"}, Device: true}}}, `device client "comityctl" is public`},
		{"poll interval not whole seconds", Config{Clients: []Client{{ID: "comityctl", Device: true}}, DevicePollInterval: 1500 * time.Millisecond}, "whole seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Issuer, tc.cfg.SigningKeyFile = "http://127.0.0.1:8079", key
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error saying %q", err, tc.want)
			}
		})
	}
	p, err := New(Config{Issuer: "http://127.0.0.1:8079", SigningKeyFile: key, Clients: []Client{{ID: "comityctl", Device: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.storage.AuthorizeClientIDSecret(t.Context(), "comityctl", ""); err == nil {
		t.Error("a public client authenticated with an empty secret")
	}
}

// clock is a test's time, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestDeviceGuessesReopenAfterAMinute: the device page, closed by 10 wrong
// codes, checks codes again a minute later, and the code approved then
// gives its tokens once, to its client only.
func TestDeviceGuessesReopenAfterAMinute(t *testing.T) {
	dataDir := t.TempDir()
	if _, err := identity.EnsureDevIssuer(dataDir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(nil)
	defer srv.Close()
	p, err := New(Config{Issuer: srv.URL, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"),
		Clients: []Client{{ID: "comityctl", Device: true}, {ID: "other", Device: true}}})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now()}
	p.storage.now = c.Now
	srv.Config.Handler = p

	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", srv.URL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, body := post("/device_authorization", url.Values{"client_id": {"comityctl"}, "scope": {"openid profile"}})
	var da struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
		URI        string `json:"verification_uri"`
	}
	if err := json.Unmarshal([]byte(body), &da); status != http.StatusOK || err != nil || da.UserCode == "" || da.URI != srv.URL+"/device" {
		t.Fatalf("device authorization: %d %s", status, body)
	}
	approve := url.Values{"user_code": {da.UserCode}, "action": {"approve"}, "agency": {"kz-gpo"}, "role": {"prosecutor"}}
	for range maxCodeFailures {
		if status, body := post("/device", url.Values{"user_code": {"ZZZZ-ZZZZ"}, "action": {"approve"}}); status != http.StatusBadRequest {
			t.Fatalf("a wrong code: %d %s", status, body)
		}
	}
	if status, body := post("/device", approve); status != http.StatusTooManyRequests || !strings.Contains(body, "wait a minute") {
		t.Fatalf("the right code after %d wrong ones: %d %s; want 429", maxCodeFailures, status, body)
	}
	c.add(codeFailureWindow)
	if status, body := post("/device", approve); status != http.StatusOK || !strings.Contains(body, "Device signed in") {
		t.Fatalf("the right code a minute later: %d %s", status, body)
	}

	token := func(client string) (int, string) {
		t.Helper()
		return post("/oauth/token", url.Values{"client_id": {client}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}})
	}
	if status, body := token("other"); status != http.StatusBadRequest || !strings.Contains(body, "access_denied") {
		t.Errorf("another client's poll with the device code: %d %s; want access_denied", status, body)
	}
	if status, body := token("comityctl"); status != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Fatalf("the token after approval: %d %s", status, body)
	}
	if status, body := token("comityctl"); status == http.StatusOK {
		t.Errorf("the device code gave tokens twice: %s", body)
	}
}
