// Package outboxtest is the conformance suite of the dead letters of an audit
// outbox (trail.Outbox's DeadLetter, DeadLetters, Redeliver, RedeliverAll and
// Stats). Each producing service's store suite runs it, on SQLite and on
// PostgreSQL alike, so that an event the audit service refuses is set aside,
// shown and put back the same way whatever the deployment.
package outboxtest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/trail"
)

// Store is what the suite needs of a backend: the outbox, and a way to write
// events into it.
type Store interface {
	trail.Outbox
	trail.Recorder
}

// Run runs the suite. newStore must return an empty store of its own each
// time it is called (subtests run in parallel) and release it in t.Cleanup.
// service names the producer, as its events do (e.g. "comity-request").
func Run(t *testing.T, service string, newStore func(t *testing.T) Store) {
	check.Suite(t, producer{service, newStore}, []check.Case[producer]{
		{Name: "DeadLetterSetsAside", Run: testDeadLetterSetsAside},
		{Name: "DeadLetterRefusals", Run: testDeadLetterRefusals},
		{Name: "Redeliver", Run: testRedeliver},
		{Name: "RedeliverAll", Run: testRedeliverAll},
		{Name: "DeliveredIsNoDeadLetter", Run: testDeliveredIsNoDeadLetter},
		{Name: "Stats", Run: testStats},
	})
}

// producer is what the suite hands every case: the producer's name and a way
// to make an empty store of its own.
type producer struct {
	service  string
	newStore func(t *testing.T) Store
}

// record writes n events of service and returns them as PendingEvents
// returns them, oldest first.
func record(t *testing.T, s Store, service string, n int) []trail.OutboxEntry {
	t.Helper()
	before, err := s.PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	for i := range n {
		ev := trail.Event{
			ID: trail.NewID(), Time: time.Now().UTC(), Service: service,
			Actor:    trail.Actor{Subject: "sub-1", Agency: "kz-gpo", Roles: []string{"prosecutor"}, Issuer: "https://idp.kz.example/"},
			Action:   "/comity.test.v1.TestService/Call",
			Resource: fmt.Sprintf("things/%d", i), States: []string{"KZ"}, Outcome: "OK",
		}
		if err := s.RecordEvent(t.Context(), ev); err != nil {
			t.Fatalf("RecordEvent: %v", err)
		}
	}
	after, err := s.PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	if len(after) != len(before)+n {
		t.Fatalf("%d events pending after recording %d more than %d", len(after), n, len(before))
	}
	return after[len(before):]
}

func pendingIDs(t *testing.T, s Store) []string {
	t.Helper()
	got, err := s.PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	return entryIDs(got)
}

func deadLetters(t *testing.T, s Store, limit int) []trail.DeadLetter {
	t.Helper()
	got, err := s.DeadLetters(t.Context(), limit)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	return got
}

func deadIDs(t *testing.T, s Store) []string {
	t.Helper()
	return check.Each(deadLetters(t, s, 0), func(d trail.DeadLetter) string { return d.Event.ID })
}

func entryIDs(es []trail.OutboxEntry) []string {
	return check.Each(es, func(e trail.OutboxEntry) string { return e.Event.ID })
}

// without returns ids without the ones of drop, in order.
func without(ids []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(drop, id) })
}

