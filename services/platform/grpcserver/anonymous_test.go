package grpcserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/peer"

	"github.com/comity-mla/comity/services/audit"
)

// The unauthenticated calls of a minute are recorded when the next minute's
// first call comes (or at the flush), one event per address, and addresses
// beyond the bound are counted together, so that memory and the log stay
// bounded however many addresses call.
func TestAnonymousCallsAggregate(t *testing.T) {
	rec := &captured{}
	a, err := newAnonymous(&AuditConfig{Service: "comity-request", Recorder: rec, MaxAnonymousAddresses: 3}, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	minute := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	call := func(addr string, at time.Time) {
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: anyAddr(addr + ":5000")})
		ctx = audit.WithCall(ctx, audit.Call{Service: "comity-request", Resource: "requests/" + addr})
		a.add(ctx, "/comity.request.v1.RequestService/GetRequest", "no_token", at)
	}
	for i := range 10 {
		call(fmt.Sprintf("192.0.2.%d", i%5), minute.Add(time.Duration(i)*time.Second))
	}
	if len(rec.events) != 0 {
		t.Fatalf("%d events written while the minute is under way", len(rec.events))
	}
	call("192.0.2.0", minute.Add(time.Minute))
	got := map[string]uint64{}
	for _, e := range rec.events {
		if !e.Time.Equal(minute) || e.Action != UnauthenticatedCallsAction || e.Outcome != "UNAUTHENTICATED" {
			t.Errorf("aggregate event %+v; want the minute's start, %s, UNAUTHENTICATED", e, UnauthenticatedCallsAction)
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
