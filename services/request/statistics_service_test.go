package request_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
	"github.com/comity-mla/comity/services/trail"
)

// TestStatisticsFigures checks every figure of one pair on a fixed clock,
// with requests written to a real store in the states their lifecycle
// would have brought them to: counts by status, by type of data, by emergency and by outcome of the
// execution items over all deliveries, overdue, and the mean and median
// times. A draft is never counted.
func TestStatisticsFigures(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "requests.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := store.New(ctx, sqldb.FromSQLite(db))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := &agencies{}
	svc, err := request.NewService(request.Config{Store: st, Blobs: blobs, Directory: dir, Trust: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	day := func(d int) time.Time { return now.AddDate(0, 0, -30+d) }
	const h = time.Hour
	base := func(id string, s request.Status, p cooperation.Priority, cats ...string) request.Request {
		return request.Request{ID: id, Type: cooperation.SubscriberInformation, Priority: p,
			RequestingAgency: "kz-gpo", RequestingState: "KZ", RequestedAgency: "uz-gp", RequestedState: "UZ",
			LegalBasis: "BILATERAL_TREATY", DataCategories: cats, Status: s, CreateTime: day(0), UpdateTime: day(0)}
	}
	// answered is r transmitted on day 1, acknowledged ack later and
	// answered ans after that.
	answered := func(r request.Request, ack, ans time.Duration) request.Request {
		r.TransmitTime = day(1)
		r.AcknowledgeTime = r.TransmitTime.Add(ack)
		if ans > 0 {
			r.AnswerTime = r.AcknowledgeTime.Add(ans)
		}
		return r
	}
	item := func(outcome string) request.ExecutionItem {
		return request.ExecutionItem{DataCategory: "subscriber", Outcome: outcome}
	}

	r1 := answered(base("r1", request.Executed, cooperation.Emergency, "Subscriber  Name", "IP logs", " subscriber name "), 2*h, 10*h)
	r1.Deliveries = []request.Execution{
		{ResponseSummary: "first part", Partial: true, Items: []request.ExecutionItem{item("PROVIDED"), item("POSTPONED")}},
		{ResponseSummary: "the rest", Items: []request.ExecutionItem{item("PROVIDED"), item("NOT_HELD")}},
	}
	r1.Execution = &r1.Deliveries[1]
	// A request executed before deliveries were kept has its one execution.
	r2 := answered(base("r2", request.Executed, cooperation.Routine, "subscriber name"), 4*h, 20*h)
	r2.Execution = &request.Execution{ResponseSummary: "all of it", Items: []request.ExecutionItem{item("NOT_RETAINED")}}
	r3 := answered(base("r3", request.Refused, cooperation.Urgent, "ip logs"), 9*h, 3*h)
	r3.Refusal = &request.Refusal{Grounds: []string{"DOUBLE_CRIMINALITY"}, Explanation: "not an offence here"}
	r4 := answered(base("r4", request.PartiallyExecuted, cooperation.Emergency), 1*h, 0)
	r4.Deliveries = []request.Execution{{ResponseSummary: "part", Partial: true, Items: []request.ExecutionItem{item("IMPOSSIBLE")}}}
	r5 := base("r5", request.Transmitted, cooperation.Routine, "content")
	r5.TransmitTime = day(2)
	// Due to be acknowledged on day 5, which the clock has passed.
	r5.Deadlines.AcknowledgeBy = day(5)
	r6 := base("r6", request.Draft, cooperation.Emergency, "never counted")
	for _, r := range []request.Request{r1, r2, r3, r4, r5, r6} {
		ch := request.Change{
			History: &request.HistoryEntry{To: request.Draft, Action: "create", Actor: request.Actor{Subject: "p-kz-1"}, Time: r.CreateTime},
			Event: trail.Event{ID: "ev-" + r.ID, Time: r.CreateTime, Actor: trail.Actor{Subject: "p-kz-1", Agency: "kz-gpo"},
				Service: "comity-request", Action: "/comity.request.v1.RequestService/CreateRequest", Resource: "requests/" + r.ID, Outcome: "OK"},
		}
		if _, _, err := st.Create(ctx, r, request.IdempotencyKey{}, ch); err != nil {
			t.Fatalf("Create(%s): %v", r.ID, err)
		}
	}

	got, err := svc.Statistics(ctx, identity.Principal{Subject: "ca-kz", Agency: "kz-gpo", State: "KZ"}, request.StatisticsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Pairs) != 1 {
		t.Fatalf("%d pairs, want 1 (KZ → UZ): %+v", len(got.Pairs), got.Pairs)
	}
	ps := got.Pairs[0]
	checkStatisticsCounts(t, "by status", ps.ByStatus, map[request.Status]int{
		request.Executed: 2, request.Refused: 1, request.PartiallyExecuted: 1, request.Transmitted: 1})
	// By the type of data requested, not the categories' words
	// (TestStatisticsHoldNoCaseText).
	checkStatisticsCounts(t, "by data category", ps.ByDataCategory, map[string]int{"SUBSCRIBER_INFORMATION": 5})
	checkStatisticsCounts(t, "execution items by outcome", ps.ItemsByOutcome, map[string]int{
		"PROVIDED": 2, "POSTPONED": 1, "NOT_HELD": 1, "NOT_RETAINED": 1, "IMPOSSIBLE": 1})
	checkStatisticsCounts(t, "refusals by ground", ps.RefusalsByGround, map[string]int{"DOUBLE_CRIMINALITY": 1})
	if ps.Overdue != 1 {
		t.Errorf("overdue %d; want 1, the request not acknowledged by its deadline", ps.Overdue)
	}
	if ps.Emergency != 2 || ps.NotEmergency != 3 {
		t.Errorf("emergency %d, not emergency %d; want 2 and 3", ps.Emergency, ps.NotEmergency)
	}
	// Acknowledged after 2, 4, 9 and 1 hours; answered after 10, 20 and 3.
	if ps.Acknowledged != 4 || ps.MeanToAcknowledge != 4*h || ps.MedianToAcknowledge != 3*h {
		t.Errorf("acknowledged %d, mean %v, median %v; want 4, 4h, 3h", ps.Acknowledged, ps.MeanToAcknowledge, ps.MedianToAcknowledge)
	}
	if ps.Answered != 3 || ps.MeanToAnswer != 11*h || ps.MedianToAnswer != 10*h {
		t.Errorf("answered %d, mean %v, median %v; want 3, 11h, 10h", ps.Answered, ps.MeanToAnswer, ps.MedianToAnswer)
	}
}

func checkStatisticsCounts[K comparable](t *testing.T, what string, got, want map[K]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %v; want %v", what, got, want)
		return
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %v; want %v", what, got, want)
			return
		}
	}
}