func stats(t *testing.T, s Store) trail.OutboxStats {
	t.Helper()
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func testDeadLetterSetsAside(t *testing.T, p producer) {
	s := p.newStore(t)
	es := record(t, s, p.service, 5)
	all := entryIDs(es)
	reason := "INVALID_ARGUMENT: invalid request: events[0].resource: value length must be at most 300 characters"
	before := time.Now()
	if err := s.DeadLetter(t.Context(), es[1].Seq, reason); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if err := s.DeadLetter(t.Context(), es[3].Seq, "second"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	after := time.Now()

	if got, want := pendingIDs(t, s), without(all, all[1], all[3]); !slices.Equal(got, want) {
		t.Errorf("pending after setting two aside\n got %v\nwant %v (the others, in order)", got, want)
	}
	// A limited read skips dead letters too: the queue is not stuck behind one.
	if got, err := s.PendingEvents(t.Context(), 2); err != nil || !slices.Equal(entryIDs(got), []string{all[0], all[2]}) {
		t.Errorf("PendingEvents(2) = %v, %v; want [%s %s]", entryIDs(got), err, all[0], all[2])
	}
	dead := deadLetters(t, s, 0)
	if len(dead) != 2 {
		t.Fatalf("DeadLetters = %v; want the 2 set aside", dead)
	}
	d := dead[0]
	if d.Seq != es[1].Seq || d.Reason != reason {
		t.Errorf("dead letter = seq %d, reason %q; want seq %d, reason %q", d.Seq, d.Reason, es[1].Seq, reason)
	}
	if !eventsEqual(d.Event, es[1].Event) {
		t.Errorf("dead letter's event\n got %+v\nwant %+v (as written)", d.Event, es[1].Event)
	}
	if d.Time.Location() != time.UTC || d.Time.Before(before.Add(-time.Second)) || d.Time.After(after.Add(time.Second)) {
		t.Errorf("dead letter time %v; want the time of DeadLetter, in UTC (between %v and %v)", d.Time, before, after)
	}
	if dead[1].Event.ID != all[3] || dead[1].Reason != "second" {
		t.Errorf("second dead letter = %s %q; want %s \"second\"", dead[1].Event.ID, dead[1].Reason, all[3])
	}
	if got := deadLetters(t, s, 1); len(got) != 1 || got[0].Event.ID != all[1] {
		t.Errorf("DeadLetters(1) = %v; want the oldest only", got)
	}
}

// eventsEqual compares events as PendingEvents and DeadLetters return them;
// times compare as instants.
func eventsEqual(a, b trail.Event) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func testDeadLetterRefusals(t *testing.T, p producer) {
	s := p.newStore(t)
	es := record(t, s, p.service, 3)
	if err := s.DeadLetter(t.Context(), es[0].Seq, "first reason"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if err := s.MarkDelivered(t.Context(), []int64{es[1].Seq}); err != nil {
		t.Fatalf("MarkDelivered: %v", err)
	}
	tests := []struct {
		name     string
		seq      int64
		reason   string
		notFound bool
	}{
		{"already dead-lettered", es[0].Seq, "another reason", true},
		{"delivered", es[1].Seq, "late", true},
		{"unknown", es[2].Seq + 1000, "nothing there", true},
		{"no reason", es[2].Seq, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.DeadLetter(t.Context(), tc.seq, tc.reason)
			switch {
			case err == nil:
				t.Fatalf("DeadLetter(%d, %q) succeeded; want an error", tc.seq, tc.reason)
			case tc.notFound && !errors.Is(err, errs.ErrNotFound):
				t.Errorf("DeadLetter(%d) error %v; want not found", tc.seq, err)
			case !tc.notFound && !strings.Contains(err.Error(), "reason"):
				t.Errorf("DeadLetter without a reason: error %q does not say the reason is missing", err)
			}
		})
	}
	dead := deadLetters(t, s, 0)
	if len(dead) != 1 || dead[0].Seq != es[0].Seq || dead[0].Reason != "first reason" {
		t.Errorf("dead letters after the refusals: %+v; want only seq %d with its first reason", dead, es[0].Seq)
	}
	if got := pendingIDs(t, s); !slices.Equal(got, []string{es[2].Event.ID}) {
		t.Errorf("pending after the refusals: %v; want [%s]", got, es[2].Event.ID)
	}
}

func testRedeliver(t *testing.T, p producer) {
	s := p.newStore(t)
	es := record(t, s, p.service, 5)
	all := entryIDs(es)
	for _, i := range []int{1, 2, 4} {
		if err := s.DeadLetter(t.Context(), es[i].Seq, "refused"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	// Asked out of order, with a pending id, an unknown one and a repeat:
	// only the dead letters come back, in outbox order.
	back, err := s.Redeliver(t.Context(), []string{all[4], all[0], "no-such-event", all[1], all[4]})
	if err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	if want := []string{all[1], all[4]}; !slices.Equal(back, want) {
		t.Errorf("Redeliver returned %v; want %v (the dead letters asked for, in outbox order)", back, want)
	}
	if got, want := pendingIDs(t, s), without(all, all[2]); !slices.Equal(got, want) {
		t.Errorf("pending after Redeliver\n got %v\nwant %v (back in their place)", got, want)
	}
	if got := deadIDs(t, s); !slices.Equal(got, []string{all[2]}) {
		t.Errorf("dead letters after Redeliver: %v; want [%s]", got, all[2])
	}
	// Again: they are no longer dead letters.
	if back, err := s.Redeliver(t.Context(), []string{all[1]}); err != nil || len(back) != 0 {
		t.Errorf("Redeliver of a pending event = %v, %v; want nothing, no error", back, err)
	}
	if back, err := s.Redeliver(t.Context(), nil); err != nil || len(back) != 0 {
		t.Errorf("Redeliver(nil) = %v, %v; want nothing, no error", back, err)
	}
	// A redelivered event may be set aside again, with the new reason.
	if err := s.DeadLetter(t.Context(), es[1].Seq, "refused again"); err != nil {
		t.Fatalf("DeadLetter after Redeliver: %v", err)
	}
	dead := deadLetters(t, s, 0)
	if len(dead) != 2 || dead[0].Event.ID != all[1] || dead[0].Reason != "refused again" {
		t.Errorf("dead letters: %+v; want %s with its new reason first", dead, all[1])
	}
}

func testRedeliverAll(t *testing.T, p producer) {
	s := p.newStore(t)
	if n, err := s.RedeliverAll(t.Context()); err != nil || n != 0 {
		t.Errorf("RedeliverAll of an empty outbox = %d, %v; want 0", n, err)
	}
	es := record(t, s, p.service, 4)
	all := entryIDs(es)
	for _, i := range []int{0, 3} {
		if err := s.DeadLetter(t.Context(), es[i].Seq, "refused"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	if err := s.MarkDelivered(t.Context(), []int64{es[1].Seq}); err != nil {
		t.Fatal(err)
	}
	n, err := s.RedeliverAll(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("RedeliverAll = %d, %v; want 2", n, err)
	}
	if got, want := pendingIDs(t, s), without(all, all[1]); !slices.Equal(got, want) {
		t.Errorf("pending after RedeliverAll\n got %v\nwant %v", got, want)
	}
	if got := deadIDs(t, s); len(got) != 0 {
		t.Errorf("dead letters after RedeliverAll: %v; want none", got)
	}
	if n, err := s.RedeliverAll(t.Context()); err != nil || n != 0 {
		t.Errorf("RedeliverAll again = %d, %v; want 0", n, err)
	}
}

// A dead letter another relay got into the log (it sent the event before
// this one set it aside) is delivered, not a dead letter.
func testDeliveredIsNoDeadLetter(t *testing.T, p producer) {
	s := p.newStore(t)
	es := record(t, s, p.service, 2)
	if err := s.DeadLetter(t.Context(), es[0].Seq, "refused"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(t.Context(), []int64{es[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if got := deadIDs(t, s); len(got) != 0 {
		t.Errorf("dead letters: %v; want none once delivered", got)
	}
	if back, err := s.Redeliver(t.Context(), []string{es[0].Event.ID}); err != nil || len(back) != 0 {
		t.Errorf("Redeliver of a delivered event = %v, %v; want nothing", back, err)
	}
	if got := pendingIDs(t, s); !slices.Equal(got, []string{es[1].Event.ID}) {
		t.Errorf("pending: %v; want [%s]", got, es[1].Event.ID)
	}
	if st := stats(t, s); st.Backlog != 1 || st.DeadLetters != 0 {
		t.Errorf("Stats = %+v; want backlog 1, no dead letters", st)
	}
}

func testStats(t *testing.T, p producer) {
	s := p.newStore(t)
	if st := stats(t, s); st != (trail.OutboxStats{}) {
		t.Errorf("Stats of an empty outbox = %+v; want zero", st)
	}
	before := time.Now()
	first := record(t, s, p.service, 1)
	mid := time.Now()
	rest := record(t, s, p.service, 3)
	es := append(first, rest...)

	st := stats(t, s)
	if st.Backlog != 4 || st.DeadLetters != 0 {
		t.Errorf("Stats = %+v; want backlog 4, no dead letters", st)
	}
	// Clocks of the database server and of this process may differ a little.
	if st.Oldest.Location() != time.UTC || st.Oldest.Before(before.Add(-2*time.Second)) || st.Oldest.After(mid.Add(2*time.Second)) {
		t.Errorf("oldest %v; want when the first event was written (%v…%v), in UTC", st.Oldest, before, mid)
	}

	// The oldest set aside: the age is the next one's, and the count moves.
	if err := s.DeadLetter(t.Context(), es[0].Seq, "refused"); err != nil {
		t.Fatal(err)
	}
	st2 := stats(t, s)
	if st2.Backlog != 3 || st2.DeadLetters != 1 || st2.Oldest.Before(st.Oldest) {
		t.Errorf("Stats after one dead letter = %+v; want backlog 3, 1 dead letter, oldest not before %v", st2, st.Oldest)
	}
	if err := s.MarkDelivered(t.Context(), []int64{es[1].Seq, es[2].Seq, es[3].Seq}); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s); st.Backlog != 0 || !st.Oldest.IsZero() || st.DeadLetters != 1 {
		t.Errorf("Stats with only a dead letter left = %+v; want backlog 0, zero oldest, 1 dead letter", st)
	}
}
