package identity

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/errs"
	jose "github.com/go-jose/go-jose/v4"
)

// Audience is the `aud` every Comity token must carry, so that a token an
// issuer minted for another relying party cannot be replayed against Comity.
const Audience = "comity"

// Issuer is one token issuer the deployment knows, and where its public keys are.
type Issuer struct {
	ID   string // the JWT `iss` value
	JWKS string // a file path, or an http(s) URL serving a JWK Set
}

// Bounds on what a token may carry. They keep a hostile token from costing
// more than a legitimate one and keep claims that end up in audit records and
// logs readable.
const (
	maxTokenLen   = 16 << 10
	maxSubjectLen = 256
	maxNameLen    = 256
)

// The defaults of the VerifierOptions.
const (
	defaultLeeway        = 30 * time.Second
	defaultTrustCacheTTL = 30 * time.Second
	defaultHTTPTimeout   = 10 * time.Second
)

// agencyIDPattern is the shape of an agency id (DESIGN §4).
var agencyIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// allowedAlgs are the signature algorithms a token may use. Everything else
// is refused before a key is looked at: `none` would need no key, and an HMAC
// algorithm would let anyone who knows an issuer's public key forge tokens.
var allowedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256, jose.PS256}

type verifierOptions struct {
	now      func() time.Time
	leeway   time.Duration
	trustTTL time.Duration
	tokenTTL time.Duration
	client   *http.Client
	services []string
}

// VerifierOption tunes a Verifier; the defaults suit production.
type VerifierOption func(*verifierOptions)

// WithServiceIssuers names the issuers (among those given to NewVerifier)
// whose tokens identify Comity's own services rather than users: they carry
// a `service` claim and no agency, and yield a Principal with Service set.
// Tokens of other issuers may never claim a service.
func WithServiceIssuers(ids ...string) VerifierOption {
	return func(o *verifierOptions) { o.services = append(o.services, ids...) }
}

// WithClock makes the Verifier read time from now, so that tests can put a
// token, and the key and trust caches, at any point of their lives.
func WithClock(now func() time.Time) VerifierOption {
	return func(o *verifierOptions) { o.now = now }
}

// WithLeeway sets how far the clocks of issuers and services may disagree
// when exp, nbf and iat are checked. The default is 30s.
func WithLeeway(d time.Duration) VerifierOption {
	return func(o *verifierOptions) { o.leeway = d }
}

// WithTrustCacheTTL sets how long what the directory said about an agency
// (including that it does not exist) is reused, so that the hot path does not
// ask the directory on every call. A deactivation or a change of trusted
// issuers takes up to d to be noticed. The default is 30s; 0 disables the
// cache.
func WithTrustCacheTTL(d time.Duration) VerifierOption {
	return func(o *verifierOptions) { o.trustTTL = d }
}

// WithTokenCacheTTL sets how long a token whose signature and claims were
// checked is accepted again without checking them, so that a caller's
// every call does not cost a signature verification. An entry never
// outlives the token, nor the issuer keys it was checked with; the
// agency's trust is checked on every call regardless. The default is 1m;
// 0 disables the cache.
func WithTokenCacheTTL(d time.Duration) VerifierOption {
	return func(o *verifierOptions) { o.tokenTTL = d }
}

// WithHTTPClient sets the client that fetches JWK Sets served over HTTP(S),
// for deployments that need a proxy or a private CA. The default client
// gives up after 10s.
func WithHTTPClient(c *http.Client) VerifierOption {
	return func(o *verifierOptions) { o.client = c }
}

// Verifier authenticates bearer tokens. It is safe for concurrent use; keys
// and directory answers are cached so that verifying is CPU work only.
type Verifier struct {
	issuers        map[string]*issuerKeys
	serviceIssuers []string
	trust          *trustCache
	tokens         *tokenCache
	refusals       *refusalCache
	now            func() time.Time
	leeway         time.Duration
}

