package request_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
)

// acceptedProduction puts an accepted traffic-data request for two identifiers and
// two data categories in dm, with an attachment att-1, and returns it.
func (dm domain) acceptedProduction(t *testing.T) request.Request {
	t.Helper()
	r := seeded(request.Accepted)
	r.Type = cooperation.TrafficData
	r.Identifiers = append(r.Identifiers, request.Identifier{Kind: "EMAIL", Value: "x@example.org"})
	r.DataCategories = []string{"connection logs", "subscriber data"}
	dm.store.put(r)
	dm.store.attachments = append(dm.store.attachments, request.Attachment{ID: "att-1", RequestID: r.ID, Kind: "EVIDENCE"})
	return r
}

// TestExecutionItems: each item names one of the request's identifiers and
// data categories, once, and an outcome, and gives a reason for any outcome
// but PROVIDED; its attachments are the request's. A production request
// must give items, and its final delivery leave no identifier without one;
// a preservation need not. A refused execution changes nothing.
func TestExecutionItems(t *testing.T) {
	provided := request.ExecutionItem{IdentifierIndex: 0, DataCategory: "connection logs", Outcome: "PROVIDED", Attachments: []string{"att-1"}}
	for _, tc := range []struct {
		name    string
		partial bool
		items   []request.ExecutionItem
		want    []violation
	}{
		{"one provided, partial", true, []request.ExecutionItem{provided}, nil},
		{"one provided, final", false, []request.ExecutionItem{provided}, []violation{{"items", ""}}},
		{"every identifier, one not retained", false, []request.ExecutionItem{provided,
			{IdentifierIndex: 1, DataCategory: "subscriber data", Outcome: "NOT_RETAINED", Reason: "Kept 30 days only."}}, nil},
		{"no items", true, nil, []violation{{"items", ""}}},
		{"every fault", false, []request.ExecutionItem{provided, provided,
			{IdentifierIndex: 2, DataCategory: "content", Outcome: "NOT_HELD"},
			{IdentifierIndex: -1, DataCategory: "connection logs", Outcome: "LOST", Attachments: []string{"att-1", "att-9"}},
			{IdentifierIndex: 1, DataCategory: "subscriber data"},
		}, []violation{
			{"items[1]", ""},
			{"items[2].identifier_index", ""}, {"items[2].data_category", ""}, {"items[2].reason", ""},
			{"items[3].identifier_index", ""}, {"items[3].outcome", ""}, {"items[3].attachments[1]", ""},
			{"items[4].outcome", ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := dm.acceptedProduction(t)
			v, err := dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Logs provided.", Partial: tc.partial, Items: tc.items}, []string{"att-1"})
			if tc.want == nil {
				want := request.Executed
				if tc.partial {
					want = request.PartiallyExecuted
				}
				if err != nil || v.Status != want || v.Execution == nil || !slices.EqualFunc(v.Execution.Items, tc.items, itemEqual) {
					t.Fatalf("= %s %+v, %v; want %s with the items", v.Status, v.Execution, err, want)
				}
				return
			}
			if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want FAILED_PRECONDITION %v", code, vs, tc.want)
			}
			if got, _ := dm.store.Get(ctx, r.ID); got.Status != request.Accepted || got.Version != 1 {
				t.Errorf("a refused execution changed the request: %s version %d", got.Status, got.Version)
			}
		})
	}
	t.Run("unknown attachment of the delivery, with a bad item", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		r := dm.acceptedProduction(t)
		_, err := dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Logs.", Partial: true,
			Items: []request.ExecutionItem{{DataCategory: "connection logs", Outcome: "IMPOSSIBLE"}}}, []string{"att-1", "att-2"})
		if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"attachments[1]", ""}, {"items[0].reason", ""}}) {
			t.Errorf("= %v %v; want FAILED_PRECONDITION on attachments[1] and items[0].reason together", code, vs)
		}
	})
	t.Run("preservation without items", func(t *testing.T) {
		dm, r := seed(t, request.Accepted)
		if v := ok(t)(dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Preserved."}, nil)); v.Status != request.Executed {
			t.Errorf("= %s, want EXECUTED", v.Status)
		}
	})
	t.Run("no identifiers, no items", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		r := seeded(request.Accepted)
		r.Type, r.Identifiers = cooperation.OtherAssistance, nil
		dm.store.put(r)
		_, err := dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Witness heard.",
			Items: []request.ExecutionItem{{Outcome: "PROVIDED"}}}, nil)
		if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"items[0].identifier_index", ""}}) {
			t.Errorf("an item of a request with no identifiers = %v %v; want FAILED_PRECONDITION on items[0].identifier_index", code, vs)
		}
		ok(t)(dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Witness heard."}, nil))
	})
}

