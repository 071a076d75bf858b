// Package e2e runs the Comity suite as a deployment runs it: the real
// binaries of the three services and the gateway as separate processes,
// talking mTLS on loopback, on SQLite or on one PostgreSQL with several
// replicas, and drives it through REST as the agencies' users would.
package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/trail"
	"github.com/comity-mla/comity/services/witness/witnessd"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the suite's binaries once for the package's tests.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "comity-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/",
			"github.com/comity-mla/comity/services/cmd/comity-directory",
			"github.com/comity-mla/comity/services/cmd/comity-request",
			"github.com/comity-mla/comity/services/cmd/comity-audit",
			"github.com/comity-mla/comity/services/cmd/comity-witness",
			"github.com/comity-mla/comity/gateway/cmd/comity-gateway",
			"github.com/comity-mla/comity/gateway/cmd/comityctl")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one running binary.
type proc struct {
	name string
	bin  string
	args []string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	p.logs = &syncBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
}

func (p *proc) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.done <- nil
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if !p.running() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- nil
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
		p.kill(t)
	}
}

type clusterOptions struct {
	// postgres keeps every service's data in PostgreSQL (one database per
	// service, shared by its replicas); else SQLite files.
	postgres bool
	// directories and requests are how many replicas of each run; more
	// than one needs postgres.
	directories, requests int
	// rateLimit is the gateway's --rate-limit per agency; empty keeps its
	// default.
	rateLimit string
}

// cluster is a running deployment: the binaries as separate processes.
type cluster struct {
	t       *testing.T
	bin     string
	dataDir string
	// requestDB is the request service's database (a URL or sqlite:PATH).
	requestDB string
	dirs      []*proc
	reqs      []*proc
	// witnesses are the states' witnesses (witnessStates' order), which
	// the audit log's checkpoints need a quorum of (3 of 5).
	witnesses []*proc
	// policy is the witness policy file comity-audit follows.
	policy  string
	audit   *proc
	gateway *proc
	gwURL   string
	client  *gatewaytest.Client
}

