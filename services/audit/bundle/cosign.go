package bundle

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// Policy is a parsed witness policy (C2SP/sigsum policy text: witness,
// group and quorum lines), checked so that no cosignature can count twice.
type Policy struct {
	group     witness.Group
	witnesses []policyWitness
	// quorum says in words what the quorum needs, for error messages.
	quorum string
}

type policyWitness struct {
	PolicyWitness
	verifier note.Verifier
}

// ParsePolicy parses policy text as formats' witness.ParsePolicy does (which
// Tessera's log side follows), and refuses what would let one witness count
// twice towards the quorum: two witness lines with the same key, or a
// witness or group named in more than one group, or twice in one.
func ParsePolicy(text []byte) (*Policy, error) {
	group, err := witness.ParsePolicy(text)
	if err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	p := &Policy{group: group}
	keys := map[string]string{}   // witness name by raw public key
	used := map[string]int{}      // times a component is a group's child
	groups := map[string]string{} // group line by name
	quorum := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "witness": // ParsePolicy checked there are 4 fields
			v, err := fnote.NewVerifierForCosignatureV1(f[2])
			if err != nil {
				return nil, fmt.Errorf("witness policy line %d: key of witness %s: %w", n, f[1], err)
			}
			// By the raw key, not its name and hash: a cosignature does
			// not cover the key's name, so the same key under two names
			// would verify one cosignature line copied under both.
			id := rawKey(f[2])
			if other, ok := keys[id]; ok {
				return nil, fmt.Errorf("witness policy line %d: witness %s has the key of witness %s: one witness's cosignature must not count twice", n, f[1], other)
			}
			keys[id] = f[1]
			p.witnesses = append(p.witnesses, policyWitness{PolicyWitness{Name: f[1], PublicKey: f[2], URL: f[3]}, v})
		case "group":
			// A group of none, or needing none of its members, is
			// satisfied by a checkpoint no witness cosigned: it would
			// make "witnessed" mean nothing without saying so.
			if len(f) < 4 || threshold(f[2], len(f)-3) == 0 {
				return nil, fmt.Errorf("witness policy line %d: group %s needs no cosignature (no member, or a threshold of 0): name its witnesses and how many must cosign (quorum none, if you mean that no cosignature is needed)", n, f[1])
			}
			for _, c := range f[3:] {
				if used[c]++; used[c] > 1 {
					return nil, fmt.Errorf("witness policy line %d: %s is counted in a group more than once: one witness's cosignature must not count twice", n, c)
				}
			}
			groups[f[1]] = fmt.Sprintf("%s of %s", f[2], strings.Join(f[3:], ", "))
		case "quorum":
			quorum = f[1]
		}
	}
	// Every group must need a cosignature, whatever spelling its
	// threshold has ("0", "00"): formats counts a group of threshold 0 as
	// satisfied by any checkpoint. The lines were checked above, naming
	// the group; this checks the parsed tree too, whose thresholds are the
	// ones Group.Satisfied uses.
	if err := needsCosignature(group); err != nil {
		return nil, err
	}
	switch g, ok := groups[quorum]; {
	case quorum == "none":
		p.quorum = "no cosignature (quorum none)"
	case ok:
		p.quorum = fmt.Sprintf("%s (group %s)", g, quorum)
	default:
		p.quorum = "witness " + quorum
	}
	return p, nil
}

// threshold is the number of members a group line's threshold word asks
// for, as formats' witness.ParsePolicy reads it (which has checked it).
func threshold(word string, members int) uint64 {
	switch word {
	case "any":
		return 1
	case "all":
		return uint64(members)
	}
	n, _ := strconv.ParseUint(word, 10, 8)
	return n
}

// needsCosignature refuses a parsed policy a checkpoint with no
// cosignature would satisfy: a group, at any depth, of threshold 0. The
// quorum "none" says so on purpose, and is allowed here (an auditor may
// verify an unwitnessed log with it); a log refuses it (NeedsCosignature).
func needsCosignature(g witness.Group) error {
	for _, c := range g.Components {
		if sub, ok := c.(witness.Group); ok {
			if sub.N <= 0 {
				return fmt.Errorf("witness policy: a group needs no cosignature (a threshold of 0): name its witnesses and how many must cosign")
			}
			if err := needsCosignature(sub); err != nil {
				return err
			}
		}
	}
	if g.N <= 0 && len(g.Components) > 0 {
		return fmt.Errorf("witness policy: the quorum group needs no cosignature (a threshold of 0): name its witnesses and how many must cosign")
	}
	return nil
}

// NeedsCosignature reports whether a checkpoint must carry at least one
// cosignature to satisfy the policy: false only for "quorum none".
func (p *Policy) NeedsCosignature() bool { return p.group.N > 0 }

// rawKey is the raw public key of a cosignature/v1 verifier key
// "name+hash+base64", whatever its name: the same key under two names is
// the same witness. The key must have parsed as a verifier key.
func rawKey(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) < 3 {
		return vkey
	}
	key, _ := base64.StdEncoding.DecodeString(parts[2])
	return string(key)
}

// Witnesses returns the policy's witnesses, in its order.
func (p *Policy) Witnesses() []PolicyWitness {
	ws := make([]PolicyWitness, len(p.witnesses))
	for i, w := range p.witnesses {
		ws[i] = w.PolicyWitness
	}
	return ws
}

// CosignReport says who cosigned a checkpoint.
type CosignReport struct {
	// Cosigned names the policy's witnesses whose cosignature verifies, in
	// the policy's order.
	Cosigned []string
	// Witnesses is how many witnesses the policy names.
	Witnesses int
	// Quorum says in words what the policy's quorum needs.
	Quorum string
}

// VerifyCosignatures checks the witnesses' cosignatures (C2SP
// tlog-cosignature, cosignature/v1) on a signed checkpoint note against a
// witness policy the auditor keeps: it reports which of the policy's
// witnesses cosigned, and fails (ErrVerify) when a cosignature by a
// witness of the policy does not verify (forged or altered), or when those
// that verify do not satisfy the policy's quorum. It does not check the
// log's own signature: see VerifyCheckpoint. A policy that does not parse,
// or lets one cosignature count twice, is an error that is not ErrVerify.
func VerifyCosignatures(signed []byte, policy []byte) (CosignReport, error) {
	p, err := ParsePolicy(policy)
	if err != nil {
		return CosignReport{}, err
	}
	return p.Verify(signed)
}

// Verify is VerifyCosignatures with a parsed policy.
func (p *Policy) Verify(signed []byte) (CosignReport, error) {
	r := CosignReport{Witnesses: len(p.witnesses), Quorum: p.quorum}
	for _, w := range p.witnesses {
		_, err := note.Open(signed, note.VerifierList(w.verifier))
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case err == nil:
			r.Cosigned = append(r.Cosigned, w.Name)
		case errors.As(err, &unverified):
			// No signature by this witness.
		case errors.As(err, &invalid):
			return r, fmt.Errorf("%w: the cosignature of witness %s does not verify: it was forged or altered", ErrVerify, w.Name)
		default:
			return r, fmt.Errorf("%w: checkpoint: %v", ErrVerify, err)
		}
	}
	if !p.group.Satisfied(signed) {
		signed := "none of them"
		if len(r.Cosigned) > 0 {
			signed = "only " + strings.Join(r.Cosigned, ", ")
		}
		return r, fmt.Errorf("%w: the checkpoint's cosignatures do not satisfy the witness policy: it needs %s; of its %d witnesses %s cosigned",
			ErrVerify, p.quorum, r.Witnesses, signed)
	}
	return r, nil
}
