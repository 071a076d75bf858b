package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/errs"
)

// DefaultWitnessCheckTimeout is how long CheckWitnessed waits for the
// witnesses (asked all at once): a witness that does not answer in time is
// skipped.
const DefaultWitnessCheckTimeout = 5 * time.Second

// maxWitnessCheckpoint bounds what CheckWitnessed reads from a witness: a
// checkpoint with a few dozen cosignatures is well under it.
const maxWitnessCheckpoint = 64 << 10

// errOtherKey marks a witness's checkpoint of this log's origin that the
// log's key does not verify.
var errOtherKey = errors.New("checkpoint not signed with the log's key")

// CheckWitnessed asks each witness of the log's policy, all at once, for the
// latest checkpoint of this log it cosigned (GET <url>/checkpoint?origin=…)
// and compares it with the log's tree. A checkpoint signed with the log's
// key that is larger than the tree, or of a size the tree has with another
// root, means this log is not the one the witnesses cosigned — typically a
// backup older than what they saw was restored — and witnesses would take
// every new checkpoint for a fork: errs.FailedPrecondition, saying what to
// do. So is a checkpoint of this log's origin that the log's key does not
// verify, when most of the witnesses that answered hold one: the log's key
// was replaced (the log started afresh) or the witnesses follow another
// log, and they would refuse every new checkpoint. One witness alone
// holding such a checkpoint is skipped like one that does not answer: a
// single state's witness, broken or hostile, must not stop the audit
// service from starting (it cannot forge the log's signature, so the fork
// checks above are not open to it). A witness that does not answer or has
// no checkpoint of this log is skipped, with the reason in skipped for the
// caller to log.
// Without a policy there is nothing to check.
func (l *Log) CheckWitnessed(ctx context.Context, timeout time.Duration) (skipped []error, err error) {
	if l.policy == nil {
		return nil, nil
	}
	if timeout <= 0 {
		timeout = DefaultWitnessCheckTimeout
	}
	size, err := l.IntegratedSize(ctx)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: timeout}
	ws := l.policy.Witnesses()
	type answer struct {
		cp  *bundle.Checkpoint
		err error
	}
	answers := make([]answer, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			cp, err := l.witnessCheckpoint(ctx, hc, w.URL)
			answers[i] = answer{cp, err}
		})
	}
	wg.Wait()
	answered, otherKey := 0, 0
	for _, a := range answers {
		if a.err == nil || errors.Is(a.err, errOtherKey) {
			answered++
		}
		if errors.Is(a.err, errOtherKey) {
			otherKey++
		}
	}
	for i, w := range ws {
		cp, err := answers[i].cp, answers[i].err
		if errors.Is(err, errOtherKey) && 2*otherKey > answered {
			return skipped, errs.New(errs.FailedPrecondition,
				"witness %s (%s) holds a checkpoint of origin %s that the log's key (%s in %s) does not verify: "+
					"the log's key was replaced, or the witness follows another log, and it would refuse every new "+
					"checkpoint of this one. If the log directory was deleted to start afresh, the witnesses' state must "+
					"go too (comity-local: if you deleted var/audit to start afresh, delete var/witness too); "+
					"otherwise restore the log directory with its signing key (%v)",
				w.Name, w.URL, l.origin, publicKeyFile, l.dir, err)
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("witness %s (%s): %w", w.Name, w.URL, err))
			continue
		}
		if cp == nil {
			continue // it has cosigned nothing of this log yet
		}
		if cp.Size > size {
			return skipped, l.forkError(w.Name, *cp, fmt.Sprintf("this log has only %d entries", size))
		}
		root, err := l.rootAt(ctx, cp.Size, size)
		if err != nil {
			return skipped, err
		}
		if !bytes.Equal(root, cp.RootHash) {
			return skipped, l.forkError(w.Name, *cp, fmt.Sprintf("this log has %d entries and at size %d its root is %x", size, cp.Size, root))
		}
	}
	return skipped, nil
}

func (l *Log) forkError(witness string, cp bundle.Checkpoint, have string) error {
	return errs.New(errs.FailedPrecondition,
		"witness %s cosigned checkpoint size %d root %x of this log, but %s: the log in %s is older than "+
			"what the witnesses saw (a backup restored?) and they would take its new checkpoints for a fork. "+
			"Restore the newest backup of %s (the log directory) and start again; never re-sign the log or "+
			"replace its key (see docs/design.md, the audit trail's witnesses)",
		witness, cp.Size, cp.RootHash, have, l.dir, l.dir)
}

// witnessCheckpoint fetches and verifies the latest checkpoint of this log
// the witness at root cosigned; nil when it has none.
func (l *Log) witnessCheckpoint(ctx context.Context, hc *http.Client, root string) (*bundle.Checkpoint, error) {
	u, err := url.Parse(root)
	if err != nil {
		return nil, err
	}
	u = u.JoinPath("checkpoint")
	u.RawQuery = url.Values{"origin": {l.origin}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessCheckpoint))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	cp, err := bundle.VerifyCheckpoint(body, l.publicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errOtherKey, err)
	}
	return &cp, nil
}

// rootAt computes the root hash of the tree's first n entries from the
// tiles of the tree of size entries.
func (l *Log) rootAt(ctx context.Context, n, size uint64) ([]byte, error) {
	if n == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	nodes, err := client.FetchRangeNodes(ctx, n, l.tileFetcher(size))
	if err != nil {
		return nil, fmt.Errorf("audit log: root at size %d: %w", n, err)
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r, err := rf.NewRange(0, n, nodes)
	if err != nil {
		return nil, fmt.Errorf("audit log: root at size %d: %w", n, err)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("audit log: root at size %d: %w", n, err)
	}
	return root, nil
}
