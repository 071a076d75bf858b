// Command comity-request serves cooperation requests over gRPC.
package main

import (
	"context"
	"os"

	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
)

func main() {
	fs, common := cli.ServiceFlags("comity-request", ":9112")
	common.RegisterProducer(fs)
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
	var retention requestd.Retention
	requestd.RegisterRetention(fs, &retention)

	os.Exit(cli.Main(fs.Name(), fs, common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		svc, err := common.LoadService(mtls.Request, "comity-request")
		if err != nil {
			return err
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
			Issuers: svc.Issuers, MaxAttachmentBytes: *maxAttachment,
			Watch:     request.WatchLimits{PerUser: *watchPerUser, PerAgency: *watchPerAgency},
			Transfers: transfers,
			Policy:    policy,
			Retention: retention,
			Producer:  relay.ProducerOf(common, svc),
			TLS:       svc.TLS, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
