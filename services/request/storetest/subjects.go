package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// subject returns a data subject's request of state, received at t, with
// every field filled, in a zone other than UTC and with nanoseconds.
func subject(id, state string, received time.Time) request.DataSubjectRequest {
	return request.DataSubjectRequest{
		ID: id, State: state, Agency: "kz-gpo",
		Person: request.DataSubject{FullName: "Aidar Example", DateOfBirth: "1990-05-17", Contact: "+7 700 000 0000"},
		Right:  request.RightErasure, Requests: []string{"req-1", "req-2"},
		ReceiveTime: received.In(tashkent), Description: "Erase what you hold on me.",
		RecordedBy: prosecutor, CreateTime: t0.In(tashkent), UpdateTime: t0.In(tashkent),
	}
}

// wantSubject is d as the store returns it at version v.
func wantSubject(d request.DataSubjectRequest, v int64) request.DataSubjectRequest {
	d.Version = v
	d.ReceiveTime, d.CreateTime, d.UpdateTime = utcMicros(d.ReceiveTime), utcMicros(d.CreateTime), utcMicros(d.UpdateTime)
	for i := range d.Decisions {
		d.Decisions[i].ReviewTime, d.Decisions[i].DecideTime = utcMicros(d.Decisions[i].ReviewTime), utcMicros(d.Decisions[i].DecideTime)
	}
	if in := d.Informing; in != nil {
		c := *in
		c.ReviewTime, c.RecordTime = utcMicros(c.ReviewTime), utcMicros(c.RecordTime)
		d.Informing = &c
	}
	return d
}

