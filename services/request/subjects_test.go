package request_test

import (
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// subjectOf is a data subject's request about the requests ids, received
// an hour before t0.
func subjectOf(ids ...string) request.DataSubjectRequest {
	return request.DataSubjectRequest{
		Person: request.DataSubject{FullName: "Aidar Example", DateOfBirth: "1990-05-17", Contact: "by post"},
		Right:  request.RightAccess, Requests: ids, ReceiveTime: t0.Add(-time.Hour), Description: "What do you hold on me?",
	}
}

// eventsSince returns the events memStore recorded after the first n.
func (dm domain) eventsSince(n int) []trail.Event {
	dm.store.mu.Lock()
	defer dm.store.mu.Unlock()
	return slices.Clone(dm.store.events[n:])
}

func (dm domain) eventCount() int {
	dm.store.mu.Lock()
	defer dm.store.mu.Unlock()
	return len(dm.store.events)
}

// TestDataSubjectRequestDeferredThenGranted: a central authority records a
// person's request on one of its cases, defers it with reasons until a
// date, sees it overdue once the date passes, then grants it; the record
// keeps both decisions, and each step is one event on the state's trail
// under the request's name, the reads included.
func TestDataSubjectRequestDeferredThenGranted(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	r := ok(t)(dm.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
	before := dm.eventCount()

	in := subjectOf(r.ID)
	in.State, in.Agency = "UZ", "uz-247" // the caller's, whatever is sent
	d, err := dm.svc.CreateDataSubjectRequest(ctx, kzCA, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "KZ" || d.Agency != "kz-gpo" || d.RecordedBy.Subject != "ca-kz" || d.Version != 1 || d.Decision() != nil || d.Overdue {
		t.Fatalf("recorded %+v; want KZ's, by ca-kz, version 1, undecided", d)
	}
	review := t0.Add(30 * 24 * time.Hour)
	d, err = dm.svc.DecideDataSubjectRequest(ctx, kzCA, d.ID, d.Etag(), request.DataSubjectDecision{
		Decision: request.SubjectDeferred, Reasons: "Telling him now would warn the suspects.", ReviewTime: review})
	if err != nil {
		t.Fatal(err)
	}
	if !d.ReviewBy().Equal(review) || d.Overdue {
		t.Errorf("deferred: review by %v, overdue %v; want %v and not yet", d.ReviewBy(), d.Overdue, review)
	}
	dm.clock.set(review.Add(time.Minute))
	got, err := dm.svc.GetDataSubjectRequest(ctx, kzCA, d.ID)
	if err != nil || !got.Overdue {
		t.Errorf("past the review date: overdue %v, %v; want overdue", got.Overdue, err)
	}
	d, err = dm.svc.DecideDataSubjectRequest(ctx, kzCA, d.ID, got.Etag(), request.DataSubjectDecision{Decision: request.SubjectGranted})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Decisions); n != 2 || d.Decision().Decision != request.SubjectGranted || d.Decisions[0].Decision != request.SubjectDeferred || d.Overdue {
		t.Errorf("granted: decisions %+v overdue %v; want the deferral then the grant, not overdue", d.Decisions, d.Overdue)
	}
	d, err = dm.svc.RecordDataSubjectInforming(ctx, kzCA, d.ID, "", request.DataSubjectInforming{Status: request.InformingDone})
	if err != nil || d.Informing == nil || d.Informing.Status != request.InformingDone || d.Version != 4 {
		t.Fatalf("informed: %+v, %v; want DONE at version 4", d.Informing, err)
	}

	var trailOf []string
	for _, e := range dm.eventsSince(before) {
		if e.Resource != "dataSubjectRequests/"+d.ID || !slices.Equal(e.States, []string{"KZ"}) || e.Outcome != "OK" {
			t.Errorf("event %+v; want it on KZ's trail under dataSubjectRequests/%s", e, d.ID)
		}
		step := "-"
		if e.Transition != nil {
			step = e.Transition.From + ">" + e.Transition.To
		}
		trailOf = append(trailOf, step)
	}
	// The creation, the read and the informing change no decision.
	if want := []string{"-", ">DEFERRED", "-", "DEFERRED>GRANTED", "-"}; !slices.Equal(trailOf, want) {
		t.Errorf("trail %q; want %q (create, defer, get, grant, informing)", trailOf, want)
	}

	list, more, err := dm.svc.ListDataSubjectRequests(ctx, kzCA, 0, 10)
	if err != nil || more || len(list) != 1 || list[0].ID != d.ID {
		t.Errorf("KZ's list: %d, more %v, %v; want the one", len(list), more, err)
	}
}

// TestDataSubjectRequestsSeenByTheirStateOnly: only a central authority of
// the recording state reads, lists or decides one; to anyone else it does
// not exist, and their lists are empty.
func TestDataSubjectRequestsSeenByTheirStateOnly(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	d, err := dm.svc.CreateDataSubjectRequest(ctx, kzCA, subjectOf())
	if err != nil {
		t.Fatal(err)
	}
	kzAuditor := user("aud-kz", "kz-gpo", identity.Auditor)
	for _, p := range []identity.Principal{uzCA, kzProsecutor, kzAuditor} {
		if _, err := dm.svc.GetDataSubjectRequest(ctx, p, d.ID); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("%s reads: %v; want NOT_FOUND", p.Subject, err)
		}
		if _, err := dm.svc.DecideDataSubjectRequest(ctx, p, d.ID, "", request.DataSubjectDecision{Decision: request.SubjectGranted}); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("%s decides: %v; want NOT_FOUND", p.Subject, err)
		}
		if list, _, err := dm.svc.ListDataSubjectRequests(ctx, p, 0, 10); err != nil || len(list) != 0 {
			t.Errorf("%s lists %d, %v; want none", p.Subject, len(list), err)
		}
		if _, err := dm.svc.CreateDataSubjectRequest(ctx, p, subjectOf()); p.Subject != uzCA.Subject && errs.CodeOf(err) != errs.PermissionDenied {
			t.Errorf("%s records: %v; want PERMISSION_DENIED", p.Subject, err)
		}
	}
	// UZ's central authority recorded one of its own: KZ's list still
	// shows KZ's alone.
	if list, _, err := dm.svc.ListDataSubjectRequests(ctx, kzCA, 0, 10); err != nil || len(list) != 1 || list[0].ID != d.ID {
		t.Errorf("KZ's list: %d, %v; want its one", len(list), err)
	}
	if _, err := dm.svc.GetDataSubjectRequest(ctx, kzCA, "no-such"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("an unknown one: %v; want NOT_FOUND", err)
	}
}

