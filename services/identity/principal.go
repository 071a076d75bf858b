// Package identity authenticates callers: it verifies bearer JWTs against the
// JWKS of trusted issuers, checks that the issuer is trusted for the state of
// the agency the token names, and hands the domain code a typed Principal.
// It also runs the local deployment's dev issuer.
package identity

import (
	"context"
	"slices"
	"time"

	"github.com/comity-mla/comity/services/errs"
)

// Role is what a user may do, from the token's `roles` claim.
type Role string

// The roles of DESIGN §3.
const (
	Prosecutor       Role = "prosecutor"
	CentralAuthority Role = "central_authority"
	LiaisonOfficer   Role = "liaison_officer"
	Auditor          Role = "auditor"
	DirectoryAdmin   Role = "directory_admin"
)

// Roles lists every role, in a stable order.
var Roles = []Role{Prosecutor, CentralAuthority, LiaisonOfficer, Auditor, DirectoryAdmin}

// ParseRole returns the role named s, and false when s names none.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, slices.Contains(Roles, r)
}

// Principal is an authenticated caller.
type Principal struct {
	// Subject is the token's `sub`: who the user is at their issuer.
	Subject string
	// Name is the user's display name (`name`), possibly empty.
	Name string
	// Agency is the agency id the token names, e.g. `kz-gpo`.
	Agency string
	// State is the ISO 3166-1 alpha-2 code of the agency's state, from the
	// directory, not from the token.
	State string
	// Roles are the known roles of the token, each one its agency's kind may
	// hold (RoleAllowedAt); unknown role names are dropped.
	Roles []Role
	// Issuer is the token's `iss`.
	Issuer string
	// Expiry is when the verifier stops accepting the token: its `exp` plus
	// the clock leeway. Zero for a principal made from no user token. A
	// call that lasts (a watch stream) ends then, as a new call would be
	// refused.
	Expiry time.Time
	// Service is set, instead of Agency, State and Roles, when the caller is
	// one of Comity's own services (e.g. "comity-request") rather than a
	// user.
	Service string
}

// HasRole reports whether p holds role r.
func (p Principal) HasRole(r Role) bool { return slices.Contains(p.Roles, r) }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Require returns the principal carried by ctx, or an errs.Unauthenticated
// error: the gRPC server authenticates every call before a handler runs, so
// handlers take the caller from here.
func Require(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, errs.New(errs.Unauthenticated, "missing credentials")
	}
	return p, nil
}

// FromContext returns the principal carried by ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// AgencyTrust is what the directory says about an agency when a token names
// it: the agency's state and kind, whether it is active, and which issuers
// that state trusts.
type AgencyTrust struct {
	State string
	// Kind is the agency's kind as the directory names it
	// (CENTRAL_AUTHORITY, PROSECUTION, …): it decides which roles count
	// there (RoleAllowedAt).
	Kind           string
	Active         bool
	TrustedIssuers []string
}

// TrustSource answers for the directory. The directory service implements it
// from its own store; other services ask the directory over gRPC.
type TrustSource interface {
	// AgencyTrust returns the trust facts of agency id. It returns an error
	// matching errs.ErrNotFound when the agency is not in the directory. A
	// source that asks the directory with the caller's own token returns the
	// directory's refusal of that token as an error matching
	// errs.ErrUnauthenticated, a *RefusedError when the directory said who
	// the token claimed to be; any other error means the directory could not
	// answer.
	AgencyTrust(ctx context.Context, agencyID string) (AgencyTrust, error)
}

// IssuerEntry is one state's trust in a token issuer: the state, and the
// claim mapping its directory entry gives the issuer.
type IssuerEntry struct {
	State   string
	Mapping ClaimMapping
}

// IssuerSource is what a TrustSource implements when it knows the claim
// mappings of trusted issuers (DESIGN §3); a source that does not gives
// every issuer the default mapping. The directory implements it from its
// store, its gRPC client from ListStates.
type IssuerSource interface {
	// IssuerEntries returns every state that trusts issuer, with the
	// mapping it gives it (the default when it lists none). Errors are
	// those of AgencyTrust.
	IssuerEntries(ctx context.Context, issuer string) ([]IssuerEntry, error)
}
