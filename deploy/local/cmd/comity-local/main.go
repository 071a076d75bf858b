// Command comity-local runs the whole Comity suite in one process: the
// directory, request and audit services and the REST gateway, each on its own
// loopback port and talking real gRPC, with every file under one data
// directory. It needs no database server and no setup.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/gateway/cliauth"
	"github.com/comity-mla/comity/gateway/console"
	"github.com/comity-mla/comity/gateway/console/devprovider"
	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/httpserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
	"github.com/comity-mla/comity/services/witness/witnessd"
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
	common.RegisterInternalReserve(fs)
	httpsCert := fs.String("https-cert", "", "PEM certificate for the gateway to serve HTTPS with (with --https-key); HTTP without")
	httpsKey := fs.String("https-key", "", "PEM private key of --https-cert")
	perSecond := fs.Float64("rate-limit", 50, "calls a second each agency may make through the gateway on average (0: no limit)")
	burst := fs.Int("rate-burst", 100, "calls an agency may make at once above its average")
	dataDir := fs.String("data-dir", "./var", "directory holding every database, key and file of the suite")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "gateway HTTP address")
	directoryAddr := fs.String("directory-addr", "127.0.0.1:9101", "directory gRPC address")
	requestAddr := fs.String("request-addr", "127.0.0.1:9102", "request gRPC address")
	auditAddr := fs.String("audit-addr", "127.0.0.1:9103", "audit gRPC address")
	witnessAddrs := fs.String("witness-addrs", "127.0.0.1:9104,127.0.0.1:9105,127.0.0.1:9106,127.0.0.1:9107,127.0.0.1:9108",
		"HTTP addresses of the witnesses of KG, KZ, TJ, TM and UZ, comma-separated, in that order")
	maxBody := fs.Int64("max-body-bytes", 1<<20, "largest JSON request body the gateway accepts")
	origin := fs.String("audit-origin", "comity.local/audit", "origin of the audit log: names this deployment in its signed checkpoints")
	maxAttachment := fs.Int64("max-attachment-bytes", 100<<20, "largest attachment accepted")
	devOIDCAddr := fs.String("dev-oidc-addr", "127.0.0.1:8079", "address of the DEVELOPMENT-ONLY OpenID provider the console signs in with (empty: no console)")
	watchPerUser := fs.Int("watch-streams-per-user", request.DefaultWatchPerUser, "open watch streams (GET /v1/requests:watch) one user may hold at once")
	watchPerAgency := fs.Int("watch-streams-per-agency", request.DefaultWatchPerAgency, "open watch streams the users of one agency may hold at once")
	var transfers request.TransferLimits
	transfers.RegisterFlags(fs)
	var policy request.Policy
	requestd.RegisterDeadlinePolicy(fs, &policy)
	var retention requestd.Retention
	requestd.RegisterRetention(fs, &retention)
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
		digestKey, err := trail.EnsureDigestKey(filepath.Join(*dataDir, "audit", "digest.key"))
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
		seedIssuers := []string{dev.ID}
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

		// The attachment files in transfer must fit beside the
		// connections.
		if err := transfers.Fit(env.Conns.Spare()); err != nil {
			return err
		}
		// Bind every port before starting anything, so that a port in use
		// fails the start instead of leaving half a suite running.
		// Every listener draws on the one bound of the process's
		// connections (env.Conns), which keeps descriptors free for the
		// databases and the audit log. The gateway's and the development
		// OpenID provider's are public: they may not take the last
		// --internal-conns-reserve places, which only the services'
		// listeners (and /metrics) may, so that a flood of the gateway from
		// any number of addresses cannot block the services' gRPC
		// connections to each other. Each listener also has its own bound
		// per client address, so that one address cannot take the places
		// of every other on the gateway.
		addrs := []string{*directoryAddr, *requestAddr, *auditAddr, *httpAddr}
		names := []string{"directory", "request", "audit", "gateway"}
		if *devOIDCAddr != "" {
			addrs, names = append(addrs, *devOIDCAddr), append(names, "dev-oidc")
		}
		// The states' witnesses come last: ls[len(ls)-5:].
		wAddrs := strings.Split(*witnessAddrs, ",")
		if len(wAddrs) != len(witnessStates) {
			return fmt.Errorf("--witness-addrs: want %d addresses (of %s, in that order), got %d", len(witnessStates), strings.Join(witnessStates, ", "), len(wAddrs))
		}
		for i, a := range wAddrs {
			addrs, names = append(addrs, strings.TrimSpace(a)), append(names, "witness-"+strings.ToLower(witnessStates[i]))
		}
		ls := make([]net.Listener, len(addrs))
		for i, addr := range addrs {
			listen := env.Conns.Listen
			if names[i] == "gateway" || names[i] == "dev-oidc" {
				listen = env.Conns.ListenPublic
			}
			if ls[i], err = listen(addr, names[i]); err != nil {
				for _, l := range ls[:i] {
					l.Close()
				}
				return err
			}
		}
		witnesses, witnessPolicy, err := localWitnesses(*dataDir, *origin, ls[len(ls)-len(witnessStates):])
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return err
		}
		scheme := "http://"
		if *httpsCert != "" {
			scheme = "https://"
		}
		// The console signs users in with a development OpenID provider on
		// its own port, whose issuer every state of a new directory trusts
		// and whose tokens the dev issuer's key signs.
		consoleURL := scheme + ls[3].Addr().String() + "/"
		var consoleCfg *console.Config
		var devOP *devprovider.Provider
		if *devOIDCAddr != "" {
			opIssuer := "http://" + ls[4].Addr().String()
			issuers = append(issuers, identity.Issuer{ID: opIssuer, JWKS: dev.JWKS})
			seedIssuers = append(seedIssuers, opIssuer)
			secret, err := console.EnsureSessionSecret(filepath.Join(*dataDir, "console-session.key"))
			if err != nil {
				return err
			}
			clientSecret := fmt.Sprintf("%x", sha256.Sum256(append([]byte("comity-local console client\x00"), secret...)))
			devOP, err = devprovider.New(devprovider.Config{
				Issuer: opIssuer, SigningKeyFile: filepath.Join(filepath.Dir(dev.JWKS), "signing-key.jwk"),
				Clients: []devprovider.Client{{ID: "comity-console", Secret: clientSecret,
					RedirectURIs:           []string{strings.TrimSuffix(consoleURL, "/") + "/signin/callback"},
					PostLogoutRedirectURIs: []string{strings.TrimSuffix(consoleURL, "/") + "/signin"}},
					// comityctl login signs in here by the device grant.
					{ID: cliauth.DefaultClientID, Device: true}},
			})
			if err != nil {
				return err
			}
			consoleCfg = &console.Config{
				PublicURL: strings.TrimSuffix(consoleURL, "/"), SessionSecret: secret,
				Providers: []console.Provider{{
					ID: "dev", Name: "Comity development provider (DEVELOPMENT ONLY)", Issuer: opIssuer,
					ClientID: "comity-console", ClientSecret: clientSecret, States: []string{"KG", "KZ", "TJ", "TM", "UZ"},
				}},
			}
			env.Logger.Warn("DEVELOPMENT ONLY: an OpenID provider that lets anyone sign in as anyone is serving", zap.String("issuer", opIssuer))
		}
		env.Logger.Info("comity-local starting",
			zap.String("console", consoleURL), zap.String("data_dir", *dataDir), zap.String("gateway", scheme+ls[3].Addr().String()),
			zap.Bool("mtls", !common.Plaintext), zap.String("cert_dir", common.CertDir),
			zap.String("dev_issuer_jwks", dev.JWKS),
			zap.String("audit_public_key", filepath.Join(*dataDir, "audit", "public.key")),
			zap.String("witness_policy", filepath.Join(*dataDir, "audit", tlog.WitnessPolicyFile)),
			zap.String("witnesses", filepath.Join(*dataDir, "witness")))

		// The producing services' audit trail: delivered to the audit
		// service beside them, signed with each one's own credentials.
		producer := func(service string) relay.Producer {
			return relay.Producer{AuditAddr: ls[2].Addr().String(), ServiceCredentials: creds[service], AuditDigestKey: digestKey,
				AuditBacklogAlarm: common.AuditBacklogAlarm, AuditAnonymousClients: common.AuditAnonymousClients}
		}
		// The witnesses stop last: the audit log integrates what it
		// accepted before it closes, and its last checkpoints need them.
		// A witness that fails stops everything.
		ctx, stopAll := context.WithCancel(ctx)
		defer stopAll()
		wctx, stopWitnesses := context.WithCancel(context.WithoutCancel(ctx))
		defer stopWitnesses()
		var wg errgroup.Group
		for _, w := range witnesses {
			wg.Go(func() error {
				cfg := w.cfg
				cfg.HTTP, cfg.Logger, cfg.Metrics = common.HTTP, env.Logger.With(zap.String("witness", cfg.Name)), env.Metrics
				err := witnessd.Run(wctx, cfg)
				if err != nil {
					stopAll()
				}
				return err
			})
		}
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			return directoryd.Run(ctx, directoryd.Config{
				Listener: ls[0], Database: "sqlite:" + filepath.Join(*dataDir, "directory.db"),
				Issuers: issuers, SeedTrustedIssuers: seedIssuers,
				Producer: producer("comity-directory"), TLS: ids[mtls.Directory], Logger: env.Logger, Metrics: env.Metrics,
			})
		})
		g.Go(func() error {
			return requestd.Run(ctx, requestd.Config{
				Listener: ls[1], Database: "sqlite:" + filepath.Join(*dataDir, "request.db"),
				BlobDir: filepath.Join(*dataDir, "attachments"), DirectoryAddr: ls[0].Addr().String(),
				Issuers: issuers, MaxAttachmentBytes: *maxAttachment,
				Watch:     request.WatchLimits{PerUser: *watchPerUser, PerAgency: *watchPerAgency},
				Transfers: transfers,
				Policy:    policy,
				Retention: retention,
				Producer:  producer("comity-request"), TLS: ids[mtls.Request], Logger: env.Logger, Metrics: env.Metrics,
			})
		})
		g.Go(func() error {
			return auditd.Run(ctx, auditd.Config{
				Listener: ls[2], Database: "sqlite:" + filepath.Join(*dataDir, "audit.db"),
				LogDir: filepath.Join(*dataDir, "audit"), Origin: *origin, WitnessPolicy: witnessPolicy, DirectoryAddr: ls[0].Addr().String(),
				Issuers: append(slices.Clone(issuers), svcIssuer), ServiceIssuer: svcIssuer.ID, TLS: ids[mtls.Audit],
				AuditDigestKey: digestKey, Logger: env.Logger, Metrics: env.Metrics,
			})
		})
		g.Go(func() error {
			return gateway.Run(ctx, gateway.Config{
				Listener: ls[3], DirectoryAddr: ls[0].Addr().String(), RequestAddr: ls[1].Addr().String(), AuditAddr: ls[2].Addr().String(),
				MaxBodyBytes: *maxBody, MaxAttachmentBytes: *maxAttachment, CORSOrigins: origins,
				TLS: ids[mtls.Gateway], HTTPSCertFile: *httpsCert, HTTPSKeyFile: *httpsKey,
				RateLimit: gateway.RateLimit{PerSecond: *perSecond, Burst: *burst}, Issuers: issuers, HTTP: common.HTTP, Console: consoleCfg,
				Logger: env.Logger.With(zap.String("service", "gateway")), Metrics: env.Metrics,
			})
		})
		if devOP != nil {
			g.Go(func() error {
				return httpserver.Serve(ctx, ls[4], devOP, env.Logger.With(zap.String("service", "dev-oidc")), 5*time.Second, common.HTTP)
			})
		}
		// One after the other: both update the states, each with the
		// state's etag.
		g.Go(func() error {
			// Not fatal: the console still works for a state whose
			// administrator adds the issuer by hand.
			if devOP != nil {
				if err := trustDevOIDC(ctx, *dataDir, ls[0].Addr().String(), ids[mtls.Gateway], devOP.Issuer(), env.Logger); err != nil && ctx.Err() == nil {
					env.Logger.Warn("could not make every state trust the development OpenID provider; the console's sign-in will be refused for those states",
						zap.String("issuer", devOP.Issuer()), zap.Error(err))
				}
			}
			// Not fatal either: the audit log follows its policy file
			// whatever the directory records.
			if err := recordWitnesses(ctx, *dataDir, ls[0].Addr().String(), ids[mtls.Gateway], witnesses, env.Logger); err != nil && ctx.Err() == nil {
				env.Logger.Warn("could not record every state's witness in the directory; comityctl audit policy will not derive the policy the audit log follows",
					zap.Error(err))
			}
			return nil
		})
		err = g.Wait()
		stopWitnesses()
		return errors.Join(err, wg.Wait())
	}))
}
