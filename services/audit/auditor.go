package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

func requireAuditor(p identity.Principal) error {
	if !p.HasRole(identity.Auditor) {
		return errs.New(errs.PermissionDenied, "only auditors read the audit trail")
	}
	return nil
}

// involves reports whether an event concerns state.
func involves(e trail.Event, state string) bool { return slices.Contains(e.States, state) }

// recordRead logs an auditor's read: reads of the trail are themselves on
// the trail.
//
// With a spool, the read is answered once its event is in the spool, and
// logged in the background: within a Tessera batch, or at the next start
// after a crash. An auditor's read is then on the trail a moment after the
// answer rather than before it. An answer whose read is never logged takes
// the machine stopping within that moment, and the spool then says so (see
// package spool); an error of the spool fails the read.
func (s *Service) recordRead(ctx context.Context, p identity.Principal, resource string) error {
	ev := trail.NewEvent(ctx, s.now(), trail.ActorOf(p), "OK",
		trail.Details{Resource: resource, States: []string{p.State}})
	if s.spool != nil {
		if err := s.spool.Add(ctx, []trail.Event{ev}); err != nil {
			return fmt.Errorf("record the read: %w", err)
		}
		s.startDrain(ctx)
		return nil
	}
	return s.RecordEvent(ctx, ev)
}

// startDrain has the spool's events logged in the background, unless a
// drain is on already, in which case it goes round again.
func (s *Service) startDrain(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		s.again = true
		return
	}
	s.draining = true
	s.drainers.Add(1)
	go func() {
		defer s.drainers.Done()
		ctx := context.WithoutCancel(ctx)
		for {
			err := s.drainSpool(ctx)
			s.mu.Lock()
			if err != nil || !s.again {
				// On an error (the log closing, the index down) the
				// events stay spooled: the next read, or the next
				// start, tries again.
				s.draining, s.again = false, false
				s.mu.Unlock()
				return
			}
			s.again = false
			s.mu.Unlock()
		}
	}()
}

// drainSpool logs the spool's events (once each: Append is idempotent) and
// removes them from it.
func (s *Service) drainSpool(ctx context.Context) error {
	if s.spool == nil {
		return nil
	}
	events, err := s.spool.Pending(ctx)
	if err != nil || len(events) == 0 {
		return err
	}
	if _, err := s.appendEvents(ctx, events); err != nil {
		return fmt.Errorf("log the spooled reads: %w", err)
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return s.spool.Remove(ctx, ids)
}

// WitnessPolicy is the witness policy the log's checkpoints satisfy (see
// WithWitnessPolicy), nil when they are not witnessed.
func (s *Service) WitnessPolicy() []byte { return bytes.Clone(s.witnessPolicy) }

// Checkpoint returns the latest checkpoint and the public key, for auditors.
func (s *Service) Checkpoint(ctx context.Context, p identity.Principal) (Checkpoint, string, error) {
	if err := requireAuditor(p); err != nil {
		return Checkpoint{}, "", err
	}
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return Checkpoint{}, "", err
	}
	return cp, s.log.PublicKey(), s.recordRead(ctx, p, "audit/checkpoint")
}

// Entries lists the entries involving the auditor's state that match
// filter, after index afterIndex (-1 for the start), at most limit.
func (s *Service) Entries(ctx context.Context, p identity.Principal, filter query.Expr, afterIndex int64, limit int) ([]Entry, error) {
	if err := requireAuditor(p); err != nil {
		return nil, err
	}
	entries, err := s.index.List(ctx, EntryQuery{State: p.State, Filter: filter, AfterIndex: afterIndex, Limit: limit})
	if err != nil {
		return nil, err
	}
	return entries, s.recordRead(ctx, p, "audit/entries")
}

// EntriesNewestFirst lists the entries involving the auditor's state that
// match filter, newest first, below index beforeIndex (0 for the newest),
// at most limit.
func (s *Service) EntriesNewestFirst(ctx context.Context, p identity.Principal, filter query.Expr, beforeIndex uint64, limit int) ([]Entry, error) {
	if err := requireAuditor(p); err != nil {
		return nil, err
	}
	entries, err := s.index.List(ctx, EntryQuery{State: p.State, Filter: filter, AfterIndex: FromStart, Limit: limit,
		Descending: true, BeforeIndex: beforeIndex})
	if err != nil {
		return nil, err
	}
	return entries, s.recordRead(ctx, p, "audit/entries")
}

