// Package tlog is the audit service's transparency log: a Tessera log on the
// POSIX driver, laid out as C2SP tlog-tiles, with checkpoints signed by an
// Ed25519 note key (C2SP tlog-checkpoint, signed-note format). Because the
// files are the standard layout, standard tlog tools (Tessera's fsck, any
// tlog-tiles client) can verify the log by reading them, with no help from
// the service.
package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/notekey"
)

// Defaults for Options. They favour latency over file count: an audit event
// is waited for by the relay that delivers it, and the audit load is small.
const (
	DefaultBatchMaxSize       = 256
	DefaultBatchMaxAge        = 10 * time.Millisecond
	DefaultCheckpointInterval = 200 * time.Millisecond

	// MinCheckpointInterval is the smallest interval Tessera's POSIX
	// driver accepts (storage/posix minCheckpointInterval); checked here
	// so that the error is the caller's, with a code.
	MinCheckpointInterval = 100 * time.Millisecond

	// MaxLeafSize is the largest leaf an entry bundle can hold: C2SP
	// tlog-tiles prefixes each entry with a 16-bit length.
	MaxLeafSize = 1<<16 - 1

	// awaitPoll is how often AwaitIntegration looks for a new checkpoint.
	// Reading a small local file this often costs nothing and adds at most
	// this much to an append's latency.
	awaitPoll = 10 * time.Millisecond
)

// Options configures a Log.
type Options struct {
	// Origin names the log's deployment, e.g. "comity.local/audit". It is
	// the first line of every checkpoint and the name of the signing key,
	// so it cannot change once the log exists. Required.
	Origin string
	// BatchMaxSize is the most entries sequenced together; 0 means
	// DefaultBatchMaxSize.
	BatchMaxSize uint
	// BatchMaxAge is the longest an entry waits for its batch to fill;
	// 0 means DefaultBatchMaxAge.
	BatchMaxAge time.Duration
	// CheckpointInterval is the least time between two checkpoints; 0 means
	// DefaultCheckpointInterval. At least MinCheckpointInterval.
	CheckpointInterval time.Duration
	// WitnessPolicy is the witness policy checkpoints must satisfy before
	// they are published (C2SP/sigsum policy text: witness, group and
	// quorum lines, each witness with its cosignature/v1 key and URL).
	// Empty: checkpoints are published unwitnessed. Witnessing fails
	// closed: while the quorum does not answer, appends are still accepted
	// and durable, but no checkpoint covers them.
	WitnessPolicy []byte
	// AllowUnwitnessed acknowledges that a log that was witnessed (it has
	// a witness-policy file, or its checkpoint carries cosignatures) is
	// opened without a WitnessPolicy, and so publishes unwitnessed
	// checkpoints from now on. Without it such an Open is refused
	// (errs.FailedPrecondition): a forgotten flag must not silently end
	// witnessing.
	AllowUnwitnessed bool
	// WitnessTimeout is how long one publication waits for the quorum to
	// cosign; 0 means Tessera's DefaultWitnessTimeout (5 s).
	WitnessTimeout time.Duration
}

