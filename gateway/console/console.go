// Package console is the Comity console: the web application, served by
// comity-gateway at /, through which the agencies' users do their work.
// Pages are rendered on the server (templ) and call the services over gRPC
// with the signed-in user's own access token, exactly as the REST routes
// forward it: every rule stays in the services and none is repeated here.
//
// Users sign in with their state's OpenID provider (authorization code flow
// with PKCE and nonce, done by the server). The tokens are kept in a cookie
// sealed with AES-256-GCM under a secret the gateway replicas share, so that
// any replica serves any session and no session store is needed; the
// browser's scripts never see a token (HttpOnly cookie).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/platform/traceid"
)

// Security headers of every console answer. The policy allows no inline
// script or style: htmx is told (by its config meta tag) not to inject its
// indicator style.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// DefaultMaxSessionAge is how long a session lasts at most, however often
// its token is refreshed: a working shift and some.
const DefaultMaxSessionAge = 12 * time.Hour

// Provider is an OpenID provider users may sign in with.
type Provider struct {
	// ID names the provider in the console's URLs: lower-case letters,
	// digits and dashes.
	ID string
	// Name is what users see, e.g. "Kazakhstan eGov IdP".
	Name string
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are the console's credentials at the
	// provider.
	ClientID, ClientSecret string
	// States are the ISO codes of the states whose users sign in with this
	// provider. The services still check, on every call, that the
	// directory trusts the token's issuer for the user's state.
	States []string
	// Scopes are asked for besides openid; nil means profile and
	// offline_access (a refresh token, so that a session outlives its
	// first access token). Providers that refuse offline_access are
	// given the scopes they know, e.g. profile and email.
	Scopes []string
	// IDTokenBearer makes the console present the provider's ID token to
	// the services instead of its access token, for providers whose access
	// tokens carry no user claims (or are not JWTs). The ID token's
	// audience is then the console's client id: register the console as
	// client `comity` at such a provider, so that the services accept it.
	IDTokenBearer bool
}

// Config configures the console.
type Config struct {
	// PublicURL is the console's address as browsers reach it, e.g.
	// https://comity.example.org; the providers redirect to
	// PublicURL/signin/callback. Over https the cookies carry the __Host-
	// prefix and Secure.
	PublicURL string
	// SessionSecret seals the session cookies (see ReadSessionSecret);
	// every replica must have the same.
	SessionSecret []byte
	// Providers are the OpenID providers users may sign in with.
	Providers []Provider
	// MaxSessionAge bounds a session; zero means DefaultMaxSessionAge.
	MaxSessionAge time.Duration
	// MaxAttachmentBytes bounds a file uploaded through the console (the
	// gateway's attachment limit); zero means DefaultMaxAttachmentBytes.
	MaxAttachmentBytes int64
	// HTTPClient talks to the providers; nil means a client that gives up
	// after 10s.
	HTTPClient *http.Client
	// WriteProgress bounds one write of a long-lived response (the live
	// updates' event stream), as the gateway's --write-progress-timeout
	// bounds its REST streams; zero means 30s.
	WriteProgress time.Duration
}

// Backends are the services' clients the console calls.
type Backends struct {
	Directory directoryv1.DirectoryServiceClient
	Requests  requestv1.RequestServiceClient
	Audit     auditv1.AuditServiceClient
}

// Console serves the console's pages.
type Console struct {
	cfg       Config
	be        Backends
	log       *zap.Logger
	sealer    *sealer
	cookies   cookieNames
	providers map[string]*relyingParty
	order     []string // provider ids, in configured order
	i18n      *catalog
	callback  string
	static    http.Handler
	now       func() time.Time
	// untrusted are the "provider state" pairs whose distrust by the
	// directory has been logged: the anonymous sign-in page asks on every
	// visit, and the log says it once, again only after the pair was
	// trusted in between.
	untrusted sync.Map
}

//go:embed static
var staticFiles embed.FS

var providerIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
var stateCodePattern = regexp.MustCompile(`^[A-Z]{2}$`)

