package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/request/requestd"
)

// The "Done means" of issue 15 (DESIGN §10) through REST, on SQLite and on
// PostgreSQL, with real tokens: evidence refused until the conditions are
// acknowledged; an onward transfer refused, then allowed after consent; a
// request erased when its retention runs out, its metadata, digests and
// trail intact and the erasure on the log; a legal hold that prevents
// erasure; a data subject's request deferred, then granted; a read's audit
// event carrying its declared purpose, or "undeclared".

// refusedWith checks that a call is answered status with a message or a
// violation holding each of words, and returns the answer.
func (p *practice) refusedWith(method, path, token string, body any, status int, words ...string) response {
	p.t.Helper()
	r := p.s.do(method, path, token, body)
	if r.status != status {
		p.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.status, status, r.raw)
	}
	for _, w := range words {
		if !strings.Contains(r.raw, w) {
			p.t.Errorf("%s %s: the answer does not say %q: %s", method, path, w, r.raw)
		}
	}
	return r
}

// executedUnderConditions is a preservation KZ→UZ accepted with use
// conditions and executed with an EVIDENCE attachment the requested side
// uploaded. It returns the request's name, the requested agency's central
// authority and the attachment's name.
func (p *practice) executedUnderConditions(conditions []map[string]any, evidence []byte) (name, uzCA, attachment string) {
	p.t.Helper()
	name, uzCA = p.acknowledged(practiceRequest("DATA_PRESERVATION", "UZ"))
	p.act(name, "accept", uzCA, map[string]any{"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"note": "No concerns."},
		"useConditions": conditions})
	up := p.s.upload("/v1/"+name, uzCA, "EVIDENCE", "", "preserved-logs.pdf", evidence, nil)
	if up.status != http.StatusOK {
		p.t.Fatalf("upload the evidence = %d: %s", up.status, up.raw)
	}
	attachment = up.body["name"].(string)
	p.act(name, "execute", uzCA, map[string]any{"responseSummary": "The logs are preserved.", "attachments": []any{attachment}})
	return name, uzCA, attachment
}

