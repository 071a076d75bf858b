// Command comity-request serves cooperation requests over gRPC.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request/requestd"
)

func main() {
	fs := flag.NewFlagSet("comity-request", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "json", ":9112")
	common.RegisterIssuers(fs)
	common.RegisterTLS(fs, "./var/certs")
	addr := fs.String("grpc-addr", ":9102", "gRPC listen address")
	database := fs.String("database", "sqlite:./var/request.db", "database: sqlite:PATH or a postgres:// URL")
	blobs := fs.String("blob-dir", "./var/attachments", "directory holding attachment content")
	directory := fs.String("directory-addr", "127.0.0.1:9101", "gRPC address of comity-directory")
	maxAttachment := fs.Int64("max-attachment-bytes", 100<<20, "largest attachment accepted")

	auditAddr := fs.String("audit-addr", "127.0.0.1:9103", "gRPC address of comity-audit, where the outbox relay delivers audit events; empty keeps them in the outbox")
	serviceKeys := fs.String("service-key-dir", "./var", "directory holding service-issuer/signing-key.jwk, the key this service signs its calls to comity-audit with")

	os.Exit(cli.Main("comity-request", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
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
		l, err := env.Conns.Listen(*addr, "grpc")
		if err != nil {
			return err
		}
		return requestd.Run(ctx, requestd.Config{
			Listener: l, Database: *database, BlobDir: *blobs, DirectoryAddr: *directory,
			Issuers: issuers, MaxAttachmentBytes: *maxAttachment, AuditAddr: *auditAddr, ServiceCredentials: creds,
			TLS: tlsID, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
