package identity

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/comity-mla/comity/services/errs"
)

// The claims Comity's own issuers use, and the default of every
// ClaimMapping.
const (
	DefaultAgencyClaim = "agency"
	DefaultRolesClaim  = "roles"
	DefaultNameClaim   = "name"
)

// Bounds on a claim mapping, so that a directory entry stays small enough to
// be read on every call and shown on one page.
const (
	maxClaimPathLen   = 200
	maxClaimPathParts = 8
	maxMappedValues   = 500
	maxMappedValueLen = 256
)

// registeredClaims are the claims RFC 7519 gives a meaning of their own; a
// mapping may not read an agency, roles or a name from them.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// ClaimMapping says where the tokens of one issuer carry what Comity needs
// (DESIGN §3): real identity providers do not emit Comity's `agency` and
// `roles` claims, so each trusted issuer's directory entry names the claims
// that hold the agency, the roles and the display name, and may translate
// the provider's values into Comity's. The zero value of every field means
// the default: the claims `agency`, `roles` and `name`, values taken as
// they are.
type ClaimMapping struct {
	// Issuer is the JWT `iss` the mapping applies to.
	Issuer string
	// AgencyClaim holds the agency: a claim name, or a dotted path into
	// nested JSON objects (`org.agency`). A claim whose own name contains
	// dots (`https://comity.example/agency`) is read whole first.
	AgencyClaim string
	// RolesClaim holds the roles, as a string or a list of strings; a path
	// like AgencyClaim (`realm_access.roles`).
	RolesClaim string
	// NameClaim holds the user's display name; a path like AgencyClaim.
	NameClaim string
	// AgencyValues translates the provider's value of AgencyClaim into a
	// Comity agency id. When set, a value it does not list is refused;
	// when empty, the value is the agency id.
	AgencyValues map[string]string
	// RoleValues translates the provider's values of RolesClaim (group
	// names, say) into Comity roles. When set, values it does not list
	// grant nothing (a provider has groups of other systems); when empty,
	// the values are role names.
	RoleValues map[string]string
}

// DefaultMapping is the mapping of an issuer the directory lists no mapping
// for: Comity's own claims, values as they are. The dev issuer has it.
func DefaultMapping(issuer string) ClaimMapping { return ClaimMapping{Issuer: issuer} }

// IsDefault reports whether m reads Comity's own claims, values as they are.
func (m ClaimMapping) IsDefault() bool {
	n := m.normalized()
	return n.AgencyClaim == DefaultAgencyClaim && n.RolesClaim == DefaultRolesClaim &&
		n.NameClaim == DefaultNameClaim && len(n.AgencyValues) == 0 && len(n.RoleValues) == 0
}

// normalized returns m with its defaults filled in.
func (m ClaimMapping) normalized() ClaimMapping {
	if m.AgencyClaim == "" {
		m.AgencyClaim = DefaultAgencyClaim
	}
	if m.RolesClaim == "" {
		m.RolesClaim = DefaultRolesClaim
	}
	if m.NameClaim == "" {
		m.NameClaim = DefaultNameClaim
	}
	return m
}

// Equal reports whether m and o map tokens the same way.
func (m ClaimMapping) Equal(o ClaimMapping) bool {
	a, b := m.normalized(), o.normalized()
	return a.Issuer == b.Issuer && a.AgencyClaim == b.AgencyClaim && a.RolesClaim == b.RolesClaim &&
		a.NameClaim == b.NameClaim && maps.Equal(a.AgencyValues, b.AgencyValues) && maps.Equal(a.RoleValues, b.RoleValues)
}

// Clone returns a copy of m that shares no map with it.
func (m ClaimMapping) Clone() ClaimMapping {
	m.AgencyValues = maps.Clone(m.AgencyValues)
	m.RoleValues = maps.Clone(m.RoleValues)
	return m
}

// Violations returns what is wrong with m, each complaint on its field
// under prefix (e.g. `state.claim_mappings[0].`), so that an administrator
// sees which part of which mapping to fix.
func (m ClaimMapping) Violations(prefix string) errs.Violations {
	var vs errs.Violations
	switch {
	case strings.TrimSpace(m.Issuer) == "":
		vs.Add(prefix+"issuer", "required: the token issuer (the JWT iss) this mapping applies to")
	case len(m.Issuer) > 300 || !printable(m.Issuer):
		vs.Add(prefix+"issuer", "must be printable text of at most 300 bytes")
	}
	for _, f := range []struct{ field, path string }{
		{"agency_claim", m.AgencyClaim}, {"roles_claim", m.RolesClaim}, {"name_claim", m.NameClaim},
	} {
		if msg := claimPathProblem(f.path); msg != "" {
			vs.Add(prefix+f.field, "%s", msg)
		}
	}
	checkValues(&vs, prefix+"agency_values", m.AgencyValues, func(v string) string {
		if !agencyIDPattern.MatchString(v) {
			return fmt.Sprintf("%q is not an agency id (lower-case letters, digits and hyphens, e.g. kz-gpo)", v)
		}
		return ""
	})
	checkValues(&vs, prefix+"role_values", m.RoleValues, func(v string) string {
		if _, ok := ParseRole(v); !ok {
			return fmt.Sprintf("%q is not a Comity role (one of %s)", v, roleList())
		}
		return ""
	})
	return vs
}

