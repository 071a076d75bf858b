package request_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// The tests of DESIGN §10's use conditions, on the fakes with the fixed
// clock: what binds and when, the evidence withheld until the conditions
// are acknowledged, consent, onward transfers and reports of use.

var uzLiaison = user("lo-uz", "uz-police", identity.LiaisonOfficer)

// underConditions is seeded(st) accepted with use conditions: to use the
// evidence only in the stated proceedings, to pass it on to no one, to
// delete it within a year and to report its use within 30 days.
func underConditions(st request.Status) request.Request {
	r := seeded(st)
	r.Acceptance = &request.Acceptance{DualCriminality: "NOT_REQUIRED", UseConditions: []request.Condition{
		{Kind: request.UseOnlyStatedProceedings},
		{Kind: request.NoOnwardTransfer, Text: "Not to third states."},
		{Kind: request.DeleteBy, DueTime: t0.Add(365 * day)},
		{Kind: request.ReportUseCondition, DueTime: t0.Add(30 * day)},
	}}
	r.Deadlines.EvidenceEraseBy, r.Deadlines.ReportUseBy = t0.Add(365*day), t0.Add(30*day)
	return r
}

// attach uploads content as an attachment of kind to request id, by p.
func (dm domain) attach(t *testing.T, p identity.Principal, id, kind, content string) request.Attachment {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	a, err := dm.svc.Attach(ctx, p, request.Upload{RequestID: id, Kind: kind, Filename: strings.ToLower(kind) + ".txt", MediaType: "text/plain",
		SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(content))}, strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// download returns the content of attachment att of request id as p gets
// it.
func (dm domain) download(p identity.Principal, id, att string) (string, error) {
	_, rc, err := dm.svc.Download(ctx, p, id, att)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

// TestUseConditionsAtAccept: :accept's use conditions are checked as a
// proposal's, each fault named under use_conditions[i]; accepted, they
// bind, the deadlines of the earliest REPORT_USE and DELETE_BY or RETURN
// start, and the history says them.
func TestUseConditionsAtAccept(t *testing.T) {
	accept := request.Acceptance{DualCriminality: "NOT_REQUIRED", Conditions: "Handle with care."}
	for _, tc := range []struct {
		name string
		use  []request.Condition
		want []violation
	}{
		{"every fault", []request.Condition{{}, {Kind: "BURN"}, {Kind: request.OtherCondition, Text: " "}, {Kind: request.DeleteBy},
			{Kind: request.ReturnBy, DueTime: t0}, {Kind: request.ReportUseCondition, DueTime: t0.Add(-day)}},
			[]violation{{"use_conditions[0].kind", ""}, {"use_conditions[1].kind", ""}, {"use_conditions[2].text", ""},
				{"use_conditions[3].due_time", ""}, {"use_conditions[4].due_time", ""}, {"use_conditions[5].due_time", ""}}},
		{"a report without a date", []request.Condition{{Kind: request.ConfidentialCondition}, {Kind: request.ReportUseCondition, Text: "Yearly."}},
			[]violation{{"use_conditions[1].due_time", ""}}},
		{"too many", slices.Repeat([]request.Condition{{Kind: request.ConfidentialCondition}}, 21), []violation{{"use_conditions", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm, r := seed(t, request.Acknowledged)
			a := accept
			a.UseConditions = tc.use
			_, err := dm.svc.Accept(ctx, uzCA, r.ID, "", a, true)
			if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v (%v); want INVALID_ARGUMENT %v", code, vs, err, tc.want)
			}
			if got := dm.stored(t, r.ID); got.Status != request.Acknowledged || got.Version != 1 {
				t.Errorf("a refused acceptance changed the request: %s version %d", got.Status, got.Version)
			}
		})
	}

	dm, r := seed(t, request.Acknowledged)
	use := []request.Condition{
		{Kind: request.ReportUseCondition, DueTime: t0.Add(90 * day)},
		{Kind: request.ReturnBy, DueTime: t0.Add(200 * day)},
		{Kind: request.ReportUseCondition, DueTime: t0.Add(60 * day)},
		{Kind: request.DeleteBy, DueTime: t0.Add(100 * day), Text: "Delete every copy."},
		{Kind: request.OtherCondition, Text: "Tell us the verdict.", DueTime: t0.Add(10 * day)},
	}
	a := accept
	a.UseConditions = use
	v := ok(t)(dm.svc.Accept(ctx, uzCA, r.ID, "", a, true))
	if v.Status != request.Accepted || !slices.Equal(v.BindingConditions(), use) {
		t.Errorf("= %s binding %+v; want ACCEPTED with the use conditions binding", v.Status, v.BindingConditions())
	}
	if !v.Deadlines.ReportUseBy.Equal(t0.Add(60*day)) || !v.Deadlines.EvidenceEraseBy.Equal(t0.Add(100*day)) {
		t.Errorf("deadlines %+v; want report_use_by the earliest REPORT_USE (%v), evidence_erase_by the earliest DELETE_BY or RETURN (%v)",
			v.Deadlines, t0.Add(60*day), t0.Add(100*day))
	}
	if h := dm.lastHistory(t, r.ID); !strings.HasPrefix(h.Reason, "Handle with care.; REPORT_USE by ") || !strings.Contains(h.Reason, "DELETE_BY by") {
		t.Errorf("history reason %q; want the free-text conditions, then the use conditions", h.Reason)
	}
	if got := dm.stored(t, r.ID); !slices.Equal(got.Acceptance.UseConditions, use) || !got.Deadlines.ReportUseBy.Equal(t0.Add(60*day)) {
		t.Errorf("stored acceptance %+v deadlines %+v; want the use conditions and their deadlines kept", got.Acceptance, got.Deadlines)
	}
}

// TestAcceptedProposalBindsAcknowledged: proposed conditions accepted
// bind, with their deadlines, and the requesting side, which accepted
// them, has acknowledged them: the evidence is its at once, and there is
// nothing left to acknowledge. The proposal's check is :accept's: a
// REPORT_USE needs its date.
func TestAcceptedProposalBindsAcknowledged(t *testing.T) {
	dm, r := seed(t, request.Acknowledged)
	_, err := dm.svc.ProposeConditions(ctx, uzCA, r.ID, "", []request.Condition{{Kind: request.ReportUseCondition}}, nil)
	if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, []violation{{"conditions[0].due_time", ""}}) {
		t.Errorf("a REPORT_USE proposed without a date = %v %v; want INVALID_ARGUMENT on conditions[0].due_time", code, vs)
	}
	proposed := []request.Condition{{Kind: request.ConfidentialCondition}, {Kind: request.ReturnBy, DueTime: t0.Add(50 * day)},
		{Kind: request.ReportUseCondition, DueTime: t0.Add(20 * day)}}
	ok(t)(dm.svc.ProposeConditions(ctx, uzCA, r.ID, "", proposed, nil))
	now := dm.clock.advance(time.Hour)
	v := ok(t)(dm.svc.AcceptConditions(ctx, kzProsecutor, r.ID, ""))
	if !slices.Equal(v.BindingConditions(), proposed) || !v.Deadlines.EvidenceEraseBy.Equal(t0.Add(50*day)) || !v.Deadlines.ReportUseBy.Equal(t0.Add(20*day)) {
		t.Errorf("binding %+v deadlines %+v; want the proposal's conditions and their deadlines", v.BindingConditions(), v.Deadlines)
	}
	if ack := v.ConditionsAcknowledgement; ack == nil || ack.Conditions != 3 || ack.AcknowledgedBy.Subject != "p-kz" || !ack.AcknowledgeTime.Equal(now) {
		t.Errorf("acknowledgement %+v; want the 3 conditions acknowledged by p-kz at %v", ack, now)
	}
	att := dm.attach(t, uzCA, r.ID, "EVIDENCE", "logs")
	if got, err := dm.download(kzProsecutor, r.ID, att.ID); err != nil || got != "logs" {
		t.Errorf("the evidence after the proposal was accepted = %q, %v; want it", got, err)
	}
	_, err = dm.svc.AcknowledgeConditions(ctx, kzCA, r.ID, "")
	wantRefused(t, "acknowledging again", err, errs.FailedPrecondition, []string{"conditions_acknowledgement"}, "nothing left to acknowledge")

	// A proposal of a cost alone binds nothing.
	dm, r = seed(t, request.Acknowledged)
	ok(t)(dm.svc.ProposeConditions(ctx, uzCA, r.ID, "", nil, &request.Cost{Kind: "ORDINARY"}))
	if v := ok(t)(dm.svc.AcceptConditions(ctx, kzCA, r.ID, "")); v.ConditionsAcknowledgement != nil || len(v.BindingConditions()) != 0 {
		t.Errorf("a cost accepted: acknowledgement %+v binding %+v; want none", v.ConditionsAcknowledgement, v.BindingConditions())
	}
	_, err = dm.svc.AcknowledgeConditions(ctx, kzCA, r.ID, "")
	wantRefused(t, "acknowledging no conditions", err, errs.FailedPrecondition, []string{"binding_conditions"}, "nothing to acknowledge")
}

// TestEvidenceWithheldUntilAcknowledged: while a binding condition is
// unacknowledged, the requesting side (and anyone but the requested
// agency) is refused the EVIDENCE, FAILED_PRECONDITION naming each
// condition and saying how to acknowledge it; the refusal is on the
// parties' trail. Other attachments, the requested agency and the
// uploader's own agency are never refused. Once acknowledged, the evidence
// is the requesting side's.
func TestEvidenceWithheldUntilAcknowledged(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	r := underConditions(request.Executed)
	dm.store.put(r)
	evidence := dm.attach(t, uzCA, r.ID, "EVIDENCE", "subscriber records")
	order := dm.attach(t, uzCA, r.ID, "COURT_ORDER", "the court's order")
	own := dm.attach(t, kzProsecutor, r.ID, "EVIDENCE", "our own evidence")

	for _, p := range []identity.Principal{kzProsecutor, kzCA, kzLiaison, uzLiaison} {
		events := len(dm.store.events)
		_, err := dm.download(p, r.ID, evidence.ID)
		wantRefused(t, p.Subject+" downloading the evidence", err, errs.FailedPrecondition,
			[]string{"binding_conditions[0]", "binding_conditions[1]", "binding_conditions[2]", "binding_conditions[3]"},
			"NO_ONWARD_TRANSFER (Not to third states.)", "DELETE_BY, due "+t0.Add(365*day).Format(time.RFC3339),
			"POST /v1/requests/"+r.ID+":acknowledgeConditions")
		if ref, isRefusal := trail.RefusalOf(err); !isRefusal || !slices.Equal(ref.States, []string{"KZ", "UZ"}) {
			t.Errorf("the refusal of %s concerns %+v; want the parties KZ and UZ", p.Subject, ref)
		}
		if len(dm.store.events) != events+1 {
			t.Fatalf("refusing %s the evidence left %d events; want 1", p.Subject, len(dm.store.events)-events)
		}
		ev := dm.store.events[events]
		if ev.Outcome != "FAILED_PRECONDITION" || ev.Resource != "requests/"+r.ID+"/attachments/"+evidence.ID || ev.Actor.Subject != p.Subject ||
			!slices.Equal(ev.States, []string{"KZ", "UZ"}) {
			t.Errorf("the refusal's event %+v; want FAILED_PRECONDITION on the attachment by %s, for KZ and UZ", ev, p.Subject)
		}
	}
	for _, tc := range []struct {
		who  identity.Principal
		att  request.Attachment
		want string
	}{
		{uzCA, evidence, "subscriber records"},
		{kzProsecutor, order, "the court's order"},
		{kzProsecutor, own, "our own evidence"},
	} {
		if got, err := dm.download(tc.who, r.ID, tc.att.ID); err != nil || got != tc.want {
			t.Errorf("%s downloading %s = %q, %v; want %q", tc.who.Subject, tc.att.Kind, got, err, tc.want)
		}
	}

	_, err := dm.svc.AcknowledgeConditions(ctx, uzCA, r.ID, "")
	wantRefused(t, "the requested side acknowledging", err, errs.PermissionDenied, nil)
	now := dm.clock.advance(time.Hour)
	v := ok(t)(dm.svc.AcknowledgeConditions(ctx, kzCA, r.ID, ""))
	if ack := v.ConditionsAcknowledgement; ack == nil || ack.Conditions != 4 || ack.AcknowledgedBy.Subject != "ca-kz" || !ack.AcknowledgeTime.Equal(now) ||
		v.Status != request.Executed {
		t.Errorf("acknowledged: %s %+v; want EXECUTED, the 4 conditions acknowledged by ca-kz at %v", v.Status, ack, now)
	}
	for _, p := range []identity.Principal{kzProsecutor, uzLiaison} {
		if got, err := dm.download(p, r.ID, evidence.ID); err != nil || got != "subscriber records" {
			t.Errorf("%s downloading the evidence once acknowledged = %q, %v; want it", p.Subject, got, err)
		}
	}
	// A condition that came to bind later needs its own acknowledgement.
	later := dm.stored(t, r.ID)
	later.ConditionsAcknowledgement.Conditions = 3
	dm.store.put(later)
	_, err = dm.download(kzProsecutor, r.ID, evidence.ID)
	wantRefused(t, "with the last condition unacknowledged", err, errs.FailedPrecondition, []string{"binding_conditions[3]"}, "REPORT_USE")
}

// TestOnwardTransferNeedsConsent: under NO_ONWARD_TRANSFER an onward
// transfer is refused, saying to ask consent; asked, it is still refused
// until the requested side grants it; granted, it is allowed to the
// recipient the consent names and no other. A consent must be a granted
// ONWARD_TRANSFER one even where no condition forbids transfers.
func TestOnwardTransferNeedsConsent(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	r := underConditions(request.Executed)
	dm.store.put(r)
	transfer := request.OnwardTransfer{Recipient: "KG General Prosecutor's Office", Authorisation: "Joint investigation team agreement."}
	_, err := dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", transfer)
	wantRefused(t, "a transfer without consent", err, errs.FailedPrecondition, []string{"consent"}, "NO_ONWARD_TRANSFER", ":requestConsent")

	v := ok(t)(dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", request.Consent{Kind: request.ConsentOnwardTransfer,
		Purpose: "A joint investigation with KG.", Recipient: "KG General Prosecutor's Office"}))
	ok(t)(dm.svc.RequestConsent(ctx, kzCA, r.ID, "", request.Consent{Kind: request.ConsentOtherUse, Purpose: "A related tax case."}))
	if c := v.Consents; len(c) != 1 || c[0].Number != 1 || c[0].Decision != request.ConsentPending || c[0].RequestedBy.Subject != "p-kz" || !c[0].RequestTime.Equal(t0) {
		t.Fatalf("consents %+v; want consent 1 PENDING, asked by p-kz at %v", c, t0)
	}
	transfer.Consent = 1
	_, err = dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", transfer)
	wantRefused(t, "a transfer on a pending consent", err, errs.FailedPrecondition, []string{"consent"}, "PENDING")
	_, err = dm.svc.GrantConsent(ctx, kzCA, r.ID, "", 1, "")
	wantRefused(t, "the requesting side granting", err, errs.PermissionDenied, nil)
	_, err = dm.svc.GrantConsent(ctx, uzCA, r.ID, "", 3, "")
	wantRefused(t, "granting consent 3 of 2", err, errs.FailedPrecondition, []string{"consent"}, "no consent 3", "numbered 1 to 2")

	now := dm.clock.advance(day)
	v = ok(t)(dm.svc.GrantConsent(ctx, uzCA, r.ID, "", 1, "For the joint team only."))
	if c := v.Consents[0]; c.Decision != request.ConsentGranted || c.Answer != "For the joint team only." || c.DecidedBy.Subject != "ca-uz" || !c.DecideTime.Equal(now) {
		t.Errorf("consent 1 %+v; want GRANTED by ca-uz at %v with its terms", c, now)
	}
	_, err = dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", request.OnwardTransfer{Recipient: "TJ Prosecutor General",
		Authorisation: "The joint team.", Consent: 1})
	wantRefused(t, "a transfer to another recipient", err, errs.FailedPrecondition, []string{"recipient"}, "KG General Prosecutor's Office")
	_, err = dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", request.OnwardTransfer{Recipient: "KG General Prosecutor's Office",
		Authorisation: "The tax case.", Consent: 2})
	wantRefused(t, "a transfer on an OTHER_USE consent", err, errs.FailedPrecondition, []string{"consent"}, "OTHER_USE")
	_, err = dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", request.OnwardTransfer{Recipient: "x", Authorisation: "y", Consent: 9})
	wantRefused(t, "a transfer on consent 9", err, errs.FailedPrecondition, []string{"consent"}, "no consent 9")

	now = dm.clock.advance(day)
	transfer.Recipient = " kg general prosecutor's office "
	v = ok(t)(dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", transfer))
	if ot := v.OnwardTransfers; len(ot) != 1 || ot[0].Consent != 1 || ot[0].Recipient != transfer.Recipient || ot[0].RecordedBy.Subject != "p-kz" || !ot[0].RecordTime.Equal(now) {
		t.Errorf("onward transfers %+v; want the transfer on consent 1 recorded by p-kz at %v", ot, now)
	}

	// Where no condition forbids it, a transfer needs no consent, but a
	// consent named must authorise it.
	dm, r = seed(t, request.Executed)
	ok(t)(dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", request.Consent{Kind: request.ConsentOnwardTransfer, Purpose: "p", Recipient: "KG GPO"}))
	_, err = dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", request.OnwardTransfer{Recipient: "KG GPO", Authorisation: "a", Consent: 1})
	wantRefused(t, "a transfer on a pending consent without conditions", err, errs.FailedPrecondition, []string{"consent"}, "PENDING")
	if v := ok(t)(dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", request.OnwardTransfer{Recipient: "KG GPO", Authorisation: "A court order."})); len(v.OnwardTransfers) != 1 {
		t.Errorf("a transfer without conditions or consent: %+v; want it recorded", v.OnwardTransfers)
	}
}

// TestConsentRefusedStaysRefused: a refusal needs its reason; refused, a
// consent can be neither granted nor refused again, and authorises
// nothing.
func TestConsentRefusedStaysRefused(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	r := underConditions(request.Closed)
	dm.store.put(r)
	ok(t)(dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", request.Consent{Kind: request.ConsentOnwardTransfer, Purpose: "p", Recipient: "KG GPO"}))
	_, err := dm.svc.RefuseConsent(ctx, uzCA, r.ID, "", 1, " ")
	wantRefused(t, "a refusal without reason", err, errs.Invalid, []string{"reason"})
	_, err = dm.svc.RefuseConsent(ctx, uzCA, r.ID, "", 0, "No.")
	wantRefused(t, "a refusal of consent 0", err, errs.Invalid, []string{"consent"})
	v := ok(t)(dm.svc.RefuseConsent(ctx, uzCA, r.ID, "", 1, "KG is not party to the agreement."))
	if c := v.Consents[0]; c.Decision != request.ConsentRefused || c.Answer != "KG is not party to the agreement." || c.DecidedBy.Subject != "ca-uz" {
		t.Errorf("consent 1 %+v; want REFUSED by ca-uz with the reason", c)
	}
	_, err = dm.svc.GrantConsent(ctx, uzCA, r.ID, "", 1, "")
	wantRefused(t, "granting a refused consent", err, errs.FailedPrecondition, []string{"consent"}, "REFUSED")
	_, err = dm.svc.RefuseConsent(ctx, uzCA, r.ID, "", 1, "Again.")
	wantRefused(t, "refusing it again", err, errs.FailedPrecondition, []string{"consent"}, "REFUSED")
	_, err = dm.svc.RecordOnwardTransfer(ctx, kzProsecutor, r.ID, "", request.OnwardTransfer{Recipient: "KG GPO", Authorisation: "a", Consent: 1})
	wantRefused(t, "a transfer on the refused consent", err, errs.FailedPrecondition, []string{"consent"}, "REFUSED")
	if got := dm.stored(t, r.ID); got.Consents[0].Decision != request.ConsentRefused || len(got.OnwardTransfers) != 0 {
		t.Errorf("stored: consent %+v, transfers %+v; want it refused and no transfer", got.Consents[0], got.OnwardTransfers)
	}
}

// TestConsentInput: each field of a request for consent that is wrong is
// named; a RETENTION consent is for evidence a DELETE_BY or RETURN
// condition would erase, for longer than it is kept; granted, the evidence
// is erased at its keep_until instead.
func TestConsentInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    request.Consent
		want []string
	}{
		{"nothing", request.Consent{}, []string{"kind", "purpose"}},
		{"unknown kind", request.Consent{Kind: "RESALE", Purpose: "p"}, []string{"kind"}},
		{"transfer to no one", request.Consent{Kind: request.ConsentOnwardTransfer, Purpose: "p"}, []string{"recipient"}},
		{"other use with a recipient and a date", request.Consent{Kind: request.ConsentOtherUse, Purpose: "p", Recipient: "X", KeepUntil: t0.Add(day)},
			[]string{"recipient", "keep_until"}},
		{"retention without a date", request.Consent{Kind: request.ConsentRetention, Purpose: "p"}, []string{"keep_until"}},
		{"retention until the past", request.Consent{Kind: request.ConsentRetention, Purpose: "p", KeepUntil: t0}, []string{"keep_until"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := underConditions(request.Executed)
			dm.store.put(r)
			_, err := dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", tc.c)
			wantRefused(t, "the request for consent", err, errs.Invalid, tc.want)
		})
	}

	dm, r := seed(t, request.Executed)
	keep := request.Consent{Kind: request.ConsentRetention, Purpose: "The trial is set for 2028.", KeepUntil: t0.Add(800 * day)}
	_, err := dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", keep)
	wantRefused(t, "keeping evidence no condition erases", err, errs.FailedPrecondition, []string{"kind"}, "no DELETE_BY or RETURN")

	dm = newDomain(t, request.Policy{})
	r = underConditions(request.Executed)
	dm.store.put(r)
	early := keep
	early.KeepUntil = t0.Add(100 * day)
	_, err = dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", early)
	wantRefused(t, "keeping evidence for less than the condition", err, errs.FailedPrecondition, []string{"keep_until"}, "must ask for later")
	ok(t)(dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", keep))
	v := ok(t)(dm.svc.GrantConsent(ctx, uzCA, r.ID, "", 1, "Until the judgment."))
	if !v.Deadlines.EvidenceEraseBy.Equal(keep.KeepUntil) {
		t.Errorf("evidence_erase_by %v once keeping it is granted; want its keep_until %v", v.Deadlines.EvidenceEraseBy, keep.KeepUntil)
	}

	// Evidence already erased under the condition is not kept by consent.
	erased := underConditions(request.Executed)
	erased.ID = "req-erased"
	erased.Erasures = []request.Erasure{{Scope: request.EraseEvidence, Cause: request.ByCondition, EraseTime: t0}}
	erased.Deadlines.EvidenceEraseBy = time.Time{}
	dm.store.put(erased)
	_, err = dm.svc.RequestConsent(ctx, kzProsecutor, erased.ID, "", keep)
	wantRefused(t, "keeping erased evidence", err, errs.FailedPrecondition, []string{"kind"}, "was erased")
}

// TestReportUseClearsTheObligation: a report of use is refused where no
// REPORT_USE condition asks for one, and needs its text; past its due
// time the request is overdue, in Get and in the list filtered on
// overdue, on both engines; the report records it and the request is no
// longer overdue.
func TestReportUseClearsTheObligation(t *testing.T) {
	dm, r := seed(t, request.Executed)
	_, err := dm.svc.ReportUse(ctx, kzProsecutor, r.ID, "", "Used at trial.")
	wantRefused(t, "a report nothing asks for", err, errs.FailedPrecondition, []string{"binding_conditions"}, "no REPORT_USE")
	_, err = dm.svc.ReportUse(ctx, kzProsecutor, r.ID, "", " ")
	wantRefused(t, "a report without text", err, errs.Invalid, []string{"text"})

	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, c := serviceOnStore(t, engine)
			d := timed(completeDraft(), cooperation.TrafficData)
			v := ok(t)(svc.Create(ctx, kzProsecutor, d, ""))
			ok(t)(svc.Submit(ctx, kzProsecutor, v.ID, "", false))
			ok(t)(svc.Transmit(ctx, kzCA, v.ID, "", false))
			ok(t)(svc.Acknowledge(ctx, uzCA, v.ID, ""))
			due := c.now().Add(30 * day)
			ok(t)(svc.Accept(ctx, uzCA, v.ID, "", request.Acceptance{DualCriminality: "MET", UseConditions: []request.Condition{
				{Kind: request.ReportUseCondition, Text: "Say whether it was used at trial.", DueTime: due}}}, true))
			v = ok(t)(svc.Execute(ctx, uzCA, v.ID, "", request.Execution{ResponseSummary: "Logs.", Items: provided(v.Request)}, nil))
			if v.Overdue || !v.Deadlines.ReportUseBy.Equal(due) {
				t.Fatalf("executed: overdue %v, report_use_by %v; want not overdue, report due %v", v.Overdue, v.Deadlines.ReportUseBy, due)
			}
			overdue := func() []string {
				res, err := svc.List(ctx, kzProsecutor, request.ListOptions{Filter: query.Compare{Field: "overdue", Op: query.Eq, Value: true}})
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, w := range res.Views {
					ids = append(ids, w.ID)
				}
				return ids
			}
			if ids := overdue(); len(ids) != 0 {
				t.Errorf("overdue=true before the report is due lists %v; want none", ids)
			}
			c.set(due.Add(time.Minute))
			if got := ok(t)(svc.Get(ctx, kzProsecutor, v.ID)); !got.Overdue || got.Status != request.Executed {
				t.Errorf("past the report's due time: %s overdue %v; want EXECUTED and overdue", got.Status, got.Overdue)
			}
			if ids := overdue(); !slices.Equal(ids, []string{v.ID}) {
				t.Errorf("overdue=true past the report's due time lists %v; want %s", ids, v.ID)
			}
			got := ok(t)(svc.ReportUse(ctx, kzCA, v.ID, "", "Used at the trial of 3 December; the judgment is final."))
			if got.Overdue || !got.Deadlines.ReportUseBy.IsZero() || len(got.UseReports) != 1 || got.UseReports[0].ReportedBy.Subject != "ca-kz" {
				t.Errorf("reported: overdue %v, report_use_by %v, reports %+v; want not overdue, no deadline, the report by ca-kz",
					got.Overdue, got.Deadlines.ReportUseBy, got.UseReports)
			}
			if ids := overdue(); len(ids) != 0 {
				t.Errorf("overdue=true once reported lists %v; want none", ids)
			}
		})
	}
}

