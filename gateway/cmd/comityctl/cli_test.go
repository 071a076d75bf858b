package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// ctl runs comityctl in the test process with a config file of the test's
// own (none unless the test writes it) and no other COMITY_ variable.
func ctl(t *testing.T, configPath string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	env := func(k string) (string, bool) {
		if k == "COMITY_CONFIG" {
			return configPath, true
		}
		return "", false
	}
	root := newRootCmd(&out, io.Discard, env)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// The config file keeps exactly the fields 'comityctl login' writes, for
// its user only, and is replaced whole.
func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comity", "config.json")
	want := cliConfig{Gateway: "https://comity.example.kz", Token: "tok", TokenExpiry: "2030-01-02T03:04:05Z",
		RefreshToken: "refresh", Issuer: "https://idp.example.kz", ClientID: "comityctl"}
	if err := saveConfig(path, want); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, mode %v; want 0600", err, st.Mode())
	}
	var keys map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"clientId", "gateway", "issuer", "refreshToken", "token", "tokenExpiry"}) {
		t.Errorf("config keys %v", names)
	}
	got, err := loadConfig(path)
	if err != nil || got != want {
		t.Errorf("loadConfig = %+v, %v; want %+v", got, err, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the config directory holds %d files, want the config alone", len(entries))
	}
	if c, err := loadConfig(filepath.Join(t.TempDir(), "missing.json")); err != nil || c != (cliConfig{}) {
		t.Errorf("a missing config file: %+v, %v; want an empty config", c, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"gateway":"x","tokn":"y"}`), 0o600)
	if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "tokn") {
		t.Errorf("a config file with an unknown field: %v; want an error naming the file and the field", err)
	}
}

func TestConfigSetAndView(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := saveConfig(path, cliConfig{Token: "secret-token", TokenExpiry: "2030-01-02T03:04:05Z"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl(t, path, "config", "set", "gateway", "https://comity.example.kz"); err != nil {
		t.Fatal(err)
	}
	if c, _ := loadConfig(path); c.Gateway != "https://comity.example.kz" || c.Token != "secret-token" {
		t.Errorf("after config set: %+v; want the gateway set and the token kept", c)
	}
	out, err := ctl(t, path, "config", "view", "--output", "json")
	if err != nil || strings.Contains(out, "secret-token") || !strings.Contains(out, `"gateway": "https://comity.example.kz"`) || !strings.Contains(out, "redacted") {
		t.Errorf("config view = %q, %v; want the gateway and the token redacted", out, err)
	}
	for _, args := range [][]string{{"config", "set", "gateway", "comity.example.kz"}, {"config", "set", "colour", "blue"}, {"config", "set", "gateway"}} {
		if _, err := ctl(t, path, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v; want a usage error", args, err)
		}
	}
}

// An expired token in the config file is not sent: the user is told what
// to do.
func TestExpiredTokenInConfig(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++; _, _ = w.Write([]byte(`{"requests":[]}`)) }))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "config.json")
	exp := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if err := saveConfig(path, cliConfig{Gateway: srv.URL, Token: "old", TokenExpiry: exp}); err != nil {
		t.Fatal(err)
	}
	_, err := ctl(t, path, "requests", "list")
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "comityctl login") || !strings.Contains(err.Error(), "--token") {
		t.Errorf("an expired token: %v", err)
	}
	if calls != 0 {
		t.Errorf("the expired token was sent %d times", calls)
	}
	// --token wins over the config file's.
	if _, err := ctl(t, path, "requests", "list", "--token", "fresh"); err != nil || calls != 1 {
		t.Errorf("with --token: %v, %d calls", err, calls)
	}
}

// A refusal is shown in words: the message, each field violation, the
// HTTP status and the trace id.
func TestAPIErrorInWords(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Trace-Id", "4bf92f3577b34da6a3ce929d0e0e4736")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":3,"message":"the request cannot be submitted","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations":[{"field":"necessity_and_proportionality","description":"at least 100 characters"},{"field":"language","description":"uz-247 accepts uz, ru"}]}]}`))
	}))
	defer srv.Close()
	_, err := ctl(t, filepath.Join(t.TempDir(), "none.json"), "requests", "submit", "requests/abc", "--gateway", srv.URL, "--token", "t")
	if err == nil {
		t.Fatal("a refused call succeeded")
	}
	var stderr bytes.Buffer
	if code := exitCode(err, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "comityctl: the request cannot be submitted\n  necessity_and_proportionality: at least 100 characters\n  language: uz-247 accepts uz, ru\n" +
		"  (HTTP 400 Bad Request; trace id 4bf92f3577b34da6a3ce929d0e0e4736)\n"
	if stderr.String() != want {
		t.Errorf("the error shown:\n%s\nwant:\n%s", stderr.String(), want)
	}
}

