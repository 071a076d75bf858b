// Package witnesskey holds the rules a witness's entry meets wherever it is
// written down: its cosignature/v1 public key and its base URL. The
// directory checks a state's witness with them, and the audit bundle's
// policy derivation applies them, so that the directory never records an
// entry from which no policy can be made. It imports nothing of ours.
package witnesskey

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// The signed-note key algorithms a witness key may be given in.
const (
	algEd25519       = 0x01 // a plain Ed25519 note key
	algCosignatureV1 = 0x04 // an Ed25519 cosignature/v1 key
	algMLDSA44       = 0x06 // an ML-DSA-44 cosignature/v1 key
)

// Parse parses a witness's public key: a C2SP signed-note verifier
// key `<name>+<8 hex digits>+<base64(0x04 || 32-byte Ed25519 key)>`, the
// cosignature/v1 key a witness publishes. Only algorithm 0x04 is accepted.
// formats' NewVerifierForCosignatureV1 also takes a plain Ed25519 key
// (0x01) and treats it as 0x04, but with another key hash: the same witness
// would then be written two ways, and the key an auditor pins would not be
// the one the witness prints. A 0x01 key is refused with words saying
// which key to give instead. The key hash must match the name and key, so
// that a mistyped key is caught here rather than when no cosignature
// verifies. The errors say what is wrong in words for the person who pasted
// the key.
func Parse(vkey string) (note.Verifier, error) {
	const want = "want <name>+<8 hex digits>+<base64 key>, as the witness publishes it (comity-witness: GET /public-key)"
	if strings.TrimSpace(vkey) != vkey {
		return nil, fmt.Errorf("has spaces or a line break around it; give the key alone")
	}
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("is not a note verifier key: %s", want)
	}
	switch {
	case name == "":
		return nil, fmt.Errorf("has no name before the first '+': %s", want)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsSpace) || len(name) > 255:
		return nil, fmt.Errorf("its name %q must be at most 255 characters without spaces or '+'", name)
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if len(hash16) != 8 || err != nil {
		return nil, fmt.Errorf("%q is not a key hash of 8 hex digits: %s", hash16, want)
	}
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("its key part is not base64: %s", want)
	}
	switch raw[0] {
	case algCosignatureV1:
	case algEd25519:
		return nil, fmt.Errorf("is a plain Ed25519 signed-note key (algorithm 0x01), not the witness's cosignature/v1 key (algorithm 0x04): give the key the witness publishes (comity-witness: witness.pub or GET /public-key)")
	case algMLDSA44:
		return nil, fmt.Errorf("is an ML-DSA-44 key (algorithm 0x06): Comity's witnesses cosign with Ed25519 cosignature/v1 keys (algorithm 0x04)")
	default:
		return nil, fmt.Errorf("has algorithm 0x%02x; a witness key is an Ed25519 cosignature/v1 key (algorithm 0x04)", raw[0])
	}
	if len(raw) != 33 {
		return nil, fmt.Errorf("holds %d key bytes; an Ed25519 key has 32", len(raw)-1)
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("is not a cosignature/v1 key: %v", err)
	}
	if uint32(hash) != v.KeyHash() {
		return nil, fmt.Errorf("its key hash %s does not match its name and key (they give %08x): the key was mistyped or its name edited", hash16, v.KeyHash())
	}
	return v, nil
}

// CheckURL checks a witness's base URL: absolute https, with a host,
// without user info, query or fragment (the policy text and Tessera append
// /add-checkpoint to it). Plain http is allowed only for a loopback host
// (localhost, 127.0.0.0/8, ::1), where nothing travels over a network:
// comity-local's witnesses run in process.
func CheckURL(s string) error {
	const want = "give an absolute https URL such as https://witness.example.kz"
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("required: %s", want)
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return fmt.Errorf("%q contains a space: %s", s, want)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %s", s, want)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q is not an http(s) URL: %s", s, want)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q names no host: %s", s, want)
	case u.User != nil:
		return fmt.Errorf("%q carries a user name or password; a witness URL must not (anyone reading the policy would see it)", s)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%q has a query (?…); give the base URL only", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q has a fragment (#…); give the base URL only", s)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return fmt.Errorf("%q uses plain http; only https is allowed, except for a loopback host (localhost, 127.0.0.1, ::1)", s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
