package gateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request/requestd"
)

// TestDataProtectionThroughComityctl runs the "Done means" of issue 15
// (DESIGN §10) with the comityctl binary alone, every step a command a
// practitioner types: the use conditions imposed at acceptance and the
// evidence withheld until acknowledged; an onward transfer refused, then
// recorded on the granted consent; a report of use; a request erased at
// the end of its retention while another's legal hold keeps it; a data
// subject's request deferred then granted; a read's declared purpose on the
// trail; a state's retention set by its directory administrator.
func TestDataProtectionThroughComityctl(t *testing.T) {
	bin := comityctl(t)
	const retention = 8 * time.Second
	s := startSuite(t, suiteOptions{retention: requestd.Retention{AfterClose: retention, SweepInterval: 200 * time.Millisecond}})
	c := ctlRun{t: t, bin: bin, s: s, dir: t.TempDir()}
	p := s.tokenFor("p-kz", "kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	kzAuditor := s.token("kz-oversight", identity.Auditor)
	uzCA := s.tokenFor("ca-uz-247", "uz-247", identity.CentralAuthority)

	// A preservation KZ→UZ from a file, run to EXECUTED with evidence
	// under the conditions of use.
	executed := func(narrative string, conditions ...string) (name, evidence string) {
		body := practiceRequest("DATA_PRESERVATION", "UZ")
		body["factsSummary"] = narrative
		file := filepath.Join(c.dir, "draft.json")
		data, _ := json.Marshal(body)
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		name = c.status("DRAFT", p, "requests", "create", "--from-file", file)["name"].(string)
		c.status("SUBMITTED", p, "requests", "submit", name)
		c.status("TRANSMITTED", kzCA, "requests", "transmit", name)
		c.status("ACKNOWLEDGED", uzCA, "requests", "acknowledge", name)
		accept := []string{"requests", "accept", name, "--dual-criminality", "NOT_REQUIRED", "--human-rights-concerns=false", "--human-rights-note", "No concerns."}
		for _, cd := range conditions {
			accept = append(accept, "--use-condition", cd)
		}
		c.status("ACCEPTED", uzCA, accept...)
		logs := filepath.Join(c.dir, "logs.csv")
		if err := os.WriteFile(logs, []byte("time,ip,port\n2026-02-11T03:12:00Z,203.0.113.7,443\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		evidence = c.obj(uzCA, "attachments", "upload", name, logs, "--kind", "EVIDENCE")["name"].(string)
		c.status("EXECUTED", uzCA, "requests", "execute", name, "--summary", "The logs are preserved.", "--attachment", evidence)
		return name, evidence
	}

	t.Run("conditions, consent, onward transfer, report of use", func(t *testing.T) {
		c.t = t
		due := time.Now().Add(30 * 24 * time.Hour).Format("2006-01-02")
		name, evidence := executed("Conditions case narrative",
			"NO_ONWARD_TRANSFER=Not to be passed on without the consent of Uzbekistan", "REPORT_USE:"+due+"=Report how the logs were used")
		r := c.obj(p, "requests", "get", name)
		if bc, _ := r["bindingConditions"].([]any); len(bc) != 2 {
			t.Fatalf("the binding conditions are %v", r["bindingConditions"])
		}
		out := filepath.Join(c.dir, "evidence.csv")
		if said := c.refused(p, "attachments", "download", evidence, "--out", out); !strings.Contains(said, "acknowledgeConditions") || !strings.Contains(said, "NO_ONWARD_TRANSFER") {
			t.Errorf("a download before the acknowledgement said: %s", said)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("a refused download left a file")
		}
		r = c.obj(p, "requests", "acknowledge-conditions", name)
		if ack, _ := r["conditionsAcknowledgement"].(map[string]any); ack["conditions"] != float64(2) {
			t.Errorf("the acknowledgement is %v", r["conditionsAcknowledgement"])
		}
		if _, errOut, ok := c.run(p, "attachments", "download", evidence, "--out", out); !ok {
			t.Fatalf("the download after the acknowledgement failed: %s", errOut)
		}
		if got, _ := os.ReadFile(out); !strings.Contains(string(got), "203.0.113.7") {
			t.Errorf("downloaded %q", got)
		}
		if said := c.refused(p, "requests", "record-onward-transfer", name, "--recipient", "Financial Monitoring Agency",
			"--authorisation", "Order 12/2026"); !strings.Contains(said, "NO_ONWARD_TRANSFER") {
			t.Errorf("an onward transfer without consent said: %s", said)
		}
		r = c.obj(p, "requests", "request-consent", name, "--kind", "ONWARD_TRANSFER", "--recipient", "Financial Monitoring Agency",
			"--purpose", "Tracing the proceeds of the fraud.")
		if cs, _ := r["consents"].([]any); len(cs) != 1 || cs[0].(map[string]any)["decision"] != "PENDING" {
			t.Fatalf("the consents are %v", r["consents"])
		}
		c.refused(p, "requests", "grant-consent", name, "--consent", "1")
		c.obj(uzCA, "requests", "grant-consent", name, "--consent", "1", "--terms", "For the financial investigation only.")
		r = c.obj(p, "requests", "record-onward-transfer", name, "--recipient", "Financial Monitoring Agency", "--authorisation", "Consent 1 of Uzbekistan", "--consent", "1")
		if ts, _ := r["onwardTransfers"].([]any); len(ts) != 1 {
			t.Errorf("the onward transfers are %v", r["onwardTransfers"])
		}
		// In a table, the action shows the ledger.
		table, errOut, ok := c.run(p, "requests", "report-use", name, "--text", "The logs identified the intruder.", "--output", "table")
		if !ok {
			t.Fatalf("report-use: %s", errOut)
		}
		for _, want := range []string{"BINDING CONDITIONS", "NO_ONWARD_TRANSFER", "ACKNOWLEDGED", "CONSENTS", "GRANTED", "ONWARD TRANSFERS",
			"Financial Monitoring Agency", "REPORTS OF USE", "The logs identified the intruder."} {
			if !strings.Contains(table, want) {
				t.Errorf("the table of report-use lacks %q:\n%s", want, table)
			}
		}
		if strings.Contains(table, "report of use due by") {
			t.Errorf("a report of use is still due after one was made:\n%s", table)
		}
	})

	t.Run("a read's purpose on the trail", func(t *testing.T) {
		c.t = t
		name := c.obj(p, "requests", "list", "--page-size", "1")["requests"].([]any)[0].(map[string]any)["name"].(string)
		c.obj(p, "requests", "get", name, "--purpose", "stated-proceedings")
		c.obj(p, "requests", "get", name)
		if said := c.refused(p, "requests", "get", name, "--purpose", "curiosity"); !strings.Contains(said, "--purpose") || !strings.Contains(said, "stated-proceedings") {
			t.Errorf("an unknown purpose said: %s", said)
		}
		s.awaitEntries(kzAuditor, `resource = "`+name+`"`, 20*time.Second, func(es []auditEntry) bool {
			var got []string
			for _, e := range es {
				if strings.HasSuffix(e.Event.Action, "/GetRequest") && e.Event.Actor.Subject == "p-kz" {
					got = append(got, e.Event.Purpose)
				}
			}
			return slices.Contains(got, "stated-proceedings") && slices.Contains(got, "undeclared")
		})
	})

	t.Run("data subject's request deferred then granted", func(t *testing.T) {
		c.t = t
		name := c.obj(p, "requests", "list", "--page-size", "1")["requests"].([]any)[0].(map[string]any)["name"].(string)
		c.refused(p, "data-subject-requests", "create", "--person-name", "Askar Seitkali", "--right", "ACCESS")
		d := c.obj(kzCA, "data-subject-requests", "create", "--person-name", "Askar Seitkali", "--right", "ACCESS", "--request", name,
			"--received", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--description", "Asks what was sent to Uzbekistan.")
		dsr := d["name"].(string)
		review := time.Now().Add(30 * 24 * time.Hour).Format("2006-01-02")
		d = c.obj(kzCA, "data-subject-requests", "decide", dsr, "--decision", "DEFERRED", "--reasons", "Disclosure would prejudice the investigation.", "--review", review)
		if dec, _ := d["decision"].(map[string]any); dec["decision"] != "DEFERRED" || !strings.HasPrefix(dec["reviewTime"].(string), review) {
			t.Errorf("deferred: %v", d["decision"])
		}
		c.obj(kzCA, "data-subject-requests", "inform", dsr, "--status", "DEFERRED", "--reasons", "Covert until March.")
		d = c.obj(kzCA, "dsr", "decide", dsr, "--decision", "GRANTED")
		if decs, _ := d["decisions"].([]any); len(decs) != 2 || d["decision"].(map[string]any)["decision"] != "GRANTED" {
			t.Errorf("the decisions are %v", d["decisions"])
		}
		c.obj(kzCA, "data-subject-requests", "inform", dsr, "--status", "DONE")
		if got := c.obj(kzCA, "data-subject-requests", "get", dsr); got["informing"].(map[string]any)["status"] != "DONE" {
			t.Errorf("informing is %v", got["informing"])
		}
		list := c.obj(kzCA, "data-subject-requests", "list")
		if ds, _ := list["dataSubjectRequests"].([]any); len(ds) != 1 || ds[0].(map[string]any)["name"] != dsr {
			t.Errorf("the list is %v", list)
		}
		c.refused(uzCA, "data-subject-requests", "get", dsr)
	})

	t.Run("a state's retention", func(t *testing.T) {
		c.t = t
		admin := s.token("kz-oversight", identity.DirectoryAdmin)
		c.refused(kzCA, "states", "update", "KZ", "--retention-after-close", "3y")
		st := c.obj(admin, "states", "update", "KZ", "--retention-after-close", "3y")
		if st["retentionAfterClose"] != "94608000s" {
			t.Errorf("after the update the state is %v", st)
		}
		if st := c.obj(p, "states", "get", "KZ"); st["retentionAfterClose"] != "94608000s" {
			t.Errorf("KZ's retention reads %v", st["retentionAfterClose"])
		}
		c.obj(admin, "states", "update", "KZ", "--retention-after-close", "default")
		if st := c.obj(p, "states", "get", "KZ"); st["retentionAfterClose"] != nil {
			t.Errorf("KZ's retention after its removal reads %v", st["retentionAfterClose"])
		}
	})

	t.Run("erased at the end of retention; a legal hold keeps another", func(t *testing.T) {
		c.t = t
		held, _ := executed("Held narrative: the Astana payroll intrusion")
		gone, evidence := executed("Erasable narrative: the Almaty payroll intrusion")
		c.status("CLOSED", p, "requests", "close", held)
		c.refused(p, "requests", "set-legal-hold", held, "--reason", "Appeal pending.", "--review", time.Now().Add(90*24*time.Hour).Format("2006-01-02"))
		r := c.obj(kzCA, "requests", "set-legal-hold", held, "--reason", "Appeal pending.", "--review", time.Now().Add(90*24*time.Hour).Format("2006-01-02"))
		if h, _ := r["legalHold"].(map[string]any); h["reason"] != "Appeal pending." {
			t.Fatalf("the hold is %v", r["legalHold"])
		}
		c.status("CLOSED", p, "requests", "close", gone)
		deadline := time.Now().Add(retention + 30*time.Second)
		for {
			r = c.obj(p, "requests", "get", gone)
			if es, _ := r["erasures"].([]any); len(es) == 1 && es[0].(map[string]any)["completeTime"] != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the request was not erased: %v", r["erasures"])
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r["factsSummary"] != "" || r["reference"] == nil || r["status"] != "CLOSED" {
			t.Errorf("after erasure: facts %v, reference %v, status %v", r["factsSummary"], r["reference"], r["status"])
		}
		if said := c.refused(p, "attachments", "download", evidence, "--out", filepath.Join(c.dir, "gone.csv")); !strings.Contains(said, "erased") {
			t.Errorf("downloading erased evidence said: %s", said)
		}
		if r := c.obj(p, "requests", "get", held); r["factsSummary"] != "Held narrative: the Astana payroll intrusion" {
			t.Errorf("the held request lost its content: %v %v", r["factsSummary"], r["erasures"])
		}
		s.awaitEntries(kzAuditor, `resource = "`+gone+`"`, 20*time.Second, func(es []auditEntry) bool {
			return slices.ContainsFunc(es, func(e auditEntry) bool { return strings.HasSuffix(e.Event.Action, "/EraseRequest") })
		})
	})
}
