// Package gateway is comity-gateway: it exposes the services' gRPC APIs over
// REST/JSON with grpc-gateway, forwarding each caller's bearer token so that
// every service authenticates and authorises the call itself. It also serves
// /healthz (the process is up) and /readyz (every backend answers its health
// check; the body also says whether each producer's audit delivery keeps up).
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/comity-mla/comity/gateway/console"
	"github.com/comity-mla/comity/gateway/openapi"
	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/directory/directoryclient"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/httpserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/platform/traceid"
	"github.com/comity-mla/comity/services/trail"
)

// Config configures the gateway.
type Config struct {
	// Listener is where HTTP is served. Bound its connections with a
	// connlimit.Guard (cli.Env.Conns).
	Listener net.Listener
	// HTTP bounds how slowly a client may send its request (headers, body
	// rate, idle time); zero fields take httpserver's defaults.
	HTTP httpserver.Options
	// DirectoryAddr, RequestAddr and AuditAddr are the services' gRPC
	// addresses (host:port).
	DirectoryAddr string
	RequestAddr   string
	AuditAddr     string
	// MaxBodyBytes bounds a JSON request body; zero means 1 MiB.
	MaxBodyBytes int64
	// MaxAttachmentBytes bounds an uploaded file; zero means 100 MiB. The
	// request service enforces its own limit too.
	MaxAttachmentBytes int64
	// CORSOrigins are the browser origins allowed to call the API; empty
	// disables CORS (the default).
	CORSOrigins []string
	// TLS, when set, is the gateway's mTLS identity, presented to the
	// services; nil calls them in plaintext.
	TLS *mtls.Identity
	// RateLimit bounds each agency's calls to the API; zero PerSecond
	// means no limit.
	RateLimit RateLimit
	// Issuers are the token issuers whose keys the gateway knows; it
	// verifies a token (as the services do, with the directory's trust) to
	// learn whose rate limit a call counts against. Without them every call
	// counts against its client address.
	Issuers []identity.Issuer
	// HTTPSCertFile and HTTPSKeyFile, when set, make the gateway serve
	// HTTPS with this certificate (PEM) instead of HTTP.
	HTTPSCertFile, HTTPSKeyFile string
	// Console, when set, serves the web console at / (see package
	// console); nil serves the API alone.
	Console *console.Config
	// Logger and Metrics receive the gateway's logs and metrics.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// Run serves the gateway until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	// The backend connections outlive ctx until the HTTP server has let
	// the calls in flight finish.
	backendCtx, closeBackends := context.WithCancel(context.WithoutCancel(ctx))
	defer closeBackends()
	h, err := NewHandler(backendCtx, cfg)
	if err != nil {
		return err
	}
	l := cfg.Listener
	if cfg.HTTPSCertFile != "" || cfg.HTTPSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTPSCertFile, cfg.HTTPSKeyFile)
		if err != nil {
			return fmt.Errorf("gateway: HTTPS certificate: %w", err)
		}
		l = tls.NewListener(l, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		})
	}
	return httpserver.Serve(ctx, l, h, cfg.Logger, 15*time.Second, cfg.HTTP)
}