func TestSafeFilename(t *testing.T) {
	for in, want := range map[string]string{
		"evidence.pdf":           "evidence.pdf",
		"../../etc/passwd":       "passwd",
		`..\..\windows\win.ini`:  "win.ini",
		"/abs/path/log.txt":      "log.txt",
		".bashrc":                "bashrc",
		"..":                     "",
		"":                       "",
		"dir/":                   "",
		"a\x1b[2Jb\u202ec.pdf":   "a_[2Jb_c.pdf",
		"C:report.pdf":           "C_report.pdf",
		strings.Repeat("x", 300): "",
	} {
		if got := safeFilename(in); got != want {
			t.Errorf("safeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

// A download from a server that names the file with a path, or sends a
// content that does not match its digest, writes nothing outside the
// current directory and nothing unchecked.
func TestDownloadFromAHostileServer(t *testing.T) {
	content := []byte("%PDF-1.7 evidence")
	sum := sha256.Sum256(content)
	good := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	var name, digest string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("Repr-Digest", digest)
		_, _ = w.Write(content)
	}))
	defer srv.Close()
	dir := t.TempDir()
	t.Chdir(dir)
	download := func(args ...string) error {
		_, err := ctl(t, filepath.Join(t.TempDir(), "none.json"), append([]string{"attachments", "download", "requests/r/attachments/a",
			"--gateway", srv.URL, "--token", "t"}, args...)...)
		return err
	}
	name, digest = "../../outside.pdf", good
	if err := download(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "outside.pdf")); err != nil || !bytes.Equal(got, content) {
		t.Errorf("the file in the current directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "..", "outside.pdf")); err == nil {
		t.Error("a server-given path was followed")
	}
	if err := download(); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("a download over an existing file: %v", err)
	}
	name, digest = "tampered.pdf", "sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":"
	if err := download(); err == nil || !strings.Contains(err.Error(), "does NOT match") {
		t.Errorf("a content not matching its digest: %v", err)
	}
	name, digest = "nodigest.pdf", ""
	if err := download(); err == nil {
		t.Error("a download without a digest succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %v; want outside.pdf alone (nothing unchecked, no temporary file)", names)
	}
}

