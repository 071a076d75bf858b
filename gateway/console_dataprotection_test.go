package gateway_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request/requestd"
)

// readPurposes are the purposes the audit events of reads of resource
// carry, as an auditor of auditorAgency reads them, once at least one
// carries want.
func readPurposes(t *testing.T, cs *consoleSuite, auditorAgency, resource, want string) []string {
	t.Helper()
	tok := cs.token(auditorAgency, identity.Auditor)
	deadline := time.Now().Add(15 * time.Second)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		r := cs.do(http.MethodGet, "/v1/audit/entries?"+url.Values{"pageSize": {"200"}, "filter": {`resource = "` + resource + `"`}}.Encode(), tok, nil)
		var p struct {
			Entries []struct {
				Event struct {
					Purpose string `json:"purpose"`
				} `json:"event"`
			} `json:"entries"`
		}
		var got []string
		if r.status == http.StatusOK && json.Unmarshal([]byte(r.raw), &p) == nil {
			for _, e := range p.Entries {
				if e.Event.Purpose != "" {
					got = append(got, e.Event.Purpose)
				}
			}
			for _, g := range got {
				if g == want {
					return got
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s the reads of %s carry the purposes %v (last answer %d), not %q", resource, got, r.status, want)
		}
		time.Sleep(backoff)
	}
}

// TestConsoleDataProtection drives DESIGN §10 through the console over
// HTTP on the real suite: the purpose of reading is asked once per session
// and request and reaches the read's audit event; the acceptance imposes
// use conditions; evidence is refused, with the service's words, until the
// requesting side acknowledges them; an onward transfer is refused under
// NO_ONWARD_TRANSFER, then allowed after consent; a report of use and a
// legal hold are recorded and shown; a data subject's request is deferred,
// then granted.
func TestConsoleDataProtection(t *testing.T) {
	runConsoleDataProtection(t, startConsoleSuite(t))
}

// TestConsoleDataProtectionPostgres is TestConsoleDataProtection with the
// services' data in PostgreSQL (skipped without COMITY_TEST_POSTGRES).
func TestConsoleDataProtectionPostgres(t *testing.T) {
	runConsoleDataProtection(t, startConsoleSuite(t, consoleSuiteOptions{suite: suiteOptions{postgres: true}}))
}

func runConsoleDataProtection(t *testing.T, cs *consoleSuite) {
	kzP := authoritySignIn(t, cs, "kz-gpo", "prosecutor")
	kzCA := authoritySignIn(t, cs, "kz-gpo", "central_authority")
	uzGPO := authoritySignIn(t, cs, "uz-gpo", "central_authority")

	t.Run("the purpose is asked once and reaches the audit event", func(t *testing.T) {
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit")
		u := cs.signInHTTP(t, "kz-gpo", "central_authority")
		u.purpose = "" // this user answers themselves
		first := u.get("/requests/" + id)
		want := "/requests/" + id + "/purpose?next=" + url.QueryEscape("/requests/"+id)
		if first.status != http.StatusSeeOther || first.location != want {
			t.Fatalf("the request's page before a purpose answered %d → %q, want 303 → %q", first.status, first.location, want)
		}
		ask := u.get(first.location)
		for _, w := range []string{"Why do you read this request?", "Executing or answering the request", "Translation",
			"Answering a person&#39;s request about their data", `value="stated-proceedings"`, `name="next" value="/requests/` + id + `"`} {
			if !strings.Contains(ask.body, w) {
				t.Errorf("the purpose page lacks %q: %s", w, authorityMain(ask.body))
			}
		}
		if strings.Contains(ask.body, "Necessity") || strings.Contains(ask.body, "facts") {
			t.Errorf("the purpose page shows content of the request: %s", authorityMain(ask.body))
		}
		origin := http.Header{"Origin": {u.base}, "Sec-Fetch-Site": {"same-origin"}}
		bad := u.post("/requests/"+id+"/purpose", url.Values{"purpose": {"curiosity"}, "next": {"/requests/" + id}}, origin)
		if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "Choose a purpose from the list.") {
			t.Errorf("an unknown purpose answered %d: %s", bad.status, authorityMain(bad.body))
		}
		// A next address elsewhere is not followed.
		ok := u.post("/requests/"+id+"/purpose", url.Values{"purpose": {"execution"}, "next": {"https://evil.example/"}}, origin)
		if ok.status != http.StatusSeeOther || ok.location != "/requests/"+id {
			t.Errorf("declaring the purpose answered %d → %q, want 303 → /requests/%s", ok.status, ok.location, id)
		}
		for i := range 2 {
			if p := u.get("/requests/" + id); p.status != http.StatusOK || !strings.Contains(p.body, `class="fields"`) {
				t.Errorf("visit %d after declaring answered %d → %q", i+1, p.status, p.location)
			}
		}
		readPurposes(t, cs, "kz-oversight", "requests/"+id, "execution")
		// Another request is asked again.
		other, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit")
		if p := u.get("/requests/" + other); p.status != http.StatusSeeOther || !strings.Contains(p.location, "/purpose?") {
			t.Errorf("another request's page answered %d → %q without asking", p.status, p.location)
		}
		// The download too.
		if p := u.get("/requests/" + other + "/attachments/x"); p.status != http.StatusSeeOther || !strings.Contains(p.location, "/purpose?") {
			t.Errorf("a download of an undeclared request answered %d → %q without asking", p.status, p.location)
		}
	})

	t.Run("conditions, evidence, consent, onward transfer, report of use, legal hold", func(t *testing.T) {
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")
		_, form := uzGPO.form(id, "accept")
		if !strings.Contains(form, `data-use-conditions`) || !strings.Contains(form, `name="use_conditions[0].kind"`) {
			t.Fatalf("the accept form does not ask for use conditions: %s", authorityMain(form))
		}
		refusedAt(t, uzGPO, id, "accept", url.Values{"dual_criminality": {"MET"}, "concerns": {"no"}, "use_conditions_rows": {"3"},
			"use_conditions[1].kind": {"DELETE_BY"}, "use_conditions[1].text": {"Kept condition"}, "use_conditions[1].due_time": {"soon"}},
			"use_conditions-1-due_time", `value="Kept condition"`)
		uzGPO.act(id, "accept", url.Values{"dual_criminality": {"MET"}, "concerns": {"no"}, "use_conditions_rows": {"3"},
			"use_conditions[0].kind":     {"NO_ONWARD_TRANSFER"},
			"use_conditions[0].text":     {"Not to be passed to any other authority without our consent."},
			"use_conditions[2].kind":     {"REPORT_USE"},
			"use_conditions[2].text":     {"Tell us how the logs were used."},
			"use_conditions[2].due_time": {time.Now().UTC().Add(60 * 24 * time.Hour).Format("2006-01-02T15:04")},
		}, "The request was accepted for execution.")
		uzToken := cs.token("uz-gpo", identity.CentralAuthority)
		ev := cs.client().Upload("/v1/requests/"+id, uzToken, "EVIDENCE", "", "connection-logs.csv", []byte("time,ip\n2026-03-03,203.0.113.7\n"), nil)
		evidence, _ := ev.Body["name"].(string)
		if ev.Status != http.StatusOK || evidence == "" {
			t.Fatalf("upload of the evidence: %d %s", ev.Status, ev.Raw)
		}
		uzGPO.act(id, "execute", url.Values{"response_summary": {"The connection logs."}, "attachments": {evidence},
			"items_rows": {"1"}, "items[0].identifier_index": {"0"}, "items[0].data_category": {"connection logs"}, "items[0].outcome": {"PROVIDED"}}, "The execution was recorded.")

		_, page := kzP.fetch("/requests/" + id)
		for _, w := range []string{`data-protection`, "No onward transfer without consent", "Not to be passed to any other authority",
			"data-unacknowledged", "Conditions not yet acknowledged: 2.", "Report the use by", "data-held"} {
			if !strings.Contains(page, w) {
				t.Errorf("the requesting side's page lacks %q: %s", w, authorityMain(page))
			}
		}
		checkOffered(t, id, "acknowledge_conditions", map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "uz CA": uzGPO},
			"kz prosecutor", "kz CA")
		_, att, _ := strings.Cut(evidence, "/attachments/")
		refused := kzP.get("/requests/" + id + "/attachments/" + att)
		if refused.status != http.StatusBadRequest || !strings.Contains(refused.body, "data-download-refused") ||
			!strings.Contains(refused.body, "data-service-message") || !strings.Contains(refused.body, "acknowledge them under Data protection") {
			t.Errorf("the evidence before acknowledgement answered %d: %s", refused.status, authorityMain(refused.body))
		}
		kzP.act(id, "acknowledge_conditions", nil, "The use conditions were acknowledged")
		if got := kzP.get("/requests/" + id + "/attachments/" + att); got.status != http.StatusOK || !strings.Contains(got.body, "203.0.113.7") {
			t.Errorf("the evidence after acknowledgement answered %d", got.status)
		}
		_, page = kzP.fetch("/requests/" + id)
		if strings.Contains(page, "data-unacknowledged") || !strings.Contains(page, "data-acknowledgement") {
			t.Errorf("after the acknowledgement the page does not show the conditions acknowledged: %s", authorityMain(page))
		}

		// Onward transfer: refused without consent, with the service's
		// words and the input kept.
		transfer := url.Values{"recipient": {"Financial Monitoring Agency of Kazakhstan"}, "authorisation": {"Asked by the investigator."}}
		page = kzP.refused(id, "record_onward_transfer", transfer, http.StatusBadRequest)
		if !strings.Contains(page, "data-service-message") || !strings.Contains(page, `value="Financial Monitoring Agency of Kazakhstan"`) {
			t.Errorf("the onward transfer without consent is not refused with the service's words and the input kept: %s", authorityMain(page))
		}
		refusedAt(t, kzP, id, "request_consent", url.Values{"kind": {"ONWARD_TRANSFER"}, "purpose": {""}, "recipient": {"Kept recipient"}},
			"purpose", `value="Kept recipient"`)
		kzP.act(id, "request_consent", url.Values{"kind": {"ONWARD_TRANSFER"}, "recipient": {"Financial Monitoring Agency of Kazakhstan"},
			"purpose": {"The money-laundering part of the case is investigated by the financial monitoring agency."}}, "Consent was asked")
		checkOffered(t, id, "grant_consent", map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "uz CA": uzGPO}, "uz CA")
		_, grant := uzGPO.form(id, "grant_consent")
		if !strings.Contains(grant, "money-laundering part") {
			t.Errorf("the grant form does not show the consent asked: %s", authorityMain(grant))
		}
		uzGPO.act(id, "grant_consent", url.Values{"consent": {"1"}, "terms": {"For the money-laundering investigation only."}}, "Consent was granted.")
		transfer.Set("consent", "1")
		kzP.act(id, "record_onward_transfer", transfer, "The onward transfer was recorded.")
		_, page = kzP.fetch("/requests/" + id)
		for _, w := range []string{`data-consent-decision="granted"`, "For the money-laundering investigation only.", "data-transfer", "Under consent 1"} {
			if !strings.Contains(page, w) {
				t.Errorf("after the consent and the transfer the page lacks %q: %s", w, authorityMain(page))
			}
		}

		kzP.act(id, "report_use", url.Values{"text": {"The logs identified the suspect's connection on 3 March."}}, "The report of use was recorded.")
		if _, page = kzP.fetch("/requests/" + id); !strings.Contains(page, "data-use-report") || strings.Contains(page, "Report the use by") {
			t.Errorf("after the report the page does not show it, or still shows its deadline: %s", authorityMain(page))
		}

		// The legal hold: the requesting state's central authority only.
		checkOffered(t, id, "set_legal_hold", map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "uz CA": uzGPO}, "kz CA")
		refusedAt(t, kzCA, id, "set_legal_hold", url.Values{"reason": {"Kept hold reason"}, "review_time": {""}}, "review_time", ">Kept hold reason</textarea>")
		kzCA.act(id, "set_legal_hold", url.Values{"reason": {"An appeal is pending in the proceedings."},
			"review_time": {time.Now().UTC().Add(180 * 24 * time.Hour).Format("2006-01-02T15:04")}}, "The legal hold is set")
		_, page = kzCA.fetch("/requests/" + id)
		for _, w := range []string{`data-legal-hold="holds"`, "An appeal is pending in the proceedings.", "Review the legal hold by"} {
			if !strings.Contains(page, w) {
				t.Errorf("the held request's page lacks %q: %s", w, authorityMain(page))
			}
		}
		kzCA.act(id, "lift_legal_hold", url.Values{"reason": {"The appeal was decided."}}, "The legal hold was lifted.")
		if _, page = kzCA.fetch("/requests/" + id); !strings.Contains(page, `data-legal-hold="lifted"`) {
			t.Errorf("the lifted hold is not shown: %s", authorityMain(page))
		}
	})

	t.Run("a data subject's request deferred, then granted", func(t *testing.T) {
		id, ref := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit")
		if _, page := kzP.fetch("/subjects"); !strings.Contains(page, "Only a central authority") {
			t.Errorf("a prosecutor reaches the data subjects' requests: %s", authorityMain(page))
		}
		if _, page := kzP.fetch("/"); strings.Contains(page, `href="/subjects"`) {
			t.Error("a prosecutor's navigation links to the data subjects' requests")
		}
		if _, page := kzCA.fetch("/"); !strings.Contains(page, `href="/subjects"`) {
			t.Error("a central authority's navigation does not link to the data subjects' requests")
		}
		origin := http.Header{"Origin": {kzCA.base}, "Sec-Fetch-Site": {"same-origin"}}
		received := time.Now().UTC().Add(-48 * time.Hour).Format("2006-01-02T15:04")
		missing := kzCA.consoleUser.post("/subjects/new", url.Values{"person.full_name": {""}, "right": {"ACCESS"}, "requests": {ref},
			"receive_time": {received}, "description": {"Kept description"}}, origin)
		if missing.status != http.StatusBadRequest || !strings.Contains(missing.body, `id="person-full_name-error"`) ||
			!strings.Contains(missing.body, ">Kept description</textarea>") {
			t.Errorf("a data subject's request without the person's name answered %d: %s", missing.status, authorityMain(missing.body))
		}
		unknown := kzCA.consoleUser.post("/subjects/new", url.Values{"person.full_name": {"Aliya Nurlanovna Sadykova"}, "right": {"ACCESS"},
			"requests": {"KZ-2026-999999"}, "receive_time": {received}}, origin)
		if unknown.status != http.StatusBadRequest || !strings.Contains(unknown.body, `id="requests-error"`) {
			t.Errorf("a data subject's request naming an unknown reference answered %d: %s", unknown.status, authorityMain(unknown.body))
		}
		made := kzCA.consoleUser.post("/subjects/new", url.Values{"person.full_name": {"Aliya Nurlanovna Sadykova"}, "right": {"ACCESS"},
			"person.date_of_birth": {"1990-04-12"}, "requests": {ref}, "receive_time": {received},
			"description": {"Asks which of her data were sent abroad."}}, origin)
		if made.status != http.StatusSeeOther || !strings.HasPrefix(made.location, "/subjects/") {
			t.Fatalf("recording the data subject's request answered %d: %s", made.status, authorityMain(made.body))
		}
		detail, _, _ := strings.Cut(made.location, "?")
		page := kzCA.mustGet(t, made.location)
		for _, w := range []string{"The data subject&#39;s request was recorded.", "Aliya Nurlanovna Sadykova", "Access to their data",
			`href="/requests/` + id + `"`, "Not decided yet"} {
			if !strings.Contains(page, w) {
				t.Errorf("the data subject's request's page lacks %q: %s", w, authorityMain(page))
			}
		}
		etag := authorityEtag.FindStringSubmatch(page)[1]
		noReview := kzCA.consoleUser.post(detail+"/decide", url.Values{"etag": {etag}, "decision.decision": {"DEFERRED"},
			"decision.reasons": {"Kept reasons"}}, origin)
		if noReview.status != http.StatusBadRequest || !strings.Contains(noReview.body, `id="decision-review_time-error"`) ||
			!strings.Contains(noReview.body, ">Kept reasons</textarea>") {
			t.Errorf("a deferral without a review date answered %d: %s", noReview.status, authorityMain(noReview.body))
		}
		deferred := kzCA.consoleUser.post(detail+"/decide", url.Values{"etag": {etag}, "decision.decision": {"DEFERRED"},
			"decision.reasons":     {"Telling her now would alert the suspect."},
			"decision.review_time": {time.Now().UTC().Add(30 * 24 * time.Hour).Format("2006-01-02T15:04")}}, origin)
		if deferred.status != http.StatusSeeOther {
			t.Fatalf("the deferral answered %d: %s", deferred.status, authorityMain(deferred.body))
		}
		page = kzCA.mustGet(t, detail)
		if !strings.Contains(page, `data-decision="deferred"`) || !strings.Contains(page, "Telling her now would alert the suspect.") {
			t.Errorf("the deferral is not shown: %s", authorityMain(page))
		}
		etag = authorityEtag.FindStringSubmatch(page)[1]
		if granted := kzCA.consoleUser.post(detail+"/decide", url.Values{"etag": {etag}, "decision.decision": {"GRANTED"}}, origin); granted.status != http.StatusSeeOther {
			t.Fatalf("the grant answered %d: %s", granted.status, authorityMain(granted.body))
		}
		page = kzCA.mustGet(t, detail)
		if !strings.Contains(page, `data-decision="granted"`) || strings.Count(page, "data-subject-decision") != 2 {
			t.Errorf("the grant is not shown after the deferral: %s", authorityMain(page))
		}
		etag = authorityEtag.FindStringSubmatch(page)[1]
		if done := kzCA.consoleUser.post(detail+"/inform", url.Values{"etag": {etag}, "informing.status": {"DONE"}}, origin); done.status != http.StatusSeeOther {
			t.Errorf("recording the informing answered %d: %s", done.status, authorityMain(done.body))
		}
		if page = kzCA.mustGet(t, "/subjects"); !strings.Contains(page, `data-subject="Aliya Nurlanovna Sadykova" data-decision="granted"`) {
			t.Errorf("the list does not show the granted request: %s", authorityMain(page))
		}
		authorityTranslated(t, "the data subjects' list", page)
	})
}

