package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

// mode is how the fake audit service answers Append.
type mode int

const (
	working   mode = iota
	failing        // UNAVAILABLE, nothing appended
	flaky          // every other call UNAVAILABLE, nothing appended
	lostReply      // every other call appends, then answers UNAVAILABLE
	hanging        // waits for the caller to give up
)

// maxResource is the longest resource the fake audit service takes, as the
// real one's validation (in characters).
const maxResource = 300

// refusedPrefix starts the resources the fake audit service refuses.
const refusedPrefix = "refused/"

// fakeAudit is the audit service: a log that takes each event id once, and
// refuses events with a resource longer than maxResource, as the real one,
// or under refusedPrefix, as a stricter version might (the relay cannot
// bound those away), or every event with refuseAll.
type fakeAudit struct {
	auditv1.UnimplementedAuditServiceServer

	mu   sync.Mutex
	mode mode
	// failWith is the code of a failing call; UNAVAILABLE when zero.
	failWith codes.Code
	// noDetails refuses invalid events without BadRequest details;
	// misreport shifts the event positions the details name by that much.
	noDetails bool
	misreport int
	// refuseAll refuses every event, as an audit service of another
	// version or configuration might.
	refuseAll bool

	calls    int
	failed   int
	hung     int
	refused  int // invalid events refused, counted once per call
	index    map[string]uint64
	log      []*auditv1.Event
	received map[string]int // times an id came in an Append that succeeded

	addr string
	srv  *grpc.Server
}

func (f *fakeAudit) Append(ctx context.Context, req *auditv1.AppendRequest) (*auditv1.AppendResponse, error) {
	f.mu.Lock()
	f.calls++
	m := f.mode
	odd := f.calls%2 == 1
	switch {
	case m == failing && f.failWith != codes.OK:
		f.failed++
		f.mu.Unlock()
		return nil, status.Error(f.failWith, "audit log failed")
	case m == failing, m == flaky && odd:
		f.failed++
		f.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "audit log unavailable")
	case m == hanging:
		f.hung++
		f.mu.Unlock()
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	defer f.mu.Unlock()
	// As the real one: a batch with an invalid event is refused whole.
	br := &errdetails.BadRequest{}
	for i, ev := range req.GetEvents() {
		if utf8.RuneCountInString(ev.GetResource()) > maxResource || strings.HasPrefix(ev.GetResource(), refusedPrefix) || f.refuseAll {
			f.refused++
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       fmt.Sprintf("events[%d].resource", i+f.misreport),
				Description: "value length must be at most 300 characters",
			})
		}
	}
	if len(br.FieldViolations) > 0 {
		msg := fmt.Sprintf("invalid request: %s: %s", br.FieldViolations[0].Field, br.FieldViolations[0].Description)
		st := status.New(codes.InvalidArgument, msg)
		if !f.noDetails {
			st, _ = st.WithDetails(br)
		}
		return nil, st.Err()
	}
	resp := &auditv1.AppendResponse{}
	for _, ev := range req.GetEvents() {
		i, ok := f.index[ev.GetId()]
		if !ok {
			i = uint64(len(f.log))
			f.index[ev.GetId()] = i
			f.log = append(f.log, proto.CloneOf(ev))
		}
		resp.Indexes = append(resp.Indexes, i)
	}
	if m == lostReply && odd {
		f.failed++
		return nil, status.Error(codes.Unavailable, "connection reset")
	}
	for _, ev := range req.GetEvents() {
		f.received[ev.GetId()]++
	}
	return resp, nil
}

func (f *fakeAudit) setRefuseAll(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseAll = on
}

func (f *fakeAudit) resources() []string { return f.logged((*auditv1.Event).GetResource) }

func (f *fakeAudit) logIDs() []string { return f.logged((*auditv1.Event).GetId) }

// logged is field of each event in the log, in order.
func (f *fakeAudit) logged(field func(*auditv1.Event) string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.log))
	for i, ev := range f.log {
		out[i] = field(ev)
	}
	return out
}

