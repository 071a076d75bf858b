// Command comity-directory serves the agency directory over gRPC.
package main

import (
	"context"
	"os"

	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/mtls"
)

func main() {
	fs, common := cli.ServiceFlags("comity-directory", ":9111")
	common.RegisterProducer(fs)
	addr := fs.String("grpc-addr", ":9101", "gRPC listen address")
	database := fs.String("database", "sqlite:./var/directory.db", "database: sqlite:PATH or a postgres:// URL")
	var seedIssuers config.Strings
	fs.Var(&seedIssuers, "seed-trusted-issuer", "issuer trusted for every state of the default seed (repeatable)")
	noSeed := fs.Bool("no-seed", false, "do not seed an empty directory with the five participating states")

	os.Exit(cli.Main(fs.Name(), fs, common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		svc, err := common.LoadService(mtls.Directory, "comity-directory")
		if err != nil {
			return err
		}
		l, err := env.Conns.Listen(*addr, "grpc")
		if err != nil {
			return err
		}
		return directoryd.Run(ctx, directoryd.Config{
			Listener: l, Database: *database, Issuers: svc.Issuers,
			SeedTrustedIssuers: seedIssuers, NoSeed: *noSeed,
			Producer: relay.ProducerOf(common, svc),
			TLS:      svc.TLS, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
