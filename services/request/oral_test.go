package request_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
)

// The tests of DESIGN §5.3: a request received by telephone, recorded by the
// requested state's 24/7 contact point, confirmed in writing by the
// requesting side.

// phoneCall is how UZ's contact point took an emergency call from KZ an
// hour before t0.
var phoneCall = request.Intake{Channel: "PHONE", ReceivedTime: t0.Add(-time.Hour), Caller: "Prosecutor A. Sadykov, KZ GPO"}

// oralDraft is what the caller could say on the phone: type, priority,
// facts, an identifier.
func oralDraft(t cooperation.RequestType) request.Request {
	return request.Request{Type: t, Priority: cooperation.Emergency, EmergencyReason: "A child is missing.",
		FactsSummary: "A child was lured through a chat account.", Identifiers: []request.Identifier{{Kind: request.IPAddress, Value: "192.0.2.10"}}}
}

// recorded records oralDraft(t) from phoneCall at t0.
func (dm domain) recorded(tb testing.TB, typ cooperation.RequestType) request.View {
	tb.Helper()
	v, err := dm.svc.RecordOral(ctx, uzCA, oralDraft(typ), "kz-gpo", phoneCall, "")
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// completion is what the confirming prosecutor adds in writing: every
// field completeDraft has that the call did not give.
func completion(r *request.Request) {
	c := completeDraft()
	r.LegalBasis, r.Language, r.Offence, r.NecessityAndProportionality = c.LegalBasis, c.Language, c.Offence, c.NecessityAndProportionality
	if r.Type == cooperation.DataPreservation {
		r.Custodian, r.FollowUpIntended = c.Custodian, c.FollowUpIntended
	}
}

var completionFields = []string{"legal_basis", "language", "offence", "necessity_and_proportionality", "custodian", "follow_up_intended"}

// TestRecordOral: the recorded request is ACKNOWLEDGED to the recording
// agency, from the requesting agency, with no owner; its answer deadline
// runs from now and its confirmation deadline from the call; its one history
// entry is the recording; both sides see it, no one else.
func TestRecordOral(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.TrafficData)
	switch {
	case v.Status != request.Acknowledged, v.Owner != "",
		v.RequestingAgency != "kz-gpo", v.RequestingState != "KZ", v.RequestedAgency != "uz-247", v.RequestedState != "UZ":
		t.Errorf("recorded as %s owned by %q, from %s/%s to %s/%s; want ACKNOWLEDGED, no owner, from kz-gpo/KZ to uz-247/UZ",
			v.Status, v.Owner, v.RequestingAgency, v.RequestingState, v.RequestedAgency, v.RequestedState)
	case !v.TransmitTime.Equal(t0) || !v.AcknowledgeTime.Equal(t0):
		t.Errorf("transmitted %v, acknowledged %v; want both %v", v.TransmitTime, v.AcknowledgeTime, t0)
	case !v.Deadlines.AnswerBy.Equal(t0.Add(8 * time.Hour)):
		t.Errorf("answer by %v, want 8 h after the recording (emergency)", v.Deadlines.AnswerBy)
	case !v.Deadlines.ConfirmationDueBy.Equal(phoneCall.ReceivedTime.Add(72 * time.Hour)):
		t.Errorf("confirmation due by %v, want 72 h after the call", v.Deadlines.ConfirmationDueBy)
	case v.Intake == nil || v.Intake.Channel != "PHONE" || v.Intake.Caller != phoneCall.Caller || v.Intake.RecordedBy.Subject != "ca-uz" ||
		!v.Intake.ReceivedTime.Equal(phoneCall.ReceivedTime) || !v.Intake.ConfirmTime.IsZero():
		t.Errorf("intake %+v; want the call, recorded by ca-uz, unconfirmed", v.Intake)
	case v.Overdue:
		t.Error("overdue at once")
	}
	hist, err := dm.svc.History(ctx, kzProsecutor, v.ID)
	if err != nil || len(hist) != 1 || hist[0].From != "" || hist[0].To != request.Acknowledged || hist[0].Action != "recordOral" || hist[0].Actor.Subject != "ca-uz" {
		t.Errorf("history %+v, %v; want one entry recordOral from none to ACKNOWLEDGED by ca-uz", hist, err)
	}
	if ev := dm.store.events[len(dm.store.events)-1]; !slices.Equal(ev.States, []string{"KZ", "UZ"}) {
		t.Errorf("the recording's audit event is for %v, want both KZ and UZ", ev.States)
	}
	for _, p := range []identity.Principal{uzCA, kzProsecutor, kzOtherPr, kzCA} {
		if got, err := dm.svc.Get(ctx, p, v.ID); err != nil || got.MetadataOnly {
			t.Errorf("%s reads it: %v (metadata only %v); want the whole request", p.Subject, err, got.MetadataOnly)
		}
	}
	for _, p := range []identity.Principal{user("ca-kg", "kg-gpo", identity.CentralAuthority), user("p-uz", "uz-gpo", identity.Prosecutor)} {
		if _, err := dm.svc.Get(ctx, p, v.ID); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("%s reads it: %v; want NOT_FOUND", p.Subject, err)
		}
	}
}

