package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/request"
)

// transition moves request id from one status to another, with a history
// entry and an event, as the Service's actions do.
func transition(t *testing.T, s request.Store, id string, from, to request.Status, at time.Time) {
	t.Helper()
	_, err := s.Update(t.Context(), id, func(r *request.Request) (request.Change, error) {
		if r.Status != from {
			return request.Change{}, errs.New(errs.FailedPrecondition, "request %s is %s, not %s", id, r.Status, from)
		}
		r.Status, r.UpdateTime = to, at
		return request.Change{
			History: &request.HistoryEntry{From: from, To: to, Action: strings.ToLower(string(to)), Actor: prosecutor, Time: at},
			Event:   event(fmt.Sprintf("ev-%s-%s-%d", id, to, at.UnixNano()), "Transition"),
		}, nil
	})
	if err != nil {
		t.Fatalf("%s → %s of %s: %v", from, to, id, err)
	}
}

// steps is the From → To of entries, e.g. "→DRAFT" for a creation.
func steps(h []request.HistoryEntry) []string {
	return check.Each(h, func(e request.HistoryEntry) string { return fmt.Sprintf("%s %s→%s", e.RequestID, e.From, e.To) })
}

func seqs(h []request.HistoryEntry) []int64 {
	return check.Each(h, func(e request.HistoryEntry) int64 { return e.Seq })
}

func testHistory(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)

	if seq, err := s.LastHistorySeq(ctx); err != nil || seq != 0 {
		t.Errorf("LastHistorySeq of an empty store = %d, %v; want 0", seq, err)
	}
	if h, err := s.HistoryAfter(ctx, 0, 10); err != nil || h != nil {
		t.Errorf("HistoryAfter of an empty store = %v, %v; want nil", h, err)
	}

	createdA := create(t, s, draft("req-a", "KZ", t0))
	create(t, s, draft("req-b", "UZ", t0))
	transition(t, s, "req-a", request.Draft, request.Submitted, t0.Add(1*time.Hour))
	transition(t, s, "req-b", request.Draft, request.Submitted, t0.Add(2*time.Hour))
	transition(t, s, "req-a", request.Submitted, request.Transmitted, t0.Add(3*time.Hour))
	if _, err := s.Update(ctx, "req-a", func(r *request.Request) (request.Change, error) {
		r.CaseReference = "edited: no status change, no history"
		return request.Change{Event: event("ev-edit", "UpdateRequest")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	transition(t, s, "req-a", request.Transmitted, request.Acknowledged, t0.Add(4*time.Hour))

	ha := historyOf(t, s, "req-a")
	check.Equal(t, "history of req-a", steps(ha),
		[]string{"req-a →DRAFT", "req-a DRAFT→SUBMITTED", "req-a SUBMITTED→TRANSMITTED", "req-a TRANSMITTED→ACKNOWLEDGED"})
	check.Equal(t, "history of req-b", steps(historyOf(t, s, "req-b")), []string{"req-b →DRAFT", "req-b DRAFT→SUBMITTED"})
	if len(ha) == 4 {
		check.Equal(t, "creation entry", ha[0], request.HistoryEntry{
			Seq: ha[0].Seq, RequestID: "req-a", Reference: "KZ-2026-000001", To: request.Draft, Action: "create",
			Actor: prosecutor, Time: t0.Truncate(time.Microsecond),
			RequestingAgency: "kz-gpo", RequestingState: "KZ", RequestedAgency: "uz-gpo", RequestedState: "UZ",
			Owner: "https://idp.kz.example/#p-kz-1", Snapshot: request.Snapshot(createdA),
		})
		if ha[2].Snapshot == nil || ha[2].Snapshot.Status != request.Transmitted || ha[2].Snapshot.CaseReference != "" {
			t.Errorf("snapshot of the transmission = %+v; want the request's metadata as TRANSMITTED", ha[2].Snapshot)
		}
		check.Equal(t, "time of the last entry", ha[3].Time, t0.Add(4*time.Hour).Truncate(time.Microsecond))
	}

	all, err := s.HistoryAfter(ctx, 0, 0)
	if err != nil {
		t.Fatalf("HistoryAfter: %v", err)
	}
	check.Equal(t, "HistoryAfter(0)", steps(all), []string{"req-a →DRAFT", "req-b →DRAFT", "req-a DRAFT→SUBMITTED",
		"req-b DRAFT→SUBMITTED", "req-a SUBMITTED→TRANSMITTED", "req-a TRANSMITTED→ACKNOWLEDGED"})
	if len(all) != 6 {
		t.FailNow()
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Errorf("seqs %v are not strictly increasing", seqs(all))
			break
		}
	}
	for _, e := range all {
		if i := slices.IndexFunc(ha, func(x request.HistoryEntry) bool { return x.Seq == e.Seq }); i >= 0 {
			check.Equal(t, fmt.Sprintf("entry %d by HistoryAfter and by History", e.Seq), e, ha[i])
		}
	}
	tests := []struct {
		name  string
		after int64
		limit int
		want  []request.HistoryEntry
	}{
		{"from the start, limited", 0, 2, all[:2]},
		{"after one, limited", all[1].Seq, 2, all[2:4]},
		{"after one, no limit", all[1].Seq, 0, all[2:]},
		{"limit beyond the end", all[3].Seq, 10, all[4:]},
		{"after the last", all[5].Seq, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.HistoryAfter(t.Context(), tc.after, tc.limit)
			if err != nil {
				t.Fatalf("HistoryAfter: %v", err)
			}
			check.Equal(t, "entries", got, tc.want)
		})
	}
	if seq, err := s.LastHistorySeq(ctx); err != nil || seq != all[5].Seq {
		t.Errorf("LastHistorySeq = %d, %v; want %d", seq, err, all[5].Seq)
	}
}

