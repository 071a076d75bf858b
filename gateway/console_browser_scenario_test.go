package gateway_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/comity-mla/comity/services/identity"
)

// scenarioBudget bounds the whole scenario: seven users in their own
// browser contexts take longer than browserBudget allows one test.
const scenarioBudget = 150 * time.Second

// scenarioFacts and scenarioNecessity are the case's content, distinctive
// enough that finding them on a page can only mean the page shows it.
const (
	scenarioFacts     = "Heron-Lantern-5521: the bank's gateway was entered from a host in Tashkent and 41 transfers were sent to Almaty"
	scenarioNecessity = "Only the provider's connection logs can name the intruder (Gannet-Ledger-7730); they are kept 30 days, " +
		"so they must be preserved now; only the three days of the intrusion are concerned."
)

// toRussian chooses Russian with the language menu and waits for the page
// to come back in it.
func (b *browser) toRussian(ready string) {
	b.t.Helper()
	b.step("the language menu", chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)), chromedp.WaitVisible(chromedp.CSS(ready)))
}

// eval runs a script in the page and returns its string answer.
func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("browser: %s: %v (at %s)", js, err, b.location())
	}
	return s
}

// signInChecked signs in as signInDev does and checks the page the user
// lands on, as every page of the scenario is checked.
func (b *browser) signInChecked(base, state, agency, role string) {
	b.t.Helper()
	b.signInDev(base, state, agency, role)
	b.checkAxe("the landing page of " + agency + " " + role)
	b.checkNoInlineCode("the landing page of " + agency + " " + role)
	b.checkTranslated("the landing page of " + agency + " " + role)
}

