package gateway

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/comity-mla/comity/gateway/console"
	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// mountConsole serves the console beside the API on the same origin,
// calling the services through the gateway's own backend connections, under
// the API's rate limit (limit; a browser's calls carry no bearer token, so
// they count against its address) and body limit; its uploads stream
// under the attachment limit instead.
func mountConsole(root *http.ServeMux, cfg Config, be *backends, limit func(http.Handler) http.Handler) error {
	if cfg.Console == nil {
		return nil
	}
	ccfg := *cfg.Console
	if ccfg.MaxAttachmentBytes == 0 {
		ccfg.MaxAttachmentBytes = cfg.MaxAttachmentBytes
	}
	if ccfg.WriteProgress == 0 {
		// The console's event stream keeps to the server's bound on a
		// write, as the REST watch does.
		if o, err := cfg.HTTP.WithDefaults(); err == nil {
			ccfg.WriteProgress = o.WriteProgress
		}
	}
	c, err := console.New(ccfg, console.Backends{
		Directory: directoryv1.NewDirectoryServiceClient(be.conns["directory"]),
		Requests:  requestv1.NewRequestServiceClient(be.conns["request"]),
		Audit:     auditv1.NewAuditServiceClient(be.conns["audit"]),
	}, cfg.Logger.With(zap.String("part", "console")))
	if err != nil {
		return err
	}
	for pattern, h := range c.Routes() {
		root.Handle(pattern, limit(limitBody(cfg.MaxBodyBytes, h)))
	}
	// Uploads stream through, outside the JSON body limit (which reads a
	// body whole): the console bounds them to the attachment limit.
	for pattern, h := range c.StreamRoutes() {
		root.Handle(pattern, limit(h))
	}
	return nil
}
