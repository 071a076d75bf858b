// Command comity-request serves the request service over gRPC.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/request/requestd"
)

func main() {
	fs := flag.NewFlagSet("comity-request", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "json", ":9112")
	addr := fs.String("grpc-addr", ":9102", "gRPC listen address")

	os.Exit(cli.Main("comity-request", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		l, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		return requestd.Run(ctx, requestd.Config{Listener: l, Logger: env.Logger, Metrics: env.Metrics})
	}))
}