// NewVerifier returns a Verifier that accepts tokens of issuers, checked
// against the directory through trust.
//
// JWK Sets in files are read now, so that a misconfigured path stops the
// service at start rather than refusing every caller; JWK Sets served over
// HTTP(S) are fetched on first use, so that a service can start while its
// identity provider is briefly unreachable.
func NewVerifier(issuers []Issuer, trust TrustSource, opts ...VerifierOption) (*Verifier, error) {
	o := verifierOptions{
		now:      time.Now,
		leeway:   defaultLeeway,
		trustTTL: defaultTrustCacheTTL,
		tokenTTL: defaultTokenCacheTTL,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if trust == nil {
		return nil, errors.New("identity: NewVerifier needs a TrustSource")
	}
	if o.now == nil {
		return nil, errors.New("identity: WithClock needs a clock")
	}
	if o.leeway < 0 {
		return nil, fmt.Errorf("identity: leeway %v is negative", o.leeway)
	}
	if o.trustTTL < 0 {
		return nil, fmt.Errorf("identity: trust cache TTL %v is negative", o.trustTTL)
	}
	if o.tokenTTL < 0 {
		return nil, fmt.Errorf("identity: token cache TTL %v is negative", o.tokenTTL)
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if len(issuers) == 0 {
		return nil, errors.New("identity: NewVerifier needs at least one issuer")
	}

	v := &Verifier{
		issuers:        make(map[string]*issuerKeys, len(issuers)),
		serviceIssuers: o.services,
		trust:          newTrustCache(trust, o.trustTTL),
		tokens:         newTokenCache(o.tokenTTL),
		refusals:       newRefusalCache(o.trustTTL),
		now:            o.now,
		leeway:         o.leeway,
	}
	for _, iss := range issuers {
		if iss.ID == "" {
			return nil, errors.New("identity: an issuer has no ID")
		}
		if _, dup := v.issuers[iss.ID]; dup {
			return nil, fmt.Errorf("identity: issuer %q is configured twice", iss.ID)
		}
		src, err := newKeySource(iss.JWKS, o.client)
		if err != nil {
			return nil, fmt.Errorf("identity: issuer %q: %w", iss.ID, err)
		}
		ik := newIssuerKeys(iss.ID, src)
		if !src.remote() {
			if err := ik.load(context.Background(), o.now()); err != nil {
				return nil, fmt.Errorf("identity: issuer %q: %w", iss.ID, err)
			}
		}
		v.issuers[iss.ID] = ik
	}
	return v, nil
}

// Verify checks a raw compact JWT (without the "Bearer " prefix) and returns
// the principal it authenticates.
//
// Every reason to refuse the token is an errs.Unauthenticated error whose
// message says what is wrong with it. When the token is genuine (an issuer
// Comity knows signed it) but the directory refuses what it claims — its
// agency is unknown or deactivated, its issuer is not trusted for the
// agency's state, it grants no Comity role, or a role its agency's kind may
// not hold (RoleAllowedAt) — the error is a *RefusedError naming who the
// token claimed to be, so that the refusal can be recorded with that actor.
// Unknown role names are ignored. When the directory cannot be asked, or
// an issuer's keys have never been fetched, the error is errs.Unavailable
// instead: that is not the caller's fault and retrying may help. A directory
// that names no state for an agency is an errs.Internal error.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (Principal, error) {
	now := v.now()

	c, err := v.verifiedClaims(ctx, rawToken, now)
	if err != nil {
		return Principal{}, err
	}
	if slices.Contains(v.serviceIssuers, c.iss) {
		// A service speaks for itself, not for an agency of a state: there
		// is no directory trust to check, and no user role.
		return Principal{Subject: c.sub, Service: c.service, Issuer: c.iss, Expiry: c.exp.Add(v.leeway)}, nil
	}

	// From here on the token is genuine: an issuer Comity knows signed it.
	// What it claims is refused or not by what the directory says, and a
	// refusal names who it claimed to be, so that the call is recorded.
	// A refusal the directory gave is remembered per token like the
	// directory's answers per agency: a caller repeating a refused token
	// (each call counted and refused) must not make every service ask the
	// directory, which records each time it refuses, again on every call.
	var key [sha256.Size]byte
	if v.refusals.enabled() {
		key = sha256.Sum256([]byte(rawToken))
		if r, ok := v.refusals.get(key, now); ok {
			return Principal{}, r
		}
	}
	claimed, err := v.mapClaims(ctx, c, key, now)
	if err != nil {
		return Principal{}, err
	}
	trust, err := v.trust.get(ctx, claimed.Agency, now)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return Principal{}, refused(claimed, "agency %q is not in the directory", claimed.Agency)
	case err != nil:
		return Principal{}, v.trustFailure(claimed, err, key, now)
	case trust.State == "":
		// Need-to-know compares states; an empty one would match another.
		return Principal{}, errs.New(errs.Internal, "the agency directory has no state for agency %s", claimed.Agency)
	case trust.Kind == "":
		// Which roles count depends on it.
		return Principal{}, errs.New(errs.Internal, "the agency directory has no kind for agency %s", claimed.Agency)
	}
	claimed.State = trust.State
	switch {
	case !trust.Active:
		return Principal{}, refused(claimed, "agency %q is deactivated", claimed.Agency)
	case !slices.Contains(trust.TrustedIssuers, c.iss):
		return Principal{}, refused(claimed, "token issuer %q is not trusted for state %s", clip(c.iss), trust.State)
	}
	if err := checkRoles(claimed, trust.Kind); err != nil {
		return Principal{}, err
	}
	return claimed, nil
}

