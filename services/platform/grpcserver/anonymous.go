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

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/platform/mtls"
)

// UnauthenticatedCallsAction is the action of the aggregate events that
// stand for a minute of unauthenticated calls from one client address: the
// event's Count says how many, its Actor.Address from where, its Resource
// names one of the resources asked for (the first), and its Time is the
// start of the minute.
const UnauthenticatedCallsAction = "/comity.audit.v1/UnauthenticatedCalls"

// OtherAddresses is the client address of the aggregate event counting the
// calls of every address beyond AuditConfig.MaxAnonymousAddresses in a
// minute.
const OtherAddresses = "other"

// forwardedFor is the metadata key in which the gateway (grpc-gateway)
// forwards its HTTP client's address: the last entry of the list is the
// address the gateway's connection came from, the ones before it are what
// the client claimed.
const forwardedFor = "x-forwarded-for"

// anonymous counts the unauthenticated calls of one server and records them
// as one aggregate event per client address and minute.
type anonymous struct {
	service  string
	recorder audit.Recorder
	logger   *zap.Logger
	calls    *prometheus.CounterVec
	maxAddrs int

	mu     sync.Mutex
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
		Help: "Calls refused as UNAUTHENTICATED with no principal (no token, a malformed or badly signed one, no client certificate), by method and reason.",
	}, []string{"method", "reason"})
	if err := reg.Register(calls); err != nil {
		return nil, err
	}
	a := &anonymous{calls: calls, logger: logger, counts: map[string]*anonymousCount{}, maxAddrs: 1000}
	if cfg != nil {
		a.service, a.recorder = cfg.Service, cfg.Recorder
		if cfg.MaxAnonymousAddresses > 0 {
			a.maxAddrs = cfg.MaxAnonymousAddresses
		}
	}
	return a, nil
}

// add counts one unauthenticated call of ctx, made at now. A call of a new
// minute first flushes the minute before.
func (a *anonymous) add(ctx context.Context, method, reason string, now time.Time) {
	a.calls.WithLabelValues(method, reason).Inc()
	resource := ""
	if c, ok := audit.CallFrom(ctx); ok {
		resource = c.Resource
	}
	addr := clientAddress(ctx)
	minute := now.UTC().Truncate(time.Minute)
	a.mu.Lock()
	var done map[string]*anonymousCount
	var doneMinute time.Time
	if !minute.Equal(a.minute) {
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

// flush records the counts of every minute over by now; at shutdown, with
// the zero time, of the current one too.
func (a *anonymous) flush(now time.Time) {
	a.flushing.Lock()
	defer a.flushing.Unlock()
	a.mu.Lock()
	if len(a.counts) == 0 || !now.IsZero() && now.UTC().Truncate(time.Minute).Equal(a.minute) {
		a.mu.Unlock()
		return
	}
	done, minute := a.counts, a.minute
	a.counts = map[string]*anonymousCount{}
	a.mu.Unlock()
	a.write(minute, done)
}

// write records one aggregate event per address of a minute, and logs it.
func (a *anonymous) write(minute time.Time, counts map[string]*anonymousCount) {
	for addr, c := range counts {
		a.logger.Warn("unauthenticated calls", zap.String("client", addr), zap.Time("minute", minute),
			zap.Uint64("calls", c.calls), zap.String("first_method", c.method))
		if a.recorder == nil {
			continue
		}
		ctx := audit.WithCall(context.Background(), audit.Call{Service: a.service, Action: UnauthenticatedCallsAction, Resource: c.resource})
		ev := audit.NewEvent(ctx, minute, audit.Actor{Address: addr}, "UNAUTHENTICATED", audit.Details{Count: c.calls})
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := a.recorder.RecordEvent(wctx, ev); err != nil {
			a.logger.Error("audit event of unauthenticated calls not recorded", zap.String("client", addr),
				zap.Uint64("calls", c.calls), zap.Error(err))
		}
		cancel()
	}
}

// run flushes each minute soon after it ends, until ctx does. The server
// flushes the minute under way once it has stopped.
func (a *anonymous) run(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
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

// clientAddress is the address a call came from: the HTTP client's as the
// gateway forwards it, when the peer is the gateway by its mTLS identity (a
// plaintext peer could claim any address), else the peer's own.
func clientAddress(ctx context.Context) string {
	if name, ok := mtls.PeerName(ctx); ok && name == mtls.Gateway {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(forwardedFor); len(v) > 0 {
				list := strings.Split(v[len(v)-1], ",")
				if ip, err := netip.ParseAddr(strings.TrimSpace(list[len(list)-1])); err == nil {
					return ip.String()
				}
			}
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		host, _, err := net.SplitHostPort(p.Addr.String())
		if err != nil {
			host = p.Addr.String()
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