func (f *fakeAudit) set(m mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *fakeAudit) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.index[id]
	return ok
}

func (f *fakeAudit) receivedTimes(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received[id]
}

func (f *fakeAudit) counts() (calls, failed, hung int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.failed, f.hung
}

// start serves on 127.0.0.1: a new port the first time, the same one after
// stop, as a restarted audit service would.
func (f *fakeAudit) start(t *testing.T) {
	t.Helper()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f.addr = l.Addr().String()
	srv := grpc.NewServer()
	auditv1.RegisterAuditServiceServer(srv, f)
	go srv.Serve(l)
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
}

func (f *fakeAudit) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// newAudit starts a fake audit service and returns it with a client of it.
func newAudit(t *testing.T) (*fakeAudit, auditv1.AuditServiceClient) {
	t.Helper()
	f := &fakeAudit{index: map[string]uint64{}, received: map[string]int{}}
	f.start(t)
	t.Cleanup(f.stop)
	conn, err := grpc.NewClient(f.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnect quickly once a stopped service is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return f, auditv1.NewAuditServiceClient(conn)
}

// fakeOutbox is an outbox in memory. It checks that MarkDelivered names only
// events the audit service holds.
type fakeOutbox struct {
	audit *fakeAudit

	mu          sync.Mutex
	entries     []trail.OutboxEntry // in seq order
	delivered   map[int64]bool
	dead        map[int64]string // reasons of the dead letters
	seq         int64
	reads       int
	failReads   int // the next reads fail
	failMarks   int // the next marks fail
	marks       int
	violations  []string
	markedTwice []int64
}

func newOutbox(a *fakeAudit) *fakeOutbox {
	return &fakeOutbox{audit: a, delivered: map[int64]bool{}, dead: map[int64]string{}}
}

var errDB = errors.New("database is locked")

// add writes n events and returns their ids.
func (o *fakeOutbox) add(n int) []string { return o.addWith(n, "agencies/kz-gpo") }

// addBad writes n events the audit service refuses (their resource is
// under refusedPrefix) and returns their ids.
func (o *fakeOutbox) addBad(n int) []string {
	return o.addWith(n, refusedPrefix+"agencies/kz-gpo")
}

// addLong writes n events with a resource too long for the audit service,
// as producers wrote them before events were bounded where they are built,
// and returns their ids.
func (o *fakeOutbox) addLong(n int) []string {
	return o.addWith(n, "agencies/"+strings.Repeat("A", maxResource))
}

func (o *fakeOutbox) addWith(n int, resource string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []string
	for range n {
		o.seq += 3 // seqs need not be dense
		ev := trail.Event{
			ID: trail.NewID(), Time: time.Now().UTC(), Service: "comity-directory",
			Action: "/comity.directory.v1.DirectoryService/UpdateAgency", Resource: resource,
			States: []string{"KZ"}, Outcome: "OK",
		}
		o.entries = append(o.entries, trail.OutboxEntry{Seq: o.seq, Event: ev})
		ids = append(ids, ev.ID)
	}
	return ids
}

func (o *fakeOutbox) PendingEvents(ctx context.Context, limit int) ([]trail.OutboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	if o.failReads > 0 {
		o.failReads--
		return nil, errDB
	}
	var out []trail.OutboxEntry
	for _, e := range o.entries {
		if !o.delivered[e.Seq] && o.dead[e.Seq] == "" && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *fakeOutbox) MarkDelivered(ctx context.Context, seqs []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.marks++
	for _, s := range seqs {
		i := slices.IndexFunc(o.entries, func(e trail.OutboxEntry) bool { return e.Seq == s })
		if i < 0 {
			o.violations = append(o.violations, fmt.Sprintf("unknown seq %d", s))
			continue
		}
		if id := o.entries[i].Event.ID; !o.audit.has(id) {
			o.violations = append(o.violations, fmt.Sprintf("seq %d (%s) marked delivered but not in the log", s, id))
		}
	}
	if o.failMarks > 0 {
		o.failMarks--
		return errDB
	}
	for _, s := range seqs {
		if o.delivered[s] {
			o.markedTwice = append(o.markedTwice, s)
		}
		o.delivered[s] = true
	}
	return nil
}

func (o *fakeOutbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries) - len(o.delivered) - len(o.dead)
}

func (o *fakeOutbox) DeadLetter(ctx context.Context, seq int64, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if reason == "" {
		o.violations = append(o.violations, fmt.Sprintf("seq %d dead-lettered without a reason", seq))
	}
	if o.delivered[seq] || o.dead[seq] != "" || !slices.ContainsFunc(o.entries, func(e trail.OutboxEntry) bool { return e.Seq == seq }) {
		return errs.New(errs.NotFound, "no pending event at seq %d", seq)
	}
	o.dead[seq] = reason
	return nil
}

func (o *fakeOutbox) DeadLetters(ctx context.Context, limit int) ([]trail.DeadLetter, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []trail.DeadLetter
	for _, e := range o.entries {
		if r := o.dead[e.Seq]; r != "" && (limit <= 0 || len(out) < limit) {
			out = append(out, trail.DeadLetter{OutboxEntry: e, Reason: r})
		}
	}
	return out, nil
}

func (o *fakeOutbox) Redeliver(ctx context.Context, ids []string) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var back []string
	for _, e := range o.entries {
		if o.dead[e.Seq] != "" && slices.Contains(ids, e.Event.ID) {
			delete(o.dead, e.Seq)
			back = append(back, e.Event.ID)
		}
	}
	return back, nil
}