// trustFailure is the error of a token when the directory, asked about it,
// answered err (not "not found"): the directory's own refusal of the token,
// passed on and remembered under key, or its unavailability.
func (v *Verifier) trustFailure(claimed Principal, err error, key [sha256.Size]byte, now time.Time) error {
	var dirRefused *RefusedError
	var dirErr *errs.Error
	switch {
	case errors.As(err, &dirRefused):
		// The directory, asked with this very token, refused it with the
		// same rules: pass its reason on, with the state it knows.
		claimed.State = dirRefused.Claimed.State
		if claimed.Agency == "" && agencyIDPattern.MatchString(dirRefused.Claimed.Agency) {
			// Refused before this service could read the issuer's claim
			// mapping: who the token claimed to be is what the directory
			// read through it.
			claimed.Agency, claimed.Roles = dirRefused.Claimed.Agency, dirRefused.Claimed.Roles
		}
		r := &RefusedError{Claimed: claimed, Err: dirRefused.Err}
		v.refusals.put(key, r, now)
		return r
	case errors.As(err, &dirErr) && dirErr.Code == errs.Unauthenticated:
		r := &RefusedError{Claimed: claimed, Err: errs.New(errs.Unauthenticated, "%s", dirErr.Error())}
		v.refusals.put(key, r, now)
		return r
	}
	return errs.Wrap(err, errs.Unavailable, "the agency directory is unavailable")
}

// mapClaims reads who a genuine user token claims to be through the claim
// mapping its issuer's directory entry gives (DESIGN §3): the default one
// when no state lists the issuer (the directory then refuses the token as
// untrusted, naming its agency). When states trusting the issuer map its
// tokens differently, the mapping of the state whose agency the token
// then names is the one that counts.
func (v *Verifier) mapClaims(ctx context.Context, c claims, key [sha256.Size]byte, now time.Time) (Principal, error) {
	base := Principal{Subject: c.sub, Issuer: c.iss, Expiry: c.exp.Add(v.leeway)}
	entries, err := v.trust.issuer(ctx, c.iss, now)
	if err != nil {
		return Principal{}, v.trustFailure(base, err, key, now)
	}
	candidates := distinctMappings(entries, c.iss)
	var mapped *Principal
	var firstErr error
	for _, e := range candidates {
		p, err := applyMapping(base, c, e)
		if len(candidates) == 1 {
			return p, err
		}
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		t, err := v.trust.get(ctx, p.Agency, now)
		switch {
		case err == nil && t.State == e.State:
			return p, nil
		case err != nil && !errors.Is(err, errs.ErrNotFound):
			// The directory could not say (or refused the token): that
			// is its answer, not this mapping's mismatch.
			return Principal{}, v.trustFailure(p, err, key, now)
		}
		if mapped == nil {
			mapped = &p
		}
	}
	if mapped == nil {
		return Principal{}, firstErr
	}
	return Principal{}, refused(*mapped, "token issuer %q is trusted by several states with different claim mappings, and none of them maps this token to an agency of its own state", clip(c.iss))
}

