package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query"
)

// Checkpoint is a signed statement of the log's size and root hash.
type Checkpoint struct {
	// Note is the signed note as the log serves it.
	Note     []byte
	Origin   string
	Size     uint64
	RootHash []byte
}

// Log is the transparency log the events are kept on. There is one writer.
type Log interface {
	// PublicKey is the note verifier key checkpoints are signed with.
	PublicKey() string
	// Append adds leaves and returns their indexes once sequenced.
	Append(ctx context.Context, leaves [][]byte) ([]uint64, error)
	// NextIndex is the index the next leaf will get: everything below it is
	// sequenced, if not yet integrated.
	NextIndex(ctx context.Context) (uint64, error)
	// AwaitIntegration blocks until a checkpoint covers size entries.
	AwaitIntegration(ctx context.Context, size uint64) error
	// Checkpoint returns the latest checkpoint.
	Checkpoint(ctx context.Context) (Checkpoint, error)
	// Leaves returns the leaves [from, to) of the tree of treeSize entries.
	Leaves(ctx context.Context, from, to, treeSize uint64) ([][]byte, error)
	// InclusionProof proves leaf index in the tree of treeSize entries.
	InclusionProof(ctx context.Context, index, treeSize uint64) ([][]byte, error)
	// ConsistencyProof proves the tree of from entries a prefix of the tree
	// of to entries.
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
}

// Producers are the service identities allowed to append.
var Producers = []string{"comity-directory", "comity-request"}

// Service is the audit trail: it appends events to the log exactly once per
// event id, keeps the index, and answers auditors with proofs.
type Service struct {
	log   Log
	index Index
	now   func() time.Time

	mu sync.Mutex
	// pending holds the events being logged, so that a concurrent Append of
	// the same event waits for the first instead of logging it twice.
	pending map[string]*pendingEvent
	// unindexed holds events that are in the log but whose index write
	// failed; they are retried before anything else is indexed.
	unindexed []Entry
}

type pendingEvent struct {
	done  chan struct{}
	index uint64
	err   error
}

// NewService returns a Service over a log and its index. Call Recover
// before serving.
func NewService(log Log, index Index, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{log: log, index: index, now: now, pending: map[string]*pendingEvent{}}
}

// Recover brings the index up to date with the log after a restart: it waits
// until every sequenced entry is integrated, then indexes what is missing
// (all of it when the index was lost, the tail after a crash between logging
// and indexing). Events the relays then send again are found, not logged a
// second time.
func (s *Service) Recover(ctx context.Context) error {
	next, err := s.log.NextIndex(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := s.log.AwaitIntegration(ctx, next); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	size, err := s.index.Size(ctx)
	if err != nil {
		return err
	}
	count, err := s.index.Count(ctx)
	if err != nil {
		return err
	}
	from := size
	if count != size {
		from = 0 // holes: rescan; Put skips what is there
	}
	const chunk = 1000
	for lo := from; lo < cp.Size; lo += chunk {
		hi := min(lo+chunk, cp.Size)
		leaves, err := s.log.Leaves(ctx, lo, hi, cp.Size)
		if err != nil {
			return fmt.Errorf("recover: read leaves %d-%d: %w", lo, hi, err)
		}
		entries := make([]Entry, len(leaves))
		for i, leaf := range leaves {
			ev, err := ParseLeaf(leaf)
			if err != nil {
				return fmt.Errorf("recover: leaf %d: %w", lo+uint64(i), err)
			}
			entries[i] = Entry{Index: lo + uint64(i), Event: ev, Leaf: leaf}
		}
		if err := s.index.Put(ctx, entries); err != nil {
			return fmt.Errorf("recover: index %d-%d: %w", lo, hi, err)
		}
	}
	return nil
}

func isProducer(p identity.Principal) bool { return slices.Contains(Producers, p.Service) }

// Append logs events for a producing service and returns their indexes in
// order. An event already logged (same id) keeps its index and is not logged
// again, also when two calls race.
func (s *Service) Append(ctx context.Context, p identity.Principal, events []Event) ([]uint64, error) {
	if !isProducer(p) {
		return nil, errs.New(errs.PermissionDenied, "only the Comity services may append to the audit log")
	}
	indexes, err := s.appendEvents(ctx, events)
	if err == nil {
		// The events appended are the record; an event about the delivery
		// itself would only double the log.
		MarkRecorded(ctx)
	}
	return indexes, err
}

// RecordEvent logs an event of the audit service itself (an auditor's read,
// a denied call). It implements Recorder.
func (s *Service) RecordEvent(ctx context.Context, e Event) error {
	_, err := s.appendEvents(ctx, []Event{e})
	return err
}

var _ Recorder = (*Service)(nil)

func (s *Service) appendEvents(ctx context.Context, events []Event) ([]uint64, error) {
	var vs errs.Violations
	for i, e := range events {
		if e.ID == "" {
			vs.Add(fmt.Sprintf("events[%d].id", i), "required")
		}
	}
	if err := vs.Err(errs.Invalid, "invalid events"); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.ID)
	}

	s.mu.Lock()
	if err := s.flushUnindexed(ctx); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	known, err := s.index.Lookup(ctx, ids)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	waits := make([]*pendingEvent, len(events))
	var mine []Entry
	var minePending []*pendingEvent
	for i, e := range events {
		if _, ok := known[e.ID]; ok {
			continue
		}
		if pe, ok := s.pending[e.ID]; ok {
			waits[i] = pe
			continue
		}
		leaf, err := Leaf(e)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		pe := &pendingEvent{done: make(chan struct{})}
		s.pending[e.ID] = pe
		waits[i] = pe
		mine = append(mine, Entry{Event: e, Leaf: leaf})
		minePending = append(minePending, pe)
	}
	s.mu.Unlock()

	if len(mine) > 0 {
		s.logAndIndex(ctx, mine, minePending)
	}
	out := make([]uint64, len(events))
	for i, e := range events {
		if idx, ok := known[e.ID]; ok {
			out[i] = idx
			continue
		}
		pe := waits[i]
		select {
		case <-pe.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if pe.err != nil {
			return nil, pe.err
		}
		out[i] = pe.index
	}
	return out, nil
}

