package bundle

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
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
	keys := map[string]string{}   // witness name by "key name+hash"
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
			id := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
			if other, ok := keys[id]; ok {
				return nil, fmt.Errorf("witness policy line %d: witness %s has the key of witness %s: one witness's cosignature must not count twice", n, f[1], other)
			}
			keys[id] = f[1]
			p.witnesses = append(p.witnesses, policyWitness{PolicyWitness{Name: f[1], PublicKey: f[2], URL: f[3]}, v})
		case "group":
			// A group of none, or needing none of its members, is
			// satisfied by a checkpoint no witness cosigned: it would
			// make "witnessed" mean nothing without saying so.
			if len(f) < 4 || f[2] == "0" {
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
