// Package grpcserver builds the gRPC server every Comity service runs: the
// interceptor chain (trace id, metrics, logging, error mapping, panic
// recovery, authentication, input validation), grpc.health.v1, server
// reflection, and graceful shutdown.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/mtls"
)

// Authenticator turns a raw bearer token into a principal. *identity.Verifier
// implements it.
type Authenticator interface {
	Verify(ctx context.Context, rawToken string) (identity.Principal, error)
}

// Config configures a Server.
type Config struct {
	// Name is the service name used in logs and metrics, e.g. "directory".
	Name string
	// Listener is where the server accepts connections; the caller opens it so
	// that tests can listen on 127.0.0.1:0 and learn the port.
	Listener net.Listener
	// Logger receives one line per call and every internal error.
	Logger *zap.Logger
	// Metrics is where the per-method call metrics are registered.
	Metrics prometheus.Registerer
	// Auth verifies bearer tokens. Every method except health and reflection
	// requires one; with no Auth, every such method is refused.
	Auth Authenticator
	// Audit, when set, records refused calls: denied calls and failed
	// attempts at changes (the domain records its successful ones).
	Audit *AuditConfig
	// ShutdownGrace bounds how long in-flight calls may finish after the
	// context ends; zero means 15 seconds.
	ShutdownGrace time.Duration
	// MaxRecvBytes bounds one received message; zero means 4 MiB.
	MaxRecvBytes int
	// TLS, when set, makes the server serve mTLS with this identity: every
	// client must present a certificate the same CA signed, and Callers
	// says which of them may call which method. Nil serves plaintext, for
	// tests and for deployments whose mesh terminates mTLS.
	TLS     *mtls.Identity
	Callers mtls.Policy
	// Ready, when set, is asked every ReadyInterval (default 2 s) whether
	// the server's dependencies (its database) answer; after three failures
	// in a row, and until it answers again, the health service reports
	// NOT_SERVING, so that clients and /readyz leave this replica out. One
	// slow answer under load does not take a replica out.
	Ready         func(context.Context) error
	ReadyInterval time.Duration
	// AnonymousReads are full method names anyone may call without a token
	// (e.g. a list of public facts a sign-in page needs). With Audit set
	// they are recorded as unauthenticated calls are: one aggregate event
	// per client and minute.
	AnonymousReads []string
}

// Server is a gRPC server with Comity's interceptors, health and reflection.
type Server struct {
	cfg    Config
	grpc   *grpc.Server
	health *health.Server
	// anonymous, with Audit, counts the unauthenticated calls and records
	// them a minute at a time.
	anonymous *anonymous
}

