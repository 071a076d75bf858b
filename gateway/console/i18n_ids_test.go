package console

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
)

// TestComposedMessageIDsExist checks the message ids the code composes at
// run time (a prefix and an enum value, an action id or a role), which
// TestCatalogComplete's scan of literal ids cannot see: a missing one is
// shown to the user as its raw id.
func TestComposedMessageIDsExist(t *testing.T) {
	data, err := fs.ReadFile(localeFiles, "locales/ru.json")
	if err != nil {
		t.Fatal(err)
	}
	var ru map[string]string
	if err := json.Unmarshal(data, &ru); err != nil {
		t.Fatal(err)
	}
	need := func(id string) {
		t.Helper()
		if _, ok := ru[id]; !ok {
			t.Errorf("the console shows message %q, which locales/ru.json lacks", id)
		}
	}
	// enum asks for prefix+name of every value; zero too when the page
	// can show an unset value.
	enum := func(prefix string, names map[int32]string, withZero bool) {
		t.Helper()
		for n, name := range names {
			if n != 0 || withZero {
				need(prefix + name)
			}
		}
	}
	enum("status.", requestv1.Request_Status_name, true)
	enum("type.", directoryv1.RequestType_name, true)
	enum("priority.", directoryv1.Priority_name, true)
	enum("kind.", directoryv1.Agency_Kind_name, true)
	enum("legal_basis.", requestv1.Request_LegalBasis_name, false)
	enum("message.visibility.", requestv1.Message_Visibility_name, true)
	enum("attachment.kind.", requestv1.Attachment_Kind_name, true)
	enum("authority.attachment_kind.", requestv1.Attachment_Kind_name, true)
	enum("field.identifier_kind.", requestv1.Identifier_Kind_name, false)
	enum("refusal.ground.", requestv1.Refusal_Ground_name, false)
	enum("statistics.ground.", requestv1.Refusal_Ground_name, false)
	// The enums of issue 14's content and forms (practice*.go); a page
	// can show an unset value of each.
	enum("impediment.kind.", requestv1.Impediment_Kind_name, true)
	enum("condition.kind.", requestv1.Condition_Kind_name, true)
	enum("cost.kind.", requestv1.Cost_Kind_name, true)
	enum("outcome.", requestv1.ExecutionItem_Outcome_name, true)
	enum("relation.", requestv1.RelatedRequest_Kind_name, true)
	enum("preservation.state.", requestv1.Preservation_State_name, true)
	enum("extension.decision.", requestv1.PreservationExtension_Decision_name, true)
	enum("conditions.decision.", requestv1.ConditionsProposal_Decision_name, true)
	enum("intake.channel.", requestv1.Intake_Channel_name, true)
	enum("person.kind.", requestv1.Person_Kind_name, true)
	enum("statistics.outcome.", requestv1.ExecutionItem_Outcome_name, false)
	// The enums of DESIGN §10 (dataprotection.go, subjects.go); a page can
	// show an unset value of each.
	enum("consent.kind.", requestv1.Consent_Kind_name, true)
	enum("consent.decision.", requestv1.Consent_Decision_name, true)
	enum("erasure.cause.", requestv1.Erasure_Cause_name, true)
	enum("erasure.scope.", requestv1.Erasure_Scope_name, true)
	enum("subject.right.", requestv1.DataSubjectRequest_Right_name, true)
	enum("subject.decision.", requestv1.DataSubjectDecision_Decision_name, true)
	enum("subject.informing.", requestv1.DataSubjectInforming_Status_name, true)
	for _, d := range []string{"record", "decide", "inform"} {
		need("subjects." + d + ".done")
	}
	for _, dc := range []requestv1.Acceptance_DualCriminality{requestv1.Acceptance_MET, requestv1.Acceptance_NOT_REQUIRED} {
		need("authority.dual_criminality." + dc.String())
	}
	for _, r := range identity.Roles {
		need("role." + string(r))
	}
	for _, a := range requestActions {
		need(a.Label)
		if a.ID != "edit" {
			// Editing goes back to the form (?saved=1), not to the
			// request's page with a confirmation.
			need("action." + a.ID + ".done")
		}
	}
	for _, a := range authorityActions {
		for _, s := range []string{".title", ".intro", ".submit"} {
			need("action." + a.ID + s)
		}
	}
	for _, a := range []string{"submit", "withdraw", "close", "answer"} {
		need("action." + a)
	}
	for _, m := range []string{"confirm", "oral"} {
		for _, s := range []string{".title", ".intro", ".submit"} {
			need(m + s)
		}
	}
	need("action.record_oral.done")
	for _, a := range []string{"submit", "close"} {
		need("prosecutor." + a + ".confirm")
	}
	for _, q := range authorityQueueSpecs(&session{State: "KZ", Agency: "kz-gpo"}) {
		need("authority." + q.id + ".title")
		need("authority." + q.id + ".hint")
	}
	for _, a := range []string{"deactivate", "activate"} {
		for _, s := range []string{".title", ".already", ".what", ".users", ".routing", ".audit", ".confirm", ".done", ".link"} {
			need("agency." + a + s)
		}
	}
	for _, it := range safeguardItems {
		need("checklist." + it.id)
	}
	for _, s := range []string{"met", "unmet", "unknown"} {
		need("checklist.state." + s)
	}
	for _, st := range []string{"KG", "KZ", "TJ", "TM", "UZ"} {
		need("state." + st)
	}
}

// TestCountTextAtTheServiceBound: a part of the liaison dashboard whose
// total is the request service's counting bound (it counts 1,000 past the
// page's end, then stops) says "at least", not that this is all of them.
func TestCountTextAtTheServiceBound(t *testing.T) {
	if serviceCountLimit != request.ListCountLimit {
		t.Fatalf("serviceCountLimit is %d, the request service counts %d past a page", serviceCountLimit, request.ListCountLimit)
	}
	pg := page{T: mustCatalog(t).localizer("en"), Lang: "en"}
	for total, want := range map[int32]string{
		37:   "37 in all",
		1050: "1050 in all",
		1051: "at least 1051",
	} {
		if got := countText(pg, total); got != want {
			t.Errorf("countText(%d) = %q, want %q", total, got, want)
		}
	}
}

// TestDataProtectionMessageIDsExist checks the literal message ids of the
// pages of DESIGN §10, which TestCatalogComplete's scan does not read.
func TestDataProtectionMessageIDsExist(t *testing.T) {
	data, err := fs.ReadFile(localeFiles, "locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var en map[string]string
	if err := json.Unmarshal(data, &en); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`"((?:action|attachment|dataprotection|deadline|download|erasure|nav|practice|purpose|subjects?|violation)\.[A-Za-z_.-]+)"`)
	found := 0
	for _, f := range []string{"dataprotection.go", "dataprotection.templ", "readpurpose.go", "readpurpose.templ", "subjects.go", "subjects.templ",
		"attachments.templ", "actions.go", "pages.go"} {
		src, err := fs.ReadFile(sourceFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			found++
			if strings.HasSuffix(m[1], ".") {
				continue // a prefix the code completes, checked above
			}
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s uses message %q, which locales/en.json lacks", f, m[1])
			}
		}
	}
	if found < 100 {
		t.Fatalf("found only %d message ids in the sources: the pattern no longer matches them", found)
	}
}