func TestUseConditionsThroughREST(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			p := newPractice(t, engine)
			reportBy := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
			evidence := []byte("%PDF-1.7 connection logs of 203.0.113.7")
			name, uzCA, att := p.executedUnderConditions([]map[string]any{
				{"kind": "NO_ONWARD_TRANSFER", "text": "Not to be passed on without the consent of Uzbekistan."},
				{"kind": "REPORT_USE", "text": "Report how the logs were used.", "dueTime": reportBy.Format(time.RFC3339)},
			}, evidence)
			r := p.get(name, p.prosecutor)
			if got := listOf(r, "bindingConditions"); len(got) != 2 || got[0]["kind"] != "NO_ONWARD_TRANSFER" || got[1]["kind"] != "REPORT_USE" {
				t.Fatalf("the binding conditions are %v", r["bindingConditions"])
			}
			if !timeAt(t, r, "deadlines.reportUseBy").Equal(reportBy) {
				t.Errorf("the report of use is due by %v, want %v", r["deadlines"], reportBy)
			}

			// Evidence is withheld from the requesting side, naming the
			// conditions, until they are acknowledged; the requested side,
			// which uploaded it, reads it.
			download := "/v1/" + att + ":download"
			for _, tok := range []string{p.prosecutor, p.kzCA} {
				p.refusedWith("GET", download, tok, nil, http.StatusBadRequest, "NO_ONWARD_TRANSFER", "REPORT_USE", "acknowledgeConditions")
			}
			if got := p.s.download(download, uzCA, http.StatusOK); string(got) != string(evidence) {
				t.Errorf("the requested side downloads %q", got)
			}
			// Only the requesting side acknowledges.
			p.refusedWith("POST", "/v1/"+name+":acknowledgeConditions", uzCA, map[string]any{}, http.StatusForbidden)
			r = p.act(name, "acknowledgeConditions", p.prosecutor, nil)
			if ack, _ := r["conditionsAcknowledgement"].(map[string]any); ack["conditions"] != float64(2) {
				t.Errorf("the acknowledgement is %v", r["conditionsAcknowledgement"])
			}
			if got := p.s.download(download, p.kzCA, http.StatusOK); string(got) != string(evidence) {
				t.Errorf("after the acknowledgement the requesting side downloads %q", got)
			}

			// An onward transfer is refused under NO_ONWARD_TRANSFER, and
			// on a consent still pending; allowed on the granted consent.
			transfer := map[string]any{"recipient": "Financial Monitoring Agency of Kazakhstan", "authorisation": "Consent of Uzbekistan"}
			p.refusedWith("POST", "/v1/"+name+":recordOnwardTransfer", p.prosecutor, transfer, http.StatusBadRequest, "NO_ONWARD_TRANSFER", "consent")
			r = p.act(name, "requestConsent", p.prosecutor, map[string]any{"kind": "ONWARD_TRANSFER",
				"recipient": "Financial Monitoring Agency of Kazakhstan", "purpose": "Tracing the proceeds of the fraud."})
			cs := listOf(r, "consents")
			if len(cs) != 1 || cs[0]["number"] != float64(1) || cs[0]["decision"] != "PENDING" {
				t.Fatalf("the consents are %v", r["consents"])
			}
			transfer["consent"] = 1
			p.refusedWith("POST", "/v1/"+name+":recordOnwardTransfer", p.prosecutor, transfer, http.StatusBadRequest, "PENDING")
			p.refusedWith("POST", "/v1/"+name+":grantConsent", p.prosecutor, map[string]any{"consent": 1}, http.StatusForbidden)
			r = p.act(name, "grantConsent", uzCA, map[string]any{"consent": 1, "terms": "For the financial investigation only."})
			if cs := listOf(r, "consents"); cs[0]["decision"] != "GRANTED" || cs[0]["answer"] != "For the financial investigation only." {
				t.Errorf("the consent is %v", cs[0])
			}
			r = p.act(name, "recordOnwardTransfer", p.prosecutor, transfer)
			if ts := listOf(r, "onwardTransfers"); len(ts) != 1 || ts[0]["recipient"] != transfer["recipient"] || ts[0]["consent"] != float64(1) {
				t.Errorf("the onward transfers are %v", r["onwardTransfers"])
			}
			// The report of use meets the REPORT_USE deadline.
			r = p.act(name, "reportUse", p.prosecutor, map[string]any{"text": "The logs identified the intruder; the indictment cites them."})
			if len(listOf(r, "useReports")) != 1 {
				t.Errorf("the reports of use are %v", r["useReports"])
			}
			if d, _ := r["deadlines"].(map[string]any); d["reportUseBy"] != nil {
				t.Errorf("a report of use is still due after one was made: %v", d)
			}
			// The requested side sees the ledger too.
			if r := p.get(name, uzCA); len(listOf(r, "onwardTransfers")) != 1 || len(listOf(r, "useReports")) != 1 {
				t.Errorf("the requested side does not see the ledger: %v %v", r["onwardTransfers"], r["useReports"])
			}
		})
	}
}

// retentionSuite is a practice whose request service erases a request's
// content retention after its close (or its last change, never
// transmitted), and sweeps often.
func retentionSuite(t *testing.T, engine string, retention time.Duration) *practice {
	s := startSuite(t, suiteOptions{postgres: engine == "postgres",
		retention: requestd.Retention{AfterClose: retention, SweepInterval: 200 * time.Millisecond}})
	return &practice{t: t, s: s, prosecutor: s.tokenFor("p-kz", "kz-gpo", identity.Prosecutor), kzCA: s.token("kz-gpo", identity.CentralAuthority)}
}

