package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries builds comity-local and comityctl once for the tests of this file.
func binaries(t *testing.T) (local, ctl string) {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{".", "github.com/comity-mla/comity/gateway/cmd/comityctl"} {
		cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return filepath.Join(dir, "comity-local"), filepath.Join(dir, "comityctl")
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// logBuffer collects a process's output; tests read it while the process
// still writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type process struct {
	cmd     *exec.Cmd
	logs    *logBuffer
	http    string
	devOIDC string
	// exited is closed once the process has ended and been waited for;
	// err is then how it ended.
	exited chan struct{}
	err    error
}

func start(t *testing.T, bin, dataDir string, flags ...string) *process {
	t.Helper()
	// The ports are picked free, then bound by comity-local: another test
	// running meanwhile may take one in between. comity-local then ends at
	// once, and is started again on other ports (same data), at most three
	// times.
	for attempt := 1; ; attempt++ {
		p, exited := launch(t, bin, dataDir, flags...)
		if !exited {
			return p
		}
		if attempt == 3 || !strings.Contains(p.logs.String(), "address already in use") {
			t.Fatalf("comity-local exited while starting:\n%s", p.logs.String())
		}
		t.Logf("attempt %d: a port was taken meanwhile; starting comity-local again on other ports", attempt)
	}
}

// launch starts comity-local on free ports, with flags besides, and waits
// until it is ready; exited says it ended first.
func launch(t *testing.T, bin, dataDir string, flags ...string) (_ *process, exited bool) {
	t.Helper()
	p := &process{logs: &logBuffer{}, http: freePort(t), devOIDC: freePort(t)}
	p.cmd = exec.Command(bin, "--data-dir", dataDir, "--http-addr", p.http,
		"--directory-addr", freePort(t), "--request-addr", freePort(t), "--audit-addr", freePort(t), "--dev-oidc-addr", p.devOIDC,
		"--metrics-addr", freePort(t), "--log-format", "json",
		"--witness-addrs", strings.Join([]string{freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)}, ","))
	p.cmd.Args = append(p.cmd.Args, flags...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("comity-local logs:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 250*time.Millisecond) {
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, false
			}
		}
		select {
		case <-p.exited:
			return p, true
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("comity-local not ready after 30s (%v)", err)
		}
		time.Sleep(backoff)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("comity-local exited with %v after SIGTERM", p.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("comity-local did not stop within 30s of SIGTERM")
	}
}

func token(t *testing.T, ctl, dataDir, agency, role string) string {
	t.Helper()
	out, err := exec.Command(ctl, "dev", "token", "--agency", agency, "--role", role, "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("comityctl dev token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func call(t *testing.T, method, u, tok, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func TestComityLocalServesTheDirectoryAndKeepsItsData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	local, ctl := binaries(t)
	dataDir := filepath.Join(t.TempDir(), "var")

	p := start(t, local, dataDir)
	base := "http://" + p.http
	prosecutor := token(t, ctl, dataDir, "kz-gpo", "prosecutor")
	status, body := call(t, "GET", base+"/v1/agencies?filter="+url.QueryEscape(`state="UZ"`), prosecutor, "")
	var got []string
	for _, a := range body["agencies"].([]any) {
		got = append(got, a.(map[string]any)["name"].(string))
	}
	slices.Sort(got)
	if status != 200 || !slices.Equal(got, []string{"agencies/uz-247", "agencies/uz-city-prosecutor", "agencies/uz-gpo", "agencies/uz-oversight", "agencies/uz-police-cyber"}) {
		t.Fatalf("agencies of UZ = %d %v", status, got)
	}
	for priority, want := range map[string]string{"URGENT": "agencies/uz-247", "ROUTINE": "agencies/uz-gpo"} {
		status, body = call(t, "GET", base+"/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION&priority="+priority, prosecutor, "")
		if name := body["agency"].(map[string]any)["name"]; status != 200 || name != want {
			t.Errorf("%s preservation route = %d %v, want %s", priority, status, name, want)
		}
	}
	admin := token(t, ctl, dataDir, "tm-gpo", "directory_admin")
	status, body = call(t, "POST", base+"/v1/agencies?agencyId=tm-cyber-lab", admin,
		`{"kind":"TRAINING_INSTITUTION","displayNames":{"en":"Cyber lab"}}`)
	if status != 200 {
		t.Fatalf("create agency = %d %v", status, body)
	}
	if key, err := os.Stat(filepath.Join(dataDir, "dev-issuer", "signing-key.jwk")); err != nil || key.Mode().Perm() != 0o600 {
		t.Errorf("dev issuer key: %v %v, want a 0600 file", err, key)
	}
	// The producing services' audit digest key: made on first start, kept
	// across restarts (a new one would make every earlier digest unprovable).
	digestKey := filepath.Join(dataDir, "audit", "digest.key")
	firstKey, err := os.ReadFile(digestKey)
	if info, serr := os.Stat(digestKey); err != nil || serr != nil || len(firstKey) != 32 || info.Mode().Perm() != 0o600 {
		t.Errorf("audit digest key: %v, %d bytes, %v; want 32 bytes in a 0600 file", err, len(firstKey), info)
	}
	p.stop(t)

	p = start(t, local, dataDir)
	status, body = call(t, "GET", "http://"+p.http+"/v1/agencies/tm-cyber-lab", prosecutor, "")
	if status != 200 || body["state"] != "TM" {
		t.Errorf("agency after SIGTERM and restart = %d %v", status, body)
	}
	status, _ = call(t, "GET", "http://"+p.http+"/v1/agencies/tm-cyber-lab", "", "")
	if status != 401 {
		t.Errorf("call without a token = %d, want 401", status)
	}
	if again, err := os.ReadFile(digestKey); err != nil || string(again) != string(firstKey) {
		t.Errorf("audit digest key after a restart: %v; want the key of the first start", err)
	}
	p.stop(t)
}

func TestComityctlRefusesBadTokenRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	_, ctl := binaries(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		name    string
		args    []string
		mention string
	}{
		{"unknown role", []string{"dev", "token", "--agency", "kz-gpo", "--role", "king", "--data-dir", empty}, "king"},
		{"no agency", []string{"dev", "token", "--role", "prosecutor", "--data-dir", empty}, "agency"},
		{"no dev issuer yet", []string{"dev", "token", "--agency", "kz-gpo", "--role", "prosecutor", "--data-dir", empty}, "comity-local"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(ctl, tc.args...).CombinedOutput()
			if err == nil {
				t.Fatalf("comityctl %v succeeded: %s", tc.args, out)
			}
			if !strings.Contains(string(out), tc.mention) {
				t.Errorf("comityctl %v said %q, want a mention of %q", tc.args, out, tc.mention)
			}
		})
	}
}

// TestHelpNamesEachFlagsArgument: comity-local -h shows -cert-dir with its
// type as the argument name; a back-quoted command in its usage once took
// that place ("-cert-dir comityctl dev certs").
func TestHelpNamesEachFlagsArgument(t *testing.T) {
	local, _ := binaries(t)
	out, _ := exec.Command(local, "-h").CombinedOutput()
	help := string(out)
	if !strings.Contains(help, "  -cert-dir string\n") || !strings.Contains(help, `"comityctl dev certs" creates them`) {
		t.Errorf("comity-local -h does not show -cert-dir string and its usage:\n%s", help)
	}
	if strings.Contains(help, "-cert-dir comityctl") {
		t.Errorf("comity-local -h shows a command as -cert-dir's argument:\n%s", help)
	}
}
