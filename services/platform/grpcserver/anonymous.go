package grpcserver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/comity-mla/comity/services/platform/connlimit"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

// OtherAddresses is the client address of the aggregate event counting the
// calls of every client beyond AuditConfig.MaxAnonymousAddresses in a
// minute.
const OtherAddresses = "other"

// forwardedFor is the metadata key in which the gateway (grpc-gateway)
// forwards its HTTP client's address: the last entry of the list is the
// address the gateway's connection came from, the ones before it are what
// the client claimed.
const forwardedFor = "x-forwarded-for"

// DefaultMaxAnonymousAddresses is the default AuditConfig.MaxAnonymousAddresses:
// at most this many aggregate events, plus one for "other", per service and
// minute, however many addresses call.
const DefaultMaxAnonymousAddresses = 100

// anonymous counts the unauthenticated calls of one server and records them
// as one aggregate event per client and minute.
type anonymous struct {
	service  string
	recorder trail.Recorder
	logger   *zap.Logger
	calls    *prometheus.CounterVec
	maxAddrs int
	// window is the span each aggregate covers: a minute but in tests.
	window time.Duration

	mu sync.Mutex
	// minute is the start of the window being counted. It only moves
	// forward: a call timed in an earlier window (it took the lock late)
	// counts into this one, so that a window's events are written once.
	minute time.Time
	counts map[string]*anonymousCount
	// flushing is held while a minute's events are written, so that Flush
	// returns only once they are.
	flushing sync.Mutex
}

type anonymousCount struct {
	calls uint64
	// method and resource are of the first call, a sample of what was
	// asked.
	method, resource string
}

func newAnonymous(cfg *AuditConfig, logger *zap.Logger, reg prometheus.Registerer) (*anonymous, error) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "comity_unauthenticated_calls_total",
		Help: "Calls with no principal, by method and reason: refused as UNAUTHENTICATED (no token, a malformed or badly signed one, no client certificate), or anonymous reads (reason anonymous_read).",
	}, []string{"method", "reason"})
	if err := reg.Register(calls); err != nil {
		return nil, err
	}
	a := &anonymous{calls: calls, logger: logger, counts: map[string]*anonymousCount{},
		maxAddrs: DefaultMaxAnonymousAddresses, window: time.Minute}
	if cfg != nil {
		a.service, a.recorder = cfg.Service, cfg.Recorder
		if cfg.MaxAnonymousAddresses > 0 {
			a.maxAddrs = cfg.MaxAnonymousAddresses
		}
		if cfg.AnonymousWindow > 0 {
			a.window = cfg.AnonymousWindow
		}
	}
	return a, nil
}

// add counts one unauthenticated call of ctx, made at now. A call of a new
// minute first flushes the minute before; a call of a minute already over
// counts into the current one.
func (a *anonymous) add(ctx context.Context, method, reason string, now time.Time) {
	a.calls.WithLabelValues(method, reason).Inc()
	resource := ""
	if c, ok := trail.CallFrom(ctx); ok {
		resource = c.Resource
	}
	addr := clientAddress(ctx)
	minute := now.UTC().Truncate(a.window)
	a.mu.Lock()
	var done map[string]*anonymousCount
	var doneMinute time.Time
	if minute.After(a.minute) {
		done, doneMinute = a.counts, a.minute
		a.counts, a.minute = map[string]*anonymousCount{}, minute
	}
	c, ok := a.counts[addr]
	if !ok {
		if len(a.counts) >= a.maxAddrs {
			addr = OtherAddresses
			c = a.counts[addr]
		}
		if c == nil {
			c = &anonymousCount{method: method, resource: resource}
			a.counts[addr] = c
		}
	}
	c.calls++
	a.mu.Unlock()
	if len(done) > 0 {
		a.flushing.Lock()
		defer a.flushing.Unlock()
		a.write(doneMinute, done)
	}
}

// flush records the counts of every minute over by now, and makes now's
// minute the current one; at shutdown, with the zero time, it records the
// current minute's too.
func (a *anonymous) flush(now time.Time) {
	a.flushing.Lock()
	defer a.flushing.Unlock()
	a.mu.Lock()
	done, minute := a.counts, a.minute
	switch m := now.UTC().Truncate(a.window); {
	case now.IsZero():
		a.counts = map[string]*anonymousCount{}
	case m.After(a.minute):
		a.counts, a.minute = map[string]*anonymousCount{}, m
	default:
		done = nil
	}
	a.mu.Unlock()
	if len(done) > 0 {
		a.write(minute, done)
	}
}

// write records one aggregate event per address of a minute, and logs it.
func (a *anonymous) write(minute time.Time, counts map[string]*anonymousCount) {
	for addr, c := range counts {
		a.logger.Warn("unauthenticated calls", zap.String("client", addr), zap.Time("minute", minute),
			zap.Uint64("calls", c.calls), zap.String("first_method", c.method))
		if a.recorder == nil {
			continue
		}
		ctx := trail.WithCall(context.Background(), trail.Call{Service: a.service, Action: trail.UnauthenticatedCallsAction, Resource: c.resource})
		ev := trail.NewEvent(ctx, minute, trail.Actor{Address: addr}, "UNAUTHENTICATED", trail.Details{Count: c.calls})
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := a.recorder.RecordEvent(wctx, ev); err != nil {
			a.logger.Error("audit event of unauthenticated calls not recorded", zap.String("client", addr),
				zap.Uint64("calls", c.calls), zap.Error(err))
		}
		cancel()
	}
}

// run flushes each minute soon after it ends (within a twelfth of it),
// until ctx does. The server flushes the minute under way once it has
// stopped.
func (a *anonymous) run(ctx context.Context) {
	t := time.NewTicker(max(a.window/12, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.flush(now)
		}
	}
}

// clientAddress is the client a call came from, by connlimit.ClientKey (an
// IPv6 client by its /64, as the connection bound and the gateway's rate
// limit count it): the HTTP client's address as the gateway forwards it,
// when the peer is the gateway by its mTLS identity (a plaintext peer could
// claim any address), else the peer's own.
func clientAddress(ctx context.Context) string {
	if name, ok := mtls.PeerName(ctx); ok && name == mtls.Gateway {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(forwardedFor); len(v) > 0 {
				list := strings.Split(v[len(v)-1], ",")
				if ip, err := netip.ParseAddr(strings.TrimSpace(list[len(list)-1])); err == nil {
					return connlimit.ClientKey(ip)
				}
			}
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		host, _, err := net.SplitHostPort(p.Addr.String())
		if err != nil {
			host = p.Addr.String()
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			return connlimit.ClientKey(ip)
		}
		return host
	}
	return "unknown"
}

// anonymousReason says why a call has no principal, for the metric: no
// client certificate (on mTLS), no token, a header that is not a bearer
// token, or a token that did not verify.
func anonymousReason(ctx context.Context, onMTLS bool) string {
	if onMTLS {
		if _, ok := mtls.PeerName(ctx); !ok {
			return "no_client_certificate"
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("authorization")
	switch {
	case len(v) == 0 || v[0] == "":
		return "no_token"
	case !strings.HasPrefix(strings.ToLower(v[0]), "bearer "):
		return "malformed_header"
	}
	return "invalid_token"
}
