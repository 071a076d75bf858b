package gateway_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// preservation is a complete, valid urgent preservation request from KZ to
// UZ, as a kz-gpo prosecutor would file it.
func preservation() map[string]any { return gatewaytest.Preservation() }

func (s *suite) mustDo(method, path, token string, body any, want int) response {
	s.t.Helper()
	return fromClient(s.client().MustDo(method, path, token, body, want))
}

// upload posts a file as the REST API takes it.
func (s *suite) upload(path, token, kind, language, filename string, content []byte, digest []byte) response {
	s.t.Helper()
	return fromClient(s.client().Upload(path, token, kind, language, filename, content, digest))
}

func TestACompleteCaseThroughREST(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	c := gatewaytest.CompleteCase(s.client(), "case-1")
	if want := "KZ-" + time.Now().UTC().Format("2006") + "-000001"; c.Reference != want {
		t.Errorf("reference = %v, want %s", c.Reference, want)
	}
}

func TestWhoSeesARequest(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzCA := s.token("uz-247", identity.CentralAuthority)
	uzLiaison := s.token("uz-gpo", identity.LiaisonOfficer)
	uzProsecutor := s.token("uz-gpo", identity.Prosecutor)
	tjUsers := []string{
		s.token("tj-gpo", identity.CentralAuthority), s.token("tj-gpo", identity.LiaisonOfficer),
		s.token("tj-oversight", identity.Auditor), s.token("tj-city-prosecutor", identity.Prosecutor),
	}
	kzAuditor := s.token("kz-oversight", identity.Auditor)

	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)
	path := "/v1/" + r.body["name"].(string)
	s.mustDo("POST", path+"/messages", prosecutor, map[string]any{"body": "Internal note", "visibility": "OWN_AGENCY"}, 200)

	sees := func(tok string) bool {
		t.Helper()
		r := s.do("GET", path, tok, nil)
		l := s.do("GET", "/v1/requests", tok, nil)
		inList := slices.Contains(names(t, l, "requests"), strings.TrimPrefix(path, "/v1/"))
		switch {
		case r.status == 200 && inList:
			return true
		case r.status == 404 && !inList:
			return false
		}
		t.Fatalf("GET = %d but listed %v: %s", r.status, inList, r.raw)
		return false
	}
	checkTJ := func(stage string) {
		t.Helper()
		for _, tok := range tjUsers {
			if sees(tok) {
				t.Errorf("%s: a TJ user sees a KZ→UZ request", stage)
			}
			for _, p := range []string{path + "/history", path + "/messages", path + "/attachments"} {
				if r := s.do("GET", p, tok, nil); r.status != 404 {
					t.Errorf("%s: TJ user GET %s = %d, want 404", stage, p, r.status)
				}
			}
			if r := s.do("POST", path+":acknowledge", tok, map[string]any{}); r.status != 404 {
				t.Errorf("%s: TJ user acknowledge = %d, want 404", stage, r.status)
			}
		}
	}

	for _, who := range []struct {
		name string
		tok  string
	}{{"uz 24/7 central authority", uzCA}, {"uz liaison officer", uzLiaison}, {"uz prosecutor", uzProsecutor}} {
		if sees(who.tok) {
			t.Errorf("a %s sees a draft", who.name)
		}
	}
	checkTJ("draft")
	if !sees(kzCA) || !sees(kzAuditor) {
		t.Error("the requesting state's central authority or auditor does not see the draft")
	}

	s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
	if sees(uzLiaison) {
		t.Error("a uz liaison officer sees a submitted, untransmitted request")
	}
	s.mustDo("POST", path+":transmit", kzCA, map[string]any{}, 200)
	if !sees(uzLiaison) || !sees(uzCA) {
		t.Error("the requested side does not see the transmitted request")
	}
	if sees(uzProsecutor) {
		t.Error("a prosecutor of another uz agency sees the request")
	}
	checkTJ("transmitted")

	// The requested side does not read the requesting agency's own notes.
	m := s.mustDo("GET", path+"/messages", uzCA, nil, 200)
	if msgs, _ := m.body["messages"].([]any); len(msgs) != 0 {
		t.Errorf("uz reads kz-gpo's own-agency messages: %s", m.raw)
	}
	if m := s.mustDo("GET", path+"/messages", prosecutor, nil, 200); len(m.body["messages"].([]any)) != 1 {
		t.Errorf("kz-gpo does not read its own note: %s", m.raw)
	}

	// An auditor sees metadata only.
	a := s.mustDo("GET", path, kzAuditor, nil, 200)
	if a.body["metadataOnly"] != true || a.body["reference"] == "" || a.body["status"] != "TRANSMITTED" {
		t.Errorf("auditor view = %s", a.raw)
	}
	for _, field := range []string{"factsSummary", "necessityAndProportionality", "caseReference", "useLimitations"} {
		if v, _ := a.body[field].(string); v != "" {
			t.Errorf("auditor sees %s: %q", field, v)
		}
	}
	if ids, _ := a.body["identifiers"].([]any); len(ids) != 0 {
		t.Errorf("auditor sees identifiers: %v", ids)
	}
	if off, _ := a.body["offence"].(map[string]any); off != nil && off["description"] != "" {
		t.Errorf("auditor sees the offence: %v", off)
	}
	for _, p := range []string{path + "/messages", path + "/attachments"} {
		if r := s.do("GET", p, kzAuditor, nil); r.status != 403 {
			t.Errorf("auditor GET %s = %d, want 403", p, r.status)
		}
	}
	s.mustDo("POST", path+":acknowledge", uzCA, map[string]any{}, 200)
	s.mustDo("POST", path+":refuse", uzCA, map[string]any{"grounds": []string{"ESSENTIAL_INTERESTS"}, "explanation": "Preserving these logs would disclose a state secret."}, 200)
	checkTJ("refused")
	s.mustDo("POST", path+":close", kzCA, map[string]any{}, 200)
	checkTJ("closed")
}