// New builds a Server. Register services on GRPC() before calling Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Listener == nil || cfg.Logger == nil {
		return nil, errors.New("grpcserver: Listener and Logger are required")
	}
	if cfg.Auth == nil {
		cfg.Auth = refuseAll{}
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 15 * time.Second
	}
	if cfg.MaxRecvBytes == 0 {
		cfg.MaxRecvBytes = 4 << 20
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("grpcserver: validator: %w", err)
	}
	metrics := grpcprom.NewServerMetrics(
		grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
		),
	)
	if err := prometheus.WrapRegistererWith(prometheus.Labels{"service": cfg.Name}, cfg.Metrics).Register(metrics); err != nil {
		return nil, fmt.Errorf("grpcserver: register metrics: %w", err)
	}
	ic := interceptors{logger: cfg.Logger, auth: cfg.Auth, validator: validator, audit: cfg.Audit, anonymousReads: cfg.AnonymousReads}
	if cfg.Audit != nil {
		reg := prometheus.WrapRegistererWith(prometheus.Labels{"service": cfg.Name}, cfg.Metrics)
		if ic.anonymous, err = newAnonymous(cfg.Audit, cfg.Logger, reg); err != nil {
			return nil, fmt.Errorf("grpcserver: register metrics: %w", err)
		}
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		// A client that connects and never completes the TLS and HTTP/2
		// handshakes holds a descriptor for at most this long (gRPC's
		// default is two minutes). The listener's connlimit.Guard bounds
		// how many connections there are.
		grpc.ConnectionTimeout(10 * time.Second),
		// Each watch stream through the gateway is a stream of one of its
		// connections, so the bound is high; it stops a client from
		// opening streams without end on one connection.
		grpc.MaxConcurrentStreams(16384),
		// Ping a connection idle for a minute and drop it if no answer
		// comes within 20 s, so that a vanished peer does not keep its
		// descriptor; refuse pings more often than every 10 s, which only
		// a misbehaving client sends (gRPC's default allows one every 5
		// minutes, which would cut clients that keep a NAT open).
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(cfg.TLS.ServerCredentials()))
		ic.callers = cfg.Callers
		if ic.callers == nil {
			ic.callers = mtls.Policy{}
		}
	}
	// Each interceptor in both forms, so that unary and streaming calls pass
	// the same steps in the same order.
	type step struct {
		unary  grpc.UnaryServerInterceptor
		stream grpc.StreamServerInterceptor
	}
	recovering := step{recovery.UnaryServerInterceptor(recovery.WithRecoveryHandler(recovered)),
		recovery.StreamServerInterceptor(recovery.WithRecoveryHandler(recovered))}
	// Outermost first: the trace id must exist before anything logs, and
	// errors must be mapped to statuses before metrics and logs see them.
	steps := []step{
		{ic.traceUnary, ic.traceStream},
		{metrics.UnaryServerInterceptor(), metrics.StreamServerInterceptor()},
		{ic.logUnary, ic.logStream},
		{ic.auditUnary, ic.auditStream},
		{ic.mapErrorsUnary, ic.mapErrorsStream},
		recovering,
		{ic.authUnary, ic.authStream},
		// Again inside auth, so that a handler's panic is an error of its
		// caller, whom the audit interceptor then names.
		recovering,
		{ic.validateUnary, ic.validateStream},
	}
	unary := make([]grpc.UnaryServerInterceptor, len(steps))
	stream := make([]grpc.StreamServerInterceptor, len(steps))
	for i, st := range steps {
		unary[i], stream[i] = st.unary, st.stream
	}
	s := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return &Server{cfg: cfg, grpc: s, health: hs, anonymous: ic.anonymous}, nil
}

// SetHealth sets the grpc.health.v1 status of service, a name apart from the
// registered services (e.g. trail.DeliveryHealthService): a health detail
// that neither the readiness monitor nor the service's own status touches,
// and that takes no replica out of rotation. Once Serve has shut down, it
// stays NOT_SERVING.
func (s *Server) SetHealth(service string, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus(service, st)
}

// GRPC returns the underlying server, to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve serves until ctx ends, then reports NOT_SERVING, lets in-flight calls
// finish for up to ShutdownGrace, and stops. It returns nil after a shutdown
// caused by ctx.
func (s *Server) Serve(ctx context.Context) error {
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	monitorCtx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	if s.cfg.Ready != nil {
		go s.monitor(monitorCtx)
	}
	if s.anonymous != nil {
		go s.anonymous.run(monitorCtx)
		// Once no call is left, the minute under way is recorded too.
		defer s.anonymous.flush(time.Time{})
	}
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(s.cfg.Listener) }()
	s.cfg.Logger.Info("gRPC server listening", zap.String("addr", s.cfg.Listener.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", s.cfg.Name, err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		s.cfg.Logger.Warn("grace period over; closing remaining calls")
		s.grpc.Stop()
	}
	s.cfg.Logger.Info("gRPC server stopped")
	return nil
}

// monitor keeps the health status in step with Ready until ctx ends.
func (s *Server) monitor(ctx context.Context) {
	interval := s.cfg.ReadyInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	const failuresToLeave = 3
	t := time.NewTicker(interval)
	defer t.Stop()
	serving, failures := true, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		err := s.cfg.Ready(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		switch {
		case failures >= failuresToLeave && serving:
			s.cfg.Logger.Warn("not serving: a dependency does not answer", zap.Error(err))
			s.setAll(healthpb.HealthCheckResponse_NOT_SERVING)
			serving = false
		case failures == 0 && !serving:
			s.cfg.Logger.Info("serving again: the dependencies answer")
			s.setAll(healthpb.HealthCheckResponse_SERVING)
			serving = true
		}
	}
}

func (s *Server) setAll(st healthpb.HealthCheckResponse_ServingStatus) {
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, st)
	}
	s.health.SetServingStatus("", st)
}

type refuseAll struct{}

func (refuseAll) Verify(context.Context, string) (identity.Principal, error) {
	return identity.Principal{}, errs.New(errs.Unauthenticated, "this server accepts no tokens")
}