func (o *fakeOutbox) RedeliverAll(ctx context.Context) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := int64(len(o.dead))
	clear(o.dead)
	return n, nil
}

func (o *fakeOutbox) Stats(ctx context.Context) (trail.OutboxStats, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := trail.OutboxStats{DeadLetters: int64(len(o.dead))}
	for _, e := range o.entries {
		if !o.delivered[e.Seq] && o.dead[e.Seq] == "" {
			if st.Backlog == 0 {
				st.Oldest = e.Event.Time
			}
			st.Backlog++
		}
	}
	return st, nil
}

// deadIDs returns the ids of the dead letters, in outbox order, with their
// reasons.
func (o *fakeOutbox) deadIDs() (ids, reasons []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.entries {
		if r := o.dead[e.Seq]; r != "" {
			ids = append(ids, e.Event.ID)
			reasons = append(reasons, r)
		}
	}
	return ids, reasons
}

func (o *fakeOutbox) stats() (reads, marks int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reads, o.marks
}

// check checks what must hold whatever happened: MarkDelivered named only
// logged events, and none twice.
func (o *fakeOutbox) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.violations {
		t.Error(v)
	}
	if len(o.markedTwice) > 0 {
		t.Errorf("seqs %v marked delivered twice", o.markedTwice)
	}
}

// waitFor polls cond with backoff until it holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for d := time.Millisecond; !cond(); d = min(2*d, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(d)
	}
}

// fast are options for tests: short waits, small batches.
func fast(t *testing.T) relay.Options {
	return relay.Options{
		BatchSize: 7, Poll: 5 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Logger: zaptest.NewLogger(t),
	}
}

// running is a relay's Run in its goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned, once done
}

// run runs r until the test ends.
func run(t *testing.T, r *relay.Relay) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rn := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		rn.err = r.Run(ctx)
		close(rn.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rn.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
	return rn
}

