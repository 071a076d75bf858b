package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"google.golang.org/grpc/metadata"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/platform/traceid"
)

// signinFlowTTL is how long a user may take at the provider's sign-in page.
const signinFlowTTL = 10 * time.Minute

// refreshMargin renews an access token this long before it expires, so that
// a call made with it does not reach a service after it expired.
const refreshMargin = 30 * time.Second

// relyingParty is the console as a client of one OpenID provider. Discovery
// happens on first use and is retried after a failure.
type relyingParty struct {
	cfg      Provider
	callback string
	client   *http.Client

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	// endSession is the provider's end_session_endpoint (RP-initiated
	// logout), empty when its discovery document names none.
	endSession string
}

func newRelyingParty(p Provider, callback string, client *http.Client) *relyingParty {
	return &relyingParty{cfg: p, callback: callback, client: client}
}

// ctx makes the OIDC and OAuth libraries use the configured HTTP client.
func (rp *relyingParty) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, rp.client)
}

// discover fetches the provider's discovery document once it succeeds.
func (rp *relyingParty) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.oauth != nil {
		return rp.oauth, rp.verifier, nil
	}
	p, err := oidc.NewProvider(rp.ctx(ctx), rp.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("the identity provider %s cannot be reached: %w", rp.cfg.Issuer, err)
	}
	scopes := rp.cfg.Scopes
	if scopes == nil {
		scopes = []string{"profile", oidc.ScopeOfflineAccess}
	}
	rp.oauth = &oauth2.Config{
		ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: rp.callback,
		Scopes: append([]string{oidc.ScopeOpenID}, scopes...),
	}
	rp.verifier = p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID})
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err == nil {
		rp.endSession = meta.EndSession
	}
	return rp.oauth, rp.verifier, nil
}

// signin lets the user pick their state, then a provider of that state.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	pg := c.page(w, r, nil)
	v := signinView{States: c.statesOffered(), Error: r.URL.Query().Get("error")}
	v.EndedReason, v.Ended = c.endedReason(w, r)
	if st := r.URL.Query().Get("state"); st != "" {
		if !stateCodePattern.MatchString(st) {
			c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.bad_state"))
			return
		}
		v.State = st
		v.Providers, v.DirectoryDown = c.providersFor(r, st)
	}
	pg.Title = pg.T("signin.title")
	c.render(w, r, http.StatusOK, SigninPage(pg, v))
}

// signinStart sends the user to the provider with a fresh state, nonce and
// PKCE verifier, which a sealed cookie keeps until the provider answers.
func (c *Console) signinStart(w http.ResponseWriter, r *http.Request) {
	pg := c.page(w, r, nil)
	rp, ok := c.providers[r.URL.Query().Get("provider")]
	if !ok {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.bad_provider"))
		return
	}
	oc, _, err := rp.discover(r.Context())
	if err != nil {
		c.log.Warn("identity provider discovery failed", zap.String("provider", rp.cfg.ID), zap.Error(err))
		c.renderError(w, r, pg, http.StatusBadGateway, pg.T("error.provider_unreachable"))
		return
	}
	flow := signinFlow{
		Provider: rp.cfg.ID, State: randomString(24), Nonce: randomString(24),
		Verifier: oauth2.GenerateVerifier(), Expires: c.now().Add(signinFlowTTL).Unix(),
	}
	sealed, err := c.sealer.seal(c.cookies.signin, flow)
	if err != nil {
		c.fail(w, r, pg, err)
		return
	}
	http.SetCookie(w, c.cookies.cookie(c.cookies.signin, sealed, signinFlowTTL))
	http.Redirect(w, r, oc.AuthCodeURL(flow.State, oidc.Nonce(flow.Nonce), oauth2.S256ChallengeOption(flow.Verifier)), http.StatusSeeOther)
}

// idClaims are what the console reads of an ID token: a name to show when
// the issuer's claim mapping gives none. Who the user is (agency, state,
// roles) is what the services say (GetCaller), never the token.
type idClaims struct {
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
}

