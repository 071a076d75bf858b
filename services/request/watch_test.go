package request_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/query/aip"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
)

const testIssuer = "https://idp.example/"

// countingStore is a real store that counts the reads a watch makes.
type countingStore struct {
	request.Store
	reads atomic.Int64
	// feedGets counts the Gets of a context without serviceCall: the
	// feed's, which are not the reads of a Service method.
	feedGets atomic.Int64
}

// serviceCall marks the context of a test's calls of Service methods.
type serviceCall struct{}

func (c *countingStore) HistoryAfter(ctx context.Context, after int64, limit int) ([]request.HistoryEntry, error) {
	c.reads.Add(1)
	return c.Store.HistoryAfter(ctx, after, limit)
}

func (c *countingStore) Get(ctx context.Context, id string) (request.Request, error) {
	c.reads.Add(1)
	if ctx.Value(serviceCall{}) == nil {
		c.feedGets.Add(1)
	}
	return c.Store.Get(ctx, id)
}

func (c *countingStore) LastHistorySeq(ctx context.Context) (int64, error) {
	c.reads.Add(1)
	return c.Store.LastHistorySeq(ctx)
}

// agencies is a fixed directory of two states' agencies, every one active,
// of kind CENTRAL_AUTHORITY and trusting testIssuer unless deactivated or
// given another kind (kinds: agency id to kind).
type agencies struct {
	inactive atomic.Value
	kinds    sync.Map
	// instruments holds the instrument entries of a state code
	// ([]directory.StateInstrument); a state without any has every status
	// unknown. profiles are the instrument profiles (none unless a test
	// sets them).
	instruments sync.Map
	profiles    atomic.Pointer[[]directory.Instrument]
	// retention holds a state code's retention (time.Duration), for the
	// states a test sets one for.
	retention sync.Map
}

func (a *agencies) Agency(_ context.Context, id string) (directory.Agency, error) {
	st := strings.ToUpper(id[:2])
	return directory.Agency{ID: id, State: st, Active: a.inactive.Load() != id, Receives: cooperation.RequestTypes, AcceptedLanguages: []string{"ru"}}, nil
}

func (a *agencies) ResolveRouteUnder(ctx context.Context, st string, _ cooperation.RequestType, _ cooperation.Priority, _ string) (directory.Agency, error) {
	return a.Agency(ctx, strings.ToLower(st)+"-247")
}

// state is the state code with the instrument entries set for it.
func (a *agencies) state(code string) directory.State {
	st := directory.State{Code: strings.ToUpper(code)}
	if v, ok := a.instruments.Load(st.Code); ok {
		st.Instruments = v.([]directory.StateInstrument)
	}
	return st
}

func (a *agencies) Instruments(_ context.Context, from, to string) (directory.Treaties, error) {
	var profiles []directory.Instrument
	if p := a.profiles.Load(); p != nil {
		profiles = *p
	}
	return directory.Treaties{Profiles: profiles, Requesting: a.state(from), Requested: a.state(to)}, nil
}

// retentions is the directory's anonymous list of the states' retentions
// for the given states (Config.Retentions): each one's set by a test, or
// zero.
func (a *agencies) retentions(states ...string) func(context.Context) (map[string]time.Duration, error) {
	return func(context.Context) (map[string]time.Duration, error) {
		out := map[string]time.Duration{}
		for _, st := range states {
			if d, ok := a.retention.Load(st); ok {
				out[st] = d.(time.Duration)
			} else {
				out[st] = 0
			}
		}
		return out, nil
	}
}

// Retention answers as a directory that records no state's retention:
// the deployment's default applies (unless a test sets retention).
func (a *agencies) Retention(_ context.Context, st string) (time.Duration, bool, error) {
	if d, ok := a.retention.Load(st); ok {
		return d.(time.Duration), true, nil
	}
	return 0, false, nil
}

