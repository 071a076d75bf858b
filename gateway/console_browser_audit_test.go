package gateway_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// auditMessageIDPattern matches a message id of the auditor's and the
// directory administrator's pages shown as such, i.e. untranslated
// (checkTranslated knows the older prefixes).
var auditMessageIDPattern = regexp.MustCompile(`\b(audit|directory|agency|kind)\.[a-z_]+(\.[a-z_]+)?\b`)

// checkAuditPage runs every check a page of the console must pass: axe, no
// inline code, and no message id left untranslated.
func (b *browser) checkAuditPage(page string) {
	b.t.Helper()
	b.checkAxe(page)
	b.checkNoInlineCode(page)
	b.checkTranslated(page)
	// Resources such as audit/entries are the trail's data, not messages.
	body := strings.NewReplacer("audit/entries", "", "audit/checkpoint", "", "comity.test/audit", "").Replace(b.text("main"))
	if m := auditMessageIDPattern.FindString(body); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// TestConsoleBrowserAudit drives the auditor's and the directory
// administrator's pages in Chromium: a KZ auditor (kz-oversight) sees the
// trail with a KZ request's events and none of its content, opens the
// request's events, the checkpoint and the export; a KZ directory
// administrator (kz-gpo) deactivates kz-police-cyber and activates it
// again. Every page passes axe, has no inline code and no untranslated
// message, in English and in Russian.
func TestConsoleBrowserAudit(t *testing.T) {
	cs := startConsoleSuite(t)
	root := newBrowserRoot(t)
	axe := axeSource(t)
	const secret = "Quokka-Marmot-9083 moved the money through a pawnshop in Taraz"

	kz := cs.token("kz-gpo", identity.Prosecutor)
	body := gatewaytest.Preservation()
	body["factsSummary"] = secret
	created := cs.mustDo(http.MethodPost, "/v1/requests", kz, body, http.StatusOK)
	name, _ := created.body["name"].(string)
	cs.mustDo(http.MethodGet, "/v1/"+name, kz, nil, http.StatusOK)
	// Wait until the request's events are on the trail (the relays
	// deliver them in the background).
	auditorToken := cs.token("kz-oversight", identity.Auditor)
	filter := url.Values{"filter": {`resource = "` + name + `"`}}.Encode()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := cs.mustDo(http.MethodGet, "/v1/audit/entries?"+filter, auditorToken, nil, http.StatusOK)
		if es, _ := r.body["entries"].([]any); len(es) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request's events did not reach the trail: %s", r.raw)
		}
	}
	noContent := func(b *browser, page string) {
		t.Helper()
		if main := b.text("main"); strings.Contains(main, secret) || strings.Contains(main, "KZ-CASE-2026-1187") {
			t.Errorf("%s shows the request's content", page)
		}
	}

	t.Run("KZ auditor", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.signInDev(cs.baseURL, "KZ", "kz-oversight", "auditor")
		b.do(chromedp.Click(chromedp.CSS(`.main-nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.CSS(`#entries`)))
		link := `a[data-resource="` + name + `"]`
		b.do(chromedp.WaitVisible(chromedp.CSS(link)))
		noContent(b, "the trail")
		b.checkAuditPage("the trail")
		b.screenshot("audit-en")

		b.do(chromedp.Click(chromedp.CSS(link)), chromedp.WaitVisible(chromedp.CSS(`[data-request-events]`)))
		if got := b.text(`[data-request-events]`); !strings.Contains(got, name) {
			t.Errorf("the request's events page says %q", got)
		}
		for _, r := range strings.Fields(b.text(`#entries tbody`)) {
			if strings.HasPrefix(r, "requests/") && r != name && !strings.HasPrefix(r, name+"/") {
				t.Errorf("the request's events list %s", r)
			}
		}
		noContent(b, "the request's events")
		b.checkAuditPage("the request's events")

		b.do(chromedp.Click(chromedp.CSS(`.subnav a[href="/audit/checkpoint"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-note]`)))
		if note := b.text(`[data-note]`); !strings.HasPrefix(note, "comity.test/audit") {
			t.Errorf("the checkpoint's note reads %q", note)
		}
		b.checkAuditPage("the checkpoint")

		b.do(chromedp.Click(chromedp.CSS(`.subnav a[href="/audit/export"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-verify-command]`)))
		if cmd := b.text(`[data-verify-command]`); !strings.HasPrefix(cmd, "comityctl audit verify --public-key 'comity.test/audit+") {
			t.Errorf("the export page's command reads %q", cmd)
		}
		b.checkAuditPage("the export")

		b.do(chromedp.Navigate(cs.baseURL+"/audit"), chromedp.WaitVisible(chromedp.CSS(`#entries`)),
			chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)), chromedp.WaitVisible(chromedp.CSS(`#entries`)))
		if h := b.text("h1"); h != "Журнал аудита" {
			t.Errorf("the Russian trail's title is %q", h)
		}
		b.checkAuditPage("the Russian trail")
		b.screenshot("audit-ru")
		for _, p := range []struct{ path, sel string }{
			{"/audit?resource=" + url.QueryEscape(name), `[data-request-events]`},
			{"/audit/checkpoint", `[data-note]`},
			{"/audit/export", `[data-verify-command]`},
		} {
			b.do(chromedp.Navigate(cs.baseURL+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
			noContent(b, "the Russian "+p.path)
			b.checkAuditPage("the Russian " + p.path)
		}
	})

	t.Run("KZ directory administrator", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.signInDev(cs.baseURL, "KZ", "kz-gpo", "directory_admin")
		row := `tr[data-agency="kz-police-cyber"]`
		b.do(chromedp.Click(chromedp.CSS(`.main-nav a[href="/directory"]`)), chromedp.WaitVisible(chromedp.CSS(row)))
		if got := b.text(`[data-trusted-issuers]`); !strings.Contains(got, "http") {
			t.Errorf("the state's trusted issuers read %q", got)
		}
		b.checkAuditPage("the directory")
		b.screenshot("directory-en")

		b.do(chromedp.Click(chromedp.CSS(row+` a`)), chromedp.WaitVisible(chromedp.CSS(`a[data-action="deactivate"]`)))
		if !strings.Contains(b.text("main"), "Cybercrime unit duty desk") {
			t.Error("the agency's page lacks its contact point")
		}
		b.checkAuditPage("the agency")
		b.do(chromedp.Click(chromedp.CSS(`a[data-action="deactivate"]`)), chromedp.WaitVisible(chromedp.CSS(`button[data-confirm="deactivate"]`)))
		b.checkAuditPage("the deactivation form")
		b.do(chromedp.Click(chromedp.CSS(`button[data-confirm="deactivate"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-done="deactivate"]`)))
		if got := b.text(`.fields [data-active]`); got != "inactive" {
			t.Errorf("after the deactivation the agency reads %q", got)
		}
		b.checkAuditPage("the deactivated agency")
		admin := cs.token("kz-gpo", identity.DirectoryAdmin)
		if r := cs.mustDo("GET", "/v1/agencies/kz-police-cyber", admin, nil, http.StatusOK); r.body["active"] != false {
			t.Errorf("the API says kz-police-cyber is active after the deactivation: %s", r.raw)
		}

		b.do(chromedp.Click(chromedp.CSS(`a[data-action="activate"]`)), chromedp.WaitVisible(chromedp.CSS(`button[data-confirm="activate"]`)))
		b.checkAuditPage("the activation form")
		b.do(chromedp.Click(chromedp.CSS(`button[data-confirm="activate"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-done="activate"]`)))
		if got := b.text(`.fields [data-active]`); got != "active" {
			t.Errorf("after the activation the agency reads %q", got)
		}
		if r := cs.mustDo("GET", "/v1/agencies/kz-police-cyber", admin, nil, http.StatusOK); r.body["active"] != true {
			t.Errorf("the API says kz-police-cyber is inactive after the activation: %s", r.raw)
		}

		b.do(chromedp.Navigate(cs.baseURL+"/directory"), chromedp.WaitVisible(chromedp.CSS(row)),
			chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)), chromedp.WaitVisible(chromedp.CSS(row)))
		b.checkAuditPage("the Russian directory")
		b.screenshot("directory-ru")
		b.do(chromedp.Navigate(cs.baseURL+"/directory/agencies/kz-police-cyber/deactivate"), chromedp.WaitVisible(chromedp.CSS(`button[data-confirm]`)))
		b.checkAuditPage("the Russian deactivation form")
	})
}
