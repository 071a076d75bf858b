package gateway

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/connlimit"
)

// RateLimit bounds how fast each agency may call the API: a token bucket of
// Burst calls refilled at PerSecond calls a second, shared by every user of
// the agency. A call over the limit gets 429 with Retry-After.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// limiter keeps one bucket per agency. The agency is taken from the token
// only once the gateway has verified it, so that nobody can spend another
// agency's budget with a forged token. Calls without a token, or with one
// that is refused (UNAUTHENTICATED: forged, expired, or genuine but naming
// an agency that is unknown or deactivated, or a role it may not hold),
// share a bucket per client address (per /64 for IPv6), the services
// refuse them anyway; behind a proxy that address is the proxy's. Only a
// call whose token could not be checked for now (the directory did not
// answer: UNAVAILABLE) is not counted: that is no fault of the caller's, and
// the services, which check it too, will answer it.
type limiter struct {
	limit  rate.Limit
	burst  int
	verify tokenVerifier // nil: every call is keyed by client address

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// maxBuckets bounds how many buckets the limiter keeps.
const maxBuckets = 100_000

// idleBucket is how long an unused bucket is kept; a bucket idle that long
// is full again anyway.
const idleBucket = 10 * time.Minute

// tokenVerifier turns a bearer token into its principal (identity.Verifier).
type tokenVerifier interface {
	Verify(ctx context.Context, rawToken string) (identity.Principal, error)
}

func newLimiter(rl RateLimit, verify tokenVerifier) *limiter {
	burst := rl.Burst
	if burst < 1 {
		burst = max(1, int(math.Ceil(rl.PerSecond)))
	}
	return &limiter{limit: rate.Limit(rl.PerSecond), burst: burst, verify: verify, buckets: map[string]*bucket{}}
}

func (l *limiter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, who := l.key(r)
		if key == "" {
			h.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		res := l.bucket(key, now).ReserveN(now, 1)
		if delay := res.DelayFrom(now); delay > 0 {
			res.CancelAt(now)
			secs := int(math.Ceil(delay.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeStatus(w, r, http.StatusTooManyRequests, status.New(codes.ResourceExhausted,
				fmt.Sprintf("too many requests from %s: at most %g a second; retry after %d s", who, float64(l.limit), secs)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// key names the bucket of r, and the caller for the error message.
func (l *limiter) key(r *http.Request) (key, who string) {
	if l.verify != nil {
		if raw, err := identity.BearerToken(r.Header.Get("Authorization")); err == nil {
			// The verifier's trust lookups forward the caller's token, as
			// they do inside a service.
			ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", "Bearer "+raw))
			p, err := l.verify.Verify(ctx, raw)
			switch {
			case err == nil:
				return "agency:" + p.Agency, "agency " + p.Agency
			case errs.CodeOf(err) != errs.Unauthenticated:
				return "", ""
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// One IPv6 client holds a whole /64: the same key as the
		// connection bounds and the audit trail's anonymous counts.
		host = connlimit.ClientKey(ip)
	}
	return "addr:" + host, "this address"
}

func (l *limiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok && len(l.buckets) >= maxBuckets {
		// Bounded memory, whatever the number of addresses: forget some
		// buckets (each then starts full again).
		for k := range l.buckets {
			delete(l.buckets, k)
			if len(l.buckets) < maxBuckets*9/10 {
				break
			}
		}
	}
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	return b.lim
}