func (o Options) withDefaults() (Options, error) {
	var vs errs.Violations
	if !notekey.ValidName(o.Origin) {
		vs.Add("origin", "must be a non-empty note key name: no spaces, no '+' (got %q)", o.Origin)
	}
	if o.BatchMaxSize == 0 {
		o.BatchMaxSize = DefaultBatchMaxSize
	}
	if o.BatchMaxAge == 0 {
		o.BatchMaxAge = DefaultBatchMaxAge
	}
	if o.BatchMaxAge < 0 {
		vs.Add("batch_max_age", "must not be negative")
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.CheckpointInterval < MinCheckpointInterval {
		vs.Add("checkpoint_interval", "must be at least %v (got %v)", MinCheckpointInterval, o.CheckpointInterval)
	}
	if o.WitnessTimeout == 0 {
		o.WitnessTimeout = tessera.DefaultWitnessTimeout
	}
	if o.WitnessTimeout < 0 {
		vs.Add("witness_timeout", "must not be negative")
	}
	if len(o.WitnessPolicy) > 0 {
		// The auditors' parser first (it also refuses a witness counted
		// twice), then Tessera's, which builds what the log runs.
		if p, err := bundle.ParsePolicy(o.WitnessPolicy); err != nil {
			vs.Add("witness_policy", "%v", err)
		} else if !p.NeedsCosignature() {
			vs.Add("witness_policy", "quorum none needs no cosignature: the log would call unwitnessed checkpoints witnessed; "+
				"give no witness policy to publish unwitnessed checkpoints, or a quorum of witnesses")
		} else if _, err := tessera.NewWitnessGroupFromPolicy(o.WitnessPolicy); err != nil {
			vs.Add("witness_policy", "%v", err)
		}
	}
	return o, vs.Err(errs.Invalid, "invalid audit log options")
}

// Checkpoint is a signed checkpoint of the log with what it commits to.
type Checkpoint struct {
	// Note is the checkpoint as published, signature included: what an
	// auditor keeps and verifies with bundle.VerifyCheckpoint.
	Note []byte
	// Checkpoint is the verified content of Note.
	bundle.Checkpoint
}

// Log is an open transparency log. Its methods are safe for concurrent use.
//
// Only one Log may write a log directory at a time: Open takes an exclusive
// lock on it and fails while another Log, in this or another process, holds
// it. (Tessera's POSIX driver locks each sequencing and publishing step, but
// the design gives the log a single writer; a standby takes over the volume
// only once the writer is gone.)
type Log struct {
	dir       string
	origin    string
	publicKey string
	// policy is the witness policy, nil when checkpoints are unwitnessed;
	// policyText is its text, as published in dir/witness-policy.
	policy     *bundle.Policy
	policyText []byte
	lock       *os.File

	appender *tessera.Appender
	shutdown func(context.Context) error
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	// stop ends Tessera's background work (batching, publishing, garbage
	// collection), once shutdown has flushed it.
	stop context.CancelFunc

	// mu guards closed; appends hold it shared while they add to the
	// queue, so that Close waits for every add it has not refused.
	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	// cpMu guards the last checkpoint verified, so that reading the same
	// checkpoint again does not verify its signature again.
	cpMu  sync.Mutex
	cpRaw []byte
	cp    bundle.Checkpoint
}

// Open opens the log under dir, creating it on first start:
//
//   - dir/log holds the tlog-tiles files (checkpoint, tile/…, tile/entries/…)
//     and Tessera's private state (.state/); serve dir/log read-only to let
//     clients fetch the log;
//   - dir/signing.key is the checkpoint signing key (note signer key, mode
//     0600), generated on first start;
//   - dir/public.key is its verifier key (mode 0644), for operators and
//     auditors;
//   - dir/witness-policy is the witness policy in force (mode 0644), for
//     auditors, absent when checkpoints are not witnessed;
//   - dir/writer.lock is held while the Log is open: only one Log writes a
//     log (see Log).
//
// Reopening keeps the key, the entries and the tree; o.Origin must be the
// origin the log was created with (errs.FailedPrecondition otherwise).
// Invalid options are errs.Invalid.
func Open(ctx context.Context, dir string, o Options) (_ *Log, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	if len(o.WitnessPolicy) == 0 && !o.AllowUnwitnessed {
		if err := checkWasWitnessed(dir); err != nil {
			return nil, err
		}
	}
	signer, vkey, err := loadOrCreateKeys(dir, o.Origin)
	if err != nil {
		return nil, err
	}
	driver, err := posix.New(ctx, posix.Config{Path: filepath.Join(dir, "log")})
	if err != nil {
		return nil, fmt.Errorf("audit log: posix storage: %w", err)
	}
	// Tessera's background tasks live as long as the Log, not as long as
	// the call that opened it; Close ends them.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if len(o.WitnessPolicy) > 0 {
		if err := createUnwitnessed(bg, dir, driver, o, signer); err != nil {
			return nil, err
		}
	}
	appender, shutdown, reader, err := tessera.NewAppender(bg, driver, o.tesseraOptions(signer))
	if err != nil {
		return nil, fmt.Errorf("audit log: tessera: %w", err)
	}
	l := &Log{
		dir:       dir,
		origin:    o.Origin,
		publicKey: vkey,
		lock:      lock,
		appender:  appender,
		shutdown:  shutdown,
		reader:    reader,
		awaiter:   tessera.NewPublicationAwaiter(bg, reader.ReadCheckpoint, awaitPoll),
		stop:      stop,
	}
	if err := writePolicy(dir, o.WitnessPolicy); err != nil {
		_ = shutdown(ctx)
		return nil, err
	}
	if len(o.WitnessPolicy) > 0 {
		l.policy, _ = bundle.ParsePolicy(o.WitnessPolicy) // checked by withDefaults
		l.policyText = bytes.Clone(o.WitnessPolicy)
	}
	// A log whose published checkpoint does not verify with its own key
	// (files from another log, a replaced key) must not grow further.
	// (No checkpoint at all is only a crash between Tessera creating the
	// tree and publishing its first checkpoint; the next publish mends it.)
	if _, err := l.Checkpoint(ctx); err != nil && !errors.Is(err, errs.ErrUnavailable) {
		_ = shutdown(ctx)
		return nil, errs.Wrap(err, errs.FailedPrecondition,
			"the checkpoint of the audit log in %s does not verify with %s", dir, publicKeyFile)
	}
	return l, nil
}

