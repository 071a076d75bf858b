package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/trail"
	"github.com/comity-mla/comity/services/trail/outboxtest"
)

// newEvent returns an event with a new id and every field set, as the
// directory's service would write for a change of resource.
func newEvent(resource, state string) trail.Event {
	return trail.Event{
		ID:   trail.NewID(),
		Time: time.Now().UTC(),
		Actor: trail.Actor{Subject: "admin-1", Agency: "kz-gpo", Roles: []string{"directory_admin"},
			Issuer: "https://idp.kz.example/"},
		Service:     "comity-directory",
		Action:      "/comity.directory.v1.DirectoryService/UpdateAgency",
		Resource:    resource,
		States:      []string{state},
		Outcome:     "OK",
		RequestHMAC: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
	}
}

// withEvent turns a change of the old form into one that returns ev when the
// change succeeds.
func withEvent[T any](fn func(*T) error, ev trail.Event) func(*T) (trail.Event, error) {
	return func(x *T) (trail.Event, error) {
		if err := fn(x); err != nil {
			return trail.Event{}, err
		}
		return ev, nil
	}
}

// peerless adapts fn, an UpdateAgency function that does not look at the
// agency's peers, to Store.UpdateAgency.
func peerless(fn func(*directory.Agency) (trail.Event, error)) func(*directory.Agency, []directory.Agency) (trail.Event, error) {
	return func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) { return fn(a) }
}

// stored is e as PendingEvents returns it: the time in UTC, truncated to
// microseconds.
func stored(e trail.Event) trail.Event {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	return e
}

func pending(t *testing.T, s Store) []trail.OutboxEntry {
	t.Helper()
	got, err := s.PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	return got
}

func eventIDs(es []trail.OutboxEntry) []string {
	return check.Each(es, func(e trail.OutboxEntry) string { return e.Event.ID })
}

func checkPending(t *testing.T, s Store, id string) {
	t.Helper()
	if ids := eventIDs(pending(t, s)); !slices.Contains(ids, id) {
		t.Errorf("event %s is not in the outbox after the change; outbox holds %v", id, ids)
	}
}

func checkNotPending(t *testing.T, s Store, id string) {
	t.Helper()
	if ids := eventIDs(pending(t, s)); slices.Contains(ids, id) {
		t.Errorf("event %s is in the outbox although its change failed", id)
	}
}

// checkSeqs checks that seqs increase along the list.
func checkSeqs(t *testing.T, es []trail.OutboxEntry) {
	t.Helper()
	for i := 1; i < len(es); i++ {
		if es[i].Seq <= es[i-1].Seq {
			t.Errorf("seq %d follows seq %d: PendingEvents is not in outbox order", es[i].Seq, es[i-1].Seq)
		}
	}
}

func testOutboxWithChange(t *testing.T, newStore func(t *testing.T) Store) {
	errFn := errors.New("fn refused")
	tests := []struct {
		name     string
		resource string
		change   func(t *testing.T, s Store, ev trail.Event) error
		wantErr  error
	}{
		{"CreateAgency", "agencies/kz-academy", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.CreateAgency(t.Context(), directory.Agency{ID: "kz-academy", State: "KZ", Kind: directory.TrainingInstitution}, ev)
			return err
		}, nil},
		{"CreateAgency existing", "agencies/kz-gpo", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.CreateAgency(t.Context(), directory.Agency{ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority}, ev)
			return err
		}, errs.ErrAlreadyExists},
		{"CreateAgency unknown state", "agencies/xx-gpo", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.CreateAgency(t.Context(), directory.Agency{ID: "xx-gpo", State: "XX", Kind: directory.CentralAuthority}, ev)
			return err
		}, errs.ErrFailedPrecondition},
		{"UpdateAgency", "agencies/kz-gpo", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.UpdateAgency(t.Context(), "kz-gpo", func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
				a.Active = false
				return ev, nil
			})
			return err
		}, nil},
		{"UpdateAgency fn error", "agencies/kz-gpo", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.UpdateAgency(t.Context(), "kz-gpo", func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
				a.Active = false
				// An event with an error is still no change.
				return ev, errFn
			})
			return err
		}, errFn},
		{"UpdateAgency refused by the store", "agencies/kz-gpo", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.UpdateAgency(t.Context(), "kz-gpo", func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
				a.State = "KG"
				return ev, nil
			})
			return err
		}, errs.ErrInvalid},
		{"UpdateState", "states/KZ", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.UpdateState(t.Context(), "KZ", func(st *directory.State) (trail.Event, error) {
				st.TimeZone = "UTC"
				return ev, nil
			})
			return err
		}, nil},
		{"UpdateState fn error", "states/KZ", func(t *testing.T, s Store, ev trail.Event) error {
			_, err := s.UpdateState(t.Context(), "KZ", func(st *directory.State) (trail.Event, error) {
				st.TimeZone = "UTC"
				return ev, errFn
			})
			return err
		}, errFn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(t, newStore)
			ev := newEvent(tc.resource, "KZ")
			err := tc.change(t, s, ev)
			got := pending(t, s)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v; want %v", err, tc.wantErr)
				}
				if len(got) != 0 {
					t.Errorf("outbox holds %v after a failed change; want nothing", eventIDs(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("change: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("outbox holds %d events after one change; want 1", len(got))
			}
			check.Equal(t, "event in the outbox", got[0].Event, stored(ev))
		})
	}
}

