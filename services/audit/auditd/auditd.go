// Package auditd runs the comity-audit service: it opens the transparency
// log and its index, brings the index up to date with the log, and serves
// the gRPC API until its context ends. The comity-audit binary and
// comity-local both call Run.
package auditd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/audit/spool"
	"github.com/comity-mla/comity/services/audit/store"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/directory/directoryclient"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/grpcserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/trail"
)

// Config configures the audit service.
type Config struct {
	// Listener is where gRPC is served.
	Listener net.Listener
	// Database holds the index: sqlite:PATH or a postgres:// URL.
	Database string
	// LogDir holds the transparency log (tlog-tiles files under LogDir/log),
	// its keys (LogDir/public.key is the key to publish) and the auditors'
	// reads not yet logged (LogDir/ReadsSpoolFile).
	LogDir string
	// Origin names the log, and so the deployment, e.g. "comity.local/audit".
	Origin string
	// WitnessPolicy is the witness policy (C2SP policy text) checkpoints
	// must satisfy before they are published; it is written to
	// LogDir/witness-policy for auditors and given with each checkpoint.
	// Empty: checkpoints are not witnessed (a warning at start says so).
	WitnessPolicy []byte
	// AllowUnwitnessed acknowledges that a log that was witnessed runs
	// without WitnessPolicy from now on (tlog.Options.AllowUnwitnessed);
	// without it, such a start is refused.
	AllowUnwitnessed bool
	// DirectoryAddr is the directory's gRPC address: auditors' tokens are
	// checked against the issuers their state trusts.
	DirectoryAddr string
	// Issuers are the token issuers whose keys the service knows, the
	// service issuer among them.
	Issuers []identity.Issuer
	// ServiceIssuer is the issuer of the services' own tokens; only they
	// may append.
	ServiceIssuer string
	// TLS, when set, is the service's mTLS identity: it serves mTLS, to
	// the callers Callers names, and presents it to the directory.
	TLS *mtls.Identity
	// AuditDigestKey keys the request digests of the service's own events
	// (auditors' reads, denied calls), as the producing services key
	// theirs: the deployment's one key. Required.
	AuditDigestKey trail.DigestKey
	// Logger and Metrics receive the service's logs and metrics.
	Logger  *zap.Logger
	Metrics prometheus.Registerer
}

// ReadsSpoolFile is the file under Config.LogDir that keeps auditors'
// reads from their answer until they are in the log (package spool). It
// moves with the log's volume.
const ReadsSpoolFile = "reads.spool"

// Run serves the audit service until ctx ends, then shuts down gracefully:
// entries already accepted are integrated into the log before it returns.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Database == "" || cfg.LogDir == "" || cfg.Origin == "" || cfg.DirectoryAddr == "" {
		return errors.New("audit service: Database, LogDir, Origin and DirectoryAddr are required")
	}
	if len(cfg.AuditDigestKey) < trail.DigestKeySize {
		return errors.New("audit service: AuditDigestKey is required (32 random bytes, the same as the producing services')")
	}
	log := cfg.Logger.With(zap.String("service", "audit"))
	// Tessera logs through klog; send it to this service's logger, where
	// its progress lines are debug detail and its failures warnings.
	tw := newTesseraLog(log.With(zap.String("component", "tessera")))
	klog.LogToStderr(false)
	klog.SetOutput(tw)
	index, closeIndex, ping, err := indexes.OpenPing(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer closeIndex()
	tl, err := tlog.Open(ctx, cfg.LogDir, tlog.Options{Origin: cfg.Origin, WitnessPolicy: cfg.WitnessPolicy, AllowUnwitnessed: cfg.AllowUnwitnessed})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := tw.register(cfg.Metrics, tl); err != nil {
		_ = tl.Close(ctx)
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := tl.Close(sctx); err != nil {
			log.Error("closing the audit log", zap.Error(err))
		}
	}()
	if err := checkWitnessed(ctx, tl, log); err != nil {
		return err
	}
	// Under the log's writer lock, which covers it too.
	sp, err := spool.Open(filepath.Join(cfg.LogDir, ReadsSpoolFile))
	if err != nil {
		return err
	}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Error("closing the auditors' reads spool", zap.Error(err))
		}
	}()
	if sp.MachineStopped() {
		log.Error("the machine stopped while the audit service ran: auditors' reads answered in the moments " +
			"before it may be missing from the audit trail (they were written to " + ReadsSpoolFile + " but not yet synced)")
	}
	svc := audit.NewService(LogAdapter{tl}, index, nil, audit.WithSpool(sp), audit.WithWitnessPolicy(tl.WitnessPolicy()))
	if err := svc.Recover(ctx); err != nil {
		return err
	}
	// Before the log and the index close (deferred calls run last first):
	// the index writes still queued finish, so that the next start has
	// nothing to rebuild.
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := svc.Flush(fctx); err != nil {
			log.Error("indexing the last audit events; the next start indexes them from the log", zap.Error(err))
		}
	}()
	conn, err := grpcclient.New(cfg.DirectoryAddr, grpcclient.Options{TLS: cfg.TLS, Server: mtls.Directory})
	if err != nil {
		return fmt.Errorf("audit service: directory at %q: %w", cfg.DirectoryAddr, err)
	}
	defer conn.Close()
	var opts []identity.VerifierOption
	if cfg.ServiceIssuer != "" {
		opts = append(opts, identity.WithServiceIssuers(cfg.ServiceIssuer))
	}
	verifier, err := identity.NewVerifier(cfg.Issuers, directoryclient.New(conn), opts...)
	if err != nil {
		return fmt.Errorf("audit service: %w", err)
	}
	srv, err := grpcserver.New(grpcserver.Config{
		Name: "audit", Listener: cfg.Listener, Logger: log, Metrics: cfg.Metrics, Auth: verifier,
		// The audit service records its own denied calls straight into
		// the log.
		Audit: &grpcserver.AuditConfig{Service: "comity-audit", Recorder: svc, DigestKey: cfg.AuditDigestKey},
		// An Append carries up to 1000 events.
		MaxRecvBytes: 8 << 20,
		TLS:          cfg.TLS, Callers: Callers, Ready: ping,
	})
	if err != nil {
		return err
	}
	auditv1.RegisterAuditServiceServer(srv.GRPC(), grpcapi.NewServer(svc))
	return srv.Serve(ctx)
}