// New returns the console; it contacts no provider until a user signs in,
// so that a provider briefly down does not stop the gateway.
func New(cfg Config, be Backends, log *zap.Logger) (*Console, error) {
	if log == nil {
		return nil, errors.New("console: a logger is required")
	}
	if be.Directory == nil || be.Requests == nil || be.Audit == nil {
		return nil, errors.New("console: the directory, request and audit clients are required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("console: public URL %q is not an http(s) origin such as https://comity.example.org", cfg.PublicURL)
	}
	s, err := newSealer(cfg.SessionSecret)
	if err != nil {
		return nil, err
	}
	if cfg.MaxSessionAge == 0 {
		cfg.MaxSessionAge = DefaultMaxSessionAge
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if len(cfg.Providers) == 0 {
		return nil, errors.New("console: at least one OpenID provider is required")
	}
	cat, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, be: be, log: log, sealer: s, i18n: cat,
		cookies:   newCookieNames(u.Scheme == "https"),
		providers: map[string]*relyingParty{},
		callback:  u.Scheme + "://" + u.Host + "/signin/callback",
		static:    http.StripPrefix("/static/", http.FileServerFS(sub)),
		now:       time.Now,
	}
	for _, p := range cfg.Providers {
		switch {
		case !providerIDPattern.MatchString(p.ID):
			return nil, fmt.Errorf("console: provider id %q is not lower-case letters, digits and dashes", p.ID)
		case c.providers[p.ID] != nil:
			return nil, fmt.Errorf("console: provider %q is configured twice", p.ID)
		case p.Issuer == "" || p.ClientID == "":
			return nil, fmt.Errorf("console: provider %q needs an issuer URL and a client id", p.ID)
		case len(p.States) == 0:
			return nil, fmt.Errorf("console: provider %q serves no state", p.ID)
		}
		for _, st := range p.States {
			if !stateCodePattern.MatchString(st) {
				return nil, fmt.Errorf("console: provider %q: %q is not a state code such as KZ", p.ID, st)
			}
		}
		if p.Name == "" {
			p.Name = p.Issuer
		}
		c.providers[p.ID] = newRelyingParty(p, c.callback, cfg.HTTPClient)
		c.order = append(c.order, p.ID)
	}
	return c, nil
}

// Routes are the paths the console serves, for the gateway to mount beside
// /v1 on the same origin.
func (c *Console) Routes() map[string]http.Handler {
	// Every state-changing route is behind the cross-origin protection.
	h := c.protect()
	routes := map[string]http.Handler{
		"GET /{$}":              h(c.dashboard),
		"GET /requests/{id}":    h(c.requestPage),
		"GET /liaison":          h(c.liaison),
		"GET /liaison/events":   h(c.liaisonEvents),
		"GET /statistics":       h(c.statistics),
		"GET /signin":           h(c.signin),
		"GET /signin/start":     h(c.signinStart),
		"GET /signin/callback":  h(c.signinCallback),
		"POST /signout":         h(c.signout),
		"POST /language":        h(c.setLanguage),
		"GET /static/{file...}": c.secure(http.HandlerFunc(c.serveStatic)),
		"GET /favicon.ico":      c.secure(http.NotFoundHandler()),

		// The directory administrator's pages (directory.go) and the
		// auditor's (audit.go).
		"GET /directory":                           h(c.directoryPage),
		"GET /directory/agencies/{id}":             h(c.agencyPage),
		"GET /directory/agencies/{id}/deactivate":  h(c.agencyChangeForm("deactivate")),
		"POST /directory/agencies/{id}/deactivate": h(c.agencyChange("deactivate")),
		"GET /directory/agencies/{id}/activate":    h(c.agencyChangeForm("activate")),
		"POST /directory/agencies/{id}/activate":   h(c.agencyChange("activate")),
		"POST /directory/witness":                  h(c.witnessChange),
		"GET /audit":                               h(c.auditPage),
		"GET /audit/checkpoint":                    h(c.checkpointPage),
		"GET /audit/export":                        h(c.exportPage),
		"POST /audit/export":                       h(c.export),
	}
	c.prosecutorRoutes(h, routes)
	c.oralRoutes(h, routes)
	routes["POST /requests/{id}/messages"] = h(c.postMessage)
	routes["GET /requests/{id}/attachments/{att}"] = h(c.download)
	// The purpose of reading a request, asked before its content (readpurpose.go).
	routes["GET /requests/{id}/purpose"] = h(c.purposeForm)
	routes["POST /requests/{id}/purpose"] = h(c.declarePurpose)
	// Data subjects' requests (subjects.go).
	c.subjectRoutes(h, routes)
	// The central authority's queues and actions (authority.go).
	maps.Copy(routes, c.authorityRoutes(h))
	return routes
}

// StreamRoutes are the console's routes whose bodies are files: the gateway
// mounts them outside the JSON body limit (which reads a body whole), as it
// mounts the API's uploads; they bound their bodies to the attachment limit
// themselves and stream them through.
func (c *Console) StreamRoutes() map[string]http.Handler {
	h := c.protect()
	return map[string]http.Handler{
		"POST /requests/{id}/attachments": h(c.upload),
	}
}

// protect wraps a handler in the security headers and Go's cross-origin
// protection (Sec-Fetch-Site, then Origin against Host), which refuses a
// state-changing request from another site; the session cookie is
// SameSite=Lax as well.
func (c *Console) protect() func(http.HandlerFunc) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg := c.page(w, r, nil)
		c.renderError(w, r, pg, http.StatusForbidden, pg.T("error.cross_origin"))
	}))
	return func(f http.HandlerFunc) http.Handler { return c.secure(cop.Handler(f)) }
}

// secure sets the security headers of every console answer.
func (c *Console) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") == "" || strings.HasSuffix(r.URL.Path, "/") {
		// No directory listings.
		http.NotFound(w, r)
		return
	}
	// The files are embedded in the binary: they change only with it.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	c.static.ServeHTTP(w, r)
}

// outgoing returns ctx carrying the user's token and the call's trace id
// as gRPC metadata, as the REST routes forward them.
func outgoing(ctx context.Context, r *http.Request, s *session) context.Context {
	md := metadata.Pairs("authorization", "Bearer "+s.Access)
	if id := r.Header.Get(traceid.Header); id != "" {
		md.Set(traceid.Header, id)
	}
	return withPurpose(metadata.NewOutgoingContext(ctx, md), r, s)
}

// statesOffered are the states some provider serves, sorted.
func (c *Console) statesOffered() []string {
	var states []string
	for _, id := range c.order {
		for _, st := range c.providers[id].cfg.States {
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
	}
	slices.Sort(states)
	return states
}

// localPath returns p when it is a path of this site, else "/": a return
// address from a form must not send the user elsewhere. Controls are
// refused anywhere, since browsers strip tabs and newlines from a URL, so
// that "/\t/evil.example" would lead to //evil.example.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return p
}