func TestSafeguardsAtSubmit(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)

	submit := func(draft map[string]any) response {
		t.Helper()
		r := s.mustDo("POST", "/v1/requests", prosecutor, draft, 200)
		return s.do("POST", "/v1/"+r.body["name"].(string)+":submit", prosecutor, map[string]any{})
	}
	fields := func(r response) []string {
		var out []string
		for _, v := range r.violations() {
			out = append(out, strings.SplitN(v, ":", 2)[0])
		}
		return out
	}

	// An empty draft gets every missing safeguard at once.
	empty := submit(map[string]any{"type": "CONTENT_DATA", "priority": "EMERGENCY", "requestedState": "UZ"})
	if empty.status != 400 {
		t.Fatalf("empty draft submit = %d %s", empty.status, empty.raw)
	}
	for _, f := range []string{"legal_basis", "offence.description", "offence.legal_qualification", "offence.maximum_penalty_years",
		"facts_summary", "identifiers", "necessity_and_proportionality", "judicial_authorisation_reference", "emergency_reason", "language"} {
		if !slices.Contains(fields(empty), f) {
			t.Errorf("empty draft: no violation for %s in %v", f, fields(empty))
		}
	}

	with := func(mutate func(map[string]any)) map[string]any {
		d := preservation()
		mutate(d)
		return d
	}
	for _, tc := range []struct {
		name  string
		draft map[string]any
		field string
	}{
		{"no legal basis", with(func(d map[string]any) { delete(d, "legalBasis") }), "legal_basis"},
		{"bilateral treaty without citation", with(func(d map[string]any) { d["legalBasis"] = "BILATERAL_TREATY" }), "treaty_citation"},
		{"no offence description", with(func(d map[string]any) { d["offence"].(map[string]any)["description"] = "" }), "offence.description"},
		{"no maximum penalty", with(func(d map[string]any) { delete(d["offence"].(map[string]any), "maximumPenaltyYears") }), "offence.maximum_penalty_years"},
		{"no facts", with(func(d map[string]any) { delete(d, "factsSummary") }), "facts_summary"},
		{"no identifier", with(func(d map[string]any) { delete(d, "identifiers") }), "identifiers"},
		{"an IP that does not parse", with(func(d map[string]any) {
			d["identifiers"].([]any)[0].(map[string]any)["value"] = "203.0.113.999"
		}), "identifiers[0].value"},
		{"an e-mail that is not one", with(func(d map[string]any) {
			d["identifiers"] = []any{map[string]any{"kind": "EMAIL", "value": "someone at example"}}
		}), "identifiers[0].value"},
		{"subscriber data without a time range", with(func(d map[string]any) {
			d["type"] = "SUBSCRIBER_INFORMATION"
			d["identifiers"] = []any{map[string]any{"kind": "EMAIL", "value": "someone@example.org"}}
		}), "identifiers[0].start_time"},
		{"a thin necessity statement", with(func(d map[string]any) { d["necessityAndProportionality"] = "Needed." }), "necessity_and_proportionality"},
		{"content data without a court order", with(func(d map[string]any) { d["type"] = "CONTENT_DATA" }), "judicial_authorisation_reference"},
		{"death penalty without assurance", with(func(d map[string]any) { d["offence"].(map[string]any)["deathPenaltyPossible"] = true }), "offence.death_penalty_assurance"},
		{"a language uz-247 does not accept", with(func(d map[string]any) { d["language"] = "en" }), "language"},
		{"an emergency without a reason", with(func(d map[string]any) { d["priority"] = "EMERGENCY" }), "emergency_reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := submit(tc.draft)
			if r.status != 400 || !strings.Contains(r.raw, "FAILED_PRECONDITION") && r.body["code"] != float64(9) {
				t.Fatalf("submit = %d %s, want 400 FAILED_PRECONDITION", r.status, r.raw)
			}
			if got := fields(r); !slices.Equal(got, []string{tc.field}) {
				t.Errorf("violations %v, want exactly %s", r.violations(), tc.field)
			}
		})
	}
	// A translation into an accepted language satisfies the language rule.
	r := s.mustDo("POST", "/v1/requests", prosecutor, with(func(d map[string]any) { d["language"] = "en" }), 200)
	path := "/v1/" + r.body["name"].(string)
	if up := s.upload(path, prosecutor, "TRANSLATION", "uz", "t.pdf", []byte("tarjima"), nil); up.status != 200 {
		t.Fatalf("upload = %d %s", up.status, up.raw)
	}
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
}

