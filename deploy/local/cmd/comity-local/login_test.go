package main_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
)

// TestComityctlLogin: a developer runs `comityctl login` against
// comity-local, opens the address it prints, approves as a KZ prosecutor at
// the development provider's device page, and from then on comityctl's
// commands work with no --token: the token is in the config file (mode
// 0600), whoami says who the services take them for, and logout forgets it.
func TestComityctlLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	bin, ctl := binaries(t)
	p := start(t, bin, t.TempDir())
	defer p.stop(t)
	config := filepath.Join(t.TempDir(), "comity", "config.json")
	env := append(os.Environ(), "COMITY_GATEWAY=http://"+p.http, "COMITY_CONFIG="+config, "COMITY_TOKEN=")

	login := exec.Command(ctl, "login", "--issuer", "http://"+p.devOIDC)
	login.Env = env
	stderr, err := login.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	login.Stdout = &stdout
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	defer login.Process.Kill()
	// The instructions: an address to open in a browser and the code it
	// must show.
	address := regexp.MustCompile(`http://\S+/device\S*`)
	var printed strings.Builder
	sc := bufio.NewScanner(stderr)
	var page string
	for page == "" && sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		page = address.FindString(sc.Text())
	}
	if page == "" {
		t.Fatalf("comityctl login printed no address to open:\n%s", printed.String())
	}
	go io.Copy(io.Discard, stderr)
	if ok := gatewaytest.OpenDevicePage(t, page).Submit(t, "approve", url.Values{"agency": {"kz-gpo"}, "role": {"prosecutor"}}); ok.Status != http.StatusOK {
		t.Fatalf("approving at the device page: %d %.300s", ok.Status, ok.Body)
	}
	done := make(chan error, 1)
	go func() { done <- login.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("comityctl login: %v\n%s%s", err, printed.String(), stdout.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("comityctl login did not end within a minute of the approval")
	}
	if !strings.Contains(stdout.String(), "Signed in") || !strings.Contains(stdout.String(), "agencies/kz-gpo") {
		t.Errorf("comityctl login's output does not say who signed in:\n%s", stdout.String())
	}
	fi, err := os.Stat(config)
	if err != nil {
		t.Fatalf("comityctl login saved no config file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v; want 0600 (it holds tokens)", fi.Mode().Perm())
	}

	run := func(args ...string) (string, error) {
		cmd := exec.Command(ctl, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("whoami", "--output", "json")
	if err != nil {
		t.Fatalf("comityctl whoami after login: %v\n%s", err, out)
	}
	var caller map[string]any
	if err := json.Unmarshal([]byte(out), &caller); err != nil || caller["agency"] != "agencies/kz-gpo" {
		t.Errorf("whoami after login: %s (%v); want agency agencies/kz-gpo", out, err)
	}
	if out, err := run("requests", "list", "--output", "json"); err != nil {
		t.Errorf("comityctl requests list with the saved token: %v\n%s", err, out)
	}

	// A saved token at its expiry is renewed with the refresh token, and
	// the new one saved.
	var saved map[string]any
	data, _ := os.ReadFile(config)
	if err := json.Unmarshal(data, &saved); err != nil || saved["refreshToken"] == "" {
		t.Fatalf("the config file holds no refresh token: %s (%v)", data, err)
	}
	old := saved["token"]
	saved["tokenExpiry"] = time.Now().Add(10 * time.Second).UTC().Format(time.RFC3339)
	data, _ = json.Marshal(saved)
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("whoami"); err != nil {
		t.Fatalf("whoami with a token about to expire: %v\n%s", err, out)
	}
	data, _ = os.ReadFile(config)
	_ = json.Unmarshal(data, &saved)
	if saved["token"] == old || saved["token"] == "" {
		t.Error("a token about to expire was not renewed in the config file")
	}

	if out, err := run("logout"); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("comityctl logout: %v\n%s", err, out)
	}
	out, err = run("requests", "list")
	if err == nil || !strings.Contains(out, "comityctl login") {
		t.Errorf("after logout, requests list: %v\n%s; want a refusal saying to run comityctl login", err, out)
	}
}
