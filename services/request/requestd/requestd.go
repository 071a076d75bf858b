// Package requestd runs the comity-request service: it opens the store and
// the attachment blob store, connects to the directory, and serves the gRPC
// API until its context ends. The comity-request binary and comity-local
// both call Run.
package requestd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/directory/directoryclient"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/grpcapi"
	"github.com/comity-mla/comity/services/request/store"
	"github.com/comity-mla/comity/services/trail"
)

// Config configures the request service.
type Config struct {
	// Listener is where gRPC is served.
	Listener net.Listener
	// Database is sqlite:PATH or a postgres:// URL.
	Database string
	// BlobDir is where attachment content is kept.
	BlobDir string
	// DirectoryAddr is the directory service's gRPC address.
	DirectoryAddr string
	// Issuers are the token issuers whose keys the service knows; which of
	// them a state trusts is directory data.
	Issuers []identity.Issuer
	// MaxAttachmentBytes bounds one attachment; zero means 100 MiB.
	MaxAttachmentBytes int64
	// Watch bounds the watch streams (per user, per agency); the zero
	// value means the defaults.
	Watch request.WatchLimits
	// Transfers bounds the attachment uploads and downloads in progress
	// (total, per agency); the zero value means the defaults.
	Transfers request.TransferLimits
	// AuditAddr is the audit service's gRPC address; the outbox relay
	// delivers audit events there. Empty leaves them in the outbox.
	AuditAddr string
	// ServiceCredentials identify this service to the audit service.
	ServiceCredentials credentials.PerRPCCredentials
	// AuditDigestKey keys the request digests of the service's audit
	// events; every producing service of a deployment holds the same one.
	// Required.
	AuditDigestKey trail.DigestKey
	// TLS, when set, is the service's mTLS identity: it serves mTLS, to
	// the gateway only, and presents it to the directory and the audit
	// service.
	TLS *mtls.Identity
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
	// Logger and Metrics receive the service's logs and metrics.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// Run serves the request service until ctx ends, then shuts down
// gracefully.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Database == "" || cfg.BlobDir == "" || cfg.DirectoryAddr == "" {
		return errors.New("request service: Database, BlobDir and DirectoryAddr are required")
	}
	if len(cfg.AuditDigestKey) < trail.DigestKeySize {
		return errors.New("request service: AuditDigestKey is required (32 random bytes, the same for every producing service)")
	}
	log := cfg.Logger.With(zap.String("service", "request"))
	store, closeStore, ping, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer closeStore()
	blobs, err := fsblob.New(cfg.BlobDir)
	if err != nil {
		return fmt.Errorf("request service: attachments: %w", err)
	}
	conn, err := grpcclient.New(cfg.DirectoryAddr, grpcclient.Options{TLS: cfg.TLS, Server: mtls.Directory})
	if err != nil {
		return fmt.Errorf("request service: directory at %q: %w", cfg.DirectoryAddr, err)
	}
	defer conn.Close()
	dir := directoryclient.New(conn)
	svc, err := request.NewService(request.Config{
		// Watch streams ask about their agencies at most once per check
		// interval each, and must not get the answer of the last 30s: their
		// own client keeps nothing.
		Trust: directoryclient.New(conn, directoryclient.WithCacheTTL(0)),
		Store: store, Blobs: blobs, Directory: dir, MaxAttachmentBytes: cfg.MaxAttachmentBytes,
		Watch: cfg.Watch, Transfers: cfg.Transfers,
	})
	if err != nil {
		return err
	}
	verifier, err := identity.NewVerifier(cfg.Issuers, dir)
	if err != nil {
		return fmt.Errorf("request service: %w", err)
	}
	srv, err := grpcserver.New(grpcserver.Config{
		Name: "request", Listener: cfg.Listener, Logger: log, Metrics: cfg.Metrics, Auth: verifier,
		Audit: &grpcserver.AuditConfig{Service: "comity-request", Recorder: store, DigestKey: cfg.AuditDigestKey,
			MaxAnonymousAddresses: cfg.AuditAnonymousClients, AnonymousWindow: cfg.AuditAnonymousWindow},
		// Attachments arrive in chunks of at most 1 MiB.
		MaxRecvBytes: 2 << 20,
		TLS:          cfg.TLS, Callers: Callers, Ready: ping,
	})
	if err != nil {
		return err
	}
	requestv1.RegisterRequestServiceServer(srv.GRPC(), grpcapi.NewServer(svc))
	outboxMetrics, err := relay.NewMetrics(cfg.Metrics, "request")
	if err != nil {
		return err
	}
	return relay.RunBeside(ctx, srv.Serve, store, cfg.AuditAddr,
		grpcclient.Options{TLS: cfg.TLS, PerRPC: cfg.ServiceCredentials}, relay.Options{
			BacklogAlarm: cfg.AuditBacklogAlarm, Metrics: outboxMetrics, Logger: log,
			SetDeliveryHealthy: func(ok bool) { srv.SetHealth(trail.DeliveryHealthService, ok) },
		})
}

// Callers are who may call the request service over mTLS: the gateway, on
// its users' behalf. No other service has business with cases.
var Callers = mtls.Policy{
	mtls.Gateway: {"/" + requestv1.RequestService_ServiceDesc.ServiceName + "/*"},
}

// Store is the request store with the outbox its relay drains.
type Store interface {
	request.Store
	trail.Outbox
}

// OpenStore opens the request store at database (sqlite:PATH or a
// postgres:// URL), applying migrations, and returns it with its closer.
func OpenStore(ctx context.Context, database string) (Store, func(), error) {
	store, closeDB, _, err := openStore(ctx, database)
	return store, closeDB, err
}

func openStore(ctx context.Context, database string) (Store, func(), func(context.Context) error, error) {
	st, closeDB, ping, err := dburl.OpenStore(ctx, database,
		func(ctx context.Context, db *sqldb.DB) (Store, error) { return store.New(ctx, db) })
	if err != nil {
		return nil, nil, nil, fmt.Errorf("request database: %w", err)
	}
	return st, closeDB, ping, nil
}