// createUnwitnessed creates a new log's tree, publishing its first, empty
// checkpoint without witnesses. Tessera publishes that checkpoint when it
// creates the tree, and with witnesses it would fail: they cannot know the
// key of a log that does not exist yet (and may be down), so a new
// witnessed log could never start. The empty tree commits to nothing, and
// every later tree is consistent with it, so its checkpoint needs no
// witness; every checkpoint after it does. An existing tree is left alone.
//
// A log is new only when it has neither a tree state nor a checkpoint: a
// backup restored without its hidden log/.state directory still has its
// checkpoint, which an empty one must not replace.
func createUnwitnessed(ctx context.Context, dir string, driver tessera.Driver, o Options, signer note.Signer) error {
	_, err := os.Stat(filepath.Join(dir, "log", ".state", "treeState"))
	if !errors.Is(err, os.ErrNotExist) {
		return nil // there is a tree (or the driver will report the error)
	}
	cpPath := filepath.Join(dir, "log", layout.CheckpointPath)
	if _, err := os.Stat(cpPath); !errors.Is(err, os.ErrNotExist) {
		return errs.New(errs.FailedPrecondition,
			"the audit log in %s has a checkpoint (%s) but no tree state (log/.state/treeState): was it restored "+
				"without its hidden log/.state directory? Restore the whole log directory, hidden files included", dir, cpPath)
	}
	o.WitnessPolicy = nil
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, shutdown, _, err := tessera.NewAppender(ctx, driver, o.tesseraOptions(signer))
	if err != nil {
		return fmt.Errorf("audit log: tessera: create: %w", err)
	}
	if err := shutdown(ctx); err != nil {
		return fmt.Errorf("audit log: tessera: create: %w", err)
	}
	return nil
}

// checkWasWitnessed refuses to open a log unwitnessed that was witnessed:
// it has a published witness policy, or its checkpoint carries a
// cosignature (a signature line beyond the log's own).
func checkWasWitnessed(dir string) error {
	why := ""
	if _, err := os.Stat(filepath.Join(dir, WitnessPolicyFile)); err == nil {
		why = "it has a witness policy (" + filepath.Join(dir, WitnessPolicyFile) + ")"
	} else if cp, err := os.ReadFile(filepath.Join(dir, "log", layout.CheckpointPath)); err == nil {
		if _, sigs, ok := bytes.Cut(cp, []byte("\n\n")); ok && bytes.Count(sigs, []byte("— ")) > 1 {
			why = "its checkpoint carries witnesses' cosignatures"
		}
	}
	if why == "" {
		return nil
	}
	return errs.New(errs.FailedPrecondition,
		"the audit log in %s was witnessed (%s) but no witness policy was given: give the witness policy "+
			"(--witness-policy), or, to publish unwitnessed checkpoints from now on, say so (--unwitnessed)", dir, why)
}

// TesseraOptions returns the options Open gives Tessera's appender for a
// log signed by signer, with o's defaults: a bare Tessera log made with them
// is the baseline the audit benchmarks compare Log and the audit service
// with (tlogtest.NewRaw). Invalid options are errs.Invalid.
func (o Options) TesseraOptions(signer note.Signer) (*tessera.AppendOptions, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return o.tesseraOptions(signer), nil
}

// tesseraOptions is TesseraOptions for options with their defaults.
func (o Options) tesseraOptions(signer note.Signer) *tessera.AppendOptions {
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(o.BatchMaxSize, o.BatchMaxAge).
		WithCheckpointInterval(o.CheckpointInterval)
	if len(o.WitnessPolicy) > 0 {
		// Parsed in withDefaults already.
		group, _ := tessera.NewWitnessGroupFromPolicy(o.WitnessPolicy)
		// Fail closed: a checkpoint the quorum has not cosigned is not
		// published (Tessera retries at the next interval).
		opts = opts.WithWitnesses(group, &tessera.WitnessOptions{Timeout: o.WitnessTimeout, FailOpen: false})
	}
	return opts
}

