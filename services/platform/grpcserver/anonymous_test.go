package grpcserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/trail"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/peer"
)

// testMinute is the minute the tests' calls fall in.
var testMinute = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

// newTestAnonymous is the aggregate of comity-request's unauthenticated
// calls, with a bound of max clients (0: the default), and what it records.
func newTestAnonymous(t *testing.T, max int) (*anonymous, *captured) {
	t.Helper()
	rec := &captured{}
	a, err := newAnonymous(&AuditConfig{Service: "comity-request", Recorder: rec, MaxAnonymousAddresses: max}, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return a, rec
}

// callAnonymously counts an unauthenticated GetRequest of resource (may be
// empty) from addr (host:port) at at.
func callAnonymously(a *anonymous, addr, resource string, at time.Time) {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: anyAddr(addr)})
	ctx = trail.WithCall(ctx, trail.Call{Service: "comity-request", Resource: resource})
	a.add(ctx, "/comity.request.v1.RequestService/GetRequest", "no_token", at)
}

// The unauthenticated calls of a minute are recorded when the next minute's
// first call comes (or at the flush), one event per address, and addresses
// beyond the bound are counted together, so that memory and the log stay
// bounded however many addresses call.
func TestAnonymousCallsAggregate(t *testing.T) {
	a, rec := newTestAnonymous(t, 3)
	minute := testMinute
	call := func(addr string, at time.Time) { callAnonymously(a, addr+":5000", "requests/"+addr, at) }
	for i := range 10 {
		call(fmt.Sprintf("192.0.2.%d", i%5), minute.Add(time.Duration(i)*time.Second))
	}
	if len(rec.events) != 0 {
		t.Fatalf("%d events written while the minute is under way", len(rec.events))
	}
	call("192.0.2.0", minute.Add(time.Minute))
	got := map[string]uint64{}
	for _, e := range rec.events {
		if !e.Time.Equal(minute) || e.Action != trail.UnauthenticatedCallsAction || e.Outcome != "UNAUTHENTICATED" {
			t.Errorf("aggregate event %+v; want the minute's start, %s, UNAUTHENTICATED", e, trail.UnauthenticatedCallsAction)
		}
		got[e.Actor.Address] += e.Count
	}
	want := map[string]uint64{"192.0.2.0": 2, "192.0.2.1": 2, "192.0.2.2": 2, OtherAddresses: 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the first minute's events count %v; want %v", got, want)
	}
	a.flush(minute.Add(time.Minute + 30*time.Second))
	if len(rec.events) != 4 {
		t.Errorf("a flush within the second minute wrote it: %d events", len(rec.events))
	}
	a.flush(time.Time{})
	if last := rec.events[len(rec.events)-1]; len(rec.events) != 5 || last.Count != 1 || last.Actor.Address != "192.0.2.0" {
		t.Errorf("the flush at shutdown wrote %d events, the last %+v; want the second minute's one call", len(rec.events)-4, last)
	}
}

// Calls that straddle a minute's end, some timed before it but counted
// after a call of the next minute (they took the lock late), make one event
// per client and minute: the late ones count into the current minute.
func TestAnonymousCallsAcrossAMinuteMakeOneEventPerMinute(t *testing.T) {
	minute := testMinute
	boundary := minute.Add(time.Minute)
	tests := []struct {
		name string
		// offsets from the boundary, in the order the calls take the lock
		calls []time.Duration
		// flushAt, when not zero, is a ticker flush after the calls, from
		// the boundary; the flush at shutdown follows
		flushAt time.Duration
		// the events' counts by minute
		want map[time.Time]uint64
	}{
		{"late calls after the new minute's first", []time.Duration{-time.Millisecond, time.Millisecond, -2 * time.Millisecond, 2 * time.Millisecond},
			0, map[time.Time]uint64{minute: 1, boundary: 3}},
		{"alternating", []time.Duration{-3 * time.Millisecond, 1, -2 * time.Millisecond, 2, -time.Millisecond, 3},
			0, map[time.Time]uint64{minute: 1, boundary: 5}},
		{"all calls in one minute", []time.Duration{-2 * time.Millisecond, -time.Millisecond},
			0, map[time.Time]uint64{minute: 2}},
		{"the ticker flushes, then a late call", []time.Duration{-2 * time.Millisecond},
			time.Second, map[time.Time]uint64{minute: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, rec := newTestAnonymous(t, 0)
			for _, d := range tc.calls {
				callAnonymously(a, "192.0.2.7:5000", "requests/x", boundary.Add(d))
			}
			if tc.flushAt != 0 {
				a.flush(boundary.Add(tc.flushAt))
				// A call timed before the boundary that comes only now.
				callAnonymously(a, "192.0.2.7:5000", "requests/x", boundary.Add(-time.Millisecond))
				tc.want[boundary]++
			}
			a.flush(time.Time{})
			got := map[time.Time]uint64{}
			for _, e := range rec.events {
				if _, dup := got[e.Time]; dup {
					t.Errorf("two events for client %s and minute %s", e.Actor.Address, e.Time)
				}
				got[e.Time] += e.Count
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("events count %v by minute; want %v", got, tc.want)
			}
		})
	}
}

// A client is an IPv4 address or an IPv6 /64, as the connection bound and
// the gateway's rate limit count it: an IPv6 client rotating through the
// addresses of its /64 makes one aggregate event a minute, not one per
// address.
func TestAnonymousCallsAreCountedPerIPv6Slash64(t *testing.T) {
	a, rec := newTestAnonymous(t, 0)
	for i := range 500 {
		callAnonymously(a, fmt.Sprintf("[2001:db8:1:2:%x:%x::1]:5000", i, i*7), "", testMinute)
	}
	for _, addr := range []string{"[2001:db8:1:3::1]:5000", "[::ffff:192.0.2.9]:5000", "192.0.2.9:6000"} {
		callAnonymously(a, addr, "", testMinute)
	}
	a.flush(time.Time{})
	got := map[string]uint64{}
	for _, e := range rec.events {
		got[e.Actor.Address] += e.Count
	}
	want := map[string]uint64{"2001:db8:1:2::/64": 500, "2001:db8:1:3::/64": 1, "192.0.2.9": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(rec.events) != len(want) {
		t.Errorf("%d events counting %v; want one per client: %v", len(rec.events), got, want)
	}
}

// Without a bound configured, at most DefaultMaxAnonymousAddresses clients
// (plus "other") get an event of their own per minute.
func TestAnonymousCallsDefaultBound(t *testing.T) {
	a, rec := newTestAnonymous(t, 0)
	for i := range 1000 {
		callAnonymously(a, fmt.Sprintf("10.0.%d.%d:5000", i/250, i%250), "", testMinute)
	}
	a.flush(time.Time{})
	if len(rec.events) != DefaultMaxAnonymousAddresses+1 {
		t.Errorf("1,000 clients in a minute made %d events; want %d", len(rec.events), DefaultMaxAnonymousAddresses+1)
	}
}
