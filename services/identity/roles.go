package identity

import (
	"slices"
	"strings"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/enum"
)

// roleKinds is DESIGN §3's table: the kinds of agency at which each role
// counts. It is the only place that decides it; every service's verifier
// refuses a token claiming a role at an agency of another kind, so no
// handler has to ask. No role that sees case content (prosecutor,
// central_authority, liaison_officer) is held at an OVERSIGHT or a
// TRAINING_INSTITUTION agency.
var roleKinds = map[Role][]string{
	Prosecutor:       {"PROSECUTION", "CENTRAL_AUTHORITY"},
	CentralAuthority: {"CENTRAL_AUTHORITY", "CONTACT_POINT_24_7"},
	LiaisonOfficer:   {"CENTRAL_AUTHORITY", "CONTACT_POINT_24_7", "LAW_ENFORCEMENT", "PROSECUTION"},
	Auditor:          {"OVERSIGHT"},
	DirectoryAdmin:   {"CENTRAL_AUTHORITY", "OVERSIGHT"},
}

// RoleAllowedAt reports whether role r counts at an agency of kind (the
// directory's name of the kind, e.g. "CENTRAL_AUTHORITY"). An unknown role
// or kind counts nowhere.
func RoleAllowedAt(r Role, kind string) bool {
	return slices.Contains(roleKinds[r], kind)
}

// RoleKinds returns the agency kinds at which r counts, in the order of
// DESIGN §3, so that tools can say where a role may be held.
func RoleKinds(r Role) []string { return slices.Clone(roleKinds[r]) }

// RefusedError is the error of a token whose signature verified but whose
// claims Comity refuses: its agency is not in the directory or is
// deactivated, its issuer is not trusted for the agency's state, it grants
// no Comity role, or it claims a role its agency may not hold.
//
// Such a call is recorded in the audit trail: the token was minted by an
// issuer Comity knows, so who it claims to be is worth telling the auditors,
// though it authenticates nobody. Claimed must therefore never be used to
// authorise anything.
type RefusedError struct {
	// Claimed is who the token claims to be: subject, name, agency, the known
	// roles it claims, issuer and expiry. State is set when the directory
	// knows the agency.
	Claimed Principal
	// Err is the errs.Unauthenticated error the caller sees; its message
	// says what is wrong with the token.
	Err *errs.Error
}

func (e *RefusedError) Error() string { return e.Err.Error() }

// Unwrap returns Err, so that errs.CodeOf and errors.Is(err,
// errs.ErrUnauthenticated) see an UNAUTHENTICATED error.
func (e *RefusedError) Unwrap() error { return e.Err }

// refused returns the RefusedError of a token claiming to be claimed.
func refused(claimed Principal, format string, args ...any) *RefusedError {
	return &RefusedError{Claimed: claimed, Err: errs.New(errs.Unauthenticated, format, args...)}
}

// checkRoles refuses a token that grants no known role, or that claims a
// role its agency (of kind) may not hold. Unknown role names are ignored,
// whatever their case: an identity provider may carry roles of other
// systems, and they grant nothing here; "PROSECUTOR" is not "prosecutor".
func checkRoles(claimed Principal, kind string) error {
	if len(claimed.Roles) == 0 {
		return refused(claimed, "the token grants no Comity role (one of %s)", roleList())
	}
	for _, r := range claimed.Roles {
		if !RoleAllowedAt(r, kind) {
			return refused(claimed, "role %q cannot be held at agency %q (%s)", r, claimed.Agency, kind)
		}
	}
	return nil
}

func roleList() string {
	return strings.Join(enum.Strings(Roles), ", ")
}