// checkWitnessed refuses to serve a log older than what its witnesses
// cosigned (tlog.Log.CheckWitnessed), before anything is appended to it,
// and says at start whether checkpoints are witnessed.
func checkWitnessed(ctx context.Context, tl *tlog.Log, log *zap.Logger) error {
	if tl.WitnessPolicy() == nil {
		log.Warn("checkpoints are not witnessed: no witness policy given (--witness-policy); " +
			"auditors must trust the operator not to fork the audit log")
		return nil
	}
	skipped, err := tl.CheckWitnessed(ctx, tlog.DefaultWitnessCheckTimeout)
	for _, s := range skipped {
		log.Warn("could not compare the audit log with a witness's latest checkpoint; skipped", zap.Error(s))
	}
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	log.Info("checkpoints are witnessed", zap.String("policy_file", filepath.Join(tl.Dir(), tlog.WitnessPolicyFile)))
	return nil
}

// Callers are who may call the audit service over mTLS: the producing
// services (audit.Producers) append, and only append; the gateway calls the
// auditors' methods on their behalf, never Append.
var Callers = producersAppend(mtls.Policy{
	mtls.Gateway: {
		auditv1.AuditService_GetCheckpoint_FullMethodName,
		auditv1.AuditService_ListEntries_FullMethodName,
		auditv1.AuditService_GetEntry_FullMethodName,
		auditv1.AuditService_GetConsistencyProof_FullMethodName,
		auditv1.AuditService_ExportBundle_FullMethodName,
	},
})

// producersAppend returns p with each of audit.Producers allowed to call
// Append and nothing else.
func producersAppend(p mtls.Policy) mtls.Policy {
	for _, name := range audit.Producers {
		p[name] = []string{auditv1.AuditService_Append_FullMethodName}
	}
	return p
}

// LogAdapter presents a tlog.Log as the audit.Log the domain uses.
type LogAdapter struct{ *tlog.Log }

var _ audit.Log = LogAdapter{}

// Checkpoint returns the latest checkpoint.
func (a LogAdapter) Checkpoint(ctx context.Context) (audit.Checkpoint, error) {
	cp, err := a.Log.Checkpoint(ctx)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	return audit.Checkpoint{Note: cp.Note, Origin: cp.Origin, Size: cp.Size, RootHash: cp.RootHash}, nil
}

// OpenIndex opens the audit index at database (sqlite:PATH or a postgres://
// URL), applying migrations, and returns it with its closer.
func OpenIndex(ctx context.Context, database string) (audit.Index, func(), error) {
	return indexes.Open(ctx, database)
}

// indexes opens the audit index on either engine.
var indexes = dburl.Stores[audit.Index]{What: "audit index",
	New: func(ctx context.Context, db *sqldb.DB) (audit.Index, error) { return store.New(ctx, db) },
}