// TestConditionsWhoMayAct: each action of DESIGN §10's ledger, from each
// status: allowed from the statuses under conditions to its side, refused
// FAILED_PRECONDITION on status elsewhere (NOT_FOUND to the requested side
// before transmission), and PERMISSION_DENIED to the other side.
func TestConditionsWhoMayAct(t *testing.T) {
	requesting := []identity.Principal{kzProsecutor, kzCA}
	requested := []identity.Principal{uzCA}
	under := []request.Status{request.Accepted, request.PartiallyExecuted, request.Executed, request.Postponed,
		request.AwaitingRequesterDecision, request.Withdrawn, request.Closed}
	for _, row := range []struct {
		action        string
		do            func(svc *request.Service, p identity.Principal, id string) (request.View, error)
		who, others   []identity.Principal
		changeChecked func(r request.View) bool
	}{
		{"acknowledgeConditions", func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.AcknowledgeConditions(ctx, p, id, "")
		}, requesting, append([]identity.Principal{kzOtherPr}, requested...), func(v request.View) bool { return v.ConditionsAcknowledgement != nil }},
		{"requestConsent", func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.RequestConsent(ctx, p, id, "", request.Consent{Kind: request.ConsentOtherUse, Purpose: "A related case."})
		}, requesting, append([]identity.Principal{kzOtherPr}, requested...), func(v request.View) bool { return len(v.Consents) == 2 }},
		{"grantConsent", func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.GrantConsent(ctx, p, id, "", 1, "")
		}, requested, requesting, func(v request.View) bool { return v.Consents[0].Decision == request.ConsentGranted }},
		{"refuseConsent", func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.RefuseConsent(ctx, p, id, "", 1, "No.")
		}, requested, requesting, func(v request.View) bool { return v.Consents[0].Decision == request.ConsentRefused }},
		{"recordOnwardTransfer", func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.RecordOnwardTransfer(ctx, p, id, "", request.OnwardTransfer{Recipient: "KZ Police", Authorisation: "A court order."})
		}, requesting, append([]identity.Principal{kzOtherPr}, requested...), func(v request.View) bool { return len(v.OnwardTransfers) == 1 }},
		{"reportUse", func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.ReportUse(ctx, p, id, "", "Used at trial.")
		}, requesting, append([]identity.Principal{kzOtherPr}, requested...), func(v request.View) bool { return len(v.UseReports) == 1 }},
	} {
		// What each action needs: conditions binding (no transfer
		// forbidden), a pending consent.
		prepare := func(st request.Status) request.Request {
			r := seeded(st)
			r.Acceptance = &request.Acceptance{UseConditions: []request.Condition{{Kind: request.ConfidentialCondition},
				{Kind: request.ReportUseCondition, DueTime: t0.Add(30 * day)}}}
			r.Consents = []request.Consent{{Number: 1, Kind: request.ConsentOtherUse, Purpose: "p", Decision: request.ConsentPending}}
			return r
		}
		for _, st := range request.Statuses {
			for _, p := range row.who {
				t.Run(row.action+"/"+string(st)+"/"+p.Subject, func(t *testing.T) {
					dm := newDomain(t, request.Policy{})
					r := prepare(st)
					dm.store.put(r)
					v, err := row.do(dm.svc, p, r.ID)
					code, vs := refusal(err)
					switch {
					case slices.Contains(under, st):
						if err != nil || v.Status != st || !row.changeChecked(v) {
							t.Fatalf("= %s, %v; want the change recorded, still %s", v.Status, err, st)
						}
						if got := dm.stored(t, r.ID); got.Version != 2 || dm.lastHistory(t, r.ID).Action != row.action {
							t.Errorf("stored version %d, last history %q; want version 2 and a %s entry", got.Version, dm.lastHistory(t, r.ID).Action, row.action)
						}
					case r.TransmitTime.IsZero() && p.Agency == "uz-247":
						if code != errs.NotFound {
							t.Errorf("= %v; want NOT_FOUND", err)
						}
					default:
						if code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"status", ""}}) || !strings.Contains(err.Error(), string(st)) {
							t.Errorf("= %v %v (%v); want FAILED_PRECONDITION on status naming %s", code, vs, err, st)
						}
					}
				})
			}
		}
		for _, p := range row.others {
			t.Run(row.action+"/wrong actor "+p.Subject, func(t *testing.T) {
				dm := newDomain(t, request.Policy{})
				r := prepare(request.Executed)
				dm.store.put(r)
				_, err := row.do(dm.svc, p, r.ID)
				if code, _ := refusal(err); code != errs.PermissionDenied {
					t.Errorf("= %v; want PERMISSION_DENIED", err)
				}
				if got := dm.stored(t, r.ID); got.Version != 1 {
					t.Errorf("a refused %s changed the request: version %d", row.action, got.Version)
				}
			})
		}
	}
}

