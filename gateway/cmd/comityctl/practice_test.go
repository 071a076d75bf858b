package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// recorder is a gateway that answers every call with a request and keeps
// what it was sent.
type recorder struct {
	mu    sync.Mutex
	calls []recorded
}

type recorded struct {
	method, path string
	body         map[string]any
	header       http.Header
}

func (rc *recorder) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(data, &body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, recorded{method: r.Method, path: r.URL.RequestURI(), body: body, header: r.Header.Clone()})
		rc.mu.Unlock()
		_, _ = w.Write([]byte(`{"name":"requests/r1","reference":"KZ-2026-000001","status":"ACKNOWLEDGED","etag":"e1"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (rc *recorder) last() recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.calls) == 0 {
		return recorded{}
	}
	return rc.calls[len(rc.calls)-1]
}

// Each command of DESIGN §5.1–§5.5 sends its action, to its verb, with the
// body the API takes: what the flags say, nothing else.
func TestPracticeCommandsSendTheirAction(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	for _, tc := range []struct {
		args []string
		path string
		body string // protojson of the message the gateway must get
	}{
		{args: []string{"request-extension", "r1", "--days", "60", "--reason", "Translation under way."},
			path: "/v1/requests/r1:requestExtension", body: `{"reason":"Translation under way.","days":60}`},
		{args: []string{"grant-extension", "r1", "--etag", "e0"}, path: "/v1/requests/r1:grantExtension", body: `{"etag":"e0"}`},
		{args: []string{"decline-extension", "r1", "--reason", "Deleted by law after 180 days."},
			path: "/v1/requests/r1:declineExtension", body: `{"reason":"Deleted by law after 180 days."}`},
		{args: []string{"release-preservation", "r1", "--reason", "Obtained otherwise."},
			path: "/v1/requests/r1:releasePreservation", body: `{"reason":"Obtained otherwise."}`},
		{args: []string{"disclose-chain", "r1", "--provider", "Pamir Telecom", "--country", "tj", "--explanation", "Routed through it."},
			path: "/v1/requests/r1:discloseChain", body: `{"provider":"Pamir Telecom","country":"TJ","explanation":"Routed through it."}`},
		{args: []string{"draft-follow-up", "r1", "--type", "data_preservation", "--requested-state", "tj", "--request-id", "chain-1"},
			path: "/v1/requests/r1:draftFollowUp", body: `{"type":"DATA_PRESERVATION","requestedState":"TJ","requestId":"chain-1"}`},
		{args: []string{"notify-impediment", "r1", "--kind", "significant_delay", "--explanation", "30 days.", "--expected", "2026-04-30"},
			path: "/v1/requests/r1:notifyImpediment", body: `{"kind":"SIGNIFICANT_DELAY","explanation":"30 days.","expectedTime":"2026-04-30T00:00:00Z"}`},
		{args: []string{"postpone", "r1", "--until", "2026-05-01T09:00:00+05:00", "--reason", "Domestic investigation."},
			path: "/v1/requests/r1:postpone", body: `{"until":"2026-05-01T04:00:00Z","reason":"Domestic investigation."}`},
		{args: []string{"resume", "r1"}, path: "/v1/requests/r1:resume", body: `{}`},
		{args: []string{"propose-conditions", "r1", "--condition", "USE_ONLY_STATED_PROCEEDINGS=For case 1187 only",
			"--condition", "delete_by:2027-01-31=Delete after the trial", "--condition", "CONFIDENTIAL",
			"--cost-kind", "EXTRAORDINARY", "--cost-estimate", "1500.00", "--cost-currency", "uzs", "--cost-bearer", "requesting state"},
			path: "/v1/requests/r1:proposeConditions", body: `{"conditions":[{"kind":"USE_ONLY_STATED_PROCEEDINGS","text":"For case 1187 only"},
				{"kind":"DELETE_BY","text":"Delete after the trial","dueTime":"2027-01-31T00:00:00Z"},{"kind":"CONFIDENTIAL"}],
				"cost":{"kind":"EXTRAORDINARY","estimate":"1500.00","currency":"UZS","bearer":"requesting state"}}`},
		{args: []string{"accept-conditions", "r1"}, path: "/v1/requests/r1:acceptConditions", body: `{}`},
		{args: []string{"reject-conditions", "r1", "--reason", "Must stay in the case file."},
			path: "/v1/requests/r1:rejectConditions", body: `{"reason":"Must stay in the case file."}`},
		{args: []string{"declare-confidentiality-impossible", "r1", "--explanation", "The provider must tell its customer."},
			path: "/v1/requests/r1:declareConfidentialityImpossible", body: `{"explanation":"The provider must tell its customer."}`},
		{args: []string{"proceed", "r1"}, path: "/v1/requests/r1:proceed", body: `{}`},
		{args: []string{"transfer-ownership", "r1", "--owner", "dev:kz-gpo:prosecutor-2", "--reason", "Leave."},
			path: "/v1/requests/r1:transferOwnership", body: `{"owner":"dev:kz-gpo:prosecutor-2","reason":"Leave."}`},
		{args: []string{"execute", "r1", "--summary", "Subscriber data; no logs.", "--partial",
			"--item", "0/subscriber data=PROVIDED", "--item", "1/connection logs=not_retained:Kept for 6 months only: deleted",
			"--item-attachment", "0/subscriber data=a1", "--item-attachment", "0/subscriber data=requests/r1/attachments/a2"},
			path: "/v1/requests/r1:execute", body: `{"responseSummary":"Subscriber data; no logs.","partial":true,"items":[
				{"dataCategory":"subscriber data","outcome":"PROVIDED","attachments":["requests/r1/attachments/a1","requests/r1/attachments/a2"]},
				{"identifierIndex":1,"dataCategory":"connection logs","outcome":"NOT_RETAINED","reason":"Kept for 6 months only: deleted"}]}`},
		{args: []string{"refuse", "r1", "--ground", "press_freedom", "--explanation", "A journalist's sources.",
			"--consultation-note", "Granting the subscriber data alone was considered with the KZ GPO.", "--consultation-time", "2026-03-10"},
			path: "/v1/requests/r1:refuse", body: `{"grounds":["PRESS_FREEDOM"],"explanation":"A journalist's sources.",
				"consultation":{"note":"Granting the subscriber data alone was considered with the KZ GPO.","time":"2026-03-10T00:00:00Z"}}`},
		{args: []string{"record-oral", "--requesting-agency", "kg-gpo", "--channel", "phone", "--received", "2026-03-04T02:10:00+06:00",
			"--caller", "Duty prosecutor A. Asanov", "--type", "DATA_PRESERVATION", "--priority", "EMERGENCY", "--emergency-reason", "Threat to life",
			"--identifier", "PHONE=+996555123456", "--request-id", "oral-1"},
			path: "/v1/requests:recordOral", body: `{"request":{"type":"DATA_PRESERVATION","priority":"EMERGENCY","emergencyReason":"Threat to life",
				"identifiers":[{"kind":"PHONE","value":"+996555123456"}]},"requestingAgency":"agencies/kg-gpo",
				"intake":{"channel":"PHONE","receivedTime":"2026-03-03T20:10:00Z","caller":"Duty prosecutor A. Asanov"},"requestId":"oral-1"}`},
		{args: []string{"confirm-in-writing", "r1", "--etag", "e0", "--legal-basis", "CIS_IT_CRIME_AGREEMENT_2018", "--offence-qualification", "Art 205",
			"--custodian-provider", "Example Telecom LLP", "--follow-up-intended", "--follow-up-type", "TRAFFIC_DATA"},
			path: "/v1/requests/r1:confirmInWriting", body: `{"etag":"e0","request":{"legalBasis":"CIS_IT_CRIME_AGREEMENT_2018","offence":{"legalQualification":"Art 205"},
				"custodian":{"provider":"Example Telecom LLP"},"followUpIntended":{"intended":true,"productionType":"TRAFFIC_DATA"}},
				"updateMask":"legalBasis,offence.legalQualification,followUpIntended.productionType,followUpIntended.intended,custodian.provider"}`},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			if _, err := ctl(t, filepath.Join(t.TempDir(), "none.json"), append(append([]string{"requests"}, tc.args...), "--gateway", gw, "--token", "t")...); err != nil {
				t.Fatal(err)
			}
			got := rc.last()
			if got.method != http.MethodPost || got.path != tc.path {
				t.Errorf("sent %s %s, want POST %s", got.method, got.path, tc.path)
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

func canonical(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The content flags of DESIGN §5.1, §5.4 and §5.5 set the draft's fields,
// and an update changes those and only those.
func TestContentFlags(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	flags := []string{"--custodian-provider", "Example Telecom LLP", "--custodian-country", "uz", "--custodian-service", "mobile internet",
		"--custodian-account", "+998901234567", "--follow-up-intended", "--follow-up-type", "subscriber_information",
		"--confidential-request", "--confidential-obtained", "--confidentiality-reason", "Suspects unaware.",
		"--person", "Example LLP:suspect;kind=legal;registration-number=123456;registered-address=Tashkent;representative=A. Karimov/director/Tashkent",
		"--person", "Unknown person", "--investigating-authority", "KZ Anti-Corruption Agency", "--investigating-case-number", "2026-1187",
		"--purpose", "To identify the user.", "--procedure-format", "CSV", "--procedure-certification", "Provider's certificate",
		"--contact-name", "A. Nurlanov", "--contact-phone", "+77172000000", "--contact-email", "a.nurlanov@gp.kz", "--contact-hours", "09:00–18:00",
		"--contact-time-zone", "Asia/Almaty"}
	if _, err := ctl(t, "", append([]string{"requests", "create", "--gateway", gw, "--token", "t"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	want := `{"persons":[{"fullName":"Example LLP","role":"suspect","kind":"LEGAL","registeredAddress":"Tashkent","registrationNumber":"123456",
		"representatives":[{"fullName":"A. Karimov","capacity":"director","address":"Tashkent"}]},{"fullName":"Unknown person"}],
		"custodian":{"provider":"Example Telecom LLP","country":"UZ","service":"mobile internet","accountReference":"+998901234567"},
		"followUpIntended":{"intended":true,"productionType":"SUBSCRIBER_INFORMATION"},
		"confidentiality":{"request":true,"obtainedInformation":true,"reason":"Suspects unaware."},
		"investigatingAuthority":{"name":"KZ Anti-Corruption Agency","caseNumber":"2026-1187"},"purpose":"To identify the user.",
		"requestedProcedure":{"format":"CSV","certification":"Provider's certificate"},
		"contact":{"fullName":"A. Nurlanov","phone":"+77172000000","email":"a.nurlanov@gp.kz","hours":"09:00–18:00","timeZone":"Asia/Almaty"}}`
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if g, w := canonical(t, rc.last().body), canonical(t, w); g != w {
		t.Errorf("create sent\n%s\nwant\n%s", g, w)
	}
	if _, err := ctl(t, "", "requests", "update", "r1", "--etag", "e0", "--purpose", "Another purpose.", "--contact-email", "x@gp.kz", "--gateway", gw, "--token", "t"); err != nil {
		t.Fatal(err)
	}
	if got := rc.last().path; got != "/v1/requests/r1?updateMask=purpose%2Ccontact.email" {
		t.Errorf("update sent to %s; want the mask purpose,contact.email", got)
	}
}

// A bad value of a flag is refused before anything is sent, saying which
// flag and what it wants.
func TestPracticeBadFlagsNamed(t *testing.T) {
	var rc recorder
	gw := rc.start(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"request-extension", "r1", "--reason", "x"}, "--days"},
		{[]string{"request-extension", "r1", "--days", "0", "--reason", "x"}, "--days"},
		{[]string{"request-extension", "r1", "--days", "many"}, "--days"},
		{[]string{"disclose-chain", "r1", "--provider", "P", "--country", "Tajikistan", "--explanation", "x"}, "--country"},
		{[]string{"draft-follow-up", "r1"}, "--type"},
		{[]string{"draft-follow-up", "r1", "--type", "production"}, "--type"},
		{[]string{"draft-follow-up", "r1", "--type", "TRAFFIC_DATA", "--requested-state", "TJK"}, "--requested-state"},
		{[]string{"notify-impediment", "r1", "--kind", "late", "--explanation", "x"}, "--kind"},
		{[]string{"notify-impediment", "r1", "--kind", "INCOMPLETE", "--explanation", "x", "--expected", "soon"}, "--expected"},
		{[]string{"postpone", "r1", "--reason", "x"}, "--until"},
		{[]string{"postpone", "r1", "--until", "next week", "--reason", "x"}, "--until"},
		{[]string{"propose-conditions", "r1", "--condition", "FOREVER=x"}, "--condition"},
		{[]string{"propose-conditions", "r1", "--condition", "DELETE_BY:someday=x"}, "--condition"},
		{[]string{"propose-conditions", "r1", "--cost-kind", "cheap"}, "--cost-kind"},
		{[]string{"propose-conditions", "r1", "--cost-estimate", "1,500"}, "--cost-estimate"},
		{[]string{"transfer-ownership", "r1"}, "--owner"},
		{[]string{"execute", "r1", "--summary", "s", "--item", "first/logs=PROVIDED"}, "--item"},
		{[]string{"execute", "r1", "--summary", "s", "--item", "0/logs"}, "--item"},
		{[]string{"execute", "r1", "--summary", "s", "--item", "0/logs=GIVEN"}, "--item"},
		{[]string{"execute", "r1", "--summary", "s", "--item", "-1/logs=PROVIDED"}, "--item"},
		{[]string{"execute", "r1", "--summary", "s", "--item", "0/logs=PROVIDED", "--item-attachment", "1/logs=a1"}, "--item-attachment"},
		{[]string{"execute", "r1", "--summary", "s", "--item", "0/logs=PROVIDED", "--item-attachment", "0/logs"}, "--item-attachment"},
		{[]string{"refuse", "r1", "--ground", "OTHER", "--consultation-note", "n", "--consultation-time", "yesterday"}, "--consultation-time"},
		{[]string{"record-oral", "--channel", "PHONE"}, "--requesting-agency"},
		{[]string{"record-oral", "--requesting-agency", "KG GPO", "--channel", "PHONE"}, "--requesting-agency"},
		{[]string{"record-oral", "--requesting-agency", "kg-gpo"}, "--channel"},
		{[]string{"record-oral", "--requesting-agency", "kg-gpo", "--channel", "fax"}, "--channel"},
		{[]string{"record-oral", "--requesting-agency", "kg-gpo", "--channel", "PHONE", "--received", "at night"}, "--received"},
		{[]string{"create", "--person", ":suspect"}, "--person"},
		{[]string{"create", "--person", "X;kind=company"}, "--person"},
		{[]string{"create", "--person", "X;height=180"}, "--person"},
		{[]string{"create", "--custodian-country", "Uzbekistan"}, "--custodian-country"},
		{[]string{"create", "--follow-up-type", "later"}, "--follow-up-type"},
		{[]string{"confirm-in-writing", "r1", "--priority", "now"}, "--priority"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := len(rc.calls)
			_, err := ctl(t, "", append(append([]string{"requests"}, tc.args...), "--gateway", gw, "--token", "t")...)
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("got %v; want an error naming %s", err, tc.flag)
			}
			if errors.Is(err, errUsage) == false && !strings.Contains(err.Error(), "invalid argument") {
				t.Errorf("%v: not a usage error (exit 2)", err)
			}
			if len(rc.calls) != before {
				t.Errorf("something was sent: %+v", rc.last())
			}
		})
	}
}

// The values the parsers accept are what the API takes: each value they
// return passes the proto's own shape checks.
func TestPracticeFlagValues(t *testing.T) {
	it, err := parseItem("12/connection logs (IP)=impossible:The router was seized: nothing kept")
	if err != nil || it.GetIdentifierIndex() != 12 || it.GetDataCategory() != "connection logs (IP)" ||
		it.GetOutcome() != requestv1.ExecutionItem_IMPOSSIBLE || it.GetReason() != "The router was seized: nothing kept" {
		t.Errorf("parseItem = %v, %v", it, err)
	}
	c, err := parseCondition("RETURN:2026-12-31T18:00:00+05:00=Return the drives = all of them")
	if err != nil || c.GetKind() != requestv1.Condition_RETURN || c.GetDueTime().AsTime().Format("2006-01-02T15:04Z07:00") != "2026-12-31T13:00Z" ||
		c.GetText() != "Return the drives = all of them" {
		t.Errorf("parseCondition = %v, %v", c, err)
	}
	p, err := parsePerson("Ivan Ivanov:suspect;date-of-birth=1990-01-02;nationality=kz;place-of-birth=Almaty;residence=Astana;occupation=engineer")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := protojson.Marshal(p); !strings.Contains(string(got), `"nationality":"KZ"`) || p.GetOccupation() != "engineer" || p.GetPlaceOfBirth() != "Almaty" {
		t.Errorf("parsePerson = %s", got)
	}
}