// distinctMappings returns the entries whose mappings differ, the first of
// each; the default mapping when there is none.
func distinctMappings(entries []IssuerEntry, issuer string) []IssuerEntry {
	var out []IssuerEntry
	for _, e := range entries {
		if !slices.ContainsFunc(out, func(o IssuerEntry) bool { return o.Mapping.Equal(e.Mapping) }) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		out = []IssuerEntry{{Mapping: DefaultMapping(issuer)}}
	}
	return out
}

// applyMapping returns base with the name, agency and roles the token's
// claims give through entry's mapping. A claim that is missing or of the
// wrong type is an errs.Unauthenticated error naming it; a value the
// mapping does not know is a *RefusedError naming the claim and the value,
// with the state of the entry, so that the refusal is recorded.
func applyMapping(base Principal, c claims, e IssuerEntry) (Principal, error) {
	m, err := e.Mapping.apply(c.fields)
	var um *unmappedError
	if errors.As(err, &um) {
		p := base
		p.State, p.Name = e.State, m.name
		if agencyIDPattern.MatchString(m.agency) {
			p.Agency = m.agency
		}
		return Principal{}, refused(p, "%s", um.msg)
	}
	if err != nil {
		return Principal{}, unauthenticated("token %v", err)
	}
	if err := checkText("name", m.name, maxNameLen, false); err != nil {
		return Principal{}, unauthenticated("token %v", err)
	}
	agencyClaim := e.Mapping.normalized().AgencyClaim
	switch {
	case m.agency == "":
		return Principal{}, unauthenticated("token has no agency (claim %q)", agencyClaim)
	case !agencyIDPattern.MatchString(m.agency):
		return Principal{}, unauthenticated("token agency %q (claim %q) is not an agency id", clip(m.agency), agencyClaim)
	}
	p := base
	p.Name, p.Agency, p.Roles = m.name, m.agency, knownRoles(m.roles)
	return p, nil
}

// verifiedClaims returns the claims of a token whose shape, issuer,
// signature and claims are valid, from the token cache when it holds them.
func (v *Verifier) verifiedClaims(ctx context.Context, rawToken string, now time.Time) (claims, error) {
	if !v.tokens.enabled() || len(rawToken) > maxTokenLen {
		c, _, _, err := v.checkToken(ctx, rawToken, now)
		return c, err
	}
	key := sha256.Sum256([]byte(rawToken))
	if c, ok := v.tokens.get(key, now); ok {
		return c, nil
	}
	c, ik, ks, err := v.checkToken(ctx, rawToken, now)
	if err != nil {
		return claims{}, err
	}
	if ks != nil {
		v.tokens.put(key, c, ik, ks, c.exp.Add(v.leeway), now)
	}
	return c, nil
}

