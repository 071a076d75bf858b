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
	"github.com/comity-mla/comity/services/trail"
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

// Spool keeps the audit service's own events (auditors' reads) until they
// are in the log, so that a read is answered without waiting for the log,
// and its record still reaches the log after a crash of the service.
type Spool interface {
	// Add keeps events; when it returns nil they outlast the process (how
	// they fare if the machine stops is the implementation's to say).
	Add(ctx context.Context, events []trail.Event) error
	// Pending returns the events kept, oldest first.
	Pending(ctx context.Context) ([]trail.Event, error)
	// Remove forgets the events of ids, which are in the log.
	Remove(ctx context.Context, ids []string) error
}

// Option configures a Service.
type Option func(*Service)

// WithSpool has the Service keep auditors' reads in sp and log them in the
// background, instead of logging each before answering it. Without a spool,
// a read waits for its event to be logged (a Tessera batch, up to
// tlog.DefaultBatchMaxAge).
func WithSpool(sp Spool) Option { return func(s *Service) { s.spool = sp } }

// Producers are the service identities allowed to append.
var Producers = []string{"comity-directory", "comity-request"}

// Service is the audit trail: it appends events to the log exactly once per
// event id, keeps the index, and answers auditors with proofs.
//
// Concurrent Appends share their index work: their lookups of event ids run
// as one query, and the entries they log are indexed in one Put (group
// commit), while Tessera gathers their leaves into its batches.
type Service struct {
	log   Log
	index Index
	now   func() time.Time

	lookups group[[]string, map[string]uint64]
	puts    group[[]Entry, struct{}]

	mu sync.Mutex
	// pending holds the events being looked up, logged or indexed, so that
	// a concurrent Append of the same event waits for the first (or, once
	// it is logged, gets its index at once) instead of logging it twice. An
	// event leaves it only once it is indexed (or failed to be logged):
	// from then on the index finds it.
	pending map[string]*pendingEvent
	// unindexed holds events that are in the log but whose index write
	// failed; they are retried before anything else is indexed.
	unindexed []Entry
	// indexing counts the entries logged whose index write is queued or
	// running; indexed is signalled when it drops. writers tracks those
	// writes, for Flush.
	indexing int
	indexed  *sync.Cond
	writers  sync.WaitGroup

	spool Spool
	// draining is set while a goroutine logs the spool's events; again
	// asks it for another pass, for events spooled meanwhile. drainers
	// tracks it, for Flush.
	draining, again bool
	drainers        sync.WaitGroup
}

type pendingEvent struct {
	done  chan struct{}
	index uint64
	err   error
}

// maxGroup bounds the ids of one grouped lookup and the entries of one
// grouped index write: a run of producers sending full relay batches still
// writes in transactions of a few thousand rows.
const maxGroup = 4096

// maxIndexBacklog is how many logged entries may wait for their index write
// before Appends wait for it too.
const maxIndexBacklog = 1 << 16

// NewService returns a Service over a log and its index. Call Recover
// before serving.
func NewService(log Log, index Index, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{log: log, index: index, now: now, pending: map[string]*pendingEvent{}}
	for _, o := range opts {
		o(s)
	}
	s.indexed = sync.NewCond(&s.mu)
	s.lookups = group[[]string, map[string]uint64]{run: s.lookupGroup, size: func(ids []string) int { return len(ids) }, max: maxGroup}
	s.puts = group[[]Entry, struct{}]{run: s.putGroup, size: func(es []Entry) int { return len(es) }, max: maxGroup}
	return s
}

// lookupGroup looks up the ids of every request in one query; they share
// the answer.
func (s *Service) lookupGroup(ctx context.Context, reqs [][]string) []groupResult[map[string]uint64] {
	var ids []string
	for _, r := range reqs {
		ids = append(ids, r...)
	}
	known, err := s.index.Lookup(ctx, ids)
	out := make([]groupResult[map[string]uint64], len(reqs))
	for i := range out {
		out[i] = groupResult[map[string]uint64]{resp: known, err: err}
	}
	return out
}

