package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
)

// Each command of DESIGN §10 sends its action, to its verb, with the body
// the API takes: what the flags say, nothing else.
func TestDataProtectionCommandsSendTheirAction(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	review := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		args   []string
		method string
		path   string
		body   string // protojson of the message the gateway must get
	}{
		{args: []string{"requests", "accept", "r1", "--dual-criminality", "NOT_REQUIRED", "--human-rights-concerns=false",
			"--use-condition", "no_onward_transfer=Not to be passed on without consent", "--use-condition", "DELETE_BY:2027-12-31=Delete after the trial",
			"--use-condition", "REPORT_USE:2027-06-30T12:00:00+05:00=Report how it was used"},
			path: "/v1/requests/r1:accept", body: `{"dualCriminality":"NOT_REQUIRED","humanRightsReview":{},"useConditions":[
				{"kind":"NO_ONWARD_TRANSFER","text":"Not to be passed on without consent"},
				{"kind":"DELETE_BY","text":"Delete after the trial","dueTime":"2027-12-31T00:00:00Z"},
				{"kind":"REPORT_USE","text":"Report how it was used","dueTime":"2027-06-30T07:00:00Z"}]}`},
		{args: []string{"requests", "acknowledge-conditions", "r1", "--etag", "e0"}, path: "/v1/requests/r1:acknowledgeConditions", body: `{"etag":"e0"}`},
		{args: []string{"requests", "request-consent", "r1", "--kind", "onward_transfer", "--purpose", "Tracing the proceeds",
			"--recipient", " Financial Monitoring Agency "},
			path: "/v1/requests/r1:requestConsent", body: `{"kind":"ONWARD_TRANSFER","purpose":"Tracing the proceeds","recipient":"Financial Monitoring Agency"}`},
		{args: []string{"requests", "request-consent", "r1", "--kind", "RETENTION", "--purpose", "The appeal is pending.", "--keep-until", "2027-06-30"},
			path: "/v1/requests/r1:requestConsent", body: `{"kind":"RETENTION","purpose":"The appeal is pending.","keepUntil":"2027-06-30T00:00:00Z"}`},
		{args: []string{"requests", "grant-consent", "r1", "--consent", "2", "--terms", "For the financial investigation only."},
			path: "/v1/requests/r1:grantConsent", body: `{"consent":2,"terms":"For the financial investigation only."}`},
		{args: []string{"requests", "refuse-consent", "r1", "--consent", "1", "--reason", "Not a judicial authority."},
			path: "/v1/requests/r1:refuseConsent", body: `{"consent":1,"reason":"Not a judicial authority."}`},
		{args: []string{"requests", "record-onward-transfer", "r1", "--recipient", "FMA", "--authorisation", "Consent 1", "--consent", "1"},
			path: "/v1/requests/r1:recordOnwardTransfer", body: `{"recipient":"FMA","authorisation":"Consent 1","consent":1}`},
		{args: []string{"requests", "record-onward-transfer", "r1", "--recipient", "Court of Astana", "--authorisation", "Order 12/2027"},
			path: "/v1/requests/r1:recordOnwardTransfer", body: `{"recipient":"Court of Astana","authorisation":"Order 12/2027"}`},
		{args: []string{"requests", "report-use", "r1", "--text", "The logs identified the suspect."},
			path: "/v1/requests/r1:reportUse", body: `{"text":"The logs identified the suspect."}`},
		{args: []string{"requests", "set-legal-hold", "r1", "--reason", "Appeal pending.", "--review", review.Format(time.RFC3339)},
			path: "/v1/requests/r1:setLegalHold", body: `{"reason":"Appeal pending.","reviewTime":"` + review.Format(time.RFC3339) + `"}`},
		{args: []string{"requests", "lift-legal-hold", "r1", "--reason", "The appeal was decided."},
			path: "/v1/requests/r1:liftLegalHold", body: `{"reason":"The appeal was decided."}`},
		{args: []string{"data-subject-requests", "create", "--person-name", " Ivan Petrov ", "--date-of-birth", "1990-01-02", "--contact", "ivan@example.kz",
			"--right", "access", "--request", "r1", "--request", "requests/r2", "--received", "2026-11-30", "--description", "What was sent to UZ?"},
			path: "/v1/dataSubjectRequests", body: `{"person":{"fullName":"Ivan Petrov","dateOfBirth":"1990-01-02","contact":"ivan@example.kz"},
				"right":"ACCESS","requests":["requests/r1","requests/r2"],"receiveTime":"2026-11-30T00:00:00Z","description":"What was sent to UZ?"}`},
		{args: []string{"data-subject-requests", "decide", "d1", "--decision", "deferred", "--reasons", "Covert investigation.", "--review", "2027-01-31", "--etag", "e3"},
			path: "/v1/dataSubjectRequests/d1:decide", body: `{"etag":"e3","decision":{"decision":"DEFERRED","reasons":"Covert investigation.","reviewTime":"2027-01-31T00:00:00Z"}}`},
		{args: []string{"dsr", "decide", "dataSubjectRequests/d1", "--decision", "GRANTED"},
			path: "/v1/dataSubjectRequests/d1:decide", body: `{"decision":{"decision":"GRANTED"}}`},
		{args: []string{"data-subject-requests", "inform", "d1", "--status", "DEFERRED", "--reasons", "Covert until March.", "--review", "2027-03-31"},
			path: "/v1/dataSubjectRequests/d1:recordInforming", body: `{"informing":{"status":"DEFERRED","reasons":"Covert until March.","reviewTime":"2027-03-31T00:00:00Z"}}`},
		{args: []string{"states", "update", "kz", "--retention-after-close", "5y", "--etag", "s1"}, method: http.MethodPatch,
			path: "/v1/states/KZ?updateMask=retentionAfterClose", body: `{"name":"states/KZ","etag":"s1","retentionAfterClose":"157680000s"}`},
		{args: []string{"states", "update", "KZ", "--retention-after-close", "default", "--etag", "s1"}, method: http.MethodPatch,
			path: "/v1/states/KZ?updateMask=retentionAfterClose", body: `{"name":"states/KZ","etag":"s1"}`},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			if _, err := ctl(t, filepath.Join(t.TempDir(), "none.json"), append(tc.args, "--gateway", gw, "--token", "t")...); err != nil {
				t.Fatal(err)
			}
			got := rc.last()
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			if got.method != method || got.path != tc.path {
				t.Errorf("sent %s %s, want %s %s", got.method, got.path, method, tc.path)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.body), &want); err != nil {
				t.Fatal(err)
			}
			if g, w := canonical(t, got.body), canonical(t, want); g != w {
				t.Errorf("sent\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// A data subject's request without a --received is received now.
func TestDataSubjectRequestReceivedNow(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	before := time.Now().Add(-time.Second)
	if _, err := ctl(t, "", "data-subject-requests", "create", "--person-name", "Ivan Petrov", "--right", "ERASURE", "--gateway", gw, "--token", "t"); err != nil {
		t.Fatal(err)
	}
	s, _ := rc.last().body["receiveTime"].(string)
	got, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || got.Before(before) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("receiveTime %q, want now", s)
	}
}

// A wrong or missing value is refused before anything is sent, naming the
// flag, as a usage error (exit 2).
func TestDataProtectionBadFlagsNamed(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"requests", "accept", "r1", "--use-condition", "FOREVER=x"}, "--use-condition"},
		{[]string{"requests", "accept", "r1", "--use-condition", "DELETE_BY:someday=x"}, "--use-condition"},
		{[]string{"requests", "request-consent", "r1", "--purpose", "p"}, "--kind"},
		{[]string{"requests", "request-consent", "r1", "--kind", "SHARING", "--purpose", "p"}, "--kind"},
		{[]string{"requests", "request-consent", "r1", "--kind", "OTHER_USE"}, "--purpose"},
		{[]string{"requests", "request-consent", "r1", "--kind", "ONWARD_TRANSFER", "--purpose", "p"}, "--recipient"},
		{[]string{"requests", "request-consent", "r1", "--kind", "RETENTION", "--purpose", "p"}, "--keep-until"},
		{[]string{"requests", "request-consent", "r1", "--kind", "RETENTION", "--purpose", "p", "--keep-until", "next year"}, "--keep-until"},
		{[]string{"requests", "grant-consent", "r1"}, "--consent"},
		{[]string{"requests", "grant-consent", "r1", "--consent", "-1"}, "--consent"},
		{[]string{"requests", "grant-consent", "r1", "--consent", "first"}, "--consent"},
		{[]string{"requests", "refuse-consent", "r1", "--consent", "1"}, "--reason"},
		{[]string{"requests", "refuse-consent", "r1", "--reason", "r"}, "--consent"},
		{[]string{"requests", "record-onward-transfer", "r1", "--authorisation", "a"}, "--recipient"},
		{[]string{"requests", "record-onward-transfer", "r1", "--recipient", "FMA"}, "--authorisation"},
		{[]string{"requests", "record-onward-transfer", "r1", "--recipient", "FMA", "--authorisation", "a", "--consent", "-2"}, "--consent"},
		{[]string{"requests", "report-use", "r1"}, "--text"},
		{[]string{"requests", "report-use", "r1", "--text", "  "}, "--text"},
		{[]string{"requests", "report-use", "r1", "--text", "t", "--text-file", "-"}, "--text-file"},
		{[]string{"requests", "set-legal-hold", "r1", "--review", "2099-01-01"}, "--reason"},
		{[]string{"requests", "set-legal-hold", "r1", "--reason", "r"}, "--review"},
		{[]string{"requests", "set-legal-hold", "r1", "--reason", "r", "--review", "in a year"}, "--review"},
		{[]string{"requests", "set-legal-hold", "r1", "--reason", "r", "--review", "2020-01-01"}, "--review"},
		{[]string{"requests", "lift-legal-hold", "r1"}, "--reason"},
		{[]string{"data-subject-requests", "create", "--right", "ACCESS"}, "--person-name"},
		{[]string{"data-subject-requests", "create", "--person-name", "I P"}, "--right"},
		{[]string{"data-subject-requests", "create", "--person-name", "I P", "--right", "forget"}, "--right"},
		{[]string{"data-subject-requests", "create", "--person-name", "I P", "--right", "ACCESS", "--date-of-birth", "02.01.1990"}, "--date-of-birth"},
		{[]string{"data-subject-requests", "create", "--person-name", "I P", "--right", "ACCESS", "--received", "today"}, "--received"},
		{[]string{"data-subject-requests", "create", "--person-name", "I P", "--right", "ACCESS", "--request", "case one"}, "--request"},
		{[]string{"data-subject-requests", "decide", "d1"}, "--decision"},
		{[]string{"data-subject-requests", "decide", "d1", "--decision", "maybe"}, "--decision"},
		{[]string{"data-subject-requests", "decide", "d1", "--decision", "REFUSED"}, "--reasons"},
		{[]string{"data-subject-requests", "decide", "d1", "--decision", "DEFERRED", "--reasons", "r"}, "--review"},
		{[]string{"data-subject-requests", "decide", "d1", "--decision", "DEFERRED", "--reasons", "r", "--review", "later"}, "--review"},
		{[]string{"data-subject-requests", "decide", "d/1", "--decision", "GRANTED"}, "data subject's request"},
		{[]string{"data-subject-requests", "inform", "d1"}, "--status"},
		{[]string{"data-subject-requests", "inform", "d1", "--status", "DEFERRED"}, "--reasons"},
		{[]string{"data-subject-requests", "inform", "d1", "--status", "told"}, "--status"},
		{[]string{"states", "update", "KZ"}, "--retention-after-close"},
		{[]string{"states", "update", "KZ", "--retention-after-close", "1h"}, "--retention-after-close"},
		{[]string{"states", "update", "KZ", "--retention-after-close", "101y"}, "--retention-after-close"},
		{[]string{"states", "update", "KZ", "--retention-after-close", "five years"}, "--retention-after-close"},
		{[]string{"states", "update", "KZ", "--retention-after-close", "-5d"}, "--retention-after-close"},
		{[]string{"states", "update", "Kazakhstan", "--retention-after-close", "5y"}, "state"},
		{[]string{"requests", "get", "r1", "--purpose", "curiosity"}, "--purpose"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := len(rc.calls)
			_, err := ctl(t, "", append(tc.args, "--gateway", gw, "--token", "t")...)
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("got %v; want an error naming %s", err, tc.flag)
			}
			if !errors.Is(err, errUsage) && !strings.Contains(err.Error(), "invalid argument") {
				t.Errorf("%v: not a usage error (exit 2)", err)
			}
			if len(rc.calls) != before {
				t.Errorf("something was sent: %+v", rc.last())
			}
		})
	}
}

