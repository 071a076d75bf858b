package audit

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

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
	// AwaitIntegrated blocks until the tree holds size entries, whether or
	// not a checkpoint covers them yet (witnesses may be down).
	AwaitIntegrated(ctx context.Context, size uint64) error
	// IntegratedSize is the size of the tree, published or not.
	IntegratedSize(ctx context.Context) (uint64, error)
	// Checkpoint returns the latest checkpoint.
	Checkpoint(ctx context.Context) (Checkpoint, error)
	// Leaves returns the leaves [from, to) of the tree of treeSize entries;
	// treeSize need only be integrated, not checkpointed.
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

// WithWitnessPolicy names the witness policy the log's checkpoints
// satisfy (C2SP policy text), handed to auditors with the checkpoint and in
// bundles so that they can keep it; they verify against their own copy.
func WithWitnessPolicy(policy []byte) Option {
	return func(s *Service) { s.witnessPolicy = bytes.Clone(policy) }
}

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

	spool         Spool
	witnessPolicy []byte
	// draining is set while a goroutine logs the spool's events; again
	// asks it for another pass, for events spooled meanwhile. drainers
	// tracks it, for Flush.
	draining, again bool
	drainers        sync.WaitGroup
}

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

// Recover brings the index up to date with the log after a restart: it waits
// until every sequenced entry is integrated into the tree, then indexes what
// is missing (all of it when the index was lost, the tail after a crash
// between logging and indexing). Events the relays then send again are
// found, not logged a second time. It reads the integrated tree, not the
// latest checkpoint, so that the service starts while the witnesses are
// down and no checkpoint can be published: auditors' proofs still wait
// for one.
func (s *Service) Recover(ctx context.Context) error {
	next, err := s.log.NextIndex(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := s.log.AwaitIntegrated(ctx, next); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	treeSize, err := s.log.IntegratedSize(ctx)
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
	for lo := from; lo < treeSize; lo += chunk {
		hi := min(lo+chunk, treeSize)
		leaves, err := s.log.Leaves(ctx, lo, hi, treeSize)
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
