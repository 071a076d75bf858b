package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fill sets a form control's value as a user would leave it: the input
// and change events fire, so that htmx sees the form change.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	js := `(() => { const el = document.querySelector(` + jsString(sel) + `); if (!el) return false;
		if (el.type === "checkbox") { el.checked = ` + jsString(value) + ` === "true"; } else { el.value = ` + jsString(value) + `; }
		el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		b.t.Fatalf("browser: fill %s: %v (found %v, at %s)", sel, err, ok, b.location())
	}
}

// waitFor waits until the JavaScript predicate holds.
func (b *browser) waitFor(what, predicate string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		b.t.Fatalf("browser: waiting for %s: %v (at %s; page: %.2000s)", what, err, b.location(), b.text("main"))
	}
}

// step runs steps, failing with the page's text when they take over 15 s.
func (b *browser) step(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		b.t.Fatalf("browser: %s: %v (at %s; page: %.1500s)", what, err, b.location(), page)
	}
}

// run runs a script in the page.
func (b *browser) run(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js+";true")); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// prosecutorMessageIDs matches a message id of the prosecutor's pages
// shown as such, i.e. untranslated.
var prosecutorMessageIDs = regexp.MustCompile(`\b(new|edit|checklist|prosecutor|message|attachment|violation|action|field)\.[A-Za-z_.]+`)