// checkDelivered checks that the log holds want, in order, and that the
// outbox has nothing pending.
func checkDelivered(t *testing.T, a *fakeAudit, o *fakeOutbox, want []string) {
	t.Helper()
	if got := a.logIDs(); !slices.Equal(got, want) {
		t.Errorf("log holds %d events, not the %d of the outbox in order:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	if n := o.pending(); n != 0 {
		t.Errorf("%d events still pending", n)
	}
	o.check(t)
}

func TestDeliversEverythingInOrder(t *testing.T) {
	a, client := newAudit(t)
	o := newOutbox(a)
	want := o.add(30) // several full batches and a partial one
	r := relay.New(o, client, fast(t))
	run(t, r)
	waitFor(t, "the first events to be delivered", func() bool { return o.pending() == 0 })
	// Events written while the relay runs follow.
	for range 5 {
		want = append(want, o.add(3)...)
	}
	waitFor(t, "the later events to be delivered", func() bool { return o.pending() == 0 && len(a.logIDs()) == len(want) })
	checkDelivered(t, a, o, want)
	for _, id := range want {
		if n := a.receivedTimes(id); n != 1 {
			t.Errorf("event %s sent %d times; want once: the relay sends delivered events again", id, n)
		}
	}
	waitFor(t, "Backlog to be 0", func() bool { return r.Backlog() == 0 })
}

func TestConvertsEveryField(t *testing.T) {
	a, client := newAudit(t)
	o := newOutbox(a)
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	full := trail.Event{
		ID: trail.NewID(), Time: at,
		Actor:   trail.Actor{Subject: "u-1", Agency: "kz-gpo", Roles: []string{"prosecutor", "supervisor"}, Issuer: "https://idp.kz.example/"},
		Service: "comity-request", Action: "/comity.request.v1.RequestService/SubmitRequest",
		Resource: "requests/r-1", States: []string{"KZ", "UZ"}, Outcome: "OK",
		Transition:  &trail.Transition{From: "DRAFT", To: "SUBMITTED"},
		RequestHMAC: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
	}
	denied := trail.Event{ID: trail.NewID(), Time: at, Service: "comity-directory",
		Action: "/comity.directory.v1.DirectoryService/CreateAgency", Outcome: "UNAUTHENTICATED"}
	o.entries = []trail.OutboxEntry{{Seq: 1, Event: full}, {Seq: 2, Event: denied}}
	want := []*auditv1.Event{
		{
			Id: full.ID, Time: timestamppb.New(at),
			Actor:   &auditv1.Actor{Subject: "u-1", Agency: "kz-gpo", Roles: []string{"prosecutor", "supervisor"}, Issuer: "https://idp.kz.example/"},
			Service: "comity-request", Action: "/comity.request.v1.RequestService/SubmitRequest",
			Resource: "requests/r-1", States: []string{"KZ", "UZ"}, Outcome: "OK",
			Transition:  &auditv1.Transition{From: "DRAFT", To: "SUBMITTED"},
			RequestHmac: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
		},
		{
			Id: denied.ID, Time: timestamppb.New(at), Actor: &auditv1.Actor{}, Service: "comity-directory",
			Action: "/comity.directory.v1.DirectoryService/CreateAgency", Outcome: "UNAUTHENTICATED",
		},
	}
	run(t, relay.New(o, client, fast(t)))
	waitFor(t, "delivery", func() bool { return o.pending() == 0 })
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.log) != len(want) {
		t.Fatalf("log holds %d events; want %d", len(a.log), len(want))
	}
	for i := range want {
		if !proto.Equal(a.log[i], want[i]) {
			t.Errorf("event %d:\n got %v\nwant %v", i, a.log[i], want[i])
		}
	}
}