func itemEqual(a, b request.ExecutionItem) bool {
	return a.IdentifierIndex == b.IdentifierIndex && a.DataCategory == b.DataCategory && a.Outcome == b.Outcome &&
		a.Reason == b.Reason && slices.Equal(a.Attachments, b.Attachments)
}

// TestPartialThenFinalExecution: a partial delivery leads to
// PARTIALLY_EXECUTED and answers the request (its time is the answer time,
// and the request is no longer overdue); the final one to EXECUTED. Each
// is kept in deliveries with who and when; execution is the last.
func TestPartialThenFinalExecution(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	r := dm.acceptedProduction(t)
	r.Deadlines.AnswerBy = t0.Add(day)
	dm.store.put(r)
	first := dm.clock.advance(2 * day)
	if !request.Overdue(r, first) {
		t.Fatalf("the accepted request is not overdue a day past its answer deadline")
	}
	v := ok(t)(dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Logs for the address.", Partial: true,
		Items: []request.ExecutionItem{{IdentifierIndex: 0, DataCategory: "connection logs", Outcome: "PROVIDED", Attachments: []string{"att-1"}}}}, []string{"att-1"}))
	if v.Status != request.PartiallyExecuted || !v.AnswerTime.Equal(first) || v.Overdue || len(v.Deliveries) != 1 {
		t.Fatalf("after the partial delivery: %s answered %v overdue %v, %d deliveries; want PARTIALLY_EXECUTED answered %v, not overdue, 1 delivery",
			v.Status, v.AnswerTime, v.Overdue, len(v.Deliveries), first)
	}
	final := dm.clock.advance(3 * day)
	v = ok(t)(dm.svc.Execute(ctx, uzCA, r.ID, "", request.Execution{ResponseSummary: "Nothing kept for the mailbox.",
		Items: []request.ExecutionItem{{IdentifierIndex: 1, DataCategory: "subscriber data", Outcome: "NOT_HELD", Reason: "No such account."}}}, nil))
	if v.Status != request.Executed || !v.AnswerTime.Equal(first) || len(v.Deliveries) != 2 {
		t.Fatalf("after the final delivery: %s answered %v, %d deliveries; want EXECUTED answered %v (the first delivery), 2 deliveries",
			v.Status, v.AnswerTime, len(v.Deliveries), first)
	}
	d0, d1 := v.Deliveries[0], v.Deliveries[1]
	if !d0.Partial || !d0.ExecuteTime.Equal(first) || d0.ExecutedBy.Subject != uzCA.Subject || !slices.Equal(d0.Attachments, []string{"att-1"}) ||
		d1.Partial || !d1.ExecuteTime.Equal(final) || d1.Items[0].Outcome != "NOT_HELD" {
		t.Errorf("deliveries %+v; want the partial one by %s at %v with att-1, then the final one at %v", v.Deliveries, uzCA.Subject, first, final)
	}
	if v.Execution == nil || v.Execution.ResponseSummary != d1.ResponseSummary || !v.Execution.ExecuteTime.Equal(final) {
		t.Errorf("execution %+v; want the last delivery", v.Execution)
	}
	h, _ := dm.store.History(ctx, r.ID)
	if n := len(h); n != 2 || h[0].To != request.PartiallyExecuted || h[1].From != request.PartiallyExecuted || h[1].To != request.Executed {
		t.Errorf("history %+v; want ACCEPTED→PARTIALLY_EXECUTED→EXECUTED", h)
	}
}