func (a *agencies) PreservationDualCriminalityReservation(_ context.Context, st string) (bool, error) {
	return a.state(st).ReservesPreservationDualCriminality(), nil
}

func (a *agencies) AgencyTrust(ctx context.Context, id string) (identity.AgencyTrust, error) {
	ag, _ := a.Agency(ctx, id)
	kind := "CENTRAL_AUTHORITY"
	if k, ok := a.kinds.Load(id); ok {
		kind = k.(string)
	}
	return identity.AgencyTrust{State: ag.State, Kind: kind, Active: ag.Active, TrustedIssuers: []string{testIssuer}}, nil
}

func newService(tb testing.TB, limits request.WatchLimits) (*request.Service, *countingStore, *agencies) {
	return newServiceOn(tb, "sqlite", limits)
}

// newServiceOn is newService on the store of engine, sqlite or postgres.
func newServiceOn(tb testing.TB, engine string, limits request.WatchLimits) (*request.Service, *countingStore, *agencies) {
	tb.Helper()
	var st request.Store
	if engine == "postgres" {
		pool, err := pgdb.Open(context.Background(), pgtest.NewDatabase(tb))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(pool.Close)
		if st, err = store.New(context.Background(), sqldb.FromPostgres(pool)); err != nil {
			tb.Fatal(err)
		}
	} else {
		db, err := sqlitedb.Open(context.Background(), filepath.Join(tb.TempDir(), "requests.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		if st, err = store.New(context.Background(), sqldb.FromSQLite(db)); err != nil {
			tb.Fatal(err)
		}
	}
	blobs, err := fsblob.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	store, dir := &countingStore{Store: st}, &agencies{}
	svc, err := request.NewService(request.Config{Store: store, Blobs: blobs, Directory: dir, Trust: dir, Watch: limits})
	if err != nil {
		tb.Fatal(err)
	}
	return svc, store, dir
}

func user(subject, agency string, role identity.Role) identity.Principal {
	return identity.Principal{Subject: subject, Agency: agency, State: strings.ToUpper(agency[:2]),
		Roles: []identity.Role{role}, Issuer: testIssuer}
}

var kzProsecutor = user("p-kz", "kz-gpo", identity.Prosecutor)

func draftToUZ() request.Request {
	return request.Request{Type: cooperation.DataPreservation, Priority: cooperation.Routine, RequestedState: "UZ"}
}

// watcher runs a Watch and reports how it ended on done.
type watcher struct {
	got chan request.HistoryEntry
	// sending receives when a send starts.
	sending chan struct{}
	done    chan error
}

// watch starts a Watch for p whose client takes changes as fast as block
// lets it, and waits until it has started.
func watch(tb testing.TB, ctx context.Context, svc *request.Service, p identity.Principal, block <-chan struct{}) watcher {
	return watchFiltered(tb, ctx, svc, p, nil, block)
}

// watchFiltered is watch with a filter.
func watchFiltered(tb testing.TB, ctx context.Context, svc *request.Service, p identity.Principal, filter query.Expr, block <-chan struct{}) watcher {
	tb.Helper()
	w := watcher{got: make(chan request.HistoryEntry, 1000), sending: make(chan struct{}, 1000), done: make(chan error, 1)}
	started := make(chan struct{})
	go func() {
		w.done <- svc.Watch(ctx, p, filter, func() error { close(started); return nil }, func(e request.HistoryEntry) error {
			w.sending <- struct{}{}
			if block != nil {
				<-block
			}
			w.got <- e
			return nil
		})
	}()
	select {
	case <-started:
	case err := <-w.done:
		tb.Fatalf("watch of %s did not start: %v", p.Subject, err)
	}
	return w
}

// waitSending waits until w has started a send.
func waitSending(tb testing.TB, w watcher) {
	tb.Helper()
	select {
	case <-w.sending:
	case <-time.After(10 * time.Second):
		tb.Fatal("the watch sent nothing in 10s")
	}
}

func create(tb testing.TB, svc *request.Service) {
	tb.Helper()
	if _, err := svc.Create(context.Background(), kzProsecutor, draftToUZ(), ""); err != nil {
		tb.Fatal(err)
	}
}

// TestWatchEnds checks each way a watch ends with an error a user can act
// on.
func TestWatchEnds(t *testing.T) {
	tests := []struct {
		name string
		// run opens the watch and does what ends it; it returns the watch.
		run     func(t *testing.T, ctx context.Context, svc *request.Service, dir *agencies) watcher
		code    *errs.Error
		message string
	}{
		{name: "token expired", code: errs.ErrUnauthenticated, message: "your token has expired and is no longer accepted since",
			run: func(t *testing.T, ctx context.Context, svc *request.Service, _ *agencies) watcher {
				p := kzProsecutor
				p.Expiry = time.Now().Add(300 * time.Millisecond)
				return watch(t, ctx, svc, p, nil)
			}},
		{name: "agency deactivated", code: errs.ErrUnauthenticated, message: "agency kz-gpo was deactivated",
			run: func(t *testing.T, ctx context.Context, svc *request.Service, dir *agencies) watcher {
				w := watch(t, ctx, svc, kzProsecutor, nil)
				dir.inactive.Store("kz-gpo")
				return w
			}},
		{name: "agency's kind changed", code: errs.ErrUnauthenticated,
			message: `agency kz-gpo is now of kind LAW_ENFORCEMENT, where role "prosecutor" does not count`,
			run: func(t *testing.T, ctx context.Context, svc *request.Service, dir *agencies) watcher {
				w := watch(t, ctx, svc, kzProsecutor, nil)
				dir.kinds.Store("kz-gpo", "LAW_ENFORCEMENT")
				return w
			}},
		// A client that stops reading blocks send; the ends below must
		// not wait for it.
		{name: "token expired, client not reading", code: errs.ErrUnauthenticated, message: "no longer accepted",
			run: func(t *testing.T, ctx context.Context, svc *request.Service, _ *agencies) watcher {
				p := kzProsecutor
				p.Expiry = time.Now().Add(time.Second)
				w := watch(t, ctx, svc, p, ctx.Done())
				create(t, svc)
				waitSending(t, w)
				return w
			}},
		{name: "agency deactivated, client not reading", code: errs.ErrUnauthenticated, message: "agency kz-gpo was deactivated",
			run: func(t *testing.T, ctx context.Context, svc *request.Service, dir *agencies) watcher {
				w := watch(t, ctx, svc, kzProsecutor, ctx.Done())
				create(t, svc)
				// The send of the change is under way before the end.
				waitSending(t, w)
				dir.inactive.Store("kz-gpo")
				return w
			}},
		{name: "client too slow", code: errs.ErrUnavailable, message: "fell more than 2 changes behind",
			run: func(t *testing.T, ctx context.Context, svc *request.Service, _ *agencies) watcher {
				block := make(chan struct{})
				slow := watch(t, ctx, svc, kzProsecutor, block)
				fast := watch(t, ctx, svc, user("ca-kz", "kz-gpo", identity.CentralAuthority), nil)
				for range 6 {
					create(t, svc)
				}
				// The slow client holds no one back: the other gets all.
				for i := range 6 {
					select {
					case <-fast.got:
					case <-time.After(10 * time.Second):
						t.Fatalf("the other watch got %d of 6 changes", i)
					}
				}
				// Let the slow client go on: it gets what was queued for it,
				// then the error.
				close(block)
				return slow
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, dir := newService(t, request.WatchLimits{Buffer: 2, Poll: 10 * time.Millisecond, AgencyCheck: 50 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := tc.run(t, ctx, svc, dir)
			select {
			case err := <-w.done:
				if !errors.Is(err, tc.code) || !strings.Contains(err.Error(), tc.message) {
					t.Errorf("watch ended with %v; want %v saying %q", err, tc.code.Code, tc.message)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the watch did not end in 10s")
			}
		})
	}
}

// BenchmarkWatchFanOut measures what a status change costs with idle
// watches open beside the one that sees it: the store reads per change and
// per second. The idle watches (another state's prosecutors) see nothing;
// they must cost no reads of their own, where one poll loop per watch used
// to read the store five times a second each.
func BenchmarkWatchFanOut(b *testing.B) {
	for _, idle := range []int{1, 1000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			svc, store, _ := newService(b, request.WatchLimits{PerAgency: idle + 1, Poll: 10 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := range idle {
				watch(b, ctx, svc, user(fmt.Sprintf("p-tj-%d", i), "tj-gpo", identity.Prosecutor), nil)
			}
			active := watch(b, ctx, svc, kzProsecutor, nil)
			store.reads.Store(0)
			start := time.Now()
			b.ResetTimer()
			for range b.N {
				create(b, svc)
				<-active.got
			}
			b.StopTimer()
			reads := float64(store.reads.Load())
			b.ReportMetric(reads/float64(b.N), "store-reads/op")
			b.ReportMetric(reads/time.Since(start).Seconds(), "store-reads/s")
		})
	}
}

// TestWatchStuckSendKeepsPlace: a stream whose client stopped reading (its
// send is blocked) still counts against its user's bound after its Watch
// has returned, until the send returns; then its place is free. Freeing it
// earlier let a client pile up stuck streams beyond the bound.
func TestWatchStuckSendKeepsPlace(t *testing.T) {
	svc, _, _ := newService(t, request.WatchLimits{PerUser: 1, Buffer: 1, Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	unblock := make(chan struct{})
	stuck := watch(t, ctx, svc, kzProsecutor, unblock)
	// One change blocks the send; more fill the buffer, and the feed ends
	// the stream as too slow.
	for range 4 {
		create(t, svc)
	}
	waitSending(t, stuck)
	select {
	case err := <-stuck.done:
		if !errors.Is(err, errs.ErrUnavailable) || !strings.Contains(err.Error(), "fell more than 1 changes behind") {
			t.Fatalf("the stuck watch ended with %v; want UNAVAILABLE saying it fell behind", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck watch did not end in 10s")
	}
	noop := func() error { return nil }
	send := func(request.HistoryEntry) error { return nil }
	err := svc.Watch(ctx, kzProsecutor, nil, noop, send)
	if !errors.Is(err, errs.ErrResourceExhausted) || !strings.Contains(err.Error(), "--watch-streams-per-user") {
		t.Fatalf("a second watch while the first one's send is stuck = %v; want RESOURCE_EXHAUSTED naming the bound", err)
	}
	close(unblock)
	deadline := time.Now().Add(10 * time.Second)
	for {
		wctx, wcancel := context.WithCancel(ctx)
		err := svc.Watch(wctx, kzProsecutor, nil, func() error { wcancel(); return nil }, send)
		wcancel()
		if err == nil {
			break
		}
		if !errors.Is(err, errs.ErrResourceExhausted) || time.Now().After(deadline) {
			t.Fatalf("a watch once the stuck send returned = %v; want it accepted", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchDecidesOnTheRequestAsItWas: whether a watcher may see a change is
// decided on the request as it was right after that change. A request
// created, submitted and transmitted before the feed reads any of it used
// to be read as transmitted for all three, and the requested state's liaison
// officer was sent the draft and the submission; the requested side's
// changes start with the transmission, however the feed's reads fall. The
// requesting side still gets every change. The feed decides on the entries'
// snapshots alone: it reads no request per entry.
func TestWatchDecidesOnTheRequestAsItWas(t *testing.T) {
	for _, tc := range []struct {
		engine string
		poll   time.Duration
	}{{"sqlite", 10 * time.Millisecond}, {"sqlite", 500 * time.Millisecond}, {"postgres", 500 * time.Millisecond}} {
		t.Run(fmt.Sprintf("%s/poll=%v", tc.engine, tc.poll), func(t *testing.T) {
			svc, store, _ := newServiceOn(t, tc.engine, request.WatchLimits{Poll: tc.poll})
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), serviceCall{}, true))
			defer cancel()
			ca := user("ca-kz", "kz-gpo", identity.CentralAuthority)
			requested := watch(t, ctx, svc, user("l-uz", "uz-gpo", identity.LiaisonOfficer), nil)
			requesting := watch(t, ctx, svc, ca, nil)
			v := acknowledged(t, ctx, svc, ca)
			for _, want := range []request.Status{request.Draft, request.Submitted, request.Transmitted, request.Acknowledged} {
				e := next(t, requesting, "the requesting side")
				if e.To != want || e.Snapshot == nil || e.Snapshot.Status != want {
					t.Fatalf("the requesting side got a change to %s (snapshot %+v); want %s", e.To, e.Snapshot, want)
				}
			}
			for _, want := range []request.Status{request.Transmitted, request.Acknowledged} {
				if e := next(t, requested, "the requested side"); e.To != want || e.RequestID != v.ID {
					t.Fatalf("the requested side got a change of %s to %s; want %s to %s (nothing from before the transmission)", e.RequestID, e.To, v.ID, want)
				}
			}
			if n := store.feedGets.Load(); n != 0 {
				t.Errorf("the feed read a request %d times for 4 entries with snapshots; want 0", n)
			}
		})
	}
}

// TestWatchFilter: a watch's filter is applied to the request as it was
// right after each change, so that `status = TRANSMITTED` gives the
// transmission of a request already acknowledged when the feed reads it.
func TestWatchFilter(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) { testWatchFilter(t, engine) })
	}
}

func testWatchFilter(t *testing.T, engine string) {
	svc, _, _ := newServiceOn(t, engine, request.WatchLimits{Poll: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := user("ca-kz", "kz-gpo", identity.CentralAuthority)
	filter, err := aip.ParseFilter(`status = TRANSMITTED OR status = ACKNOWLEDGED AND requestedState = "UZ"`, request.RequestSchema)
	if err != nil {
		t.Fatal(err)
	}
	w := watchFiltered(t, ctx, svc, ca, filter, nil)
	v := acknowledged(t, ctx, svc, ca)
	if _, err := svc.RequestClarification(ctx, user("ca-uz", "uz-247", identity.CentralAuthority), v.ID, "", "Which port?"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []request.Status{request.Transmitted, request.Acknowledged} {
		if e := next(t, w, "the filtered watch"); e.To != want {
			t.Fatalf("the filtered watch got a change to %s; want %s", e.To, want)
		}
	}
	select {
	case e := <-w.got:
		t.Fatalf("the filtered watch got a change to %s, which its filter excludes", e.To)
	case <-time.After(time.Second):
	}
}

// next returns w's next change, failing when none comes in 10s.
// acknowledged creates a request from completeDraft as kzProsecutor, who
// submits it; ca transmits it and the requested agency's central authority
// acknowledges it: four changes, Draft to Acknowledged.
func acknowledged(t *testing.T, ctx context.Context, svc *request.Service, ca identity.Principal) request.View {
	t.Helper()
	v, err := svc.Create(ctx, kzProsecutor, completeDraft(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, kzProsecutor, v.ID, "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Transmit(ctx, ca, v.ID, "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Acknowledge(ctx, user("ca-uz", "uz-247", identity.CentralAuthority), v.ID, ""); err != nil {
		t.Fatal(err)
	}
	return v
}

func next(t *testing.T, w watcher, who string) request.HistoryEntry {
	t.Helper()
	select {
	case e := <-w.got:
		return e
	case err := <-w.done:
		t.Fatalf("the watch of %s ended: %v", who, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("the watch of %s got nothing in 10s", who)
	}
	return request.HistoryEntry{}
}
