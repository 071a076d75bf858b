package gateway_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/comity-mla/comity/services/identity"
)

// practiceMessageID matches a message id of the pages of issue 14 shown as
// such, which the other checks' patterns do not cover.
var practiceMessageID = regexp.MustCompile(`\b(practice|outcome|relation|preservation|extension|conditions?|cost|intake|person|impediment|oral|confirm)\.[A-Za-z_]+`)

// checkPracticePage runs every page check of the central authority's
// pages, and that no message id of issue 14 is left untranslated.
func (b *browser) checkPracticePage(page string) {
	b.t.Helper()
	b.checkAuthorityPage(page)
	if m := practiceMessageID.FindString(b.text("main")); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// openRequest opens the request's page.
func (b *browser) openRequest(base, id string) {
	b.t.Helper()
	b.step("open request "+id, chromedp.Navigate(base+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`.fields`)))
}

// act takes the action from the request's page: opens its form, checks
// it, lets fill complete it, sends it and returns the confirmation the
// request's page then shows.
func (b *browser) act(action string, fill func()) string {
	b.t.Helper()
	b.step("open the "+action+" form", chromedp.Click(chromedp.CSS(`a[data-action="`+action+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[data-action-form="`+action+`"]`)))
	b.checkPracticePage("the " + action + " page")
	if fill != nil {
		fill()
	}
	b.step("send the "+action+" form", chromedp.Click(chromedp.CSS(`form[data-action-form="`+action+`"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
	return b.text(`[data-done]`)
}

// selected is the text of the chosen option of the select.
func (b *browser) selected(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(() => { const o = document.querySelector(`+jsString(sel)+`).selectedOptions[0]; return o ? o.textContent : ""; })()`))
	if err != nil {
		b.t.Fatalf("browser: the choice of %s: %v (at %s)", sel, err, b.location())
	}
	return strings.TrimSpace(s)
}

// formMoment is a moment as a datetime-local input takes it (UTC).
func formMoment(d time.Duration) string {
	return time.Now().UTC().Add(d).Format("2006-01-02T15:04")
}

// TestConsoleBrowserPractice runs the cases of DESIGN §5.7 (2 to 5)
// through the console in Chromium, each user in a browser context of
// their own, the steps around them through the API: every page they
// reach passes axe, has no inline code and no untranslated message.
func TestConsoleBrowserPractice(t *testing.T) {
	cs := startConsoleSuite(t)
	root := newBrowserRootWithin(t, 170*time.Second)
	axe := axeSource(t)
	kzProsecutorToken := cs.token("kz-gpo", identity.Prosecutor)
	kzCAToken := cs.token("kz-gpo", identity.CentralAuthority)
	uzGPOToken := cs.token("uz-gpo", identity.CentralAuthority)

	kzP := newBrowser(t, root, axe)
	kzP.signInDev(cs.baseURL, "KZ", "kz-gpo", "prosecutor")

	t.Run("2 preservation extended, held by its follow-up, executed item by item", func(t *testing.T) {
		kzP.t = t
		uz := newBrowser(t, root, axe)
		uz.signInDev(cs.baseURL, "UZ", "uz-247", "central_authority")
		id, ref := consolePracticeRequest(t, cs, "DATA_PRESERVATION", "UZ", "submit", "transmit", "acknowledge", "accept", "execute")

		kzP.openRequest(cs.baseURL, id)
		kzP.checkPracticePage("the executed preservation's page")
		if got := kzP.text(`[data-preservation-state]`); got != "Preserved" {
			t.Errorf("the executed preservation's state reads %q", got)
		}
		kzP.screenshot("practice-preservation-en")
		if done := kzP.act("request_extension", func() {
			kzP.fill(`#days`, "60")
			kzP.fill(`#reason`, "The production request needs a court order, expected within 50 days.")
		}); !strings.Contains(done, "The extension was asked for") {
			t.Errorf("after asking for the extension the page says %q", done)
		}

		uz.openRequest(cs.baseURL, id)
		if got := uz.text(`[data-extension="pending"]`); !strings.Contains(got, "60 days asked by") {
			t.Errorf("the requested side's page shows the extension asked for as %q", got)
		}
		if done := uz.act("grant_extension", nil); !strings.Contains(done, "The extension was granted") {
			t.Errorf("after the grant the page says %q", done)
		}
		uz.do(chromedp.WaitVisible(chromedp.CSS(`[data-extension="granted"]`)))

		// The production follows: its form proposes the type announced
		// (traffic data) to the same state.
		kzP.openRequest(cs.baseURL, id)
		done := kzP.act("draft_follow_up", func() {
			if got := kzP.selected(`#type`); got != "Traffic data" {
				t.Errorf("the follow-up form proposes %q, want the traffic data announced", got)
			}
		})
		if !strings.Contains(done, "The follow-up draft was made") {
			t.Errorf("after drafting the follow-up the page says %q", done)
		}
		kzP.checkPracticePage("the follow-up draft's page")
		if got := kzP.text(`[data-related]`); !strings.Contains(got, "Follows up") || !strings.Contains(got, id) {
			t.Errorf("the follow-up draft's relations read %q", got)
		}
		follow := strings.TrimPrefix(kzP.location(), cs.baseURL+"/requests/")
		follow, _, _ = strings.Cut(follow, "?")
		// The production asks its own data categories: the draft copies
		// the case, not what the preservation kept.
		draft := cs.do(http.MethodGet, "/v1/requests/"+follow, kzProsecutorToken, nil)
		if r := cs.do(http.MethodPatch, "/v1/requests/"+follow+"?updateMask=dataCategories", kzProsecutorToken, map[string]any{
			"etag": draft.body["etag"], "dataCategories": []string{"connection logs", "subscriber of the address"}}); r.status != http.StatusOK {
			t.Fatalf("the follow-up's data categories: %d %s", r.status, r.raw)
		}
		authorityAPI(t, cs, kzProsecutorToken, follow, "submit", nil)
		authorityAPI(t, cs, kzCAToken, follow, "transmit", nil)

		kzP.openRequest(cs.baseURL, id)
		if got := kzP.text(`[data-preservation-state]`); got != "Held until the follow-up is answered" {
			t.Errorf("after the follow-up's transmission the preservation reads %q", got)
		}
		authorityAPI(t, cs, uzGPOToken, follow, "acknowledge", nil)
		authorityAPI(t, cs, uzGPOToken, follow, "accept", map[string]any{"dualCriminality": "MET", "humanRightsReview": map[string]any{"concerns": false}})

		// Item by item: the connection logs first, then the subscriber
		// of the address, no longer retained.
		gpo := newBrowser(t, root, axe)
		gpo.signInDev(cs.baseURL, "UZ", "uz-gpo", "central_authority")
		gpo.openRequest(cs.baseURL, follow)
		gpo.act("execute", func() {
			gpo.fill(`#response_summary`, "The connection logs of 3 to 5 March.")
			gpo.fill(`#partial`, "true")
			gpo.fill(`#items-0-outcome`, "PROVIDED")
		})
		if got := gpo.text(".fields"); !strings.Contains(got, "Partially executed") {
			t.Errorf("after the first delivery the request reads %q", got)
		}
		gpo.act("execute", func() {
			gpo.fill(`#response_summary`, "The subscriber records of the address are no longer kept.")
			gpo.fill(`#items-1-outcome`, "NOT_RETAINED")
			gpo.fill(`#items-1-reason`, "Kept for 30 days only.")
		})
		gpo.checkPracticePage("the executed production's page")
		gpo.screenshot("practice-deliveries-en")
		if got := gpo.text(`[data-delivery="2"] tr[data-outcome="NOT_RETAINED"]`); !strings.Contains(got, "No longer retained") ||
			!strings.Contains(got, "subscriber of the address") {
			t.Errorf("the second delivery's item reads %q", got)
		}
		if got := gpo.text(".fields"); !strings.Contains(got, "Executed") {
			t.Errorf("after the final delivery the request reads %q", got)
		}
		kzP.openRequest(cs.baseURL, id)
		if got := kzP.text(`[data-preservation-state]`); got != "Preserved" {
			t.Errorf("after the follow-up's execution the preservation reads %q, want preserved again", got)
		}
		_ = ref
	})

	t.Run("3 chain disclosure leads to a preservation in TJ", func(t *testing.T) {
		kzP.t = t
		uz := newBrowser(t, root, axe)
		uz.signInDev(cs.baseURL, "UZ", "uz-247", "central_authority")
		id, _ := consolePracticeRequest(t, cs, "DATA_PRESERVATION", "UZ", "submit", "transmit", "acknowledge", "accept", "execute")
		uz.openRequest(cs.baseURL, id)
		if done := uz.act("disclose_chain", func() {
			uz.fill(`#provider`, "Pamir Telecom")
			uz.fill(`#country`, "TJ")
			uz.fill(`#explanation`, "The address forwarded the traffic from an address of Pamir Telecom, Dushanbe.")
		}); !strings.Contains(done, "The other provider was disclosed") {
			t.Errorf("after the disclosure the page says %q", done)
		}
		kzP.openRequest(cs.baseURL, id)
		if got := kzP.text(`[data-chain="TJ"]`); !strings.Contains(got, "Pamir Telecom") {
			t.Errorf("the requesting side's page shows the chain as %q", got)
		}
		done := kzP.act("draft_follow_up", func() {
			if got := kzP.selected(`#requested_state`); !strings.Contains(got, "(TJ)") {
				t.Errorf("the follow-up form proposes %q, want TJ where the chain leads", got)
			}
			if got := kzP.selected(`#type`); got != "Data preservation" {
				t.Errorf("the follow-up form proposes %q, want a preservation", got)
			}
		})
		if !strings.Contains(done, "The follow-up draft was made") {
			t.Errorf("after drafting the preservation in TJ the page says %q", done)
		}
		if got := kzP.text(`[data-related]`); !strings.Contains(got, "Made because of") {
			t.Errorf("the new preservation's relations read %q", got)
		}
		if got := kzP.text(".fields"); !strings.Contains(got, "TJ") || !strings.Contains(got, "Data preservation") {
			t.Errorf("the new preservation's page reads %q, want a preservation to TJ", got)
		}
	})

	t.Run("4 an emergency by telephone to KG, confirmed in writing; another never confirmed", func(t *testing.T) {
		kzP.t = t
		kg := newBrowser(t, root, axe)
		kg.signInDev(cs.baseURL, "KG", "kg-247", "central_authority")
		kg.step("open the recording form", chromedp.Click(chromedp.CSS(`nav.main-nav a[href="/requests/oral"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#draft-form`)))
		kg.checkPracticePage("the recording form")
		kg.screenshot("practice-oral-en")
		kg.fill(`#requesting_agency`, "kz-gpo")
		kg.fill(`#intake-received_time`, formMoment(-time.Hour))
		kg.fill(`#intake-caller`, "Major A. Karimov, KZ GPO duty officer, +7 717 000 0000")
		kg.fill(`#type`, "DATA_PRESERVATION")
		kg.fill(`#priority`, "EMERGENCY")
		kg.fill(`#emergency_reason`, "A missing child's account is being used to arrange a meeting tonight.")
		kg.fill(`#facts_summary`, "The account of a missing 14-year-old is being used by an unknown adult.")
		kg.fill(`#identifiers-0-kind`, "ACCOUNT")
		kg.fill(`#identifiers-0-value`, "child-account-77")
		kg.step("record it", chromedp.Click(chromedp.CSS(`#draft-form .form-actions button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
		kg.checkPracticePage("the recorded request's page")
		if got := kg.text(`[data-intake]`); !strings.Contains(got, "By telephone") || !strings.Contains(got, "Major A. Karimov") {
			t.Errorf("the recorded request's intake reads %q", got)
		}
		kg.do(chromedp.WaitVisible(chromedp.CSS(`[data-unconfirmed]`)))
		if got := kg.text(".deadlines"); !strings.Contains(got, "Written confirmation due by") {
			t.Errorf("the recorded request's deadlines read %q", got)
		}
		id := strings.TrimPrefix(kg.location(), cs.baseURL+"/requests/")
		id, _, _ = strings.Cut(id, "?")

		kzP.openRequest(cs.baseURL, id)
		kzP.step("open the confirmation", chromedp.Click(chromedp.CSS(`a[data-action="confirm"]`)), chromedp.WaitVisible(chromedp.CSS(`#draft-form`)))
		kzP.checkPracticePage("the confirmation form")
		if got, _ := chromedp.Run(kzP.ctx, chromedp.Value(chromedp.CSS(`#identifiers-0-value`))); got != "child-account-77" {
			t.Errorf("the confirmation form is not prefilled: the identifier reads %q", got)
		}
		body := practiceBody("DATA_PRESERVATION", "KG")
		for sel, v := range map[string]string{
			`#legal_basis`: "CIS_IT_CRIME_AGREEMENT_2018", `#offence-description`: "Grooming of a child through an online account",
			`#offence-legal_qualification`: "Article 205", `#offence-maximum_penalty_years`: "7",
			`#necessity_and_proportionality`: body["necessityAndProportionality"].(string), `#language`: "ru",
			`#custodian-provider`: "Example Social Network LLC", `#custodian-country`: "KG",
			`#follow_up_intended-intended`: "true", `#follow_up_intended-production_type`: "CONTENT_DATA",
		} {
			kzP.fill(sel, v)
		}
		kzP.step("confirm", chromedp.Click(chromedp.CSS(`#draft-form .form-actions button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-done]`)))
		if done := kzP.text(`[data-done]`); !strings.Contains(done, "confirmed in writing") {
			t.Errorf("after the confirmation the page says %q", done)
		}
		if n, _ := chromedp.Run(kzP.ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-unconfirmed]").length`)); n != 0 {
			t.Error("the confirmed request is still marked unconfirmed")
		}

		// Another call, four days ago, never confirmed: overdue.
		kgToken := cs.token("kg-247", identity.CentralAuthority)
		r := cs.do(http.MethodPost, "/v1/requests:recordOral", kgToken, map[string]any{
			"requestingAgency": "agencies/kz-gpo",
			"request":          map[string]any{"type": "DATA_PRESERVATION", "priority": "EMERGENCY", "emergencyReason": "Threat to life."},
			"intake": map[string]any{"channel": "PHONE", "caller": "Duty officer of the KZ GPO",
				"receivedTime": time.Now().UTC().Add(-96 * time.Hour).Format(time.RFC3339)},
		})
		overdueRef, _ := r.body["reference"].(string)
		if r.status != http.StatusOK || overdueRef == "" {
			t.Fatalf("recording the unconfirmed call: %d %s", r.status, r.raw)
		}
		kzP.step("the dashboard", chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`#requests-overdue tr[data-request="`+overdueRef+`"]`)))
		kzP.checkPracticePage("the dashboard with an overdue recorded request")
	})

	t.Run("5 postponed and resumed, conditions accepted, a refusal after consultation", func(t *testing.T) {
		kzP.t = t
		gpo := newBrowser(t, root, axe)
		gpo.signInDev(cs.baseURL, "UZ", "uz-gpo", "central_authority")
		id, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")
		gpo.openRequest(cs.baseURL, id)
		gpo.act("postpone", func() {
			gpo.fill(`#until`, formMoment(14*24*time.Hour))
			gpo.fill(`#reason`, "A domestic search of the same servers is planned.")
		})
		if got := gpo.text(".fields"); !strings.Contains(got, "Postponed") {
			t.Errorf("after the postponement the request reads %q", got)
		}
		gpo.act("resume", nil)
		if got := gpo.text(".fields"); !strings.Contains(got, "Acknowledged") {
			t.Errorf("after the resumption the request reads %q", got)
		}
		gpo.act("propose_conditions", func() {
			gpo.fill(`#conditions-0-kind`, "USE_ONLY_STATED_PROCEEDINGS")
			gpo.fill(`#conditions-0-text`, "Only in case KZ-CASE-2026-1187.")
			gpo.fill(`#cost-kind`, "EXTRAORDINARY")
			gpo.fill(`#cost-estimate`, "1500.00")
			gpo.fill(`#cost-currency`, "KZT")
			gpo.fill(`#cost-bearer`, "the requesting state")
		})
		kzP.openRequest(cs.baseURL, id)
		if got := kzP.text(`[data-conditions-proposal]`); !strings.Contains(got, "Only in case KZ-CASE-2026-1187.") || !strings.Contains(got, "1500.00 KZT") {
			t.Errorf("the requesting side's page shows the proposal as %q", got)
		}
		kzP.act("accept_conditions", nil)
		if got := kzP.text(`[data-conditions-decision]`); got != "Accepted: the conditions bind" {
			t.Errorf("after the acceptance the conditions read %q", got)
		}

		rid, _ := consolePracticeRequest(t, cs, "TRAFFIC_DATA", "UZ", "submit", "transmit", "acknowledge")
		gpo.openRequest(cs.baseURL, rid)
		gpo.act("refuse", func() {
			gpo.run(`document.querySelector('input[name="grounds"][value="DOMESTIC_LAW_PROHIBITS"]').checked = true`)
			gpo.fill(`#explanation`, "The measure needs a court order that our law does not allow for this offence.")
			gpo.fill(`#consultation-note`, "Execution in part was discussed with the KZ central authority by telephone.")
			gpo.fill(`#consultation-time`, formMoment(-2*time.Hour))
		})
		if got := gpo.text(".fields"); !strings.Contains(got, "Refused") {
			t.Errorf("after the refusal the request reads %q", got)
		}
	})
}
