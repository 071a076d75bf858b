package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeadlinePolicy: comity-local refuses to start on a bad
// --deadline-policy file, naming the entry; with a good one, a transmitted
// request gets the file's acknowledgement period.
func TestDeadlinePolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	local, ctl := binaries(t)
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "bad.json"), filepath.Join(dir, "good.json")
	if err := os.WriteFile(bad, []byte(`{"acknowledge": {"URGENT": "soon"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(`{"acknowledge": {"URGENT": "2h"}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(local, "--data-dir", filepath.Join(dir, "refused"), "--deadline-policy", bad).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), `acknowledge.URGENT: "soon" is not a period`) {
		t.Errorf("with a bad policy file: %v\n%s\nwant exit status 2 naming acknowledge.URGENT", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "refused")); !os.IsNotExist(err) {
		t.Errorf("refused to start, yet made its data directory (%v)", err)
	}

	dataDir := filepath.Join(dir, "var")
	p := start(t, local, dataDir, "--deadline-policy", good)
	base := "http://" + p.http
	prosecutor := token(t, ctl, dataDir, "kz-gpo", "prosecutor")
	kzCA := token(t, ctl, dataDir, "kz-gpo", "central_authority")
	status, body := call(t, "POST", base+"/v1/requests", prosecutor, auditDraft(t))
	if status != 200 {
		t.Fatalf("create = %d %v", status, body)
	}
	name := body["name"].(string)
	if status, body = call(t, "POST", base+"/v1/"+name+":submit", prosecutor, `{}`); status != 200 {
		t.Fatalf("submit = %d %v", status, body)
	}
	if status, body = call(t, "POST", base+"/v1/"+name+":transmit", kzCA, `{}`); status != 200 {
		t.Fatalf("transmit = %d %v", status, body)
	}
	deadlines, _ := body["deadlines"].(map[string]any)
	ackBy, err1 := time.Parse(time.RFC3339Nano, str(deadlines["acknowledgeBy"]))
	transmitted, err2 := time.Parse(time.RFC3339Nano, str(body["updateTime"]))
	if err1 != nil || err2 != nil || ackBy.Sub(transmitted) != 2*time.Hour {
		t.Errorf("an URGENT request transmitted at %v is to be acknowledged by %v (%v %v); want 2h later, as the policy file says",
			body["updateTime"], deadlines["acknowledgeBy"], err1, err2)
	}
	p.stop(t)
}

func str(v any) string { s, _ := v.(string); return s }
