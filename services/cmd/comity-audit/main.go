// Command comity-audit serves the audit trail over gRPC: a transparency log
// with signed checkpoints, its index, and proofs for auditors.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/mtls"
)

func main() {
	fs, common := cli.ServiceFlags("comity-audit", ":9113")
	addr := fs.String("grpc-addr", ":9103", "gRPC listen address")
	database := fs.String("database", "sqlite:./var/audit.db", "index database: sqlite:PATH or a postgres:// URL")
	logDir := fs.String("log-dir", "./var/audit", "directory of the transparency log and its keys (one writer only)")
	origin := fs.String("origin", "comity.local/audit", "log origin, naming this deployment in signed checkpoints")
	policyFile := fs.String("witness-policy", "", "witness policy file (C2SP policy text) checkpoints must satisfy; empty: checkpoints are not witnessed")
	unwitnessed := fs.Bool("unwitnessed", false, "publish unwitnessed checkpoints of a log that was witnessed, without --witness-policy (refused otherwise)")
	directory := fs.String("directory-addr", "127.0.0.1:9101", "gRPC address of comity-directory")
	serviceIssuer := fs.String("service-issuer", identity.ServiceIssuerID, "issuer of the services' own tokens (its keys given with --issuer)")
	common.RegisterDigestKey(fs, "the audit service's own events (auditors' reads)")

	os.Exit(cli.Main(fs.Name(), fs, common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		svc, err := common.LoadService(mtls.Audit, "comity-audit")
		if err != nil {
			return err
		}
		var policy []byte
		if *policyFile != "" {
			if policy, err = os.ReadFile(*policyFile); err != nil {
				return fmt.Errorf("--witness-policy: %w", err)
			}
			if len(bytes.TrimSpace(policy)) == 0 {
				return fmt.Errorf("--witness-policy: %s is empty; give a policy with a quorum, or no --witness-policy to run unwitnessed", *policyFile)
			}
		}
		l, err := env.Conns.Listen(*addr, "grpc")
		if err != nil {
			return err
		}
		return auditd.Run(ctx, auditd.Config{
			Listener: l, Database: *database, LogDir: *logDir, Origin: *origin, WitnessPolicy: policy, AllowUnwitnessed: *unwitnessed, DirectoryAddr: *directory,
			Issuers: svc.Issuers, ServiceIssuer: *serviceIssuer, TLS: svc.TLS, AuditDigestKey: svc.DigestKey, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