func testDataSubjectRequests(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	d := subject("dsr-1", "KZ", t0.Add(-time.Hour))
	got, err := s.CreateDataSubjectRequest(ctx, d, event("ev-dsr-1", "CreateDataSubjectRequest"))
	if err != nil {
		t.Fatal(err)
	}
	check.Equal(t, "created", got, wantSubject(d, 1))
	read, err := s.GetDataSubjectRequest(ctx, "dsr-1")
	if err != nil {
		t.Fatal(err)
	}
	check.Equal(t, "read back", read, wantSubject(d, 1))

	t.Run("duplicate id", func(t *testing.T) {
		_, err := s.CreateDataSubjectRequest(ctx, d, event("ev-dsr-again", "CreateDataSubjectRequest"))
		if !errors.Is(err, errs.ErrAlreadyExists) {
			t.Errorf("a second dsr-1: %v; want AlreadyExists", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := s.GetDataSubjectRequest(ctx, "dsr-none"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Get: %v; want NotFound", err)
		}
		called := false
		_, err := s.UpdateDataSubjectRequest(ctx, "dsr-none", func(*request.DataSubjectRequest) (trail.Event, error) {
			called = true
			return event("ev-none", "DecideDataSubjectRequest"), nil
		})
		if !errors.Is(err, errs.ErrNotFound) || called {
			t.Errorf("Update: %v, fn called %v; want NotFound without a call", err, called)
		}
	})

	review := time.Date(2026, 6, 1, 12, 0, 0, 555, tashkent)
	decided, err := s.UpdateDataSubjectRequest(ctx, "dsr-1", func(x *request.DataSubjectRequest) (trail.Event, error) {
		x.Decisions = append(x.Decisions, request.DataSubjectDecision{Decision: request.SubjectDeferred, Reasons: "covert",
			ReviewTime: review, DecidedBy: prosecutor, DecideTime: t0.Add(time.Minute)})
		x.UpdateTime = t0.Add(time.Minute)
		return event("ev-dsr-1-decide", "DecideDataSubjectRequest"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantD := d
	wantD.Decisions = []request.DataSubjectDecision{{Decision: request.SubjectDeferred, Reasons: "covert",
		ReviewTime: review, DecidedBy: prosecutor, DecideTime: t0.Add(time.Minute)}}
	wantD.UpdateTime = t0.Add(time.Minute)
	check.Equal(t, "decided", decided, wantSubject(wantD, 2))
	read, err = s.GetDataSubjectRequest(ctx, "dsr-1")
	if err != nil {
		t.Fatal(err)
	}
	check.Equal(t, "decided, read back", read, wantSubject(wantD, 2))

	t.Run("refused update writes nothing", func(t *testing.T) {
		_, err := s.UpdateDataSubjectRequest(ctx, "dsr-1", func(x *request.DataSubjectRequest) (trail.Event, error) {
			x.Description = "changed"
			return trail.Event{}, errs.New(errs.Conflict, "stale")
		})
		if !errors.Is(err, errs.ErrConflict) {
			t.Errorf("Update: %v; want fn's error", err)
		}
		if got, _ := s.GetDataSubjectRequest(ctx, "dsr-1"); got.Version != 2 || got.Description != d.Description {
			t.Errorf("after a refused update: version %d, %q; want version 2 unchanged", got.Version, got.Description)
		}
	})
	check.Equal(t, "outbox", pendingIDs(t, s), []string{"ev-dsr-1", "ev-dsr-1-decide"})

	t.Run("list", func(t *testing.T) {
		// Newest received first; ids break ties, larger first.
		for _, x := range []request.DataSubjectRequest{
			subject("dsr-2", "KZ", t0.Add(-3*time.Hour)), subject("dsr-3", "KZ", t0.Add(-2*time.Hour)),
			subject("dsr-4", "KZ", t0.Add(-2*time.Hour)), subject("dsr-uz", "UZ", t0),
		} {
			if _, err := s.CreateDataSubjectRequest(ctx, x, event("ev-"+x.ID, "CreateDataSubjectRequest")); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(ds []request.DataSubjectRequest) []string {
			return check.Each(ds, func(d request.DataSubjectRequest) string { return d.ID })
		}
		for _, tc := range []struct {
			offset, limit int
			want          []string
			more          bool
		}{
			{0, 0, []string{"dsr-1", "dsr-4", "dsr-3", "dsr-2"}, false},
			{0, 2, []string{"dsr-1", "dsr-4"}, true},
			{2, 2, []string{"dsr-3", "dsr-2"}, false},
			{3, 5, []string{"dsr-2"}, false},
			{4, 5, nil, false},
		} {
			got, more, err := s.ListDataSubjectRequests(ctx, "KZ", tc.offset, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			check.Equal(t, fmt.Sprintf("page %d+%d", tc.offset, tc.limit), ids(got), tc.want)
			if more != tc.more {
				t.Errorf("page %d+%d: more %v, want %v", tc.offset, tc.limit, more, tc.more)
			}
		}
		if got, _, err := s.ListDataSubjectRequests(ctx, "TJ", 0, 0); err != nil || len(got) != 0 {
			t.Errorf("TJ's: %v, %v; want none", ids(got), err)
		}
	})
}

// testDataSubjectRequestRace: concurrent decisions on one data subject's
// request are serialised; each sees the one before, none is lost.
func testDataSubjectRequestRace(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	if _, err := s.CreateDataSubjectRequest(ctx, subject("dsr-1", "KZ", t0), event("ev-create", "CreateDataSubjectRequest")); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errors := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errors[i] = s.UpdateDataSubjectRequest(ctx, "dsr-1", func(d *request.DataSubjectRequest) (trail.Event, error) {
				d.Decisions = append(d.Decisions, request.DataSubjectDecision{Decision: request.SubjectRefused, Reasons: fmt.Sprint(i)})
				return event(fmt.Sprintf("ev-decide-%d", i), "DecideDataSubjectRequest"), nil
			})
		})
	}
	wg.Wait()
	for i, err := range errors {
		if err != nil {
			t.Errorf("decision %d: %v", i, err)
		}
	}
	got, err := s.GetDataSubjectRequest(ctx, "dsr-1")
	if err != nil || got.Version != n+1 || len(got.Decisions) != n {
		t.Errorf("after %d decisions: version %d, %d decisions, %v; want version %d and every decision", n, got.Version, len(got.Decisions), err, n+1)
	}
	if ids := pendingIDs(t, s); len(ids) != n+1 {
		t.Errorf("outbox %v; want the creation and %d decisions", ids, n)
	}
}
