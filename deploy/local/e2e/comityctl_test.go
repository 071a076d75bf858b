package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
)

// cli runs the comityctl binary against a cluster as a user would: the
// gateway from COMITY_GATEWAY, no config file, tokens passed with --token.
type cli struct {
	t   *testing.T
	bin string
	env []string
	// dir is the working directory (where downloads land).
	dir string
}

func newCLI(t *testing.T, c *cluster) *cli {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "COMITY_") })
	env = append(env, "COMITY_GATEWAY="+c.gwURL, "COMITY_CONFIG="+filepath.Join(t.TempDir(), "none", "config.json"))
	return &cli{t: t, bin: filepath.Join(c.bin, "comityctl"), env: env, dir: t.TempDir()}
}

// run runs comityctl with stdin and returns its stdout, stderr and exit
// code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env, cmd.Dir = c.env, c.dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("comityctl %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// ok runs comityctl, which must succeed, and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("comityctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// obj runs comityctl with --output json and returns the object it printed.
func (c *cli) obj(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "--output", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("comityctl %s --output json printed no JSON object (%v):\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// status runs an action with --output json and checks the request's status
// after it.
func (c *cli) status(want string, args ...string) map[string]any {
	c.t.Helper()
	r := c.obj(args...)
	if r["status"] != want {
		c.t.Fatalf("comityctl %s: status %v, want %s", strings.Join(args, " "), r["status"], want)
	}
	return r
}

// TestComityctlEndToEnd runs the complete case of a request with the
// comityctl binary alone, against the suite as separate processes, on
// SQLite and on PostgreSQL: a prosecutor drafts from a file and corrects the
// draft, the case goes through transmission, clarification (with an
// attached translation), acceptance, execution (with evidence uploaded,
// listed, downloaded and checked), extension and messages to closure, while
// a watch follows it; a second request is refused and a third withdrawn;
// statistics count them; an auditor exports the case's trail and verifies
// it against the published key.
func TestComityctlEndToEnd(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := startCluster(t, clusterOptions{postgres: engine == "postgres", directories: 1, requests: 1})
			ctl := newCLI(t, c)
			token := func(agency, role string) string {
				return strings.TrimSpace(ctl.ok("dev", "token", "--agency", agency, "--role", role, "--data-dir", c.dataDir))
			}
			p, kzCA, uzCA := token("kz-gpo", "prosecutor"), token("kz-gpo", "central_authority"), token("uz-247", "central_authority")
			auditor := token("kz-oversight", "auditor")

			// The prosecutor watches their requests from the start.
			watch := exec.Command(ctl.bin, "requests", "watch", "--token", p, "--output", "json")
			watch.Env = ctl.env
			var watched syncBuffer
			var watchErr bytes.Buffer
			watch.Stdout, watch.Stderr = &watched, &watchErr
			if err := watch.Start(); err != nil {
				t.Fatal(err)
			}
			watchDone := make(chan error, 1)
			go func() { watchDone <- watch.Wait() }()
			t.Cleanup(func() { _ = watch.Process.Kill() })

			// A draft from a JSON file on standard input, retried with the
			// same request id.
			body, err := json.Marshal(gatewaytest.Preservation())
			if err != nil {
				t.Fatal(err)
			}
			create := func(rid string) map[string]any {
				out, errOut, code := ctl.run(string(body), "requests", "create", "--from-file", "-", "--request-id", rid, "--token", p, "--output", "json")
				var m map[string]any
				if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
					t.Fatalf("requests create: exit %d\n%s\n%s", code, out, errOut)
				}
				return m
			}
			created := create("cli-case")
			name, _ := created["name"].(string)
			if created["status"] != "DRAFT" || !strings.HasPrefix(name, "requests/") {
				t.Fatalf("created: %v", created)
			}
			if again := create("cli-case"); again["name"] != name {
				t.Fatalf("a retried create made a second request: %v", again["name"])
			}
			id := strings.TrimPrefix(name, "requests/")
			if got := ctl.obj("requests", "get", id, "--token", p); got["requestedAgency"] != "agencies/uz-247" || got["name"] != name {
				t.Fatalf("get by id: %v", got)
			}

			// The draft corrected with a flag and with a YAML file; a stale
			// etag is refused in words, with the status now.
			ctl.obj("requests", "update", name, "--facts-summary", "Between 3 and 5 March the payment gateway was accessed from Uzbekistan.", "--token", p)
			yamlFile := filepath.Join(t.TempDir(), "update.yaml")
			if err := os.WriteFile(yamlFile, []byte("caseReference: KZ-CASE-2026-1187-B\nuseLimitations: For case KZ-CASE-2026-1187 only.\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			ctl.obj("requests", "update", name, "--from-file", yamlFile, "--token", p)
			got := ctl.obj("requests", "get", name, "--token", p)
			if got["caseReference"] != "KZ-CASE-2026-1187-B" || !strings.HasPrefix(got["factsSummary"].(string), "Between 3 and 5 March the payment") ||
				got["legalBasis"] != "CIS_IT_CRIME_AGREEMENT_2018" {
				t.Fatalf("after the updates: %v", got)
			}
			out, errOut, code := ctl.run("", "requests", "update", name, "--etag", "stale", "--language", "ru", "--token", p)
			if code != 1 || !strings.Contains(errOut, "changed since you read it") || !strings.Contains(errOut, "it is now DRAFT") {
				t.Errorf("update with a stale etag: exit %d\n%s%s", code, out, errOut)
			}

			// Treaty profiles (DESIGN §5.6): what applies between KZ and UZ,
			// as the seed records it; the draft's CIS 2018 agreement is of
			// unknown status for both, so it is submitted unconfirmed.
			applicable := ctl.obj("instruments", "applicable", "--from", "KZ", "--to", "UZ", "--token", p)
			items, _ := applicable["instruments"].([]any)
			if len(items) == 0 || items[0].(map[string]any)["requestedStateStatus"] != "IN_FORCE" {
				t.Errorf("instruments applicable KZ→UZ: %v", applicable)
			}
			ctl.status("DRAFT", "requests", "submit", name, "--validate-only", "--token", p)
			ctl.status("SUBMITTED", "requests", "submit", name, "--token", p)
			if got := ctl.obj("requests", "get", name, "--token", p); got["legalBasisUnconfirmed"] != true {
				t.Errorf("submitted under the CIS 2018 agreement: legalBasisUnconfirmed %v, want true", got["legalBasisUnconfirmed"])
			}
			ctl.status("TRANSMITTED", "requests", "transmit", name, "--token", kzCA)
			ctl.status("ACKNOWLEDGED", "requests", "acknowledge", name, "--token", uzCA)
			ctl.status("CLARIFICATION_REQUESTED", "requests", "clarify", name, "--questions", "Please provide the translation into Uzbek.", "--token", uzCA)

			work := t.TempDir()
			translation := filepath.Join(work, "tarjima.pdf")
			if err := os.WriteFile(translation, []byte("%PDF-1.7 translation into Uzbek"), 0o600); err != nil {
				t.Fatal(err)
			}
			tr := ctl.obj("attachments", "upload", name, translation, "--kind", "translation", "--language", "uz", "--token", p)
			ctl.status("ACKNOWLEDGED", "requests", "answer", name, "--answers", "Translation attached.", "--attachment", tr["name"].(string), "--token", p)
			accepted := ctl.status("ACCEPTED", "requests", "accept", name, "--dual-criminality", "NOT_REQUIRED",
				"--human-rights-concerns=false", "--human-rights-note", "No concerns.", "--conditions", "For these proceedings only.", "--token", uzCA)
			if acc, _ := accepted["acceptance"].(map[string]any); acc["dualCriminality"] != "NOT_REQUIRED" {
				t.Errorf("acceptance not recorded: %v", accepted)
			}

			evidence := make([]byte, 700<<10+3)
			_, _ = rand.Read(evidence)
			sum := sha256.Sum256(evidence)
			evidenceFile := filepath.Join(work, "preservation-confirmation.pdf")
			if err := os.WriteFile(evidenceFile, evidence, 0o600); err != nil {
				t.Fatal(err)
			}
			ev := ctl.obj("attachments", "upload", name, evidenceFile, "--kind", "EVIDENCE", "--token", uzCA)
			if ev["sha256"] != hex.EncodeToString(sum[:]) || ev["filename"] != "preservation-confirmation.pdf" || ev["mediaType"] != "application/pdf" {
				t.Fatalf("uploaded evidence: %v", ev)
			}
			evID := strings.TrimPrefix(ev["name"].(string), name+"/attachments/")
			executed := ctl.status("EXECUTED", "requests", "execute", name, "--summary", "Logs of 203.0.113.7 preserved.", "--attachment", evID, "--token", uzCA)
			ctl.status("EXECUTED", "requests", "extend", name, "--token", uzCA)
			if executed["execution"].(map[string]any)["responseSummary"] != "Logs of 203.0.113.7 preserved." {
				t.Errorf("execution not recorded: %v", executed)
			}

			ctl.obj("messages", "create", name, "--visibility", "BOTH_SIDES", "--body", "The logs are ready for collection.", "--token", uzCA)
			msgs := ctl.obj("messages", "list", name, "--all", "--token", p)["messages"].([]any)
			if len(msgs) != 1 || msgs[0].(map[string]any)["body"] != "The logs are ready for collection." {
				t.Errorf("messages: %v", msgs)
			}
			atts := ctl.obj("attachments", "list", name, "--token", p)["attachments"].([]any)
			if len(atts) != 2 {
				t.Errorf("attachments: %v", atts)
			}
			if table := ctl.ok("attachments", "list", name, "--token", p, "--output", "table"); !strings.Contains(table, "preservation-confirmation.pdf") ||
				!strings.Contains(table, hex.EncodeToString(sum[:])) {
				t.Errorf("attachments list as a table:\n%s", table)
			}

			// The requesting side downloads the evidence: under its own name
			// in the current directory, checked; not again over it.
			ctl.ok("attachments", "download", ev["name"].(string), "--token", p)
			saved, err := os.ReadFile(filepath.Join(ctl.dir, "preservation-confirmation.pdf"))
			if err != nil || !bytes.Equal(saved, evidence) {
				t.Fatalf("the downloaded evidence: %v, identical %v", err, bytes.Equal(saved, evidence))
			}
			if _, errOut, code := ctl.run("", "attachments", "download", ev["name"].(string), "--token", p); code != 2 || !strings.Contains(errOut, "--force") {
				t.Errorf("a second download over the file: exit %d, %s", code, errOut)
			}
			ctl.ok("attachments", "download", ev["name"].(string), "--force", "--out", "copy.pdf", "--token", p)
			if copied, _ := os.ReadFile(filepath.Join(ctl.dir, "copy.pdf")); !bytes.Equal(copied, evidence) {
				t.Error("the download to --out differs")
			}

			ctl.status("CLOSED", "requests", "close", name, "--token", p)
			var steps []string
			for _, ch := range ctl.obj("requests", "history", name, "--token", p)["changes"].([]any) {
				steps = append(steps, ch.(map[string]any)["action"].(string))
			}
			want := []string{"create", "submit", "transmit", "acknowledge", "requestClarification", "provideClarification", "accept", "execute", "extendPreservation", "close"}
			if !slices.Equal(steps, want) {
				t.Errorf("history: %v, want %v", steps, want)
			}

			// Another request refused, another withdrawn.
			refused := create("cli-refused")["name"].(string)
			ctl.status("SUBMITTED", "requests", "submit", refused, "--token", p)
			ctl.status("TRANSMITTED", "requests", "transmit", refused, "--token", kzCA)
			ctl.status("ACKNOWLEDGED", "requests", "acknowledge", refused, "--token", uzCA)
			// A preservation may be refused only on a political offence or
			// essential interests (Budapest 29(5)).
			r := ctl.status("REFUSED", "requests", "refuse", refused, "--ground", "ESSENTIAL_INTERESTS", "--ground", "political_offence",
				"--explanation", "The data concerns the state's security services.", "--token", uzCA)
			if gr := r["refusal"].(map[string]any)["grounds"].([]any); len(gr) != 2 {
				t.Errorf("refusal: %v", r["refusal"])
			}
			withdrawn := create("cli-withdrawn")["name"].(string)
			ctl.status("SUBMITTED", "requests", "submit", withdrawn, "--token", p)
			ctl.status("WITHDRAWN", "requests", "withdraw", withdrawn, "--reason", "The suspect was identified otherwise.", "--token", p)

			list := ctl.obj("requests", "list", "--filter", "status = REFUSED OR status = WITHDRAWN", "--all", "--token", p)
			if rs := list["requests"].([]any); len(rs) != 2 {
				t.Errorf("requests list --filter: %v", list)
			}
			if table := ctl.ok("requests", "list", "--token", p, "--output", "table"); !strings.Contains(table, "REFERENCE") || !strings.Contains(table, created["reference"].(string)) {
				t.Errorf("requests list as a table:\n%s", table)
			}

			// Statistics count the three.
			var kzuz map[string]any
			for _, pr := range ctl.obj("statistics", "--requesting-state", "kz", "--requested-state", "UZ", "--token", kzCA)["pairs"].([]any) {
				kzuz = pr.(map[string]any)
			}
			if bs, _ := kzuz["byStatus"].(map[string]any); bs["CLOSED"] != float64(1) || bs["REFUSED"] != float64(1) || bs["WITHDRAWN"] != float64(1) {
				t.Errorf("statistics KZ→UZ: %v", kzuz)
			}

			// The watch saw the case to its end; Ctrl-C ends it with 0.
			deadline := time.Now().Add(15 * time.Second)
			for !strings.Contains(watched.String(), `"action":"close"`) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if !strings.Contains(watched.String(), `"toStatus":"TRANSMITTED"`) || !strings.Contains(watched.String(), `"action":"close"`) {
				t.Errorf("the watch printed:\n%s\n%s", watched.String(), watchErr.String())
			}
			_ = watch.Process.Signal(syscall.SIGINT)
			select {
			case err := <-watchDone:
				if err != nil {
					t.Errorf("the watch ended with %v after Ctrl-C, want exit 0: %s", err, watchErr.String())
				}
			case <-time.After(10 * time.Second):
				t.Error("the watch did not end within 10s of Ctrl-C")
			}

			// The auditor exports the case's trail once the close is on the
			// log, and verifies it against the published key only.
			filter := `resource = "` + name + `"`
			deadline = time.Now().Add(30 * time.Second)
			for {
				entries, _ := ctl.obj("audit", "list", "--filter", filter, "--all", "--token", auditor)["entries"].([]any)
				if strings.Contains(mustJSON(entries), "CloseRequest") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the close never reached the audit log: %v", entries)
				}
				time.Sleep(200 * time.Millisecond)
			}
			bundle := filepath.Join(work, "case.bundle")
			if out := ctl.ok("audit", "export", "--filter", filter, "--out", bundle, "--token", auditor); !strings.Contains(out, "exported ") {
				t.Errorf("audit export: %s", out)
			}
			publicKey := filepath.Join(c.dataDir, "audit", "public.key")
			if out := ctl.ok("audit", "verify", "--public-key", publicKey, bundle); !strings.HasPrefix(out, "verified: ") {
				t.Errorf("audit verify: %s", out)
			}
			if _, errOut, code := ctl.run("", "audit", "verify", bundle); code != 2 || !strings.Contains(errOut, "--public-key is required") ||
				!strings.Contains(errOut, "audit/public.key") {
				t.Errorf("audit verify without a key: exit %d, %s", code, errOut)
			}
			if out, _, code := ctl.run("", "audit", "verify", "--insecure-bundle-key", bundle); code != 0 || !strings.Contains(out, "proves NOTHING") {
				t.Errorf("audit verify --insecure-bundle-key: exit %d, %s", code, out)
			}
		})
	}
}

