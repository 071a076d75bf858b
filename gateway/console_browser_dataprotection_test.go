package gateway_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request/requestd"
)

// dataProtectionMessageID matches a message id of the pages of DESIGN §10
// shown as such, which the other checks' patterns do not cover.
var dataProtectionMessageID = regexp.MustCompile(`\b(dataprotection|consent|erasure|purpose|subjects?|download)\.[A-Za-z_]+`)

// checkDataProtectionPage runs every page check of the central authority's
// pages and issue 14's, and that no message id of DESIGN §10 is left
// untranslated.
func (b *browser) checkDataProtectionPage(page string) {
	b.t.Helper()
	b.checkPracticePage(page)
	if m := dataProtectionMessageID.FindString(b.text("body")); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// TestConsoleBrowserDataProtection runs DESIGN §10's "done means" through
// the console in Chromium, each user in a browser context of their own,
// the steps around them through the API: the purpose of reading is asked
// once; use conditions imposed at the acceptance keep the evidence back,
// with the service's words, until acknowledged; an onward transfer is
// refused, then recorded after consent; a legal hold is set and shown; a
// data subject's request is deferred, then granted. Every page passes axe,
// has no inline code and no untranslated message.
func TestConsoleBrowserDataProtection(t *testing.T) {
	cs := startConsoleSuite(t)
	root := newBrowserRootWithin(t, 120*time.Second)
	axe := axeSource(t)
	uzToken := cs.token("uz-gpo", identity.CentralAuthority)

	id, ref := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")

	// The requested side accepts with use conditions.
	uz := newBrowser(t, root, axe)
	uz.signInDev(cs.baseURL, "UZ", "uz-gpo", "central_authority")
	uz.openRequest(cs.baseURL, id)
	uz.act("accept", func() {
		uz.run(`document.querySelector('input[name="dual_criminality"][value="MET"]').checked = true`)
		uz.run(`document.querySelector('input[name="concerns"][value="no"]').checked = true`)
		uz.fill(`#use_conditions-0-kind`, "NO_ONWARD_TRANSFER")
		uz.fill(`#use_conditions-0-text`, "Not to be passed on without our consent.")
		uz.fill(`#use_conditions-1-kind`, "USE_ONLY_STATED_PROCEEDINGS")
		uz.fill(`#use_conditions-1-text`, "Only in case KZ-CASE-2026-1187.")
	})
	ev := cs.client().Upload("/v1/requests/"+id, uzToken, "EVIDENCE", "", "connection-logs.csv", []byte("time,ip\n2026-03-03,203.0.113.7\n"), nil)
	evidence, _ := ev.Body["name"].(string)
	if ev.Status != http.StatusOK || evidence == "" {
		t.Fatalf("upload of the evidence: %d %s", ev.Status, ev.Raw)
	}
	authorityAPI(t, cs, uzToken, id, "execute", map[string]any{"responseSummary": "The connection logs.", "attachments": []string{evidence},
		"items": []map[string]any{{"identifierIndex": 0, "dataCategory": "connection logs", "outcome": "PROVIDED"}}})

	t.Run("the purpose is asked once", func(t *testing.T) {
		ca := newAskedBrowser(t, root, axe)
		ca.signInDev(cs.baseURL, "KZ", "kz-gpo", "central_authority")
		ca.step("open the request", chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`form[data-purpose-form]`)))
		ca.checkDataProtectionPage("the purpose page")
		ca.screenshot("dataprotection-purpose-en")
		ca.step("declare the purpose", chromedp.Click(chromedp.CSS(`input[name="purpose"][value="stated-proceedings"]`)),
			chromedp.Click(chromedp.CSS(`form[data-purpose-form] button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`.fields`)))
		ca.step("open the request again", chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`.fields`)))
		if loc := ca.location(); loc != cs.baseURL+"/requests/"+id {
			t.Errorf("the second visit ended at %s, want the request's page without asking again", loc)
		}
		readPurposes(t, cs, "kz-oversight", "requests/"+id, "stated-proceedings")
	})

	kzP := newBrowser(t, root, axe)
	kzP.signInDev(cs.baseURL, "KZ", "kz-gpo", "prosecutor")

	t.Run("evidence kept back until the conditions are acknowledged", func(t *testing.T) {
		kzP.t = t
		kzP.openRequest(cs.baseURL, id)
		kzP.checkDataProtectionPage("the request's page under conditions")
		kzP.screenshot("dataprotection-conditions-en")
		if got := kzP.text(`[data-pending-acknowledgement]`); !strings.Contains(got, "cannot download the evidence") {
			t.Errorf("the pending acknowledgement reads %q", got)
		}
		kzP.step("open the evidence", chromedp.Click(chromedp.CSS(`a[data-held]`)), chromedp.WaitVisible(chromedp.CSS(`[data-download-refused]`)))
		kzP.checkDataProtectionPage("the refused download")
		if got := kzP.text(`[data-service-message]`); !strings.Contains(strings.ToLower(got), "condition") {
			t.Errorf("the refused download shows the service's words as %q", got)
		}
		kzP.step("back to the request", chromedp.Click(chromedp.CSS(`a[data-back]`)), chromedp.WaitVisible(chromedp.CSS(`[data-protection]`)))
		if done := kzP.act("acknowledge_conditions", nil); !strings.Contains(done, "acknowledged") {
			t.Errorf("after the acknowledgement the page says %q", done)
		}
		if n, _ := chromedp.Run(kzP.ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-unacknowledged], a[data-held]").length`)); n != 0 {
			t.Error("after the acknowledgement the page still marks conditions unacknowledged or the evidence held")
		}
	})

	t.Run("an onward transfer refused, then recorded after consent", func(t *testing.T) {
		kzP.t = t
		kzP.openRequest(cs.baseURL, id)
		kzP.step("open the transfer form", chromedp.Click(chromedp.CSS(`a[data-action="record_onward_transfer"]`)),
			chromedp.WaitVisible(chromedp.CSS(`form[data-action-form="record_onward_transfer"]`)))
		kzP.fill(`#recipient`, "Financial Monitoring Agency of Kazakhstan")
		kzP.fill(`#authorisation`, "Asked by the investigator.")
		kzP.step("send it", chromedp.Click(chromedp.CSS(`form[data-action-form="record_onward_transfer"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#form-errors`)))
		kzP.checkDataProtectionPage("the refused onward transfer")
		if got := kzP.text(`#form-errors`); !strings.Contains(strings.ToLower(got), "consent") {
			t.Errorf("the refused transfer says %q, not that consent is needed", got)
		}
		kzP.openRequest(cs.baseURL, id)
		kzP.act("request_consent", func() {
			kzP.fill(`#kind`, "ONWARD_TRANSFER")
			kzP.fill(`#purpose`, "The money-laundering part of the case is investigated by the financial monitoring agency.")
			kzP.fill(`#recipient`, "Financial Monitoring Agency of Kazakhstan")
		})
		uz.t = t
		uz.openRequest(cs.baseURL, id)
		if done := uz.act("grant_consent", func() { uz.fill(`#terms`, "For the money-laundering investigation only.") }); !strings.Contains(done, "granted") {
			t.Errorf("after the grant the page says %q", done)
		}
		kzP.openRequest(cs.baseURL, id)
		kzP.act("record_onward_transfer", func() {
			kzP.fill(`#recipient`, "Financial Monitoring Agency of Kazakhstan")
			kzP.fill(`#authorisation`, "The consent granted.")
			kzP.fill(`#consent`, "1")
		})
		if got := kzP.text(`[data-transfer]`); !strings.Contains(got, "Financial Monitoring Agency") || !strings.Contains(got, "Under consent 1") {
			t.Errorf("the recorded transfer reads %q", got)
		}
	})

	ca := newBrowser(t, root, axe)
	ca.signInDev(cs.baseURL, "KZ", "kz-gpo", "central_authority")

	t.Run("a legal hold set and shown", func(t *testing.T) {
		ca.t = t
		ca.openRequest(cs.baseURL, id)
		ca.act("set_legal_hold", func() {
			ca.fill(`#reason`, "An appeal is pending in the proceedings.")
			ca.fill(`#review_time`, formMoment(180*24*time.Hour))
		})
		ca.checkDataProtectionPage("the held request's page")
		if got := ca.text(`[data-legal-hold="holds"]`); !strings.Contains(got, "An appeal is pending") {
			t.Errorf("the legal hold reads %q", got)
		}
		if got := ca.text(".deadlines"); !strings.Contains(got, "Review the legal hold by") {
			t.Errorf("the deadlines read %q, without the hold's review", got)
		}
	})

	t.Run("a data subject's request deferred, then granted", func(t *testing.T) {
		ca.t = t
		ca.step("the data subjects' requests", chromedp.Click(chromedp.CSS(`nav.main-nav a[href="/subjects"]`)),
			chromedp.WaitVisible(chromedp.CSS(`a[data-new-subject]`)))
		ca.checkDataProtectionPage("the data subjects' list")
		ca.step("record one", chromedp.Click(chromedp.CSS(`a[data-new-subject]`)), chromedp.WaitVisible(chromedp.CSS(`form[data-subject-form]`)))
		ca.checkDataProtectionPage("the recording form")
		ca.fill(`#person-full_name`, "Aliya Nurlanovna Sadykova")
		ca.fill(`#right`, "ACCESS")
		ca.fill(`#requests`, ref)
		ca.fill(`#receive_time`, formMoment(-48*time.Hour))
		ca.fill(`#description`, "Asks which of her data were sent abroad.")
		ca.step("send it", chromedp.Click(chromedp.CSS(`form[data-subject-form] button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
		ca.checkDataProtectionPage("the data subject's request")
		ca.screenshot("dataprotection-subject-en")
		ca.fill(`#decision-decision`, "DEFERRED")
		ca.fill(`#decision-reasons`, "Telling her now would alert the suspect.")
		ca.fill(`#decision-review_time`, formMoment(30*24*time.Hour))
		ca.step("defer", chromedp.Click(chromedp.CSS(`form[data-decide-form] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`dd[data-decision="deferred"]`)))
		ca.fill(`#decision-decision`, "GRANTED")
		ca.step("grant", chromedp.Click(chromedp.CSS(`form[data-decide-form] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`dd[data-decision="granted"]`)))
		ca.checkDataProtectionPage("the granted data subject's request")
		if n, _ := chromedp.Run(ca.ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-subject-decision]").length`)); n != 2 {
			t.Errorf("the page lists %d decisions, want the deferral and the grant", n)
		}
	})
}

// TestConsoleBrowserErasure: in a suite whose retention is short, a
// submitted request never transmitted is erased when its retention runs
// out, and its page in Chromium then says what was erased, when and why,
// and that only metadata remain. The page passes axe.
func TestConsoleBrowserErasure(t *testing.T) {
	cs := startConsoleSuite(t, consoleSuiteOptions{suite: suiteOptions{
		retention: requestd.Retention{AfterClose: 2 * time.Second, SweepInterval: 500 * time.Millisecond}}})
	root := newBrowserRoot(t)
	axe := axeSource(t)
	id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if es, _ := consolePracticeRead(t, cs, id)["erasures"].([]any); len(es) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request was not erased 20s after its retention of 2s ran out")
		}
		time.Sleep(200 * time.Millisecond)
	}
	kzP := newBrowser(t, root, axe)
	kzP.signInDev(cs.baseURL, "KZ", "kz-gpo", "prosecutor")
	kzP.openRequest(cs.baseURL, id)
	kzP.checkDataProtectionPage("the erased request's page")
	kzP.screenshot("dataprotection-erased-en")
	if got := kzP.text(`[data-erased]`); !strings.Contains(got, "its retention period ran out") || !strings.Contains(got, "Only its metadata remain") {
		t.Errorf("the erasure notice reads %q", got)
	}
	if got := kzP.text("main"); strings.Contains(got, "payment gateway") {
		t.Errorf("the erased request's page still shows its facts: %.500s", got)
	}
}
