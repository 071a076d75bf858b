package relay

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"

	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

// Producer is the audit trail set-up every producing service (request,
// directory) takes in its configuration: how its events are keyed, how its
// unauthenticated calls are aggregated, and where and how its outbox is
// delivered.
type Producer struct {
	// AuditAddr is the audit service's gRPC address; the outbox relay
	// delivers audit events there. Empty leaves them in the outbox.
	AuditAddr string
	// ServiceCredentials identify this service to the audit service.
	ServiceCredentials credentials.PerRPCCredentials
	// AuditDigestKey keys the request digests of the service's audit
	// events; every producing service of a deployment holds the same one.
	// Required.
	AuditDigestKey trail.DigestKey
	// AuditBacklogAlarm is how old the oldest undelivered audit event may
	// get before the service reports its delivery behind (health detail
	// trail.DeliveryHealthService, a log line); zero means 5 minutes.
	AuditBacklogAlarm time.Duration
	// AuditAnonymousClients bounds the clients whose unauthenticated calls
	// get an aggregate audit event of their own per minute
	// (grpcserver.AuditConfig.MaxAnonymousAddresses); zero means 100.
	AuditAnonymousClients int
	// AuditAnonymousWindow is the span one aggregate event of
	// unauthenticated calls covers; zero means a minute.
	AuditAnonymousWindow time.Duration
}

// ProducerOf is the Producer that a service binary's flags
// (cli.Common.RegisterProducer) and what it loaded from them
// (cli.Common.LoadService) describe.
func ProducerOf(c *cli.Common, svc cli.Service) Producer {
	return Producer{AuditAddr: c.AuditAddr, ServiceCredentials: svc.Credentials, AuditDigestKey: svc.DigestKey,
		AuditBacklogAlarm: c.AuditBacklogAlarm, AuditAnonymousClients: c.AuditAnonymousClients}
}

// AuditConfig is the server's audit set-up for the producing service
// named service (e.g. "comity-request"), whose denied calls and failed
// attempts rec writes into the same outbox as the domain's events.
func (p Producer) AuditConfig(service string, rec trail.Recorder) *grpcserver.AuditConfig {
	return &grpcserver.AuditConfig{Service: service, Recorder: rec, DigestKey: p.AuditDigestKey,
		MaxAnonymousAddresses: p.AuditAnonymousClients, AnonymousWindow: p.AuditAnonymousWindow}
}

// Serve runs srv beside the relay of outbox (RunBeside) until ctx ends: the
// relay dials the audit service with tls and the service credentials,
// reports its metrics under the label name (NewMetrics) and its delivery
// health on srv (trail.DeliveryHealthService).
func (p Producer) Serve(ctx context.Context, srv *grpcserver.Server, outbox trail.Outbox, name string,
	tls *mtls.Identity, log *zap.Logger, reg prometheus.Registerer) error {
	metrics, err := NewMetrics(reg, name)
	if err != nil {
		return err
	}
	return RunBeside(ctx, srv.Serve, outbox, p.AuditAddr,
		grpcclient.Options{TLS: tls, PerRPC: p.ServiceCredentials}, Options{
			BacklogAlarm: p.AuditBacklogAlarm, Metrics: metrics, Logger: log,
			SetDeliveryHealthy: func(ok bool) { srv.SetHealth(trail.DeliveryHealthService, ok) },
		})
}
