// Package gateway is comity-gateway: it exposes the services' gRPC APIs over
// REST/JSON with grpc-gateway, forwarding each caller's bearer token so that
// every service authenticates and authorises the call itself. It also serves
// /healthz (the process is up) and /readyz (every backend answers its health
// check).
package gateway

import (
	"context"
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
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/httpserver"
)

// Config configures the gateway.
type Config struct {
	// Listener is where HTTP is served.
	Listener net.Listener
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
	// Logger and Metrics receive the gateway's logs and metrics.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// Run serves the gateway until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	h, err := NewHandler(ctx, cfg)
	if err != nil {
		return err
	}
	return httpserver.Serve(ctx, cfg.Listener, h, cfg.Logger, 15*time.Second)
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
	)
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnect quickly to a restarted service: the REST handlers and
		// /readyz hold connections of their own, and a long backoff would
		// leave the handlers failing after /readyz says ready again.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
	if err := directoryv1.RegisterDirectoryServiceHandlerFromEndpoint(ctx, mux, cfg.DirectoryAddr, opts); err != nil {
		return nil, fmt.Errorf("gateway: directory: %w", err)
	}
	if err := requestv1.RegisterRequestServiceHandlerFromEndpoint(ctx, mux, cfg.RequestAddr, opts); err != nil {
		return nil, fmt.Errorf("gateway: request: %w", err)
	}
	// Append has no REST route: only services append, over gRPC.
	if err := auditv1.RegisterAuditServiceHandlerFromEndpoint(ctx, mux, cfg.AuditAddr, opts); err != nil {
		return nil, fmt.Errorf("gateway: audit: %w", err)
	}
	backends, err := newBackends(ctx, map[string]string{
		"directory": cfg.DirectoryAddr,
		"request":   cfg.RequestAddr,
		"audit":     cfg.AuditAddr,
	}, opts)
	if err != nil {
		return nil, err
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", backends.readyz)
	// Files stream through their own handlers, outside the JSON body limit.
	s := &streams{mux: mux, client: requestv1.NewRequestServiceClient(backends.conns["request"]), maxBytes: cfg.MaxAttachmentBytes}
	root.HandleFunc("POST /v1/requests/{id}/attachments:upload", s.upload)
	root.HandleFunc("GET /v1/requests/{id}/attachments/{attachment}", s.download)
	root.HandleFunc("GET /v1/requests:watch", s.watch)
	root.Handle("/", limitBody(cfg.MaxBodyBytes, mux))

	var h http.Handler = root
	if len(cfg.CORSOrigins) > 0 {
		h = cors.New(cors.Options{
			AllowedOrigins:   cfg.CORSOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Content-Disposition", "Repr-Digest", "X-Trace-Id"},
			ExposedHeaders:   []string{"X-Trace-Id", "Repr-Digest", "Content-Disposition", "Retry-After"},
			AllowCredentials: false,
			MaxAge:           600,
		}).Handler(h)
	}
	h = withTrace(h)
	if cfg.Metrics != nil {
		if h, err = instrument(cfg.Metrics, h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// incomingHeader forwards the trace id to the services; nothing else.
// grpc-gateway forwards the caller's token (Authorization) whatever the
// matcher says, and adds x-forwarded-for and x-forwarded-host. Its default
// matcher would also send most standard headers as grpcgateway-* metadata,
// the token a second time among them, which no service reads.
func incomingHeader(key string) (string, bool) {
	// EqualFold, not ToLower: this runs for every header of every call.
	if strings.EqualFold(key, grpcserver.TraceHeader) {
		return grpcserver.TraceHeader, true
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