// TestImpediment: an impediment is recorded with who and when, with a
// history entry but no status change; its kind and explanation are
// required, an expected time must be ahead.
func TestImpediment(t *testing.T) {
	dm, r := seed(t, request.Acknowledged)
	now := dm.clock.advance(time.Hour)
	v := ok(t)(dm.svc.NotifyImpediment(ctx, uzCA, r.ID, "", request.Impediment{Kind: "SIGNIFICANT_DELAY", Explanation: "The provider needs a court order.",
		ExpectedTime: now.Add(10 * day)}))
	if v.Status != request.Acknowledged || len(v.Impediments) != 1 || v.Impediments[0].ReportedBy.Subject != uzCA.Subject ||
		!v.Impediments[0].ReportTime.Equal(now) || !v.Impediments[0].ExpectedTime.Equal(now.Add(10*day)) {
		t.Errorf("= %s %+v; want ACKNOWLEDGED with the impediment reported by %s at %v", v.Status, v.Impediments, uzCA.Subject, now)
	}
	h, _ := dm.store.History(ctx, r.ID)
	if len(h) != 1 || h[0].From != request.Acknowledged || h[0].To != request.Acknowledged || h[0].Action != "notifyImpediment" {
		t.Errorf("history %+v; want one notifyImpediment entry ACKNOWLEDGED→ACKNOWLEDGED", h)
	}
	_, err := dm.svc.NotifyImpediment(ctx, uzCA, r.ID, "", request.Impediment{Kind: "BORED", Explanation: " ", ExpectedTime: now})
	if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, []violation{{"kind", ""}, {"explanation", ""}, {"expected_time", ""}}) {
		t.Errorf("a bad impediment = %v %v; want INVALID_ARGUMENT on kind, explanation, expected_time", code, vs)
	}
}

// TestPostponeAndResume: postponing stops the answer clock (the request
// is not overdue while postponed, its answer_by set aside for the date
// postponed until: TestPostponedOverduePastUntil), and resuming
// returns it to where it was with answer_by moved on by exactly the time
// spent postponed.
func TestPostponeAndResume(t *testing.T) {
	for _, from := range []request.Status{request.Acknowledged, request.Accepted} {
		t.Run(string(from), func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := seeded(from)
			answerBy := t0.Add(5 * day)
			r.Deadlines.AnswerBy = answerBy
			dm.store.put(r)
			postponed := dm.clock.advance(day)
			v := ok(t)(dm.svc.Postpone(ctx, uzCA, r.ID, "", postponed.Add(30*day), "A domestic investigation would be prejudiced."))
			if v.Status != request.Postponed || v.Postponement == nil || v.Postponement.ResumeStatus != from || !v.Postponement.PostponeTime.Equal(postponed) ||
				!v.Deadlines.AnswerBy.Equal(postponed.Add(30*day)) {
				t.Fatalf("= %s %+v answer by %v; want POSTPONED from %s at %v, answer by the end of the postponement", v.Status, v.Postponement, v.Deadlines.AnswerBy, from, postponed)
			}
			// Long past the old deadline, still not overdue.
			dm.clock.advance(20 * day)
			if got, _ := dm.svc.Get(ctx, uzCA, r.ID); got.Overdue {
				t.Errorf("a postponed request is overdue 20 days past its answer deadline")
			}
			resumed := dm.clock.advance(time.Hour)
			v = ok(t)(dm.svc.Resume(ctx, uzCA, r.ID, ""))
			want := answerBy.Add(resumed.Sub(postponed))
			if v.Status != from || !v.Deadlines.AnswerBy.Equal(want) || !v.Postponement.ResumeTime.Equal(resumed) || v.Overdue {
				t.Errorf("resumed: %s answer by %v (resumed %v), overdue %v; want %s answer by %v, not overdue",
					v.Status, v.Deadlines.AnswerBy, v.Postponement.ResumeTime, v.Overdue, from, want)
			}
			dm.clock.set(want.Add(time.Second))
			if got, _ := dm.svc.Get(ctx, uzCA, r.ID); !got.Overdue {
				t.Errorf("the resumed request is not overdue past its moved deadline %v", want)
			}
		})
	}
	t.Run("bad until", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			until time.Time
		}{{"none", time.Time{}}, {"now", t0}, {"past", t0.Add(-time.Hour)}, {"past ten years", t0.Add(request.MaxPeriod + time.Hour)}} {
			dm, r := seed(t, request.Accepted)
			_, err := dm.svc.Postpone(ctx, uzCA, r.ID, "", tc.until, "Reason.")
			if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, []violation{{"until", ""}}) {
				t.Errorf("%s: = %v %v; want INVALID_ARGUMENT on until", tc.name, code, vs)
			}
		}
		dm, r := seed(t, request.Accepted)
		_, err := dm.svc.Postpone(ctx, uzCA, r.ID, "", t0.Add(day), " ")
		if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, []violation{{"reason", ""}}) {
			t.Errorf("no reason: = %v %v; want INVALID_ARGUMENT on reason", code, vs)
		}
	})
}