// TestDataSubjectRequestRefusals: every bad input is refused naming its
// field, and nothing is written.
func TestDataSubjectRequestRefusals(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	mine := ok(t)(dm.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
	uzDraft := completeDraft()
	uzDraft.RequestedState = "KZ"
	theirs := ok(t)(dm.svc.Create(ctx, user("p-uz", "uz-247", identity.Prosecutor), uzDraft, ""))

	for _, tc := range []struct {
		name   string
		change func(*request.DataSubjectRequest)
		want   []violation
	}{
		{"no name", func(d *request.DataSubjectRequest) { d.Person.FullName = "  " }, []violation{{"person.full_name", ""}}},
		{"no right", func(d *request.DataSubjectRequest) { d.Right = "" }, []violation{{"right", ""}}},
		{"unknown right", func(d *request.DataSubjectRequest) { d.Right = "OBJECTION" }, []violation{{"right", ""}}},
		{"not received", func(d *request.DataSubjectRequest) { d.ReceiveTime = time.Time{} }, []violation{{"receive_time", ""}}},
		{"received tomorrow", func(d *request.DataSubjectRequest) { d.ReceiveTime = t0.Add(24 * time.Hour) }, []violation{{"receive_time", ""}}},
		{"unknown request", func(d *request.DataSubjectRequest) { d.Requests = []string{mine.ID, "no-such"} }, []violation{{"requests[1]", ""}}},
		{"another state's draft", func(d *request.DataSubjectRequest) { d.Requests = []string{theirs.ID} }, []violation{{"requests[0]", ""}}},
		{"named twice", func(d *request.DataSubjectRequest) { d.Requests = []string{mine.ID, mine.ID} }, []violation{{"requests[1]", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := subjectOf(mine.ID)
			tc.change(&in)
			_, err := dm.svc.CreateDataSubjectRequest(ctx, kzCA, in)
			if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want INVALID_ARGUMENT on %v", code, vs, tc.want)
			}
		})
	}
	if list, _, _ := dm.svc.ListDataSubjectRequests(ctx, kzCA, 0, 0); len(list) != 0 {
		t.Errorf("refused inputs left %d records", len(list))
	}

	d, err := dm.svc.CreateDataSubjectRequest(ctx, kzCA, subjectOf(mine.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dec  request.DataSubjectDecision
		want []violation
	}{
		{"no decision", request.DataSubjectDecision{Reasons: "r"}, []violation{{"decision.decision", ""}}},
		{"refused without reasons", request.DataSubjectDecision{Decision: request.SubjectRefused}, []violation{{"decision.reasons", ""}}},
		{"restricted without reasons", request.DataSubjectDecision{Decision: request.SubjectRestricted, Reasons: " "}, []violation{{"decision.reasons", ""}}},
		{"deferred without a date", request.DataSubjectDecision{Decision: request.SubjectDeferred, Reasons: "r"}, []violation{{"decision.review_time", ""}}},
		{"deferred to the past", request.DataSubjectDecision{Decision: request.SubjectDeferred, Reasons: "r", ReviewTime: t0.Add(-time.Minute)},
			[]violation{{"decision.review_time", ""}}},
		{"granted with a date", request.DataSubjectDecision{Decision: request.SubjectGranted, ReviewTime: t0.Add(time.Hour)},
			[]violation{{"decision.review_time", ""}}},
	} {
		t.Run("decide/"+tc.name, func(t *testing.T) {
			_, err := dm.svc.DecideDataSubjectRequest(ctx, kzCA, d.ID, "", tc.dec)
			if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want INVALID_ARGUMENT on %v", code, vs, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   request.DataSubjectInforming
		want []violation
	}{
		{"no status", request.DataSubjectInforming{}, []violation{{"informing.status", ""}}},
		{"deferred without reasons", request.DataSubjectInforming{Status: request.InformingDeferred}, []violation{{"informing.reasons", ""}}},
		{"deferred to the past", request.DataSubjectInforming{Status: request.InformingDeferred, Reasons: "r", ReviewTime: t0},
			[]violation{{"informing.review_time", ""}}},
		{"done with a date", request.DataSubjectInforming{Status: request.InformingDone, ReviewTime: t0.Add(time.Hour)},
			[]violation{{"informing.review_time", ""}}},
	} {
		t.Run("informing/"+tc.name, func(t *testing.T) {
			_, err := dm.svc.RecordDataSubjectInforming(ctx, kzCA, d.ID, "", tc.in)
			if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want INVALID_ARGUMENT on %v", code, vs, tc.want)
			}
		})
	}
	got, err := dm.svc.GetDataSubjectRequest(ctx, kzCA, d.ID)
	if err != nil || got.Version != 1 || got.Decisions != nil || got.Informing != nil {
		t.Errorf("after the refusals: version %d, %+v, %+v, %v; want it unchanged", got.Version, got.Decisions, got.Informing, err)
	}

	// A stale etag: someone decided meanwhile.
	stale := got.Etag()
	if _, err := dm.svc.RecordDataSubjectInforming(ctx, kzCA, d.ID, stale,
		request.DataSubjectInforming{Status: request.InformingDeferred, Reasons: "The investigation is covert."}); err != nil {
		t.Fatal(err)
	}
	if _, err := dm.svc.DecideDataSubjectRequest(ctx, kzCA, d.ID, stale, request.DataSubjectDecision{Decision: request.SubjectGranted}); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("a stale etag: %v; want a conflict (ABORTED)", err)
	}
}