// claimPathProblem says what is wrong with a claim path, or "" when nothing
// is (an empty path means the default).
func claimPathProblem(path string) string {
	if path == "" {
		return ""
	}
	parts := strings.Split(path, ".")
	switch {
	case len(path) > maxClaimPathLen:
		return fmt.Sprintf("a claim path is at most %d bytes", maxClaimPathLen)
	case !printable(path) || strings.ContainsAny(path, " \t"):
		return "a claim path is printable text without spaces"
	case len(parts) > maxClaimPathParts:
		return fmt.Sprintf("a claim path has at most %d parts", maxClaimPathParts)
	case slices.Contains(parts, "") && !strings.Contains(path, "://"):
		return fmt.Sprintf("%q has an empty part: name a claim, or nested claims joined by dots (realm_access.roles)", path)
	case slices.Contains(registeredClaims, path):
		return fmt.Sprintf("%q is a registered JWT claim with a meaning of its own", path)
	}
	return ""
}

// checkValues adds to vs what is wrong with a value map: too many entries,
// empty or overlong provider values, or Comity values problem refuses.
func checkValues(vs *errs.Violations, field string, values map[string]string, problem func(string) string) {
	if len(values) > maxMappedValues {
		vs.Add(field, "at most %d values may be mapped", maxMappedValues)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		switch {
		case k == "" || len(k) > maxMappedValueLen || !printable(k):
			vs.Add(field, "provider value %q must be printable text of 1 to %d bytes", clip(k), maxMappedValueLen)
		default:
			if msg := problem(values[k]); msg != "" {
				vs.Add(field, "provider value %q maps to %s", clip(k), msg)
			}
		}
	}
}

// mapped is what a mapping reads from a token.
type mapped struct {
	agency, name string
	roles        []string
}

// unmappedError is a token value the mapping does not know. The token is
// genuine, so Verify refuses it as a *RefusedError: who it claims to be is
// worth recording.
type unmappedError struct{ msg string }

func (e *unmappedError) Error() string { return e.msg }

// apply reads the agency, roles and name of a token's claims through m. A
// missing or ill-typed claim is an error naming it; a value a value map
// does not know is an *unmappedError naming the claim and the value.
func (m ClaimMapping) apply(fields map[string]json.RawMessage) (mapped, error) {
	m = m.normalized()
	var out mapped
	raw, err := claimAt(fields, m.NameClaim)
	if err != nil {
		return out, err
	}
	if out.name, _, err = stringValue(raw, m.NameClaim); err != nil {
		return out, err
	}
	if raw, err = claimAt(fields, m.AgencyClaim); err != nil {
		return out, err
	}
	agency, _, err := stringValue(raw, m.AgencyClaim)
	if err != nil || agency == "" {
		return out, err
	}
	if len(m.AgencyValues) > 0 {
		id, ok := m.AgencyValues[agency]
		if !ok {
			return out, &unmappedError{fmt.Sprintf("token claim %q value %q maps to no agency of issuer %s", m.AgencyClaim, clip(agency), clip(m.Issuer))}
		}
		agency = id
	}
	out.agency = agency
	if raw, err = claimAt(fields, m.RolesClaim); err != nil {
		return out, err
	}
	roles, err := stringsValue(raw, m.RolesClaim)
	if err != nil || len(m.RoleValues) == 0 {
		out.roles = roles
		return out, err
	}
	for _, r := range roles {
		if role, ok := m.RoleValues[r]; ok {
			out.roles = append(out.roles, role)
		}
	}
	if len(roles) > 0 && len(out.roles) == 0 {
		return out, &unmappedError{fmt.Sprintf("token claim %q values %s map to no Comity role of issuer %s", m.RolesClaim, quoteList(roles), clip(m.Issuer))}
	}
	return out, nil
}

// quoteList quotes up to five values of a token for an error message.
func quoteList(values []string) string {
	if len(values) == 0 {
		return "(none)"
	}
	q := make([]string, 0, 6)
	for i, v := range values {
		if i == 5 {
			q = append(q, "…")
			break
		}
		q = append(q, fmt.Sprintf("%q", clip(v)))
	}
	return strings.Join(q, ", ")
}

// claimAt returns the value at path in a token's claims, nil when absent. A
// top-level claim named path wins over a dotted path into nested objects,
// so that namespaced claims (`https://comity.example/agency`) are read
// whole.
func claimAt(fields map[string]json.RawMessage, path string) (json.RawMessage, error) {
	if v, ok := fields[path]; ok {
		return v, nil
	}
	parts := strings.Split(path, ".")
	cur := fields
	for i, p := range parts {
		v, ok := cur[p]
		if !ok || isNull(v) {
			return nil, nil
		}
		if i == len(parts)-1 {
			return v, nil
		}
		next, err := decodeObject(v)
		if err != nil {
			return nil, fmt.Errorf("claim %q is not an object", strings.Join(parts[:i+1], "."))
		}
		cur = next
	}
	return nil, nil
}

// stringValue reads a claim value as a string; ok is false when it is absent.
func stringValue(v json.RawMessage, name string) (string, bool, error) {
	if v == nil {
		return "", false, nil
	}
	return stringField(map[string]json.RawMessage{name: v}, name)
}

// stringsValue reads a claim value as a list of strings; a single string is
// a list of one.
func stringsValue(v json.RawMessage, name string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	return stringsField(map[string]json.RawMessage{name: v}, name, true)
}