// WitnessPolicy returns the witness policy the log's checkpoints satisfy
// (as in dir/witness-policy), nil when they are not witnessed.
func (l *Log) WitnessPolicy() []byte { return bytes.Clone(l.policyText) }

// writePolicy publishes the policy in force beside the public key, or
// removes a previous one when checkpoints are no longer witnessed, so that
// the file never claims a policy the log does not follow.
func writePolicy(dir string, policy []byte) error {
	path := filepath.Join(dir, WitnessPolicyFile)
	if len(policy) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit log: %w", err)
		}
		return nil
	}
	if err := writeFileAtomic(path, policy, 0o644); err != nil {
		return fmt.Errorf("audit log: witness policy: %w", err)
	}
	return nil
}

// Dir is the directory the log was opened in.
func (l *Log) Dir() string { return l.dir }

// PublicKey returns the note verifier key of the log's checkpoints,
// "<origin>+<hash>+<base64>", as in dir/public.key.
func (l *Log) PublicKey() string { return l.publicKey }

// errClosed is returned by calls on a closed Log: the service is shutting
// down, and the caller should retry against the next writer.
var errClosed = errs.New(errs.Unavailable, "the audit log is closed")

// Append adds leaves to the log and returns their indexes, in the order of
// leaves, once they are sequenced (and, with the POSIX driver, integrated
// into the tree); it does not wait for a checkpoint to commit to them: see
// AwaitIntegration. The leaves are queued one after the other before any is
// awaited, so they share batches and land in the log in order, though not
// necessarily contiguously when others append at the same time.
//
// A leaf over MaxLeafSize is errs.Invalid and nothing is appended. When ctx
// ends first, Append returns its error but the leaves may still be logged:
// sequencing cannot be recalled, and the index, derived from the log, will
// show them.
func (l *Log) Append(ctx context.Context, leaves [][]byte) ([]uint64, error) {
	for i, leaf := range leaves {
		if len(leaf) > MaxLeafSize {
			return nil, errs.New(errs.Invalid, "leaf %d has %d bytes, more than %d", i, len(leaf), MaxLeafSize)
		}
	}
	if len(leaves) == 0 {
		return nil, nil
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, errClosed
	}
	l.inflight.Add(1)
	futures := make([]tessera.IndexFuture, len(leaves))
	for i, leaf := range leaves {
		// Cloned because the entry's hash is computed now but its data is
		// written later: a caller reusing its buffer after a cancelled
		// Append must not change what is logged.
		futures[i] = l.appender.Add(ctx, tessera.NewEntry(bytes.Clone(leaf)))
	}
	l.mu.RUnlock()

	type result struct {
		indexes []uint64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		// Resolved even if the caller leaves, so that Close can wait for
		// every queued leaf.
		defer l.inflight.Done()
		indexes := make([]uint64, len(futures))
		for i, f := range futures {
			idx, err := f()
			if err != nil {
				if errors.Is(err, tessera.ErrPushback) {
					err = errs.Wrap(err, errs.Unavailable, "the audit log is overloaded; retry later")
				} else {
					err = fmt.Errorf("audit log: append: %w", err)
				}
				done <- result{err: err}
				return
			}
			indexes[i] = idx.Index
		}
		done <- result{indexes: indexes}
	}()
	select {
	case r := <-done:
		return r.indexes, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("audit log: append: %w", ctx.Err())
	}
}