func startCluster(t *testing.T, opt clusterOptions) *cluster {
	t.Helper()
	bin := binaries(t)
	dataDir := t.TempDir()
	c := &cluster{t: t, bin: bin, dataDir: dataDir}
	// The operator's part: a CA with the services' certificates, the
	// users' token issuer (here the dev issuer), and the key the services
	// sign their calls to the audit service with.
	if out, err := exec.Command(filepath.Join(bin, "comityctl"), "dev", "certs", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("comityctl dev certs: %v\n%s", err, out)
	}
	dev, err := identity.EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := identity.EnsureServiceIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	// The secret the services key their audit digests with: one file for
	// every replica of the directory, the request service and the audit
	// service.
	digestKey := filepath.Join(dataDir, "digest.key")
	if _, err := trail.EnsureDigestKey(digestKey); err != nil {
		t.Fatal(err)
	}
	directoryDB := "sqlite:" + filepath.Join(dataDir, "directory.db")
	c.requestDB = "sqlite:" + filepath.Join(dataDir, "request.db")
	auditDB := "sqlite:" + filepath.Join(dataDir, "audit.db")
	// Each witness on SQLite; on PostgreSQL, the first witness too, to
	// exercise that store.
	witnessDBs := make([]string, len(witnessStates))
	for i, st := range witnessStates {
		witnessDBs[i] = "sqlite:" + filepath.Join(dataDir, "witness", st, "witness.db")
	}
	if opt.postgres {
		directoryDB, c.requestDB, auditDB = pgtest.NewDatabase(t), pgtest.NewDatabase(t), pgtest.NewDatabase(t)
		witnessDBs[0] = pgtest.NewDatabase(t)
	}
	// The witnesses must know the log's key, and the log its witnesses'
	// keys: the operators make them first (comity-audit and comity-witness
	// load the existing ones).
	logKey, err := tlog.LoadOrCreatePublicKey(filepath.Join(dataDir, "audit"), e2eOrigin)
	if err != nil {
		t.Fatal(err)
	}
	witnessKeys := make([]string, len(witnessStates))
	for i, st := range witnessStates {
		if _, witnessKeys[i], err = witnessd.LoadOrCreateKey(filepath.Join(dataDir, "witness", st), witnessName(st)); err != nil {
			t.Fatal(err)
		}
	}
	c.policy = filepath.Join(dataDir, "witness-policy")
	t.Cleanup(func() {
		for _, p := range c.all() {
			if p.running() {
				p.kill(t)
			}
		}
		if t.Failed() {
			for _, p := range c.all() {
				t.Logf("--- logs of %s (last 6000 bytes):\n%s", p.name, tail(p.logs.String(), 6000))
			}
		}
	})
	// The ports are picked free, then bound by the processes: another test
	// running meanwhile may take one in between. A process that found its
	// port taken ends at once; the whole deployment is then started again
	// on other ports (same data), at most three times.
	for attempt := 1; ; attempt++ {
		c.launch(opt, dev, svc, digestKey, directoryDB, auditDB, logKey, witnessDBs, witnessKeys)
		err := c.awaitReady()
		if err == nil {
			return c
		}
		if attempt == 3 || !c.portTaken() {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v (a port was taken meanwhile); starting again on other ports", attempt, err)
		for _, p := range c.all() {
			if p.running() {
				p.kill(t)
			}
		}
		c.dirs, c.reqs, c.witnesses, c.audit, c.gateway = nil, nil, nil, nil, nil
	}
}

// launch picks ports and starts every process of the deployment.
func (c *cluster) launch(opt clusterOptions, dev, svc identity.Issuer, digestKey, directoryDB, auditDB, logKey string, witnessDBs, witnessKeys []string) {
	t, bin, dataDir := c.t, c.bin, c.dataDir
	t.Helper()
	common := func(extra ...string) []string {
		return append([]string{
			"--cert-dir", filepath.Join(dataDir, "certs"), "--metrics-addr", freePort(t), "--log-format", "json",
		}, extra...)
	}
	devIssuer := "--issuer=" + dev.ID + "=" + dev.JWKS
	dirAddrs := make([]string, opt.directories)
	reqAddrs := make([]string, opt.requests)
	for i := range dirAddrs {
		dirAddrs[i] = freePort(t)
	}
	for i := range reqAddrs {
		reqAddrs[i] = freePort(t)
	}
	auditAddr := freePort(t)
	directories := strings.Join(dirAddrs, ",")

	for i, addr := range dirAddrs {
		p := &proc{name: fmt.Sprintf("comity-directory-%d", i+1), bin: filepath.Join(bin, "comity-directory"),
			args: common("--grpc-addr", addr, "--database", directoryDB, devIssuer, "--seed-trusted-issuer", dev.ID,
				"--audit-addr", auditAddr, "--service-key-dir", dataDir, "--audit-digest-key", digestKey)}
		// Replicas start together, as an orchestrator starts them: the
		// migrations and the seeding of the empty directory take turns.
		p.start(t)
		c.dirs = append(c.dirs, p)
	}
	// The states' witnesses, and the policy naming them at this launch's
	// addresses.
	pws := make([]bundle.PolicyWitness, len(witnessStates))
	for i, st := range witnessStates {
		addr := freePort(t)
		dir := filepath.Join(dataDir, "witness", st)
		p := &proc{name: "comity-witness-" + st, bin: filepath.Join(bin, "comity-witness"),
			args: []string{"--http-addr", addr, "--metrics-addr", freePort(t), "--log-format", "json",
				"--database", witnessDBs[i], "--key-dir", dir, "--name", witnessName(st),
				"--log-origin", e2eOrigin, "--log-public-key", filepath.Join(dataDir, "audit", "public.key")}}
		p.start(t)
		c.witnesses = append(c.witnesses, p)
		pws[i] = bundle.PolicyWitness{Name: st, PublicKey: witnessKeys[i], URL: "http://" + addr}
	}
	policy, err := bundle.WitnessPolicy(logKey, pws)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.policy, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	c.audit = &proc{name: "comity-audit", bin: filepath.Join(bin, "comity-audit"),
		args: common("--grpc-addr", auditAddr, "--database", auditDB, "--log-dir", filepath.Join(dataDir, "audit"),
			"--origin", e2eOrigin, "--directory-addr", directories, "--witness-policy", c.policy,
			devIssuer, "--issuer="+svc.ID+"="+svc.JWKS, "--service-issuer", svc.ID, "--audit-digest-key", digestKey)}
	c.audit.start(t)
	for i, addr := range reqAddrs {
		p := &proc{name: fmt.Sprintf("comity-request-%d", i+1), bin: filepath.Join(bin, "comity-request"),
			args: common("--grpc-addr", addr, "--database", c.requestDB, "--blob-dir", filepath.Join(dataDir, "attachments"),
				"--directory-addr", directories, "--audit-addr", auditAddr, "--service-key-dir", dataDir, devIssuer,
				"--audit-digest-key", digestKey)}
		p.start(t)
		c.reqs = append(c.reqs, p)
	}
	gw := freePort(t)
	c.gateway = &proc{name: "comity-gateway", bin: filepath.Join(bin, "comity-gateway"),
		args: common("--http-addr", gw, "--directory-addr", directories, "--request-addr", strings.Join(reqAddrs, ","),
			"--audit-addr", auditAddr, devIssuer)}
	if opt.rateLimit != "" {
		c.gateway.args = append(c.gateway.args, "--rate-limit", opt.rateLimit)
	}
	c.gateway.start(t)
	c.gwURL = "http://" + gw
	c.client = &gatewaytest.Client{TB: t, BaseURL: c.gwURL, DataDir: dataDir}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func (c *cluster) all() []*proc {
	out := append(append(append([]*proc{}, c.dirs...), c.reqs...), c.witnesses...)
	for _, p := range []*proc{c.audit, c.gateway} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// portTaken reports whether a process ended because its address was in use.
func (c *cluster) portTaken() bool {
	for _, p := range c.all() {
		if !p.running() && strings.Contains(p.logs.String(), "address already in use") {
			return true
		}
	}
	return false
}

// waitReady polls the gateway's /readyz until every backend answers.
func (c *cluster) waitReady() {
	c.t.Helper()
	if err := c.awaitReady(); err != nil {
		c.t.Fatal(err)
	}
}

// awaitReady is waitReady's poll: an error when a process exits or the
// suite is not ready within a minute.
func (c *cluster) awaitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 250*time.Millisecond) {
		for _, p := range c.all() {
			if !p.running() {
				return fmt.Errorf("%s exited while the suite started", p.name)
			}
		}
		resp, err := http.Get(c.gwURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("suite not ready after 60s (%v)", err)
		}
		time.Sleep(backoff)
	}
}

// stopAll stops every process with SIGTERM, the gateway first, and checks
// that each exits cleanly.
func (c *cluster) stopAll() {
	c.t.Helper()
	c.gateway.stop(c.t)
	for _, p := range c.reqs {
		p.stop(c.t)
	}
	c.audit.stop(c.t)
	for _, p := range c.dirs {
		p.stop(c.t)
	}
	// Last: the audit service needs them for its last checkpoints.
	for _, p := range c.witnesses {
		p.stop(c.t)
	}
}

// e2eOrigin is the audit log's origin in the deployment.
const e2eOrigin = "comity.e2e/audit"

// witnessStates are the states whose witnesses the deployment runs.
var witnessStates = []string{"KG", "KZ", "TJ", "TM", "UZ"}

func witnessName(state string) string { return "witness." + strings.ToLower(state) + ".comity.e2e" }

// ctl runs comityctl and returns its combined output and exit code.
func (c *cluster) ctl(args ...string) (string, int) {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(c.bin, "comityctl"), args...).CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	c.t.Fatalf("comityctl %v: %v", args, err)
	return "", 0
}