// signinCallback completes the flow: it checks the state, exchanges the
// code with the PKCE verifier, verifies the ID token and its nonce, and
// starts the session.
func (c *Console) signinCallback(w http.ResponseWriter, r *http.Request) {
	pg := c.page(w, r, nil)
	q := r.URL.Query()
	var flow signinFlow
	ck, err := r.Cookie(c.cookies.signin)
	if err == nil {
		err = c.sealer.open(c.cookies.signin, ck.Value, &flow)
	}
	// The flow is used once, whatever happens next.
	http.SetCookie(w, c.cookies.cookie(c.cookies.signin, "", -1))
	switch {
	case err != nil:
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.signin_expired"))
		return
	case c.now().Unix() > flow.Expires:
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.signin_expired"))
		return
	case q.Get("state") != flow.State:
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.signin_state"))
		return
	case q.Get("error") != "":
		c.log.Info("identity provider refused the sign-in", zap.String("provider", flow.Provider),
			zap.String("error", q.Get("error")), zap.String("description", q.Get("error_description")))
		c.renderError(w, r, pg, http.StatusUnauthorized, pg.T("error.provider_refused")+" ("+clipText(q.Get("error"), 64)+")")
		return
	}
	rp, ok := c.providers[flow.Provider]
	if !ok {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("error.bad_provider"))
		return
	}
	oc, verifier, err := rp.discover(r.Context())
	if err != nil {
		c.renderError(w, r, pg, http.StatusBadGateway, pg.T("error.provider_unreachable"))
		return
	}
	ctx := rp.ctx(r.Context())
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		c.log.Info("code exchange failed", zap.String("provider", flow.Provider), zap.Error(err))
		c.renderError(w, r, pg, http.StatusUnauthorized, pg.T("error.provider_refused"))
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		c.log.Info("ID token refused", zap.String("provider", flow.Provider), zap.Error(err))
		c.renderError(w, r, pg, http.StatusUnauthorized, pg.T("error.id_token"))
		return
	}
	if idt.Nonce != flow.Nonce {
		c.renderError(w, r, pg, http.StatusUnauthorized, pg.T("error.id_token"))
		return
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		c.renderError(w, r, pg, http.StatusUnauthorized, pg.T("error.id_token"))
		return
	}
	s := &session{
		Provider: flow.Provider, Access: tok.AccessToken, Refresh: tok.RefreshToken,
		Expiry: tokenExpiry(tok, idt).Unix(), Started: c.now().Unix(),
	}
	if rp.cfg.IDTokenBearer {
		s.Access, s.Expiry = rawID, idt.Expiry.Unix()
	} else {
		// Kept for the provider's end_session_endpoint (id_token_hint).
		s.IDToken = rawID
	}
	if s.Access == "" {
		c.renderError(w, r, pg, http.StatusUnauthorized, pg.T("error.id_token"))
		return
	}
	// Who the user is, as the services see them through the issuer's
	// claim mapping: the header shows that, not what the token says. A
	// token the services refuse starts no session.
	caller, err := c.be.Directory.GetCaller(outgoing(r.Context(), r, s), &directoryv1.GetCallerRequest{Name: "caller"})
	if err != nil {
		c.log.Info("the services refused the signed-in user's token", zap.String("provider", flow.Provider), zap.Error(err))
		c.serviceError(w, r, pg, err)
		return
	}
	s.setCaller(caller.GetCaller(), firstNonEmpty(cl.Name, cl.PreferredUsername, cl.Email, idt.Subject))
	if !c.keepSession(w, r, pg, s) {
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// keepSession saves the new session, or says why it cannot: tokens too
// large for the session cookie are the provider's configuration, which
// the user cannot change but their administrator can.
func (c *Console) keepSession(w http.ResponseWriter, r *http.Request, pg page, s *session) bool {
	err := c.saveSession(w, s)
	switch {
	case err == nil:
		return true
	case errors.Is(err, errCookieTooLarge):
		c.log.Error("the provider's tokens do not fit in the session cookie: its users cannot sign in to the console",
			zap.String("provider", s.Provider), zap.Int("access_token_bytes", len(s.Access)),
			zap.Int("refresh_token_bytes", len(s.Refresh)), zap.Error(err))
		c.renderError(w, r, pg, http.StatusBadGateway, pg.T("error.tokens_too_large"))
	default:
		c.fail(w, r, pg, err)
	}
	return false
}

// tokenExpiry is when the access token expires: as the token response
// says, else as the ID token says.
func tokenExpiry(tok *oauth2.Token, idt *oidc.IDToken) time.Time {
	if !tok.Expiry.IsZero() {
		return tok.Expiry
	}
	return idt.Expiry
}

// signout ends the session here and, when the provider has an
// end_session_endpoint and the session kept the ID token, at the provider
// too (RP-initiated logout), which then sends the user back to the sign-in
// page. The way there is a page that moves on by itself (a Refresh header
// and a link), not a redirect: the console's CSP (form-action 'self')
// forbids a form post from being redirected to another origin.
func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, c.cookies.cookie(c.cookies.session, "", -1))
	end := c.endSessionURL(r)
	if end == "" {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	pg := c.page(w, r, nil)
	pg.Title = pg.T("signout.title")
	w.Header().Set("Refresh", "0; url="+end)
	c.render(w, r, http.StatusOK, SignoutPage(pg, end))
}

