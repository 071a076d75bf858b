// Package cliauth signs a user of the command line (comityctl login) in at
// an OpenID provider by the OAuth 2.0 device authorization grant (RFC
// 8628): the command prints an address and a code, the user opens the
// address in any browser, signs in there and approves, and the command,
// which has polled the provider meanwhile, receives the tokens. A command
// line cannot keep a client secret, so the client is public (an id only).
//
// The token it returns is the one the console presents to the services for
// the same provider: the access token, or the ID token for a provider
// whose access tokens carry no user claims (Options.IDTokenBearer, the
// console's bearer=id_token). Locally the development provider that
// comity-local serves at DevIssuer offers the grant to DefaultClientID.
//
// A command's body, e.g. comityctl login's:
//
//	func runLogin(ctx context.Context, o cliauth.Options) (cliauth.Token, error) {
//		o.Out = os.Stderr // the instructions, apart from any output
//		tok, err := cliauth.Login(ctx, o)
//		if err != nil {
//			return cliauth.Token{}, err
//		}
//		// Save tok.Token, tok.Expiry, tok.RefreshToken, o.Issuer and
//		// o.ClientID; once tok.Expiry is near, cliauth.Refresh(ctx, o,
//		// tok.RefreshToken) renews it (the new refresh token replaces the
//		// old), and errors.Is(err, cliauth.ErrRefreshRefused) means
//		// signing in again.
//		return tok, nil
//	}
package cliauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DevIssuer is the development provider comity-local serves, and
// DefaultClientID the public client it registers for comityctl.
const (
	DevIssuer       = "http://127.0.0.1:8079"
	DefaultClientID = "comityctl"
)

// Options say where and how to sign in.
type Options struct {
	// Issuer is the provider's issuer URL: https, or http for a provider
	// on this computer (a loopback address or localhost). Its discovery
	// document (/.well-known/openid-configuration) must name a
	// device_authorization_endpoint.
	Issuer string
	// ClientID is the public client registered at the provider for the
	// device authorization grant.
	ClientID string
	// Scopes are asked for beside openid; nil means profile and
	// offline_access (for a refresh token), as the console asks.
	Scopes []string
	// IDTokenBearer makes Token the ID token instead of the access token,
	// for a provider whose access tokens carry no user claims (the
	// console's bearer=id_token); the client id must then be the audience
	// the services require, comity.
	IDTokenBearer bool
	// HTTPClient makes every call to the provider; nil means a client
	// whose calls time out after 30 seconds.
	HTTPClient *http.Client
	// Out receives the instructions for the user: where to go and the
	// code. Login requires it.
	Out io.Writer
}

// Token is what a sign-in gives.
type Token struct {
	// Token is the bearer token the services accept (see
	// Options.IDTokenBearer).
	Token string
	// Expiry is when Token expires; zero when the provider did not say.
	Expiry time.Time
	// RefreshToken renews Token (Refresh); empty when the provider gave
	// none.
	RefreshToken string
}

// The errors of Login and Refresh a caller may act on; each comes wrapped
// in words saying what to do.
var (
	// ErrNoDeviceGrant: the provider does not offer the device
	// authorization grant.
	ErrNoDeviceGrant = errors.New("the identity provider does not offer the device authorization grant")
	// ErrAccessDenied: the user denied the sign-in at the provider.
	ErrAccessDenied = errors.New("access denied")
	// ErrExpired: the code expired before the user approved.
	ErrExpired = errors.New("the code expired")
	// ErrRefreshRefused: the provider no longer accepts the refresh token
	// (it expired, was revoked or was used already): sign in again.
	ErrRefreshRefused = errors.New("the identity provider refused the refresh token")
)

// defaultTimeout bounds each call to the provider when Options.HTTPClient
// is nil.
const defaultTimeout = 30 * time.Second