// ctlEnv runs comityctl in the test process with the environment env
// (COMITY_CONFIG pointing nowhere unless it says).
func ctlEnv(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		if k == "COMITY_CONFIG" {
			return filepath.Join(t.TempDir(), "none.json"), true
		}
		return "", false
	}
	root := newRootCmd(&out, io.Discard, lookup)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// The purpose of reads goes as X-Comity-Purpose on every call, from
// --purpose or COMITY_PURPOSE; none without. A command's own --purpose (a
// draft's, a consent's) is that command's, and COMITY_PURPOSE never fills
// it.
func TestPurposeSentOnEveryCall(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	conn := []string{"--gateway", gw, "--token", "t"}
	for _, tc := range []struct {
		name        string
		env         map[string]string
		args        []string
		wantHeader  string
		wantPurpose any // the body's purpose field
	}{
		{name: "flag on a read", args: []string{"requests", "get", "r1", "--purpose", "Execution"}, wantHeader: "execution"},
		{name: "environment on a read", env: map[string]string{"COMITY_PURPOSE": "review"}, args: []string{"requests", "get", "r1"}, wantHeader: "review"},
		{name: "flag over environment", env: map[string]string{"COMITY_PURPOSE": "review"},
			args: []string{"requests", "history", "r1", "--purpose", "translation"}, wantHeader: "translation"},
		{name: "none", args: []string{"requests", "get", "r1"}, wantHeader: ""},
		{name: "on an action", args: []string{"requests", "acknowledge-conditions", "r1", "--purpose", "stated-proceedings"}, wantHeader: "stated-proceedings"},
		{name: "a draft's purpose is the draft's", env: map[string]string{"COMITY_PURPOSE": "execution"},
			args: []string{"requests", "create", "--purpose", "To identify the intruder"}, wantHeader: "execution", wantPurpose: "To identify the intruder"},
		{name: "the environment fills no draft's purpose", env: map[string]string{"COMITY_PURPOSE": "execution"},
			args: []string{"requests", "create", "--case-reference", "C-1"}, wantHeader: "execution"},
		{name: "a consent's purpose is the consent's", env: map[string]string{"COMITY_PURPOSE": "consented-use"},
			args:       []string{"requests", "request-consent", "r1", "--kind", "OTHER_USE", "--purpose", "The civil forfeiture"},
			wantHeader: "consented-use", wantPurpose: "The civil forfeiture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ctlEnv(t, tc.env, append(tc.args, conn...)...); err != nil {
				t.Fatal(err)
			}
			got := rc.last()
			if h := got.header.Get("X-Comity-Purpose"); h != tc.wantHeader || (tc.wantHeader == "" && got.header.Values("X-Comity-Purpose") != nil) {
				t.Errorf("X-Comity-Purpose %q, want %q", h, tc.wantHeader)
			}
			if p := got.body["purpose"]; p != tc.wantPurpose {
				t.Errorf("the body's purpose is %v, want %v", p, tc.wantPurpose)
			}
		})
	}
	before := len(rc.calls)
	_, err := ctlEnv(t, map[string]string{"COMITY_PURPOSE": "nosiness"}, append([]string{"requests", "create", "--purpose", "x"}, conn...)...)
	if err == nil || !strings.Contains(err.Error(), "COMITY_PURPOSE") || !errors.Is(err, errUsage) {
		t.Errorf("a bad COMITY_PURPOSE: %v; want a usage error naming it", err)
	}
	if len(rc.calls) != before {
		t.Error("a call was sent with a bad COMITY_PURPOSE")
	}
}