func TestActionsFromTheWrongStatusOrByTheWrongPerson(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	otherProsecutor := s.tokenFor("another-prosecutor", "kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzGPOCA := s.token("uz-gpo", identity.CentralAuthority)
	uzCA := s.token("uz-247", identity.CentralAuthority)

	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)
	path := "/v1/" + r.body["name"].(string)
	etag := r.body["etag"].(string)

	for _, tc := range []struct {
		name, tok, action string
		body              map[string]any
		want              int
		mention           string
	}{
		{"transmit a draft", kzCA, "transmit", nil, 400, "DRAFT"},
		{"execute a draft", prosecutor, "close", nil, 400, "DRAFT"},
		{"submit someone else's draft", otherProsecutor, "submit", nil, 403, "owning prosecutor"},
		{"a central authority submits", kzCA, "submit", nil, 403, "owning prosecutor"},
		{"a uz agency acknowledges a draft it cannot see", uzCA, "acknowledge", nil, 404, ""},
		{"return without a reason", kzCA, "return", map[string]any{"reason": ""}, 400, "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = map[string]any{}
			}
			r := s.do("POST", path+":"+tc.action, tc.tok, body)
			if r.status != tc.want || !strings.Contains(r.raw, tc.mention) {
				t.Errorf("%s = %d %s, want %d mentioning %q", tc.action, r.status, r.raw, tc.want, tc.mention)
			}
		})
	}

	// A stale etag is a conflict.
	s.mustDo("PATCH", path, prosecutor, map[string]any{"caseReference": "KZ-CASE-2", "etag": etag}, 200)
	s.mustDo("PATCH", path, prosecutor, map[string]any{"caseReference": "KZ-CASE-3", "etag": etag}, 409)
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{"etag": etag}, 409)
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
	s.mustDo("PATCH", path, prosecutor, map[string]any{"caseReference": "too late"}, 400)
	s.mustDo("POST", path+":transmit", kzCA, map[string]any{}, 200)
	// uz-gpo is not the requested agency (uz-247 is), so the request does
	// not exist for it.
	s.mustDo("POST", path+":acknowledge", uzGPOCA, map[string]any{}, 404)
	// A prosecutor of the requesting agency sees it but may not acknowledge.
	s.mustDo("POST", path+":acknowledge", otherProsecutor, map[string]any{}, 403)

	// Two acknowledgements race: exactly one wins.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = s.do("POST", path+":acknowledge", uzCA, map[string]any{}).status
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != 200 || (codes[1] != 400 && codes[1] != 409) {
		t.Errorf("racing acknowledgements answered %v, want one 200 and one 400 or 409", codes)
	}
	// Accepting needs the assessments.
	r = s.do("POST", path+":accept", uzCA, map[string]any{})
	if r.status != 400 || !strings.Contains(r.raw, "dual_criminality") || !strings.Contains(r.raw, "human_rights_review") {
		t.Errorf("accept without assessments = %d %s", r.status, r.raw)
	}
	r = s.do("POST", path+":refuse", uzCA, map[string]any{})
	if r.status != 400 || !strings.Contains(r.raw, "grounds") || !strings.Contains(r.raw, "explanation") {
		t.Errorf("refuse without grounds = %d %s", r.status, r.raw)
	}
}