// testHistoryFollow follows HistoryAfter, as Watch does, while requests are
// created and transitioned concurrently: the follower must see every entry,
// including one whose transaction took its seq early and committed late.
func testHistoryFollow(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	const writers, transitions = 12, 4

	var (
		seen     []request.HistoryEntry
		done     = make(chan struct{})
		followed = make(chan struct{})
	)
	go func() {
		defer close(followed)
		var last int64
		for {
			// Checked before reading: a read that starts after the writers
			// ended and finds nothing has seen everything.
			finished := false
			select {
			case <-done:
				finished = true
			default:
			}
			entries, err := s.HistoryAfter(ctx, last, 5)
			if err != nil {
				t.Errorf("HistoryAfter(%d): %v", last, err)
				return
			}
			for _, e := range entries {
				if e.Seq <= last {
					t.Errorf("HistoryAfter(%d) returned seq %d", last, e.Seq)
				}
				last = e.Seq
			}
			seen = append(seen, entries...)
			if finished && len(entries) == 0 {
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("req-%02d", i)
			r := draft(id, "KZ", t0)
			if _, _, err := s.Create(ctx, r, request.IdempotencyKey{}, creation(r)); err != nil {
				t.Errorf("Create %s: %v", id, err)
				return
			}
			from, to := request.Draft, request.Submitted
			for j := range transitions {
				_, err := s.Update(ctx, id, func(r *request.Request) (request.Change, error) {
					r.Status = to
					return request.Change{
						History: &request.HistoryEntry{From: from, To: to, Action: "step", Actor: prosecutor, Time: t0},
						Event:   event(fmt.Sprintf("ev-%s-%d", id, j), "Step"),
					}, nil
				})
				if err != nil {
					t.Errorf("Update %s: %v", id, err)
					return
				}
				from, to = to, from
			}
		})
	}
	wg.Wait()
	close(done)
	<-followed

	all, err := s.HistoryAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*(1+transitions) {
		t.Errorf("%d history entries; want %d", len(all), writers*(1+transitions))
	}
	check.Equal(t, "seqs the follower saw", seqs(seen), seqs(all))
}
