// Package connlimit bounds the connections a process accepts, in total and
// per client address, below its file-descriptor limit. Every listener of a
// Comity binary (HTTP, gRPC, metrics) is wrapped by one Guard per process,
// so that no caller, however many connections it opens, can take the
// descriptors the process needs for its own files.
//
// Why this matters beyond fairness: Tessera's POSIX driver (v1.0.4) panics,
// in a goroutine of its own where nothing can recover it, when it cannot open
// its lock file; SQLite and the blob store fail their calls. A process that
// accepts connections until accept4 says "too many open files" therefore
// dies. The Guard makes that unreachable: connections may hold at most
// MaxConns descriptors, and MaxConns is at most the descriptor limit minus a
// reserve kept for everything else.
package connlimit

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Config configures a Guard.
type Config struct {
	// MaxConns bounds the connections open at once over every listener of
	// the Guard. Zero means DefaultMaxConns of the descriptor limit.
	MaxConns int
	// MaxConnsPerClient bounds the connections one client address (an
	// IPv6 client by its /64) may hold open at once on one listener. Zero
	// means no per-client bound. Behind a proxy every client has the
	// proxy's address: raise it there.
	MaxConnsPerClient int
	// FileLimit is the process's descriptor limit (the soft RLIMIT_NOFILE);
	// zero means the current one. MaxConns must leave Reserve(FileLimit)
	// descriptors free.
	FileLimit uint64
	// InternalReserve is how many of MaxConns only internal listeners
	// (Listen, Wrap) may take: public ones (ListenPublic, WrapPublic) are
	// refused once MaxConns − InternalReserve connections are open, so that
	// a flood on a public listener cannot take the places of the
	// process's own connections (in comity-local, the services' gRPC
	// connections to each other and /metrics). Zero means none; it must be
	// below MaxConns.
	InternalReserve int
	// Logger receives a line when connections are refused, at most one per
	// listener every LogEvery (default 10 s), with the count since.
	Logger   *zap.Logger
	LogEvery time.Duration
	// Metrics, when set, receives comity_connections_open and
	// comity_connections_refused_total.
	Metrics prometheus.Registerer
}

// Reserve returns how many of limit descriptors no connection may take: a
// quarter, and at least 1,024 (or half of a limit below 2,048). They are the
// databases' files, the audit log's files and lock, the blob store's files
// and the gRPC connections between the services.
func Reserve(limit uint64) uint64 {
	return max(limit/4, min(1024, limit/2))
}

// DefaultMaxConns returns the connection bound for a descriptor limit: half
// of what the reserve leaves. A connection holds one descriptor however
// many HTTP/2 streams it carries; the other half (Guard.Spare) is for the
// files those streams may open, the attachments uploaded and downloaded,
// which the request service bounds on their own (--max-transfers) because
// one connection can carry many of them at once.
func DefaultMaxConns(limit uint64) int {
	return int((limit - Reserve(limit)) / 2)
}

// Guard counts the connections of every listener it wraps.
type Guard struct {
	max       int64
	public    int64
	spare     int
	perClient int
	logger    *zap.Logger
	logEvery  time.Duration
	open      atomic.Int64

	refusedTotal, refusedClient atomic.Int64

	openGauge *prometheus.GaugeVec
	refused   *prometheus.CounterVec
}

// New returns a Guard, or an error naming the bound that would leave too few
// descriptors free.
func New(cfg Config) (*Guard, error) {
	if cfg.MaxConns < 0 || cfg.MaxConnsPerClient < 0 || cfg.InternalReserve < 0 {
		return nil, errors.New("connlimit: --max-conns, --max-conns-per-client and the internal reserve must not be negative")
	}
	limit := cfg.FileLimit
	if limit == 0 {
		var err error
		if limit, _, err = FileLimit(); err != nil {
			return nil, err
		}
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns(limit)
		if cfg.MaxConns < 1 {
			return nil, fmt.Errorf("connlimit: the descriptor limit of %d leaves no room for connections; raise it (ulimit -n)", limit)
		}
	}
	if free := limit - min(limit, Reserve(limit)); uint64(cfg.MaxConns) > free {
		return nil, fmt.Errorf("connlimit: --max-conns %d would leave fewer than %d of the process's %d file descriptors for its databases and log; use at most %d, or raise the descriptor limit (ulimit -Hn)",
			cfg.MaxConns, Reserve(limit), limit, free)
	}
	if cfg.InternalReserve >= cfg.MaxConns {
		return nil, fmt.Errorf("connlimit: --max-conns %d leaves no connection for public listeners beside the %d kept for internal ones; raise --max-conns", cfg.MaxConns, cfg.InternalReserve)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	g := &Guard{
		max: int64(cfg.MaxConns), public: int64(cfg.MaxConns - cfg.InternalReserve),
		spare:     int(limit - min(limit, Reserve(limit)) - uint64(cfg.MaxConns)),
		perClient: cfg.MaxConnsPerClient, logger: cfg.Logger, logEvery: cfg.LogEvery,
		openGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "comity_connections_open",
			Help: "Connections open, by listener.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comity_connections_refused_total",
			Help: "Connections accepted and closed at once because a bound was reached, by listener and bound (total or per_client).",
		}, []string{"listener", "bound"}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{g.openGauge, g.refused} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("connlimit: metrics: %w", err)
			}
		}
	}
	return g, nil
}

