package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode"
	"unicode/utf8"
)

// claims are the JWT claims Verify reads. The agency, roles and name are
// read through the issuer's ClaimMapping (see Verifier.mapClaims), from
// fields, the whole decoded payload.
type claims struct {
	iss, sub, service string
	aud               []string
	exp, nbf, iat     *time.Time
	fields            map[string]json.RawMessage
}

// errMalformedJSON is what decodeObject refuses; callers turn it into a
// message about the part of the token that was malformed.
var errMalformedJSON = errors.New("malformed JSON object")

// decodeObject decodes one JSON object into its members. Unlike
// encoding/json's struct decoding it matches names exactly and refuses
// duplicate names, so that no two readers of a token can disagree on what a
// claim says.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errMalformedJSON
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errMalformedJSON
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errMalformedJSON
		}
		if _, dup := m[name]; dup {
			return nil, errMalformedJSON
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errMalformedJSON
		}
		m[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errMalformedJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errMalformedJSON
	}
	return m, nil
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

// stringField returns member name of m as a string; ok is false when it is
// absent or null.
func stringField(m map[string]json.RawMessage, name string) (s string, ok bool, err error) {
	v, ok := m[name]
	if !ok || isNull(v) {
		return "", false, nil
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false, fmt.Errorf("claim %q is not a string", name)
	}
	return s, true, nil
}

// stringsField returns member name of m as a list of strings; a single
// string is a list of one when single is set (RFC 7519 `aud`).
func stringsField(m map[string]json.RawMessage, name string, single bool) ([]string, error) {
	v, ok := m[name]
	if !ok || isNull(v) {
		return nil, nil
	}
	if single {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return []string{s}, nil
		}
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		return nil, fmt.Errorf("claim %q is not a list of strings", name)
	}
	return ss, nil
}

// The NumericDate values a token may carry: from the epoch to the end of
// year 9999, beyond which time.Time arithmetic stops being meaningful.
const maxNumericDate = 253402300799

// dateField returns member name of m as a NumericDate (RFC 7519 §2):
// seconds since the epoch, possibly fractional.
func dateField(m map[string]json.RawMessage, name string) (*time.Time, error) {
	v, ok := m[name]
	if !ok || isNull(v) {
		return nil, nil
	}
	// RFC 7519 NumericDate is a JSON number. encoding/json would also take a
	// string holding one into a json.Number; an issuer that sends that is
	// not following the standard, and two readers could disagree on it.
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return nil, fmt.Errorf("claim %q is not a date: it must be a JSON number of seconds since 1970-01-01 UTC", name)
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return nil, fmt.Errorf("claim %q is not a date", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return nil, fmt.Errorf("claim %q is not a date", name)
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(frac*1e9))
	return &t, nil
}

// claimsFrom reads the claims every token has from a decoded payload (the
// agency, roles and name are read later, through the issuer's mapping). It refuses
// a claim of the wrong type rather than ignoring it: an issuer that sends one
// is not the issuer Verify was configured for.
func claimsFrom(m map[string]json.RawMessage) (claims, error) {
	c := claims{fields: m}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &c.iss}, {"sub", &c.sub}, {"service", &c.service}} {
		if *f.dst, _, err = stringField(m, f.name); err != nil {
			return c, err
		}
	}
	if c.aud, err = stringsField(m, "aud", true); err != nil {
		return c, err
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"exp", &c.exp}, {"nbf", &c.nbf}, {"iat", &c.iat}} {
		if *f.dst, err = dateField(m, f.name); err != nil {
			return c, err
		}
	}
	return c, nil
}

// printable reports whether s is UTF-8 text without control or bidirectional
// formatting characters, which could disguise what a log line says.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}
