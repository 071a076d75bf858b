package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/directory"
)

// contactPointJSON is the stored form of a contact point. Its own type, with
// explicit names, keeps the stored JSON stable when the domain type changes;
// package sqlite stores the same form.
type contactPointJSON struct {
	Role            string `json:"role"`
	FullName        string `json:"full_name"`
	Phone           string `json:"phone"`
	Email           string `json:"email"`
	Hours           string `json:"hours"`
	AlwaysAvailable bool   `json:"always_available"`
}

// encode returns v as JSON text. It cannot fail for the maps and slices of
// strings and plain structs stored here, so a failure is a programming error.
func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("directory/postgres: encode %T: %v", v, err))
	}
	return string(b)
}

// encodeMap stores a nil map as {} so that the column is never NULL.
func encodeMap(m map[string]string) string {
	if m == nil {
		return "{}"
	}
	return encode(m)
}

// encodeList stores a nil slice as [] so that the column is never NULL.
func encodeList[T any](s []T) string {
	if s == nil {
		return "[]"
	}
	return encode(s)
}

func encodeContactPoints(cps []directory.ContactPoint) string {
	out := make([]contactPointJSON, len(cps))
	for i, c := range cps {
		out[i] = contactPointJSON(c)
	}
	return encode(out)
}

// decodeMap returns nil for an empty object: callers see one representation
// of "none", whichever backend and whatever was written.
func decodeMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// decodeList returns nil for an empty array, as decodeMap does.
func decodeList[T any](s string) ([]T, error) {
	var l []T
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

func decodeContactPoints(s string) ([]directory.ContactPoint, error) {
	l, err := decodeList[contactPointJSON](s)
	if err != nil || l == nil {
		return nil, err
	}
	out := make([]directory.ContactPoint, len(l))
	for i, c := range l {
		out[i] = directory.ContactPoint(c)
	}
	return out, nil
}

// normalizeState gives a state the form a read returns, so that what a write
// returns equals what a later read returns.
func normalizeState(s *directory.State) {
	if len(s.DisplayNames) == 0 {
		s.DisplayNames = nil
	}
	if len(s.OfficialLanguages) == 0 {
		s.OfficialLanguages = nil
	}
	if len(s.AcceptedLanguages) == 0 {
		s.AcceptedLanguages = nil
	}
	if len(s.TrustedIssuers) == 0 {
		s.TrustedIssuers = nil
	}
}

// normalizeAgency is normalizeState for agencies.
func normalizeAgency(a *directory.Agency) {
	if len(a.DisplayNames) == 0 {
		a.DisplayNames = nil
	}
	if len(a.Receives) == 0 {
		a.Receives = nil
	}
	if len(a.AcceptedLanguages) == 0 {
		a.AcceptedLanguages = nil
	}
	if len(a.ContactPoints) == 0 {
		a.ContactPoints = nil
	}
}

// encodeEvent returns the stored form of an outbox event: audit.Event's own
// JSON, which the audit log also uses, with the time in UTC truncated to
// microseconds as every stored time is.
func encodeEvent(e audit.Event) string {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	return encode(e)
}

func decodeEvent(s string) (audit.Event, error) {
	var e audit.Event
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return audit.Event{}, err
	}
	e.Time = e.Time.UTC()
	return e, nil
}