// TestPostponedNotOverdueInList: the List filter overdue=true, on the real
// store (SQLite, and PostgreSQL when configured), leaves out a postponed
// request past its old deadline, and finds it again once resumed and past
// the moved one.
func TestPostponedNotOverdueInList(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, c := serviceOnStore(t, engine)
			overdue := func() []string {
				t.Helper()
				res, err := svc.List(ctx, uzCA, request.ListOptions{Filter: query.Compare{Field: "overdue", Op: query.Eq, Value: true}})
				if err != nil {
					t.Fatal(err)
				}
				var refs []string
				for _, v := range res.Views {
					refs = append(refs, v.ID)
				}
				return refs
			}
			var ids []string
			for range 2 {
				v := ok(t)(svc.Create(ctx, kzProsecutor, completeDraft(), ""))
				ok(t)(svc.Submit(ctx, kzProsecutor, v.ID, "", false))
				ok(t)(svc.Transmit(ctx, kzCA, v.ID, "", false))
				ok(t)(svc.Acknowledge(ctx, uzCA, v.ID, ""))
				ids = append(ids, v.ID)
			}
			kept, postponed := ids[0], ids[1]
			c.advance(day)
			ok(t)(svc.Postpone(ctx, uzCA, postponed, "", c.now().Add(200*day), "A domestic investigation."))
			c.advance(100 * day) // past the 90 days to answer
			if got := overdue(); !slices.Equal(got, []string{kept}) {
				t.Errorf("overdue while postponed: %v; want only %s", got, kept)
			}
			v := ok(t)(svc.Resume(ctx, uzCA, postponed, ""))
			if got := overdue(); !slices.Equal(got, []string{kept}) {
				t.Errorf("overdue right after the resumption: %v; want only %s", got, kept)
			}
			c.set(v.Deadlines.AnswerBy.Add(time.Minute))
			if got := overdue(); len(got) != 2 {
				t.Errorf("overdue past the moved deadline %v: %v; want both", v.Deadlines.AnswerBy, got)
			}
		})
	}
}