// putGroup indexes the entries of every request in one Put. Should it fail,
// each request is tried on its own, so that one bad request fails alone.
func (s *Service) putGroup(ctx context.Context, reqs [][]Entry) []groupResult[struct{}] {
	out := make([]groupResult[struct{}], len(reqs))
	if len(reqs) > 1 {
		var all []Entry
		for _, r := range reqs {
			all = append(all, r...)
		}
		if s.index.Put(ctx, all) == nil {
			return out
		}
	}
	for i, r := range reqs {
		out[i].err = s.index.Put(ctx, r)
	}
	return out
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
	// Reads answered before a crash but not yet logged: logged now (those
	// that were are found by the index, not logged again).
	if err := s.drainSpool(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := s.Flush(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	return nil
}

func isProducer(p identity.Principal) bool { return slices.Contains(Producers, p.Service) }

// Append logs events for a producing service and returns their indexes in
// order. An event already logged (same id) keeps its index and is not logged
// again, also when two calls race.
func (s *Service) Append(ctx context.Context, p identity.Principal, events []trail.Event) ([]uint64, error) {
	if !isProducer(p) {
		return nil, errs.New(errs.PermissionDenied, "only the Comity services may append to the audit log")
	}
	// The events appended are the record; an event about the delivery
	// itself would only double the log.
	return s.appendEvents(ctx, events)
}

// RecordEvent logs an event of the audit service itself (an auditor's read,
// a denied call). It implements Recorder.
func (s *Service) RecordEvent(ctx context.Context, e trail.Event) error {
	_, err := s.appendEvents(ctx, []trail.Event{e})
	return err
}

var _ trail.Recorder = (*Service)(nil)

func (s *Service) appendEvents(ctx context.Context, events []trail.Event) ([]uint64, error) {
	var vs errs.Violations
	for i, e := range events {
		if e.ID == "" {
			vs.Add(fmt.Sprintf("events[%d].id", i), "required")
		}
	}
	if err := vs.Err(errs.Invalid, "invalid events"); err != nil {
		return nil, err
	}
	// Encoded before anything is registered, so that an event that cannot
	// be logged fails the call alone.
	leaves := make([][]byte, len(events))
	for i, e := range events {
		leaf, err := Leaf(e)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "events[%d] cannot be logged", i)
		}
		leaves[i] = leaf
	}

	s.mu.Lock()
	if err := s.flushUnindexed(ctx); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	// Each event is either pending already (another call, or an earlier
	// copy in this one, is on it) or becomes this call's to resolve.
	waits := make([]*pendingEvent, len(events))
	var mine []Entry
	var minePending []*pendingEvent
	for i, e := range events {
		if pe, ok := s.pending[e.ID]; ok {
			waits[i] = pe
			continue
		}
		pe := &pendingEvent{done: make(chan struct{})}
		s.pending[e.ID] = pe
		waits[i] = pe
		mine = append(mine, Entry{Event: e, Leaf: leaves[i]})
		minePending = append(minePending, pe)
	}
	s.mu.Unlock()

	if len(mine) > 0 {
		// Others may be waiting for these events: see them through even
		// if the caller goes away.
		s.resolve(context.WithoutCancel(ctx), mine, minePending)
	}
	out := make([]uint64, len(events))
	for i, pe := range waits {
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

// resolve settles the pending events of entries, registered by the caller:
// those the index knows get their index; the others are logged and indexed.
//
// The lookup runs after the events were registered as pending, and an event
// leaves pending only once it is indexed: so an event logged by an earlier
// call is either still pending (and waited for, not looked up) or found by
// the lookup. It cannot be logged twice.
func (s *Service) resolve(ctx context.Context, entries []Entry, pes []*pendingEvent) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Event.ID
	}
	known, err := s.lookups.do(ctx, ids)
	if err != nil {
		s.settle(entries, pes, fmt.Errorf("look up audit events: %w", err))
		return
	}
	var found, fresh []Entry
	var foundPending, freshPending []*pendingEvent
	for i, e := range entries {
		if idx, ok := known[e.Event.ID]; ok {
			e.Index = idx
			found = append(found, e)
			foundPending = append(foundPending, pes[i])
		} else {
			fresh = append(fresh, e)
			freshPending = append(freshPending, pes[i])
		}
	}
	if len(found) > 0 {
		s.settle(found, foundPending, nil)
	}
	if len(fresh) > 0 {
		s.logAndIndex(ctx, fresh, freshPending)
	}
}

// logAndIndex appends the leaves of entries, settles their pending events
// and queues them for the index.
//
// An event is acknowledged once it is in the log: the index is written
// behind (maxIndexBacklog bounds how far), and the event stays pending, so
// found without the index, until it is indexed. A crash before that loses
// nothing: Recover indexes the log's tail before the service serves again.
func (s *Service) logAndIndex(ctx context.Context, entries []Entry, pes []*pendingEvent) {
	leaves := make([][]byte, len(entries))
	for i, e := range entries {
		leaves[i] = e.Leaf
	}
	indexes, err := s.log.Append(ctx, leaves)
	if err != nil {
		s.settle(entries, pes, fmt.Errorf("append to the audit log: %w", err))
		return
	}
	s.mu.Lock()
	for i := range entries {
		entries[i].Index = indexes[i]
		pes[i].index = indexes[i]
		close(pes[i].done)
	}
	// The caller's answer waits here while the index lags too far behind,
	// so that producers cannot outrun it.
	for s.indexing >= maxIndexBacklog {
		s.indexed.Wait()
	}
	s.indexing += len(entries)
	s.writers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.writers.Done()
		_, err := s.puts.do(ctx, entries)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.indexing -= len(entries)
		s.indexed.Broadcast()
		if err != nil {
			// Logged but not indexed: they stay pending, so that neither
			// a retry nor a concurrent call logs them again, and the next
			// Append (or Flush) indexes them.
			s.unindexed = append(s.unindexed, entries...)
			return
		}
		for _, e := range entries {
			delete(s.pending, e.Event.ID)
		}
	}()
}

// Flush waits until the spool's events being logged are, and every event
// logged so far is indexed (or its index write has failed), and retries the
// failed index writes: a service about to stop calls it before closing its
// log and index. Nothing is lost without it: Recover indexes what the index
// lacks from the log, and logs what the spool holds.
func (s *Service) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.drainers.Wait() // which may start index writes
		s.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushUnindexed(ctx)
}

// settle resolves the pending events of entries with their indexes, or
// with err, and forgets them.
func (s *Service) settle(entries []Entry, pes []*pendingEvent, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range entries {
		if err != nil {
			pes[i].err = err
		} else {
			pes[i].index = e.Index
		}
		close(pes[i].done)
		delete(s.pending, e.Event.ID)
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