// TestLedgerBounded: no list of the ledger grows past 100 entries, and a
// request whose content was erased refuses every action of the ledger,
// saying so.
func TestLedgerBounded(t *testing.T) {
	full := underConditions(request.Executed)
	for i := range 100 {
		full.Consents = append(full.Consents, request.Consent{Number: int32(i + 1), Kind: request.ConsentOtherUse, Purpose: "p", Decision: request.ConsentRefused})
		full.OnwardTransfers = append(full.OnwardTransfers, request.OnwardTransfer{Recipient: "r", Authorisation: "a"})
		full.UseReports = append(full.UseReports, request.UseReport{Text: "t"})
	}
	erased := underConditions(request.Closed)
	erased.ID = "req-erased"
	erased.Erasures = []request.Erasure{{Scope: request.EraseContent, Cause: request.ByRetention, EraseTime: t0}}
	erased.Consents = []request.Consent{{Number: 1, Kind: request.ConsentOtherUse, Purpose: "p", Decision: request.ConsentPending}}
	for _, tc := range []struct {
		name string
		do   func(svc *request.Service, id string) error
		full string
	}{
		{"acknowledgeConditions", func(svc *request.Service, id string) error {
			_, err := svc.AcknowledgeConditions(ctx, kzCA, id, "")
			return err
		}, ""},
		{"requestConsent", func(svc *request.Service, id string) error {
			_, err := svc.RequestConsent(ctx, kzCA, id, "", request.Consent{Kind: request.ConsentOtherUse, Purpose: "p"})
			return err
		}, "consents"},
		{"grantConsent", func(svc *request.Service, id string) error {
			_, err := svc.GrantConsent(ctx, uzCA, id, "", 1, "")
			return err
		}, ""},
		{"refuseConsent", func(svc *request.Service, id string) error {
			_, err := svc.RefuseConsent(ctx, uzCA, id, "", 1, "No.")
			return err
		}, ""},
		{"recordOnwardTransfer", func(svc *request.Service, id string) error {
			_, err := svc.RecordOnwardTransfer(ctx, kzCA, id, "", request.OnwardTransfer{Recipient: "r", Authorisation: "a"})
			return err
		}, "onward_transfers"},
		{"reportUse", func(svc *request.Service, id string) error {
			_, err := svc.ReportUse(ctx, kzCA, id, "", "t")
			return err
		}, "use_reports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			dm.store.put(full)
			dm.store.put(erased)
			if tc.full != "" {
				wantRefused(t, "the 101st entry", tc.do(dm.svc, full.ID), errs.FailedPrecondition, []string{tc.full}, "holds 100")
			}
			wantRefused(t, "on erased content", tc.do(dm.svc, erased.ID), errs.FailedPrecondition, []string{"erasures"}, "was erased")
			if dm.stored(t, full.ID).Version != 1 || dm.stored(t, erased.ID).Version != 1 {
				t.Errorf("a refused %s changed a request", tc.name)
			}
		})
	}
}