// checkPage runs the checks every page must pass: axe, no inline code,
// no message id left untranslated.
func (b *browser) checkPage(page string) {
	b.t.Helper()
	b.checkAxe(page)
	b.checkNoInlineCode(page)
	b.checkTranslated(page)
	if m := prosecutorMessageIDs.FindString(b.text("body")); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// TestConsoleBrowserProsecutor drives the prosecutor's work in Chromium:
// a KZ prosecutor drafts an urgent preservation request to UZ; the draft
// saves itself and the safeguards checklist, asked of the service, marks
// the too short necessity statement with its complaint next to the field;
// fixed, the checklist updates without a reload; the request is submitted;
// a message is posted; a file is uploaded with the progress bar reaching
// 100%; another draft is withdrawn. Every page passes axe, has no inline
// code and no untranslated message, in English and Russian.
func TestConsoleBrowserProsecutor(t *testing.T) {
	cs := startConsoleSuite(t)
	root := newBrowserRoot(t)
	axe := axeSource(t)
	b := newBrowser(t, root, axe)
	b.signInDev(cs.baseURL, "KZ", "kz-gpo", "prosecutor")

	b.step("step 1", chromedp.Navigate(cs.baseURL+"/requests/new"), chromedp.WaitVisible(chromedp.CSS(`#draft-form`)))
	b.checkPage("the new-request form")
	b.screenshot("new-request-en")

	// The page is never reloaded while the form is filled: a mark left on
	// the window stays.
	b.run(`window.comityMark = "kept"`)
	start := time.Now().UTC().Add(-72 * time.Hour).Format("2006-01-02T15:04")
	end := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")
	for sel, v := range map[string]string{
		"#type": "DATA_PRESERVATION", "#priority": "URGENT", "#requested_state": "UZ", "#requested_agency": "uz-247",
		"#language": "ru", "#legal_basis": "CIS_IT_CRIME_AGREEMENT_2018", "#case_reference": "KZ-CASE-2026-3001",
		"#offence-description":           "Unauthorised access to the payment system of a regional bank",
		"#offence-legal_qualification":   "Article 205 of the Criminal Code of the Republic of Kazakhstan",
		"#offence-maximum_penalty_years": "7",
		"#facts_summary":                 "The bank's payment gateway was accessed from an address hosted in Uzbekistan.",
		"#identifiers-0-kind":            "IP_ADDRESS", "#identifiers-0-value": "203.0.113.7:443",
		"#identifiers-0-start_time": start, "#identifiers-0-end_time": end,
		"#necessity_and_proportionality": "Needed.",
		// A preservation names its custodian and the follow-up intended
		// (DESIGN §5.1).
		"#custodian-provider": "Example Telecom LLC", "#custodian-country": "UZ",
		"#follow_up_intended-intended": "true", "#follow_up_intended-production_type": "TRAFFIC_DATA",
	} {
		b.fill(sel, v)
	}
	b.waitFor("the checklist to mark the necessity unmet",
		`document.querySelector('[data-check="necessity"]').dataset.state === "unmet" && document.querySelector("#draft-id").value !== ""`)
	if got := b.text(`#necessity_and_proportionality-error`); !strings.Contains(got, "too short to be of real substance") {
		t.Errorf("the complaint next to the necessity statement reads %q", got)
	}
	if inv, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#necessity_and_proportionality").getAttribute("aria-invalid") || ""`)); inv != "true" {
		t.Errorf("the necessity statement with a complaint has aria-invalid %q, want true", inv)
	}
	for _, item := range []string{"legal_basis", "offence", "identifiers", "language"} {
		b.waitFor(item+" met", `document.querySelector('[data-check="`+item+`"]').dataset.state === "met"`)
	}
	b.checkPage("the draft with a complaint")
	if got := b.text("#draft-status"); !strings.Contains(got, "Draft saved at") || !strings.Contains(got, "not yet met: 1") {
		t.Errorf("the status line reads %q, want the draft saved and one safeguard unmet", got)
	}
	if live, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#draft-status").getAttribute("role")`)); live != "status" {
		t.Errorf("the status line's role is %q, want status (polite announcements)", live)
	}

	b.fill("#necessity_and_proportionality", "The logs are the only way to identify the intruder; they are kept for 30 days only, "+
		"so preservation is needed now; only the three days of the intrusion are concerned.")
	b.waitFor("the checklist to mark the necessity met",
		`document.querySelector('[data-check="necessity"]').dataset.state === "met" && !document.querySelector("#necessity_and_proportionality-error")`)
	if inv, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#necessity_and_proportionality").getAttribute("aria-invalid") || ""`)); inv != "" {
		t.Errorf("the fixed necessity statement still has aria-invalid %q", inv)
	}
	b.waitFor("every safeguard met", `document.querySelector("#draft-status").textContent.includes("Every safeguard is met")`)
	if mark, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`window.comityMark || ""`)); mark != "kept" {
		t.Error("the page was reloaded while the form was filled")
	}
	if got, _ := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(`#case_reference`))); got != "KZ-CASE-2026-3001" {
		t.Errorf("the case reference reads %q after the saves: input lost", got)
	}

	// Submit, from the checklist's link.
	t.Logf("checklist done at %s", time.Now().Format("15:04:05"))
	b.step("the submit page", chromedp.Click(chromedp.CSS(`#submit-link a`)), chromedp.WaitVisible(chromedp.CSS(`form.action-form`)))
	b.checkPage("the submit page")
	b.step("step 3", chromedp.Click(chromedp.CSS(`form.action-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-done="submit"]`)))
	if got := b.text("main"); !strings.Contains(got, "Submitted") {
		t.Errorf("after the submission the request's page reads %q", got)
	}

	// A message.
	b.step("step 4", chromedp.SendKeys(chromedp.CSS(`#message-body`), "Please treat as urgent: the logs expire in 30 days."),
		chromedp.Click(chromedp.CSS(`.message-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done="message"]`)))
	if got := b.text(`li[data-message]`); !strings.Contains(got, "the logs expire in 30 days") {
		t.Errorf("the timeline's message reads %q", got)
	}
	b.checkPage("the request's page")

	// A file, with the progress bar.
	file := filepath.Join(t.TempDir(), "court-order.pdf")
	if err := os.WriteFile(file, []byte(strings.Repeat("%PDF-1.7 evidence ", 400_000)), 0o600); err != nil {
		t.Fatal(err)
	}
	b.fill("#upload-kind", "COURT_ORDER")
	b.step("step 5", chromedp.SetUploadFiles(chromedp.CSS(`#upload-file`), []string{file}))
	b.waitFor("the browser's digest of the file", `document.querySelector("#upload-sha256").value.length === 64`)
	b.run(`window.comityProgress = [];
		document.addEventListener("htmx:xhr:progress", () => {
			const bar = document.querySelector("#upload-progress"); if (bar) window.comityProgress.push(Number(bar.value)); });`)
	b.step("step 6", chromedp.Click(chromedp.CSS(`.upload-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-uploaded]`)))
	progress, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]float64](`window.comityProgress`))
	if err != nil || len(progress) == 0 || progress[len(progress)-1] != 100 {
		t.Errorf("the progress bar moved through %v (%v), want it to reach 100", progress, err)
	}
	if got := b.text(`#attachments table`); !strings.Contains(got, "court-order.pdf") || !strings.Contains(got, "Court order") {
		t.Errorf("the files list reads %q", got)
	}
	b.checkPage("the request's page after an upload")

	// Another draft, saved with the plain button, then withdrawn.
	b.step("step 7", chromedp.Navigate(cs.baseURL+"/requests/new"), chromedp.WaitVisible(chromedp.CSS(`#draft-form`)))
	b.fill("#type", "SUBSCRIBER_INFORMATION")
	b.fill("#priority", "ROUTINE")
	b.fill("#requested_state", "UZ")
	b.step("step 8", chromedp.Click(chromedp.CSS(`#draft-form > .form-actions:last-of-type button[type="submit"]`)))
	b.step("the second draft's page", chromedp.WaitVisible(chromedp.CSS(`#draft-form[action$="/edit"]`)))
	id, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(`#draft-id`)))
	if err != nil || id == "" {
		t.Fatalf("the second draft has no id: %v", err)
	}
	b.checkPage("the draft's form")
	b.step("step 9", chromedp.Navigate(cs.baseURL+"/requests/"+id+"/withdraw"), chromedp.WaitVisible(chromedp.CSS(`#text`)))
	b.checkPage("the withdraw page")
	b.step("step 10", chromedp.SendKeys(chromedp.CSS(`#text`), "Superseded by the preservation request."),
		chromedp.Click(chromedp.CSS(`form.action-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done="withdraw"]`)))
	if got := b.text("main"); !strings.Contains(got, "Withdrawn") || !strings.Contains(got, "Superseded by the preservation request.") {
		t.Errorf("the withdrawn draft's page reads %q", got)
	}

	// Russian.
	b.step("step 11", chromedp.Navigate(cs.baseURL+"/requests/new"), chromedp.WaitVisible(chromedp.CSS(`#draft-form`)),
		chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"] #draft-form`)))
	if got := b.text("main"); !strings.Contains(got, "Новый запрос") || !strings.Contains(got, "Необходимость и соразмерность") {
		t.Errorf("the Russian form reads %q", got)
	}
	b.checkPage("the Russian new-request form")
	b.screenshot("new-request-ru")
	b.step("step 12", chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`#attachments`)))
	b.checkPage("the Russian request's page")
}
