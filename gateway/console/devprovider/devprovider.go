// Package devprovider is the DEVELOPMENT-ONLY OpenID provider that
// comity-local serves so that the console can be used without a state's
// real identity provider. Anyone who reaches its sign-in page can be anyone:
// they pick an agency and roles. It is built on zitadel's OpenID Provider
// library (github.com/zitadel/oidc/v3/pkg/op), and the console signs in with
// it through the same relying-party code as with any other provider.
//
// It offers the device authorization grant (RFC 8628) to public clients
// (Client.Device; comity-local registers comityctl): its device page, at
// /device, takes the code the command line printed and the same choice of
// agency and roles, and approves or denies the sign-in.
//
// Its tokens carry Comity's own claims (agency, roles, name; aud comity)
// and are signed with the dev issuer's Ed25519 key (see
// identity.EnsureDevIssuer), so that the services verify them with the
// dev issuer's JWK Set once the directory trusts this provider's issuer.
package devprovider

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/comity-mla/comity/services/directory/seed"
	"github.com/comity-mla/comity/services/identity"
)

// comityAudience is the audience the services require.
const comityAudience = identity.Audience

// Client is a relying party allowed to sign users in here.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
	// PostLogoutRedirectURIs are where the provider may send the user back
	// after ending their session at its end_session_endpoint
	// (RP-initiated logout), e.g. the console's sign-in page.
	PostLogoutRedirectURIs []string
	// Device makes the client a public client (no secret, no redirect
	// URI) of the device authorization grant (RFC 8628), as comityctl
	// login is: a command line cannot keep a secret, and the user signs
	// in on the provider's device page instead of being redirected.
	Device bool
}

// Config configures the development provider.
type Config struct {
	// Issuer is the provider's URL, e.g. http://127.0.0.1:8079: its `iss`,
	// and where its discovery document is served. Plain http is allowed:
	// this provider is for development only.
	Issuer string
	// SigningKeyFile is the dev issuer's private JWK
	// (<data dir>/dev-issuer/signing-key.jwk).
	SigningKeyFile string
	// Clients are the relying parties, the console among them.
	Clients []Client
	// AccessTokenTTL is how long an access token lives; zero means 1 hour.
	// The console refreshes it with the refresh token.
	AccessTokenTTL time.Duration
	// DeviceCodeTTL is how long a device client's user code may wait for
	// the user at the device page; zero means 10 minutes. Whole seconds:
	// the grant counts in seconds.
	DeviceCodeTTL time.Duration
	// DevicePollInterval is how often a device client is told to poll the
	// token endpoint; zero means 5 seconds (RFC 8628's default). Whole
	// seconds.
	DevicePollInterval time.Duration
}

// Provider is the development OpenID provider, an http.Handler.
type Provider struct {
	http.Handler
	storage *storage
	op      *op.Provider
	issuer  string
	choices []agencyChoice
}

// agencyChoice is an agency the sign-in page offers.
type agencyChoice struct {
	ID, State, Kind string
}