// TestRecordOralRefusals: who may record, and each bad input named.
func TestRecordOralRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      identity.Principal
		change func(d *request.Request, in *request.Intake, agency *string)
		code   errs.Code
		field  string
	}{
		{"by a prosecutor", user("p-uz", "uz-gpo", identity.Prosecutor), nil, errs.PermissionDenied, ""},
		{"drafted in the portal", uzCA, func(_ *request.Request, in *request.Intake, _ *string) { in.Channel = "PORTAL" }, errs.Invalid, "intake.channel"},
		{"no channel", uzCA, func(_ *request.Request, in *request.Intake, _ *string) { in.Channel = "" }, errs.Invalid, "intake.channel"},
		{"received tomorrow", uzCA, func(_ *request.Request, in *request.Intake, _ *string) { in.ReceivedTime = t0.Add(day) }, errs.Invalid, "intake.received_time"},
		{"no caller", uzCA, func(_ *request.Request, in *request.Intake, _ *string) { in.Caller = " " }, errs.Invalid, "intake.caller"},
		{"no requesting agency", uzCA, func(_ *request.Request, _ *request.Intake, a *string) { *a = "" }, errs.Invalid, "requesting_agency"},
		{"requesting agency of the recording state", uzCA, func(_ *request.Request, _ *request.Intake, a *string) { *a = "uz-gpo" }, errs.FailedPrecondition, "requesting_agency"},
		{"requested state another", uzCA, func(d *request.Request, _ *request.Intake, _ *string) { d.RequestedState = "TJ" }, errs.Invalid, "requested_state"},
		{"no type", uzCA, func(d *request.Request, _ *request.Intake, _ *string) { d.Type = "" }, errs.Invalid, "type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			d, in, agency := oralDraft(cooperation.TrafficData), phoneCall, "kz-gpo"
			if tc.change != nil {
				tc.change(&d, &in, &agency)
			}
			_, err := dm.svc.RecordOral(ctx, tc.p, d, agency, in, "")
			code, vs := refusal(err)
			if code != tc.code || tc.field != "" && !slices.ContainsFunc(vs, func(v violation) bool { return v.field == tc.field }) {
				t.Errorf("= %v %v (%v); want %v on %s", code, vs, err, tc.code, tc.field)
			}
			if len(dm.store.requests) != 0 {
				t.Errorf("a refused recording stored %d requests", len(dm.store.requests))
			}
		})
	}
	t.Run("requesting agency deactivated", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		dm.dir.inactive.Store("kz-gpo")
		_, err := dm.svc.RecordOral(ctx, uzCA, oralDraft(cooperation.TrafficData), "kz-gpo", phoneCall, "")
		if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"requesting_agency", ""}}) {
			t.Errorf("= %v %v; want FAILED_PRECONDITION on requesting_agency", code, vs)
		}
	})
}

// TestRecordOralIdempotent: the same request_id and body answer with the
// same request; another body under it is refused.
func TestRecordOralIdempotent(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	first := ok(t)(dm.svc.RecordOral(ctx, uzCA, oralDraft(cooperation.TrafficData), "kz-gpo", phoneCall, "call-1"))
	dm.clock.advance(time.Minute)
	again := ok(t)(dm.svc.RecordOral(ctx, uzCA, oralDraft(cooperation.TrafficData), "kz-gpo", phoneCall, "call-1"))
	if again.ID != first.ID || len(dm.store.requests) != 1 {
		t.Errorf("retry made %s (stored %d), want %s alone", again.ID, len(dm.store.requests), first.ID)
	}
	other := phoneCall
	other.Caller = "Someone else"
	_, err := dm.svc.RecordOral(ctx, uzCA, oralDraft(cooperation.TrafficData), "kz-gpo", other, "call-1")
	if code, vs := refusal(err); code != errs.AlreadyExists || !slices.Equal(vs, []violation{{"request_id", ""}}) {
		t.Errorf("another body under the key = %v %v; want ALREADY_EXISTS on request_id", code, vs)
	}
}

// TestConfirmationWindowFromPolicy: the window is the policy's, and a
// recording without the time of the call counts from the recording.
func TestConfirmationWindowFromPolicy(t *testing.T) {
	policy, err := request.ParsePolicy([]byte(`{"confirmation": "24h"}`))
	if err != nil {
		t.Fatal(err)
	}
	dm := newDomain(t, policy)
	v := dm.recorded(t, cooperation.TrafficData)
	if want := phoneCall.ReceivedTime.Add(24 * time.Hour); !v.Deadlines.ConfirmationDueBy.Equal(want) {
		t.Errorf("confirmation due by %v, want %v", v.Deadlines.ConfirmationDueBy, want)
	}
	in := phoneCall
	in.ReceivedTime = time.Time{}
	v = ok(t)(dm.svc.RecordOral(ctx, uzCA, oralDraft(cooperation.TrafficData), "kz-gpo", in, ""))
	if !v.Intake.ReceivedTime.Equal(t0) || !v.Deadlines.ConfirmationDueBy.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("received %v, due %v; want %v and 24 h later", v.Intake.ReceivedTime, v.Deadlines.ConfirmationDueBy, t0)
	}
	for _, bad := range []string{`{"confirmation": "0h"}`, `{"execute_before_confirmation": ["SPYING"]}`, `{"execute_before_confirmation": "DATA_PRESERVATION"}`} {
		if _, err := request.ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("policy %s accepted", bad)
		}
	}
}