// endSessionURL is the provider's end_session_endpoint for the session of
// r, with its ID token as id_token_hint and the sign-in page to come back
// to; empty when the provider has none or the session kept no ID token.
func (c *Console) endSessionURL(r *http.Request) string {
	ck, err := r.Cookie(c.cookies.session)
	if err != nil {
		return ""
	}
	var s session
	if err := c.sealer.open(c.cookies.session, ck.Value, &s); err != nil {
		return ""
	}
	rp, ok := c.providers[s.Provider]
	if !ok {
		return ""
	}
	hint := s.IDToken
	if rp.cfg.IDTokenBearer {
		hint = s.Access
	}
	if _, _, err := rp.discover(r.Context()); err != nil || hint == "" {
		return ""
	}
	rp.mu.Lock()
	endpoint := rp.endSession
	rp.mu.Unlock()
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	q := u.Query()
	q.Set("id_token_hint", hint)
	q.Set("client_id", rp.cfg.ClientID)
	q.Set("post_logout_redirect_uri", strings.TrimSuffix(c.callback, "/callback"))
	u.RawQuery = q.Encode()
	return u.String()
}

// saveSession seals s into the session cookie. When the ID token kept for
// the provider's sign-out makes the cookie too large, it is left out (the
// sign-out is then local only) and a log line says so.
func (c *Console) saveSession(w http.ResponseWriter, s *session) error {
	sealed, err := c.sealer.seal(c.cookies.session, s)
	if errors.Is(err, errCookieTooLarge) && s.IDToken != "" {
		c.log.Warn("the ID token does not fit in the session cookie: signing out will end the session here only, not at the provider",
			zap.String("provider", s.Provider), zap.Int("id_token_bytes", len(s.IDToken)))
		s.IDToken = ""
		sealed, err = c.sealer.seal(c.cookies.session, s)
	}
	if err != nil {
		return err
	}
	// The cookie lives as long as the session may; the tokens inside are
	// checked on every request.
	left := time.Unix(s.Started, 0).Add(c.cfg.MaxSessionAge).Sub(c.now())
	http.SetCookie(w, c.cookies.cookie(c.cookies.session, sealed, max(left, time.Second)))
	return nil
}

// errNoSession means the user must sign in (again).
var errNoSession = errors.New("no session")

