package requestd_test

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
)

// parse parses args, then the environment env, into a flag set with
// --deadline-policy, as comity-request and comity-local do.
func parse(args []string, env map[string]string) (request.Policy, error) {
	fs := flag.NewFlagSet("comity-request", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var p request.Policy
	requestd.RegisterDeadlinePolicy(fs, &p)
	if err := fs.Parse(args); err != nil {
		return p, err
	}
	return p, config.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// TestDeadlinePolicyFlagRefusesABadFile: a bad policy file stops the binary
// at its flags, before it starts anything, with the entry at fault named.
func TestDeadlinePolicyFlagRefusesABadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"unknown priority", `{"acknowledge": {"URGNT": "12h"}}`, []string{"acknowledge.URGNT", `unknown priority "URGNT"`, "EMERGENCY, URGENT, ROUTINE"}},
		{"zero period", `{"answer": {"ROUTINE": "0d"}}`, []string{"answer.ROUTINE", "must be positive", `"0d"`}},
		{"negative period", `{"preservation": "-90d"}`, []string{"preservation", "must be positive"}},
		{"unparsable duration", `{"answer": {"URGENT": "ten days"}}`, []string{"answer.URGENT", `"ten days" is not a period`}},
		{"a number, not a period", `{"preservation": 90}`, []string{"preservation", "want a period as a string", "not 90"}},
		{"unknown key", `{"acknowledge": {}, "extension": "10d"}`, []string{`unknown key "extension"`, "acknowledge, answer, preservation"}},
		{"priorities not an object", `{"answer": ["8h"]}`, []string{"answer: want an object of periods by priority"}},
		{"not JSON", `acknowledge: 8h`, []string{"want a JSON object"}},
		{"two objects", `{} {}`, []string{"more than one JSON value"}},
		{"null", `null`, []string{"want a JSON object"}},
		{"too long", `{"preservation": "999999999d"}`, []string{"preservation", "is not a period"}},
		{"longer than ten years", `{"answer": {"ROUTINE": "3651d"}}`, []string{"ROUTINE", "at most ten years"}},
		{"a preservation longer than ten years", `{"preservation": "3651d"}`, []string{"preservation", "at most ten years"}},
		{"no confirmation period", `{"confirmation": "0h"}`, []string{"confirmation", "must be positive"}},
		{"unknown type executed before confirmation", `{"execute_before_confirmation": ["DATA_PRESERVATON"]}`,
			[]string{"execute_before_confirmation", `unknown request type "DATA_PRESERVATON"`, "DATA_PRESERVATION"}},
		{"a type, not a list", `{"execute_before_confirmation": "TRAFFIC_DATA"}`, []string{"execute_before_confirmation", "want an array of request types"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, via := range []string{"flag", "environment"} {
				var err error
				if via == "flag" {
					_, err = parse([]string{"--deadline-policy", path}, nil)
				} else {
					_, err = parse(nil, map[string]string{"COMITY_DEADLINE_POLICY": path})
				}
				if err == nil {
					t.Fatalf("%s: accepted %s", via, tc.content)
				}
				for _, w := range append([]string{"deadline policy " + path}, tc.want...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q does not say %q", via, err, w)
					}
				}
			}
		})
	}
	if _, err := parse([]string{"--deadline-policy", filepath.Join(dir, "missing.json")}, nil); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("a missing file: %v; want an error naming it", err)
	}
}

// TestDeadlinePolicyFlagReadsAGoodFile: the file's entries replace the
// defaults they name; the others stay; no flag leaves the policy to the
// service's default.
func TestDeadlinePolicyFlagReadsAGoodFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(`{"acknowledge": {"EMERGENCY": "2h", "ROUTINE": "3d"}, "answer": {"URGENT": "90m"}, "preservation": "120d"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := parse([]string{"--deadline-policy", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := request.DefaultPolicy()
	want.Acknowledge[cooperation.Emergency], want.Acknowledge[cooperation.Routine] = 2*time.Hour, 72*time.Hour
	want.Answer[cooperation.Urgent], want.Preservation = 90*time.Minute, 120*24*time.Hour
	for _, pr := range []cooperation.Priority{cooperation.Emergency, cooperation.Urgent, cooperation.Routine} {
		if p.Acknowledge[pr] != want.Acknowledge[pr] || p.Answer[pr] != want.Answer[pr] {
			t.Errorf("%s: acknowledge %v answer %v, want %v and %v", pr, p.Acknowledge[pr], p.Answer[pr], want.Acknowledge[pr], want.Answer[pr])
		}
	}
	if p.Preservation != want.Preservation {
		t.Errorf("preservation %v, want %v", p.Preservation, want.Preservation)
	}
	if p, err := parse(nil, nil); err != nil || p.Acknowledge != nil {
		t.Errorf("without the flag: %+v, %v; want the zero policy (the service's default)", p, err)
	}
}

// TestRunRefusesABadPolicy: a policy given in Config (not from a file) is
// checked before the service opens anything.
func TestRunRefusesABadPolicy(t *testing.T) {
	dir := t.TempDir()
	bad := request.DefaultPolicy()
	bad.Answer["SOON"] = time.Hour
	err := requestd.Run(context.Background(), requestd.Config{
		Database: "sqlite:" + filepath.Join(dir, "request.db"), BlobDir: filepath.Join(dir, "attachments"),
		DirectoryAddr: "127.0.0.1:1", Policy: bad,
		Producer: relay.Producer{AuditDigestKey: make(trail.DigestKey, trail.DigestKeySize)},
	})
	if err == nil || !strings.Contains(err.Error(), `unknown priority "SOON"`) {
		t.Errorf("Run = %v; want the unknown priority named", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Run refused, yet made %v", entries)
	}
}