// TestConfirmInWriting: a prosecutor of the requesting agency completes
// and confirms the request and owns it; the deadline is met; a second
// confirmation, or one of a request drafted in Comity, is refused saying
// why; the confirmation checks every safeguard, naming the fields.
func TestConfirmInWriting(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.TrafficData)
	timed := func(r *request.Request) {
		completion(r)
		r.Identifiers[0].StartTime, r.Identifiers[0].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
	}

	_, err := dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", func(*request.Request) {}, nil)
	code, vs := refusal(err)
	want := []violation{{"legal_basis", "LEGAL_BASIS_REQUIRED"}, {"offence.description", "OFFENCE_DESCRIPTION_REQUIRED"},
		{"offence.legal_qualification", "LEGAL_QUALIFICATION_REQUIRED"}, {"offence.maximum_penalty_years", "MAXIMUM_PENALTY_REQUIRED"},
		{"identifiers[0].start_time", "TIME_RANGE_REQUIRED"}, {"necessity_and_proportionality", "NECESSITY_TOO_SHORT"}, {"language", "LANGUAGE_REQUIRED"}}
	if code != errs.FailedPrecondition || !slices.Equal(vs, want) {
		t.Errorf("confirming the call as it was = %v %v; want FAILED_PRECONDITION %v", code, vs, want)
	}
	for _, p := range []identity.Principal{uzCA, kzCA} {
		if _, err := dm.svc.ConfirmInWriting(ctx, p, v.ID, "", timed, completionFields); errs.CodeOf(err) != errs.PermissionDenied {
			t.Errorf("confirmation by %s = %v; want PERMISSION_DENIED", p.Subject, err)
		}
	}
	if got, _ := dm.store.Get(ctx, v.ID); got.Version != 1 {
		t.Errorf("refused confirmations changed the request (version %d)", got.Version)
	}

	if err := dm.svc.MayConfirmInWriting(ctx, uzCA, v.ID); errs.CodeOf(err) != errs.PermissionDenied {
		t.Errorf("may the requested CA confirm: %v; want PERMISSION_DENIED", err)
	}
	if err := dm.svc.MayConfirmInWriting(ctx, kzOtherPr, v.ID); err != nil {
		t.Errorf("may a prosecutor of the requesting agency confirm: %v; want yes", err)
	}
	dm.clock.advance(2 * time.Hour)
	c := ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", timed, completionFields))
	switch {
	case c.Owner != "p-kz-2" || c.Status != request.Acknowledged:
		t.Errorf("confirmed: owner %q, %s; want p-kz-2, ACKNOWLEDGED", c.Owner, c.Status)
	case !c.Intake.ConfirmTime.Equal(t0.Add(2*time.Hour)) || c.Intake.ConfirmedBy.Subject != "p-kz-2" || c.Intake.RecordedBy.Subject != "ca-uz":
		t.Errorf("intake %+v; want confirmed at %v by p-kz-2, recorded by ca-uz", c.Intake, t0.Add(2*time.Hour))
	case !c.Deadlines.ConfirmationDueBy.IsZero() || !c.Deadlines.AnswerBy.Equal(v.Deadlines.AnswerBy):
		t.Errorf("deadlines %+v; want the confirmation's cleared, the answer's kept", c.Deadlines)
	case c.LegalBasis != "CHISINAU_CONVENTION_2002" || c.FactsSummary != v.FactsSummary:
		t.Errorf("fields: legal basis %q, facts %q; want the completion over the call", c.LegalBasis, c.FactsSummary)
	}
	hist, _ := dm.svc.History(ctx, kzOtherPr, v.ID)
	if last := hist[len(hist)-1]; last.Action != "confirmInWriting" || last.Actor.Subject != "p-kz-2" {
		t.Errorf("last history entry %+v; want confirmInWriting by p-kz-2", last)
	}

	_, err = dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", timed, completionFields)
	if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"intake.confirm_time", ""}}) ||
		!strings.Contains(err.Error(), "confirmed") {
		t.Errorf("second confirmation = %v %v (%v); want FAILED_PRECONDITION on intake.confirm_time", code, vs, err)
	}
	if err := dm.svc.MayConfirmInWriting(ctx, kzOtherPr, v.ID); errs.CodeOf(err) != errs.FailedPrecondition {
		t.Errorf("may it be confirmed again: %v; want FAILED_PRECONDITION", err)
	}
	r := seeded(request.Acknowledged)
	dm.store.put(r)
	_, err = dm.svc.ConfirmInWriting(ctx, kzProsecutor, r.ID, "", timed, completionFields)
	if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"intake", ""}}) {
		t.Errorf("confirming a request drafted in Comity = %v %v; want FAILED_PRECONDITION on intake", code, vs)
	}
}