// TestConsoleErasure: a request whose retention runs out (a short one in
// this suite) is erased by the request service's sweep, and its page then
// says what was erased, when and why, and that only metadata remain, with
// none of its narrative; a legal hold set on another keeps it whole.
func TestConsoleErasure(t *testing.T) {
	cs := startConsoleSuite(t, consoleSuiteOptions{suite: suiteOptions{
		retention: requestd.Retention{AfterClose: 6 * time.Second, SweepInterval: 500 * time.Millisecond}}})
	kzP := authoritySignIn(t, cs, "kz-gpo", "prosecutor")
	kzCA := authoritySignIn(t, cs, "kz-gpo", "central_authority")
	// Submitted, never transmitted: their retention runs from their last
	// change.
	erased, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit")
	held, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit")
	// The page is read before the retention runs out: the narrative shows.
	narrative := consolePracticeRead(t, cs, erased)["factsSummary"].(string)
	if _, page := kzP.fetch("/requests/" + erased); !strings.Contains(page, html.EscapeString(narrative)) {
		t.Fatalf("the request's page does not show its facts before erasure: %s", authorityMain(page))
	}
	kzCA.act(held, "set_legal_hold", url.Values{"reason": {"The case is under appeal."},
		"review_time": {time.Now().UTC().Add(30 * 24 * time.Hour).Format("2006-01-02T15:04")}}, "The legal hold is set")

	deadline := time.Now().Add(30 * time.Second)
	for {
		r := consolePracticeRead(t, cs, erased)
		if es, _ := r["erasures"].([]any); len(es) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request was not erased 30s after its retention of 6s ran out: %v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, page := kzP.fetch("/requests/" + erased)
	for _, w := range []string{`data-erasure="content"`, "its retention period ran out", "data-metadata-only", "Only its metadata remain"} {
		if !strings.Contains(page, w) {
			t.Errorf("the erased request's page lacks %q: %s", w, authorityMain(page))
		}
	}
	if strings.Contains(page, html.EscapeString(narrative)) {
		t.Errorf("the erased request's page still shows its facts: %s", authorityMain(page))
	}
	authorityTranslated(t, "the erased request's page", page)
	if es, _ := consolePracticeRead(t, cs, held)["erasures"].([]any); len(es) > 0 {
		t.Errorf("the request under a legal hold was erased: %v", es)
	}
	if _, page := kzCA.fetch("/requests/" + held); strings.Contains(page, "data-erased") || !strings.Contains(page, `data-legal-hold="holds"`) {
		t.Errorf("the held request's page shows an erasure or no hold: %s", authorityMain(page))
	}
}
