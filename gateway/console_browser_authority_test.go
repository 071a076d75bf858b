package gateway_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/comity-mla/comity/services/identity"
)

// authorityMessageID matches a message id of the central authority's pages
// shown as such, which checkTranslated's pattern does not cover.
var authorityMessageID = regexp.MustCompile(`\b(authority|action|refusal)\.[A-Za-z_]+`)

// checkAuthorityPage runs every page check: axe, no inline code and no
// untranslated message.
func (b *browser) checkAuthorityPage(page string) {
	b.t.Helper()
	b.checkAxe(page)
	b.checkNoInlineCode(page)
	b.checkTranslated(page)
	if m := authorityMessageID.FindString(b.text("body")); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// takeAuthorityAction opens the action from the request's page, lets fill
// complete the form, sends it and waits for the request's page with its
// confirmation, which it returns.
func (b *browser) takeAuthorityAction(action, page string, fill ...chromedp.Action[chromedp.Void]) string {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`a[data-action="`+action+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[data-action-form="`+action+`"]`)))
	b.checkAuthorityPage(page)
	b.do(fill...)
	b.do(chromedp.Click(chromedp.CSS(`form[data-action-form="`+action+`"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
	return b.text(`[data-done]`)
}

// TestConsoleBrowserAuthority drives the central authorities' pages in
// Chromium, each in a browser context of its own: the KZ central authority
// finds a submitted request in its queue, sees the safeguards check and
// transmits it; the UZ 24/7 central authority acknowledges it and asks a
// question, which the prosecutor answers through the API; UZ then accepts
// and executes it. Every page passes axe, has no inline code and no
// untranslated message.
func TestConsoleBrowserAuthority(t *testing.T) {
	cs := startConsoleSuite(t)
	root := newBrowserRoot(t)
	axe := axeSource(t)
	id, ref := authoritySubmitted(t, cs, "UZ")
	row := `section[data-queue="%s"] tr[data-request="` + ref + `"]`
	queueRow := func(q string) string { return strings.Replace(row, "%s", q, 1) }

	t.Run("KZ central authority transmits", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.signInDev(cs.baseURL, "KZ", "kz-gpo", "central_authority")
		b.do(chromedp.Click(chromedp.CSS(`nav.main-nav a[href="/authority"]`)), chromedp.WaitVisible(chromedp.CSS(queueRow("outgoing"))))
		if got := b.text(queueRow("outgoing")); !strings.Contains(got, "Submitted") || !strings.Contains(got, "KZ → UZ") {
			t.Errorf("the outgoing queue's row reads %q", got)
		}
		b.checkAuthorityPage("the authority page")
		b.screenshot("authority-en")

		// In Russian, through the language menu, and back to English.
		b.do(chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)), chromedp.WaitVisible(chromedp.CSS(queueRow("outgoing"))))
		if got := b.text("h1"); got != "Центральный орган" {
			t.Errorf("the Russian authority page is titled %q", got)
		}
		if got := b.text(queueRow("outgoing")); !strings.Contains(got, "Подан") {
			t.Errorf("the Russian outgoing queue's row reads %q", got)
		}
		b.checkAuthorityPage("the Russian authority page")
		b.screenshot("authority-ru")
		b.do(chromedp.SetValue(chromedp.CSS(`#lang`), "en"), chromedp.Click(chromedp.CSS(`.language button`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)))

		b.do(chromedp.Click(chromedp.CSS(queueRow("outgoing")+` a`)), chromedp.WaitVisible(chromedp.CSS(`a[data-action="transmit"]`)))
		b.do(chromedp.Click(chromedp.CSS(`a[data-action="transmit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-check="passed"]`)))
		b.checkAuthorityPage("the transmit page")
		b.screenshot("action-transmit-en")
		b.do(chromedp.Click(chromedp.CSS(`form[data-action-form="transmit"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
		if done := b.text(`[data-done]`); !strings.Contains(done, "transmitted to the requested agency") {
			t.Errorf("after the transmission the request's page says %q", done)
		}
		if got := b.text(".fields"); !strings.Contains(got, "Transmitted") {
			t.Errorf("the transmitted request's page reads %q", got)
		}

	})

	t.Run("UZ central authority acknowledges, asks, accepts and executes", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.signInDev(cs.baseURL, "UZ", "uz-247", "central_authority")
		b.do(chromedp.Navigate(cs.baseURL+"/authority"), chromedp.WaitVisible(chromedp.CSS(queueRow("acknowledge"))))
		if got := b.text(queueRow("acknowledge")); !strings.Contains(got, "UTC") || !strings.Contains(got, "Asia/Tashkent") {
			t.Errorf("the acknowledge queue's row shows no deadline in UTC and Tashkent time: %q", got)
		}
		b.checkAuthorityPage("the UZ authority page")
		b.do(chromedp.Click(chromedp.CSS(queueRow("acknowledge")+` a`)), chromedp.WaitVisible(chromedp.CSS(`a[data-action="acknowledge"]`)))
		b.checkAuthorityPage("the request's page")
		if done := b.takeAuthorityAction("acknowledge", "the acknowledge page"); !strings.Contains(done, "acknowledged") {
			t.Errorf("after the acknowledgement the request's page says %q", done)
		}
		b.takeAuthorityAction("clarify", "the clarification page",
			chromedp.SetValue(chromedp.CSS(`#questions`), "In which time zone are the log times?"))
		if got := b.text(".fields"); !strings.Contains(got, "Clarification requested") {
			t.Errorf("after the question the request's page reads %q", got)
		}

		// The prosecutor answers through the API.
		if r := cs.do(http.MethodPost, "/v1/requests/"+id+":provideClarification", cs.token("kz-gpo", identity.Prosecutor),
			map[string]any{"answers": "In UTC+5."}); r.status != http.StatusOK {
			t.Fatalf("the answer: %d %s", r.status, r.raw)
		}
		b.do(chromedp.Navigate(cs.baseURL+"/authority"), chromedp.WaitVisible(chromedp.CSS(queueRow("decide"))),
			chromedp.Click(chromedp.CSS(queueRow("decide")+` a`)), chromedp.WaitVisible(chromedp.CSS(`a[data-action="accept"]`)))
		b.takeAuthorityAction("accept", "the accept page",
			chromedp.Click(chromedp.CSS(`input[name="dual_criminality"][value="NOT_REQUIRED"]`)),
			chromedp.Click(chromedp.CSS(`input[name="concerns"][value="no"]`)))
		b.takeAuthorityAction("execute", "the execute page",
			chromedp.SetValue(chromedp.CSS(`#response_summary`), "The connection logs of 3 to 5 March are preserved."))
		if got := b.text(".fields"); !strings.Contains(got, "Executed") {
			t.Errorf("after the execution the request's page reads %q", got)
		}
		if got := b.text(".deadlines"); !strings.Contains(got, "Preservation holds until") {
			t.Errorf("the executed preservation's page shows no expiry: %q", got)
		}
	})
}
