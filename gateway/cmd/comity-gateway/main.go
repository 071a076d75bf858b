// Command comity-gateway exposes the Comity services over REST/JSON.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/comity-mla/comity/gateway"
	"github.com/comity-mla/comity/gateway/console"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/mtls"
)

func main() {
	fs := flag.NewFlagSet("comity-gateway", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs, "json", ":9110")
	common.RegisterTLS(fs, "./var/certs")
	common.RegisterIssuers(fs)
	common.RegisterHTTP(fs)
	perSecond := fs.Float64("rate-limit", 50, "calls a second each agency may make on average (0: no limit)")
	burst := fs.Int("rate-burst", 100, "calls an agency may make at once above its average")
	httpsCert := fs.String("https-cert", "", "PEM certificate to serve HTTPS with (with --https-key); HTTP without")
	httpsKey := fs.String("https-key", "", "PEM private key of --https-cert")
	addr := fs.String("http-addr", ":8080", "HTTP listen address")
	directory := fs.String("directory-addr", "127.0.0.1:9101", "gRPC address of comity-directory")
	request := fs.String("request-addr", "127.0.0.1:9102", "gRPC address of comity-request")
	audit := fs.String("audit-addr", "127.0.0.1:9103", "gRPC address of comity-audit")
	maxBody := fs.Int64("max-body-bytes", 1<<20, "largest JSON request body accepted")
	maxAttachment := fs.Int64("max-attachment-bytes", 100<<20, "largest attachment accepted")
	var origins config.Strings
	fs.Var(&origins, "cors-origin", "browser origin allowed to call the API (repeatable); none disables CORS")
	consoleURL := fs.String("console-url", "", "the console's public URL as browsers reach it, e.g. https://comity.example.org (empty: no console)")
	sessionKey := fs.String("console-session-key-file", os.Getenv("COMITY_CONSOLE_SESSION_KEY"),
		"file holding the secret (at least 32 random bytes) that seals console sessions; every replica needs the same (env COMITY_CONSOLE_SESSION_KEY)")
	var providers config.Strings
	fs.Var(&providers, "console-provider", "an OpenID provider of the console (repeatable): id=…,issuer=…,client-id=…,client-secret-file=…,states=KZ[/KG],name=…,scopes=…,bearer=access_token|id_token")

	os.Exit(cli.Main("comity-gateway", fs, &common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		tlsID, err := common.TLSIdentity(mtls.Gateway)
		if err != nil {
			return err
		}
		issuers, err := common.IdentityIssuers()
		if err != nil {
			return err
		}
		var consoleCfg *console.Config
		if *consoleURL != "" {
			if *sessionKey == "" {
				return fmt.Errorf("--console-url needs --console-session-key-file (or COMITY_CONSOLE_SESSION_KEY)")
			}
			secret, err := console.ReadSessionSecret(*sessionKey)
			if err != nil {
				return err
			}
			consoleCfg = &console.Config{PublicURL: *consoleURL, SessionSecret: secret}
			for _, p := range providers {
				pr, err := console.ParseProvider(p)
				if err != nil {
					return err
				}
				consoleCfg.Providers = append(consoleCfg.Providers, pr)
			}
		}
		l, err := env.Conns.Listen(*addr, "http")
		if err != nil {
			return err
		}
		return gateway.Run(ctx, gateway.Config{
			Listener: l, DirectoryAddr: *directory, RequestAddr: *request, AuditAddr: *audit,
			MaxBodyBytes: *maxBody, MaxAttachmentBytes: *maxAttachment, CORSOrigins: origins,
			RateLimit: gateway.RateLimit{PerSecond: *perSecond, Burst: *burst}, Issuers: issuers,
			TLS: tlsID, HTTPSCertFile: *httpsCert, HTTPSKeyFile: *httpsKey, HTTP: common.HTTP, Console: consoleCfg,
			Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}
