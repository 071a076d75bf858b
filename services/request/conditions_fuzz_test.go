package request_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// FuzzUseConditions feeds DESIGN §10's actions arbitrary input: a use
// condition at :accept, a request for consent, a grant, an onward transfer
// and a report of use. Each call either succeeds, and then records what
// it was given, or is refused with a clear error: INVALID_ARGUMENT or
// FAILED_PRECONDITION whose every violation names a field of that call and
// says what is wrong. Nothing panics.
func FuzzUseConditions(f *testing.F) {
	f.Add("DELETE_BY", "Delete every copy.", int64(86400), "RETENTION", "The trial.", "", int64(400*86400), int32(1), int32(0))
	f.Add("REPORT_USE", "", int64(-1), "ONWARD_TRANSFER", "A joint team.", "KG GPO", int64(0), int32(1), int32(1))
	f.Add("OTHER", " ", int64(0), "OTHER_USE", "", "x", int64(5), int32(0), int32(-3))
	f.Add("", "\x00", int64(1<<62), "BURN", "\xff", "KG GPO ", int64(-1<<62), int32(-1), int32(2))
	f.Add("NO_ONWARD_TRANSFER", "Not to third states.", int64(0), "ONWARD_TRANSFER", "p", "kg gpo", int64(0), int32(2), int32(2))
	f.Fuzz(func(t *testing.T, kind, text string, due int64, consentKind, purpose, recipient string, keep int64, number, consent int32) {
		at := func(seconds int64) time.Time {
			if seconds == 0 {
				return time.Time{}
			}
			return t0.Add(time.Duration(seconds) * time.Second)
		}
		// clear fails t unless err is nil or a refusal of code Invalid or
		// FailedPrecondition whose violations each name one of fields
		// and say something.
		clear := func(call string, err error, fields ...string) {
			t.Helper()
			if err == nil {
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || (e.Code != errs.Invalid && e.Code != errs.FailedPrecondition) || len(e.Violations) == 0 {
				t.Fatalf("%s: %v; want INVALID_ARGUMENT or FAILED_PRECONDITION naming fields", call, err)
			}
			for _, v := range e.Violations {
				if !slices.ContainsFunc(fields, func(f string) bool { return regexp.MustCompile(`^` + f + `$`).MatchString(v.Field) }) ||
					strings.TrimSpace(v.Description) == "" || strings.Contains(v.Description, "%!") {
					t.Fatalf("%s: violation %q: %q; want one of %v, said clearly", call, v.Field, v.Description, fields)
				}
			}
		}

		dm := newDomain(t, request.Policy{})
		r := seeded(request.Acknowledged)
		dm.store.put(r)
		c := request.Condition{Kind: kind, Text: text, DueTime: at(due)}
		v, err := dm.svc.Accept(ctx, uzCA, r.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED", UseConditions: []request.Condition{c}}, true)
		clear("accept", err, `use_conditions\[0\]\.(kind|text|due_time)`)
		if err == nil {
			if b := v.BindingConditions(); len(b) != 1 || b[0] != c {
				t.Fatalf("accept: binding %+v; want %+v", b, c)
			}
			wantReport, wantErase := time.Time{}, time.Time{}
			switch kind {
			case request.ReportUseCondition:
				wantReport = c.DueTime
			case request.DeleteBy, request.ReturnBy:
				wantErase = c.DueTime
			}
			if !v.Deadlines.ReportUseBy.Equal(wantReport) || !v.Deadlines.EvidenceEraseBy.Equal(wantErase) {
				t.Fatalf("accept %+v: deadlines %+v", c, v.Deadlines)
			}
		}

		u := underConditions(request.Executed)
		u.ID = "req-under"
		u.Consents = []request.Consent{{Number: 1, Kind: request.ConsentOnwardTransfer, Purpose: "A joint team.", Recipient: "KG GPO", Decision: request.ConsentPending}}
		dm.store.put(u)
		asked := request.Consent{Kind: consentKind, Purpose: purpose, Recipient: recipient, KeepUntil: at(keep)}
		v, err = dm.svc.RequestConsent(ctx, kzProsecutor, u.ID, "", asked)
		clear("requestConsent", err, "kind", "purpose", "recipient", "keep_until")
		if err == nil {
			if got := v.Consents[len(v.Consents)-1]; got.Number != 2 || got.Decision != request.ConsentPending || got.Kind != consentKind || got.Purpose != purpose {
				t.Fatalf("requestConsent %+v: recorded %+v", asked, got)
			}
		}
		v, err = dm.svc.GrantConsent(ctx, uzCA, u.ID, "", number, text)
		clear("grantConsent", err, "consent")
		if err == nil && v.Consents[number-1].Decision != request.ConsentGranted {
			t.Fatalf("grantConsent %d: consents %+v", number, v.Consents)
		}
		v, err = dm.svc.RecordOnwardTransfer(ctx, kzCA, u.ID, "", request.OnwardTransfer{Recipient: recipient, Authorisation: purpose, Consent: consent})
		clear("recordOnwardTransfer", err, "recipient", "authorisation", "consent")
		if err == nil {
			// NO_ONWARD_TRANSFER binds: only a granted consent for the
			// recipient lets it through.
			if consent < 1 || v.Consents[consent-1].Decision != request.ConsentGranted {
				t.Fatalf("recordOnwardTransfer on consent %d went through: %+v", consent, v.Consents)
			}
		}
		_, err = dm.svc.ReportUse(ctx, kzCA, u.ID, "", text)
		clear("reportUse", err, "text")
	})
}
