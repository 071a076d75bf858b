package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// practiceBody is a complete request of type typ from KZ to the state to,
// as a kz-gpo prosecutor files it: the preservation of gatewaytest with
// the custodian and the announced follow-up a preservation needs.
func practiceBody(typ, to string) map[string]any {
	body := gatewaytest.Preservation()
	body["type"], body["requestedState"] = typ, to
	body["custodian"] = map[string]any{"provider": "Example Telecom LLC", "country": to, "service": "mobile internet",
		"accountReference": "contract 4471"}
	body["followUpIntended"] = map[string]any{"intended": true, "productionType": "TRAFFIC_DATA"}
	return body
}

// consolePracticeRequest makes a request of type typ to the state to
// through the API and takes it through actions (each a lifecycle action
// and its body, by kz-gpo's prosecutor for submit, kz-gpo's central
// authority for transmit and the central authority of the agency the
// request was routed to for the others: the 24/7 point for a preservation,
// the prosecutor general's office for a production); it returns the id and
// reference.
func consolePracticeRequest(t *testing.T, cs *consoleSuite, typ, to string, actions ...string) (id, ref string) {
	t.Helper()
	kzP := cs.token("kz-gpo", identity.Prosecutor)
	created := cs.do(http.MethodPost, "/v1/requests", kzP, practiceBody(typ, to))
	name, _ := created.body["name"].(string)
	ref, _ = created.body["reference"].(string)
	if created.status != http.StatusOK || name == "" {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	id = strings.TrimPrefix(name, "requests/")
	requested := cs.token(strings.TrimPrefix(created.body["requestedAgency"].(string), "agencies/"), identity.CentralAuthority)
	for _, a := range actions {
		tok, body := requested, map[string]any{}
		switch a {
		case "submit":
			tok = kzP
		case "transmit":
			tok = cs.token("kz-gpo", identity.CentralAuthority)
		case "accept":
			dc := "MET"
			if typ == "DATA_PRESERVATION" {
				dc = "NOT_REQUIRED"
			}
			body = map[string]any{"dualCriminality": dc, "humanRightsReview": map[string]any{"concerns": false}}
		case "execute":
			body = map[string]any{"responseSummary": "The connection logs of 3 to 5 March are preserved."}
		}
		authorityAPI(t, cs, tok, id, a, body)
	}
	return id, ref
}

// consolePracticeRead reads the request through the API as kz-gpo's
// central authority.
func consolePracticeRead(t *testing.T, cs *consoleSuite, id string) map[string]any {
	t.Helper()
	r := cs.do(http.MethodGet, "/v1/requests/"+id, cs.token("kz-gpo", identity.CentralAuthority), nil)
	if r.status != http.StatusOK {
		t.Fatalf("get %s: %d %s", id, r.status, r.raw)
	}
	return r.body
}

// offered says whether the request's page offers the user the action.
func offered(u *authorityUser, id, action string) bool {
	u.t.Helper()
	_, page := u.fetch("/requests/" + id)
	return strings.Contains(page, `data-action="`+action+`"`)
}

// checkOffered fails unless exactly the users of want are offered the
// action on the request's page.
func checkOffered(t *testing.T, id, action string, users map[string]*authorityUser, want ...string) {
	t.Helper()
	for who, u := range users {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == who
		}
		if got := offered(u, id, action); got != wanted {
			t.Errorf("%s is offered %s: %v, want %v", who, action, got, wanted)
		}
	}
}

// refusedAt sends the action's form and expects it back 400 with a
// complaint next to the field whose input id is given, and the texts
// kept.
func refusedAt(t *testing.T, u *authorityUser, id, action string, form url.Values, inputID string, kept ...string) string {
	t.Helper()
	page := u.refused(id, action, form, http.StatusBadRequest)
	if !strings.Contains(page, `id="`+inputID+`-error"`) {
		t.Errorf("%s: the refusal is not shown next to %s: %s", action, inputID, authorityMain(page))
	}
	for _, k := range kept {
		if !strings.Contains(page, k) {
			t.Errorf("%s: the refused form lost %q: %s", action, k, authorityMain(page))
		}
	}
	authorityTranslated(t, "the refused "+action+" page", page)
	return page
}