// awaitErased polls the request as token until its content was erased,
// and returns it.
func (p *practice) awaitErased(name, token string, within time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := p.get(name, token)
		if slices.ContainsFunc(listOf(r, "erasures"), func(e map[string]any) bool { return e["scope"] == "CONTENT" && e["completeTime"] != nil }) {
			return r
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("after %v, %s is not erased: %v", within, name, r["erasures"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRetentionErasesThroughREST(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			// Long enough for the requests to be filed and run to the end
			// before the drafts' own retention (from their last change)
			// runs out; short enough to wait for.
			const retention = 6 * time.Second
			p := retentionSuite(t, engine, retention)
			kzAuditor := p.s.token("kz-oversight", identity.Auditor)
			narrative := func(which string) string {
				return which + " narrative: intrusion into the payroll server of Qazaq Example Bank on 2026-02-11"
			}
			run := func(which string) (name, uzCA, att string, digest string, size any) {
				body := practiceRequest("DATA_PRESERVATION", "UZ")
				body["factsSummary"] = narrative(which)
				name, uzCA = p.acknowledged(body)
				p.act(name, "accept", uzCA, map[string]any{"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"note": "No concerns."}})
				up := p.s.upload("/v1/"+name, uzCA, "EVIDENCE", "", which+"-payroll-logs.pdf", []byte("%PDF-1.7 payroll logs"), nil)
				if up.status != http.StatusOK {
					t.Fatalf("upload = %d: %s", up.status, up.raw)
				}
				att = up.body["name"].(string)
				p.s.mustDo("POST", "/v1/"+name+"/messages", p.prosecutor,
					map[string]any{"body": which + " message: the suspect used the alias Karaganda-77.", "visibility": "BOTH_SIDES"}, http.StatusOK)
				p.act(name, "execute", uzCA, map[string]any{"responseSummary": "The logs are preserved.", "attachments": []any{att}})
				p.act(name, "close", p.prosecutor, nil)
				return name, uzCA, att, up.body["sha256"].(string), up.body["sizeBytes"]
			}

			// A legal hold, set before the retention runs out, keeps the
			// content; the other request, closed at the same time, goes.
			held, _, _, _, _ := run("Held")
			r := p.act(held, "setLegalHold", p.kzCA, map[string]any{"reason": "Appeal pending before the Supreme Court.",
				"reviewTime": time.Now().Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)})
			if h, _ := r["legalHold"].(map[string]any); h["reason"] != "Appeal pending before the Supreme Court." {
				t.Fatalf("the legal hold is %v", r["legalHold"])
			}
			if d, _ := r["deadlines"].(map[string]any); d["eraseBy"] != nil || d["legalHoldReviewBy"] == nil {
				t.Errorf("under a legal hold the deadlines are %v", d)
			}
			name, uzCA, att, digest, size := run("Erasable")
			r = p.get(name, p.prosecutor)
			eraseBy := timeAt(t, r, "deadlines.eraseBy")
			if closed := timeAt(t, r, "closeTime"); !about(eraseBy, closed.Add(retention)) {
				t.Errorf("erase by %v, closed %v: want the close plus %v", eraseBy, closed, retention)
			}
			before, _ := p.s.auditEntries(kzAuditor, `resource = "`+name+`"`)

			r = p.awaitErased(name, p.prosecutor, retention+20*time.Second)
			// The content is gone; the metadata stays.
			if r["factsSummary"] != "" || len(listOf(r, "identifiers")) != 0 || len(listOf(r, "persons")) != 0 ||
				strings.Contains(p.s.do("GET", "/v1/"+name, p.prosecutor, nil).raw, "Erasable") {
				t.Errorf("after erasure the request still holds content: %v", r)
			}
			if r["status"] != "CLOSED" || r["reference"] == "" || r["type"] != "DATA_PRESERVATION" || r["requestedState"] != "UZ" {
				t.Errorf("after erasure the metadata is %v %v %v %v", r["status"], r["reference"], r["type"], r["requestedState"])
			}
			if e := listOf(r, "erasures")[0]; e["cause"] != "RETENTION" {
				t.Errorf("the erasure is %v", e)
			}
			atts := listOf(p.s.mustDo("GET", "/v1/"+name+"/attachments", p.prosecutor, nil, http.StatusOK).body, "attachments")
			if len(atts) != 1 || atts[0]["sha256"] != digest || atts[0]["sizeBytes"] != size || atts[0]["eraseTime"] == nil ||
				strings.Contains(fmt.Sprint(atts[0]["filename"]), "Erasable") {
				t.Errorf("after erasure the attachment is %v; want its digest %s and size %v kept, its name gone", atts, digest, size)
			}
			p.refusedWith("GET", "/v1/"+att+":download", uzCA, nil, http.StatusBadRequest, "erased")
			// The messages are gone: reading them is refused, saying why.
			if ms := p.s.do("GET", "/v1/"+name+"/messages", p.prosecutor, nil); strings.Contains(ms.raw, "Erasable message") ||
				(ms.status != http.StatusOK && !strings.Contains(ms.raw, "erased")) {
				t.Errorf("after erasure, the messages = %d: %s", ms.status, ms.raw)
			}
			hist := p.s.mustDo("GET", "/v1/"+name+"/history", p.prosecutor, nil, http.StatusOK)
			if changes := listOf(hist.body, "changes"); len(changes) < 6 || slices.ContainsFunc(changes, func(c map[string]any) bool {
				// The erasure's own entry says why it happened: no content.
				return c["reason"] != nil && c["reason"] != "" && c["action"] != "eraseContent"
			}) || !slices.ContainsFunc(changes, func(c map[string]any) bool { return c["action"] == "eraseContent" }) {
				t.Errorf("after erasure the history is %s; want every change without reasons, and the erasure", hist.raw)
			}
			// The trail is intact, and the erasure is on it.
			after := p.s.awaitEntries(kzAuditor, `resource = "`+name+`"`, 20*time.Second, func(es []auditEntry) bool {
				return slices.ContainsFunc(es, func(e auditEntry) bool { return strings.HasSuffix(e.Event.Action, "/EraseRequest") })
			})
			for _, e := range before {
				if !slices.ContainsFunc(after, func(a auditEntry) bool { return a.Index == e.Index && string(a.Leaf) == string(e.Leaf) }) {
					t.Errorf("entry %d (%s) is no longer on the trail as it was", e.Index, e)
				}
			}

			if engine == "postgres" {
				// No table of the request service's or the audit service's
				// database holds an erased text; the held request's are
				// found, so that the search can fail. (Dead tuples are
				// VACUUM's: no query sees them.)
				kept := func(db, text string) int {
					return rowsHolding(t, p.s.databases[db], text)
				}
				for _, text := range []string{narrative("Erasable"), "Erasable message", "Erasable-payroll-logs.pdf"} {
					for _, db := range []string{"request", "audit"} {
						if n := kept(db, text); n != 0 {
							t.Errorf("%d rows of the %s database hold %q after its erasure", n, db, text)
						}
					}
				}
				if kept("request", narrative("Held")) == 0 || kept("request", "Held message") == 0 {
					t.Error("the search finds none of the held request's texts: it could not fail")
				}
			}

			// The held request kept everything; once the hold is lifted, it
			// goes too.
			r = p.get(held, p.prosecutor)
			if r["factsSummary"] != narrative("Held") || len(listOf(r, "erasures")) != 0 {
				t.Fatalf("under a legal hold, the request was erased: %v %v", r["factsSummary"], r["erasures"])
			}
			p.refusedWith("POST", "/v1/"+held+":liftLegalHold", p.prosecutor, map[string]any{"reason": "Decided."}, http.StatusForbidden)
			r = p.act(held, "liftLegalHold", p.kzCA, map[string]any{"reason": "The appeal was decided."})
			if h, _ := r["legalHold"].(map[string]any); h["liftTime"] == nil || h["liftReason"] != "The appeal was decided." {
				t.Errorf("the lifted hold is %v", r["legalHold"])
			}
			if d, _ := r["deadlines"].(map[string]any); d["eraseBy"] == nil {
				t.Errorf("once the hold is lifted, the request has no erase date: %v", d)
			}
			p.awaitErased(held, p.prosecutor, 20*time.Second)
		})
	}
}

// rowsHolding counts the rows of every table of the PostgreSQL database at
// url that hold text, each row read whole as text.
func rowsHolding(t *testing.T, url, text string) int {
	t.Helper()
	ctx := t.Context()
	db, err := pgdb.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if rows.Close(); rows.Err() != nil || len(tables) < 3 {
		t.Fatalf("the tables of %s: %v, %v", url, tables, rows.Err())
	}
	total := 0
	for _, table := range tables {
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM "`+table+`" AS t WHERE strpos(t::text, $1) > 0`, text).Scan(&n); err != nil {
			t.Fatalf("search %s: %v", table, err)
		}
		total += n
	}
	return total
}

func TestDataSubjectRequestThroughREST(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			p := newPractice(t, engine)
			name, uzCA := p.acknowledged(practiceRequest("DATA_PRESERVATION", "UZ"))
			review := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
			body := map[string]any{"person": map[string]any{"fullName": "Askar Seitkali", "dateOfBirth": "1988-04-17", "contact": "askar@example.kz"},
				"right": "ACCESS", "requests": []any{name}, "receiveTime": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
				"description": "Asks what data about him was sent to Uzbekistan."}
			p.refusedWith("POST", "/v1/dataSubjectRequests", p.prosecutor, body, http.StatusForbidden, "central authority")
			d := p.s.mustDo("POST", "/v1/dataSubjectRequests", p.kzCA, body, http.StatusOK).body
			dsr := d["name"].(string)
			if d["state"] != "KZ" || d["right"] != "ACCESS" || !slices.Equal(d["requests"].([]any), []any{name}) {
				t.Fatalf("recorded %v", d)
			}
			// Another state's central authority does not see it.
			p.refusedWith("GET", "/v1/"+dsr, uzCA, nil, http.StatusNotFound)
			// Deferred, with reasons and a review date; a deferral without
			// them is refused naming the fields.
			p.refusedWith("POST", "/v1/"+dsr+":decide", p.kzCA, map[string]any{"decision": map[string]any{"decision": "DEFERRED"}},
				http.StatusBadRequest, "decision.reasons", "decision.review_time")
			d = p.s.mustDo("POST", "/v1/"+dsr+":decide", p.kzCA, map[string]any{"etag": d["etag"], "decision": map[string]any{"decision": "DEFERRED",
				"reasons": "Disclosure now would prejudice the investigation.", "reviewTime": review.Format(time.RFC3339)}}, http.StatusOK).body
			if dec, _ := d["decision"].(map[string]any); dec["decision"] != "DEFERRED" || !timeAt(t, d, "decision.reviewTime").Equal(review) || d["overdue"] == true {
				t.Errorf("deferred: %v (overdue %v)", d["decision"], d["overdue"])
			}
			d = p.s.mustDo("POST", "/v1/"+dsr+":recordInforming", p.kzCA, map[string]any{"informing": map[string]any{"status": "DEFERRED",
				"reasons": "The investigation is covert until March."}}, http.StatusOK).body
			// Then granted: both decisions are kept, the last stands.
			d = p.s.mustDo("POST", "/v1/"+dsr+":decide", p.kzCA, map[string]any{"decision": map[string]any{"decision": "GRANTED"}}, http.StatusOK).body
			if decs := listOf(d, "decisions"); len(decs) != 2 || decs[0]["decision"] != "DEFERRED" || decs[1]["decision"] != "GRANTED" {
				t.Errorf("the decisions are %v", d["decisions"])
			}
			d = p.s.mustDo("POST", "/v1/"+dsr+":recordInforming", p.kzCA, map[string]any{"informing": map[string]any{"status": "DONE"}}, http.StatusOK).body
			if in, _ := d["informing"].(map[string]any); in["status"] != "DONE" {
				t.Errorf("informing is %v", d["informing"])
			}
			list := p.s.mustDo("GET", "/v1/dataSubjectRequests", p.s.token("kz-247", identity.CentralAuthority), nil, http.StatusOK).body
			if ds := listOf(list, "dataSubjectRequests"); len(ds) != 1 || ds[0]["name"] != dsr || ds[0]["decision"].(map[string]any)["decision"] != "GRANTED" {
				t.Errorf("KZ's list is %v", list)
			}
			if list := p.s.mustDo("GET", "/v1/dataSubjectRequests", uzCA, nil, http.StatusOK).body; len(listOf(list, "dataSubjectRequests")) != 0 {
				t.Errorf("UZ's list holds KZ's: %v", list)
			}
		})
	}
}

func TestReadPurposeOnTheTrail(t *testing.T) {
	p := newPractice(t, "sqlite")
	kzAuditor := p.s.token("kz-oversight", identity.Auditor)
	name, _ := p.acknowledged(practiceRequest("DATA_PRESERVATION", "UZ"))
	get := func(purpose string) response {
		req, _ := http.NewRequest("GET", p.s.baseURL+"/v1/"+name, nil)
		req.Header.Set("Authorization", "Bearer "+p.prosecutor)
		if purpose != "" {
			req.Header.Set("X-Comity-Purpose", purpose)
		}
		return fromClient(p.s.client().Send(req))
	}
	if r := get("Stated-Proceedings"); r.status != http.StatusOK {
		t.Fatalf("a read with a purpose = %d: %s", r.status, r.raw)
	}
	if r := get(""); r.status != http.StatusOK {
		t.Fatalf("a read without = %d: %s", r.status, r.raw)
	}
	if r := get("curiosity"); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "X-Comity-Purpose") || !strings.Contains(r.raw, "stated-proceedings") {
		t.Errorf("a read with an unknown purpose = %d: %s", r.status, r.raw)
	}
	reads := func(es []auditEntry) []string {
		var out []string
		for _, e := range es {
			if strings.HasSuffix(e.Event.Action, "/GetRequest") && e.Event.Actor.Subject == "p-kz" && e.Event.Outcome == "OK" {
				out = append(out, e.Event.Purpose)
			}
		}
		return out
	}
	es := p.s.awaitEntries(kzAuditor, `resource = "`+name+`"`, 20*time.Second, func(es []auditEntry) bool { return len(reads(es)) >= 2 })
	if got := reads(es); !slices.Equal(got, []string{"stated-proceedings", "undeclared"}) {
		t.Errorf("the reads' purposes on the trail are %q, want stated-proceedings then undeclared", got)
	}
	// An event other than a read carries none.
	for _, e := range es {
		if strings.HasSuffix(e.Event.Action, "/SubmitRequest") && e.Event.Purpose != "" {
			t.Errorf("%s carries purpose %q", e, e.Event.Purpose)
		}
	}
}
