// Package auditd runs the comity-audit service. Until its API lands it
// serves only grpc.health.v1 and reflection, so that deployments, comity-local
// and readiness checks can already include it.
package auditd

import (
	"context"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/comity-mla/comity/services/platform/grpcserver"
)

// Config configures the audit service.
type Config struct {
	// Listener is where gRPC is served.
	Listener net.Listener
	// Logger and Metrics receive the service's logs and metrics.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	srv, err := grpcserver.New(grpcserver.Config{
		Name: "audit", Listener: cfg.Listener, Logger: cfg.Logger.With(zap.String("service", "audit")), Metrics: cfg.Metrics,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