// The answer of a data-protection action shows, in a table, what binds the
// requesting side and what was recorded under it.
func TestLedgerView(t *testing.T) {
	r := map[string]any{}
	if err := json.Unmarshal([]byte(`{"name":"requests/r1","reference":"KZ-2026-000002","status":"EXECUTED","etag":"e1",
		"bindingConditions":[{"kind":"NO_ONWARD_TRANSFER","text":"Not without consent"},{"kind":"DELETE_BY","text":"Delete","dueTime":"2027-12-31T00:00:00Z"}],
		"conditionsAcknowledgement":{"acknowledgedBy":{"subject":"p-kz"},"acknowledgeTime":"2026-12-01T10:00:00Z","conditions":2},
		"consents":[{"number":1,"kind":"ONWARD_TRANSFER","decision":"GRANTED","purpose":"Proceeds","recipient":"FMA","answer":"Only for this"}],
		"onwardTransfers":[{"recipient":"FMA","authorisation":"Consent 1","consent":1,"recordTime":"2026-12-02T10:00:00Z"}],
		"useReports":[{"text":"Identified the suspect","reportTime":"2026-12-03T10:00:00Z"}],
		"legalHold":{"reason":"Appeal","setTime":"2026-12-04T10:00:00Z","reviewTime":"2027-03-31T00:00:00Z","liftTime":"2026-12-05T10:00:00Z","liftReason":"Decided"},
		"erasures":[{"scope":"EVIDENCE","cause":"CONDITION","eraseTime":"2027-12-31T00:01:00Z","completeTime":"2027-12-31T00:01:01Z"}],
		"deadlines":{"eraseBy":"2031-12-05T10:00:00Z","reportUseBy":"2027-06-30T07:00:00Z"}}`), &r); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := (ledgerView{}).table(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"KZ-2026-000002", "BINDING CONDITIONS", "NO_ONWARD_TRANSFER", "2027-12-31T00:00:00Z", "2 conditions", "by p-kz",
		"CONSENTS", "ONWARD_TRANSFER  GRANTED", "Only for this", "ONWARD TRANSFERS", "Consent 1", "REPORTS OF USE", "Identified the suspect",
		"LEGAL HOLD", "review 2027-03-31T00:00:00Z", "lifted 2026-12-05T10:00:00Z: Decided", "ERASURES", "EVIDENCE  CONDITION",
		"personal data and content erased by  2031-12-05T10:00:00Z", "report of use due by"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "evidence erased by") || strings.Contains(out, "legal hold to be reviewed") {
		t.Errorf("the table shows deadlines the request does not have:\n%s", out)
	}
	// A request without any of it shows the summary alone.
	b.Reset()
	_ = (ledgerView{}).table(&b, map[string]any{"name": "requests/r2", "status": "ACCEPTED"})
	if strings.Count(b.String(), "\n") != 2 {
		t.Errorf("a request without data-protection fields:\n%s", b.String())
	}
}

// The values the new parsers accept are what the API takes.
func TestRetentionValues(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1d": 24 * time.Hour, "1825d": 1825 * 24 * time.Hour, "5Y": 5 * 365 * 24 * time.Hour, "43800h": 43800 * time.Hour, " 36h ": 36 * time.Hour,
		"100y": 100 * 365 * 24 * time.Hour,
	} {
		d, err := parseRetention(in)
		if err != nil || d.AsDuration() != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, d, err, want)
		}
		if data, err := protojson.Marshal(d); err != nil || len(data) == 0 {
			t.Errorf("parseRetention(%q) does not marshal: %v", in, err)
		}
	}
	if d, err := parseRetention("Default"); d != nil || err != nil {
		t.Errorf("parseRetention(default) = %v, %v; want none", d, err)
	}
}
