// Package grpcclient opens the gRPC connections Comity's services and
// gateway make to each other: over mTLS with the caller's identity when it
// has one, spread round-robin over every replica of the target, and with a
// deadline on every unary call that has none.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/comity-mla/comity/services/platform/mtls"
)

// DefaultTimeout bounds a unary call whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// Options configure a connection.
type Options struct {
	// TLS is the caller's identity; nil dials plaintext.
	TLS *mtls.Identity
	// Server is the identity the server's certificate must name, e.g.
	// mtls.Audit. Required with TLS.
	Server string
	// PerRPC, when set, adds credentials (a service token) to every call.
	PerRPC credentials.PerRPCCredentials
	// Timeout bounds unary calls without a deadline; zero means
	// DefaultTimeout. Streams are not bounded: a watch lives for as long
	// as its caller wants.
	Timeout time.Duration
	// Extra are further dial options.
	Extra []grpc.DialOption
}

var resolverSeq atomic.Int64

// serviceConfig spreads calls over the replicas in turn, and leaves out a
// replica whose health check says it is not serving (its database is down,
// or it is shutting down), not only one that cannot be reached.
const serviceConfig = `{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`

// New connects to target: one host:port, several separated by commas (the
// replicas of one service), or a gRPC target URI such as dns:///name:port,
// whose resolver finds the replicas; calls go to them in turn.
func New(target string, o Options) (*grpc.ClientConn, error) {
	t, opts, err := Dial(target, o)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(t, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: %s: %w", target, err)
	}
	return conn, nil
}

// Dial returns what New passes to grpc.NewClient, for APIs that dial
// themselves (grpc-gateway's Register…HandlerFromEndpoint). Each call is for
// one connection: the target names a resolver of that connection's own.
func Dial(target string, o Options) (string, []grpc.DialOption, error) {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		if o.Server == "" {
			return "", nil, errors.New("grpcclient: Server identity is required with TLS")
		}
		creds = o.TLS.ClientCredentials(o.Server)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		// Reconnect quickly to a restarted service: a long backoff would
		// leave calls failing after the service is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithChainUnaryInterceptor(deadline(o.Timeout)),
	}
	if o.PerRPC != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(o.PerRPC))
	}
	if strings.Contains(target, "://") {
		return target, append(opts, o.Extra...), nil
	}
	var addrs []resolver.Address
	for a := range strings.SplitSeq(target, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, resolver.Address{Addr: a})
		}
	}
	if len(addrs) == 0 {
		return "", nil, errors.New("grpcclient: no address to connect to")
	}
	// A resolver of this connection's own, holding its fixed addresses.
	r := manual.NewBuilderWithScheme(fmt.Sprintf("comity-static-%d", resolverSeq.Add(1)))
	r.InitialState(resolver.State{Addresses: addrs})
	opts = append(opts, grpc.WithResolvers(r))
	return r.Scheme() + ":///" + addrs[0].Addr, append(opts, o.Extra...), nil
}

// deadline gives every unary call without a deadline one of d.
func deadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
