package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
)

// WatchLimits bound the watch streams of one Service. The zero value of a
// field means its default.
type WatchLimits struct {
	// PerUser bounds the open streams of one user (issuer and subject);
	// default 8.
	PerUser int
	// PerAgency bounds the open streams of the users of one agency;
	// default 64.
	PerAgency int
	// Buffer is how many changes may wait for one stream's client; a
	// stream further behind, still after a short grace, is ended (it would
	// otherwise miss changes or hold the others back). Default 256.
	Buffer int
	// Poll is how often the feed reads the store's history; default 200ms.
	Poll time.Duration
	// AgencyCheck is how often the directory is asked again whether the
	// agencies with open streams are still active and still trust their
	// users' issuers; default 10s.
	AgencyCheck time.Duration
}

// The defaults of WatchLimits.
const (
	DefaultWatchPerUser   = 8
	DefaultWatchPerAgency = 64
	defaultWatchBuffer    = 256
	defaultWatchPoll      = 200 * time.Millisecond
	defaultAgencyCheck    = 10 * time.Second
	// feedBatch is how many history entries the feed reads at a time.
	feedBatch = 500
	// feedFailureBound is how long the feed tries to read the history
	// again before it ends every stream with the error.
	feedFailureBound = 10 * time.Second
	// feedCallTimeout bounds one call of the feed to the store or the
	// directory, so that a stuck dependency cannot stall it for ever.
	feedCallTimeout = 10 * time.Second
)

func (l WatchLimits) withDefaults() (WatchLimits, error) {
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.PerUser, DefaultWatchPerUser)
	set(&l.PerAgency, DefaultWatchPerAgency)
	set(&l.Buffer, defaultWatchBuffer)
	if l.Poll == 0 {
		l.Poll = defaultWatchPoll
	}
	if l.AgencyCheck == 0 {
		l.AgencyCheck = defaultAgencyCheck
	}
	if l.PerUser < 0 || l.PerAgency < 0 || l.Buffer < 0 || l.Poll < 0 || l.AgencyCheck < 0 {
		return l, fmt.Errorf("request: watch limits must not be negative: %+v", l)
	}
	return l, nil
}

// feed follows the store's history for every watch stream of one Service:
// one reader polls the store, so that it sees the changes of every replica,
// and hands each change to the streams whose caller may see it. An idle
// stream costs a map entry and a channel; the store is read at the same
// rate for one stream as for a thousand, and not at all for none.
type feed struct {
	store  Store
	trust  identity.TrustSource
	limits WatchLimits

	mu sync.Mutex
	// running is true while the reader goroutine runs; it stops when the
	// last stream leaves.
	running bool
	// after is the seq of the last history entry handed out.
	after int64
	// subs are the streams the feed hands changes to; one it ends leaves
	// subs at once, but is still counted in perUser and perAgency until
	// its Watch is over (unsubscribe).
	subs      map[*subscription]struct{}
	perUser   map[userKey]int
	perAgency map[string]int
}

type userKey struct{ issuer, subject string }

// subscription is one watch stream as the feed sees it.
type subscription struct {
	p identity.Principal
	// ctx is the stream's: the directory is asked about p's agency with
	// the credentials it carries.
	ctx context.Context
	// start is the seq after which the stream wants changes.
	start int64
	// filter selects the changes the stream wants (RequestSchema's fields,
	// see Matches); nil for all.
	filter query.Expr
	ch     chan HistoryEntry
	// done is closed, with err set, when the feed ends the stream.
	done chan struct{}
	err  error
}

func newFeed(store Store, trust identity.TrustSource, limits WatchLimits) *feed {
	return &feed{
		store: store, trust: trust, limits: limits,
		subs: map[*subscription]struct{}{}, perUser: map[userKey]int{}, perAgency: map[string]int{},
	}
}

// subscribe opens a stream for p from the current end of the history, or
// refuses it (RESOURCE_EXHAUSTED) when p's user or agency has as many
// streams open as the limits allow. The stream holds its place until
// unsubscribe, even once the feed has ended it.
func (f *feed) subscribe(ctx context.Context, p identity.Principal, filter query.Expr) (*subscription, error) {
	for {
		f.mu.Lock()
		if err := f.admit(p); err != nil {
			f.mu.Unlock()
			return nil, err
		}
		if f.running {
			s := f.add(ctx, p, filter)
			f.mu.Unlock()
			return s, nil
		}
		f.mu.Unlock()
		// The first stream fixes where the feed starts; later ones start
		// where it is. The store is read without the feed's lock, which
		// the reader and every other stream need meanwhile.
		after, err := f.store.LastHistorySeq(ctx)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		if f.running {
			// Another stream started the feed meanwhile: join it.
			f.mu.Unlock()
			continue
		}
		if err := f.admit(p); err != nil {
			f.mu.Unlock()
			return nil, err
		}
		f.after, f.running = after, true
		go f.run()
		s := f.add(ctx, p, filter)
		f.mu.Unlock()
		return s, nil
	}
}