func TestKeepsBacklogWhileAuditIsDown(t *testing.T) {
	tests := []struct {
		name string
		down func(a *fakeAudit)
		up   func(t *testing.T, a *fakeAudit)
		// retried tells that the relay has tried several times.
		retried func(a *fakeAudit, o *fakeOutbox) bool
	}{
		{
			name: "unavailable",
			down: func(a *fakeAudit) { a.set(failing) },
			up:   func(t *testing.T, a *fakeAudit) { a.set(working) },
			retried: func(a *fakeAudit, o *fakeOutbox) bool {
				_, failed, _ := a.counts()
				return failed >= 5
			},
		},
		{
			name: "stopped",
			down: func(a *fakeAudit) { a.stop() },
			up:   func(t *testing.T, a *fakeAudit) { a.start(t) },
			retried: func(a *fakeAudit, o *fakeOutbox) bool {
				reads, _ := o.stats()
				return reads >= 5
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, client := newAudit(t)
			o := newOutbox(a)
			tc.down(a)
			want := o.add(20)
			opts := fast(t)
			opts.BatchSize = 50
			r := relay.New(o, client, opts)
			run(t, r)
			waitFor(t, "the relay to retry", func() bool { return tc.retried(a, o) })
			// The producing service keeps writing.
			want = append(want, o.add(10)...)
			waitFor(t, "the relay to retry with the new events", func() bool { return r.Backlog() == 30 })

			if _, marks := o.stats(); marks != 0 {
				t.Errorf("MarkDelivered called %d times while the audit service was down", marks)
			}
			if n := o.pending(); n != 30 {
				t.Errorf("%d events pending; want all 30", n)
			}
			if got := a.logIDs(); len(got) != 0 {
				t.Errorf("log holds %v while down", got)
			}

			tc.up(t, a)
			waitFor(t, "the backlog to drain", func() bool { return o.pending() == 0 })
			checkDelivered(t, a, o, want)
			for _, id := range want {
				if n := a.receivedTimes(id); n != 1 {
					t.Errorf("event %s accepted %d times; want once", id, n)
				}
			}
		})
	}
}

