// Package requestd runs the comity-request service: it opens the store and
// the attachment blob store, connects to the directory, and serves the gRPC
// API until its context ends. The comity-request binary and comity-local
// both call Run.
package requestd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

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
	// Policy is the deadline policy (RegisterDeadlinePolicy); the zero
	// value means request.DefaultPolicy.
	Policy request.Policy
	// Retention is the retention policy (RegisterRetention); zero fields
	// mean the defaults.
	Retention Retention
	// Producer sets up the service's audit trail: its digest key (required),
	// the delivery of its outbox to the audit service, the aggregation of
	// unauthenticated calls.
	relay.Producer
	// TLS, when set, is the service's mTLS identity: it serves mTLS, to
	// the gateway only, and presents it to the directory and the audit
	// service.
	TLS *mtls.Identity
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
	if cfg.Policy.Acknowledge != nil {
		if err := cfg.Policy.Validate(); err != nil {
			return fmt.Errorf("request service: %w", err)
		}
	}
	log := cfg.Logger.With(zap.String("service", "request"))
	store, closeStore, ping, err := stores.OpenPing(ctx, cfg.Database)
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
	retention := cfg.Retention.withDefaults()
	svc, err := request.NewService(request.Config{
		// Watch streams ask about their agencies at most once per check
		// interval each, and must not get the answer of the last 30s: their
		// own client keeps nothing.
		Trust: directoryclient.New(conn, directoryclient.WithCacheTTL(0)),
		Store: store, Blobs: blobs, Directory: dir, MaxAttachmentBytes: cfg.MaxAttachmentBytes,
		Watch: cfg.Watch, Transfers: cfg.Transfers, Policy: cfg.Policy,
		Retention: retention.AfterClose,
		States: func(ctx context.Context) ([]string, error) {
			sts, err := dir.States(ctx)
			codes := make([]string, len(sts))
			for i, st := range sts {
				codes[i] = st.Code
			}
			return codes, err
		},
		OnSweep: func(rep request.SweepReport, err error) {
			if err != nil {
				log.Error("retention sweep", zap.Error(err), zap.Int("erased", rep.Erased), zap.Int("evidence_erased", rep.Evidence))
			}
			if len(rep.Skipped) > 0 {
				log.Warn("retention sweep: states skipped, their retention unknown", zap.Strings("states", rep.Skipped))
			}
			if rep.Erased+rep.Evidence+rep.Completed > 0 {
				log.Info("retention sweep", zap.Int("erased", rep.Erased), zap.Int("evidence_erased", rep.Evidence), zap.Int("completed", rep.Completed))
			}
		},
	})
	if err != nil {
		return err
	}
	// The sweeps stop before the store closes (defers run in reverse).
	sweepCtx, stopSweeps := context.WithCancel(ctx)
	var sweeps sync.WaitGroup
	sweeps.Go(func() { svc.RunSweeps(sweepCtx, retention.SweepInterval) })
	defer sweeps.Wait()
	defer stopSweeps()
	verifier, err := identity.NewVerifier(cfg.Issuers, dir)
	if err != nil {
		return fmt.Errorf("request service: %w", err)
	}
	srv, err := grpcserver.New(grpcserver.Config{
		Name: "request", Listener: cfg.Listener, Logger: log, Metrics: cfg.Metrics, Auth: verifier,
		Audit: cfg.AuditConfig("comity-request", store),
		// Attachments arrive in chunks of at most 1 MiB.
		MaxRecvBytes: 2 << 20,
		TLS:          cfg.TLS, Callers: Callers, Ready: ping,
	})
	if err != nil {
		return err
	}
	requestv1.RegisterRequestServiceServer(srv.GRPC(), grpcapi.NewServer(svc))
	return cfg.Serve(ctx, srv, store, "request", cfg.TLS, log, cfg.Metrics)
}

// RegisterDeadlinePolicy defines --deadline-policy on fs (and so
// COMITY_DEADLINE_POLICY): a deadline policy file (request.ParsePolicy says
// its format) read into *p when the flag is parsed, so that a bad file stops
// the binary before it starts anything, with the entry at fault named.
// Without the flag *p is left as it is.
func RegisterDeadlinePolicy(fs *flag.FlagSet, p *request.Policy) {
	fs.Func("deadline-policy", "JSON `file` of deadline periods by priority (acknowledge, answer), the preservation period, the confirmation period of a request recorded from a call and the request types executed before it (execute_before_confirmation), e.g. {\"acknowledge\": {\"URGENT\": \"12h\"}, \"preservation\": \"60d\", \"confirmation\": \"48h\"}; entries it does not name keep their defaults (README: The deadline policy)",
		func(path string) error {
			loaded, err := request.LoadPolicy(path)
			if err != nil {
				return err
			}
			*p = loaded
			return nil
		})
}

// Retention is the retention policy of a deployment (DESIGN §10).
type Retention struct {
	// AfterClose is how long a request's personal data and content are
	// kept after it is closed (or after its last change, never
	// transmitted), for a state whose directory entry sets none.
	AfterClose time.Duration
	// SweepInterval is how often the service looks for what is due.
	SweepInterval time.Duration
}

// DefaultSweepInterval is how often the retention sweep runs unless told.
const DefaultSweepInterval = time.Hour

func (r Retention) withDefaults() Retention {
	if r.AfterClose <= 0 {
		r.AfterClose = request.DefaultRetention
	}
	if r.SweepInterval <= 0 {
		r.SweepInterval = DefaultSweepInterval
	}
	return r
}

// RegisterRetention defines --retention-after-close and
// --retention-sweep-interval on fs (and so COMITY_RETENTION_AFTER_CLOSE and
// COMITY_RETENTION_SWEEP_INTERVAL), setting *r to the defaults first. Each
// must be at least a second.
func RegisterRetention(fs *flag.FlagSet, r *Retention) {
	*r = Retention{}.withDefaults()
	fs.Var((*atLeastSecond)(&r.AfterClose), "retention-after-close",
		"how long a request's personal data and content are kept after it is closed, or after its last change if it was never transmitted, before they are erased; a state's retention in the directory wins (README: Retention and erasure)")
	fs.Var((*atLeastSecond)(&r.SweepInterval), "retention-sweep-interval",
		"how often the service erases what its retention, or a DELETE_BY or RETURN condition, makes due")
}

// atLeastSecond is a duration flag of at least one second.
type atLeastSecond time.Duration

func (d *atLeastSecond) String() string { return time.Duration(*d).String() }

// Set parses a Go duration (90s, 720h) of at least a second.
func (d *atLeastSecond) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration such as 43800h or 90s: %q", s)
	}
	if v < time.Second {
		return fmt.Errorf("must be at least 1s; got %v", v)
	}
	*d = atLeastSecond(v)
	return nil
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
	return stores.Open(ctx, database)
}

// stores opens the request store on either engine.
var stores = dburl.Stores[Store]{What: "request database",
	New: func(ctx context.Context, db *sqldb.DB) (Store, error) { return store.New(ctx, db) },
}