// AwaitIntegration blocks until a published checkpoint covers at least size
// entries, that is until entries [0, size) can be proven. It waits for ever
// (until ctx ends) for a size nobody appends.
func (l *Log) AwaitIntegration(ctx context.Context, size uint64) error {
	if size == 0 {
		return nil
	}
	// The awaiter waits for an index; the last entry of the tree is it.
	last := func() (tessera.Index, error) { return tessera.Index{Index: size - 1}, nil }
	if _, _, err := l.awaiter.Await(ctx, last); err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("audit log: await size %d: %w", size, ctx.Err())
		case l.isClosed():
			return errClosed
		default:
			return fmt.Errorf("audit log: await size %d: %w", size, err)
		}
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Checkpoint reads the latest published checkpoint and verifies it with the
// log's own key, as an auditor would. A checkpoint that does not verify is
// an internal error: the files were changed behind the log's back.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	raw, err := l.reader.ReadCheckpoint(ctx)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Tessera publishes an empty checkpoint when it creates the
			// log, so this is a transient state at most.
			return Checkpoint{}, errs.Wrap(err, errs.Unavailable, "the audit log has no checkpoint yet")
		}
		return Checkpoint{}, fmt.Errorf("audit log: read checkpoint: %w", err)
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	if !bytes.Equal(raw, l.cpRaw) {
		cp, err := bundle.VerifyCheckpoint(raw, l.publicKey)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("audit log: own checkpoint: %w", err)
		}
		l.cpRaw, l.cp = raw, cp
	}
	// Copies, so that a caller cannot alter the cached checkpoint.
	cp := l.cp
	cp.RootHash = bytes.Clone(cp.RootHash)
	return Checkpoint{Note: bytes.Clone(l.cpRaw), Checkpoint: cp}, nil
}

// checkTreeSize returns the latest checkpoint's size after checking that a
// tree of treeSize entries can be proven: it has been checkpointed.
func (l *Log) checkTreeSize(ctx context.Context, treeSize uint64) (uint64, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	if treeSize > cp.Size {
		return 0, errs.New(errs.FailedPrecondition,
			"tree size %d is beyond the latest checkpoint (size %d)", treeSize, cp.Size)
	}
	return cp.Size, nil
}

// IntegratedSize is the size of the tree the log has built, published or
// not: with witnesses down it runs ahead of the latest checkpoint.
func (l *Log) IntegratedSize(ctx context.Context) (uint64, error) {
	n, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit log: integrated size: %w", err)
	}
	return n, nil
}

// AwaitIntegrated blocks until the tree holds at least size entries,
// whether or not a checkpoint commits to them yet: unlike
// AwaitIntegration, it does not wait for witnesses.
func (l *Log) AwaitIntegrated(ctx context.Context, size uint64) error {
	t := time.NewTicker(awaitPoll)
	defer t.Stop()
	for {
		n, err := l.IntegratedSize(ctx)
		if err != nil {
			return err
		}
		if n >= size {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("audit log: await integrated size %d (at %d): %w", size, n, ctx.Err())
		case <-t.C:
		}
	}
}

// Leaves returns the leaf data of entries [from, to) of the tree of
// treeSize entries, read back from the entry bundles, e.g. to rebuild the
// index. treeSize must be integrated, though not necessarily checkpointed,
// so that the index can be rebuilt while witnesses are down
// (errs.FailedPrecondition beyond it), and from <= to <= treeSize
// (errs.Invalid). Each leaf is checked against the hashes of the tree, so
// that a damaged bundle is an error rather than a wrong event in the index.
func (l *Log) Leaves(ctx context.Context, from, to, treeSize uint64) ([][]byte, error) {
	// Read at the integrated size rather than treeSize: the bundle and
	// tiles of a size that was never the tree's size may not exist, while
	// the latest ones do and start with the same entries.
	cpSize, err := l.IntegratedSize(ctx)
	if err != nil {
		return nil, err
	}
	if treeSize > cpSize {
		return nil, errs.New(errs.FailedPrecondition,
			"tree size %d is beyond the log's tree (size %d)", treeSize, cpSize)
	}
	if from > to || to > treeSize {
		return nil, errs.New(errs.Invalid, "entries [%d, %d) are not a range of a tree of size %d", from, to, treeSize)
	}
	leaves := make([][]byte, 0, to-from)
	for ri := range layout.Range(from, to-from, treeSize) {
		p := layout.PartialTileSize(0, ri.Index, cpSize)
		raw, err := l.reader.ReadEntryBundle(ctx, ri.Index, p)
		if err != nil {
			return nil, fmt.Errorf("audit log: entry bundle %d: %w", ri.Index, err)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("audit log: entry bundle %d: %w", ri.Index, err)
		}
		hashes, err := l.readTile(ctx, 0, ri.Index, cpSize)
		if err != nil {
			return nil, err
		}
		end := ri.First + ri.N
		if uint(len(b.Entries)) < end || uint(len(hashes.Nodes)) < end {
			return nil, fmt.Errorf("audit log: entry bundle %d is short: %d entries, %d hashes, want %d",
				ri.Index, len(b.Entries), len(hashes.Nodes), end)
		}
		for i := ri.First; i < end; i++ {
			if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(b.Entries[i]), hashes.Nodes[i]) {
				return nil, fmt.Errorf("audit log: entry %d does not match its hash in the tree: the log files are damaged",
					ri.Index*layout.EntryBundleWidth+uint64(i))
			}
			leaves = append(leaves, b.Entries[i])
		}
	}
	return leaves, nil
}