func TestRetriesWithoutLosingOrRepeating(t *testing.T) {
	tests := []struct {
		name string
		mode mode
		// failReads and failMarks are failures of the outbox's database.
		failReads, failMarks int
	}{
		{name: "flaky audit service", mode: flaky},
		// The events are logged but the relay does not learn it: it sends
		// them again and the log keeps them once.
		{name: "lost replies", mode: lostReply},
		{name: "outbox read fails", failReads: 3},
		// The events are logged but not marked: sent again, logged once.
		{name: "outbox mark fails", failMarks: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, client := newAudit(t)
			a.set(tc.mode)
			o := newOutbox(a)
			o.failReads, o.failMarks = tc.failReads, tc.failMarks
			want := o.add(40)
			run(t, relay.New(o, client, fast(t)))
			waitFor(t, "delivery", func() bool { return o.pending() == 0 })
			checkDelivered(t, a, o, want)
			if tc.mode != working {
				if _, failed, _ := a.counts(); failed == 0 {
					t.Error("the audit service never failed: the test tests nothing")
				}
			}
		})
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	tests := []struct {
		name  string
		setup func(a *fakeAudit, o *fakeOutbox, opts *relay.Options)
		// busy tells that the relay is where the case wants it.
		busy func(a *fakeAudit, o *fakeOutbox) bool
	}{
		{
			name: "idle",
			setup: func(a *fakeAudit, o *fakeOutbox, opts *relay.Options) {
				opts.Poll = time.Hour
			},
			busy: func(a *fakeAudit, o *fakeOutbox) bool { reads, _ := o.stats(); return reads >= 1 },
		},
		{
			name: "backing off",
			setup: func(a *fakeAudit, o *fakeOutbox, opts *relay.Options) {
				a.set(failing)
				o.add(3)
				opts.MinBackoff, opts.MaxBackoff = time.Hour, time.Hour
			},
			busy: func(a *fakeAudit, o *fakeOutbox) bool { _, failed, _ := a.counts(); return failed >= 1 },
		},
		{
			name: "in Append",
			setup: func(a *fakeAudit, o *fakeOutbox, opts *relay.Options) {
				a.set(hanging)
				o.add(3)
				opts.CallTimeout = time.Hour
			},
			busy: func(a *fakeAudit, o *fakeOutbox) bool { _, _, hung := a.counts(); return hung >= 1 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, client := newAudit(t)
			o := newOutbox(a)
			opts := fast(t)
			tc.setup(a, o, &opts)
			rn := run(t, relay.New(o, client, opts))
			waitFor(t, "the relay to be busy", func() bool { return tc.busy(a, o) })
			rn.cancel()
			select {
			case <-rn.done:
				if rn.err != nil {
					t.Errorf("Run = %v after its context ended; want nil", rn.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5s of its context ending")
			}
			if _, marks := o.stats(); marks != 0 {
				t.Errorf("MarkDelivered called %d times; nothing was delivered", marks)
			}
			o.check(t)
		})
	}
}

// withMetrics returns opts with metrics registered on a registry of their
// own, and the registry.
func withMetrics(t *testing.T, opts relay.Options) (relay.Options, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := relay.NewMetrics(reg, "directory")
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	opts.Metrics = m
	opts.StatsInterval = 5 * time.Millisecond
	return opts, reg
}

// metric returns the value of the outbox metric name (of service
// "directory") in reg, or -1 if it is not there.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == "directory" {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func TestSetsAsideOnlyRefusedEvents(t *testing.T) {
	tests := []struct {
		name string
		// noDetails and misreport shape the refusal (fakeAudit).
		noDetails bool
		misreport int
	}{
		{name: "refusal names the events"},
		{name: "refusal without details", noDetails: true},
		// An audit service that names the wrong events must not get a good
		// event set aside.
		{name: "refusal names good events", misreport: -1},
		{name: "refusal names events beyond the batch", misreport: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, client := newAudit(t)
			a.noDetails, a.misreport = tc.noDetails, tc.misreport
			o := newOutbox(a)
			// Batches of 7: bad events first, in the middle, twice in one
			// batch, last.
			var want, bad []string
			bad = append(bad, o.addBad(1)...)
			want = append(want, o.add(3)...)
			bad = append(bad, o.addBad(1)...)
			want = append(want, o.add(1)...)
			bad = append(bad, o.addBad(1)...)
			want = append(want, o.add(10)...)
			bad = append(bad, o.addBad(1)...)
			opts, reg := withMetrics(t, fast(t))
			run(t, relay.New(o, client, opts))
			waitFor(t, "the good events to be delivered and the bad set aside", func() bool { return o.pending() == 0 })

			// Every good event in the log, in order; no bad one.
			checkDelivered(t, a, o, want)
			gotBad, reasons := o.deadIDs()
			if !slices.Equal(gotBad, bad) {
				t.Errorf("dead letters %v; want exactly the refused events %v", gotBad, bad)
			}
			for i, r := range reasons {
				if !strings.HasPrefix(r, "InvalidArgument: ") || !strings.Contains(r, "resource") {
					t.Errorf("dead letter %d reason %q; want the refusal's code and message (naming the resource)", i, r)
				}
			}
			if n := metric(t, reg, "comity_audit_outbox_dead_lettered_total"); n != float64(len(bad)) {
				t.Errorf("comity_audit_outbox_dead_lettered_total = %v; want %d", n, len(bad))
			}
			waitFor(t, "the dead-letter gauge", func() bool {
				return metric(t, reg, "comity_audit_outbox_dead_letters") == float64(len(bad)) &&
					metric(t, reg, "comity_audit_outbox_backlog") == 0
			})

			// Events written after keep flowing.
			later := o.add(5)
			waitFor(t, "later events", func() bool { return o.pending() == 0 })
			checkDelivered(t, a, o, append(want, later...))

			// Put back, a dead letter is sent again, and set aside again
			// since the audit service still refuses it.
			if back, _ := o.Redeliver(t.Context(), bad[:1]); len(back) != 1 {
				t.Fatalf("Redeliver = %v", back)
			}
			waitFor(t, "the redelivered event to be refused again", func() bool {
				return metric(t, reg, "comity_audit_outbox_dead_lettered_total") == float64(len(bad)+1)
			})
			if gotBad, _ := o.deadIDs(); !slices.Equal(gotBad, bad) {
				t.Errorf("dead letters after a redelivery %v; want %v", gotBad, bad)
			}
		})
	}
}

