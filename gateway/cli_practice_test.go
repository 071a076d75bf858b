package gateway_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// ctlRun is the comityctl binary against a suite, as a user runs it: the
// gateway and a token on the command line, no config file.
type ctlRun struct {
	t   *testing.T
	bin string
	s   *suite
	dir string
}

// run runs comityctl as token and returns its standard output, its
// standard error and whether it succeeded.
func (c ctlRun) run(token string, args ...string) (string, string, bool) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append(args, "--gateway", c.s.baseURL, "--token", token)...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "COMITY_") }),
		"COMITY_CONFIG="+filepath.Join(c.dir, "none.json"))
	cmd.Dir = c.dir
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err == nil
}

// obj runs comityctl with --output json, which must succeed, and returns
// the object it printed.
func (c ctlRun) obj(token string, args ...string) map[string]any {
	c.t.Helper()
	out, errOut, ok := c.run(token, append(args, "--output", "json")...)
	if !ok {
		c.t.Fatalf("comityctl %s: %s%s", strings.Join(args, " "), out, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("comityctl %s printed no JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// status runs an action and checks the status of the request it prints.
func (c ctlRun) status(want, token string, args ...string) map[string]any {
	c.t.Helper()
	r := c.obj(token, args...)
	if r["status"] != want {
		c.t.Fatalf("comityctl %s: status %v, want %s", strings.Join(args, " "), r["status"], want)
	}
	return r
}

// refused runs a command that must fail, and returns what it said.
func (c ctlRun) refused(token string, args ...string) string {
	c.t.Helper()
	out, errOut, ok := c.run(token, args...)
	if ok {
		c.t.Fatalf("comityctl %s succeeded: %s", strings.Join(args, " "), out)
	}
	return errOut
}

// TestPracticeCasesThroughComityctl runs cases 2 to 5 of DESIGN §5.7 with
// the comityctl binary alone, every step a command a practitioner types:
// preservation, extension asked and granted, follow-up drafted, held,
// executed item by item with an item's evidence, released; a chain
// disclosure and the preservation it spawns in TJ; an oral emergency
// request recorded at KG and confirmed in writing, and another overdue;
// postponement, conditions and a refusal after consultation.
func TestPracticeCasesThroughComityctl(t *testing.T) {
	bin := comityctl(t)
	s := startSuite(t, suiteOptions{})
	c := ctlRun{t: t, bin: bin, s: s, dir: t.TempDir()}
	p := s.tokenFor("p-kz", "kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	ca := func(agency string) string {
		agency = strings.TrimPrefix(agency, "agencies/")
		return s.tokenFor("ca-"+agency, agency, identity.CentralAuthority)
	}
	// A draft from flags, complete for submission.
	body := preservation()
	draft := func(typ, state string, extra ...string) map[string]any {
		args := []string{"requests", "create", "--type", typ, "--priority", "URGENT", "--requested-state", state,
			"--legal-basis", "CIS_IT_CRIME_AGREEMENT_2018", "--case-reference", "KZ-CASE-2026-1187",
			"--offence-description", "Unauthorised access to the payment system of a regional bank",
			"--offence-qualification", "Article 205 of the Criminal Code of the Republic of Kazakhstan", "--offence-max-penalty-years", "7",
			"--facts-summary", body["factsSummary"].(string), "--necessity", body["necessityAndProportionality"].(string),
			"--language", "ru", "--person", "Unknown person:suspect",
			"--data-category", "connection logs", "--data-category", "subscriber of the address",
			"--investigating-authority", "Anti-Corruption Service of Kazakhstan", "--investigating-case-number", "2026-1187",
			"--contact-name", "A. Nurlanov", "--contact-phone", "+77172000000", "--contact-time-zone", "Asia/Almaty"}
		if typ == "DATA_PRESERVATION" {
			args = append(args, "--custodian-provider", "Example Hosting LLC", "--custodian-country", state, "--follow-up-intended", "--follow-up-type", "TRAFFIC_DATA")
		}
		r := c.obj(p, append(args, extra...)...)
		// Identifiers with their period come from a file: a flag gives
		// the value alone.
		file := filepath.Join(c.dir, "identifiers.json")
		data, _ := json.Marshal(map[string]any{"identifiers": body["identifiers"]})
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return c.obj(p, "requests", "update", r["name"].(string), "--from-file", file)
	}
	acknowledged := func(typ, state string) (string, string) {
		r := draft(typ, state)
		name := r["name"].(string)
		c.status("SUBMITTED", p, "requests", "submit", name)
		c.status("TRANSMITTED", kzCA, "requests", "transmit", r["reference"].(string))
		got := c.obj(p, "requests", "get", name)
		requested := ca(got["requestedAgency"].(string))
		c.status("ACKNOWLEDGED", requested, "requests", "acknowledge", name)
		return name, requested
	}
	executedPreservation := func(state string) (string, string) {
		name, requested := acknowledged("DATA_PRESERVATION", state)
		c.status("ACCEPTED", requested, "requests", "accept", name, "--dual-criminality", "NOT_REQUIRED", "--human-rights-concerns=false", "--human-rights-note", "No concerns.")
		c.status("EXECUTED", requested, "requests", "execute", name, "--summary", "The logs are preserved.")
		return name, requested
	}
	preservationOf := func(name string) map[string]any {
		pr, _ := c.obj(p, "requests", "get", name)["preservation"].(map[string]any)
		return pr
	}

	t.Run("case 2: extended, held by its follow-up executed item by item, released", func(t *testing.T) {
		c.t = t
		pres, uzCA := executedPreservation("UZ")
		c.obj(p, "requests", "request-extension", pres, "--days", "60", "--reason", "The production request is being translated.")
		c.obj(uzCA, "requests", "grant-extension", pres)
		if ext, _ := preservationOf(pres)["extensions"].([]any); len(ext) != 1 || ext[0].(map[string]any)["decision"] != "GRANTED" {
			t.Fatalf("extensions after the grant: %v", ext)
		}
		fu := c.status("DRAFT", p, "requests", "draft-follow-up", pres, "--type", "TRAFFIC_DATA", "--request-id", "follow-1187")
		follow := fu["name"].(string)
		if again := c.obj(p, "requests", "draft-follow-up", pres, "--type", "TRAFFIC_DATA", "--request-id", "follow-1187"); again["name"] != follow {
			t.Errorf("a retried draft-follow-up made another draft: %v", again["name"])
		}
		c.obj(p, "requests", "update", follow, "--data-category", "connection logs", "--data-category", "subscriber of the address")
		c.status("SUBMITTED", p, "requests", "submit", follow)
		c.status("TRANSMITTED", kzCA, "requests", "transmit", follow)
		if st := preservationOf(pres)["state"]; st != "HELD_PENDING_FOLLOW_UP" {
			t.Fatalf("the preservation once the follow-up is transmitted: %v", st)
		}
		fuCA := ca(c.obj(p, "requests", "get", follow)["requestedAgency"].(string))
		c.status("ACKNOWLEDGED", fuCA, "requests", "acknowledge", follow)
		c.obj(fuCA, "requests", "notify-impediment", follow, "--kind", "SIGNIFICANT_DELAY", "--explanation", "The provider answers in 20 days.", "--expected", time.Now().Add(20*24*time.Hour).Format("2006-01-02"))
		c.status("ACCEPTED", fuCA, "requests", "accept", follow, "--dual-criminality", "MET", "--human-rights-concerns=false", "--human-rights-note", "No concerns.")
		logs := filepath.Join(c.dir, "logs.csv")
		if err := os.WriteFile(logs, []byte("time,ip,port\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		att := c.obj(fuCA, "attachments", "upload", follow, logs, "--kind", "EVIDENCE")["name"].(string)
		c.status("PARTIALLY_EXECUTED", fuCA, "requests", "execute", follow, "--summary", "The connection logs.", "--partial",
			"--item", "0/connection logs=PROVIDED", "--item-attachment", "0/connection logs="+att)
		r := c.status("EXECUTED", fuCA, "requests", "execute", follow, "--summary", "No subscriber data.",
			"--item", "0/subscriber of the address=NOT_RETAINED:Kept for 6 months only")
		if ds, _ := r["deliveries"].([]any); len(ds) != 2 {
			t.Errorf("deliveries: %v", r["deliveries"])
		}
		if imp, _ := c.obj(p, "requests", "get", follow)["impediments"].([]any); len(imp) != 1 {
			t.Errorf("the requester reads impediments %v", imp)
		}
		if st := preservationOf(pres)["state"]; st != "PRESERVED" {
			t.Fatalf("the preservation once the follow-up is executed: %v", st)
		}
		c.obj(p, "requests", "release-preservation", pres, "--reason", "The data was produced.")
		if st := preservationOf(pres)["state"]; st != "RELEASED" {
			t.Fatalf("after release-preservation: %v", st)
		}
	})

	t.Run("case 3: chain disclosure, a second preservation in TJ", func(t *testing.T) {
		c.t = t
		first, uzCA := executedPreservation("UZ")
		c.obj(uzCA, "requests", "disclose-chain", first, "--provider", "Pamir Telecom", "--country", "tj", "--explanation", "The connections came from Dushanbe.")
		d := c.status("DRAFT", p, "requests", "draft-follow-up", first, "--type", "DATA_PRESERVATION", "--requested-state", "TJ")
		second := d["name"].(string)
		c.obj(p, "requests", "update", second, "--custodian-provider", "Pamir Telecom", "--custodian-country", "TJ",
			"--follow-up-intended", "--follow-up-type", "TRAFFIC_DATA")
		c.status("SUBMITTED", p, "requests", "submit", second)
		c.status("TRANSMITTED", kzCA, "requests", "transmit", second)
		tj := ca(c.obj(p, "requests", "get", second)["requestedAgency"].(string))
		c.status("ACKNOWLEDGED", tj, "requests", "acknowledge", second)
		c.status("ACCEPTED", tj, "requests", "accept", second, "--dual-criminality", "NOT_REQUIRED", "--human-rights-concerns=false", "--human-rights-note", "No concerns.")
		c.status("EXECUTED", tj, "requests", "execute", second, "--summary", "Pamir Telecom preserved the logs.")
		got := c.obj(p, "requests", "get", second)
		if rel, _ := got["relatedRequests"].([]any); len(rel) != 1 || rel[0].(map[string]any)["kind"] != "SPAWNED_BY" || rel[0].(map[string]any)["request"] != first {
			t.Errorf("the TJ preservation's relations: %v", got["relatedRequests"])
		}
	})

	t.Run("case 4: an oral emergency request to KG, confirmed; another overdue", func(t *testing.T) {
		c.t = t
		kg := ca("kg-247")
		record := func(received time.Time) map[string]any {
			return c.status("ACKNOWLEDGED", kg, "requests", "record-oral", "--requesting-agency", "kz-gpo", "--channel", "phone",
				"--received", received.Format(time.RFC3339), "--caller", "Duty prosecutor A. Seitkali, GPO of Kazakhstan",
				"--type", "DATA_PRESERVATION", "--priority", "EMERGENCY", "--emergency-reason", "A kidnapped child's phone was last seen here.",
				"--identifier", "IP_ADDRESS=203.0.113.7:443")
		}
		oral := record(time.Now().Add(-time.Hour))
		name := oral["name"].(string)
		if msg := c.refused(p, "requests", "confirm-in-writing", name, "--case-reference", "KZ-CASE-2026-0077"); !strings.Contains(msg, "legal_basis") {
			t.Errorf("a confirmation leaving the legal basis out said: %s", msg)
		}
		conf := c.obj(p, "requests", "confirm-in-writing", oral["reference"].(string), "--legal-basis", "CIS_IT_CRIME_AGREEMENT_2018",
			"--case-reference", "KZ-CASE-2026-0077", "--offence-description", "Kidnapping of a child",
			"--offence-qualification", "Article 125 of the Criminal Code of the Republic of Kazakhstan", "--offence-max-penalty-years", "15",
			"--facts-summary", "The child was taken on 3 March; the kidnapper's phone connects through Kyrgyzstan.",
			"--necessity", body["necessityAndProportionality"].(string), "--language", "ru", "--person", "Unknown person:suspect",
			"--data-category", "connection logs", "--custodian-provider", "Example Mobile CJSC", "--custodian-country", "KG",
			"--follow-up-intended", "--follow-up-type", "TRAFFIC_DATA")
		in, _ := conf["intake"].(map[string]any)
		if conf["owner"] != "p-kz" || in["confirmTime"] == nil || conf["overdue"] == true {
			t.Fatalf("the confirmed request: %v", conf)
		}
		// A call recorded with every field (from a file, as create takes
		// it) is confirmed as it stands.
		full := filepath.Join(c.dir, "full.json")
		data, _ := json.Marshal(practiceRequest("DATA_PRESERVATION", "KG"))
		if err := os.WriteFile(full, data, 0o600); err != nil {
			t.Fatal(err)
		}
		whole := c.status("ACKNOWLEDGED", kg, "requests", "record-oral", "--requesting-agency", "agencies/kz-gpo", "--channel", "EMAIL",
			"--caller", "GPO of Kazakhstan, international department", "--from-file", full, "--priority", "EMERGENCY", "--emergency-reason", "Threat to life.")
		if r := c.obj(p, "requests", "confirm-in-writing", whole["name"].(string)); r["owner"] != "p-kz" || r["factsSummary"] != body["factsSummary"] {
			t.Errorf("confirmed as it stands: owner %v, facts %v", r["owner"], r["factsSummary"])
		}
		late := record(time.Now().Add(-73 * time.Hour))["name"].(string)
		list := c.obj(kzCA, "requests", "list", "--filter", "overdue = true", "--all")
		var overdue []string
		for _, r := range list["requests"].([]any) {
			overdue = append(overdue, r.(map[string]any)["name"].(string))
		}
		if !slices.Contains(overdue, late) || slices.Contains(overdue, name) {
			t.Errorf("requests list --filter 'overdue = true': %v; want %s and not %s", overdue, late, name)
		}
	})

	t.Run("case 5: postponed and resumed, conditions accepted, refused after consultation", func(t *testing.T) {
		c.t = t
		name, uz := acknowledged("TRAFFIC_DATA", "UZ")
		c.status("POSTPONED", uz, "requests", "postpone", name, "--until", time.Now().Add(30*24*time.Hour).Format("2006-01-02"),
			"--reason", "Execution would prejudice a domestic investigation.")
		c.status("ACKNOWLEDGED", uz, "requests", "resume", name)
		c.status("CONDITIONS_PROPOSED", uz, "requests", "propose-conditions", name,
			"--condition", "USE_ONLY_STATED_PROCEEDINGS=For case KZ-CASE-2026-1187 only.",
			"--condition", "DELETE_BY:2028-12-31=Delete once the judgment is final.",
			"--cost-kind", "EXTRAORDINARY", "--cost-estimate", "1500.00", "--cost-currency", "UZS", "--cost-bearer", "requesting state")
		r := c.status("ACCEPTED", p, "requests", "accept-conditions", name)
		if cp, _ := r["conditionsProposal"].(map[string]any); cp["decision"] != "ACCEPTED" || len(cp["conditions"].([]any)) != 2 {
			t.Errorf("the conditions accepted: %v", cp)
		}
		c.status("EXECUTED", uz, "requests", "execute", name, "--summary", "Delivered under the conditions.",
			"--item", "0/connection logs=PROVIDED", "--item", "0/subscriber of the address=NOT_HELD:No subscriber data for this service")

		other, uz2 := acknowledged("TRAFFIC_DATA", "UZ")
		if msg := c.refused(uz2, "requests", "refuse", other, "--ground", "PRESS_FREEDOM", "--explanation", "A journalist's sources."); !strings.Contains(msg, "consultation") {
			t.Errorf("a refusal without consultation said: %s", msg)
		}
		r = c.status("REFUSED", uz2, "requests", "refuse", other, "--ground", "PRESS_FREEDOM", "--explanation", "A journalist's sources.",
			"--consultation-note", "Providing the subscriber data alone was discussed with the KZ GPO.", "--consultation-time", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		if cons := r["refusal"].(map[string]any)["consultation"]; cons == nil {
			t.Errorf("the refusal's consultation: %v", r["refusal"])
		}
	})

	t.Run("confidentiality and ownership", func(t *testing.T) {
		c.t = t
		name, uz := acknowledged("DATA_PRESERVATION", "UZ")
		c.status("AWAITING_REQUESTER_DECISION", uz, "requests", "declare-confidentiality-impossible", name, "--explanation", "The provider must tell its customer.")
		c.status("ACKNOWLEDGED", p, "requests", "proceed", name)
		r := c.obj(kzCA, "requests", "transfer-ownership", name, "--owner", "p-kz-2", "--reason", "Reassigned during leave.")
		if r["owner"] != "p-kz-2" {
			t.Errorf("the owner after transfer-ownership: %v", r["owner"])
		}
		// The former owner may no longer act as the owner.
		if msg := c.refused(p, "requests", "withdraw", name, "--reason", "Not needed."); !strings.Contains(msg, "403") {
			t.Errorf("the former owner withdrawing: %s", msg)
		}
	})
}
