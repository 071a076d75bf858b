package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/gateway/console"
	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/connlimit"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/httpserver"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
	"github.com/comity-mla/comity/services/witness/witnessdtest"
)

// suite is the whole Comity suite in this process, each server on its own
// loopback port talking real gRPC, as comity-local runs it.
type suite struct {
	t       testing.TB
	baseURL string
	dataDir string
	// addrs are the gRPC addresses of the services by name ("directory",
	// "request", "audit"); grpcConn dials them.
	addrs map[string]string
	// ids are the mTLS identities of the suite's parts, by name.
	ids map[string]*mtls.Identity
	// databases are the services' --database settings by name, for tests
	// that open a service's store beside it (as an operator's tool would).
	databases map[string]string
	// witnessPolicy is the audit log's witness policy (suiteOptions.witnesses).
	witnessPolicy []byte
	stop          func()
	// conns bounds the connections of the suite's four listeners, as
	// comity-local's does.
	conns *connlimit.Guard
	// stopAudit takes only the audit service down; restartAudit brings it
	// back on the same address and waits until the suite is ready again.
	stopAudit, restartAudit func()
	// http is the client of the gateway: http.DefaultClient, or over HTTPS
	// one that trusts the gateway's certificate and speaks HTTP/2.
	http *http.Client
}

type suiteOptions struct {
	dataDir string
	// extraIssuers are known to the services (their keys) but trusted by no
	// state until an administrator says so.
	extraIssuers []identity.Issuer
	maxBody      int64
	// maxAttachment bounds uploads (default 100 MiB).
	maxAttachment int64
	// postgres keeps the directory's and the request service's data in
	// PostgreSQL, each in a fresh database of its own (their migration
	// records would clash in one), instead of SQLite files in dataDir. The
	// test is skipped without COMITY_TEST_POSTGRES.
	postgres bool
	// corsOrigins are the browser origins allowed (CORS is off without).
	corsOrigins []string
	// rateLimit bounds each agency's calls through the gateway (none
	// when zero).
	rateLimit gateway.RateLimit
	// logger, when set, receives every server's logs.
	logger *zap.Logger
	// watch bounds the request service's watch streams (defaults when
	// zero).
	watch request.WatchLimits
	// http bounds slow HTTP clients as comity-local's flags do (defaults
	// when zero).
	http httpserver.Options
	// maxConns and maxConnsPerClient bound the suite's connections as
	// comity-local's --max-conns and --max-conns-per-client do (0: the
	// defaults of the flags).
	maxConns, maxConnsPerClient int
	// trustedIssuers are known to the services and trusted by every state
	// of the seed, as the dev issuer is.
	trustedIssuers []identity.Issuer
	// console, when set, gives the gateway's console configuration for the
	// suite's base URL.
	console func(baseURL string) *console.Config
	// internalReserve is comity-local's --internal-conns-reserve: places
	// of maxConns the gateway (a public listener) may not take (0: 64).
	internalReserve int
	// transfers bounds the request service's attachment transfers
	// (defaults when zero).
	transfers request.TransferLimits
	// httpsCert and httpsKey make the gateway serve HTTPS (and HTTP/2) with
	// this certificate; baseURL is then https://.
	httpsCert, httpsKey string
	// quiet discards the servers' logs. Benchmarks need it: the test logger
	// buffers every line for the whole run.
	quiet bool
	// metrics, when set, receives the directory's and the request
	// service's metrics, as comity-local's registry does.
	metrics prometheus.Registerer
	// backlogAlarm is the producers' --audit-backlog-alarm (default 5m).
	backlogAlarm time.Duration
	// retention is the request service's retention policy (DESIGN §10;
	// the defaults when zero): shortened, a test sees requests erased.
	retention requestd.Retention
	// anonymousWindow is the span of the producers' aggregate events of
	// unauthenticated calls (default a minute): shortened, a test sees
	// them written and delivered.
	anonymousWindow time.Duration
	// witnesses, when set, starts that many real witnesses (comity-witness
	// servers on loopback, SQLite each) and has the audit log publish only
	// checkpoints more than half of them cosigned; the suite's
	// witnessPolicy is then the policy (an auditor's own copy).
	witnesses int
}