func TestTransientFailuresSetNothingAside(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Unknown,
		codes.ResourceExhausted, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition, codes.Aborted} {
		t.Run(code.String(), func(t *testing.T) {
			a, client := newAudit(t)
			a.failWith = code
			a.set(failing)
			o := newOutbox(a)
			want := o.add(2)
			bad := o.addBad(1)
			want = append(want, o.add(2)...)
			opts, reg := withMetrics(t, fast(t))
			run(t, relay.New(o, client, opts))
			waitFor(t, "the relay to retry", func() bool { _, failed, _ := a.counts(); return failed >= 5 })
			if ids, _ := o.deadIDs(); len(ids) != 0 {
				t.Fatalf("dead letters %v after %s failures; want none: a retry may succeed", ids, code)
			}
			if n := o.pending(); n != 5 {
				t.Errorf("%d events pending; want all 5", n)
			}
			if n := metric(t, reg, "comity_audit_outbox_dead_lettered_total"); n != 0 {
				t.Errorf("comity_audit_outbox_dead_lettered_total = %v; want 0", n)
			}

			// Once the audit service answers, only the invalid one is set aside.
			a.set(working)
			waitFor(t, "delivery", func() bool { return o.pending() == 0 })
			checkDelivered(t, a, o, want)
			if ids, _ := o.deadIDs(); !slices.Equal(ids, bad) {
				t.Errorf("dead letters %v; want %v", ids, bad)
			}
		})
	}
}

func TestReportsBacklogOlderThanAlarm(t *testing.T) {
	a, client := newAudit(t)
	a.set(failing)
	o := newOutbox(a)
	o.add(4)
	var health healthReports
	opts, reg := withMetrics(t, fast(t))
	opts.BacklogAlarm = 200 * time.Millisecond
	opts.SetDeliveryHealthy = health.set
	run(t, relay.New(o, client, opts))
	waitFor(t, "the delivery to be reported behind", func() bool { ok, n := health.last(); return n > 0 && !ok })
	if n := metric(t, reg, "comity_audit_outbox_backlog"); n != 4 {
		t.Errorf("comity_audit_outbox_backlog = %v; want 4", n)
	}
	if age := metric(t, reg, "comity_audit_outbox_oldest_age_seconds"); age < 0.2 {
		t.Errorf("comity_audit_outbox_oldest_age_seconds = %v; want at least the alarm's 0.2", age)
	}
	a.set(working)
	waitFor(t, "the delivery to be reported healthy again", func() bool { ok, _ := health.last(); return ok })
	waitFor(t, "the gauges to drop", func() bool {
		return metric(t, reg, "comity_audit_outbox_backlog") == 0 && metric(t, reg, "comity_audit_outbox_oldest_age_seconds") == 0
	})
	// First healthy (nothing old yet), then behind, then healthy: each
	// change reported once.
	if reports := health.all(); !slices.Equal(reports, []bool{true, false, true}) {
		t.Errorf("reports %v; want [true false true]", reports)
	}
}

// healthReports keeps what a relay reports of its delivery's health
// (Options.SetDeliveryHealthy).
type healthReports struct {
	mu      sync.Mutex
	reports []bool
}

func (h *healthReports) set(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, ok)
}

// last is the latest report (healthy before any) and how many there were.
func (h *healthReports) last() (bool, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reports) == 0 {
		return true, 0
	}
	return h.reports[len(h.reports)-1], len(h.reports)
}

// all are the reports so far, oldest first.
func (h *healthReports) all() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reports)
}

