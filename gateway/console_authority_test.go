package gateway_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// authorityUser is a console session driven over plain HTTP, as a browser
// without scripts would: the central authority's pages are forms and links.
type authorityUser struct {
	*consoleUser
}

// authoritySignIn signs in to the console through the development provider
// as a user of agency with role.
func authoritySignIn(t *testing.T, cs *consoleSuite, agency, role string) *authorityUser {
	t.Helper()
	return &authorityUser{cs.signInHTTP(t, agency, role)}
}

// post sends a form to path as the console's own page would (same
// origin), without following a redirect.
func (u *authorityUser) post(path string, form url.Values) (code int, page, location string) {
	u.t.Helper()
	p := u.consoleUser.post(path, form, http.Header{"Origin": {u.base}, "Sec-Fetch-Site": {"same-origin"}})
	return p.status, p.body, p.location
}

var authorityEtag = regexp.MustCompile(`name="etag" value="([^"]*)"`)

// form opens the action's page and returns its etag and page.
func (u *authorityUser) form(id, action string) (etag, page string) {
	u.t.Helper()
	code, page := u.fetch("/requests/" + id + "/" + action)
	if code != http.StatusOK {
		u.t.Fatalf("the %s page of %s answered %d: %s", action, id, code, authorityMain(page))
	}
	m := authorityEtag.FindStringSubmatch(page)
	if m == nil {
		u.t.Fatalf("the %s page of %s has no form with an etag: %s", action, id, authorityMain(page))
	}
	return html.UnescapeString(m[1]), page
}

// act fills and sends the action's form as it was rendered and expects
// the redirect to the request's page with its confirmation.
func (u *authorityUser) act(id, action string, form url.Values, confirmation string) {
	u.t.Helper()
	etag, _ := u.form(id, action)
	if form == nil {
		form = url.Values{}
	}
	form.Set("etag", etag)
	code, page, loc := u.post("/requests/"+id+"/"+action, form)
	if code != http.StatusSeeOther || loc != "/requests/"+id+"?done="+action {
		u.t.Fatalf("%s of %s answered %d to %q: %s", action, id, code, loc, authorityMain(page))
	}
	if _, page := u.fetch(loc); !strings.Contains(page, confirmation) {
		u.t.Errorf("after %s the request's page does not confirm %q: %s", action, confirmation, authorityMain(page))
	}
}

// refused sends the action's form with the current etag and expects it
// back with code.
func (u *authorityUser) refused(id, action string, form url.Values, code int) string {
	u.t.Helper()
	etag, _ := u.form(id, action)
	form.Set("etag", etag)
	got, page, loc := u.post("/requests/"+id+"/"+action, form)
	if got != code {
		u.t.Fatalf("%s of %s answered %d (%q), want %d: %s", action, id, got, loc, code, authorityMain(page))
	}
	return page
}

// authorityMain is the page's main element, for failure messages.
func authorityMain(page string) string {
	if i := strings.Index(page, "<main"); i >= 0 {
		page = page[i:]
	}
	return page
}

