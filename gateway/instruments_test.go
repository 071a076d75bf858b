package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/identity"
)

// TestTreatyProfilesThroughREST (DESIGN §5.6): every user reads the
// instrument profiles and the instruments applicable between two states,
// as the shipped seed records them: best first, none recorded not in force,
// each flagged unconfirmed until the states' administrators confirm it. A
// draft under an instrument recorded not in force is refused at :submit
// naming the legal basis and the state; one under an instrument of unknown
// status is submitted and shown as unconfirmed.
func TestTreatyProfilesThroughREST(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	auditor := s.token("uz-oversight", identity.Auditor)

	r := s.mustDo("GET", "/v1/instruments", auditor, nil, http.StatusOK)
	profiles, _ := r.body["instruments"].([]any)
	if len(profiles) != 6 || profiles[0].(map[string]any)["legalBasis"] != "CIS_IT_CRIME_AGREEMENT_2018" {
		t.Errorf("GET /v1/instruments = %s; want the six profiles, best first", r.raw)
	}

	r = s.mustDo("GET", "/v1/instruments:applicable?requestingState=KZ&requestedState=uz", prosecutor, nil, http.StatusOK)
	var rows []string
	items, _ := r.body["instruments"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		rows = append(rows, m["instrument"].(map[string]any)["legalBasis"].(string)+" "+
			m["requestingStateStatus"].(string)+" "+m["requestedStateStatus"].(string))
		if m["unconfirmed"] != true {
			t.Errorf("%v is not flagged unconfirmed; the seed confirms nothing", m)
		}
	}
	// Chisinau: in force for KZ, unknown for UZ; Budapest: not in force.
	want := []string{
		"MINSK_CONVENTION_1993 IN_FORCE IN_FORCE",
		"UNTOC_2000 IN_FORCE IN_FORCE",
		"CIS_IT_CRIME_AGREEMENT_2018 UNKNOWN UNKNOWN",
		"UN_CYBERCRIME_CONVENTION_2024 UNKNOWN UNKNOWN",
		"CHISINAU_CONVENTION_2002 IN_FORCE UNKNOWN",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("instruments applicable KZ→UZ =\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	r = s.do("GET", "/v1/instruments:applicable?requestingState=KZ&requestedState=XX", prosecutor, nil)
	if r.status != http.StatusBadRequest || !slices.ContainsFunc(r.violations(), func(v string) bool { return strings.HasPrefix(v, "requested_state") }) {
		t.Errorf("applicable to XX = %d %s; want 400 naming requested_state", r.status, r.raw)
	}
	r = s.do("GET", "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION&priority=URGENT&legalBasis=HAGUE", prosecutor, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "legal_basis") {
		t.Errorf("a route under an unknown legal basis = %d %s; want 400 naming legal_basis", r.status, r.raw)
	}

	draft := preservation()
	draft["legalBasis"] = "BUDAPEST_CONVENTION"
	created := s.mustDo("POST", "/v1/requests", prosecutor, draft, http.StatusOK)
	name := created.body["name"].(string)
	r = s.do("POST", "/v1/"+name+":submit", prosecutor, map[string]any{})
	if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "BUDAPEST_CONVENTION is not in force for UZ according to the directory") {
		t.Errorf("submit under Budapest = %d %s; want 400 saying it is not in force for UZ", r.status, r.raw)
	}
	for _, v := range r.violations() {
		if !strings.HasPrefix(v, "legal_basis") {
			t.Errorf("violation %q; want only legal_basis", v)
		}
	}

	draft = preservation() // under the CIS 2018 agreement, unknown for both
	created = s.mustDo("POST", "/v1/requests", prosecutor, draft, http.StatusOK)
	r = s.mustDo("POST", "/v1/"+created.body["name"].(string)+":submit", prosecutor, map[string]any{}, http.StatusOK)
	if r.body["legalBasisUnconfirmed"] != true || r.body["status"] != "SUBMITTED" {
		t.Errorf("submit under an unknown instrument = %s; want SUBMITTED, legalBasisUnconfirmed", r.raw)
	}
	// Shown to both sides: transmitted, the requested agency reads it so.
	ca := s.token("kz-gpo", identity.CentralAuthority)
	s.mustDo("POST", "/v1/"+created.body["name"].(string)+":transmit", ca, map[string]any{}, http.StatusOK)
	r = s.mustDo("GET", "/v1/"+created.body["name"].(string), s.token("uz-247", identity.CentralAuthority), nil, http.StatusOK)
	if r.body["legalBasisUnconfirmed"] != true || r.body["status"] != "TRANSMITTED" {
		t.Errorf("the requested side reads %s; want TRANSMITTED, legalBasisUnconfirmed", r.raw)
	}

	// UZ's administrator records that UZ designated its prosecutor
	// general's office for preservation under UNTOC: an urgent preservation
	// under UNTOC goes there, one under no legal basis to the 24/7 point as
	// before. A wrong entry is refused naming its field.
	admin := s.token("uz-gpo", identity.DirectoryAdmin)
	uz := s.mustDo("GET", "/v1/states/UZ", admin, nil, http.StatusOK)
	patch := map[string]any{"name": "states/UZ", "etag": uz.body["etag"], "instruments": []any{
		map[string]any{"legalBasis": "UNTOC_2000", "status": "IN_FORCE", "source": "UNTC status page", "confirmed": true,
			"authorities": []any{map[string]any{"stage": "PRESERVATION", "agency": "agencies/uz-gpo"}}},
	}}
	r = s.do("PATCH", "/v1/states/UZ?updateMask=instruments", admin, map[string]any{"name": "states/UZ", "etag": uz.body["etag"],
		"instruments": []any{map[string]any{"legalBasis": "UNTOC_2000", "status": "IN_FORCE", "source": "x",
			"authorities": []any{map[string]any{"stage": "PRESERVATION", "agency": "agencies/kz-gpo"}}}}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "state.instruments[0].authorities[0].agency") {
		t.Errorf("designating another state's agency = %d %s; want 400 naming the field", r.status, r.raw)
	}
	r = s.mustDo("PATCH", "/v1/states/UZ?updateMask=instruments", admin, patch, http.StatusOK)
	if got, _ := r.body["instruments"].([]any); len(got) != 1 || got[0].(map[string]any)["confirmed"] != true {
		t.Errorf("PATCH instruments = %s", r.raw)
	}
	route := func(basis string) string {
		r := s.mustDo("GET", "/v1/routes:resolve?requestedState=UZ&requestType=DATA_PRESERVATION&priority=URGENT&legalBasis="+basis, prosecutor, nil, http.StatusOK)
		a, _ := r.body["agency"].(map[string]any)
		name, _ := a["name"].(string)
		return name
	}
	if got := route("UNTOC_2000"); got != "agencies/uz-gpo" {
		t.Errorf("urgent preservation under UNTOC goes to %s, want the designated agencies/uz-gpo", got)
	}
	if got := route(""); got != "agencies/uz-247" {
		t.Errorf("urgent preservation under no legal basis goes to %s, want agencies/uz-247", got)
	}
}
