// Package bundle verifies what the audit log hands out — signed checkpoints,
// inclusion proofs and consistency proofs — offline, with nothing but the
// log's public key.
//
// It is what `comityctl audit verify` runs, so it must not depend on the
// service, the network or the log's storage: it imports only the C2SP
// checkpoint format, the RFC 6962 Merkle hashing and the signed-note code.
// The service uses it too, so that the log checks its own checkpoints with
// the very code its auditors run.
package bundle

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// ErrVerify is wrapped by every error that means "this does not verify": a
// bad signature, another key, an edited body, a proof that does not lead to
// the checkpoint's root. Callers tell it apart from their own mistakes (a
// malformed public key) with errors.Is.
var ErrVerify = errors.New("verification failed")

// Checkpoint is what a verified checkpoint commits to (C2SP tlog-checkpoint):
// the log it belongs to, how many entries the tree holds, and the tree's
// RFC 6962 root hash.
type Checkpoint struct {
	// Origin names the log; it is also the name of the key that signs it.
	Origin string
	// Size is the number of entries in the tree.
	Size uint64
	// RootHash is the RFC 6962 Merkle tree hash of the first Size entries.
	RootHash []byte
}

// VerifyCheckpoint opens a signed note with publicKey, a note verifier key
// ("<origin>+<hash>+<base64>"), and returns the checkpoint it carries. It
// fails when the log's signature is missing or wrong (another key, an edited
// body) and when the checkpoint names another origin than the key: a log's
// origin is its key's name, so a checkpoint of another log never passes for
// this one. Signatures by other keys (witness cosignatures) are ignored.
func VerifyCheckpoint(signed []byte, publicKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(publicKey)
	if err != nil {
		// A bad key is the caller's input, not a failed verification.
		return Checkpoint{}, fmt.Errorf("audit log public key: %w", err)
	}
	cp, _, _, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %v", ErrVerify, err)
	}
	if len(cp.Hash) != rfc6962.DefaultHasher.Size() {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint root hash has %d bytes, want %d",
			ErrVerify, len(cp.Hash), rfc6962.DefaultHasher.Size())
	}
	return Checkpoint{Origin: cp.Origin, Size: cp.Size, RootHash: cp.Hash}, nil
}

// VerifyInclusion checks that leaf is entry index of the tree cp commits to,
// given the inclusion proof the log returned for that index and cp.Size.
// cp must come from VerifyCheckpoint (or another trusted source): the proof
// only links the leaf to cp's root.
func VerifyInclusion(leaf []byte, index uint64, p [][]byte, cp Checkpoint) error {
	if index >= cp.Size {
		return fmt.Errorf("%w: index %d is not in a tree of %d entries", ErrVerify, index, cp.Size)
	}
	h := rfc6962.DefaultHasher.HashLeaf(leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, h, p, cp.RootHash); err != nil {
		return fmt.Errorf("%w: inclusion of entry %d in tree of size %d: %v", ErrVerify, index, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree newer commits to extends the tree
// older commits to: the log only appended, never rewrote. Both checkpoints
// must be of the same log; older may be the same size as newer, in which
// case their roots must be equal and the proof empty.
func VerifyConsistency(older, newer Checkpoint, p [][]byte) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("%w: checkpoints of different logs (%q, %q)", ErrVerify, older.Origin, newer.Origin)
	}
	if older.Size > newer.Size {
		return fmt.Errorf("%w: older checkpoint (size %d) is larger than newer (size %d)", ErrVerify, older.Size, newer.Size)
	}
	if older.Size == 0 && len(older.RootHash) > 0 && !bytes.Equal(older.RootHash, rfc6962.DefaultHasher.EmptyRoot()) {
		// merkle accepts any root for an empty tree; a checkpoint of an
		// empty tree with another root was not made by a correct log.
		return fmt.Errorf("%w: empty tree with a non-empty root", ErrVerify)
	}
	if older.Size == 0 {
		// Every tree extends the empty one, with an empty proof. Decided
		// here: merkle's VerifyConsistency refuses a proof from size 0.
		if len(p) != 0 {
			return fmt.Errorf("%w: consistency from an empty tree takes an empty proof, not %d hashes", ErrVerify, len(p))
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, p, older.RootHash, newer.RootHash); err != nil {
		return fmt.Errorf("%w: consistency of tree size %d with %d: %v", ErrVerify, older.Size, newer.Size, err)
	}
	return nil
}