// Login signs the user in by the device authorization grant: it asks the
// provider for a code, writes to o.Out where to enter it, and polls the
// provider, as often as it says, until the user approved (the token),
// denied (ErrAccessDenied), or let the code expire (ErrExpired), or ctx
// ends.
func Login(ctx context.Context, o Options) (Token, error) {
	if o.Out == nil {
		return Token{}, errors.New("cliauth: Options.Out is nil: the user would never see the code")
	}
	ctx, p, oc, err := o.discover(ctx)
	if err != nil {
		return Token{}, err
	}
	if oc.Endpoint.DeviceAuthURL == "" {
		return Token{}, fmt.Errorf("%w: the discovery document of %s names no device_authorization_endpoint; get a token another way and pass it with --token instead",
			ErrNoDeviceGrant, o.Issuer)
	}
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return Token{}, o.deviceAuthError(ctx, err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return Token{}, fmt.Errorf("the identity provider %s answered the device sign-in without a device code, a user code or a verification address", o.Issuer)
	}
	var validity time.Duration
	if !da.Expiry.IsZero() {
		validity = time.Until(da.Expiry).Round(time.Second)
	}
	o.instruct(da, validity)
	tok, err := oc.DeviceAccessToken(ctx, da)
	if err != nil {
		return Token{}, o.pollError(ctx, err, da, validity)
	}
	return o.token(ctx, p, tok)
}

// Refresh renews a token with the refresh token a sign-in gave.
func Refresh(ctx context.Context, o Options, refreshToken string) (Token, error) {
	if refreshToken == "" {
		return Token{}, fmt.Errorf("%w: there is no refresh token: sign in again", ErrRefreshRefused)
	}
	ctx, p, oc, err := o.discover(ctx)
	if err != nil {
		return Token{}, err
	}
	// An expired token without an access token makes the source refresh.
	tok, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		if ctx.Err() != nil {
			return Token{}, fmt.Errorf("the token refresh was interrupted: %w", ctx.Err())
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_token") {
			return Token{}, fmt.Errorf("%w (%s): sign in again", ErrRefreshRefused, describe(re))
		}
		if errors.As(err, &re) {
			return Token{}, fmt.Errorf("the identity provider %s refused to refresh the token: %s", o.Issuer, describe(re))
		}
		return Token{}, fmt.Errorf("the identity provider %s could not be asked to refresh the token: %w", o.Issuer, err)
	}
	return o.token(ctx, p, tok)
}

// discover reads the provider's discovery document and returns the OAuth
// configuration of the public client, and ctx carrying the HTTP client.
func (o Options) discover(ctx context.Context) (context.Context, *oidc.Provider, *oauth2.Config, error) {
	if err := checkIssuer(o.Issuer); err != nil {
		return nil, nil, nil, err
	}
	if strings.TrimSpace(o.ClientID) == "" {
		return nil, nil, nil, errors.New("no client id: give the id of the client registered at the identity provider for the device grant (comityctl locally)")
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}
	ctx = oidc.ClientContext(ctx, client)
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the identity provider %s cannot be reached or is not an OpenID provider: %w", o.Issuer, err)
	}
	ep := p.Endpoint()
	// A public client has no secret to send: its id goes in the form,
	// and no probing of Basic authentication doubles every poll.
	ep.AuthStyle = oauth2.AuthStyleInParams
	scopes := o.Scopes
	if scopes == nil {
		scopes = []string{oidc.ScopeProfile, oidc.ScopeOfflineAccess}
	}
	return ctx, p, &oauth2.Config{ClientID: o.ClientID, Endpoint: ep, Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}, nil
}

// checkIssuer refuses an issuer to which tokens would travel in clear
// over a network.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if issuer == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("the issuer %q is not the URL of an identity provider (e.g. https://idp.example.org/realms/comity, or %s locally)", issuer, DevIssuer)
	}
	if u.Scheme == "http" && !Loopback(u.Hostname()) {
		return fmt.Errorf("the issuer %s is plain http: tokens would cross the network unencrypted; use https (http only for a provider on this computer)", issuer)
	}
	return nil
}