func startSuite(t testing.TB, opt suiteOptions) *suite {
	t.Helper()
	if opt.dataDir == "" {
		opt.dataDir = t.TempDir()
	}
	directoryDB := "sqlite:" + filepath.Join(opt.dataDir, "directory.db")
	requestDB := "sqlite:" + filepath.Join(opt.dataDir, "request.db")
	auditDB := "sqlite:" + filepath.Join(opt.dataDir, "audit.db")
	if opt.postgres {
		directoryDB, requestDB, auditDB = pgtest.NewDatabase(t), pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	}
	dev, err := identity.EnsureDevIssuer(opt.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	seedIssuers := []string{dev.ID}
	for _, iss := range opt.trustedIssuers {
		seedIssuers = append(seedIssuers, iss.ID)
	}
	opt.extraIssuers = append(slices.Clone(opt.trustedIssuers), opt.extraIssuers...)
	svcIssuer, err := identity.EnsureServiceIssuer(opt.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	dirCreds, err := identity.NewServiceCredentials(opt.dataDir, "comity-directory")
	if err != nil {
		t.Fatal(err)
	}
	reqCreds, err := identity.NewServiceCredentials(opt.dataDir, "comity-request")
	if err != nil {
		t.Fatal(err)
	}
	digestKey, err := trail.EnsureDigestKey(filepath.Join(opt.dataDir, "audit", "digest.key"))
	if err != nil {
		t.Fatal(err)
	}
	// mTLS between every part, as comity-local runs it.
	certDir := filepath.Join(opt.dataDir, "certs")
	if err := mtls.EnsureDev(certDir); err != nil {
		t.Fatal(err)
	}
	ids := map[string]*mtls.Identity{}
	for _, name := range mtls.Identities {
		if ids[name], err = mtls.Load(mtls.FilesIn(certDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	logger := zap.NewNop()
	switch {
	case opt.logger != nil:
		logger = opt.logger
	case !opt.quiet:
		logger = zaptest.NewLogger(t)
	}
	// The listeners and their bounds are comity-local's (cli.Main builds
	// the Guard there).
	if opt.maxConnsPerClient == 0 {
		opt.maxConnsPerClient = 512
	}
	if opt.internalReserve == 0 {
		opt.internalReserve = 64
	}
	conns, err := connlimit.New(connlimit.Config{MaxConns: opt.maxConns, MaxConnsPerClient: opt.maxConnsPerClient,
		InternalReserve: opt.internalReserve, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var ls [4]net.Listener
	for i, name := range []string{"directory", "request", "audit", "gateway"} {
		listen := conns.Listen
		if name == "gateway" {
			listen = conns.ListenPublic
		}
		if ls[i], err = listen("127.0.0.1:0", name); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return directoryd.Run(ctx, directoryd.Config{
			Listener: ls[0], Database: directoryDB,
			Issuers: append([]identity.Issuer{dev}, opt.extraIssuers...), SeedTrustedIssuers: seedIssuers,
			Producer: relay.Producer{AuditAddr: ls[2].Addr().String(), ServiceCredentials: dirCreds,
				AuditBacklogAlarm: opt.backlogAlarm, AuditAnonymousWindow: opt.anonymousWindow, AuditDigestKey: digestKey},
			TLS: ids[mtls.Directory], Logger: logger, Metrics: opt.metrics,
		})
	})
	g.Go(func() error {
		return requestd.Run(ctx, requestd.Config{
			Listener: ls[1], Database: requestDB,
			BlobDir: filepath.Join(opt.dataDir, "attachments"), DirectoryAddr: ls[0].Addr().String(),
			Issuers: append([]identity.Issuer{dev}, opt.extraIssuers...), MaxAttachmentBytes: opt.maxAttachment,
			Watch: opt.watch, Transfers: opt.transfers, Retention: opt.retention,
			Producer: relay.Producer{AuditAddr: ls[2].Addr().String(), ServiceCredentials: reqCreds,
				AuditBacklogAlarm: opt.backlogAlarm, AuditAnonymousWindow: opt.anonymousWindow, AuditDigestKey: digestKey},
			TLS: ids[mtls.Request], Logger: logger, Metrics: opt.metrics,
		})
	})
	// The audit service runs under a context of its own, so that a test can
	// stop it alone (an outage) and start it again.
	var witnessPolicy []byte
	if opt.witnesses > 0 {
		witnessPolicy = startWitnesses(t, filepath.Join(opt.dataDir, "audit"), opt.witnesses)
	}
	var stopAudit func()
	runAudit := func(l net.Listener) {
		actx, acancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		g.Go(func() error {
			err := auditd.Run(actx, auditd.Config{
				Listener: l, Database: auditDB, LogDir: filepath.Join(opt.dataDir, "audit"), Origin: suiteAuditOrigin,
				WitnessPolicy: witnessPolicy, DirectoryAddr: ls[0].Addr().String(), Issuers: append([]identity.Issuer{dev, svcIssuer}, opt.extraIssuers...),
				ServiceIssuer: svcIssuer.ID, TLS: ids[mtls.Audit], AuditDigestKey: digestKey, Logger: logger,
			})
			done <- err
			if ctx.Err() == nil && actx.Err() != nil {
				return nil // stopped alone: stopAudit reports err
			}
			return err
		})
		stopAudit = func() {
			acancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("audit service stopped with an error: %v", err)
			}
		}
	}
	runAudit(ls[2])
	var consoleCfg *console.Config
	if opt.console != nil {
		consoleCfg = opt.console("http://" + ls[3].Addr().String())
	}
	g.Go(func() error {
		return gateway.Run(ctx, gateway.Config{
			Console:  consoleCfg,
			Listener: ls[3], DirectoryAddr: ls[0].Addr().String(), RequestAddr: ls[1].Addr().String(),
			AuditAddr: ls[2].Addr().String(), MaxBodyBytes: opt.maxBody, MaxAttachmentBytes: opt.maxAttachment,
			CORSOrigins: opt.corsOrigins, TLS: ids[mtls.Gateway], Logger: logger,
			RateLimit: opt.rateLimit, Issuers: append([]identity.Issuer{dev}, opt.extraIssuers...), HTTP: opt.http,
			HTTPSCertFile: opt.httpsCert, HTTPSKeyFile: opt.httpsKey,
		})
	})
	scheme := "http://"
	if opt.httpsCert != "" {
		scheme = "https://"
	}
	s := &suite{t: t, baseURL: scheme + ls[3].Addr().String(), dataDir: opt.dataDir, ids: ids, conns: conns,
		databases: map[string]string{"directory": directoryDB, "request": requestDB, "audit": auditDB}, witnessPolicy: witnessPolicy,
		addrs: map[string]string{"directory": ls[0].Addr().String(), "request": ls[1].Addr().String(), "audit": ls[2].Addr().String()}}
	s.http = http.DefaultClient
	if opt.httpsCert != "" {
		pem, err := os.ReadFile(opt.httpsCert)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
		t.Cleanup(s.http.CloseIdleConnections)
	}
	s.stopAudit = func() { stopAudit() }
	s.restartAudit = func() {
		t.Helper()
		l, err := conns.Listen(ls[2].Addr().String(), "audit")
		if err != nil {
			t.Fatalf("audit service address: %v", err)
		}
		runAudit(l)
		s.waitReady()
	}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("suite stopped with an error: %v", err)
		}
	}
	t.Cleanup(s.stop)
	s.waitReady()
	return s
}

// waitReady polls /readyz, which succeeds once every backend answers its
// health check.
func (s *suite) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for backoff := 5 * time.Millisecond; ; backoff = min(backoff*2, 200*time.Millisecond) {
		resp, err := s.http.Get(s.baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("suite not ready after 20s: %v", err)
		}
		time.Sleep(backoff)
	}
}

// token returns a dev-issuer token for a user of agency with roles; the
// subject is dev:<agency>:<first role>.
func (s *suite) token(agency string, roles ...identity.Role) string {
	s.t.Helper()
	return s.tokenFor("", agency, roles...)
}

// tokenFor returns a token for a named user.
func (s *suite) tokenFor(subject, agency string, roles ...identity.Role) string {
	s.t.Helper()
	return s.client().TokenFor(subject, agency, roles...)
}

// response is what a call returned: the HTTP status and the JSON body.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// message returns the error message of a google.rpc.Status body.
func (r response) message() string { s, _ := r.body["message"].(string); return s }

// fieldViolations returns "field: description" of every BadRequest or
// PreconditionFailure detail.
func (r response) violations() []string {
	var out []string
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		for _, key := range []string{"fieldViolations", "violations"} {
			vs, _ := m[key].([]any)
			for _, v := range vs {
				vm, _ := v.(map[string]any)
				field, _ := vm["field"].(string)
				if field == "" {
					field, _ = vm["subject"].(string)
				}
				desc, _ := vm["description"].(string)
				out = append(out, field+": "+desc)
			}
		}
	}
	return out
}

// withEtag returns body (a JSON object) with the current etag of the
// agency id, read as token: an agency is only changed by someone who sends
// the etag they read.
func (s *suite) withEtag(id, token string, body map[string]any) map[string]any {
	s.t.Helper()
	out := map[string]any{"etag": s.mustDo("GET", "/v1/agencies/"+id, token, nil, http.StatusOK).body["etag"]}
	for k, v := range body {
		out[k] = v
	}
	return out
}

func (s *suite) do(method, path, token string, body any) response {
	s.t.Helper()
	return fromClient(s.client().Do(method, path, token, body))
}

// client calls the suite's gateway with the dev issuer's tokens.
func (s *suite) client() *gatewaytest.Client {
	return &gatewaytest.Client{TB: s.t, BaseURL: s.baseURL, DataDir: s.dataDir, HTTP: s.http}
}

func fromClient(r gatewaytest.Response) response {
	return response{status: r.Status, header: r.Header, body: r.Body, raw: r.Raw}
}

// grpcConn is a gRPC connection to one of the suite's services ("directory",
// "request" or "audit"), for calls that bypass the gateway: it presents the
// gateway's certificate, as the gateway would. It is closed when the test
// ends.
func (s *suite) grpcConn(service string) *grpc.ClientConn {
	s.t.Helper()
	return s.grpcConnAs(service, mtls.Gateway)
}

// grpcConnAs is grpcConn presenting the certificate of identity (one of
// mtls.Identities).
func (s *suite) grpcConnAs(service, identity string) *grpc.ClientConn {
	s.t.Helper()
	addr, ok := s.addrs[service]
	if !ok {
		s.t.Fatalf("no service %q in the suite", service)
	}
	conn, err := grpcclient.New(addr, grpcclient.Options{TLS: s.ids[identity], Server: "comity-" + service})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

// suiteAuditOrigin is the origin of the suite's audit log.
const suiteAuditOrigin = "comity.test/audit"

// startWitnesses starts n real witnesses of the audit log in logDir (making
// the log's key first, so that they know it) and returns the policy asking
// more than half of them, as the directory derives it.
func startWitnesses(t testing.TB, logDir string, n int) []byte {
	t.Helper()
	logKey, err := tlog.LoadOrCreatePublicKey(logDir, suiteAuditOrigin)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := bundle.WitnessPolicy(logKey, witnessdtest.Start(t, "witness", n, suiteAuditOrigin, logKey))
	if err != nil {
		t.Fatal(err)
	}
	return policy
}