// NewHandler returns the gateway's HTTP handler. Its backend connections
// close when ctx ends.
func NewHandler(ctx context.Context, cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxAttachmentBytes == 0 {
		cfg.MaxAttachmentBytes = 100 << 20
	}
	if cfg.Logger == nil {
		return nil, errors.New("gateway: Logger is required")
	}
	routes, err := newRouteTable([]protoreflect.ServiceDescriptor{
		directoryv1.File_comity_directory_v1_directory_proto.Services().ByName("DirectoryService"),
		requestv1.File_comity_request_v1_request_proto.Services().ByName("RequestService"),
		auditv1.File_comity_audit_v1_audit_proto.Services().ByName("AuditService"),
	}, streamRoutes())
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	routes.log = cfg.Logger
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: jsonMarshaler{&runtime.JSONPb{
				MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
				// A misspelt field is an error, not silently dropped data.
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			}},
		}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithErrorHandler(errorHandler(cfg.Logger)),
		runtime.WithRoutingErrorHandler(routes.routingError),
		runtime.WithMiddlewares(routes.middleware),
	)
	routes.mux = mux
	// Each service's address may list several replicas, which calls go to
	// in turn. The REST handlers, the console and /readyz share one
	// connection per service, so that /readyz says whether the connection
	// the calls use is up (after a service restarts, a connection of the
	// REST handlers' own could still be waiting to redial while /readyz
	// already answered ready).
	register := []struct {
		name, addr, identity string
		handler              func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
	}{
		{"directory", cfg.DirectoryAddr, mtls.Directory, directoryv1.RegisterDirectoryServiceHandler},
		{"request", cfg.RequestAddr, mtls.Request, requestv1.RegisterRequestServiceHandler},
		// Append has no REST route: only services append, over gRPC.
		{"audit", cfg.AuditAddr, mtls.Audit, auditv1.RegisterAuditServiceHandler},
	}
	backends := &backends{conns: map[string]*grpc.ClientConn{}, log: cfg.Logger}
	closeAll := func() {
		for _, c := range backends.conns {
			_ = c.Close()
		}
	}
	for _, b := range register {
		// Exports of many entries take a while: a gateway call may run
		// for two minutes, unless the caller's Grpc-Timeout says less.
		dial := grpcclient.Options{TLS: cfg.TLS, Server: b.identity, Timeout: 2 * time.Minute}
		conn, err := grpcclient.New(b.addr, dial)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("gateway: %s: %w", b.name, err)
		}
		backends.conns[b.name] = conn
		if err := b.handler(ctx, mux, conn); err != nil {
			closeAll()
			return nil, fmt.Errorf("gateway: %s: %w", b.name, err)
		}
	}
	go func() {
		<-ctx.Done()
		closeAll()
	}()

	api := func(h http.Handler) http.Handler { return h }
	if cfg.RateLimit.PerSecond > 0 {
		var verify tokenVerifier
		if len(cfg.Issuers) == 0 {
			cfg.Logger.Warn("rate limit without token issuers: every call counts against its client address, not its agency")
		} else {
			v, err := identity.NewVerifier(cfg.Issuers, directoryclient.New(backends.conns["directory"]))
			if err != nil {
				return nil, fmt.Errorf("gateway: %w", err)
			}
			verify = v
		}
		api = newLimiter(cfg.RateLimit, verify).wrap
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", backends.readyz)
	// The API's description and its reference page, for anyone.
	for pattern, h := range openapi.Routes() {
		root.Handle(pattern, h)
	}
	// Files stream through their own handlers, outside the JSON body limit.
	httpOpts, err := cfg.HTTP.WithDefaults()
	if err != nil {
		return nil, err
	}
	s := &streams{mux: mux, client: requestv1.NewRequestServiceClient(backends.conns["request"]), maxBytes: cfg.MaxAttachmentBytes,
		writeProgress: httpOpts.WriteProgress, routes: routes}
	root.Handle("POST /v1/requests/{id}/attachments:upload", api(http.HandlerFunc(s.upload)))
	root.Handle("GET /v1/requests/{id}/attachments/{attachment}", api(http.HandlerFunc(s.download)))
	root.Handle("GET /v1/requests:watch", api(http.HandlerFunc(s.watch)))
	root.Handle("/", api(limitBody(cfg.MaxBodyBytes, mux)))
	if err := mountConsole(root, cfg, backends, api); err != nil {
		closeAll()
		return nil, fmt.Errorf("gateway: %w", err)
	}

	var h http.Handler = utf8URL(root)
	if len(cfg.CORSOrigins) > 0 {
		h = cors.New(cors.Options{
			AllowedOrigins:   cfg.CORSOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Content-Disposition", "Repr-Digest", "X-Trace-Id", "X-Comity-Purpose"},
			ExposedHeaders:   []string{"X-Trace-Id", "Repr-Digest", "Content-Disposition", "Retry-After"},
			AllowCredentials: false,
			MaxAge:           600,
		}).Handler(h)
	}
	h = withTrace(logRequests(cfg.Logger, h))
	if cfg.Metrics != nil {
		var err error
		if h, err = instrument(cfg.Metrics, h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// incomingHeader forwards the trace id and the reader's declared purpose
// (X-Comity-Purpose, which the services check and put on the audit events
// of reads of content) to the services; nothing else.
// grpc-gateway forwards the caller's token (Authorization) whatever the
// matcher says, and adds x-forwarded-for and x-forwarded-host. Its default
// matcher would also send most standard headers as grpcgateway-* metadata,
// the token a second time among them, which no service reads.
func incomingHeader(key string) (string, bool) {
	// EqualFold, not ToLower: this runs for every header of every call.
	switch {
	case strings.EqualFold(key, traceid.Header):
		return traceid.Header, true
	case strings.EqualFold(key, trail.PurposeHeader):
		return trail.PurposeHeader, true
	}
	return "", false
}

// outgoingHeader keeps service metadata out of HTTP responses; the trace id
// is already set by withTrace.
func outgoingHeader(string) (string, bool) { return "", false }

func instrument(reg prometheus.Registerer, h http.Handler) (http.Handler, error) {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "comity_gateway_http_request_duration_seconds",
		Help:    "Duration of HTTP requests served by the gateway, by method and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "code"})
	if err := reg.Register(duration); err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	return promhttp.InstrumentHandlerDuration(duration, h), nil
}