func TestAttachmentsRefusedLeaveNothing(t *testing.T) {
	s := startSuite(t, suiteOptions{maxAttachment: 1 << 20})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)
	path := "/v1/" + r.body["name"].(string)

	wrong := sha256.Sum256([]byte("something else"))
	if up := s.upload(path, prosecutor, "EVIDENCE", "", "a.pdf", []byte("the real content"), wrong[:]); up.status != 400 || !strings.Contains(up.raw, "SHA-256") {
		t.Errorf("wrong digest = %d %s, want 400 naming the digest", up.status, up.raw)
	}
	big := make([]byte, 1<<20+1)
	if up := s.upload(path, prosecutor, "EVIDENCE", "", "big.pdf", big, nil); up.status != 413 {
		t.Errorf("over-limit upload = %d %s, want 413", up.status, up.raw)
	}
	for _, tc := range []struct{ name, header, value string }{
		{"no digest", "Repr-Digest", ""},
		{"md5 digest", "Repr-Digest", "md5=:AAAA:"},
		{"no file name", "Content-Disposition", "attachment"},
	} {
		req, _ := http.NewRequest("POST", s.baseURL+path+"/attachments:upload?kind=EVIDENCE", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+prosecutor)
		req.Header.Set("Content-Type", "application/pdf")
		req.Header.Set("Content-Disposition", `attachment; filename="x.pdf"`)
		sum := sha256.Sum256([]byte("x"))
		req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
		req.Header.Set(tc.header, tc.value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), tc.header) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, resp.StatusCode, body, tc.header)
		}
	}
	if l := s.mustDo("GET", path+"/attachments", prosecutor, nil, 200); len(l.body["attachments"].([]any)) != 0 {
		t.Errorf("refused uploads left attachments: %s", l.raw)
	}
	var files []string
	_ = filepath.WalkDir(filepath.Join(s.dataDir, "attachments"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("refused uploads left files: %v", files)
	}
}

