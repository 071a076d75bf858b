package gateway_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// liaisonMessageIDPattern matches a message id of the liaison dashboard's
// and statistics' parts of the catalogue shown untranslated.
var liaisonMessageIDPattern = regexp.MustCompile(`\b(liaison|live|statistics)\.[A-Za-z_]+`)

// checkLiaisonTranslated is checkTranslated for the message ids of the
// liaison dashboard and the statistics page, hidden messages included.
func (b *browser) checkLiaisonTranslated(page string) {
	b.t.Helper()
	b.checkTranslated(page)
	all, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.textContent`))
	if err != nil {
		b.t.Fatalf("%s: %v", page, err)
	}
	if m := liaisonMessageIDPattern.FindString(all); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// liveWait bounds how long a change may take to reach an open dashboard:
// the service's feed polls its history every 200ms.
const liveWait = 15 * time.Second

// poll waits until the JavaScript predicate holds, at most liveWait.
func (b *browser) poll(what, predicate string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(liveWait))); err != nil {
		main, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		b.t.Fatalf("browser: %s did not happen within %s (%v); the page reads: %.1500s", what, liveWait, err, main)
	}
}

// TestConsoleBrowserLiaison drives the liaison officer's live dashboard in
// Chromium: while a UZ liaison officer's dashboard is open, a KZ request
// to UZ is transmitted and acknowledged through the API, and the new row,
// its status change and the polite announcement appear without a reload;
// a TJ liaison officer's open dashboard shows none of it. The dashboard
// and the statistics page pass axe, have no inline code and are translated.
// liaisonBrowserBudget bounds TestConsoleBrowserLiaison.
const liaisonBrowserBudget = 150 * time.Second

func TestConsoleBrowserLiaison(t *testing.T) {
	cs := startConsoleSuite(t)
	// Longer than the other browser tests: the deactivation below takes
	// effect only once the services' directory caches expire (30 s).
	root := newBrowserRootWithin(t, liaisonBrowserBudget)
	axe := axeSource(t)
	prosecutor := cs.token("kz-gpo", identity.Prosecutor)
	kzCA := cs.token("kz-gpo", identity.CentralAuthority)
	uzCA := cs.token("uz-247", identity.CentralAuthority)

	uz := newBrowser(t, root, axe)
	uz.signInDev(cs.baseURL, "UZ", "uz-gpo", "liaison_officer")
	uz.do(chromedp.Click(chromedp.CSS(`.main-nav a[href="/liaison"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-live-state="on"]`)))
	tj := newBrowser(t, root, axe)
	tj.signInDev(cs.baseURL, "TJ", "tj-gpo", "liaison_officer")
	tj.do(chromedp.Navigate(cs.baseURL+"/liaison"), chromedp.WaitVisible(chromedp.CSS(`#live[data-live-state="on"]`)))

	// A mark on the open pages: a reload would lose it.
	for _, b := range []*browser{uz, tj} {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.comityTestMark = true`)); err != nil {
			t.Fatal(err)
		}
	}

	created := cs.mustDo("POST", "/v1/requests", prosecutor, gatewaytest.Preservation(), http.StatusOK)
	name, _ := created.body["name"].(string)
	ref, _ := created.body["reference"].(string)
	cs.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, http.StatusOK)
	cs.mustDo("POST", "/v1/"+name+":transmit", kzCA, map[string]any{}, http.StatusOK)
	row := `tr[data-request="` + ref + `"]`
	uz.poll("the transmitted request's row", `document.querySelector('`+row+` .status-transmitted') !== null`)
	uz.poll("the transmission's announcement", `document.getElementById("live-announce").textContent.includes(`+strconv.Quote(ref+" is now Transmitted")+`)`)

	cs.mustDo("POST", "/v1/"+name+":acknowledge", uzCA, map[string]any{}, http.StatusOK)
	uz.poll("the acknowledgement in the row", `document.querySelector('`+row+` .status-acknowledged') !== null`)
	uz.poll("the acknowledgement's announcement", `document.getElementById("live-announce").textContent.includes(`+strconv.Quote(ref+" is now Acknowledged")+`)`)
	if got := uz.text(row); !strings.Contains(got, "Acknowledged") || !strings.Contains(got, "KZ → UZ") {
		t.Errorf("the dashboard's row of %s reads %q", ref, got)
	}
	live, err := chromedp.Run(uz.ctx, chromedp.Evaluate[string](
		`(e => e.getAttribute("role") + " " + e.getAttribute("aria-live"))(document.getElementById("live-announce"))`))
	if err != nil || live != "status polite" {
		t.Errorf("the announcements' region is %q (%v), want a polite status region", live, err)
	}
	for _, b := range []*browser{uz, tj} {
		if kept, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.comityTestMark === true`)); err != nil || !kept {
			t.Errorf("the dashboard was reloaded (%v)", err)
		}
	}
	// The TJ dashboard was open all along and heard nothing.
	if page := tj.text("main"); strings.Contains(page, ref) {
		t.Errorf("a TJ liaison officer's dashboard shows %s: %q", ref, page)
	}
	if said, _ := chromedp.Run(tj.ctx, chromedp.TextContent(chromedp.CSS(`#live-announce`))); strings.TrimSpace(said) != "" {
		t.Errorf("a TJ liaison officer was told %q", said)
	}

	// The TJ officer's agency is deactivated: the services end its watch
	// and, once their caches of the directory's answers expire (30s at
	// most), refuse the reconnection; the open dashboard then says that the
	// session is over, with a way to sign in again, and stops. The UZ
	// pages are checked meanwhile.
	tjAdmin := cs.token("tj-oversight", identity.DirectoryAdmin)
	cs.mustDo("POST", "/v1/agencies/tj-gpo:deactivate", tjAdmin, cs.withEtag("tj-gpo", tjAdmin, nil), http.StatusOK)

	uz.checkAxe("the liaison dashboard")
	uz.checkNoInlineCode("the liaison dashboard")
	uz.checkLiaisonTranslated("the liaison dashboard")
	uz.screenshot("liaison-en")

	// The filters, through the form.
	uz.do(chromedp.SetValue(chromedp.CSS(`#f-status`), "TRANSMITTED"), chromedp.Click(chromedp.CSS(`.filters button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-empty]`)))
	if loc := uz.location(); !strings.Contains(loc, "status=TRANSMITTED") {
		t.Errorf("the filter form led to %s", loc)
	}
	uz.checkAxe("the filtered liaison dashboard")

	uz.do(chromedp.Click(chromedp.CSS(`.main-nav a[href="/statistics"]`)), chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
	if got := uz.text(`[data-pair="KZ-UZ"] [data-figure="total"]`); got != "1" {
		t.Errorf("the statistics of KZ → UZ count %q requests, want 1", got)
	}
	uz.checkAxe("the statistics page")
	uz.checkNoInlineCode("the statistics page")
	uz.checkLiaisonTranslated("the statistics page")
	uz.screenshot("statistics-en")

	// Russian.
	uz.do(chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)))
	uz.checkLiaisonTranslated("the Russian statistics page")
	uz.checkAxe("the Russian statistics page")
	uz.do(chromedp.Navigate(cs.baseURL+"/liaison"), chromedp.WaitVisible(chromedp.CSS(`#live[data-live-state="on"]`)),
		chromedp.WaitVisible(chromedp.CSS(row)))
	if got := uz.text(row); !strings.Contains(got, "Получение подтверждено") {
		t.Errorf("the Russian dashboard's row reads %q", got)
	}
	uz.checkLiaisonTranslated("the Russian liaison dashboard")
	uz.checkAxe("the Russian liaison dashboard")
	uz.screenshot("liaison-ru")

	// The officer learns it either way a page of theirs finds out first:
	// the open dashboard's stream is refused and the page says the session
	// is over, or its refresh of the results is refused and the console
	// sends the page to the sign-in page, which says why.
	stopped := `(() => {
			const live = document.getElementById("live");
			return live ? live.dataset.liveState === "ended" : location.pathname === "/signin";
		})()`
	for deadline := time.Now().Add(60 * time.Second); ; {
		err := chromedp.Do(tj.ctx, chromedp.Poll[chromedp.Void](stopped,
			chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			break
		}
		// The page navigating to the sign-in page ends a poll begun on
		// the dashboard: poll again on the new page.
		if !strings.Contains(err.Error(), "navigated") || time.Now().After(deadline) {
			t.Fatalf("the dashboard of a deactivated agency's officer did not stop: %v (at %s)", err, tj.location())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.HasSuffix(strings.SplitN(tj.location(), "?", 2)[0], "/signin") {
		if said := tj.text("main"); !strings.Contains(said, "deactivated") {
			t.Errorf("the sign-in page a deactivated agency's officer was sent to does not say why: %q", said)
		}
		tj.checkAxe("the sign-in page after the deactivation")
		return
	}
	if said := tj.text(".live-state"); !strings.Contains(said, "Your session has ended or is no longer accepted") || !strings.Contains(said, "Sign in again") {
		t.Errorf("the stopped dashboard reads %q", said)
	}
	if said, _ := chromedp.Run(tj.ctx, chromedp.TextContent(chromedp.CSS(`#live-announce`))); !strings.Contains(said, "live updates have stopped") {
		t.Errorf("the end of the live updates was not announced: %q", said)
	}
	tj.checkAxe("the stopped liaison dashboard")
}