// Events an older producer wrote unbounded (a 309-character resource, which
// the audit service refuses) are delivered bounded, in order, and none is
// set aside; a redelivered dead letter of that kind is delivered too.
func TestDeliversUnboundedEventsBounded(t *testing.T) {
	a, client := newAudit(t)
	o := newOutbox(a)
	var want []string
	want = append(want, o.add(2)...)
	long := o.addLong(3)
	want = append(want, long...)
	want = append(want, o.add(2)...)
	// One was set aside before the relay bounded events.
	old := o.addLong(1)
	if err := o.DeadLetter(t.Context(), o.seq, "InvalidArgument: resource too long"); err != nil {
		t.Fatal(err)
	}
	opts, reg := withMetrics(t, fast(t))
	run(t, relay.New(o, client, opts))
	waitFor(t, "delivery", func() bool { return o.pending() == 0 })
	checkDelivered(t, a, o, want)
	if ids, _ := o.deadIDs(); !slices.Equal(ids, old) {
		t.Errorf("dead letters %v; want only the one set aside before, %v", ids, old)
	}
	if n := metric(t, reg, "comity_audit_outbox_dead_lettered_total"); n != 0 {
		t.Errorf("comity_audit_outbox_dead_lettered_total = %v; want 0", n)
	}
	bounded := trail.Bounded(trail.Event{Resource: "agencies/" + strings.Repeat("A", maxResource)}).Resource
	logged := a.resources()
	if len(logged) != len(want) {
		t.FailNow()
	}
	for i, r := range logged[2:5] {
		if r != bounded {
			t.Errorf("logged resource of event %s: %q; want it cut and marked: %q", long[i], r, bounded)
		}
	}

	// `redeliver` of the old dead letter now gets it logged.
	if back, _ := o.Redeliver(t.Context(), old); !slices.Equal(back, old) {
		t.Fatalf("Redeliver = %v", back)
	}
	waitFor(t, "the redelivered event", func() bool { return o.pending() == 0 && a.has(old[0]) })
	if ids, _ := o.deadIDs(); len(ids) != 0 {
		t.Errorf("dead letters after the redelivery: %v", ids)
	}
}

// An audit service that refuses every event gets MaxRefusalsInRow events set
// aside, then no more: the relay keeps the rest of the backlog, in order,
// retries with backoff, reports the delivery unhealthy and says why in the
// log; once the audit service accepts events again, the backlog drains in
// order and the delivery is healthy again.
func TestStopsSettingAsideWhenEveryEventIsRefused(t *testing.T) {
	a, client := newAudit(t)
	a.setRefuseAll(true)
	o := newOutbox(a)
	all := o.add(60)
	var health healthReports
	core, logs := observer.New(zap.InfoLevel)
	opts, reg := withMetrics(t, fast(t))
	opts.Logger = zap.New(core)
	opts.MaxRefusalsInRow = 5
	opts.SetDeliveryHealthy = health.set
	run(t, relay.New(o, client, opts))
	waitFor(t, "the delivery to be reported unhealthy", func() bool { ok, n := health.last(); return n > 0 && !ok })
	// Let it retry a while: still no more set aside.
	calls, _, _ := a.counts()
	waitFor(t, "retries", func() bool { c, _, _ := a.counts(); return c >= calls+10 })
	dead, _ := o.deadIDs()
	if !slices.Equal(dead, all[:5]) {
		t.Errorf("dead letters %v; want the first 5 (MaxRefusalsInRow) only, %v", dead, all[:5])
	}
	if n := o.pending(); n != 55 {
		t.Errorf("%d events pending; want the 55 not set aside", n)
	}
	if n := metric(t, reg, "comity_audit_outbox_dead_lettered_total"); n != 5 {
		t.Errorf("comity_audit_outbox_dead_lettered_total = %v; want 5", n)
	}
	if n := logs.FilterMessageSnippet("the audit service refuses every event; check its version/config").FilterLevelExact(zap.ErrorLevel).Len(); n == 0 {
		t.Errorf("no error logged saying the audit service refuses every event; logs: %v", logs.All())
	}

	a.setRefuseAll(false)
	waitFor(t, "the backlog to drain", func() bool { return o.pending() == 0 })
	checkDelivered(t, a, o, all[5:])
	waitFor(t, "the delivery to be reported healthy again", func() bool { ok, _ := health.last(); return ok })
	// A refusal after the recovery is set aside again.
	bad := o.addBad(1)
	want := o.add(1)
	waitFor(t, "the next refusal set aside", func() bool { return o.pending() == 0 })
	checkDelivered(t, a, o, append(all[5:], want...))
	if dead, _ := o.deadIDs(); !slices.Equal(dead, append(all[:5:5], bad...)) {
		t.Errorf("dead letters %v; want the first 5 and the new refused one", dead)
	}
}