// TestStatisticsHoldNoCaseText: data categories are written free by the
// prosecutor, and are case content (a category can name the person or the
// account sought). Statistics go to every user of the state, auditors
// included, who may see only metadata: they count requests by the type of
// data requested (e-Evidence Art 28(2)), never by the words of a request.
func TestStatisticsHoldNoCaseText(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "requests.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := store.New(ctx, sqldb.FromSQLite(db))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := &agencies{}
	svc, err := request.NewService(request.Config{Store: st, Blobs: blobs, Directory: dir, Trust: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		t    cooperation.RequestType
		cats []string
	}{
		{cooperation.SubscriberInformation, []string{"Subscriber of ivan.petrov@mail.kz"}},
		{cooperation.TrafficData, []string{"IP logs of Ivan Petrov's account", "login times"}},
		{cooperation.TrafficData, nil},
	} {
		r := request.Request{ID: fmt.Sprintf("r%d", i), Type: c.t, Priority: cooperation.Routine,
			RequestingAgency: "kz-gpo", RequestingState: "KZ", RequestedAgency: "uz-gp", RequestedState: "UZ",
			LegalBasis: "BILATERAL_TREATY", DataCategories: c.cats, Status: request.Transmitted,
			CreateTime: now.Add(-time.Hour), UpdateTime: now.Add(-time.Hour), TransmitTime: now.Add(-time.Hour)}
		ch := request.Change{
			History: &request.HistoryEntry{To: request.Draft, Action: "create", Actor: request.Actor{Subject: "p-kz-1"}, Time: r.CreateTime},
			Event: trail.Event{ID: "ev-" + r.ID, Time: r.CreateTime, Actor: trail.Actor{Subject: "p-kz-1", Agency: "kz-gpo"},
				Service: "comity-request", Action: "/comity.request.v1.RequestService/CreateRequest", Resource: "requests/" + r.ID, Outcome: "OK"},
		}
		if _, _, err := st.Create(ctx, r, request.IdempotencyKey{}, ch); err != nil {
			t.Fatalf("Create(%s): %v", r.ID, err)
		}
	}
	for _, p := range []identity.Principal{
		{Subject: "au-kz", Agency: "kz-oversight", State: "KZ", Roles: []identity.Role{identity.Auditor}},
		{Subject: "au-uz", Agency: "uz-oversight", State: "UZ", Roles: []identity.Role{identity.Auditor}},
	} {
		got, err := svc.Statistics(ctx, p, request.StatisticsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Pairs) != 1 {
			t.Fatalf("%s: %d pairs, want 1 (KZ → UZ)", p.Subject, len(got.Pairs))
		}
		checkStatisticsCounts(t, p.Subject+" by data category", got.Pairs[0].ByDataCategory,
			map[string]int{"SUBSCRIBER_INFORMATION": 1, "TRAFFIC_DATA": 2})
	}
}