// checkToken checks everything about a token that does not depend on the
// directory: its shape, issuer, signature and claims. It returns the claims,
// the issuer's keys, and the key set that checked the signature (nil when
// a refresh replaced the set meanwhile).
func (v *Verifier) checkToken(ctx context.Context, rawToken string, now time.Time) (claims, *issuerKeys, *keySet, error) {
	hdr, payload, err := splitToken(rawToken)
	if err != nil {
		return claims{}, nil, nil, err
	}
	fields, err := decodeObject(payload)
	if err != nil {
		return claims{}, nil, nil, unauthenticated("token claims are malformed")
	}
	// Only the issuer is read before the signature is checked, and only to
	// choose the keys to check it with.
	iss, _, err := stringField(fields, "iss")
	switch {
	case err != nil:
		return claims{}, nil, nil, unauthenticated("token %v", err)
	case iss == "":
		return claims{}, nil, nil, unauthenticated("token has no issuer")
	}
	ik, ok := v.issuers[iss]
	if !ok {
		return claims{}, nil, nil, unauthenticated("token issuer %q is not known", clip(iss))
	}
	ks, err := v.checkSignature(ctx, ik, hdr, rawToken, now)
	if err != nil {
		return claims{}, nil, nil, err
	}
	c, err := claimsFrom(fields)
	if err != nil {
		return claims{}, nil, nil, unauthenticated("token %v", err)
	}
	if err := v.checkClaims(c, now); err != nil {
		return claims{}, nil, nil, err
	}
	return c, ik, ks, nil
}

// checkSignature checks the token's signature with the keys of ik and
// returns the key set they came from, or nil when a refresh replaced the set
// during the call, so that which set it was is unknown.
func (v *Verifier) checkSignature(ctx context.Context, ik *issuerKeys, hdr header, rawToken string, now time.Time) (*keySet, error) {
	before := ik.set.Load()
	keys, err := ik.keysFor(ctx, hdr, now)
	if err != nil {
		return nil, err
	}
	used := ik.set.Load()
	if used != before {
		used = nil
	}
	jws, err := jose.ParseSignedCompact(rawToken, allowedAlgs)
	if err != nil {
		return nil, unauthenticated("token is malformed")
	}
	for _, k := range keys {
		if _, err := jws.Verify(k.pub); err == nil {
			return used, nil
		}
	}
	return nil, unauthenticated("token signature invalid")
}

func (v *Verifier) checkClaims(c claims, now time.Time) error {
	switch {
	case c.exp == nil:
		return unauthenticated("token has no expiry")
	case !now.Before(c.exp.Add(v.leeway)):
		return unauthenticated("token expired")
	case c.nbf != nil && now.Add(v.leeway).Before(*c.nbf):
		return unauthenticated("token is not yet valid")
	case c.iat != nil && c.iat.After(now.Add(v.leeway)):
		return unauthenticated("token is issued in the future")
	case !slices.Contains(c.aud, Audience):
		return unauthenticated("token audience is not %s", Audience)
	}
	if err := checkText("subject", c.sub, maxSubjectLen, true); err != nil {
		return unauthenticated("token %v", err)
	}
	if slices.Contains(v.serviceIssuers, c.iss) {
		switch {
		case !slices.Contains(Services, c.service):
			return unauthenticated("service token names no known service")
		case present(c.fields, DefaultAgencyClaim) || present(c.fields, DefaultRolesClaim):
			return unauthenticated("a service token names no agency and no roles")
		}
		return nil
	}
	if c.service != "" {
		return unauthenticated("only the service issuer may vouch for a service")
	}
	return nil
}

// present reports whether a token carries claim name with a value.
func present(fields map[string]json.RawMessage, name string) bool {
	v, ok := fields[name]
	return ok && !isNull(v) && string(v) != "[]" && string(v) != `""`
}

// checkText refuses text that is missing when required, too long, or not
// printable: subjects and names end up in audit records and logs.
func checkText(what, s string, maxLen int, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("has no %s", what)
	case len(s) > maxLen:
		return fmt.Errorf("%s is longer than %d bytes", what, maxLen)
	case !printable(s):
		return fmt.Errorf("%s is not printable text", what)
	}
	return nil
}

