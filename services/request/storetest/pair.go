package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// testUpdatePair: UpdatePair writes both requests, each with its history
// entry and event, or neither: a failure on the second request leaves the
// first as it was. Pairs taken in either order by concurrent writers all
// commit.
func testUpdatePair(t *testing.T, newStore func(t *testing.T) request.Store) {
	later := t0.Add(5 * time.Hour).Truncate(time.Microsecond)
	hold := func(r, o *request.Request) (request.Change, *request.Change, error) {
		r.Status, r.UpdateTime = request.Transmitted, later
		o.Preservation = &request.Preservation{State: request.HeldPendingFollowUp, HeldBy: r.ID}
		o.UpdateTime = later
		return request.Change{
				History: &request.HistoryEntry{From: request.Submitted, To: request.Transmitted, Action: "transmit", Actor: prosecutor, Time: later},
				Event:   event("ev-transmit", "TransmitRequest"),
			}, &request.Change{
				History: &request.HistoryEntry{From: request.Executed, To: request.Executed, Action: "holdPreservation", Actor: prosecutor, Time: later, Reason: "held"},
				Event:   event("ev-hold", "TransmitRequest"),
			}, nil
	}
	errFn := errors.New("fn refused")
	for _, tc := range []struct {
		name string
		fn   func(r, o *request.Request) (request.Change, *request.Change, error)
		// other is the second request's id; "" is req-p.
		other string
		// wantErr is matched with errors.Is; nil means success.
		wantErr error
		// wrote says which requests a success wrote.
		wrote []string
	}{
		{name: "both", fn: hold, wrote: []string{"req-f", "req-p"}},
		{name: "first only", fn: func(r, o *request.Request) (request.Change, *request.Change, error) {
			ch, _, err := hold(r, o)
			return ch, nil, err
		}, wrote: []string{"req-f"}},
		{name: "fn error", fn: func(r, o *request.Request) (request.Change, *request.Change, error) {
			ch, och, _ := hold(r, o)
			return ch, och, errFn
		}, wantErr: errFn},
		{name: "second refused", fn: func(r, o *request.Request) (request.Change, *request.Change, error) {
			ch, och, err := hold(r, o)
			o.RequestingAgency = "kz-police-cyber" // immutable: its write fails
			return ch, och, err
		}, wantErr: errs.ErrInvalid},
		{name: "second missing", fn: hold, other: "req-none", wantErr: errs.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t)
			create(t, s, draft("req-f", "KZ", t0))
			create(t, s, draft("req-p", "KZ", t0))
			events := pendingIDs(t, s)
			other := cmpOr(tc.other, "req-p")
			got, err := s.UpdatePair(ctx, "req-f", other, tc.fn)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("UpdatePair = %v; want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (err != nil || got.Status != request.Transmitted || got.Version != 2) {
				t.Fatalf("UpdatePair = %s version %d, %v; want TRANSMITTED version 2", got.Status, got.Version, err)
			}
			f, p := getOf(t, s, "req-f"), getOf(t, s, "req-p")
			wantF, wantP := int64(1), int64(1)
			var wantHistory []string
			var wantEvents []string
			if slices.Contains(tc.wrote, "req-f") {
				wantF, wantHistory, wantEvents = 2, append(wantHistory, "req-f transmit"), append(wantEvents, "ev-transmit")
			}
			if slices.Contains(tc.wrote, "req-p") {
				wantP, wantHistory, wantEvents = 2, append(wantHistory, "req-p holdPreservation"), append(wantEvents, "ev-hold")
			}
			if f.Version != wantF || p.Version != wantP {
				t.Errorf("versions %d and %d; want %d and %d", f.Version, p.Version, wantF, wantP)
			}
			if held := p.Preservation != nil; held != (wantP == 2) {
				t.Errorf("preservation of req-p %+v; written %v", p.Preservation, wantP == 2)
			} else if held && (p.Preservation.State != request.HeldPendingFollowUp || p.Preservation.HeldBy != "req-f" || !p.UpdateTime.Equal(later)) {
				t.Errorf("req-p stored as %+v updated %v; want held by req-f at %v", p.Preservation, p.UpdateTime, later)
			}
			var history []string
			for _, id := range []string{"req-f", "req-p"} {
				for _, e := range historyOf(t, s, id) {
					if e.Action != "create" {
						history = append(history, e.RequestID+" "+e.Action)
					}
				}
			}
			if !slices.Equal(history, wantHistory) {
				t.Errorf("history %v; want %v", history, wantHistory)
			}
			if got := pendingIDs(t, s)[len(events):]; !slices.Equal(got, wantEvents) {
				t.Errorf("events %v; want %v", got, wantEvents)
			}
		})
	}
	t.Run("concurrent pairs in both orders", func(t *testing.T) {
		ctx := t.Context()
		s := newStore(t)
		create(t, s, draft("req-a", "KZ", t0))
		create(t, s, draft("req-b", "KZ", t0))
		const n = 8
		var wg sync.WaitGroup
		errc := make(chan error, 2*n)
		for i := range 2 * n {
			first, second := "req-a", "req-b"
			if i%2 == 1 {
				first, second = second, first
			}
			wg.Go(func() {
				_, err := s.UpdatePair(ctx, first, second, func(r, o *request.Request) (request.Change, *request.Change, error) {
					r.FactsSummary += "x"
					o.FactsSummary += "y"
					return request.Change{Event: event(fmt.Sprintf("ev-%d-r", i), "UpdateRequest")},
						&request.Change{Event: event(fmt.Sprintf("ev-%d-o", i), "UpdateRequest")}, nil
				})
				errc <- err
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Errorf("UpdatePair: %v", err)
			}
		}
		for _, id := range []string{"req-a", "req-b"} {
			if r := getOf(t, s, id); r.Version != 1+2*n || len(r.FactsSummary) != 2*n {
				t.Errorf("%s at version %d with %q; want version %d and %d changes", id, r.Version, r.FactsSummary, 1+2*n, 2*n)
			}
		}
	})
}

func getOf(t *testing.T, s request.Store, id string) request.Request {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

func cmpOr(s, or string) string {
	if s == "" {
		return or
	}
	return s
}
