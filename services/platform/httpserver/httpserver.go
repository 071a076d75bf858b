// Package httpserver serves an http.Handler until a context ends, then shuts
// it down gracefully. The gateway and the metrics endpoint use it.
package httpserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Serve serves h on l until ctx ends, then stops accepting, lets in-flight
// requests finish for up to grace, and returns nil.
func Serve(ctx context.Context, l net.Listener, h http.Handler, logger *zap.Logger, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(logger),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	logger.Info("HTTP server listening", zap.String("addr", l.Addr().String()))
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
	return Serve(ctx, l, mux, logger, 5*time.Second)
}