// admit refuses a new stream of p when p's user or agency has as many
// streams as the limits allow. f.mu is held.
func (f *feed) admit(p identity.Principal) error {
	if n := f.perUser[userKey{p.Issuer, p.Subject}]; n >= f.limits.PerUser {
		return errs.New(errs.ResourceExhausted,
			"you already have %d open watch streams, the most allowed per user (--watch-streams-per-user); close one and watch again", n)
	}
	if n := f.perAgency[p.Agency]; n >= f.limits.PerAgency {
		return errs.New(errs.ResourceExhausted,
			"agency %s already has %d open watch streams, the most allowed per agency (--watch-streams-per-agency); close one and watch again", p.Agency, n)
	}
	return nil
}

// add opens a stream for p with filter where the feed is, and counts it. f.mu is held.
func (f *feed) add(ctx context.Context, p identity.Principal, filter query.Expr) *subscription {
	s := &subscription{p: p, ctx: ctx, start: f.after, filter: filter, ch: make(chan HistoryEntry, f.limits.Buffer), done: make(chan struct{})}
	f.subs[s] = struct{}{}
	f.perUser[userKey{p.Issuer, p.Subject}]++
	f.perAgency[p.Agency]++
	return s
}

// unsubscribe forgets a stream whose Watch has returned and whose client is
// no longer being sent to, and frees its place. It is called once for each
// subscription.
func (f *feed) unsubscribe(s *subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, s)
	u := userKey{s.p.Issuer, s.p.Subject}
	if f.perUser[u]--; f.perUser[u] <= 0 {
		delete(f.perUser, u)
	}
	if f.perAgency[s.p.Agency]--; f.perAgency[s.p.Agency] <= 0 {
		delete(f.perAgency, s.p.Agency)
	}
}

// end ends a stream with err, which its Watch returns: the feed hands it no
// more changes. Its place is freed by unsubscribe, once its Watch is over.
// f.mu is held.
func (f *feed) end(s *subscription, err error) {
	if _, ok := f.subs[s]; !ok {
		return
	}
	delete(f.subs, s)
	s.err = err
	close(s.done)
}

// run is the reader: it polls the history until no stream is left.
func (f *feed) run() {
	tick := time.NewTicker(f.limits.Poll)
	defer tick.Stop()
	var lastCheck, failingSince time.Time
	for {
		f.mu.Lock()
		if len(f.subs) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		after := f.after
		var agencies map[string]*subscription
		if time.Since(lastCheck) >= f.limits.AgencyCheck {
			// One stream of each agency, whose credentials ask for all.
			agencies = map[string]*subscription{}
			for s := range f.subs {
				agencies[s.p.Agency] = s
			}
			lastCheck = time.Now()
		}
		f.mu.Unlock()

		f.checkAgencies(agencies)
		n, err := f.deliver(after)
		switch {
		case err == nil:
			failingSince = time.Time{}
		case failingSince.IsZero():
			// A blip of the database is waited out: the streams are
			// behind, not wrong.
			failingSince = time.Now()
		case time.Since(failingSince) >= feedFailureBound:
			f.endAll(errs.Wrap(err, errs.Unavailable, "the request history cannot be read now, so this watch has ended; watch again"))
			failingSince = time.Time{}
		}
		if n == feedBatch {
			continue
		}
		<-tick.C
	}
}