func testOutboxChangeWithoutEvent(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	agencyBefore := getAgency(t, s, "kz-gpo")
	stateBefore := getState(t, s, "KZ")

	if _, err := s.CreateAgency(ctx, directory.Agency{ID: "kz-academy", State: "KZ", Kind: directory.TrainingInstitution}, trail.Event{}); err == nil {
		t.Error("CreateAgency without an event succeeded")
	}
	if _, err := s.GetAgency(ctx, "kz-academy"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("agency created without its event: GetAgency error %v; want not found", err)
	}
	if _, err := s.UpdateAgency(ctx, "kz-gpo", func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
		a.Active = false
		return trail.Event{}, nil
	}); err == nil {
		t.Error("UpdateAgency without an event succeeded")
	}
	if got, err := s.GetAgency(ctx, "kz-gpo"); err != nil {
		t.Fatal(err)
	} else {
		check.Equal(t, "agency after an update without event", got, agencyBefore)
	}
	if _, err := s.UpdateState(ctx, "KZ", func(st *directory.State) (trail.Event, error) {
		st.TimeZone = "UTC"
		return trail.Event{}, nil
	}); err == nil {
		t.Error("UpdateState without an event succeeded")
	}
	if got, err := s.GetState(ctx, "KZ"); err != nil {
		t.Fatal(err)
	} else {
		check.Equal(t, "state after an update without event", got, stateBefore)
	}
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("outbox holds %v; want nothing", eventIDs(got))
	}
}

func testOutboxEventRoundTrip(t *testing.T, newStore func(t *testing.T) Store) {
	tashkent := time.FixedZone("UZT", 5*3600)
	full := newEvent("requests/0190a0b0-0000-7000-8000-000000000000", "KZ")
	full.States = []string{"KZ", "UZ"}
	full.Actor.Roles = []string{"prosecutor", "directory_admin"}
	full.Transition = &trail.Transition{From: "DRAFT", To: "SUBMITTED"}
	// Not UTC, with nanoseconds: the outbox returns UTC microseconds.
	full.Time = time.Date(2026, 4, 2, 15, 4, 5, 987654321, tashkent)
	minimal := trail.Event{
		ID: trail.NewID(), Time: t0, Service: "comity-directory",
		Action: "/comity.directory.v1.DirectoryService/GetAgency", Outcome: "PERMISSION_DENIED",
	}
	tests := []struct {
		name string
		ev   trail.Event
	}{
		{"every field", full},
		{"unauthenticated denial", minimal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if err := s.RecordEvent(t.Context(), tc.ev); err != nil {
				t.Fatalf("RecordEvent: %v", err)
			}
			got := pending(t, s)
			if len(got) != 1 {
				t.Fatalf("outbox holds %d events; want 1", len(got))
			}
			want := stored(tc.ev)
			check.Equal(t, "event", got[0].Event, want)
			if got[0].Event.Time.Location() != time.UTC {
				t.Errorf("event time %v not in UTC", got[0].Event.Time)
			}
		})
	}
}

func testOutboxRecordEvent(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	if got := pending(t, s); len(got) != 0 {
		t.Fatalf("a new store's outbox holds %v; want nothing", eventIDs(got))
	}
	ev := newEvent("agencies/kz-gpo", "KZ")
	if err := s.RecordEvent(ctx, ev); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	// A retry, possibly with a later time, records nothing new.
	again := ev
	again.Time = ev.Time.Add(time.Second)
	again.Outcome = "INTERNAL"
	if err := s.RecordEvent(ctx, again); err != nil {
		t.Fatalf("RecordEvent again: %v", err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.RecordEvent(ctx, ev); err != nil {
				t.Errorf("concurrent RecordEvent: %v", err)
			}
		})
	}
	wg.Wait()
	got := pending(t, s)
	if len(got) != 1 {
		t.Fatalf("outbox holds %d events after recording one id 10 times; want 1", len(got))
	}
	check.Equal(t, "event kept", got[0].Event, stored(ev))

	// Still idempotent once delivered: the event is not queued again.
	if err := s.MarkDelivered(ctx, []int64{got[0].Seq}); err != nil {
		t.Fatalf("MarkDelivered: %v", err)
	}
	if err := s.RecordEvent(ctx, ev); err != nil {
		t.Fatalf("RecordEvent after delivery: %v", err)
	}
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("a delivered event recorded again is pending again: %v", eventIDs(got))
	}

	if err := s.RecordEvent(ctx, trail.Event{Service: "comity-directory", Outcome: "OK"}); err == nil {
		t.Error("RecordEvent of an event without id succeeded")
	}
}