// TestConfirmInWritingStatuses: the confirmation is the row
// "pending statuses → unchanged, by a prosecutor of the requesting agency".
func TestConfirmInWritingStatuses(t *testing.T) {
	pendingSt := []request.Status{request.Acknowledged, request.ClarificationRequested, request.ConditionsProposed, request.Postponed,
		request.AwaitingRequesterDecision, request.Accepted, request.PartiallyExecuted}
	for _, st := range request.Statuses {
		t.Run(string(st), func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			v := dm.recorded(t, cooperation.DataPreservation)
			r, _ := dm.store.Get(ctx, v.ID)
			r.Status = st
			dm.store.put(r)
			c, err := dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", completion, completionFields)
			if slices.Contains(pendingSt, st) {
				if err != nil || c.Status != st || c.Owner != "p-kz-2" {
					t.Errorf("= %s owner %q, %v; want %s owned by p-kz-2", c.Status, c.Owner, err, st)
				}
				return
			}
			if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"status", ""}}) {
				t.Errorf("= %v %v; want FAILED_PRECONDITION on status", code, vs)
			}
		})
	}
}

// TestOverdueUnconfirmed: past its confirmation deadline an unconfirmed
// request is overdue; confirmed, it is not.
func TestOverdueUnconfirmed(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.DataPreservation)
	due := v.Deadlines.ConfirmationDueBy
	// The answer is not late (a routine answer is due in 90 days).
	r, _ := dm.store.Get(ctx, v.ID)
	r.Deadlines.AnswerBy = t0.Add(90 * day)
	dm.store.put(r)
	dm.clock.set(due)
	if got := ok(t)(dm.svc.Get(ctx, uzCA, v.ID)); got.Overdue {
		t.Error("overdue at the deadline")
	}
	dm.clock.set(due.Add(time.Second))
	if got := ok(t)(dm.svc.Get(ctx, uzCA, v.ID)); !got.Overdue {
		t.Error("not overdue past the confirmation deadline")
	}
	if !request.Overdue(*request.Snapshot(r), due.Add(time.Second)) {
		t.Error("a watch's snapshot of it is not overdue: Overdue reads more than metadata")
	}
	c := ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", completion, completionFields))
	if c.Overdue {
		t.Error("overdue once confirmed, though late")
	}
}

// TestExecuteBeforeConfirmation: by default a preservation is accepted and
// executed before the written confirmation and a production is not; the
// policy sets which types may be.
func TestExecuteBeforeConfirmation(t *testing.T) {
	accept := func(dm domain, v request.View) error {
		a := request.Acceptance{DualCriminality: "MET"}
		_, err := dm.svc.Accept(ctx, uzCA, v.ID, "", a, true)
		return err
	}
	for _, tc := range []struct {
		name   string
		policy string
		typ    cooperation.RequestType
		allow  bool
	}{
		{"default, preservation", "", cooperation.DataPreservation, true},
		{"default, traffic data", "", cooperation.TrafficData, false},
		{"default, subscriber information", "", cooperation.SubscriberInformation, false},
		{"none, preservation", `{"execute_before_confirmation": []}`, cooperation.DataPreservation, false},
		{"traffic data, traffic data", `{"execute_before_confirmation": ["TRAFFIC_DATA"]}`, cooperation.TrafficData, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := request.Policy{}
			if tc.policy != "" {
				var err error
				if policy, err = request.ParsePolicy([]byte(tc.policy)); err != nil {
					t.Fatal(err)
				}
			}
			dm := newDomain(t, policy)
			v := dm.recorded(t, tc.typ)
			err := accept(dm, v)
			if tc.allow {
				if err != nil {
					t.Fatalf("accept before confirmation: %v", err)
				}
				ok(t)(dm.svc.Execute(ctx, uzCA, v.ID, "", request.Execution{ResponseSummary: "Done.", Items: provided(v.Request)}, nil))
				return
			}
			code, vs := refusal(err)
			if code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"intake.confirm_time", ""}}) || !strings.Contains(err.Error(), "confirmation") {
				t.Errorf("accept before confirmation = %v %v (%v); want FAILED_PRECONDITION naming the confirmation", code, vs, err)
			}
			// Accepted another way (as before this rule), execution waits too.
			r, _ := dm.store.Get(ctx, v.ID)
			r.Status = request.Accepted
			dm.store.put(r)
			_, err = dm.svc.Execute(ctx, uzCA, v.ID, "", request.Execution{ResponseSummary: "Done.", Items: provided(v.Request)}, nil)
			if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"intake.confirm_time", ""}}) {
				t.Errorf("execute before confirmation = %v %v; want FAILED_PRECONDITION on intake.confirm_time", code, vs)
			}
			timed := func(r *request.Request) {
				completion(r)
				r.Identifiers[0].StartTime, r.Identifiers[0].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
			}
			ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", timed, completionFields))
			ok(t)(dm.svc.Execute(ctx, uzCA, v.ID, "", request.Execution{ResponseSummary: "Done.", Items: provided(v.Request)}, nil))
		})
	}
}

