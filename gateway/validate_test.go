package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestValidateOnly: `:submit` and `:transmit` with validateOnly (AIP-163)
// answer exactly as the real call would — the missing safeguard, the
// caller who may not act, the request a TJ user may not see — and change
// nothing: the status, the etag and the history stay, and a successful
// validation leaves no audit entry, while denied ones are on the trail.
func TestValidateOnly(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	tjProsecutor := s.token("tj-gpo", identity.Prosecutor)
	auditor := s.token("kz-oversight", identity.Auditor)
	const (
		prosecutorID = "dev:kz-gpo:prosecutor@kz-gpo"
		kzCAID       = "dev:kz-gpo:central_authority@kz-gpo"
		tjID         = "dev:tj-gpo:prosecutor@tj-gpo"
	)

	draft := preservation()
	delete(draft, "necessityAndProportionality")
	name := s.mustDo("POST", "/v1/requests", prosecutor, draft, http.StatusOK).body["name"].(string)
	path := "/v1/" + name

	// state is what a validate-only call must leave as it is.
	type state struct{ status, etag, history string }
	stateOf := func() state {
		t.Helper()
		r := s.mustDo("GET", path, prosecutor, nil, http.StatusOK)
		h := s.mustDo("GET", path+"/history", prosecutor, nil, http.StatusOK)
		return state{status: r.body["status"].(string), etag: r.body["etag"].(string), history: h.raw}
	}
	unchanged := func(what string, before state) {
		t.Helper()
		if now := stateOf(); now != before {
			t.Errorf("%s changed the request: %s etag %s, history %s; was %s etag %s, history %s",
				what, now.status, now.etag, now.history, before.status, before.etag, before.history)
		}
	}
	fields := func(r response) []string {
		var out []string
		for _, v := range r.violations() {
			out = append(out, strings.SplitN(v, ":", 2)[0])
		}
		return out
	}
	validate := map[string]any{"validateOnly": true}

	before := stateOf()
	if before.status != "DRAFT" {
		t.Fatalf("a new request is %s, want DRAFT", before.status)
	}
	r := s.do("POST", path+":submit", prosecutor, validate)
	if r.status != http.StatusBadRequest || !slices.Equal(fields(r), []string{"necessity_and_proportionality"}) {
		t.Fatalf("validate-only submit of a draft without a necessity statement = %d %v; want 400 naming necessity_and_proportionality: %s",
			r.status, r.violations(), r.raw)
	}
	unchanged("a refused validate-only submit", before)

	s.mustDo("PATCH", path, prosecutor, map[string]any{
		"necessityAndProportionality": preservation()["necessityAndProportionality"]}, http.StatusOK)
	before = stateOf()
	for _, tc := range []struct {
		name, path, token string
		body              map[string]any
		want              int
		field             string
	}{
		{"the prosecutor's submit of the fixed draft", ":submit", prosecutor, map[string]any{"validateOnly": true, "etag": before.etag}, http.StatusOK, ""},
		{"a stale etag", ":submit", prosecutor, map[string]any{"validateOnly": true, "etag": "stale"}, http.StatusConflict, ""},
		{"the central authority may not submit", ":submit", kzCA, validate, http.StatusForbidden, ""},
		{"a TJ prosecutor may not see it", ":submit", tjProsecutor, validate, http.StatusNotFound, ""},
		{"a draft cannot be transmitted", ":transmit", kzCA, validate, http.StatusBadRequest, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", path+tc.path, tc.token, tc.body)
			if r.status != tc.want {
				t.Fatalf("validate-only %s = %d; want %d: %s", tc.path, r.status, tc.want, r.raw)
			}
			if tc.field != "" && !slices.Contains(fields(r), tc.field) {
				t.Errorf("violations %v; want one on %s", r.violations(), tc.field)
			}
			if tc.want == http.StatusOK {
				if r.body["status"] != "DRAFT" || r.body["etag"] != before.etag || r.body["metadataOnly"] != true {
					t.Errorf("validate-only answer: status %v etag %v metadataOnly %v; want the draft as it is (DRAFT, %s) as metadata",
						r.body["status"], r.body["etag"], r.body["metadataOnly"], before.etag)
				}
			}
			unchanged("validate-only "+tc.path+" ("+tc.name+")", before)
		})
	}

	// The real submit works, and then the central authority validates the
	// transmission.
	s.mustDo("POST", path+":submit", prosecutor, map[string]any{"etag": before.etag}, http.StatusOK)
	before = stateOf()
	if before.status != "SUBMITTED" {
		t.Fatalf("after submit the request is %s", before.status)
	}
	r = s.do("POST", path+":transmit", kzCA, validate)
	if r.status != http.StatusOK || r.body["status"] != "SUBMITTED" || r.body["etag"] != before.etag {
		t.Fatalf("validate-only transmit = %d %s; want 200 with the request still SUBMITTED", r.status, r.raw)
	}
	if d, _ := r.body["deadlines"].(map[string]any); d["acknowledgeBy"] != nil {
		t.Errorf("validate-only transmit started the acknowledgement deadline: %v", d)
	}
	unchanged("a validate-only transmit", before)
	if r := s.do("POST", path+":transmit", tjProsecutor, validate); r.status != http.StatusNotFound {
		t.Errorf("a TJ prosecutor's validate-only transmit = %d; want 404: %s", r.status, r.raw)
	}
	r = s.mustDo("POST", path+":transmit", kzCA, map[string]any{"etag": before.etag}, http.StatusOK)
	if r.body["status"] != "TRANSMITTED" {
		t.Fatalf("after transmit the request is %v", r.body["status"])
	}

	// The transmission is the last event: once the auditor sees it, the
	// log holds every event before it. The successful validations and the
	// ones refused for the request's content left nothing; the denied
	// ones (403, 404) are there.
	lifecycle := `(action = "` + requestService + `SubmitRequest" OR action = "` + requestService + `TransmitRequest")`
	want := []string{
		requestService + "SubmitRequest PERMISSION_DENIED by " + kzCAID,
		requestService + "SubmitRequest NOT_FOUND by " + tjID,
		requestService + "SubmitRequest OK DRAFT→SUBMITTED by " + prosecutorID,
		requestService + "TransmitRequest NOT_FOUND by " + tjID,
		requestService + "TransmitRequest OK SUBMITTED→TRANSMITTED by " + kzCAID,
	}
	got := s.awaitEntries(auditor, resourceFilter(name)+" AND "+lifecycle, 30*time.Second, hasAll(want[len(want)-1:]))
	checkExactly(t, "submit and transmit on "+name, got, want)
}