// deliver reads the history entries after seq after and hands each to the
// streams whose caller may see it and whose filter it matches, with the
// reason they may read. It returns how many entries it read.
//
// Both are decided on the request as it was right after the change (the
// entry's snapshot), not as it is when the feed reads the entry: a request
// created, submitted and transmitted within one poll used to be read
// transmitted for all three entries, so that the requested side was sent the
// draft and the submission, which were never its to see. The requested
// side's changes start with the transmission; the history (History) gives
// it what came before, without the requesting side's reasons.
func (f *feed) deliver(after int64) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), feedCallTimeout)
	defer cancel()
	entries, err := f.store.HistoryAfter(ctx, after, feedBatch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	snaps := make([]Request, len(entries))
	current := map[string]*Request{}
	for i, e := range entries {
		if e.Snapshot != nil {
			snaps[i] = *e.Snapshot
			continue
		}
		// An entry written before the store kept snapshots (an older
		// replica during an upgrade): the parties and status are the
		// entry's own, the other fields the request's now.
		r, ok := current[e.RequestID]
		if !ok {
			got, err := f.store.Get(ctx, e.RequestID)
			switch {
			case errors.Is(err, errs.ErrNotFound):
			case err != nil:
				return 0, err
			default:
				r = &got
			}
			current[e.RequestID] = r
		}
		if r != nil {
			snaps[i] = legacySnapshot(*r, e)
		}
		// A request that is gone is no one's to see: the zero Request
		// gives everyone noAccess.
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// A burst of changes may fill the buffer of a client that keeps up:
	// it gets a moment to take them. That moment is shared by every stream
	// of the round, so that slow clients, which are ended, hold the others
	// back by at most slowGrace.
	deadline := time.Now().Add(slowGrace)
	for i, e := range entries {
		r := &snaps[i]
		// What the stream is sent of the request: its metadata, and its
		// clarifications for those who may read its content. Shared by
		// the streams, which only read it.
		var meta, full *Request
		if e.Snapshot != nil {
			m := redact(*r)
			meta, full = &m, r
		}
		for s := range f.subs {
			if e.Seq <= s.start {
				continue
			}
			acc := accessOf(s.p, *r)
			if acc == noAccess {
				continue
			}
			if ok, err := Matches(s.filter, *r, e.Time); err != nil || !ok {
				// The filter was parsed against RequestSchema when the
				// stream opened; an error here matches nothing.
				continue
			}
			out := e
			out.Reason = reasonFor(s.p, *r, e)
			out.Snapshot = meta
			if acc == fullAccess {
				out.Snapshot = full
			}
			if !offer(s.ch, out, deadline) {
				f.end(s, errs.New(errs.Unavailable,
					"this watch fell more than %d changes behind and was ended so that no change is silently lost; watch again and list the requests to catch up",
					f.limits.Buffer))
			}
		}
		f.after = e.Seq
	}
	return len(entries), nil
}

// legacySnapshot is the best account of a request right after history entry
// e when the entry has no snapshot: r (the request now) with the entry's
// parties and status, transmitted only when e came at or after the
// transmission.
func legacySnapshot(r Request, e HistoryEntry) Request {
	r.RequestingAgency, r.RequestingState, r.Owner = e.RequestingAgency, e.RequestingState, e.Owner
	r.RequestedAgency, r.RequestedState, r.Status = e.RequestedAgency, e.RequestedState, e.To
	if beforeTransmission(e) {
		r.TransmitTime = time.Time{}
	}
	return r
}

// slowGrace is how long, at most, one round of the feed waits for clients
// whose buffers are full.
const slowGrace = time.Second

// offer puts e in ch, waiting for room until deadline at most, and reports
// whether it did.
func offer(ch chan<- HistoryEntry, e HistoryEntry, deadline time.Time) bool {
	select {
	case ch <- e:
		return true
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch <- e:
		return true
	case <-t.C:
		return false
	}
}

// endAll ends every stream with err.
func (f *feed) endAll(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		f.end(s, err)
	}
}

// checkAgencies asks the directory about each agency that has streams, once
// for all of them, with the credentials of one of its streams (by), and
// ends the streams of users whose calls it would now refuse: the agency is
// deactivated or gone, its state no longer trusts the user's issuer, or its
// kind has changed to one where a role of the user does not count
// (identity.RoleAllowedAt). A directory that refuses by's credentials ends
// by's stream with its reason. When the directory cannot be asked, or
// answers without the agency's state or kind, the streams go on and the
// next check asks again: new calls are refused meanwhile anyway.
func (f *feed) checkAgencies(agencies map[string]*subscription) {
	for a, by := range agencies {
		ctx, cancel := context.WithTimeout(by.ctx, feedCallTimeout)
		trust, err := f.trust.AgencyTrust(ctx, a)
		cancel()
		var gone error
		switch {
		case errors.Is(err, errs.ErrNotFound):
			gone = errs.New(errs.Unauthenticated, "agency %s is no longer in the directory, so this watch has ended", a)
		case errors.Is(err, errs.ErrUnauthenticated):
			f.mu.Lock()
			f.end(by, errs.Wrap(err, errs.Unauthenticated, "the directory no longer accepts your token (%v), so this watch has ended; sign in again", err))
			f.mu.Unlock()
			continue
		case err != nil, trust.State == "", trust.Kind == "":
			continue
		case !trust.Active:
			gone = errs.New(errs.Unauthenticated, "agency %s was deactivated, so this watch has ended", a)
		}
		f.mu.Lock()
		for s := range f.subs {
			switch {
			case s.p.Agency != a:
			case gone != nil:
				f.end(s, gone)
			case !slices.Contains(trust.TrustedIssuers, s.p.Issuer):
				f.end(s, errs.New(errs.Unauthenticated,
					"state %s no longer trusts the issuer of your token, so this watch has ended", trust.State))
			default:
				if r, ok := roleNotAllowed(s.p.Roles, trust.Kind); ok {
					f.end(s, errs.New(errs.Unauthenticated,
						"agency %s is now of kind %s, where role %q does not count (it counts at: %s), so this watch has ended; sign in again with a role that counts there",
						a, trust.Kind, r, strings.Join(kindsOf(r), ", ")))
				}
			}
		}
		f.mu.Unlock()
	}
}

// roleNotAllowed returns the first of roles that does not count at an agency
// of kind.
func roleNotAllowed(roles []identity.Role, kind string) (identity.Role, bool) {
	for _, r := range roles {
		if !identity.RoleAllowedAt(r, kind) {
			return r, true
		}
	}
	return "", false
}

// kindsOf names the agency kinds where r counts, or says there are none.
func kindsOf(r identity.Role) []string {
	if k := identity.RoleKinds(r); len(k) > 0 {
		return k
	}
	return []string{"no kind of agency"}
}