// TestConfidentialityMirror: confidential mirrors confidentiality.request;
// what is sent of confidentiality wins, and confidential alone sets it.
func TestConfidentialityMirror(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	d := completeDraft()
	d.Confidential = true
	v := ok(t)(dm.svc.Create(ctx, kzProsecutor, d, ""))
	if v.Confidentiality == nil || !v.Confidentiality.Request || !v.Confidential {
		t.Errorf("created with confidential only: %v %+v; want confidentiality.request", v.Confidential, v.Confidentiality)
	}
	d.Confidentiality = &request.Confidentiality{ObtainedInformation: true, Reason: "The suspect must not learn of it."}
	v = ok(t)(dm.svc.Create(ctx, kzProsecutor, d, ""))
	if v.Confidential || v.Confidentiality.Request || !v.Confidentiality.ObtainedInformation {
		t.Errorf("created with both: %v %+v; want confidentiality's (request false)", v.Confidential, v.Confidentiality)
	}
	v = ok(t)(dm.svc.Update(ctx, kzProsecutor, v.ID, "", func(r *request.Request) { r.Confidential = true }, []string{"confidential"}))
	if !v.Confidentiality.Request || !v.Confidentiality.ObtainedInformation || v.Confidentiality.Reason == "" {
		t.Errorf("updated confidential: %+v; want request set, the rest kept", v.Confidentiality)
	}
	v = ok(t)(dm.svc.Update(ctx, kzProsecutor, v.ID, "", func(r *request.Request) {
		r.Confidential, r.Confidentiality = true, &request.Confidentiality{}
	}, []string{"confidential", "confidentiality"}))
	if v.Confidential || v.Confidentiality.Request {
		t.Errorf("updated both: %v %+v; want confidentiality's (false)", v.Confidential, v.Confidentiality)
	}
}

// TestConfidentialityImpossible: the requested side declares it, the
// request waits for the requesting side, :proceed returns it where it was,
// or the requesting side withdraws.
func TestConfidentialityImpossible(t *testing.T) {
	for _, from := range []request.Status{request.Acknowledged, request.Accepted} {
		t.Run(string(from), func(t *testing.T) {
			dm, r := seed(t, from)
			if _, err := dm.svc.DeclareConfidentialityImpossible(ctx, uzCA, r.ID, "", " "); errs.CodeOf(err) != errs.Invalid {
				t.Errorf("no explanation = %v; want INVALID_ARGUMENT", err)
			}
			dm.clock.advance(time.Hour)
			v := ok(t)(dm.svc.DeclareConfidentialityImpossible(ctx, uzCA, r.ID, "", "Our law requires notifying the account holder."))
			d := v.ConfidentialityDeclaration
			if v.Status != request.AwaitingRequesterDecision || d == nil || d.ResumeStatus != from || d.DeclaredBy.Subject != "ca-uz" ||
				!d.DeclareTime.Equal(t0.Add(time.Hour)) || !d.ProceedTime.IsZero() {
				t.Fatalf("declared: %s %+v; want AWAITING_REQUESTER_DECISION resuming %s", v.Status, d, from)
			}
			if _, err := dm.svc.Proceed(ctx, uzCA, r.ID, ""); errs.CodeOf(err) != errs.PermissionDenied {
				t.Errorf("proceed by the requested side = %v; want PERMISSION_DENIED", err)
			}
			dm.clock.advance(time.Hour)
			v = ok(t)(dm.svc.Proceed(ctx, kzCA, r.ID, ""))
			if v.Status != from || !v.ConfidentialityDeclaration.ProceedTime.Equal(t0.Add(2*time.Hour)) {
				t.Errorf("proceeded: %s %+v; want %s with the proceed time", v.Status, v.ConfidentialityDeclaration, from)
			}
		})
	}
	dm, r := seed(t, request.Acknowledged)
	ok(t)(dm.svc.DeclareConfidentialityImpossible(ctx, uzCA, r.ID, "", "Notification is mandatory."))
	if v := ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, r.ID, "", "Not without confidentiality.")); v.Status != request.Withdrawn {
		t.Errorf("withdrawn: %s", v.Status)
	}
}

