package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeWorkedExample runs the README's worked example, every shell block
// of "The API: a worked example" in order, as a newcomer would paste them,
// against a fresh comity-local: the example must work as written. curl is
// made to fail on an HTTP error (a newcomer would see the error JSON; the
// test stops there) and the shell stops at the first failing command.
func TestReadmeWorkedExample(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("COMITY_TEST_TOOLS_REQUIRED") != "" {
				t.Fatalf("the README's example needs %s, which is not installed", tool)
			}
			t.Skipf("the README's example needs %s, which is not installed (set COMITY_TEST_TOOLS_REQUIRED=1 to fail instead)", tool)
		}
	}
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	at := strings.Index(section, "## The API: a worked example")
	if at < 0 {
		t.Fatal(`README has no section "## The API: a worked example"`)
	}
	section = section[at+3:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d shell blocks in the worked example; want the whole example", len(blocks))
	}

	local, ctl := binaries(t)
	// The example runs from the repository's root: bin/comityctl, ./var.
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ctl, filepath.Join(work, "bin", "comityctl")); err != nil {
		t.Fatal(err)
	}
	p := start(t, local, filepath.Join(work, "var"))

	// A block that shows a refusal says so in a comment ("# 400 {…"): its
	// calls must answer that status, which the script checks instead.
	refusal := regexp.MustCompile(`(?m)^# ([45]\d\d) `)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	var refusals []string
	for _, b := range blocks {
		block := strings.ReplaceAll(b[1], "http://127.0.0.1:8080", "http://"+p.http)
		if m := refusal.FindStringSubmatch(block); m != nil {
			refusals = append(refusals, m[1])
			script.WriteString("curl() { command curl -w '\\nHTTP %{http_code}\\n' \"$@\"; }\n")
		} else {
			script.WriteString("curl() { command curl --fail-with-body \"$@\"; }\n")
		}
		script.WriteString(block)
		script.WriteString("\necho\n")
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = work
	// comityctl's default gateway is 127.0.0.1:8080, as the README assumes.
	cmd.Env = append(os.Environ(), "COMITY_GATEWAY=http://"+p.http)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's worked example failed: %v\n…%s", err, tailOf(string(out), 4000))
	}
	text := string(out)
	for _, code := range refusals {
		if !strings.Contains(text, "HTTP "+code+"\n") {
			t.Errorf("a refusal the README shows did not answer %s:\n…%s", code, tailOf(text, 4000))
		}
	}
	for _, want := range []string{
		"received intact",      // the evidence downloaded is what was uploaded
		`"status":"CLOSED"`,    // the first case ends closed
		`"status":"REFUSED"`,   // the second is refused
		`"status":"WITHDRAWN"`, // the third withdrawn
		"verified",             // the audit bundle checks out offline
	} {
		if !strings.Contains(strings.ReplaceAll(text, `": "`, `":"`), want) {
			t.Errorf("the example's output lacks %q:\n…%s", want, tailOf(text, 4000))
		}
	}
}

// tailOf is the last n bytes of s: the example's output is long, and where
// it stopped is at the end.
func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