func testOutboxOrderAndLimit(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	// Events of every kind of write, interleaved.
	var want []string
	for i := range 3 {
		ev := newEvent("agencies/kz-gpo", "KZ")
		if err := s.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
		id := fmt.Sprintf("kz-new-%d", i)
		ev = newEvent("agencies/"+id, "KZ")
		if _, err := s.CreateAgency(ctx, directory.Agency{ID: id, State: "KZ", Kind: directory.Prosecution}, ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
		ev = newEvent("agencies/"+id, "KZ")
		if _, err := s.UpdateAgency(ctx, id, peerless(withEvent(func(a *directory.Agency) error { a.Active = false; return nil }, ev))); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
		ev = newEvent("states/UZ", "UZ")
		if _, err := s.UpdateState(ctx, "UZ", withEvent(func(st *directory.State) error { st.TimeZone = "UTC"; return nil }, ev)); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
	}
	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"all", 0, want},
		{"negative is all", -1, want},
		{"first five", 5, want[:5]},
		{"one", 1, want[:1]},
		{"more than there are", 100, want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.PendingEvents(t.Context(), tc.limit)
			if err != nil {
				t.Fatalf("PendingEvents: %v", err)
			}
			if ids := eventIDs(got); !slices.Equal(ids, tc.want) {
				t.Errorf("PendingEvents(%d)\n got %v\nwant %v", tc.limit, ids, tc.want)
			}
			checkSeqs(t, got)
		})
	}
}

func testOutboxMarkDelivered(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	var ids []string
	for range 5 {
		ev := newEvent("agencies/kz-gpo", "KZ")
		if err := s.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	all := pending(t, s)
	if got := eventIDs(all); !slices.Equal(got, ids) {
		t.Fatalf("pending %v; want %v", got, ids)
	}
	seq := func(i int) int64 { return all[i].Seq }

	steps := []struct {
		name string
		seqs []int64
		want []string
	}{
		{"some", []int64{seq(0), seq(2)}, []string{ids[1], ids[3], ids[4]}},
		{"none", nil, []string{ids[1], ids[3], ids[4]}},
		{"already delivered and unknown", []int64{seq(0), seq(4) + 1000}, []string{ids[1], ids[3], ids[4]}},
		{"the rest, out of order", []int64{seq(4), seq(1), seq(3)}, nil},
	}
	for _, st := range steps {
		if err := s.MarkDelivered(ctx, st.seqs); err != nil {
			t.Fatalf("%s: MarkDelivered(%v): %v", st.name, st.seqs, err)
		}
		if got := eventIDs(pending(t, s)); !slices.Equal(got, st.want) {
			t.Errorf("%s: pending after MarkDelivered(%v)\n got %v\nwant %v", st.name, st.seqs, got, st.want)
		}
	}

	// A new event after everything was delivered follows the old ones.
	ev := newEvent("agencies/kz-gpo", "KZ")
	if err := s.RecordEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	got := pending(t, s)
	if len(got) != 1 || got[0].Event.ID != ev.ID {
		t.Fatalf("pending %v; want [%s]", eventIDs(got), ev.ID)
	}
	if got[0].Seq <= seq(4) {
		t.Errorf("new event has seq %d, not after the delivered %d", got[0].Seq, seq(4))
	}
}

func testOutboxNotForSeedAndImport(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	states, agencies := fixtures()
	if err := s.Import(ctx, states[:1], agencies[:2], nil, nil); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("Seed and Import left %d events in the outbox; want none: they are not user calls", len(got))
	}
}

// testOutboxDeadLetters runs the outbox's dead-letter suite, shared with the
// request service's stores.
func testOutboxDeadLetters(t *testing.T, newStore func(t *testing.T) Store) {
	outboxtest.Run(t, "comity-directory", func(t *testing.T) outboxtest.Store { return newStore(t) })
}