// Loopback reports whether host is this computer (localhost or a loopback
// address): the one place a token may travel over plain http.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// instruct tells the user where to sign in.
func (o Options) instruct(da *oauth2.DeviceAuthResponse, validity time.Duration) {
	expires := ""
	if validity > 0 {
		expires = " (the code expires in " + words(validity) + ")"
	}
	code := printable(da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(o.Out, "To sign in, open this address in a browser:\n\n    %s\n\ncheck that the page shows the code %s, sign in there and approve.\nWaiting for the sign-in%s...\n",
			printable(da.VerificationURIComplete), code, expires)
		return
	}
	fmt.Fprintf(o.Out, "To sign in, open this address in a browser:\n\n    %s\n\nenter the code %s, sign in there and approve.\nWaiting for the sign-in%s...\n",
		printable(da.VerificationURI), code, expires)
}

// printable keeps what the provider says from writing control sequences
// to the user's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// words says a duration as a person would.
func words(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d == time.Second:
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", d/time.Second)
}

// describe is a provider's error in its own words, clipped and printable.
func describe(re *oauth2.RetrieveError) string {
	s := re.ErrorCode
	if s == "" && re.Response != nil {
		s = re.Response.Status
	}
	if re.ErrorDescription != "" {
		s += ": " + re.ErrorDescription
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return printable(s)
}

// deviceAuthError says why the provider would not start a device sign-in.
func (o Options) deviceAuthError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("the sign-in was interrupted: %w", ctx.Err())
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("the identity provider %s could not be asked for a device code: %w", o.Issuer, err)
	}
	switch re.ErrorCode {
	case "invalid_client", "unauthorized_client":
		return fmt.Errorf("the identity provider %s does not let client %q use the device grant (%s): give the id of a public client registered there for the device authorization grant (--client-id)",
			o.Issuer, o.ClientID, describe(re))
	case "unsupported_grant_type":
		return fmt.Errorf("%w: %s says %s; get a token another way and pass it with --token instead", ErrNoDeviceGrant, o.Issuer, describe(re))
	}
	return fmt.Errorf("the identity provider %s refused to start the device sign-in: %s", o.Issuer, describe(re))
}

// pollError says why no token came.
func (o Options) pollError(ctx context.Context, err error, da *oauth2.DeviceAuthResponse, validity time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("the sign-in was interrupted: %w", ctx.Err())
	}
	where := printable(da.VerificationURI)
	expired := func() error {
		within := ""
		if validity > 0 {
			within = " within " + words(validity)
		}
		return fmt.Errorf("%w before the sign-in was approved at %s: start the sign-in again and approve it%s", ErrExpired, where, within)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch re.ErrorCode {
		case "access_denied":
			return fmt.Errorf("%w: the sign-in was denied at the identity provider (%s); start it again if that was a mistake", ErrAccessDenied, where)
		case "expired_token":
			return expired()
		}
		return fmt.Errorf("the identity provider %s refused the sign-in: %s", o.Issuer, describe(re))
	}
	// DeviceAccessToken stops polling when the code expires, by a
	// deadline of its own: ctx itself has not ended.
	if errors.Is(err, context.DeadlineExceeded) {
		return expired()
	}
	return fmt.Errorf("the identity provider %s could not be asked for the token: %w", o.Issuer, err)
}

// token checks the provider's answer and picks the token to present.
func (o Options) token(ctx context.Context, p *oidc.Provider, tok *oauth2.Token) (Token, error) {
	rawID, _ := tok.Extra("id_token").(string)
	var idt *oidc.IDToken
	if rawID != "" {
		var err error
		if idt, err = p.Verifier(&oidc.Config{ClientID: o.ClientID}).Verify(ctx, rawID); err != nil {
			return Token{}, fmt.Errorf("the identity provider %s gave an ID token that is not valid: %w", o.Issuer, err)
		}
	}
	t := Token{Token: tok.AccessToken, Expiry: tok.Expiry, RefreshToken: tok.RefreshToken}
	switch {
	case o.IDTokenBearer && idt == nil:
		return Token{}, fmt.Errorf("the identity provider %s gave no ID token, the token to present with IDTokenBearer", o.Issuer)
	case o.IDTokenBearer:
		t.Token, t.Expiry = rawID, idt.Expiry
	case t.Token == "":
		return Token{}, fmt.Errorf("the identity provider %s gave no access token", o.Issuer)
	case t.Expiry.IsZero() && idt != nil:
		t.Expiry = idt.Expiry
	}
	return t, nil
}
