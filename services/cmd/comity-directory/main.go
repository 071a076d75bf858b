// Command comity-directory serves the agency directory over gRPC.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

func main() {
	fs := flag.NewFlagSet("comity-directory", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "json", ":9111")
	common.RegisterIssuers(fs)
	common.RegisterTLS(fs, "./var/certs")
	common.RegisterAuditBacklogAlarm(fs)
	common.RegisterAuditAnonymousClients(fs)
	addr := fs.String("grpc-addr", ":9101", "gRPC listen address")
	database := fs.String("database", "sqlite:./var/directory.db", "database: sqlite:PATH or a postgres:// URL")
	var seedIssuers config.Strings
	fs.Var(&seedIssuers, "seed-trusted-issuer", "issuer trusted for every state of the default seed (repeatable)")
	noSeed := fs.Bool("no-seed", false, "do not seed an empty directory with the five participating states")

	auditAddr := fs.String("audit-addr", "127.0.0.1:9103", "gRPC address of comity-audit, where the outbox relay delivers audit events; empty keeps them in the outbox")
	digestKey := fs.String("audit-digest-key", "", "file holding the deployment's audit digest key (32 random bytes, the same file for comity-request, comity-directory and comity-audit), which keys the request digests in audit events; required")
	serviceKeys := fs.String("service-key-dir", "./var", "directory holding service-issuer/signing-key.jwk, the key this service signs its calls to comity-audit with")

	os.Exit(cli.Main("comity-directory", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		key, err := trail.LoadDigestKey(*digestKey)
		if err != nil {
			return err
		}
		issuers, err := common.IdentityIssuers()
		if err != nil {
			return err
		}
		tlsID, err := common.TLSIdentity(mtls.Directory)
		if err != nil {
			return err
		}
		var creds *identity.ServiceCredentials
		if *auditAddr != "" {
			if creds, err = identity.NewServiceCredentials(*serviceKeys, "comity-directory"); err != nil {
				return err
			}
		}
		l, err := env.Conns.Listen(*addr, "grpc")
		if err != nil {
			return err
		}
		return directoryd.Run(ctx, directoryd.Config{
			Listener: l, Database: *database, Issuers: issuers,
			SeedTrustedIssuers: seedIssuers, NoSeed: *noSeed,
			AuditAddr: *auditAddr, ServiceCredentials: creds, AuditBacklogAlarm: common.AuditBacklogAlarm, AuditAnonymousClients: common.AuditAnonymousClients, AuditDigestKey: key,
			TLS: tlsID, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