// MaxConns returns the bound on connections over every listener.
func (g *Guard) MaxConns() int { return int(g.max) }

// MaxPublicConns returns the bound on connections of public listeners:
// MaxConns less the internal reserve.
func (g *Guard) MaxPublicConns() int { return int(g.public) }

// Spare returns the descriptors left beside the reserve and MaxConns: what
// the files that requests open (attachment transfers) may hold at most.
func (g *Guard) Spare() int { return g.spare }

// MaxConnsPerClient returns the bound per client address and listener (0:
// none).
func (g *Guard) MaxConnsPerClient() int { return g.perClient }

// Open returns the connections open over every listener.
func (g *Guard) Open() int { return int(g.open.Load()) }

// Refused returns how many connections the Guard's listeners have refused
// over the total bound and over the per-client bound.
func (g *Guard) Refused() (total, perClient int) {
	return int(g.refusedTotal.Load()), int(g.refusedClient.Load())
}

// Listen listens on the TCP address addr and wraps the listener; name
// labels its metrics and logs.
func (g *Guard) Listen(addr, name string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return g.Wrap(l, name), nil
}

// ListenPublic is Listen for a listener open to outside clients: its
// connections may not take the internal reserve.
func (g *Guard) ListenPublic(addr, name string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return g.WrapPublic(l, name), nil
}

// Wrap returns l with the Guard's bounds: a connection over a bound is
// accepted and closed at once, so that it costs nothing while it waits,
// counted and logged (at a bounded rate); Accept then waits for the next.
// Its connections may take every place, the internal reserve included.
func (g *Guard) Wrap(l net.Listener, name string) net.Listener {
	return &listener{Listener: l, g: g, name: name, limit: g.max, byClient: map[string]int{}}
}

// WrapPublic is Wrap for a listener open to outside clients: it is refused
// connections once MaxPublicConns are open over every listener, so the
// internal reserve stays free for the internal listeners.
func (g *Guard) WrapPublic(l net.Listener, name string) net.Listener {
	return &listener{Listener: l, g: g, name: name, limit: g.public, byClient: map[string]int{}}
}

type listener struct {
	net.Listener
	g    *Guard
	name string
	// limit is the count of open connections (over every listener) at
	// which this one refuses: MaxConns, or MaxPublicConns.
	limit int64

	mu       sync.Mutex
	byClient map[string]int
	// Refusals since the last log line, and when it was written.
	refusedTotal, refusedClient int
	lastLog                     time.Time
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if bound := l.admit(key); bound != "" {
			l.g.refused.WithLabelValues(l.name, bound).Inc()
			if bound == "total" {
				l.g.refusedTotal.Add(1)
			} else {
				l.g.refusedClient.Add(1)
			}
			_ = c.Close()
			l.noteRefused(bound, key)
			continue
		}
		l.g.openGauge.WithLabelValues(l.name).Inc()
		return &conn{Conn: c, l: l, key: key}, nil
	}
}

// admit takes a place for a connection of client key; it returns the bound
// that refuses it, or "".
func (l *listener) admit(key string) string {
	if l.g.open.Add(1) > l.limit {
		l.g.open.Add(-1)
		return "total"
	}
	if l.g.perClient > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.byClient[key] >= l.g.perClient {
			l.g.open.Add(-1)
			return "per_client"
		}
		l.byClient[key]++
	}
	return ""
}

func (l *listener) release(key string) {
	l.g.open.Add(-1)
	l.g.openGauge.WithLabelValues(l.name).Dec()
	if l.g.perClient > 0 {
		l.mu.Lock()
		if l.byClient[key]--; l.byClient[key] <= 0 {
			delete(l.byClient, key)
		}
		l.mu.Unlock()
	}
}

// noteRefused logs refusals, one line per LogEvery at most, so that a flood
// of connections cannot flood the log too.
func (l *listener) noteRefused(bound, key string) {
	l.mu.Lock()
	if bound == "total" {
		l.refusedTotal++
	} else {
		l.refusedClient++
	}
	now := time.Now()
	if now.Sub(l.lastLog) < l.g.logEvery {
		l.mu.Unlock()
		return
	}
	total, client := l.refusedTotal, l.refusedClient
	l.refusedTotal, l.refusedClient, l.lastLog = 0, 0, now
	l.mu.Unlock()
	l.g.logger.Warn("connections refused: bound reached",
		zap.String("listener", l.name), zap.String("last_client", key),
		zap.Int("over_total_bound", total), zap.Int("over_per_client_bound", client),
		zap.Int("max_conns", int(l.limit)), zap.Int("max_conns_per_client", l.g.perClient))
}

// conn gives its place back once, when closed.
type conn struct {
	net.Conn
	l    *listener
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// clientKey is the address a connection counts against (ClientKey), or
// the whole address when it is not an IP one.
func clientKey(a net.Addr) string {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	if !ip.IsValid() {
		return a.String()
	}
	return ClientKey(ip)
}

// ClientKey is the key under which Comity bounds what one client may do
// (connections here, the gateway's rate, the aggregate audit events of
// anonymous calls): an IPv4 address itself, an IPv6 one by its /64, since
// one IPv6 client commonly holds a whole /64 and could otherwise rotate
// through its addresses to count as many clients. An IPv4-mapped IPv6
// address counts as its IPv4 address.
func ClientKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
