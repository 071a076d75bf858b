// Command comity-local runs the whole Comity suite in one process: the
// directory, request and audit services and the REST gateway, each on its own
// loopback port and talking real gRPC, with every file under one data
// directory. It needs no database server and no setup.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
)

func main() {
	fs := flag.NewFlagSet("comity-local", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "console", "127.0.0.1:9090")
	common.RegisterIssuers(fs)
	common.RegisterTLS(fs, "")
	common.RegisterAuditBacklogAlarm(fs)
	common.RegisterAuditAnonymousClients(fs)
	common.RegisterHTTP(fs)
	httpsCert := fs.String("https-cert", "", "PEM certificate for the gateway to serve HTTPS with (with --https-key); HTTP without")
	httpsKey := fs.String("https-key", "", "PEM private key of --https-cert")
	perSecond := fs.Float64("rate-limit", 50, "calls a second each agency may make through the gateway on average (0: no limit)")
	burst := fs.Int("rate-burst", 100, "calls an agency may make at once above its average")
	dataDir := fs.String("data-dir", "./var", "directory holding every database, key and file of the suite")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "gateway HTTP address")
	directoryAddr := fs.String("directory-addr", "127.0.0.1:9101", "directory gRPC address")
	requestAddr := fs.String("request-addr", "127.0.0.1:9102", "request gRPC address")
	auditAddr := fs.String("audit-addr", "127.0.0.1:9103", "audit gRPC address")
	maxBody := fs.Int64("max-body-bytes", 1<<20, "largest JSON request body the gateway accepts")
	origin := fs.String("audit-origin", "comity.local/audit", "origin of the audit log: names this deployment in its signed checkpoints")
	maxAttachment := fs.Int64("max-attachment-bytes", 100<<20, "largest attachment accepted")
	watchPerUser := fs.Int("watch-streams-per-user", request.DefaultWatchPerUser, "open watch streams (GET /v1/requests:watch) one user may hold at once")
	watchPerAgency := fs.Int("watch-streams-per-agency", request.DefaultWatchPerAgency, "open watch streams the users of one agency may hold at once")
	var origins config.Strings
	fs.Var(&origins, "cors-origin", "browser origin allowed to call the API (repeatable); none disables CORS")

	os.Exit(cli.Main("comity-local", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		dev, err := identity.EnsureDevIssuer(*dataDir)
		if err != nil {
			return fmt.Errorf("dev issuer: %w", err)
		}
		svcIssuer, err := identity.EnsureServiceIssuer(*dataDir)
		if err != nil {
			return fmt.Errorf("service issuer: %w", err)
		}
		// The producing services key the request digests of their audit
		// events with one secret of the deployment.
		digestKey, err := audit.EnsureDigestKey(filepath.Join(*dataDir, "audit", "digest.key"))
		if err != nil {
			return err
		}
		creds := map[string]*identity.ServiceCredentials{}
		for _, name := range []string{"comity-directory", "comity-request"} {
			if creds[name], err = identity.NewServiceCredentials(*dataDir, name); err != nil {
				return err
			}
		}
		issuers, err := common.IdentityIssuers()
		if err != nil {
			return err
		}
		issuers = append(issuers, dev)
		// mTLS between the services by default, with certificates from a
		// development CA of this data directory unless --cert-dir names
		// others.
		if common.CertDir == "" {
			common.CertDir = filepath.Join(*dataDir, "certs")
			if !common.Plaintext {
				if err := mtls.EnsureDev(common.CertDir); err != nil {
					return err
				}
			}
		}
		ids := map[string]*mtls.Identity{}
		for _, name := range mtls.Identities {
			if ids[name], err = common.TLSIdentity(name); err != nil {
				return err
			}
		}

		// Bind every port before starting anything, so that a port in use
		// fails the start instead of leaving half a suite running.
		// Every listener draws on the one bound of the process's
		// connections (env.Conns), which keeps descriptors free for the
		// databases and the audit log; each has its own bound per client,
		// so that clients of the gateway, all on 127.0.0.1 here, cannot
		// take the places of the gateway's own connections to the
		// services.
		var ls [4]net.Listener
		names := []string{"directory", "request", "audit", "gateway"}
		for i, addr := range []string{*directoryAddr, *requestAddr, *auditAddr, *httpAddr} {
			if ls[i], err = env.Conns.Listen(addr, names[i]); err != nil {
				for _, l := range ls[:i] {
					l.Close()
				}
				return err
			}
		}
		scheme := "http://"
		if *httpsCert != "" {
			scheme = "https://"
		}
		env.Logger.Info("comity-local starting",
			zap.String("data_dir", *dataDir), zap.String("gateway", scheme+ls[3].Addr().String()),
			zap.Bool("mtls", !common.Plaintext), zap.String("cert_dir", common.CertDir),
			zap.String("dev_issuer_jwks", dev.JWKS),
			zap.String("audit_public_key", filepath.Join(*dataDir, "audit", "public.key")))

		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			return directoryd.Run(ctx, directoryd.Config{
				Listener: ls[0], Database: "sqlite:" + filepath.Join(*dataDir, "directory.db"),
				Issuers: issuers, SeedTrustedIssuers: []string{dev.ID},
				AuditAddr: ls[2].Addr().String(), ServiceCredentials: creds["comity-directory"], AuditBacklogAlarm: common.AuditBacklogAlarm, AuditAnonymousClients: common.AuditAnonymousClients, TLS: ids[mtls.Directory],
				AuditDigestKey: digestKey, Logger: env.Logger, Metrics: env.Metrics,
			})
		})
		g.Go(func() error {
			return requestd.Run(ctx, requestd.Config{
				Listener: ls[1], Database: "sqlite:" + filepath.Join(*dataDir, "request.db"),
				BlobDir: filepath.Join(*dataDir, "attachments"), DirectoryAddr: ls[0].Addr().String(),
				Issuers: issuers, MaxAttachmentBytes: *maxAttachment,
				Watch:     request.WatchLimits{PerUser: *watchPerUser, PerAgency: *watchPerAgency},
				AuditAddr: ls[2].Addr().String(), ServiceCredentials: creds["comity-request"], AuditBacklogAlarm: common.AuditBacklogAlarm, AuditAnonymousClients: common.AuditAnonymousClients, TLS: ids[mtls.Request],
				AuditDigestKey: digestKey, Logger: env.Logger, Metrics: env.Metrics,
			})
		})
		g.Go(func() error {
			return auditd.Run(ctx, auditd.Config{
				Listener: ls[2], Database: "sqlite:" + filepath.Join(*dataDir, "audit.db"),
				LogDir: filepath.Join(*dataDir, "audit"), Origin: *origin, DirectoryAddr: ls[0].Addr().String(),
				Issuers: append(slices.Clone(issuers), svcIssuer), ServiceIssuer: svcIssuer.ID, TLS: ids[mtls.Audit],
				AuditDigestKey: digestKey, Logger: env.Logger, Metrics: env.Metrics,
			})
		})
		g.Go(func() error {
			return gateway.Run(ctx, gateway.Config{
				Listener: ls[3], DirectoryAddr: ls[0].Addr().String(), RequestAddr: ls[1].Addr().String(), AuditAddr: ls[2].Addr().String(),
				MaxBodyBytes: *maxBody, MaxAttachmentBytes: *maxAttachment, CORSOrigins: origins,
				TLS: ids[mtls.Gateway], HTTPSCertFile: *httpsCert, HTTPSKeyFile: *httpsKey,
				RateLimit: gateway.RateLimit{PerSecond: *perSecond, Burst: *burst}, Issuers: issuers, HTTP: common.HTTP,
				Logger: env.Logger.With(zap.String("service", "gateway")), Metrics: env.Metrics,
			})
		})
		return g.Wait()
	}))
}