// New returns the development provider.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("dev provider: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	key, kid, err := loadKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = time.Hour
	}
	if len(cfg.Clients) == 0 {
		return nil, errors.New("dev provider: no client is configured")
	}
	if cfg.DeviceCodeTTL == 0 {
		cfg.DeviceCodeTTL = 10 * time.Minute
	}
	if cfg.DevicePollInterval == 0 {
		cfg.DevicePollInterval = 5 * time.Second
	}
	for _, d := range []time.Duration{cfg.DeviceCodeTTL, cfg.DevicePollInterval} {
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("dev provider: device code lifetime and poll interval are whole seconds, not %v", d)
		}
	}
	_, agencies, err := seed.Default()
	if err != nil {
		return nil, fmt.Errorf("dev provider: %w", err)
	}
	p := &Provider{issuer: issuer}
	for _, a := range agencies {
		p.choices = append(p.choices, agencyChoice{ID: a.ID, State: a.State, Kind: string(a.Kind)})
	}
	slices.SortFunc(p.choices, func(a, b agencyChoice) int { return strings.Compare(a.State+a.ID, b.State+b.ID) })

	prefix := u.Path
	s := &storage{
		issuer: issuer, key: key, kid: kid, clients: map[string]*client{},
		accessTTL: cfg.AccessTokenTTL, refreshTTL: 24 * time.Hour, now: time.Now,
		requests: map[string]*authRequest{}, codes: map[string]string{},
		tokens: map[string]*accessToken{}, refresh: map[string]*refreshToken{}, users: map[string]*user{},
		devices: map[string]*deviceAuth{}, userCodes: map[string]string{},
	}
	for _, c := range cfg.Clients {
		switch {
		case c.ID == "":
			return nil, errors.New("dev provider: a client needs an id")
		case c.Device && (c.Secret != "" || len(c.RedirectURIs) != 0):
			return nil, fmt.Errorf("dev provider: device client %q is public: it has no secret and no redirect URI", c.ID)
		case !c.Device && (c.Secret == "" || len(c.RedirectURIs) == 0):
			return nil, errors.New("dev provider: a client needs an id, a secret and a redirect URI")
		}
		s.clients[c.ID] = &client{
			id: c.ID, secret: c.Secret, redirectURIs: c.RedirectURIs, postLogout: c.PostLogoutRedirectURIs, idTokenTTL: cfg.AccessTokenTTL,
			loginURL: func(id string) string { return issuer + "/login?authRequestID=" + url.QueryEscape(id) },
			device:   c.Device,
		}
	}
	// Access tokens of the provider are JWTs it signs; the key encrypting
	// its opaque tokens is derived from the signing key so that it does not
	// change across restarts.
	cryptoKey := sha256.Sum256(append([]byte("comity dev provider crypto\x00"), key...))
	o, err := op.NewProvider(&op.Config{
		CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true,
		GrantTypeRefreshToken: true, SupportedUILocales: []language.Tag{language.Russian, language.English},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime: cfg.DeviceCodeTTL, PollInterval: cfg.DevicePollInterval,
			UserFormPath: prefix + devicePath, UserCode: op.UserCodeBase20,
		},
	}, s, op.StaticIssuer(issuer), op.WithAllowInsecure(),
		// RP-initiated logout checks the id_token_hint, signed like every
		// token here.
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(string(jose.EdDSA))))
	if err != nil {
		return nil, fmt.Errorf("dev provider: %w", err)
	}
	p.storage, p.op = s, o

	mux := http.NewServeMux()
	cop := http.NewCrossOriginProtection()
	mux.Handle("GET "+prefix+"/login", http.HandlerFunc(p.loginPage))
	mux.Handle("POST "+prefix+"/login", cop.Handler(http.HandlerFunc(p.login)))
	mux.Handle("GET "+prefix+devicePath, http.HandlerFunc(p.devicePage))
	mux.Handle("POST "+prefix+devicePath, cop.Handler(http.HandlerFunc(p.device)))
	if prefix == "" {
		mux.Handle("/", o)
	} else {
		mux.Handle(prefix+"/", http.StripPrefix(prefix, o))
	}
	p.Handler = mux
	return p, nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// loadKey reads the dev issuer's Ed25519 private key and its kid.
func loadKey(path string) (ed25519.PrivateKey, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("dev provider: signing key: %w", err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, "", fmt.Errorf("dev provider: signing key %s is not a JWK: %w", path, err)
	}
	key, ok := jwk.Key.(ed25519.PrivateKey)
	if !ok || jwk.KeyID == "" {
		return nil, "", fmt.Errorf("dev provider: signing key %s is not an Ed25519 private key with a kid", path)
	}
	return key, jwk.KeyID, nil
}

// subjectOf is the `sub` of a user: the same shape as comityctl dev token's.
func subjectOf(u user) string {
	return "dev:" + u.Agency + ":" + u.Roles[0]
}

func randomID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pageHeaders are the login page's: no script, no framing.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if _, err := p.storage.AuthRequestByID(r.Context(), id); err != nil {
		pageHeaders(w)
		w.WriteHeader(http.StatusBadRequest)
		loginError("This sign-in request is unknown or expired: go back to the console and start again.").Render(r.Context(), w)
		return
	}
	pageHeaders(w)
	loginForm(id, p.choices, roleNames(), "").Render(r.Context(), w)
}

func roleNames() []string {
	names := make([]string, len(identity.Roles))
	for i, r := range identity.Roles {
		names[i] = string(r)
	}
	return names
}

// chosenUser is who the sign-in form (the login page's or the device
// page's) says to be, or what is wrong with the choice.
func (p *Provider) chosenUser(form url.Values) (user, string) {
	agency := form.Get("agency")
	roles := form["role"]
	name := strings.TrimSpace(form.Get("name"))
	switch {
	case !slices.ContainsFunc(p.choices, func(c agencyChoice) bool { return c.ID == agency }):
		return user{}, "Pick an agency of the list."
	case len(roles) == 0:
		return user{}, "Pick at least one role."
	case slices.ContainsFunc(roles, func(r string) bool { return !slices.Contains(roleNames(), r) }):
		return user{}, "Pick roles of the list only."
	case len(name) > 200:
		return user{}, "The name is longer than 200 characters."
	}
	if name == "" {
		name = "Dev user (" + agency + ")"
	}
	return user{Name: name, Agency: agency, Roles: roles}, ""
}

func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("authRequestID")
	u, problem := p.chosenUser(r.PostForm)
	if problem != "" {
		pageHeaders(w)
		w.WriteHeader(http.StatusBadRequest)
		loginForm(id, p.choices, roleNames(), problem).Render(r.Context(), w)
		return
	}
	if err := p.storage.complete(id, u); err != nil {
		pageHeaders(w)
		w.WriteHeader(http.StatusBadRequest)
		loginError("This sign-in request is unknown or expired: go back to the console and start again.").Render(r.Context(), w)
		return
	}
	http.Redirect(w, r, p.issuer+"/authorize/callback?id="+url.QueryEscape(id), http.StatusSeeOther)
}