// authoritySection is the queue's section of the authority page.
func authoritySection(page, queue string) string {
	i := strings.Index(page, `data-queue="`+queue+`"`)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// authoritySubmitted creates a complete preservation request to the state
// to through the API as the kz-gpo prosecutor and submits it; it returns
// its id and reference.
func authoritySubmitted(t *testing.T, cs *consoleSuite, to string) (id, ref string) {
	t.Helper()
	kz := cs.token("kz-gpo", identity.Prosecutor)
	body := gatewaytest.Preservation()
	body["requestedState"] = to
	created := cs.do(http.MethodPost, "/v1/requests", kz, body)
	name, _ := created.body["name"].(string)
	ref, _ = created.body["reference"].(string)
	if created.status != http.StatusOK || name == "" {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	if r := cs.do(http.MethodPost, "/v1/"+name+":submit", kz, map[string]any{}); r.status != http.StatusOK || r.body["status"] != "SUBMITTED" {
		t.Fatalf("submit: %d %s", r.status, r.raw)
	}
	return strings.TrimPrefix(name, "requests/"), ref
}

// authorityStatus is the request's status as the API reads it.
func authorityStatus(t *testing.T, cs *consoleSuite, id string) string {
	t.Helper()
	r := cs.do(http.MethodGet, "/v1/requests/"+id, cs.token("kz-gpo", identity.CentralAuthority), nil)
	if r.status != http.StatusOK {
		t.Fatalf("get %s: %d %s", id, r.status, r.raw)
	}
	s, _ := r.body["status"].(string)
	return s
}

// authorityAPI takes an action through the API, for the setup of a test.
func authorityAPI(t *testing.T, cs *consoleSuite, token, id, action string, body map[string]any) {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if r := cs.do(http.MethodPost, "/v1/requests/"+id+":"+action, token, body); r.status != http.StatusOK {
		t.Fatalf("%s of %s: %d %s", action, id, r.status, r.raw)
	}
}

// authorityUntranslated matches a message id of the central authority's
// pages shown as such.
var authorityUntranslated = regexp.MustCompile(`\b(authority|action|refusal|deadline|field|status|error)\.[A-Za-z_.]+[A-Za-z]`)

// authorityTranslated fails when the page's main part shows a message id.
func authorityTranslated(t *testing.T, what, page string) {
	t.Helper()
	if m := authorityUntranslated.FindString(authorityMain(page)); m != "" {
		t.Errorf("%s shows the message id %q untranslated", what, m)
	}
}

// TestConsoleAuthority drives the central authority's queues and action
// pages over HTTP through the real suite: each action's happy path, the
// service's refusals shown next to their fields with the input kept, the
// safeguards check of a transmission, a stale form refused as a conflict
// with nothing changed, and users of the other state or without the role
// offered no action and refused by the service on a forged post.
func TestConsoleAuthority(t *testing.T) {
	cs := startConsoleSuite(t)
	kzCA := authoritySignIn(t, cs, "kz-gpo", "central_authority")
	uzCA := authoritySignIn(t, cs, "uz-247", "central_authority")
	kzProsecutor := authoritySignIn(t, cs, "kz-gpo", "prosecutor")
	tjCA := authoritySignIn(t, cs, "tj-gpo", "central_authority")
	kzToken := cs.token("kz-gpo", identity.CentralAuthority)
	uzToken := cs.token("uz-247", identity.CentralAuthority)

	id, ref := authoritySubmitted(t, cs, "UZ")

	// A request to KG, submitted while kg-247 accepts Russian, which it
	// then no longer does: its transmission fails the safeguards (the
	// safeguards subtest, last, so that the directory's change has time to
	// reach the request service).
	bid, _ := authoritySubmitted(t, cs, "KG")
	kgAdmin := cs.token("kg-gpo", identity.DirectoryAdmin)
	if r := cs.do(http.MethodPatch, "/v1/agencies/kg-247?updateMask=acceptedLanguages", kgAdmin,
		cs.withEtag("kg-247", kgAdmin, map[string]any{"acceptedLanguages": []string{"ky"}})); r.status != http.StatusOK {
		t.Fatalf("kg-247's languages: %d %s", r.status, r.raw)
	}

	t.Run("queues", func(t *testing.T) {
		code, page := kzCA.fetch("/authority")
		if code != http.StatusOK {
			t.Fatalf("/authority answered %d: %s", code, authorityMain(page))
		}
		if !strings.Contains(authoritySection(page, "outgoing"), `data-request="`+ref+`"`) {
			t.Errorf("the KZ central authority's outgoing queue lacks the submitted %s: %s", ref, authorityMain(page))
		}
		for _, q := range []string{"acknowledge", "decide", "execute", "preservations"} {
			if authoritySection(page, q) == "" {
				t.Errorf("the authority page has no %s queue", q)
			}
		}
		authorityTranslated(t, "the authority page", page)
		if _, page := uzCA.fetch("/authority"); strings.Contains(page, ref) {
			t.Errorf("the UZ central authority's queues show %s before it is transmitted", ref)
		}
	})

	t.Run("Russian", func(t *testing.T) {
		// The language menu's choice outweighs the browser's language.
		ru := authoritySignIn(t, cs, "kz-gpo", "central_authority")
		if code, _, _ := ru.post("/language", url.Values{"lang": {"ru"}, "return": {"/authority"}}); code != http.StatusSeeOther {
			t.Fatalf("the language choice answered %d", code)
		}
		_, page := ru.fetch("/authority")
		if !strings.Contains(page, "Исходящие: направить или вернуть") {
			t.Errorf("the Russian authority page is not in Russian: %s", authorityMain(page))
		}
		authorityTranslated(t, "the Russian authority page", page)
		// Every action's page, whatever the request's status: each shows
		// its form, whose labels, hints and options are all translated.
		for _, a := range []string{"transmit", "return", "acknowledge", "clarify", "accept", "refuse", "execute", "extend"} {
			for lang, u := range map[string]*authorityUser{"Russian": ru, "English": kzCA} {
				code, page := u.fetch("/requests/" + id + "/" + a)
				if code != http.StatusOK {
					t.Errorf("the %s %s page answered %d: %s", lang, a, code, authorityMain(page))
				}
				authorityTranslated(t, "the "+lang+" "+a+" page", page)
			}
		}
		if _, page := ru.fetch("/requests/" + id + "/refuse"); !strings.Contains(page, "Политическое преступление") {
			t.Errorf("the Russian refusal does not name its grounds in Russian: %s", authorityMain(page))
		}
	})

	t.Run("who may act", func(t *testing.T) {
		if code, page := kzProsecutor.fetch("/authority"); code != http.StatusForbidden || !strings.Contains(page, "This page is for central authorities") {
			t.Errorf("a prosecutor's /authority answered %d: %s", code, authorityMain(page))
		}
		if _, page := kzCA.fetch("/requests/" + id); !strings.Contains(page, `data-action="transmit"`) || !strings.Contains(page, `data-action="return"`) {
			t.Errorf("the KZ central authority is not offered transmit and return: %s", authorityMain(page))
		}
		_, page := kzProsecutor.fetch("/requests/" + id)
		if strings.Contains(page, `data-action="transmit"`) || strings.Contains(page, `data-action="return"`) {
			t.Errorf("the prosecutor is offered the central authority's actions: %s", authorityMain(page))
		}
		etag, _ := kzCA.form(id, "transmit")
		code, page, _ := kzProsecutor.post("/requests/"+id+"/transmit", url.Values{"etag": {etag}})
		if code != http.StatusForbidden || !strings.Contains(page, "You are not allowed to do this") ||
			!strings.Contains(page, "only the requesting state&#39;s central authority may transmit") {
			t.Errorf("a prosecutor's forged transmit answered %d: %s", code, authorityMain(page))
		}
		for _, u := range []*authorityUser{tjCA, uzCA} {
			if code, page := u.fetch("/requests/" + id); code != http.StatusNotFound || strings.Contains(page, ref) {
				t.Errorf("another state's central authority opens the submitted request: %d", code)
			}
			code, page, _ := u.post("/requests/"+id+"/transmit", url.Values{"etag": {etag}})
			if code != http.StatusNotFound || !strings.Contains(page, "does not exist or is not visible to you") {
				t.Errorf("another state's forged transmit answered %d: %s", code, authorityMain(page))
			}
		}
		if got := authorityStatus(t, cs, id); got != "SUBMITTED" {
			t.Fatalf("after refused posts the request is %s", got)
		}
	})

	t.Run("transmit", func(t *testing.T) {
		_, page := kzCA.form(id, "transmit")
		if !strings.Contains(page, `data-check="passed"`) || !strings.Contains(page, "Every safeguard is met") {
			t.Errorf("the transmit page does not show the passed safeguards check: %s", authorityMain(page))
		}
		kzCA.act(id, "transmit", nil, "The request was transmitted to the requested agency.")
		if got := authorityStatus(t, cs, id); got != "TRANSMITTED" {
			t.Fatalf("after the transmission the request is %s", got)
		}
	})

	t.Run("acknowledge", func(t *testing.T) {
		_, page := uzCA.fetch("/authority")
		q := authoritySection(page, "acknowledge")
		if !strings.Contains(q, `data-request="`+ref+`"`) {
			t.Fatalf("the UZ acknowledge queue lacks %s: %s", ref, authorityMain(page))
		}
		if !strings.Contains(q, "Acknowledge by") || !strings.Contains(q, " UTC") || !strings.Contains(q, "(KZ)") || !strings.Contains(q, "(UZ)") {
			t.Errorf("the queue does not show the acknowledgement deadline in UTC and both zones: %s", q)
		}
		if _, page := kzCA.fetch("/requests/" + id); strings.Contains(page, `data-action="acknowledge"`) {
			t.Error("the requesting side is offered the acknowledgement")
		}
		_, form := uzCA.form(id, "acknowledge")
		if !strings.Contains(form, "Acknowledge by") || !strings.Contains(form, "Asia/Tashkent") || !strings.Contains(form, "(KZ)") {
			t.Errorf("the acknowledge page lacks its deadline in UTC and both zones: %s", authorityMain(form))
		}
		// A forged acknowledgement by the requesting side is refused.
		etag, _ := uzCA.form(id, "acknowledge")
		if code, page, _ := kzCA.post("/requests/"+id+"/acknowledge", url.Values{"etag": {etag}}); code != http.StatusForbidden {
			t.Errorf("the KZ central authority's forged acknowledgement answered %d: %s", code, authorityMain(page))
		}
		uzCA.act(id, "acknowledge", nil, "Receipt of the request was acknowledged.")
	})

	t.Run("clarify", func(t *testing.T) {
		page := uzCA.refused(id, "clarify", url.Values{"questions": {"   "}}, http.StatusBadRequest)
		if !strings.Contains(page, `id="questions-error"`) || !strings.Contains(page, `aria-invalid="true"`) {
			t.Errorf("empty questions are not refused next to their field: %s", authorityMain(page))
		}
		uzCA.act(id, "clarify", url.Values{"questions": {"Which time zone are the log times in?"}}, "Your questions were sent")
		authorityAPI(t, cs, cs.token("kz-gpo", identity.Prosecutor), id, "provideClarification", map[string]any{"answers": "UTC+5."})
		if _, page := uzCA.fetch("/authority"); !strings.Contains(authoritySection(page, "decide"), ref) {
			t.Errorf("the answered request is not in the decide queue: %s", authorityMain(page))
		}
	})

	t.Run("refusals of accept and refuse", func(t *testing.T) {
		page := uzCA.refused(id, "refuse", url.Values{"explanation": {"Kept explanation"}}, http.StatusBadRequest)
		if !strings.Contains(page, `id="grounds-error"`) || !strings.Contains(page, "at least one ground for refusal is required") {
			t.Errorf("a refusal without grounds is not refused next to the grounds: %s", authorityMain(page))
		}
		if !strings.Contains(page, ">Kept explanation</textarea>") {
			t.Errorf("the refused form lost the explanation: %s", authorityMain(page))
		}
		page = uzCA.refused(id, "accept", url.Values{"concerns": {"yes"}, "conditions": {"Kept conditions"}}, http.StatusBadRequest)
		for _, want := range []string{`id="dual-criminality-error"`, `id="note-error"`, ">Kept conditions</textarea>", `value="yes" checked`} {
			if !strings.Contains(page, want) {
				t.Errorf("an acceptance without assessments: the form lacks %s: %s", want, authorityMain(page))
			}
		}
		page = uzCA.refused(id, "accept", url.Values{"dual_criminality": {"NOT_REQUIRED"}}, http.StatusBadRequest)
		if !strings.Contains(page, `id="review-error"`) || !strings.Contains(page, "the human-rights review is required") {
			t.Errorf("an acceptance without the review is not refused next to it: %s", authorityMain(page))
		}
		if got := authorityStatus(t, cs, id); got != "ACKNOWLEDGED" {
			t.Fatalf("after refused forms the request is %s", got)
		}
	})

	t.Run("accept, execute, extend", func(t *testing.T) {
		uzCA.act(id, "accept", url.Values{"dual_criminality": {"NOT_REQUIRED"}, "concerns": {"no"}, "conditions": {"For case KZ-CASE-2026-1187 only."}},
			"The request was accepted for execution.")
		page := uzCA.refused(id, "execute", url.Values{"partial": {"true"}}, http.StatusBadRequest)
		if !strings.Contains(page, `id="response_summary-error"`) || !strings.Contains(page, `name="partial" value="true" checked`) {
			t.Errorf("an execution without a summary is not refused next to it with the input kept: %s", authorityMain(page))
		}
		if _, page := uzCA.fetch("/authority"); !strings.Contains(authoritySection(page, "execute"), ref) {
			t.Errorf("the accepted request is not in the execute queue")
		}
		ev := cs.client().Upload("/v1/requests/"+id, uzToken, "EVIDENCE", "", "preserved-logs.pdf", []byte("%PDF-1.7 preserved logs"), nil)
		evidence, _ := ev.Body["name"].(string)
		if ev.Status != http.StatusOK || evidence == "" {
			t.Fatalf("upload of the evidence: %d %s", ev.Status, ev.Raw)
		}
		_, form := uzCA.form(id, "execute")
		if !strings.Contains(form, `value="`+evidence+`"`) || !strings.Contains(form, "preserved-logs.pdf (evidence)") {
			t.Errorf("the execute page does not offer the uploaded evidence: %s", authorityMain(form))
		}
		page = uzCA.refused(id, "execute", url.Values{"response_summary": {"Kept summary"}, "attachments": {"requests/elsewhere/attachments/x"}}, http.StatusBadRequest)
		if !strings.Contains(page, `id="attachments-error"`) || !strings.Contains(page, ">Kept summary</textarea>") {
			t.Errorf("an execution naming another request's attachment is not refused next to the attachments: %s", authorityMain(page))
		}
		uzCA.act(id, "execute", url.Values{"response_summary": {"Logs of 3 to 5 March preserved."}, "attachments": {evidence}}, "The execution was recorded.")
		if got := authorityStatus(t, cs, id); got != "EXECUTED" {
			t.Fatalf("after the execution the request is %s", got)
		}
		before := cs.do(http.MethodGet, "/v1/requests/"+id, uzToken, nil).body["deadlines"].(map[string]any)["preservationExpiresAt"]
		_, page = uzCA.fetch("/authority")
		if !strings.Contains(authoritySection(page, "preservations"), ref) {
			t.Errorf("the executed preservation is not in the preservations queue: %s", authorityMain(page))
		}
		_, form = uzCA.form(id, "extend")
		if !strings.Contains(form, "Preservation holds until") || !strings.Contains(form, "(UZ)") {
			t.Errorf("the extend page lacks the preservation's expiry: %s", authorityMain(form))
		}
		uzCA.act(id, "extend", nil, "The preservation was extended.")
		after := cs.do(http.MethodGet, "/v1/requests/"+id, uzToken, nil).body["deadlines"].(map[string]any)["preservationExpiresAt"]
		b, _ := time.Parse(time.RFC3339, before.(string))
		a, _ := time.Parse(time.RFC3339, after.(string))
		if !a.After(b) {
			t.Errorf("the preservation holds until %v after the extension, %v before", a, b)
		}
	})

	t.Run("refuse and return", func(t *testing.T) {
		fid, _ := authoritySubmitted(t, cs, "UZ")
		authorityAPI(t, cs, kzToken, fid, "transmit", nil)
		authorityAPI(t, cs, uzToken, fid, "acknowledge", nil)
		// A preservation may be refused on essential interests (DESIGN
		// §5.1), and its form offers no ground it may not be refused on.
		_, form := uzCA.form(fid, "refuse")
		if !strings.Contains(form, `value="ESSENTIAL_INTERESTS"`) || strings.Contains(form, `value="INSUFFICIENT_INFORMATION"`) {
			t.Errorf("the preservation's refusal form offers the wrong grounds: %s", authorityMain(form))
		}
		uzCA.act(fid, "refuse", url.Values{"grounds": {"ESSENTIAL_INTERESTS"}, "explanation": {"The account belongs to a state body."}},
			"The request was refused.")
		if got := authorityStatus(t, cs, fid); got != "REFUSED" {
			t.Errorf("after the refusal the request is %s", got)
		}
		rid, _ := authoritySubmitted(t, cs, "UZ")
		page := kzCA.refused(rid, "return", url.Values{"reason": {""}}, http.StatusBadRequest)
		if !strings.Contains(page, `id="reason-error"`) {
			t.Errorf("a return without a reason is not refused next to it: %s", authorityMain(page))
		}
		kzCA.act(rid, "return", url.Values{"reason": {"Add the subscriber's name."}}, "The request was returned to its prosecutor.")
		if got := authorityStatus(t, cs, rid); got != "DRAFT" {
			t.Errorf("after the return the request is %s", got)
		}
	})

	t.Run("stale form", func(t *testing.T) {
		sid, _ := authoritySubmitted(t, cs, "UZ")
		etag, _ := kzCA.form(sid, "transmit")
		// Another officer transmits first.
		authorityAPI(t, cs, kzToken, sid, "transmit", nil)
		code, page, _ := kzCA.post("/requests/"+sid+"/transmit", url.Values{"etag": {etag}})
		if code != http.StatusConflict || !strings.Contains(page, "Someone changed this in the meantime") || !strings.Contains(page, `data-status="transmitted"`) {
			t.Errorf("a stale transmit answered %d: %s", code, authorityMain(page))
		}
		hist := cs.do(http.MethodGet, "/v1/requests/"+sid+"/history", kzToken, nil)
		if n := strings.Count(hist.raw, `"action":"transmit"`) + strings.Count(hist.raw, `"action": "transmit"`); n != 1 {
			t.Errorf("the history has %d transmissions, want 1: %s", n, hist.raw)
		}
	})

	t.Run("safeguards", func(t *testing.T) {
		// The request service keeps the directory's answers up to 30s:
		// poll until it sees kg-247's new languages.
		var page string
		for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(time.Second) {
			_, page = kzCA.fetch("/requests/" + bid + "/transmit")
			if strings.Contains(page, `data-check="failed"`) || time.Now().After(deadline) {
				break
			}
		}
		if !strings.Contains(page, `data-check="failed"`) || !strings.Contains(page, "Language of the request:") ||
			!strings.Contains(page, `kg-247 does not accept &#34;ru&#34;`) {
			t.Errorf("the transmit page does not list the unmet safeguard: %s", authorityMain(page))
		}
		if strings.Contains(page, `data-action-form=`) {
			t.Error("the transmit page offers a transmission the service refuses")
		}
		etag, _ := cs.do(http.MethodGet, "/v1/requests/"+bid, kzToken, nil).body["etag"].(string)
		code, page, _ := kzCA.post("/requests/"+bid+"/transmit", url.Values{"etag": {etag}})
		if code != http.StatusBadRequest || !strings.Contains(page, `kg-247 does not accept &#34;ru&#34;`) {
			t.Errorf("a forced transmission that fails the safeguards answered %d: %s", code, authorityMain(page))
		}
		if got := authorityStatus(t, cs, bid); got != "SUBMITTED" {
			t.Errorf("after the refused transmission the request is %s", got)
		}
	})
}