// TestContents: the contents of §5.5 and the confidentiality's reason,
// checked at submission, each failure naming its field.
func TestContents(t *testing.T) {
	natural := request.Person{FullName: "A. Petrov", Kind: request.NaturalPerson, DateOfBirth: "1990-01-02", Residence: "Tashkent"}
	for _, tc := range []struct {
		name   string
		change func(r *request.Request)
		want   []violation
	}{
		{"complete", func(r *request.Request) {
			r.Persons = []request.Person{natural, {FullName: "Acme LLC", Kind: request.LegalPerson, RegistrationNumber: "123456",
				Representatives: []request.Representative{{FullName: "B. Ivanov", Capacity: "director"}}}}
			r.Contact = &request.Contact{FullName: "A. Sadykov", Phone: "+7 717 270 00 00", Email: "a.sadykov@example.kz", TimeZone: "Asia/Almaty"}
			r.InvestigatingAuthority = &request.InvestigatingAuthority{Name: "KZ police", CaseNumber: "2026-17"}
			r.Confidentiality = &request.Confidentiality{Request: true, Reason: "The suspect would destroy evidence."}
		}, nil},
		{"legal person with an address", func(r *request.Request) {
			r.Persons = []request.Person{{FullName: "Acme LLC", Kind: request.LegalPerson, RegisteredAddress: "1 Main St, Almaty"}}
		}, nil},
		{"legal person unidentified", func(r *request.Request) {
			r.Persons = []request.Person{natural, {FullName: "Acme LLC", Kind: request.LegalPerson}}
		}, []violation{{"persons[1].registration_number", "LEGAL_PERSON_REGISTRATION_REQUIRED"}}},
		{"representative without name", func(r *request.Request) {
			p := natural
			p.Representatives = []request.Representative{{FullName: "C. Counsel"}, {Capacity: "counsel"}}
			r.Persons = []request.Person{p}
		}, []violation{{"persons[0].representatives[1].full_name", "REPRESENTATIVE_NAME_REQUIRED"}}},
		{"contact wrong", func(r *request.Request) {
			r.Contact = &request.Contact{Phone: "8 717 270", Email: "Sadykov <a@example.kz>", TimeZone: "Asia/Atlantis"}
		}, []violation{{"contact.email", "CONTACT_EMAIL_INVALID"}, {"contact.phone", "CONTACT_PHONE_INVALID"}, {"contact.time_zone", "CONTACT_TIME_ZONE_INVALID"}}},
		{"contact in the server's zone", func(r *request.Request) { r.Contact = &request.Contact{TimeZone: "Local"} },
			[]violation{{"contact.time_zone", "CONTACT_TIME_ZONE_INVALID"}}},
		{"confidential without reason", func(r *request.Request) { r.Confidentiality = &request.Confidentiality{ObtainedInformation: true} },
			[]violation{{"confidentiality.reason", "CONFIDENTIALITY_REASON_REQUIRED"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := seeded(request.Draft)
			tc.change(&r)
			dm.store.put(r)
			_, err := dm.svc.Submit(ctx, kzProsecutor, r.ID, "", false)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v (%v); want FAILED_PRECONDITION %v", code, vs, err, tc.want)
			}
		})
	}
}

// TestTransferOwnership: the owner hands the request to another
// prosecutor, who then acts as its owner; the reason is in the history.
func TestTransferOwnership(t *testing.T) {
	dm, r := seed(t, request.Draft)
	for _, tc := range []struct {
		name, owner string
		code        errs.Code
	}{{"no owner", " ", errs.Invalid}, {"the same", "p-kz", errs.FailedPrecondition}} {
		_, err := dm.svc.TransferOwnership(ctx, kzProsecutor, r.ID, "", tc.owner, "")
		if code, vs := refusal(err); code != tc.code || !slices.Equal(vs, []violation{{"owner", ""}}) {
			t.Errorf("%s = %v %v; want %v on owner", tc.name, code, vs, tc.code)
		}
	}
	v := ok(t)(dm.svc.TransferOwnership(ctx, kzProsecutor, r.ID, "", "p-kz-2", "On leave until May."))
	if v.Owner != "p-kz-2" || v.Status != request.Draft {
		t.Errorf("transferred: owner %q %s; want p-kz-2, DRAFT", v.Owner, v.Status)
	}
	hist, _ := dm.svc.History(ctx, kzOtherPr, r.ID)
	if len(hist) == 0 || hist[len(hist)-1].Reason != "On leave until May." || hist[len(hist)-1].Action != "transferOwnership" {
		t.Errorf("history %+v; want the transfer with its reason", hist)
	}
	if _, err := dm.svc.Update(ctx, kzProsecutor, r.ID, "", func(r *request.Request) { r.CaseReference = "X" }, []string{"case_reference"}); errs.CodeOf(err) != errs.PermissionDenied {
		t.Errorf("the former owner updates: %v; want PERMISSION_DENIED", err)
	}
	ok(t)(dm.svc.Update(ctx, kzOtherPr, r.ID, "", func(r *request.Request) { r.CaseReference = "X" }, []string{"case_reference"}))
	// The requesting CA hands an unconfirmed oral request to a prosecutor;
	// it still awaits its written confirmation.
	o := dm.recorded(t, cooperation.DataPreservation)
	if v := ok(t)(dm.svc.TransferOwnership(ctx, kzCA, o.ID, "", "p-kz", "")); v.Owner != "p-kz" || !v.Intake.ConfirmTime.IsZero() {
		t.Errorf("oral request transferred to %q (confirmed %v), want p-kz, unconfirmed", v.Owner, v.Intake.ConfirmTime)
	}
	if v := ok(t)(dm.svc.ConfirmInWriting(ctx, kzProsecutor, o.ID, "", completion, completionFields)); v.Owner != "p-kz" || v.Intake.ConfirmTime.IsZero() {
		t.Errorf("confirmed after the transfer: owner %q, confirmed %v", v.Owner, v.Intake.ConfirmTime)
	}
}