func TestWatchSeesTransitions(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	uzLiaison := s.token("uz-gpo", identity.LiaisonOfficer)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.baseURL+"/v1/requests:watch", nil)
	req.Header.Set("Authorization", "Bearer "+uzLiaison)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("watch = %d", resp.StatusCode)
	}
	events := make(chan map[string]any)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				events <- m
			}
		}
		close(events)
	}()

	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)
	path := "/v1/" + r.body["name"].(string)
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
	s.mustDo("POST", path+":transmit", kzCA, map[string]any{}, 200)
	// The liaison officer of the requested state sees the request's changes
	// from its transmission to their state on: the draft and the
	// submission were not theirs to see when they happened (issue 12; this
	// test used to expect them too).
	s.mustDo("POST", path+":acknowledge", s.token("uz-247", identity.CentralAuthority), map[string]any{}, 200)
	var seen []string
	for len(seen) < 2 {
		select {
		case m, ok := <-events:
			if !ok {
				t.Fatalf("watch ended after %v", seen)
			}
			res, _ := m["result"].(map[string]any)
			change, _ := res["change"].(map[string]any)
			seen = append(seen, change["toStatus"].(string))
		case <-ctx.Done():
			t.Fatalf("watch saw only %v", seen)
		}
	}
	if !slices.Equal(seen, []string{"TRANSMITTED", "ACKNOWLEDGED"}) {
		t.Errorf("watch saw %v", seen)
	}
}

func TestListFiltersAndStatistics(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	for i := range 3 {
		r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)
		if i > 0 {
			p := "/v1/" + r.body["name"].(string)
			s.mustDo("POST", p+":submit", prosecutor, map[string]any{}, 200)
			s.mustDo("POST", p+":transmit", kzCA, map[string]any{}, 200)
		}
	}
	l := s.mustDo("GET", "/v1/requests?filter="+url.QueryEscape(`status = TRANSMITTED AND requestedState = "UZ"`), kzCA, nil, 200)
	if got := len(l.body["requests"].([]any)); got != 2 {
		t.Errorf("transmitted requests = %d, want 2: %s", got, l.raw)
	}
	for _, it := range l.body["requests"].([]any) {
		if v, _ := it.(map[string]any)["factsSummary"].(string); v != "" {
			t.Errorf("a list carries narratives: %v", it)
		}
	}
	l = s.mustDo("GET", "/v1/requests?filter="+url.QueryEscape(`overdue = true`), kzCA, nil, 200)
	if got := len(l.body["requests"].([]any)); got != 0 {
		t.Errorf("overdue requests just after transmission = %d, want 0", got)
	}
	l = s.mustDo("GET", "/v1/requests?filter="+url.QueryEscape(`overdue = false`), kzCA, nil, 200)
	if got := len(l.body["requests"].([]any)); got != 3 {
		t.Errorf("requests not overdue = %d, want 3", got)
	}
	s.mustDo("GET", "/v1/requests?filter="+url.QueryEscape(`status = LOST`), kzCA, nil, 400)

	st := s.mustDo("GET", "/v1/statistics", kzCA, nil, 200)
	pairs, _ := st.body["pairs"].([]any)
	if len(pairs) != 1 {
		t.Fatalf("statistics = %s", st.raw)
	}
	p := pairs[0].(map[string]any)
	if p["requestingState"] != "KZ" || p["requestedState"] != "UZ" || p["byStatus"].(map[string]any)["TRANSMITTED"] != float64(2) {
		t.Errorf("KZ→UZ statistics = %v", p)
	}
	if st := s.mustDo("GET", "/v1/statistics", s.token("tj-gpo", identity.CentralAuthority), nil, 200); len(st.body["pairs"].([]any)) != 0 {
		t.Errorf("TJ sees statistics of KZ→UZ: %s", st.raw)
	}
}