func mustJSON(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// The command line itself: help, usage errors, a bad token, JSON output.
func TestComityctlCommandLine(t *testing.T) {
	c := startCluster(t, clusterOptions{directories: 1, requests: 1})
	ctl := newCLI(t, c)

	out, errOut, code := ctl.run("")
	if code != 2 || !strings.Contains(out+errOut, "Available Commands") {
		t.Errorf("no arguments: exit %d, want 2 and the help:\n%s%s", code, out, errOut)
	}
	if out, _, code := ctl.run("", "dev", "-h"); code != 0 || !strings.Contains(out, "token") || !strings.Contains(out, "certs") {
		t.Errorf("dev -h: exit %d:\n%s", code, out)
	}
	if _, errOut, code := ctl.run("", "requests", "sumbit", "x"); code != 2 || !strings.Contains(errOut, "unknown command") || !strings.Contains(errOut, "submit") {
		t.Errorf("a mistyped command: exit %d, %s", code, errOut)
	}
	if _, errOut, code := ctl.run("", "requests", "list", "--filtr", "x"); code != 2 || !strings.Contains(errOut, "unknown flag: --filtr") {
		t.Errorf("a mistyped flag: exit %d, %s", code, errOut)
	}
	if _, errOut, code := ctl.run("", "requests", "list"); code != 2 || !strings.Contains(errOut, "comityctl login") {
		t.Errorf("no token: exit %d, %s", code, errOut)
	}
	_, errOut, code = ctl.run("", "requests", "list", "--token", "not-a-token")
	if code != 1 || !strings.Contains(errOut, "401 Unauthorized") || !strings.Contains(errOut, "trace id") || !strings.Contains(errOut, "comityctl login") {
		t.Errorf("a bad token: exit %d, want 1 and the refusal in words:\n%s", code, errOut)
	}

	p := strings.TrimSpace(ctl.ok("dev", "token", "--agency", "kz-gpo", "--role", "prosecutor", "--data-dir", c.dataDir))
	_, errOut, code = ctl.run("", "requests", "create", "--type", "DATA_PRESERVATION", "--priority", "URGENT", "--requested-state", "UZ", "--identifier", "IP_ADDRESS=203.0.113.7",
		"--language", "ru", "--person", "Unknown person:suspect", "--token", p, "--output", "json")
	if code != 0 {
		t.Fatalf("create from flags: exit %d: %s", code, errOut)
	}
	// A field violation is shown as "field: description".
	_, errOut, code = ctl.run("", "requests", "create", "--requested-agency", "Not An Agency", "--token", p)
	if code != 1 || !(strings.Contains(errOut, "requested_agency") || strings.Contains(errOut, "requestedAgency")) {
		t.Errorf("an invalid field: exit %d, want 1 and the field named:\n%s", code, errOut)
	}
	if _, errOut, code := ctl.run("", "requests", "create", "--priority", "fast", "--token", p); code != 2 || !strings.Contains(errOut, "ROUTINE") {
		t.Errorf("an enum flag's wrong value: exit %d, want 2 and the valid values: %s", code, errOut)
	}
	for _, args := range [][]string{
		{"requests", "list"}, {"agencies", "list", "--filter", `state = "UZ"`}, {"agencies", "get", "uz-247"}, {"states", "list"},
		{"routes", "resolve", "--requested-state", "UZ", "--type", "DATA_PRESERVATION", "--priority", "URGENT"}, {"statistics"},
	} {
		out := ctl.ok(append(args, "--token", p, "--output", "json")...)
		if !json.Valid([]byte(out)) {
			t.Errorf("%v --output json is not JSON:\n%s", args, out)
		}
		if y := ctl.ok(append(args, "--token", p, "--output", "yaml")...); json.Valid([]byte(y)) || strings.TrimSpace(y) == "" {
			t.Errorf("%v --output yaml:\n%s", args, y)
		}
	}
	if out := ctl.ok("routes", "resolve", "--requested-state", "uz", "--type", "data_preservation", "--priority", "urgent", "--token", p, "-o", "table"); !strings.Contains(out, "agencies/uz-247") {
		t.Errorf("routes resolve: %s", out)
	}
	if out, _, code := ctl.run("", "completion", "bash"); code != 0 || !strings.Contains(out, "comityctl") {
		t.Errorf("completion bash: exit %d", code)
	}
}