func TestStatisticsPairAndDurations(t *testing.T) {
	q, err := statisticsQuery{from: "2026-01-01", to: "2026-06-30", requestingState: "kz"}.values()
	if err != nil {
		t.Fatal(err)
	}
	// The --to day is included: the period ends at the next midnight.
	if got, want := q.Encode(), "periodEnd=2026-07-01T00%3A00%3A00Z&periodStart=2026-01-01T00%3A00%3A00Z&requestingState=KZ"; got != want {
		t.Errorf("the query of --from 2026-01-01 --to 2026-06-30 --requesting-state kz: %s; want %s", got, want)
	}
	answer := `{"pairs":[{"requestingState":"KZ","requestedState":"UZ","byStatus":{"CLOSED":2},"medianTimeToAcknowledge":"0.104s","acknowledgedCount":2,"medianTimeToAnswer":"5400s","answeredCount":1,
		"meanTimeToAcknowledge":"0.250s","meanTimeToAnswer":"7200s","emergencyCount":1,"nonEmergencyCount":1,
		"byDataCategory":{"subscriber name":2,"ip logs=all":1,"traffic":1},"executionItemsByOutcome":{"PROVIDED":3,"NOT_HELD":1}},
		{"requestingState":"UZ","requestedState":"KZ","byStatus":{"REFUSED":1},"medianTimeToAcknowledge":null,"acknowledgedCount":0}]}`
	var m any
	_ = json.Unmarshal([]byte(answer), &m)
	var out bytes.Buffer
	if err := (statisticsView{}).table(&out, m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CLOSED=2", "104ms (of 2)", "1h30m0s (of 1)", "REFUSED=1",
		"250ms ", "2h0m0s ", `"ip logs=all"=1 "subscriber name"=2 traffic=1`, "NOT_HELD=1 PROVIDED=3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the statistics table lacks %q:\n%s", want, out.String())
		}
	}
	// Emergencies and others, 0 when JSON leaves the count out (UZ → KZ).
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`\s1\s+1\s`).MatchString(lines[1]) || !regexp.MustCompile(`\s0\s+0\s`).MatchString(lines[2]+" ") {
		t.Errorf("the emergency and other counts: want 1 1 for KZ → UZ and 0 0 for UZ → KZ:\n%s", out.String())
	}
	for _, bad := range [][]string{{"--from", "yesterday"}, {"--requested-state", "UZB"}} {
		if _, err := ctl(t, "", append([]string{"statistics"}, bad...)...); !errors.Is(err, errUsage) {
			t.Errorf("statistics %v: %v; want a usage error", bad, err)
		}
	}
}

// Every command has help with an example, and a group run alone prints its
// help and exits 2.
func TestHelpOnEveryCommand(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard, func(string) (string, bool) { return "", false })
	root.InitDefaultHelpCmd()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || (c.HasParent() && c.Parent().Name() == "completion") {
			return // cobra's own
		}
		n++
		if c.Short == "" || c.Example == "" {
			t.Errorf("%q has no short help or no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 45 {
		t.Errorf("only %d commands", n)
	}
	for _, args := range [][]string{{}, {"requests"}, {"audit", "outbox"}} {
		var stderr bytes.Buffer
		err := run(t.Context(), args, io.Discard, &stderr)
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("comityctl %v: exit %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "Available Commands") {
			t.Errorf("comityctl %v printed no help:\n%s", args, stderr.String())
		}
	}
	for _, args := range [][]string{{"-h"}, {"dev", "-h"}, {"help", "requests"}, {"requests", "submit", "--help"}} {
		var stdout bytes.Buffer
		err := run(t.Context(), args, &stdout, io.Discard)
		if err != nil || !strings.Contains(stdout.String(), "Examples:") {
			t.Errorf("comityctl %v: %v\n%s", args, err, stdout.String())
		}
	}
}

// A token goes over plain http only to a gateway on this computer: any
// other http gateway is refused before anything is sent, and cannot be
// saved in the config file.
func TestTokenNeverOverPlainHTTPOnTheNetwork(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.json")
	for _, gw := range []string{"http://comity.example.kz", "http://10.0.0.5:8080"} {
		if _, err := ctl(t, config, "requests", "list", "--gateway", gw, "--token", "secret"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "plain http") {
			t.Errorf("requests list --gateway %s: %v; want a refusal saying the gateway is plain http", gw, err)
		}
		if _, err := ctl(t, config, "config", "set", "gateway", gw); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "plain http") {
			t.Errorf("config set gateway %s: %v; want a refusal", gw, err)
		}
	}
	if _, err := os.Stat(config); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused gateway was saved: %v", err)
	}
	// On this computer, plain http is fine (the call itself fails: nothing listens).
	if _, err := ctl(t, config, "requests", "list", "--gateway", "http://127.0.0.1:1", "--token", "secret"); err == nil || strings.Contains(err.Error(), "plain http") {
		t.Errorf("requests list --gateway http://127.0.0.1:1: %v; want it tried", err)
	}
}