// knownRoles keeps the roles this version knows, in token order, once each:
// an issuer may know roles that Comity does not, and they grant nothing here.
func knownRoles(names []string) []Role {
	var roles []Role
	for _, n := range names {
		if r, ok := ParseRole(n); ok && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles
}

// BearerToken extracts the token of an Authorization header of the form
// "Bearer <token>" (RFC 6750; the scheme is case-insensitive). It returns an
// errs.Unauthenticated error when there is no token or the scheme is not
// Bearer, so that an interceptor can hand its error straight to the caller.
func BearerToken(authorizationHeader string) (string, error) {
	h := strings.TrimSpace(authorizationHeader)
	if h == "" {
		return "", unauthenticated("missing bearer token")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated("authorization header is not a bearer token")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", unauthenticated("missing bearer token")
	}
	if strings.ContainsFunc(tok, notB64Token) {
		return "", unauthenticated("authorization header is not a bearer token")
	}
	return tok, nil
}

// notB64Token reports whether r cannot appear in an RFC 6750 b64token, the
// character set of every bearer token, JWTs included.
func notB64Token(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~+/=", r)
}

func unauthenticated(format string, args ...any) error {
	return errs.New(errs.Unauthenticated, format, args...)
}

// clip shortens text taken from a token before it is quoted in an error, so
// that a hostile token cannot make error messages and logs arbitrarily long.
func clip(s string) string {
	const maxLen = 64
	if len(s) <= maxLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxLen], "") + "…"
}

// header is what Verify reads of the JOSE header before it checks the
// signature.
type header struct {
	alg jose.SignatureAlgorithm
	kid string
}

// splitToken checks the shape of a compact JWS strictly, so that one token
// has exactly one encoding, and returns its header and decoded payload.
// go-jose checks the signature afterwards; the strict pass keeps what it
// accepts narrower than what it would tolerate (non-canonical base64,
// duplicate or differently cased JSON keys, critical extensions).
func splitToken(raw string) (header, []byte, error) {
	var h header
	if raw == "" {
		return h, nil, unauthenticated("token is empty")
	}
	if len(raw) > maxTokenLen {
		return h, nil, unauthenticated("token is longer than %d bytes", maxTokenLen)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return h, nil, unauthenticated("token is not a compact JWS")
	}
	dec := base64.RawURLEncoding.Strict()
	var seg [3][]byte
	for i, p := range parts {
		b, err := dec.DecodeString(p)
		if err != nil || (i != 2 && len(b) == 0) {
			return h, nil, unauthenticated("token is malformed")
		}
		seg[i] = b
	}
	fields, err := decodeObject(seg[0])
	if err != nil {
		return h, nil, unauthenticated("token header is malformed")
	}
	alg, ok, err := stringField(fields, "alg")
	if err != nil || !ok {
		return h, nil, unauthenticated("token header has no algorithm")
	}
	h.alg = jose.SignatureAlgorithm(alg)
	if !slices.Contains(allowedAlgs, h.alg) {
		return h, nil, unauthenticated("token algorithm %q is not allowed", clip(alg))
	}
	if h.kid, _, err = stringField(fields, "kid"); err != nil {
		return h, nil, unauthenticated("token header is malformed")
	}
	// Critical extensions (RFC 7515 §4.1.11), such as an unencoded payload,
	// change what the signature covers; a JWT needs none of them.
	if _, crit := fields["crit"]; crit {
		return h, nil, unauthenticated("token header has critical extensions")
	}
	if _, b64 := fields["b64"]; b64 {
		return h, nil, unauthenticated("token header has critical extensions")
	}
	return h, seg[1], nil
}

// newKeySource returns where an issuer's JWK Set is read from.
func newKeySource(loc string, client *http.Client) (keySource, error) {
	if loc == "" {
		return nil, errors.New("no JWKS location")
	}
	lower := strings.ToLower(loc)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		u, err := url.Parse(loc)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("JWKS URL %q is not a URL", loc)
		}
		return urlSource{url: u.String(), client: client}, nil
	}
	return fileSource{path: loc}, nil
}