func (l *Log) readTile(ctx context.Context, level, index, cpSize uint64) (api.HashTile, error) {
	var t api.HashTile
	raw, err := l.tileFetcher(cpSize)(ctx, level, index, 0)
	if err != nil {
		return t, fmt.Errorf("audit log: tile %d/%d: %w", level, index, err)
	}
	if err := t.UnmarshalText(raw); err != nil {
		return t, fmt.Errorf("audit log: tile %d/%d: %w", level, index, err)
	}
	return t, nil
}

// tileFetcher reads tiles as of the latest checkpoint's size, whatever
// partial width the caller asks for. A proof for an older tree size asks
// for partial tiles of that size, which exist only if a batch happened to
// end there; the tile of the latest size does exist (its parts for the full
// subtrees are garbage collected only once the full tile is written, which
// the driver falls back to) and holds the same hashes first.
func (l *Log) tileFetcher(cpSize uint64) client.TileFetcherFunc {
	return func(ctx context.Context, level, index uint64, _ uint8) ([]byte, error) {
		return l.reader.ReadTile(ctx, level, index, layout.PartialTileSize(level, index, cpSize))
	}
}

// InclusionProof returns the proof that entry index is in the tree of
// treeSize entries, to be verified with bundle.VerifyInclusion against a
// checkpoint of that size. treeSize beyond the latest checkpoint is
// errs.FailedPrecondition; an index the log does not have is
// errs.NotFound, and one it has but not in a tree of treeSize is
// errs.Invalid.
func (l *Log) InclusionProof(ctx context.Context, index, treeSize uint64) ([][]byte, error) {
	cpSize, err := l.checkTreeSize(ctx, treeSize)
	if err != nil {
		return nil, err
	}
	if index >= cpSize {
		return nil, errs.New(errs.NotFound, "no entry %d: the log has %d entries", index, cpSize)
	}
	if index >= treeSize {
		return nil, errs.New(errs.Invalid, "entry %d is not in a tree of size %d", index, treeSize)
	}
	pb, err := client.NewProofBuilder(ctx, treeSize, l.tileFetcher(cpSize))
	if err != nil {
		return nil, fmt.Errorf("audit log: proof builder: %w", err)
	}
	p, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("audit log: inclusion proof of %d in %d: %w", index, treeSize, err)
	}
	return p, nil
}

// ConsistencyProof returns the proof that the tree of to entries extends
// the tree of from entries, to be verified with bundle.VerifyConsistency.
// to beyond the latest checkpoint is errs.FailedPrecondition; from > to is
// errs.Invalid.
func (l *Log) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	cpSize, err := l.checkTreeSize(ctx, to)
	if err != nil {
		return nil, err
	}
	if from > to {
		return nil, errs.New(errs.Invalid, "tree size %d is larger than %d", from, to)
	}
	if from == 0 {
		// Every tree extends the empty one; the proof is empty (and
		// merkle refuses to build one from size 0).
		return [][]byte{}, nil
	}
	pb, err := client.NewProofBuilder(ctx, to, l.tileFetcher(cpSize))
	if err != nil {
		return nil, fmt.Errorf("audit log: proof builder: %w", err)
	}
	p, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("audit log: consistency proof %d to %d: %w", from, to, err)
	}
	return p, nil
}

// Close stops the log: new appends are refused (errs.Unavailable), the
// leaves already queued are sequenced, and Tessera's shutdown waits until a
// checkpoint covers all of them, so that nothing acknowledged is left
// unproven. Then it releases the writer lock. If ctx ends first, Close
// still stops the log and returns ctx's error: some leaves may then lack a
// checkpoint until the next Open publishes one.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()

	var errList []error
	drained := make(chan struct{})
	go func() {
		l.inflight.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		if err := l.shutdown(ctx); err != nil {
			errList = append(errList, fmt.Errorf("audit log: shutdown: %w", err))
		}
	case <-ctx.Done():
		errList = append(errList, fmt.Errorf("audit log: close: %w", ctx.Err()))
	}
	l.stop()
	if err := l.lock.Close(); err != nil {
		errList = append(errList, fmt.Errorf("audit log: unlock: %w", err))
	}
	return errors.Join(errList...)
}