// TestConsolePractice drives the forms of issue 14 over HTTP through the
// real suite: each is offered only to who may take it, from the statuses
// it is allowed in; each shows the service's refusal (or the console's,
// of a value it cannot read) next to the field it names, with the input
// kept; each, filled in, does what it says and the request's page shows
// the result.
func TestConsolePractice(t *testing.T) {
	runConsolePractice(t, startConsoleSuite(t))
}

// TestConsolePracticePostgres is TestConsolePractice with the services'
// data in PostgreSQL (skipped without COMITY_TEST_POSTGRES).
func TestConsolePracticePostgres(t *testing.T) {
	runConsolePractice(t, startConsoleSuite(t, consoleSuiteOptions{suite: suiteOptions{postgres: true}}))
}

func runConsolePractice(t *testing.T, cs *consoleSuite) {
	kzP := authoritySignIn(t, cs, "kz-gpo", "prosecutor")
	kzCA := authoritySignIn(t, cs, "kz-gpo", "central_authority")
	uzCA := authoritySignIn(t, cs, "uz-247", "central_authority")
	uzGPO := authoritySignIn(t, cs, "uz-gpo", "central_authority")
	tjCA := authoritySignIn(t, cs, "tj-247", "central_authority")
	users := map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "uz CA": uzCA, "tj CA": tjCA}
	// Production requests go to UZ's prosecutor general's office.
	gpoUsers := map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "uz CA": uzGPO, "uz 24/7": uzCA, "tj CA": tjCA}

	t.Run("preservation", func(t *testing.T) {
		id, _ := consolePracticeRequest(t, cs, "DATA_PRESERVATION", "UZ", "submit", "transmit", "acknowledge", "accept", "execute")
		_, page := kzP.fetch("/requests/" + id)
		for _, want := range []string{`data-preservation="preserved"`, "Example Telecom LLC", "Ask for an extension by", "Traffic data"} {
			if !strings.Contains(page, want) {
				t.Errorf("the executed preservation's page lacks %q: %s", want, authorityMain(page))
			}
		}
		// The CIS 2018 agreement is not recorded as in force between KZ and
		// UZ (its status is unknown in the seed): both sides see the badge.
		for who, u := range map[string]*authorityUser{"kz prosecutor": kzP, "uz CA": uzCA} {
			if _, page := u.fetch("/requests/" + id); !strings.Contains(page, "data-legal-basis-unconfirmed") ||
				!strings.Contains(page, "Legal basis unconfirmed") {
				t.Errorf("the %s's page does not mark the legal basis unconfirmed: %s", who, authorityMain(page))
			}
		}
		checkOffered(t, id, "request_extension", users, "kz prosecutor", "kz CA")
		checkOffered(t, id, "release_preservation", users, "kz prosecutor", "kz CA")
		checkOffered(t, id, "disclose_chain", users, "uz CA")
		checkOffered(t, id, "grant_extension", users)

		refusedAt(t, kzP, id, "request_extension", url.Values{"days": {"thirty"}, "reason": {"Kept reason"}}, "days", ">Kept reason</textarea>", "Enter a whole number.")
		refusedAt(t, kzP, id, "request_extension", url.Values{"days": {"30"}, "reason": {""}}, "reason", `value="30"`)
		kzP.act(id, "request_extension", url.Values{"days": {"30"}, "reason": {"The production request needs a court order first."}},
			"The extension was asked for")
		checkOffered(t, id, "grant_extension", users, "uz CA")
		checkOffered(t, id, "decline_extension", users, "uz CA")
		checkOffered(t, id, "request_extension", users)
		_, form := uzCA.form(id, "grant_extension")
		if !strings.Contains(form, "data-about") || !strings.Contains(form, "The production request needs a court order first.") {
			t.Errorf("the grant page does not show the extension asked for: %s", authorityMain(form))
		}
		refusedAt(t, uzCA, id, "decline_extension", url.Values{"reason": {""}}, "reason")
		// A form read before someone else acted is refused as a conflict,
		// and the requesting side's forged grant is not allowed.
		if code, page, _ := uzCA.post("/requests/"+id+"/grant_extension", url.Values{"etag": {"stale"}}); code != http.StatusConflict ||
			!strings.Contains(page, "Someone changed this in the meantime") {
			t.Errorf("a stale grant answered %d: %s", code, authorityMain(page))
		}
		etag, _ := uzCA.form(id, "grant_extension")
		if code, page, _ := kzCA.post("/requests/"+id+"/grant_extension", url.Values{"etag": {etag}}); code != http.StatusForbidden ||
			!strings.Contains(page, "You are not allowed to do this") {
			t.Errorf("the requesting side's forged grant answered %d: %s", code, authorityMain(page))
		}
		before := consolePracticeRead(t, cs, id)["preservation"].(map[string]any)["expiresAt"].(string)
		uzCA.act(id, "grant_extension", nil, "The extension was granted.")
		after := consolePracticeRead(t, cs, id)["preservation"].(map[string]any)["expiresAt"].(string)
		b, _ := time.Parse(time.RFC3339, before)
		a, _ := time.Parse(time.RFC3339, after)
		if a.Sub(b) != 30*24*time.Hour {
			t.Errorf("the granted extension moved the expiry from %v to %v, want 30 days on", b, a)
		}
		if _, page := kzP.fetch("/requests/" + id); !strings.Contains(page, `data-extension="granted"`) {
			t.Errorf("the request's page does not show the granted extension: %s", authorityMain(page))
		}

		refusedAt(t, uzCA, id, "disclose_chain", url.Values{"provider": {"Pamir Telecom"}, "country": {"Tajikistan"},
			"explanation": {"Kept explanation"}}, "country", `value="Pamir Telecom"`, ">Kept explanation</textarea>")
		uzCA.act(id, "disclose_chain", url.Values{"provider": {"Pamir Telecom"}, "country": {"tj"},
			"explanation": {"The address 203.0.113.7 forwarded the traffic from a Pamir Telecom address."}},
			"The other provider was disclosed")
		if _, page := kzP.fetch("/requests/" + id); !strings.Contains(page, `data-chain="TJ"`) || !strings.Contains(page, "Pamir Telecom") {
			t.Errorf("the request's page does not show the chain disclosure: %s", authorityMain(page))
		}

		// The follow-up: the form proposes a preservation in TJ, where the
		// chain leads; nothing chosen is refused next to the type.
		checkOffered(t, id, "draft_follow_up", users, "kz prosecutor")
		_, form = kzP.form(id, "draft_follow_up")
		if !strings.Contains(form, `<option value="TJ" selected`) || !strings.Contains(form, `<option value="DATA_PRESERVATION" selected`) {
			t.Errorf("the follow-up form does not propose a preservation in TJ: %s", authorityMain(form))
		}
		refusedAt(t, kzP, id, "draft_follow_up", url.Values{"type": {""}, "requested_state": {"TJ"}}, "type")
		etag, _ = kzP.form(id, "draft_follow_up")
		code, _, loc := kzP.post("/requests/"+id+"/draft_follow_up", url.Values{"etag": {etag}, "type": {"DATA_PRESERVATION"},
			"requested_state": {"TJ"}, "request_id": {"follow-up-of-" + id}})
		if code != http.StatusSeeOther || !strings.HasSuffix(loc, "?done=draft_follow_up") || strings.Contains(loc, id) {
			t.Fatalf("the follow-up answered %d to %q, want the new draft's page", code, loc)
		}
		_, page = kzP.fetch(loc)
		for _, want := range []string{"The follow-up draft was made", "Made because of:", `href="/requests/` + id + `"`, "Draft", "KZ-CASE-2026-1187"} {
			if !strings.Contains(page, want) {
				t.Errorf("the follow-up draft's page lacks %q: %s", want, authorityMain(page))
			}
		}

		refusedAt(t, kzCA, id, "release_preservation", url.Values{"reason": {""}}, "reason")
		kzCA.act(id, "release_preservation", url.Values{"reason": {"The suspect was identified otherwise."}}, "The preservation was released")
		if _, page := uzCA.fetch("/requests/" + id); !strings.Contains(page, `data-preservation="released"`) || !strings.Contains(page, "The suspect was identified otherwise.") {
			t.Errorf("the requested side's page does not show the release: %s", authorityMain(page))
		}
		checkOffered(t, id, "release_preservation", users)
		checkOffered(t, id, "request_extension", users)
	})

	t.Run("execution", func(t *testing.T) {
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")
		for _, a := range []string{"notify_impediment", "postpone", "propose_conditions", "declare_confidentiality_impossible", "refuse", "accept"} {
			checkOffered(t, id, a, gpoUsers, "uz CA")
		}
		checkOffered(t, id, "resume", users)

		refusedAt(t, uzGPO, id, "notify_impediment", url.Values{"explanation": {"Kept explanation"}}, "kind", ">Kept explanation</textarea>")
		refusedAt(t, uzGPO, id, "notify_impediment", url.Values{"kind": {"SIGNIFICANT_DELAY"}, "explanation": {"x"}, "expected_time": {"next week"}},
			"expected_time", "Enter a date and time")
		uzGPO.act(id, "notify_impediment", url.Values{"kind": {"SIGNIFICANT_DELAY"}, "explanation": {"The provider answers within 20 days."},
			"expected_time": {time.Now().UTC().Add(20 * 24 * time.Hour).Format("2006-01-02T15:04")}}, "The impediment was reported")
		if got := authorityStatus(t, cs, id); got != "ACKNOWLEDGED" {
			t.Errorf("after the impediment the request is %s, want it unchanged", got)
		}
		if _, page := kzP.fetch("/requests/" + id); !strings.Contains(page, "Execution will be significantly delayed") ||
			!strings.Contains(page, "The provider answers within 20 days.") {
			t.Errorf("the requesting side's page does not show the impediment: %s", authorityMain(page))
		}

		refusedAt(t, uzGPO, id, "postpone", url.Values{"reason": {"Kept reason"}}, "until", ">Kept reason</textarea>")
		uzGPO.act(id, "postpone", url.Values{"until": {time.Now().UTC().Add(10 * 24 * time.Hour).Format("2006-01-02T15:04")},
			"reason": {"A domestic search is planned."}}, "Execution was postponed")
		if got := authorityStatus(t, cs, id); got != "POSTPONED" {
			t.Fatalf("after the postponement the request is %s", got)
		}
		checkOffered(t, id, "resume", gpoUsers, "uz CA")
		checkOffered(t, id, "postpone", users)
		if _, page := kzP.fetch("/requests/" + id); !strings.Contains(page, "data-postponement") || !strings.Contains(page, "A domestic search is planned.") {
			t.Errorf("the requesting side's page does not show the postponement: %s", authorityMain(page))
		}
		etag, _ := uzGPO.form(id, "resume")
		if code, page, _ := kzCA.post("/requests/"+id+"/resume", url.Values{"etag": {etag}}); code != http.StatusForbidden {
			t.Errorf("the requesting side's forged resumption answered %d: %s", code, authorityMain(page))
		}
		uzGPO.act(id, "resume", nil, "Execution was resumed.")
		if got := authorityStatus(t, cs, id); got != "ACKNOWLEDGED" {
			t.Fatalf("after the resumption the request is %s", got)
		}

		refusedAt(t, uzGPO, id, "propose_conditions", url.Values{"conditions_rows": {"3"}, "conditions[1].kind": {"USE_ONLY_STATED_PROCEEDINGS"},
			"conditions[1].text": {"Kept condition"}, "cost.kind": {"EXTRAORDINARY"}, "cost.estimate": {"1500.00"}, "cost.currency": {"tenge"}},
			"cost-currency", `value="Kept condition"`, `value="1500.00"`)
		uzGPO.act(id, "propose_conditions", url.Values{"conditions_rows": {"3"}, "conditions[1].kind": {"USE_ONLY_STATED_PROCEEDINGS"},
			"conditions[1].text": {"Only in case KZ-CASE-2026-1187."}, "cost.kind": {"EXTRAORDINARY"}, "cost.estimate": {"1500.00"},
			"cost.currency": {"KZT"}, "cost.bearer": {"the requesting state"}}, "The conditions were proposed")
		checkOffered(t, id, "accept_conditions", gpoUsers, "kz prosecutor", "kz CA")
		checkOffered(t, id, "reject_conditions", gpoUsers, "kz prosecutor", "kz CA")
		_, form := kzP.form(id, "accept_conditions")
		for _, want := range []string{"Only in case KZ-CASE-2026-1187.", "1500.00 KZT", "Extraordinary costs"} {
			if !strings.Contains(form, want) {
				t.Errorf("the accept-conditions page lacks %q: %s", want, authorityMain(form))
			}
		}
		refusedAt(t, kzP, id, "reject_conditions", url.Values{"reason": {""}}, "reason")
		if code, page, _ := kzP.post("/requests/"+id+"/accept_conditions", url.Values{"etag": {"stale"}}); code != http.StatusConflict ||
			!strings.Contains(page, `data-status="conditions_proposed"`) {
			t.Errorf("a stale acceptance of the conditions answered %d: %s", code, authorityMain(page))
		}
		kzP.act(id, "accept_conditions", nil, "The conditions were accepted")
		if got := authorityStatus(t, cs, id); got != "ACCEPTED" {
			t.Fatalf("after the conditions' acceptance the request is %s", got)
		}
		if _, page := uzGPO.fetch("/requests/" + id); !strings.Contains(page, "Accepted: the conditions bind") {
			t.Errorf("the requested side's page does not show the accepted conditions: %s", authorityMain(page))
		}

		refusedAt(t, uzGPO, id, "declare_confidentiality_impossible", url.Values{"explanation": {""}}, "explanation")
		uzGPO.act(id, "declare_confidentiality_impossible", url.Values{"explanation": {"The provider must tell the account holder."}},
			"confidentiality cannot be kept")
		checkOffered(t, id, "proceed", gpoUsers, "kz prosecutor", "kz CA")
		checkOffered(t, id, "withdraw", gpoUsers, "kz prosecutor")
		kzCA.act(id, "proceed", nil, "You chose to proceed")
		if got := authorityStatus(t, cs, id); got != "ACCEPTED" {
			t.Fatalf("after proceeding the request is %s", got)
		}

		// Item by item: the form has a row per identifier and data
		// category; the service's complaint about the second row sent is
		// shown on that row of the form.
		_, form = uzGPO.form(id, "execute")
		for _, want := range []string{`name="items[0].identifier_index"`, `value="connection logs"`, `value="subscriber of the address"`, `name="items_rows" value="3"`} {
			if !strings.Contains(form, want) {
				t.Errorf("the execute form lacks %s: %s", want, authorityMain(form))
			}
		}
		items := func(first, second string) url.Values {
			return url.Values{"items_rows": {"3"},
				"items[0].identifier_index": {"0"}, "items[0].data_category": {"connection logs"}, "items[0].outcome": {first},
				"items[1].identifier_index": {"0"}, "items[1].data_category": {"subscriber of the address"}, "items[1].outcome": {second},
				"items[1].reason": {"Kept item reason"}, "items[2].identifier_index": {"0"}}
		}
		form2 := items("", "PROVIDED")
		form2.Set("items[1].identifier_index", "two")
		refusedAt(t, uzGPO, id, "execute", form2, "items-1-identifier_index", `value="Kept item reason"`)
		form2 = items("", "PROVIDED")
		form2.Set("items[1].identifier_index", "7")
		form2.Set("response_summary", "Part of the data.")
		form2.Set("partial", "true")
		refusedAt(t, uzGPO, id, "execute", form2, "items-1-identifier_index", `value="Kept item reason"`)
		form2 = items("PROVIDED", "")
		form2.Set("response_summary", "The connection logs.")
		form2.Set("partial", "true")
		uzGPO.act(id, "execute", form2, "The execution was recorded.")
		if got := authorityStatus(t, cs, id); got != "PARTIALLY_EXECUTED" {
			t.Fatalf("after the partial delivery the request is %s", got)
		}
		form2 = items("", "NOT_RETAINED")
		form2.Set("response_summary", "The subscriber records are no longer kept.")
		uzGPO.act(id, "execute", form2, "The execution was recorded.")
		_, page := kzP.fetch("/requests/" + id)
		for _, want := range []string{`data-delivery="1"`, `data-delivery="2"`, `data-outcome="PROVIDED"`, `data-outcome="NOT_RETAINED"`, "No longer retained"} {
			if !strings.Contains(page, want) {
				t.Errorf("the executed request's page lacks %s: %s", want, authorityMain(page))
			}
		}
	})

	t.Run("refusal after consultation", func(t *testing.T) {
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")
		refusedAt(t, uzGPO, id, "refuse", url.Values{"grounds": {"DOMESTIC_LAW_PROHIBITS"}, "explanation": {"Kept explanation"}},
			"consultation", ">Kept explanation</textarea>")
		refusedAt(t, uzGPO, id, "refuse", url.Values{"grounds": {"DOMESTIC_LAW_PROHIBITS"}, "explanation": {"x"},
			"consultation.note": {"Kept note"}, "consultation.time": {"yesterday"}}, "consultation-time", ">Kept note</textarea>")
		uzGPO.act(id, "refuse", url.Values{"grounds": {"DOMESTIC_LAW_PROHIBITS"}, "explanation": {"The measure needs a court order we cannot get."},
			"consultation.note": {"Partial execution was discussed with the KZ central authority."},
			"consultation.time": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}}, "The request was refused.")
		if got := authorityStatus(t, cs, id); got != "REFUSED" {
			t.Errorf("after the refusal the request is %s", got)
		}
	})

	t.Run("transfer", func(t *testing.T) {
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit")
		checkOffered(t, id, "transfer_ownership", users, "kz prosecutor", "kz CA")
		refusedAt(t, kzCA, id, "transfer_ownership", url.Values{"owner": {""}, "reason": {"Kept reason"}}, "owner", ">Kept reason</textarea>")
		kzCA.act(id, "transfer_ownership", url.Values{"owner": {"prosecutor-2"}, "reason": {"On leave."}}, "handed to its new owner")
		if got, _ := consolePracticeRead(t, cs, id)["owner"].(string); got != "prosecutor-2" {
			t.Errorf("after the transfer the owner is %q", got)
		}
	})

	t.Run("recorded from a call", func(t *testing.T) {
		kgCA := authoritySignIn(t, cs, "kg-247", "central_authority")
		if _, page := kgCA.fetch("/"); !strings.Contains(page, `href="/requests/oral"`) {
			t.Errorf("the central authority's navigation does not lead to the recording form")
		}
		if _, page := kzP.fetch("/"); strings.Contains(page, `href="/requests/oral"`) {
			t.Errorf("a prosecutor's navigation leads to the recording form")
		}
		if code, page := kzP.fetch("/requests/oral"); code != http.StatusForbidden || !strings.Contains(page, "24/7 contact point or central authority") {
			t.Errorf("a prosecutor's recording form answered %d: %s", code, authorityMain(page))
		}
		form := url.Values{"request_id": {"oral-call-1"}, "identifier_rows": {"1"}, "person_rows": {"1"},
			"type": {"DATA_PRESERVATION"}, "priority": {"EMERGENCY"}, "emergency_reason": {"A child is at risk."},
			"intake.channel": {"PHONE"}, "intake.received_time": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")},
			"intake.caller": {""}, "facts_summary": {"Kept facts"}}
		code, page, _ := kgCA.post("/requests/oral", form)
		if code != http.StatusBadRequest || !strings.Contains(page, `id="requesting_agency-error"`) || !strings.Contains(page, ">Kept facts</textarea>") {
			t.Errorf("a recording without the requesting agency answered %d: %s", code, authorityMain(page))
		}
		authorityTranslated(t, "the refused recording", page)
		form.Set("requesting_agency", "kz-gpo")
		code, page, _ = kgCA.post("/requests/oral", form)
		if code != http.StatusBadRequest || !strings.Contains(page, `id="intake-caller-error"`) || !strings.Contains(page, `<option value="kz-gpo" selected`) {
			t.Errorf("a recording without the caller answered %d: %s", code, authorityMain(page))
		}
		form.Set("intake.caller", "Major A. Karimov, KZ GPO duty officer")
		code, _, loc := kgCA.post("/requests/oral", form)
		if code != http.StatusSeeOther || !strings.HasSuffix(loc, "?done=record_oral") {
			t.Fatalf("the recording answered %d to %q", code, loc)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(loc, "/requests/"), "?done=record_oral")
		_, page = kgCA.fetch(loc)
		for _, want := range []string{"The urgent request was recorded", "data-unconfirmed", "Written confirmation due by", "By telephone", "Major A. Karimov"} {
			if !strings.Contains(page, want) {
				t.Errorf("the recorded request's page lacks %q: %s", want, authorityMain(page))
			}
		}
		checkOffered(t, id, "confirm", map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "kg CA": kgCA}, "kz prosecutor")
		// Without an owner yet, it is the requesting state's central
		// authority that may withdraw it.
		checkOffered(t, id, "withdraw", map[string]*authorityUser{"kz prosecutor": kzP, "kz CA": kzCA, "kg CA": kgCA}, "kz CA")

		// The confirmation is the draft's form, prefilled; what the
		// safeguards still miss is refused next to its field.
		code, page = kzP.fetch("/requests/" + id + "/confirm")
		if code != http.StatusOK || !strings.Contains(page, "A child is at risk.") || !strings.Contains(page, `action="/requests/`+id+`/confirm"`) {
			t.Fatalf("the confirmation form answered %d: %s", code, authorityMain(page))
		}
		etag := authorityEtag.FindStringSubmatch(page)
		if etag == nil {
			t.Fatalf("the confirmation form has no etag: %s", authorityMain(page))
		}
		body := practiceBody("DATA_PRESERVATION", "KG")
		complete := url.Values{"etag": {etag[1]}, "identifier_rows": {"1"}, "person_rows": {"1"}, "type": {"DATA_PRESERVATION"},
			"priority": {"EMERGENCY"}, "emergency_reason": {"A child is at risk."}, "legal_basis": {"CIS_IT_CRIME_AGREEMENT_2018"},
			"offence.description":         {body["offence"].(map[string]any)["description"].(string)},
			"offence.legal_qualification": {"Article 205"}, "offence.maximum_penalty_years": {"7"},
			"facts_summary": {"The child's account was taken over."}, "identifiers[0].kind": {"IP_ADDRESS"},
			"identifiers[0].value": {"203.0.113.7"}, "necessity_and_proportionality": {body["necessityAndProportionality"].(string)},
			"language": {"ru"}, "custodian.provider": {"Example Telecom LLC"}, "custodian.country": {"KG"},
			"follow_up_intended.intended": {"true"}, "follow_up_intended.production_type": {"TRAFFIC_DATA"}}
		missing := url.Values{}
		for k, v := range complete {
			missing[k] = v
		}
		missing.Del("custodian.provider")
		code, page, _ = kzP.post("/requests/"+id+"/confirm", missing)
		if code != http.StatusBadRequest || !strings.Contains(fieldComplaint(page, "custodian-provider"), "A preservation must name the provider holding the data.") {
			t.Errorf("a confirmation without the custodian answered %d: %s", code, authorityMain(page))
		}
		code, page, loc = kzP.post("/requests/"+id+"/confirm", complete)
		if code != http.StatusSeeOther || loc != "/requests/"+id+"?done=confirm" {
			t.Fatalf("the confirmation answered %d to %q: %s", code, loc, authorityMain(page))
		}
		_, page = kzP.fetch(loc)
		if !strings.Contains(page, "confirmed in writing") || strings.Contains(page, "data-unconfirmed") {
			t.Errorf("the confirmed request's page: %s", authorityMain(page))
		}
	})

	t.Run("draft content", func(t *testing.T) {
		u := cs.signInHTTP(t, "kz-gpo", "prosecutor")
		prior, _ := consolePracticeRequest(t, cs, "DATA_PRESERVATION", "UZ")
		v := draftValues("draft-content-1", goodNecessity)
		for k, val := range map[string]string{
			"custodian.provider": "Example Telecom LLC", "custodian.country": "uz", "custodian.service": "mobile internet",
			"custodian.account_reference": "contract 4471", "follow_up_intended.intended": "true",
			"follow_up_intended.production_type": "TRAFFIC_DATA", "persons[0].full_name": "Example Trade LLP",
			"persons[0].kind": "LEGAL", "persons[0].registration_number": "BIN 123456789012",
			"persons[0].registered_address": "Almaty, Abay avenue 1", "persons[0].representatives": "A. Seitkali; director; Almaty",
			"investigating_authority.name":        "Investigation department of the Almaty police",
			"investigating_authority.case_number": "2026-0199", "purpose": "To identify the intruder.",
			"requested_procedure.format": "CSV export", "requested_procedure.certification": "Certified by the provider",
			"contact.full_name": "A. Nurlanov", "contact.phone": "+77172000000", "contact.email": "a.nurlanov@example.kz",
			"contact.time_zone": "Asia/Almaty", "confidentiality.request": "true", "confidentiality.reason": "The suspect must not learn of it.",
			"related_rows": "1", "related_requests[0].request": prior,
		} {
			v.Set(k, val)
		}
		p := u.post("/requests/new", v, nil)
		if p.status != http.StatusBadRequest || fieldComplaint(p.body, "related_requests-0-kind") == "" {
			t.Errorf("a relation without its kind answered %d, want 400 with the complaint next to it: %s", p.status, authorityMain(p.body))
		}
		if !strings.Contains(p.body, `value="Example Telecom LLC"`) || !strings.Contains(p.body, `value="`+prior+`"`) {
			t.Errorf("the refused draft lost its input: %s", authorityMain(p.body))
		}
		v.Set("related_requests[0].kind", "EXTENSION_OF")
		p = u.post("/requests/new", v, nil)
		m := draftIDPattern.FindStringSubmatch(p.location)
		if p.status != http.StatusSeeOther || m == nil {
			t.Fatalf("the draft answered %d to %q: %s", p.status, p.location, authorityMain(p.body))
		}
		edit := u.get(p.location)
		for _, want := range []string{`<option value="LEGAL" selected`, `<option value="EXTENSION_OF" selected`, `value="BIN 123456789012"`,
			`>A. Seitkali; director; Almaty</textarea>`, `value="UZ"`, `<option value="TRAFFIC_DATA" selected`, `value="Asia/Almaty"`,
			`name="confidentiality.request" value="true" checked`} {
			if !strings.Contains(edit.body, want) {
				t.Errorf("the saved draft's form lacks %s", want)
			}
		}
		page := u.get("/requests/" + m[1])
		for _, want := range []string{"Example Telecom LLC", "Extends:", `href="/requests/` + prior + `"`, "Legal person", "2026-0199",
			"CSV export", "a.nurlanov@example.kz", "the request itself; The suspect must not learn of it.", "Traffic data"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the draft's page lacks %q", want)
			}
		}
	})

	t.Run("Russian", func(t *testing.T) {
		ru := authoritySignIn(t, cs, "uz-gpo", "central_authority")
		if code, _, _ := ru.post("/language", url.Values{"lang": {"ru"}, "return": {"/"}}); code != http.StatusSeeOther {
			t.Fatalf("the language choice answered %d", code)
		}
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")
		for _, a := range practiceActionIDs {
			code, page := ru.fetch("/requests/" + id + "/" + a)
			if code != http.StatusOK {
				t.Errorf("the Russian %s page answered %d: %s", a, code, authorityMain(page))
			}
			authorityTranslated(t, "the Russian "+a+" page", page)
		}
		if code, page := ru.fetch("/requests/oral"); code != http.StatusOK || !strings.Contains(page, "Запись срочного запроса") {
			t.Errorf("the Russian recording form answered %d: %s", code, authorityMain(page))
		}
	})
}

// practiceActionIDs are the action pages of issue 14.
var practiceActionIDs = []string{"request_extension", "grant_extension", "decline_extension", "release_preservation",
	"disclose_chain", "draft_follow_up", "notify_impediment", "postpone", "resume", "propose_conditions",
	"accept_conditions", "reject_conditions", "declare_confidentiality_impossible", "proceed", "transfer_ownership"}