// TestWithdrawUnconfirmed: a request recorded from a call that no
// prosecutor has confirmed has no owner: the requesting state's central
// authority withdraws it; a prosecutor who does not own it cannot.
func TestWithdrawUnconfirmed(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.TrafficData)
	if _, err := dm.svc.Withdraw(ctx, kzOtherPr, v.ID, "", "Sent by mistake."); errs.CodeOf(err) != errs.PermissionDenied {
		t.Errorf("withdrawal by a prosecutor who does not own it = %v; want PERMISSION_DENIED", err)
	}
	if w := ok(t)(dm.svc.Withdraw(ctx, kzCA, v.ID, "", "The child was found.")); w.Status != request.Withdrawn {
		t.Errorf("withdrawn by the requesting CA: %s", w.Status)
	}
}

// TestOverdueListUnconfirmed: overdue=true lists an unconfirmed request past
// its confirmation deadline, on the real stores of both engines, and
// overdue=false every other request; confirmed, it leaves the first list.
// The history keeps the owner each change left.
func TestOverdueListUnconfirmed(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, _, _ := newServiceOn(t, engine, request.WatchLimits{})
			late := phoneCall
			late.ReceivedTime = time.Now().Add(-73 * time.Hour)
			overdue := ok(t)(svc.RecordOral(ctx, uzCA, oralDraft(cooperation.DataPreservation), "kz-gpo", late, ""))
			fresh := phoneCall
			fresh.ReceivedTime = time.Now().Add(-time.Hour)
			onTime := ok(t)(svc.RecordOral(ctx, uzCA, oralDraft(cooperation.DataPreservation), "kz-gpo", fresh, ""))
			draft := ok(t)(svc.Create(ctx, kzProsecutor, completeDraft(), ""))
			list := func(p identity.Principal, want bool) []string {
				t.Helper()
				res, err := svc.List(ctx, p, request.ListOptions{Filter: query.Compare{Field: "overdue", Op: query.Eq, Value: want}})
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, v := range res.Views {
					if v.Overdue != want {
						t.Errorf("%s listed with overdue %v under overdue=%v", v.Reference, v.Overdue, want)
					}
					out = append(out, v.ID)
				}
				slices.Sort(out)
				return out
			}
			sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
			if got := list(uzCA, true); !slices.Equal(got, []string{overdue.ID}) {
				t.Errorf("overdue=true for ca-uz: %v, want %s", got, overdue.ID)
			}
			if got := list(kzCA, false); !slices.Equal(got, sorted(onTime.ID, draft.ID)) {
				t.Errorf("overdue=false for ca-kz: %v, want %s and %s", got, onTime.ID, draft.ID)
			}
			ok(t)(svc.ConfirmInWriting(ctx, kzOtherPr, overdue.ID, "", completion, completionFields))
			if got := list(uzCA, true); len(got) != 0 {
				t.Errorf("overdue=true once confirmed: %v, want none", got)
			}
			ok(t)(svc.TransferOwnership(ctx, kzOtherPr, overdue.ID, "", "p-kz", "Back from leave."))
			hist, err := svc.History(ctx, kzCA, overdue.ID)
			if err != nil {
				t.Fatal(err)
			}
			var owners []string
			for _, h := range hist {
				owners = append(owners, h.Action+":"+h.Owner)
			}
			if want := []string{"recordOral:", "confirmInWriting:p-kz-2", "transferOwnership:p-kz"}; !slices.Equal(owners, want) {
				t.Errorf("history owners %v, want %v", owners, want)
			}
		})
	}
}

// TestWatchSeesTheRecording: the recording is one change, from no status to
// ACKNOWLEDGED, that the watches of both sides get; a third state's does
// not, and its confirmation follows it on both.
func TestWatchSeesTheRecording(t *testing.T) {
	svc, _, _ := newService(t, request.WatchLimits{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kgCA := user("ca-kg", "kg-gpo", identity.CentralAuthority)
	watchers := map[string]watcher{}
	for _, p := range []identity.Principal{uzCA, kzOtherPr, kgCA} {
		watchers[p.Subject] = watch(t, wctx, svc, p, nil)
	}
	v := ok(t)(svc.RecordOral(ctx, uzCA, oralDraft(cooperation.DataPreservation), "kz-gpo", phoneCall, ""))
	ok(t)(svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", completion, completionFields))
	for _, who := range []string{"ca-uz", "p-kz-2"} {
		e := next(t, watchers[who], who)
		if e.RequestID != v.ID || e.From != "" || e.To != request.Acknowledged || e.Action != "recordOral" {
			t.Errorf("%s's watch got %s %q→%s by %s; want the recording", who, e.Action, e.From, e.To, e.Actor.Subject)
		}
		if e = next(t, watchers[who], who); e.Action != "confirmInWriting" || e.Owner != "p-kz-2" {
			t.Errorf("%s's watch got %s (owner %q); want the confirmation, owner p-kz-2", who, e.Action, e.Owner)
		}
	}
	// A draft of KG's, which its CA sees, comes after the two changes in the
	// feed: the KG watch gets it first or it got one of them.
	kgDraft := ok(t)(svc.Create(ctx, user("p-kg", "kg-gpo", identity.Prosecutor), completeDraft(), ""))
	if e := next(t, watchers["ca-kg"], "ca-kg"); e.RequestID != kgDraft.ID {
		t.Errorf("a third state's watch got %s of %s; want only its own draft", e.Action, e.Reference)
	}
}

// TestConfirmInWritingKeepsTheTypeActedOn: a preservation recorded from a
// call may be accepted before its written confirmation, with dual
// criminality NOT_REQUIRED as for any preservation. The confirmation
// completes the request; it cannot turn it into a production the requested
// side accepted without assessing dual criminality (nor into anything
// else it has decided on). While the requested side has decided nothing
// (ACKNOWLEDGED), a type recorded wrongly from the call can still be put
// right.
func TestConfirmInWritingKeepsTheTypeActedOn(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.DataPreservation)
	ok(t)(dm.svc.Accept(ctx, uzCA, v.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true))
	asTraffic := func(r *request.Request) {
		r.Type = cooperation.TrafficData
		completion(r)
		r.Identifiers[0].StartTime, r.Identifiers[0].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
	}
	fields := append([]string{"type", "identifiers"}, completionFields...)
	_, err := dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", asTraffic, fields)
	wantRefused(t, "confirming an accepted preservation as traffic data", err, errs.FailedPrecondition, []string{"type"}, "DATA_PRESERVATION")
	if got := dm.stored(t, v.ID); got.Type != cooperation.DataPreservation || got.Intake.ConfirmTime != (time.Time{}) {
		t.Errorf("after the refusal: %s, confirmed %v; want the preservation as it was, unconfirmed", got.Type, got.Intake.ConfirmTime)
	}
	// The same type, completed: confirmed.
	ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", completion, completionFields))

	// Acknowledged only: the type recorded can be corrected.
	w := dm.recorded(t, cooperation.DataPreservation)
	c := ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, w.ID, "", asTraffic, fields))
	if c.Type != cooperation.TrafficData {
		t.Errorf("confirmed as %s; want TRAFFIC_DATA, corrected before the requested side decided anything", c.Type)
	}
}

