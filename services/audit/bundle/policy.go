package bundle

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// PolicyWitness is a witness a policy names: one state's witness as the
// directory records it, or a witness line of a parsed policy.
type PolicyWitness struct {
	// Name is its name in the policy: the state's code, e.g. "KZ", in the
	// policies WitnessPolicy writes.
	Name string
	// PublicKey is the witness's cosignature/v1 verifier key.
	PublicKey string
	// URL is the witness's base URL (checkpoints go to <URL>/add-checkpoint).
	URL string
}

// quorumGroup is the name of the policy's one group: the states' witnesses.
const quorumGroup = "states"

// WitnessPolicy returns the witness policy of the audit log whose checkpoint
// key is logPublicKey, with the witnesses ws, as C2SP/sigsum policy text
// (what formats' witness.ParsePolicy and Tessera read). A checkpoint
// satisfies it when more than half of the witnesses cosigned it (k = n/2+1):
// any two such quorums share a witness, so an operator cannot show two
// auditors two different logs, each cosigned by a quorum, without one
// witness signing both. Witnesses are listed by name, so that the same
// directory always gives the same text. Zero witnesses, a bad key or URL, or
// two witnesses with the same name, key or URL (one witness counting twice
// towards the quorum) are errors naming the witness.
func WitnessPolicy(logPublicKey string, ws []PolicyWitness) ([]byte, error) {
	if _, err := note.NewVerifier(logPublicKey); err != nil {
		return nil, fmt.Errorf("audit log public key %q: %v", logPublicKey, err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("no witness: a witness policy needs at least one state's witness (comityctl states update STATE --witness-url URL --witness-key KEY)")
	}
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b PolicyWitness) int { return strings.Compare(a.Name, b.Name) })
	byKey, byURL := map[string]string{}, map[string]string{}
	names := make([]string, len(ws))
	for i, w := range ws {
		if err := checkPolicyName(w.Name); err != nil {
			return nil, fmt.Errorf("witness %q: %v", w.Name, err)
		}
		if i > 0 && ws[i-1].Name == w.Name {
			return nil, fmt.Errorf("witness %s is given twice", w.Name)
		}
		v, err := ParseWitnessKey(w.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("witness %s: public key: %v", w.Name, err)
		}
		if err := CheckWitnessURL(w.URL); err != nil {
			return nil, fmt.Errorf("witness %s: url: %v", w.Name, err)
		}
		// The same key under another name is the same witness.
		key, _ := base64.StdEncoding.DecodeString(strings.SplitN(w.PublicKey, "+", 3)[2])
		if other, dup := byKey[string(key)]; dup {
			return nil, fmt.Errorf("witnesses %s and %s have the same public key (%s): one witness would count twice towards the quorum", other, w.Name, v.Name())
		}
		// Tessera sends to each URL once: two witnesses at one URL are one.
		if other, dup := byURL[w.URL]; dup {
			return nil, fmt.Errorf("witnesses %s and %s have the same url %s: one witness would count twice towards the quorum", other, w.Name, w.URL)
		}
		byKey[string(key)], byURL[w.URL] = w.Name, w.Name
		names[i] = w.Name
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Witness policy of the Comity audit log (DESIGN §6.1), in the C2SP/sigsum policy format.\n")
	fmt.Fprintf(&b, "# Derived from each state's witness in the directory. A checkpoint is witnessed when\n")
	fmt.Fprintf(&b, "# more than half of these witnesses (%d of %d) cosigned it. Keep this file yourself and\n", len(ws)/2+1, len(ws))
	fmt.Fprintf(&b, "# verify with it (comityctl audit verify --policy FILE); do not take one from the operator.\n")
	fmt.Fprintf(&b, "log %s\n", logPublicKey)
	for _, w := range ws {
		fmt.Fprintf(&b, "witness %s %s %s\n", w.Name, w.PublicKey, w.URL)
	}
	fmt.Fprintf(&b, "group %s %d %s\n", quorumGroup, len(ws)/2+1, strings.Join(names, " "))
	fmt.Fprintf(&b, "quorum %s\n", quorumGroup)
	// What every check above allowed must parse; a failure here is a bug
	// of this function, not of the input.
	if _, err := fwitness.ParsePolicy(b.Bytes()); err != nil {
		return nil, fmt.Errorf("witness policy does not parse: %v", err)
	}
	return b.Bytes(), nil
}

// checkPolicyName refuses a name the policy text cannot carry: empty, with
// spaces or a comment sign, or a word the format or this policy uses.
func checkPolicyName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("a witness needs a name (its state's code)")
	case strings.ContainsFunc(n, unicode.IsSpace) || strings.Contains(n, "#"):
		return fmt.Errorf("a name cannot contain spaces or '#'")
	case slices.Contains([]string{"log", "witness", "group", "quorum", "any", "all", "none", quorumGroup}, n):
		return fmt.Errorf("%q is a word of the policy format, not a name", n)
	}
	return nil
}

// The signed-note key algorithms a witness key may be given in.
const (
	algEd25519       = 0x01 // a plain Ed25519 note key
	algCosignatureV1 = 0x04 // an Ed25519 cosignature/v1 key
	algMLDSA44       = 0x06 // an ML-DSA-44 cosignature/v1 key
)

// ParseWitnessKey parses a witness's public key: a C2SP signed-note verifier
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
func ParseWitnessKey(vkey string) (note.Verifier, error) {
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

// CheckWitnessURL checks a witness's base URL: absolute https, with a host,
// without user info, query or fragment (the policy text and Tessera append
// /add-checkpoint to it). Plain http is allowed only for a loopback host
// (localhost, 127.0.0.0/8, ::1), where nothing travels over a network:
// comity-local's witnesses run in process.
func CheckWitnessURL(s string) error {
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
