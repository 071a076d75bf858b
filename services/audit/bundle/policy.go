package bundle

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"

	fwitness "github.com/transparency-dev/formats/witness"

	"github.com/comity-mla/comity/services/witness/witnesskey"
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
		v, err := witnesskey.Parse(w.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("witness %s: public key: %v", w.Name, err)
		}
		if err := witnesskey.CheckURL(w.URL); err != nil {
			return nil, fmt.Errorf("witness %s: url: %v", w.Name, err)
		}
		// The same key under another name is the same witness.
		key := rawKey(w.PublicKey)
		if other, dup := byKey[key]; dup {
			return nil, fmt.Errorf("witnesses %s and %s have the same public key (%s): one witness would count twice towards the quorum", other, w.Name, v.Name())
		}
		// Tessera sends to each URL once: two witnesses at one URL are one.
		if other, dup := byURL[w.URL]; dup {
			return nil, fmt.Errorf("witnesses %s and %s have the same url %s: one witness would count twice towards the quorum", other, w.Name, w.URL)
		}
		byKey[key], byURL[w.URL] = w.Name, w.Name
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