// session returns the user's session, refreshing its access token when it
// is about to expire and the provider gave a refresh token. A session past
// its maximum age, whose token expired without a way to renew it, or that
// this deployment did not seal, is ended.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*session, error) {
	ck, err := r.Cookie(c.cookies.session)
	if err != nil {
		return nil, errNoSession
	}
	var s session
	end := func(reason string) (*session, error) {
		c.log.Debug("console session ended", zap.String("reason", reason))
		http.SetCookie(w, c.cookies.cookie(c.cookies.session, "", -1))
		return nil, errNoSession
	}
	if err := c.sealer.open(c.cookies.session, ck.Value, &s); err != nil {
		return end(err.Error())
	}
	now := c.now()
	if now.After(time.Unix(s.Started, 0).Add(c.cfg.MaxSessionAge)) {
		return end("maximum session age")
	}
	if now.Add(refreshMargin).Before(time.Unix(s.Expiry, 0)) {
		return &s, nil
	}
	rp, ok := c.providers[s.Provider]
	if !ok || s.Refresh == "" {
		return end("token expired")
	}
	oc, _, err := rp.discover(r.Context())
	if err != nil {
		return end("provider unreachable for refresh")
	}
	tok, err := oc.TokenSource(rp.ctx(r.Context()), &oauth2.Token{RefreshToken: s.Refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil || tok.AccessToken == "" {
		c.log.Info("token refresh refused", zap.String("provider", s.Provider), zap.Error(err))
		if now.Before(time.Unix(s.Expiry, 0)) {
			// Two pages of one browser may refresh at once, and a provider
			// that rotates refresh tokens accepts only the first: the other
			// keeps its still valid token and leaves the cookie alone, so
			// that it does not end the session the first one renewed.
			return &s, nil
		}
		return end("refresh refused")
	}
	s.Access = tok.AccessToken
	if tok.RefreshToken != "" {
		s.Refresh = tok.RefreshToken
	}
	s.Expiry = tok.Expiry.Unix()
	if tok.Expiry.IsZero() {
		// No lifetime said: ask again at the next page.
		s.Expiry = now.Unix()
	}
	if rp.cfg.IDTokenBearer {
		raw, _ := tok.Extra("id_token").(string)
		_, verifier, _ := rp.discover(r.Context())
		idt, err := verifier.Verify(rp.ctx(r.Context()), raw)
		if err != nil {
			c.log.Info("token refresh gave no valid ID token", zap.String("provider", s.Provider), zap.Error(err))
			return end("refresh gave no ID token")
		}
		s.Access, s.Expiry = raw, idt.Expiry.Unix()
	} else if raw, _ := tok.Extra("id_token").(string); raw != "" && s.IDToken != "" {
		s.IDToken = raw
	}
	if err := c.saveSession(w, &s); err != nil {
		return end(err.Error())
	}
	return &s, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// clipText shortens text from outside (a provider's error code) before it
// is shown.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// signinView is what the sign-in page shows.
type signinView struct {
	States    []string
	State     string
	Providers []providerChoice
	Error     string
	// DirectoryDown says that the directory could not say which providers
	// the state trusts.
	DirectoryDown bool
	// Ended says that the services ended the last session, and
	// EndedReason what they said.
	Ended       bool
	EndedReason string
}

// providerChoice is a provider the user may pick.
type providerChoice struct {
	ID, Name, Issuer string
}

// maxEndedReason bounds the service's words kept for the sign-in page.
const maxEndedReason = 300

// sessionEnded is what the ended-session cookie holds until the sign-in
// page has shown it.
type sessionEnded struct {
	Reason string `json:"r"`
}

// endSession ends the session because the services refused its token,
// and sends the user to the sign-in page, which says why with the
// service's words (kept in a short-lived sealed cookie, never in the URL,
// where anyone could write them).
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, reason string) {
	c.log.Info("console session ended: the services refused its token", zap.String("reason", clipText(reason, maxEndedReason)))
	http.SetCookie(w, c.cookies.cookie(c.cookies.session, "", -1))
	if sealed, err := c.sealer.seal(c.cookies.ended, sessionEnded{Reason: clipText(reason, maxEndedReason)}); err == nil {
		http.SetCookie(w, c.cookies.cookie(c.cookies.ended, sealed, time.Minute))
	}
	if r.Header.Get("HX-Request") == "true" {
		// A partial update would put the sign-in page inside the page.
		w.Header().Set("HX-Redirect", "/signin")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// endedReason returns, once, why the last session ended, if the services
// ended it.
func (c *Console) endedReason(w http.ResponseWriter, r *http.Request) (string, bool) {
	ck, err := r.Cookie(c.cookies.ended)
	if err != nil {
		return "", false
	}
	http.SetCookie(w, c.cookies.cookie(c.cookies.ended, "", -1))
	var e sessionEnded
	if err := c.sealer.open(c.cookies.ended, ck.Value, &e); err != nil {
		return "", false
	}
	return e.Reason, true
}

// providersFor returns the configured providers of state whose issuer the
// directory trusts for it (DESIGN §3 federation), asked without a token
// (ListTrustedIssuers is an anonymous read). A configured provider the
// directory does not trust for the state is left out with a log line
// saying why; down is set when the directory could not be asked.
func (c *Console) providersFor(r *http.Request, state string) (choices []providerChoice, down bool) {
	ctx := r.Context()
	if id := r.Header.Get(traceid.Header); id != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, traceid.Header, id)
	}
	resp, err := c.be.Directory.ListTrustedIssuers(ctx, &directoryv1.ListTrustedIssuersRequest{})
	if err != nil {
		c.log.Warn("the directory cannot say which issuers a state trusts: no provider is offered", zap.String("state", state), zap.Error(err))
		return nil, true
	}
	var trusted []string
	for _, si := range resp.GetStates() {
		if si.GetState() == state {
			trusted = si.GetIssuers()
		}
	}
	for _, id := range c.order {
		p := c.providers[id].cfg
		if !slices.Contains(p.States, state) {
			continue
		}
		if !c.noteTrust(p, state, slices.Contains(trusted, p.Issuer)) {
			continue
		}
		choices = append(choices, providerChoice{ID: p.ID, Name: p.Name, Issuer: p.Issuer})
	}
	return choices, false
}

// noteTrust returns trusted, and logs once that the directory does not trust
// provider p's issuer for state: the sign-in page, which anyone may load,
// must not let a visitor grow the log at will.
func (c *Console) noteTrust(p Provider, state string, trusted bool) bool {
	key := p.ID + " " + state
	if trusted {
		c.untrusted.Delete(key)
		return true
	}
	if _, logged := c.untrusted.LoadOrStore(key, struct{}{}); !logged {
		c.log.Warn("console provider not offered: the directory does not trust its issuer for the state",
			zap.String("provider", p.ID), zap.String("state", state), zap.String("issuer", p.Issuer))
	}
	return false
}