// TestConsoleBrowserScenario is the console issue's whole scenario in
// Chromium, each user in a browser context of their own and every step
// through the console's pages: a UZ and a TJ liaison officer keep their
// dashboards open; a KZ prosecutor drafts an urgent preservation request to
// UZ, is told of a safeguard's failure next to its field, fixes it and
// submits; the KZ central authority transmits it; the UZ 24/7 central
// authority acknowledges it and asks a question, which the prosecutor
// answers, then accepts it, uploads the evidence and executes it with it.
// The UZ dashboard shows every change without a reload; the TJ one never
// shows the request, and a TJ prosecutor cannot open it; a KZ auditor sees
// its events and none of its content; a cross-site post is refused and
// changes nothing. Every page passes axe, has no inline code and is
// translated, in English and, once per user, in Russian.
func TestConsoleBrowserScenario(t *testing.T) {
	began := time.Now()
	cs := startConsoleSuite(t)
	root := newBrowserRootWithin(t, scenarioBudget)
	axe := axeSource(t)

	// 1. The liaison officers open their dashboards and keep them open.
	uzLiaison := newBrowser(t, root, axe)
	uzLiaison.signInChecked(cs.baseURL, "UZ", "uz-gpo", "liaison_officer")
	uzLiaison.step("the UZ dashboard", chromedp.Click(chromedp.CSS(`.main-nav a[href="/liaison"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-live-state="on"]`)))
	uzLiaison.checkAxe("the UZ liaison dashboard")
	uzLiaison.checkNoInlineCode("the UZ liaison dashboard")
	uzLiaison.checkLiaisonTranslated("the UZ liaison dashboard")
	tjLiaison := newBrowser(t, root, axe)
	tjLiaison.signInChecked(cs.baseURL, "TJ", "tj-gpo", "liaison_officer")
	tjLiaison.step("the TJ dashboard", chromedp.Click(chromedp.CSS(`.main-nav a[href="/liaison"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-live-state="on"]`)))
	tjLiaison.checkAxe("the TJ liaison dashboard")
	tjLiaison.checkNoInlineCode("the TJ liaison dashboard")
	tjLiaison.checkLiaisonTranslated("the TJ liaison dashboard")
	// A mark on the open dashboards: a reload would lose it.
	for _, b := range []*browser{uzLiaison, tjLiaison} {
		b.run(`window.comityScenarioMark = "open since the start"`)
	}

	// 2. The KZ prosecutor drafts, errs, fixes and submits.
	prosecutor := newBrowser(t, root, axe)
	prosecutor.signInChecked(cs.baseURL, "KZ", "kz-gpo", "prosecutor")
	prosecutor.step("the new-request form", chromedp.Click(chromedp.CSS(`.main-nav a[href="/requests/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#draft-form`)))
	prosecutor.checkPage("the new-request form")
	start := time.Now().UTC().Add(-72 * time.Hour).Format("2006-01-02T15:04")
	end := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")
	for _, f := range [][2]string{
		{"#type", "DATA_PRESERVATION"}, {"#priority", "URGENT"}, {"#requested_state", "UZ"}, {"#requested_agency", "uz-247"},
		{"#language", "ru"}, {"#legal_basis", "CIS_IT_CRIME_AGREEMENT_2018"}, {"#case_reference", "KZ-CASE-2026-4242"},
		{"#offence-description", "Unauthorised access to the payment system of a regional bank"},
		{"#offence-legal_qualification", "Article 205 of the Criminal Code of the Republic of Kazakhstan"},
		{"#offence-maximum_penalty_years", "7"},
		{"#facts_summary", scenarioFacts},
		{"#identifiers-0-kind", "IP_ADDRESS"}, {"#identifiers-0-value", "203.0.113.9:443"},
		{"#identifiers-0-start_time", start}, {"#identifiers-0-end_time", end},
		{"#necessity_and_proportionality", "Needed."},
		// A preservation names its custodian and the follow-up intended
		// (DESIGN §5.1).
		{"#custodian-provider", "Example Telecom LLC"}, {"#custodian-country", "UZ"},
		{"#follow_up_intended-intended", "true"}, {"#follow_up_intended-production_type", "TRAFFIC_DATA"},
	} {
		prosecutor.fill(f[0], f[1])
	}
	prosecutor.waitFor("the checklist to mark the necessity unmet",
		`document.querySelector('[data-check="necessity"]').dataset.state === "unmet" && document.querySelector("#draft-id").value !== ""`)
	if got := prosecutor.text(`#necessity_and_proportionality-error`); !strings.Contains(got, "too short to be of real substance") {
		t.Errorf("the complaint next to the necessity statement reads %q", got)
	}
	if inv := prosecutor.eval(`document.querySelector("#necessity_and_proportionality").getAttribute("aria-invalid") || ""`); inv != "true" {
		t.Errorf("the necessity statement with a complaint has aria-invalid %q, want true", inv)
	}
	prosecutor.checkPage("the draft with a complaint")
	prosecutor.fill("#necessity_and_proportionality", scenarioNecessity)
	prosecutor.waitFor("the checklist to mark the necessity met",
		`document.querySelector('[data-check="necessity"]').dataset.state === "met" && !document.querySelector("#necessity_and_proportionality-error")`)
	prosecutor.waitFor("every safeguard met", `document.querySelector("#draft-status").textContent.includes("Every safeguard is met")`)
	if unmet := prosecutor.eval(`Array.from(document.querySelectorAll("[data-check]")).filter(e => e.dataset.state !== "met").map(e => e.dataset.check).join(",")`); unmet != "" {
		t.Errorf("safeguards still unmet after the fix: %s", unmet)
	}
	prosecutor.checkPage("the draft with every safeguard met")
	id := prosecutor.eval(`document.querySelector("#draft-id").value`)
	name := "requests/" + id
	prosecutor.step("the submit page", chromedp.Click(chromedp.CSS(`#submit-link a`)), chromedp.WaitVisible(chromedp.CSS(`form.action-form`)))
	prosecutor.checkPage("the submit page")
	prosecutor.step("the submission", chromedp.Click(chromedp.CSS(`form.action-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done="submit"]`)))
	if got := prosecutor.text(".fields"); !strings.Contains(got, "Submitted") {
		t.Errorf("after the submission the request's page reads %q", got)
	}
	prosecutor.checkPage("the submitted request's page")
	prosecutor.step("the dashboard", chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`a[href="/requests/`+id+`"]`)))
	prosecutor.checkPage("the prosecutor's dashboard")
	ref := prosecutor.eval(`document.querySelector('a[href="/requests/` + id + `"]').closest("tr").dataset.request`)
	if ref == "" {
		t.Fatal("the prosecutor's dashboard names no reference for the request")
	}
	t.Logf("%s (%s) submitted after %s", ref, name, time.Since(began).Round(time.Second))
	row := `tr[data-request="` + ref + `"]`
	if n := uzLiaison.eval(`String(document.querySelectorAll('` + row + `').length)`); n != "0" {
		t.Errorf("the UZ dashboard shows the request before its transmission")
	}

	// seen waits until the UZ dashboard shows the request with status,
	// unreloaded, and checks that the TJ one does not show it.
	seen := func(change, status, label string) {
		t.Helper()
		uzLiaison.poll("the "+change+" on the UZ dashboard", `document.querySelector('`+row+` .status-`+status+`') !== null`)
		if got := uzLiaison.text(row); !strings.Contains(got, label) {
			t.Errorf("after the %s the UZ dashboard's row reads %q, want %q", change, got, label)
		}
		for who, b := range map[string]*browser{"UZ": uzLiaison, "TJ": tjLiaison} {
			if mark := b.eval(`window.comityScenarioMark || ""`); mark != "open since the start" {
				t.Errorf("the %s dashboard was reloaded before the %s was seen", who, change)
			}
		}
		if page := tjLiaison.eval(`document.body.textContent`); strings.Contains(page, ref) {
			t.Errorf("after the %s a TJ liaison officer's dashboard shows %s", change, ref)
		}
	}

	// 3. The KZ central authority transmits it from its queue.
	kzAuthority := newBrowser(t, root, axe)
	kzAuthority.signInChecked(cs.baseURL, "KZ", "kz-gpo", "central_authority")
	outgoing := `section[data-queue="outgoing"] ` + row
	kzAuthority.step("the KZ queue", chromedp.Click(chromedp.CSS(`.main-nav a[href="/authority"]`)), chromedp.WaitVisible(chromedp.CSS(outgoing)))
	kzAuthority.checkAuthorityPage("the KZ authority page")
	kzAuthority.step("the request from the queue", chromedp.Click(chromedp.CSS(outgoing+` a`)),
		chromedp.WaitVisible(chromedp.CSS(`a[data-action="transmit"]`)))
	kzAuthority.checkAuthorityPage("the request's page for the KZ central authority")
	kzAuthority.step("the transmit page", chromedp.Click(chromedp.CSS(`a[data-action="transmit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-check="passed"]`)))
	kzAuthority.checkAuthorityPage("the transmit page")
	kzAuthority.step("the transmission", chromedp.Click(chromedp.CSS(`form[data-action-form="transmit"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
	if got := kzAuthority.text(".fields"); !strings.Contains(got, "Transmitted") {
		t.Errorf("the transmitted request's page reads %q", got)
	}
	kzAuthority.checkAuthorityPage("the transmitted request's page")
	seen("transmission", "transmitted", "Transmitted")

	// 4. The UZ 24/7 central authority acknowledges and asks.
	uzAuthority := newBrowser(t, root, axe)
	uzAuthority.signInChecked(cs.baseURL, "UZ", "uz-247", "central_authority")
	acknowledge := `section[data-queue="acknowledge"] ` + row
	uzAuthority.step("the UZ queue", chromedp.Click(chromedp.CSS(`.main-nav a[href="/authority"]`)), chromedp.WaitVisible(chromedp.CSS(acknowledge)))
	uzAuthority.checkAuthorityPage("the UZ authority page")
	uzAuthority.step("the request from the queue", chromedp.Click(chromedp.CSS(acknowledge+` a`)),
		chromedp.WaitVisible(chromedp.CSS(`a[data-action="acknowledge"]`)))
	uzAuthority.checkAuthorityPage("the request's page for the UZ central authority")
	if page := uzAuthority.text("main"); !strings.Contains(page, "Heron-Lantern-5521") {
		t.Errorf("the requested central authority does not see the case's facts: %.800s", page)
	}
	if done := uzAuthority.takeAuthorityAction("acknowledge", "the acknowledge page"); !strings.Contains(done, "acknowledged") {
		t.Errorf("after the acknowledgement the request's page says %q", done)
	}
	seen("acknowledgement", "acknowledged", "Acknowledged")
	const question = "In which time zone are the times of the identifier given?"
	uzAuthority.takeAuthorityAction("clarify", "the clarification page", chromedp.SetValue(chromedp.CSS(`#questions`), question))
	if got := uzAuthority.text(".fields"); !strings.Contains(got, "Clarification requested") {
		t.Errorf("after the question the request's page reads %q", got)
	}
	seen("clarification request", "clarification_requested", "Clarification requested")

	// The prosecutor answers on the answer page.
	prosecutor.step("the request's page", chromedp.Click(chromedp.CSS(row+` a`)), chromedp.WaitVisible(chromedp.CSS(`a[data-action="answer"]`)))
	prosecutor.checkPage("the request's page awaiting an answer")
	prosecutor.step("the answer page", chromedp.Click(chromedp.CSS(`a[data-action="answer"]`)), chromedp.WaitVisible(chromedp.CSS(`#text`)))
	if got := prosecutor.text(`[data-questions]`); !strings.Contains(got, question) {
		t.Errorf("the answer page shows the questions %q", got)
	}
	prosecutor.checkPage("the answer page")
	prosecutor.step("the answer", chromedp.SendKeys(chromedp.CSS(`#text`), "In UTC, as every time the request gives."),
		chromedp.Click(chromedp.CSS(`form.action-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done="answer"]`)))
	prosecutor.checkPage("the answered request's page")
	seen("answer", "acknowledged", "Acknowledged")

	// UZ accepts, uploads the evidence and executes with it.
	uzAuthority.step("the answered request", chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`a[data-action="accept"]`)))
	if page := uzAuthority.text("main"); !strings.Contains(page, "In UTC, as every time the request gives.") {
		t.Errorf("the requested central authority does not see the answer: %.800s", page)
	}
	uzAuthority.checkAuthorityPage("the answered request's page")
	uzAuthority.takeAuthorityAction("accept", "the accept page",
		chromedp.Click(chromedp.CSS(`input[name="dual_criminality"][value="NOT_REQUIRED"]`)),
		chromedp.Click(chromedp.CSS(`input[name="concerns"][value="no"]`)))
	seen("acceptance", "accepted", "Accepted")

	file := filepath.Join(t.TempDir(), "connection-logs.pdf")
	if err := os.WriteFile(file, []byte(strings.Repeat("%PDF-1.7 preserved connection log ", 150_000)), 0o600); err != nil {
		t.Fatal(err)
	}
	uzAuthority.fill("#upload-kind", "EVIDENCE")
	uzAuthority.step("the file choice", chromedp.SetUploadFiles(chromedp.CSS(`#upload-file`), []string{file}))
	uzAuthority.waitFor("the browser's digest of the file", `document.querySelector("#upload-sha256").value.length === 64`)
	uzAuthority.run(`window.comityProgress = [];
		document.addEventListener("htmx:xhr:progress", () => {
			const bar = document.querySelector("#upload-progress"); if (bar) window.comityProgress.push(Number(bar.value)); });`)
	uzAuthority.step("the upload", chromedp.Click(chromedp.CSS(`.upload-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-uploaded]`)))
	progress, err := chromedp.Run(uzAuthority.ctx, chromedp.Evaluate[[]float64](`window.comityProgress`))
	if err != nil || len(progress) == 0 || progress[len(progress)-1] != 100 {
		t.Errorf("the progress bar moved through %v (%v), want it to reach 100", progress, err)
	}
	if got := uzAuthority.text(`#attachments table`); !strings.Contains(got, "connection-logs.pdf") {
		t.Errorf("the files list reads %q", got)
	}
	uzAuthority.checkAuthorityPage("the request's page after the upload")
	uzAuthority.step("the execute page", chromedp.Click(chromedp.CSS(`a[data-action="execute"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[data-action-form="execute"]`)))
	uzAuthority.checkAuthorityPage("the execute page")
	if got := uzAuthority.eval(`Array.from(document.querySelectorAll('input[name="attachments"]')).map(e => e.parentElement.textContent.trim()).join("|")`); !strings.Contains(got, "connection-logs.pdf") || strings.Contains(got, "|") {
		t.Errorf("the execute page offers the attachments %q, want the uploaded file alone", got)
	}
	uzAuthority.step("the execution", chromedp.SetValue(chromedp.CSS(`#response_summary`), "The connection logs of the three days are preserved; their copy is attached."),
		chromedp.Click(chromedp.CSS(`input[name="attachments"]`)),
		chromedp.Click(chromedp.CSS(`form[data-action-form="execute"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
	if got := uzAuthority.text(".fields"); !strings.Contains(got, "Executed") {
		t.Errorf("after the execution the request's page reads %q", got)
	}
	uzAuthority.checkAuthorityPage("the executed request's page")
	seen("execution", "executed", "Executed")
	executed := cs.mustDo(http.MethodGet, "/v1/"+name, cs.token("kz-gpo", identity.Prosecutor), nil, http.StatusOK)
	t.Logf("executed after %s", time.Since(began).Round(time.Second))

	// 8. A cross-site post to close the executed request is refused and
	// changes nothing.
	evil := startCrossSite(t, cs.baseURL+"/requests/"+id+"/close")
	prosecutor.step("the cross-site post", chromedp.Navigate(evil), chromedp.WaitVisible(chromedp.CSS(`#go`)), chromedp.Click(chromedp.CSS(`#go`)),
		chromedp.WaitVisible(chromedp.CSS(`[role="alert"], [data-who]`)))
	if body := prosecutor.text("body"); !strings.Contains(body, "The request came from another site and was refused") {
		t.Errorf("a cross-site post to close the request was not refused: the browser shows %.500q at %s", body, prosecutor.location())
	}
	prosecutor.checkAxe("the cross-site refusal")
	prosecutor.step("the request's page after the cross-site post", chromedp.Navigate(cs.baseURL+"/requests/"+id),
		chromedp.WaitVisible(chromedp.CSS(`a[data-action="close"]`)))
	if got := prosecutor.text(".fields"); !strings.Contains(got, "Executed") {
		t.Errorf("after the cross-site post the request's page reads %q, want it still executed", got)
	}
	prosecutor.checkPage("the executed request's page")
	if after := cs.mustDo(http.MethodGet, "/v1/"+name, cs.token("kz-gpo", identity.Prosecutor), nil, http.StatusOK); after.body["status"] != "EXECUTED" ||
		after.body["etag"] != executed.body["etag"] {
		t.Errorf("the cross-site post changed the request: %s", after.raw)
	}

	// 6. The KZ auditor sees the request's events and none of its content.
	auditor := newBrowser(t, root, axe)
	auditor.signInChecked(cs.baseURL, "KZ", "kz-oversight", "auditor")
	noContent := func(page string) {
		t.Helper()
		body := auditor.eval(`document.body.textContent`)
		for _, secret := range []string{"Heron-Lantern-5521", "Gannet-Ledger-7730", "KZ-CASE-2026-4242", "203.0.113.9"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows the case's content %q", page, secret)
			}
		}
	}
	auditor.step("the trail", chromedp.Click(chromedp.CSS(`.main-nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS(`#entries`)))
	noContent("the auditor's trail")
	auditor.checkAuditPage("the auditor's trail")
	events := "/audit?resource=" + url.QueryEscape(name)
	// The relays deliver the events in the background: the auditor looks
	// again until the execution is on the trail.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		auditor.step("the request's events", chromedp.Navigate(cs.baseURL+events), chromedp.WaitVisible(chromedp.CSS(`[data-request-events]`)))
		if strings.Contains(auditor.text("main"), "ExecuteRequest") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the execution did not reach the auditor's page of the request: %.2000s", auditor.text("main"))
		}
	}
	// The trail is newest first, 50 entries a page: the reads of the
	// request's content (each with its declared purpose) push its first
	// events to the pages after.
	trail := auditor.text(`#entries tbody`)
	for range 4 {
		next := auditor.eval(`(document.querySelector("a[data-next]") || {getAttribute: () => ""}).getAttribute("href") || ""`)
		if next == "" {
			break
		}
		auditor.step("the older events", chromedp.Navigate(cs.baseURL+next), chromedp.WaitVisible(chromedp.CSS(`#entries`)))
		trail += auditor.text(`#entries tbody`)
	}
	for _, method := range []string{"SubmitRequest", "TransmitRequest", "AcknowledgeRequest", "RequestClarification", "ProvideClarification", "AcceptRequest", "ExecuteRequest"} {
		if !strings.Contains(trail, method) {
			t.Errorf("the request's events lack %s: %.2000s", method, trail)
		}
	}
	noContent("the request's events")
	auditor.checkAuditPage("the request's events")
	auditor.toRussian(`[data-request-events]`)
	noContent("the Russian request's events")
	auditor.checkAuditPage("the Russian request's events")

	// 7. TJ: the dashboard never showed it; a TJ prosecutor cannot open it.
	tjProsecutor := newBrowser(t, root, axe)
	tjProsecutor.signInChecked(cs.baseURL, "TJ", "tj-gpo", "prosecutor")
	tjProsecutor.step("the request's address", chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)))
	if page := tjProsecutor.text("main"); !strings.Contains(page, "does not exist or is not visible to you") ||
		strings.Contains(page, ref) || strings.Contains(page, "Heron-Lantern-5521") {
		t.Errorf("a TJ prosecutor opening the KZ request reads %q, want only that it does not exist for them", page)
	}
	tjProsecutor.checkPage("the not-found page")
	tjProsecutor.toRussian(`[role="alert"]`)
	tjProsecutor.checkPage("the Russian not-found page")

	// 9. Every user once in Russian; the dashboards last, as the reload
	// ends their watch.
	prosecutor.toRussian(`.fields`)
	if got := prosecutor.text(".fields"); !strings.Contains(got, "Исполнен") {
		t.Errorf("the Russian request's page reads %q", got)
	}
	prosecutor.checkPage("the Russian request's page")
	kzAuthority.step("the KZ queue", chromedp.Navigate(cs.baseURL+"/authority"), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	kzAuthority.checkAuthorityPage("the KZ authority page after the transmission")
	kzAuthority.toRussian(`h1`)
	kzAuthority.checkAuthorityPage("the Russian KZ authority page")
	uzAuthority.toRussian(`.fields`)
	uzAuthority.checkAuthorityPage("the Russian executed request's page")
	if page := tjLiaison.eval(`document.body.textContent`); strings.Contains(page, ref) {
		t.Errorf("a TJ liaison officer's dashboard shows %s", ref)
	}
	tjLiaison.toRussian(`#live[data-live-state="on"]`)
	if page := tjLiaison.text("main"); strings.Contains(page, ref) {
		t.Errorf("a TJ liaison officer's reloaded dashboard shows %s", ref)
	}
	tjLiaison.checkAxe("the Russian TJ liaison dashboard")
	tjLiaison.checkNoInlineCode("the Russian TJ liaison dashboard")
	tjLiaison.checkLiaisonTranslated("the Russian TJ liaison dashboard")
	uzLiaison.checkAxe("the UZ liaison dashboard after the scenario")
	uzLiaison.toRussian(row)
	if got := uzLiaison.text(row); !strings.Contains(got, "Исполнен") {
		t.Errorf("the Russian UZ dashboard's row reads %q", got)
	}
	uzLiaison.checkAxe("the Russian UZ liaison dashboard")
	uzLiaison.checkNoInlineCode("the Russian UZ liaison dashboard")
	uzLiaison.checkLiaisonTranslated("the Russian UZ liaison dashboard")
	t.Logf("the scenario took %s", time.Since(began).Round(time.Second))
}
