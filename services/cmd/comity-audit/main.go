// Command comity-audit serves the audit service over gRPC.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/platform/cli"
)

func main() {
	fs := flag.NewFlagSet("comity-audit", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "json", ":9113")
	addr := fs.String("grpc-addr", ":9103", "gRPC listen address")

	os.Exit(cli.Main("comity-audit", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		l, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		return auditd.Run(ctx, auditd.Config{Listener: l, Logger: env.Logger, Metrics: env.Metrics})
	}))
}