// logAndIndex appends the leaves of entries, indexes them, and resolves
// their pending events.
func (s *Service) logAndIndex(ctx context.Context, entries []Entry, pes []*pendingEvent) {
	leaves := make([][]byte, len(entries))
	for i, e := range entries {
		leaves[i] = e.Leaf
	}
	// Once leaves are handed to the log they will be logged: finish the
	// bookkeeping even if the caller goes away.
	wctx := context.WithoutCancel(ctx)
	indexes, err := s.log.Append(wctx, leaves)
	if err == nil {
		for i := range entries {
			entries[i].Index = indexes[i]
		}
		if perr := s.index.Put(wctx, entries); perr != nil {
			// Logged but not indexed: keep them so that neither a retry
			// nor a concurrent call logs them again.
			s.mu.Lock()
			s.unindexed = append(s.unindexed, entries...)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range entries {
		pe := pes[i]
		if err != nil {
			pe.err = fmt.Errorf("append to the audit log: %w", err)
		} else {
			pe.index = entries[i].Index
		}
		close(pe.done)
		if err != nil || !slices.ContainsFunc(s.unindexed, func(u Entry) bool { return u.Event.ID == e.Event.ID }) {
			delete(s.pending, e.Event.ID)
		}
	}
}

// flushUnindexed retries indexing logged entries; s.mu is held.
func (s *Service) flushUnindexed(ctx context.Context) error {
	if len(s.unindexed) == 0 {
		return nil
	}
	if err := s.index.Put(ctx, s.unindexed); err != nil {
		return fmt.Errorf("audit index unavailable: %w", err)
	}
	for _, e := range s.unindexed {
		delete(s.pending, e.Event.ID)
	}
	s.unindexed = nil
	return nil
}

func requireAuditor(p identity.Principal) error {
	if !p.HasRole(identity.Auditor) {
		return errs.New(errs.PermissionDenied, "only auditors read the audit trail")
	}
	return nil
}

// involves reports whether an event concerns state.
func involves(e Event, state string) bool { return slices.Contains(e.States, state) }

// recordRead logs an auditor's read: reads of the trail are themselves on
// the trail.
func (s *Service) recordRead(ctx context.Context, p identity.Principal, resource string) error {
	ev := NewEvent(ctx, s.now(), Actor{Subject: p.Subject, Agency: p.Agency, Roles: roleNames(p), Issuer: p.Issuer}, "OK")
	ev.Resource, ev.States = resource, []string{p.State}
	if err := s.RecordEvent(ctx, ev); err != nil {
		return err
	}
	MarkRecorded(ctx)
	return nil
}

func roleNames(p identity.Principal) []string {
	out := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		out[i] = string(r)
	}
	return out
}

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
	PublicKey        string
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
	b := Bundle{PublicKey: s.log.PublicKey(), Checkpoint: cp, ConsistencyFrom: consistencyFrom}
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
