// Package httpserver serves an http.Handler until a context ends, then shuts
// it down gracefully. The gateway and the metrics endpoint use it; both get
// the same bounds on slow clients (Options).
package httpserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Options bound how long a client may take to send a request, how many
// requests one HTTP/2 connection may carry at once, and how long a response
// write may make no progress. There is no bound on writing a response as a
// whole: watch streams are long-lived by design.
type Options struct {
	// HeaderTimeout bounds reading a request's headers, whole; zero means
	// 10 seconds.
	HeaderTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection may wait for its
	// next request; zero means 2 minutes.
	IdleTimeout time.Duration
	// A request body must arrive at BodyMinBytes per BodyWindow at least,
	// counting only the time the server waits for it: a slower body is cut
	// and its connection closed. So a 100 MiB upload on a slow but honest
	// link passes and a body trickling a byte at a time does not hold a
	// connection. Zero means 1,024 bytes per 10 seconds.
	BodyMinBytes int64
	BodyWindow   time.Duration
	// HTTP2MaxStreams bounds the requests one HTTP/2 connection (HTTPS
	// only) may carry at once; zero means 16. Go's default of 250 would
	// let one connection, which the connection bound counts once, hold
	// 250 requests and the files they open.
	HTTP2MaxStreams int
	// WriteProgress bounds how long one write of a long response
	// (downloads, watch streams) may wait for its client to read: a
	// client that stops reading is cut after it, and what its response
	// held is freed. Handlers apply it with SetWriteDeadline, per write;
	// zero means 30 seconds.
	WriteProgress time.Duration
}

// DefaultHTTP2MaxStreams and DefaultWriteProgress are the defaults of
// Options.HTTP2MaxStreams and Options.WriteProgress.
const (
	DefaultHTTP2MaxStreams = 16
	DefaultWriteProgress   = 30 * time.Second
)

// RegisterFlags defines the options' flags on fs (and so their COMITY_…
// variables): --header-timeout, --idle-timeout, --body-min-bytes,
// --body-rate-window, --http2-max-streams and --write-progress-timeout.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.HeaderTimeout, "header-timeout", 10*time.Second, "longest time a client may take to send a request's headers")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 2*time.Minute, "longest time a kept-alive HTTP connection may wait for its next request")
	fs.Int64Var(&o.BodyMinBytes, "body-min-bytes", 1024, "a request body must progress by at least this many bytes every --body-rate-window, or its connection is closed")
	fs.DurationVar(&o.BodyWindow, "body-rate-window", 10*time.Second, "window of --body-min-bytes")
	fs.IntVar(&o.HTTP2MaxStreams, "http2-max-streams", DefaultHTTP2MaxStreams, "most requests one HTTP/2 (HTTPS) connection may carry at once")
	fs.DurationVar(&o.WriteProgress, "write-progress-timeout", DefaultWriteProgress, "a download or watch stream whose client reads nothing for this long is cut")
}

// withDefaults fills in zero fields and checks the others.
func (o Options) withDefaults() (Options, error) {
	if o.HeaderTimeout < 0 || o.IdleTimeout < 0 || o.BodyMinBytes < 0 || o.BodyWindow < 0 || o.HTTP2MaxStreams < 0 || o.WriteProgress < 0 {
		return o, errors.New("httpserver: --header-timeout, --idle-timeout, --body-min-bytes, --body-rate-window, --http2-max-streams and --write-progress-timeout must not be negative")
	}
	if o.HTTP2MaxStreams == 0 {
		o.HTTP2MaxStreams = DefaultHTTP2MaxStreams
	}
	if o.WriteProgress == 0 {
		o.WriteProgress = DefaultWriteProgress
	}
	if o.HeaderTimeout == 0 {
		o.HeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.BodyMinBytes == 0 {
		o.BodyMinBytes = 1024
	}
	if o.BodyWindow == 0 {
		o.BodyWindow = 10 * time.Second
	}
	return o, nil
}

// WithDefaults returns the options with every zero field at its default, or
// an error naming the negative ones.
func (o Options) WithDefaults() (Options, error) { return o.withDefaults() }

// Serve serves h on l until ctx ends, then stops accepting, lets in-flight
// requests finish for up to grace, and returns nil. Bound l with a
// connlimit.Guard: Serve bounds each connection's time, not their number.
func Serve(ctx context.Context, l net.Listener, h http.Handler, logger *zap.Logger, grace time.Duration, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           guardBodies(opts, h),
		ReadHeaderTimeout: opts.HeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: opts.HTTP2MaxStreams},
		ErrorLog:          zap.NewStdLog(logger),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	logger.Info("HTTP server listening", zap.String("addr", l.Addr().String()),
		zap.Duration("header_timeout", opts.HeaderTimeout), zap.Duration("idle_timeout", opts.IdleTimeout),
		zap.String("body_min_rate", fmt.Sprintf("%d bytes per %s", opts.BodyMinBytes, opts.BodyWindow)),
		zap.Int("http2_max_streams", opts.HTTP2MaxStreams), zap.Duration("write_progress_timeout", opts.WriteProgress))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	logger.Info("HTTP server stopped", zap.String("addr", l.Addr().String()))
	return nil
}

// ServeMetrics serves the Prometheus registry at /metrics on l until ctx
// ends.
func ServeMetrics(ctx context.Context, l net.Listener, g prometheus.Gatherer, logger *zap.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return Serve(ctx, l, mux, logger, 5*time.Second, Options{})
}