// EntryProof returns an entry involving the auditor's state with its
// inclusion proof against treeSize (0: the latest checkpoint), and the
// latest checkpoint.
func (s *Service) EntryProof(ctx context.Context, p identity.Principal, index, treeSize uint64) (Entry, [][]byte, uint64, Checkpoint, error) {
	if err := requireAuditor(p); err != nil {
		return Entry{}, nil, 0, Checkpoint{}, err
	}
	e, err := s.index.Get(ctx, index)
	if errors.Is(err, errs.ErrNotFound) || err == nil && !involves(e.Event, p.State) {
		return Entry{}, nil, 0, Checkpoint{}, errs.New(errs.NotFound, "audit entry %d not found", index)
	}
	if err != nil {
		return Entry{}, nil, 0, Checkpoint{}, err
	}
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return Entry{}, nil, 0, Checkpoint{}, err
	}
	if treeSize == 0 {
		treeSize = cp.Size
	}
	if index >= cp.Size {
		return Entry{}, nil, 0, Checkpoint{}, errs.New(errs.Unavailable, "audit entry %d is not yet covered by a checkpoint; retry shortly", index)
	}
	var vs errs.Violations
	switch {
	case treeSize > cp.Size:
		vs.Add("tree_size", "the latest checkpoint has %d entries", cp.Size)
	case treeSize <= index:
		vs.Add("tree_size", "a tree of %d entries does not contain entry %d", treeSize, index)
	}
	if err := vs.Err(errs.Invalid, "invalid tree size"); err != nil {
		return Entry{}, nil, 0, Checkpoint{}, err
	}
	proof, err := s.log.InclusionProof(ctx, index, treeSize)
	if err != nil {
		return Entry{}, nil, 0, Checkpoint{}, err
	}
	return e, proof, treeSize, cp, s.recordRead(ctx, p, fmt.Sprintf("audit/entries/%d", index))
}

// ConsistencyProof proves the tree of from entries a prefix of the tree of
// to entries (0: the latest checkpoint).
func (s *Service) ConsistencyProof(ctx context.Context, p identity.Principal, from, to uint64) ([][]byte, uint64, Checkpoint, error) {
	if err := requireAuditor(p); err != nil {
		return nil, 0, Checkpoint{}, err
	}
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, 0, Checkpoint{}, err
	}
	if to == 0 {
		to = cp.Size
	}
	if err := checkRange(from, to, cp.Size); err != nil {
		return nil, 0, Checkpoint{}, err
	}
	proof, err := s.log.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, 0, Checkpoint{}, err
	}
	return proof, to, cp, s.recordRead(ctx, p, "audit/proofs:consistency")
}

func checkRange(from, to, size uint64) error {
	var vs errs.Violations
	switch {
	case from == 0:
		vs.Add("from", "must be at least 1")
	case to > size:
		vs.Add("to", "the latest checkpoint has %d entries", size)
	case from > to:
		vs.Add("from", "must not exceed to (%d)", to)
	}
	return vs.Err(errs.Invalid, "invalid tree sizes")
}

// ProvenEntry is an entry with its inclusion proof.
type ProvenEntry struct {
	Entry Entry
	Proof [][]byte
}

// Bundle is what an auditor verifies offline.
type Bundle struct {
	PublicKey string
	// WitnessPolicy is the policy the log says its checkpoints satisfy:
	// for information; auditors verify against their own copy.
	WitnessPolicy    []byte
	Checkpoint       Checkpoint
	Entries          []ProvenEntry
	ConsistencyFrom  uint64
	ConsistencyProof [][]byte
}

// Export returns the entries involving the auditor's state that match
// filter (at most limit), each with its inclusion proof against the latest
// checkpoint, and, when consistencyFrom is not 0, a proof that the tree of
// that size is a prefix of the checkpoint's.
func (s *Service) Export(ctx context.Context, p identity.Principal, filter query.Expr, limit int, consistencyFrom uint64) (Bundle, error) {
	if err := requireAuditor(p); err != nil {
		return Bundle{}, err
	}
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{PublicKey: s.log.PublicKey(), WitnessPolicy: s.WitnessPolicy(), Checkpoint: cp, ConsistencyFrom: consistencyFrom}
	if consistencyFrom != 0 {
		if err := checkRange(consistencyFrom, cp.Size, cp.Size); err != nil {
			return Bundle{}, err
		}
		if b.ConsistencyProof, err = s.log.ConsistencyProof(ctx, consistencyFrom, cp.Size); err != nil {
			return Bundle{}, err
		}
	}
	entries, err := s.index.List(ctx, EntryQuery{State: p.State, Filter: filter, AfterIndex: FromStart, Limit: limit})
	if err != nil {
		return Bundle{}, err
	}
	for _, e := range entries {
		if e.Index >= cp.Size {
			break // not yet under the checkpoint; the next export has it
		}
		proof, err := s.log.InclusionProof(ctx, e.Index, cp.Size)
		if err != nil {
			return Bundle{}, err
		}
		b.Entries = append(b.Entries, ProvenEntry{Entry: e, Proof: proof})
	}
	return b, s.recordRead(ctx, p, "audit/entries:export")
}