// TestConfirmInWritingKeepsDeliveredIdentifiers: the items of a delivery
// name identifiers by their place in the request. A preservation recorded
// from a call and partly executed before its confirmation cannot have the
// identifiers those items name replaced by the confirmation (the item
// would then report on another identifier); identifiers can be added
// after them, and their time ranges completed.
func TestConfirmInWritingKeepsDeliveredIdentifiers(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.DataPreservation)
	ok(t)(dm.svc.Accept(ctx, uzCA, v.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true))
	ok(t)(dm.svc.Execute(ctx, uzCA, v.ID, "", request.Execution{ResponseSummary: "First account preserved.", Partial: true,
		Items: []request.ExecutionItem{{IdentifierIndex: 0, Outcome: "PROVIDED"}}}, nil))
	replaced := func(r *request.Request) {
		completion(r)
		r.Identifiers = []request.Identifier{{Kind: "EMAIL", Value: "someone.else@example.org"}}
	}
	_, err := dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", replaced, append([]string{"identifiers"}, completionFields...))
	wantRefused(t, "replacing a delivered identifier", err, errs.FailedPrecondition, []string{"identifiers[0]"})
	added := func(r *request.Request) {
		completion(r)
		r.Identifiers = append(slices.Clone(r.Identifiers), request.Identifier{Kind: "EMAIL", Value: "second@example.org"})
		r.Identifiers[0].StartTime, r.Identifiers[0].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
	}
	c := ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", added, append([]string{"identifiers"}, completionFields...)))
	if len(c.Identifiers) != 2 {
		t.Errorf("confirmed with %d identifiers; want the delivered one and the added one", len(c.Identifiers))
	}
}

// TestConfirmInWritingRecomputesTheAnswerDeadline: the answer deadline of a
// request recorded from a call runs from the recording by the priority the
// call gave. The written confirmation may set another priority (the call
// said EMERGENCY, the letter ROUTINE), or a requested response date: the
// deadline is then the policy's for what was confirmed, as for any request
// acknowledged at that time, not the call's 8 hours.
func TestConfirmInWritingRecomputesTheAnswerDeadline(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v := dm.recorded(t, cooperation.TrafficData)
	if !v.Deadlines.AnswerBy.Equal(t0.Add(8 * time.Hour)) {
		t.Fatalf("recorded: answer by %v; want 8 h after the recording", v.Deadlines.AnswerBy)
	}
	routine := func(r *request.Request) {
		completion(r)
		r.Identifiers[0].StartTime, r.Identifiers[0].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
		r.Priority, r.EmergencyReason = cooperation.Routine, ""
	}
	dm.clock.advance(2 * time.Hour)
	c := ok(t)(dm.svc.ConfirmInWriting(ctx, kzOtherPr, v.ID, "", routine, append([]string{"priority", "emergency_reason", "identifiers"}, completionFields...)))
	if want := t0.Add(90 * day); !c.Deadlines.AnswerBy.Equal(want) {
		t.Errorf("confirmed ROUTINE: answer by %v; want %v, 90 days after the recording", c.Deadlines.AnswerBy, want)
	}
	dm.clock.advance(10 * time.Hour)
	if got := ok(t)(dm.svc.Get(ctx, uzCA, v.ID)); got.Overdue {
		t.Errorf("a ROUTINE request 12 hours after its recording is overdue")
	}
}
