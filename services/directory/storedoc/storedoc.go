// Package storedoc is the JSON form in which the SQLite and the PostgreSQL
// directory stores keep maps, lists, contact points and audit events, so
// that both backends store, and read back, exactly the same thing.
package storedoc

import (
	"encoding/json"
	"fmt"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// contactPointJSON is the stored form of a contact point. Its own type, with
// explicit names, keeps the stored JSON stable when the domain type changes;
// both stores keep this same form.
type contactPointJSON struct {
	Role            string `json:"role"`
	FullName        string `json:"full_name"`
	Phone           string `json:"phone"`
	Email           string `json:"email"`
	Hours           string `json:"hours"`
	AlwaysAvailable bool   `json:"always_available"`
}

// claimMappingJSON is the stored form of a claim mapping, with explicit
// names like contactPointJSON.
type claimMappingJSON struct {
	Issuer       string            `json:"issuer"`
	AgencyClaim  string            `json:"agency_claim,omitempty"`
	RolesClaim   string            `json:"roles_claim,omitempty"`
	NameClaim    string            `json:"name_claim,omitempty"`
	AgencyValues map[string]string `json:"agency_values,omitempty"`
	RoleValues   map[string]string `json:"role_values,omitempty"`
}

// EncodeClaimMappings stores a state's claim mappings as a JSON array.
func EncodeClaimMappings(ms []identity.ClaimMapping) string {
	out := make([]claimMappingJSON, len(ms))
	for i, m := range ms {
		out[i] = claimMappingJSON(m)
	}
	return Encode(out)
}

// DecodeClaimMappings reads what EncodeClaimMappings stored; nil for none.
// Empty value maps come back nil, the one form a read returns.
func DecodeClaimMappings(s string) ([]identity.ClaimMapping, error) {
	return decodeListAs(s, func(j claimMappingJSON) identity.ClaimMapping {
		m := identity.ClaimMapping(j)
		emptyMapAsNil(&m.AgencyValues)
		emptyMapAsNil(&m.RoleValues)
		return m
	})
}

// Encode returns v as JSON text. It cannot fail for the maps and slices of
// strings and plain structs stored here, so a failure is a programming error.
func Encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("directory/storedoc: encode %T: %v", v, err))
	}
	return string(b)
}

// EncodeMap stores a nil map as {} so that the column is never NULL.
func EncodeMap(m map[string]string) string {
	if m == nil {
		return "{}"
	}
	return Encode(m)
}

// EncodeList stores a nil slice as [] so that the column is never NULL.
func EncodeList[T any](s []T) string {
	if s == nil {
		return "[]"
	}
	return Encode(s)
}

func EncodeContactPoints(cps []directory.ContactPoint) string {
	out := make([]contactPointJSON, len(cps))
	for i, c := range cps {
		out[i] = contactPointJSON(c)
	}
	return Encode(out)
}

// DecodeMap returns nil for an empty object: callers see one representation
// of "none", whichever backend and whatever was written.
func DecodeMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// DecodeList returns nil for an empty array, as decodeMap does.
func DecodeList[T any](s string) ([]T, error) {
	var l []T
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// DecodeContactPoints reads what EncodeContactPoints stored; nil for none.
func DecodeContactPoints(s string) ([]directory.ContactPoint, error) {
	return decodeListAs(s, func(j contactPointJSON) directory.ContactPoint { return directory.ContactPoint(j) })
}

// decodeListAs decodes a JSON array of stored forms J (see DecodeList) and
// converts each to its domain type T.
func decodeListAs[J, T any](s string, conv func(J) T) ([]T, error) {
	l, err := DecodeList[J](s)
	if err != nil || l == nil {
		return nil, err
	}
	out := make([]T, len(l))
	for i, j := range l {
		out[i] = conv(j)
	}
	return out, nil
}

// NormalizeState gives a state the form a read returns, so that what a write
// returns equals what a later read returns.
func NormalizeState(s *directory.State) {
	emptyMapAsNil(&s.DisplayNames)
	emptyAsNil(&s.OfficialLanguages)
	emptyAsNil(&s.AcceptedLanguages)
	emptyAsNil(&s.TrustedIssuers)
	emptyAsNil(&s.ClaimMappings)
	emptyAsNil(&s.Instruments)
	for i := range s.Instruments {
		emptyAsNil(&s.Instruments[i].Reservations)
		emptyAsNil(&s.Instruments[i].Authorities)
	}
	for i := range s.ClaimMappings {
		emptyMapAsNil(&s.ClaimMappings[i].AgencyValues)
		emptyMapAsNil(&s.ClaimMappings[i].RoleValues)
	}
}

// NormalizeAgency is NormalizeState for agencies.
func NormalizeAgency(a *directory.Agency) {
	emptyMapAsNil(&a.DisplayNames)
	emptyAsNil(&a.Receives)
	emptyAsNil(&a.AcceptedLanguages)
	emptyAsNil(&a.ContactPoints)
}

// emptyAsNil sets an empty list to nil, as a read returns it.
func emptyAsNil[S ~[]E, E any](l *S) {
	if len(*l) == 0 {
		*l = nil
	}
}

// emptyMapAsNil is emptyAsNil for maps.
func emptyMapAsNil[M ~map[K]V, K comparable, V any](m *M) {
	if len(*m) == 0 {
		*m = nil
	}
}

// KeepAgencies calls keep, which may change agencies in place (the import's
// keepAgencies hook, see directory.Store.Import), and refuses a change of an
// agency's id or state: the hook may keep an agency's stored values, not
// make it another agency.
func KeepAgencies(agencies []directory.Agency, keep func()) error {
	type key struct{ id, state string }
	before := make([]key, len(agencies))
	for i, a := range agencies {
		before[i] = key{a.ID, a.State}
	}
	keep()
	for i, a := range agencies {
		if (key{a.ID, a.State}) != before[i] {
			return errs.New(errs.Invalid, "an import cannot change agency %q of %s into %q of %s", before[i].id, before[i].state, a.ID, a.State)
		}
	}
	return nil
}