// serviceOnStore is a Service on the real store of engine with a clock at
// t0; a PostgreSQL test skips when no database is configured.
func serviceOnStore(t *testing.T, engine string) (*request.Service, *clock) {
	t.Helper()
	var db *sqldb.DB
	if engine == "postgres" {
		pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		db = sqldb.FromPostgres(pool)
	} else {
		lite, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "requests.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lite.Close() })
		db = sqldb.FromSQLite(lite)
	}
	st, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.set(t0)
	dir := &agencies{}
	svc, err := request.NewService(request.Config{Store: st, Blobs: blobs, Directory: dir, Trust: dir, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return svc, c
}

// TestConditions: proposed conditions accepted bind (the request is
// ACCEPTED with an acceptance carrying them, no assessments recorded);
// rejected, the request is back ACKNOWLEDGED; a bad proposal names each
// field.
func TestConditions(t *testing.T) {
	due := t0.Add(180 * day)
	conditions := []request.Condition{{Kind: "DELETE_BY", DueTime: due}, {Kind: "OTHER", Text: "Inform us of the verdict."}}
	cost := &request.Cost{Kind: "EXTRAORDINARY", Estimate: "1500.00", Currency: "UZS", Bearer: "requesting state"}
	propose := func(t *testing.T) (domain, request.Request) {
		dm, r := seed(t, request.Acknowledged)
		v := ok(t)(dm.svc.ProposeConditions(ctx, uzCA, r.ID, "", conditions, cost))
		if cp := v.ConditionsProposal; v.Status != request.ConditionsProposed || cp == nil || cp.Decision != "PENDING" || len(cp.Conditions) != 2 ||
			cp.Cost == nil || *cp.Cost != *cost || cp.ProposedBy.Subject != uzCA.Subject {
			t.Fatalf("= %s %+v; want CONDITIONS_PROPOSED, pending, with the conditions and cost", v.Status, cp)
		}
		return dm, r
	}
	t.Run("accepted", func(t *testing.T) {
		dm, r := propose(t)
		now := dm.clock.advance(time.Hour)
		v := ok(t)(dm.svc.AcceptConditions(ctx, kzProsecutor, r.ID, ""))
		if cp := v.ConditionsProposal; v.Status != request.Accepted || cp.Decision != "ACCEPTED" || cp.DecidedBy.Subject != kzProsecutor.Subject || !cp.DecideTime.Equal(now) {
			t.Errorf("= %s %+v; want ACCEPTED, the proposal accepted by %s at %v", v.Status, cp, kzProsecutor.Subject, now)
		}
		want := "DELETE_BY by " + due.Format(time.RFC3339) + "; OTHER: Inform us of the verdict.; cost EXTRAORDINARY 1500.00 UZS, borne by requesting state"
		if a := v.Acceptance; a == nil || a.Conditions != want || a.DualCriminality != "" {
			t.Errorf("acceptance %+v; want the conditions %q and no dual-criminality assessment", a, want)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		dm, r := propose(t)
		if _, err := dm.svc.RejectConditions(ctx, kzCA, r.ID, "", " "); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("a rejection without reason = %v; want INVALID_ARGUMENT", err)
		}
		v := ok(t)(dm.svc.RejectConditions(ctx, kzCA, r.ID, "", "We cannot delete evidence before trial."))
		if cp := v.ConditionsProposal; v.Status != request.Acknowledged || cp.Decision != "REJECTED" || cp.RejectReason == "" || v.Acceptance != nil {
			t.Errorf("= %s %+v acceptance %+v; want ACKNOWLEDGED, the proposal rejected with its reason, no acceptance", v.Status, cp, v.Acceptance)
		}
	})
	for _, tc := range []struct {
		name       string
		conditions []request.Condition
		cost       *request.Cost
		want       []violation
	}{
		{"nothing", nil, nil, []violation{{"conditions", ""}}},
		{"cost only", nil, &request.Cost{Kind: "ORDINARY"}, nil},
		{"every fault", []request.Condition{{}, {Kind: "OTHER"}, {Kind: "RETURN"}, {Kind: "DELETE_BY", DueTime: t0}},
			&request.Cost{Estimate: "10"}, []violation{
				{"conditions[0].kind", ""}, {"conditions[1].text", ""}, {"conditions[2].due_time", ""}, {"conditions[3].due_time", ""},
				{"cost.kind", ""}, {"cost.currency", ""},
			}},
		{"currency without estimate", nil, &request.Cost{Kind: "ORDINARY", Currency: "KZT"}, []violation{{"cost.estimate", ""}}},
	} {
		t.Run("propose/"+tc.name, func(t *testing.T) {
			dm, r := seed(t, request.Acknowledged)
			_, err := dm.svc.ProposeConditions(ctx, uzCA, r.ID, "", tc.conditions, tc.cost)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if code, vs := refusal(err); code != errs.Invalid || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want INVALID_ARGUMENT %v", code, vs, tc.want)
			}
		})
	}
}

// TestRefusalConsultation: refusing anything but a preservation needs a
// consultation held by now; a preservation needs none but may be refused
// only on POLITICAL_OFFENCE or ESSENTIAL_INTERESTS.
func TestRefusalConsultation(t *testing.T) {
	consulted := &request.Consultation{Note: "Granting in part was discussed with KZ's central authority.", Time: t0.Add(-day)}
	for _, tc := range []struct {
		name string
		typ  cooperation.RequestType
		f    request.Refusal
		want []violation
	}{
		{"production consulted", cooperation.TrafficData, request.Refusal{Grounds: []string{"PRESS_FREEDOM"}, Explanation: "x", Consultation: consulted}, nil},
		{"production consulted, no time", cooperation.TrafficData, request.Refusal{Grounds: []string{"PERSECUTION"}, Explanation: "x",
			Consultation: &request.Consultation{Note: "Discussed."}}, nil},
		{"production not consulted", cooperation.ContentData, request.Refusal{Grounds: []string{"NOT_IN_CONFORMITY"}, Explanation: "x"},
			[]violation{{"consultation", ""}}},
		{"consultation without note, in the future", cooperation.SubscriberInformation, request.Refusal{Grounds: []string{"OTHER"}, Explanation: "x",
			Consultation: &request.Consultation{Note: " ", Time: t0.Add(time.Minute)}}, []violation{{"consultation.note", ""}, {"consultation.time", ""}}},
		{"preservation, political offence", cooperation.DataPreservation, request.Refusal{Grounds: []string{"POLITICAL_OFFENCE"}, Explanation: "x"}, nil},
		{"preservation, essential interests", cooperation.DataPreservation, request.Refusal{Grounds: []string{"ESSENTIAL_INTERESTS"}, Explanation: "x"}, nil},
		{"preservation, other grounds", cooperation.DataPreservation, request.Refusal{Grounds: []string{"ESSENTIAL_INTERESTS", "DUAL_CRIMINALITY_NOT_MET", "INSUFFICIENT_INFORMATION"},
			Explanation: "x", Consultation: consulted}, []violation{{"grounds[1]", ""}, {"grounds[2]", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := seeded(request.Acknowledged)
			r.Type = tc.typ
			dm.store.put(r)
			v, err := dm.svc.Refuse(ctx, uzCA, r.ID, "", tc.f)
			if tc.want == nil {
				if err != nil || v.Status != request.Refused {
					t.Fatalf("= %s, %v; want REFUSED", v.Status, err)
				}
				if c := v.Refusal.Consultation; tc.f.Consultation != nil && (c == nil || c.Time.IsZero()) {
					t.Errorf("consultation %+v; want it recorded with a time", c)
				}
				return
			}
			if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want FAILED_PRECONDITION %v", code, vs, tc.want)
			}
			if got, _ := dm.store.Get(ctx, r.ID); got.Status != request.Acknowledged || got.Version != 1 {
				t.Errorf("a refused refusal changed the request: %s version %d", got.Status, got.Version)
			}
		})
	}
}

// TestPostponedOverduePastUntil: a postponement has an end. Left POSTPONED
// past the date it was postponed until, neither resumed nor answered, the
// request is overdue (the requesting side sees it, and finds it with the
// List filter overdue=true on both engines) instead of waiting silently
// for ever; until then its answer_by is that date.
func TestPostponedOverduePastUntil(t *testing.T) {
	dm, r := seed(t, request.Accepted)
	until := t0.Add(30 * day)
	v := ok(t)(dm.svc.Postpone(ctx, uzCA, r.ID, "", until, "A domestic investigation would be prejudiced."))
	if !v.Deadlines.AnswerBy.Equal(until) || v.Overdue {
		t.Errorf("postponed: answer by %v, overdue %v; want answer by %v, the end of the postponement, not overdue", v.Deadlines.AnswerBy, v.Overdue, until)
	}
	dm.clock.set(until.Add(time.Hour))
	if got := ok(t)(dm.svc.Get(ctx, kzProsecutor, r.ID)); !got.Overdue || got.Status != request.Postponed {
		t.Errorf("an hour past the postponement's end: %s, overdue %v; want POSTPONED and overdue", got.Status, got.Overdue)
	}

	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, c := serviceOnStore(t, engine)
			v := ok(t)(svc.Create(ctx, kzProsecutor, completeDraft(), ""))
			ok(t)(svc.Submit(ctx, kzProsecutor, v.ID, "", false))
			ok(t)(svc.Transmit(ctx, kzCA, v.ID, "", false))
			ok(t)(svc.Acknowledge(ctx, uzCA, v.ID, ""))
			until := c.now().Add(10 * day)
			ok(t)(svc.Postpone(ctx, uzCA, v.ID, "", until, "A domestic investigation."))
			c.set(until.Add(time.Minute))
			res, err := svc.List(ctx, kzProsecutor, request.ListOptions{Filter: query.Compare{Field: "overdue", Op: query.Eq, Value: true}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Views) != 1 || res.Views[0].ID != v.ID || !res.Views[0].Overdue {
				t.Errorf("overdue=true past the postponement's end lists %d requests; want the postponed one, overdue", len(res.Views))
			}
		})
	}
}
