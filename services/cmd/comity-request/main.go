// Command comity-request serves cooperation requests over gRPC.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
)

func main() {
	fs := flag.NewFlagSet("comity-request", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "json", ":9112")
	common.RegisterIssuers(fs)
	common.RegisterTLS(fs, "./var/certs")
	common.RegisterAuditBacklogAlarm(fs)
	common.RegisterAuditAnonymousClients(fs)
	addr := fs.String("grpc-addr", ":9102", "gRPC listen address")
	database := fs.String("database", "sqlite:./var/request.db", "database: sqlite:PATH or a postgres:// URL")
	blobs := fs.String("blob-dir", "./var/attachments", "directory holding attachment content")
	directory := fs.String("directory-addr", "127.0.0.1:9101", "gRPC address of comity-directory")
	maxAttachment := fs.Int64("max-attachment-bytes", 100<<20, "largest attachment accepted")
	watchPerUser := fs.Int("watch-streams-per-user", request.DefaultWatchPerUser, "open watch streams (GET /v1/requests:watch) one user may hold at once")
	watchPerAgency := fs.Int("watch-streams-per-agency", request.DefaultWatchPerAgency, "open watch streams the users of one agency may hold at once")
	var transfers request.TransferLimits
	transfers.RegisterFlags(fs)
	var policy request.Policy
	requestd.RegisterDeadlinePolicy(fs, &policy)

	auditAddr := fs.String("audit-addr", "127.0.0.1:9103", "gRPC address of comity-audit, where the outbox relay delivers audit events; empty keeps them in the outbox")
	digestKey := fs.String("audit-digest-key", "", "file holding the deployment's audit digest key (32 random bytes, the same file for comity-request, comity-directory and comity-audit), which keys the request digests in audit events; required")
	serviceKeys := fs.String("service-key-dir", "./var", "directory holding service-issuer/signing-key.jwk, the key this service signs its calls to comity-audit with")

	os.Exit(cli.Main("comity-request", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		key, err := trail.LoadDigestKey(*digestKey)
		if err != nil {
			return err
		}
		issuers, err := common.IdentityIssuers()
		if err != nil {
			return err
		}
		tlsID, err := common.TLSIdentity(mtls.Request)
		if err != nil {
			return err
		}
		var creds *identity.ServiceCredentials
		if *auditAddr != "" {
			if creds, err = identity.NewServiceCredentials(*serviceKeys, "comity-request"); err != nil {
				return err
			}
		}
		if err := transfers.Fit(env.Conns.Spare()); err != nil {
			return err
		}
		l, err := env.Conns.Listen(*addr, "grpc")
		if err != nil {
			return err
		}
		return requestd.Run(ctx, requestd.Config{
			Listener: l, Database: *database, BlobDir: *blobs, DirectoryAddr: *directory,
			Issuers: issuers, MaxAttachmentBytes: *maxAttachment, AuditAddr: *auditAddr, ServiceCredentials: creds, AuditBacklogAlarm: common.AuditBacklogAlarm, AuditAnonymousClients: common.AuditAnonymousClients, AuditDigestKey: key,
			Watch:     request.WatchLimits{PerUser: *watchPerUser, PerAgency: *watchPerAgency},
			Transfers: transfers,
			Policy:    policy,
			TLS:       tlsID, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
