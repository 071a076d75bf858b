// Package relay delivers a producing service's audit outbox to the audit
// service (DESIGN §6): it reads the oldest pending events, appends them with
// AuditService.Append and only then marks them delivered. When the audit
// service is down it keeps the backlog and retries with backoff, so that the
// producing service keeps working and the backlog drains when the audit
// service returns. Append is idempotent by event id, which makes a batch sent
// twice (the answer lost, or the mark failed) harmless.
package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/status"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/mtls"
)

// maxBatch is the most events one Append takes (AppendRequest.events).
const maxBatch = 1000

// logEvery is the least time between two log lines about failures, so that
// an audit service down for an hour does not flood the log.
const logEvery = 30 * time.Second

// Options configures a Relay. A zero or negative field takes its default.
type Options struct {
	// BatchSize is the most events read and appended at once; default 500,
	// at most 1000 (the API's limit).
	BatchSize int
	// Poll is how long the relay waits after finding the outbox empty;
	// default 250ms.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure, which
	// doubles with each failure in a row, with jitter; defaults 100ms and
	// 30s.
	MinBackoff, MaxBackoff time.Duration
	// CallTimeout bounds one Append; default 10s.
	CallTimeout time.Duration
	// Logger receives failures (at most one line per 30s while they last)
	// and recoveries; nil means no logs.
	Logger *zap.Logger
}

// Relay delivers one outbox. Several relays may drain one outbox (replicas on
// one PostgreSQL database): they may send the same events, which Append
// takes once.
type Relay struct {
	outbox audit.Outbox
	client auditv1.AuditServiceClient
	o      Options
	log    *zap.Logger

	backlog atomic.Int64
}

// New returns a relay from outbox to client. The client carries the relay's
// credentials (per-RPC credentials of its connection): the relay knows
// nothing of tokens.
func New(outbox audit.Outbox, client auditv1.AuditServiceClient, o Options) *Relay {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	o.BatchSize = min(o.BatchSize, maxBatch)
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Relay{outbox: outbox, client: client, o: o, log: log}
}

// Backlog returns the number of undelivered events the relay last saw in
// the outbox, at most BatchSize: 0 once it found the outbox drained.
func (r *Relay) Backlog() int { return int(r.backlog.Load()) }

// Run delivers the outbox until ctx ends, then returns nil. It never drops
// an event nor changes their order: a batch that fails is retried, with
// backoff, before any later event is sent. An event the audit service refuses
// (INVALID_ARGUMENT) is therefore retried too and holds up the events behind
// it; the log says so, and an operator must act.
func (r *Relay) Run(ctx context.Context) error {
	var (
		failures  int // in a row
		lastLog   time.Time
		unlogged  int // failures since the last log line
		firstFail time.Time
	)
	for {
		full, err := r.deliver(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.o.Poll
		switch {
		case err != nil:
			failures++
			unlogged++
			if failures == 1 {
				firstFail = time.Now()
			}
			wait = r.backoff(failures)
			if now := time.Now(); failures == 1 || now.Sub(lastLog) >= logEvery {
				r.log.Warn("audit delivery failed; retrying", zap.Error(err), zap.String("code", status.Code(err).String()),
					zap.Int("failures", failures), zap.Int("failures_since_last_log", unlogged),
					zap.Int("backlog_at_least", r.Backlog()), zap.Duration("retry_in", wait))
				lastLog, unlogged = now, 0
			}
		case failures > 0:
			r.log.Info("audit delivery resumed", zap.Int("failures", failures),
				zap.Duration("after", time.Since(firstFail)))
			failures, unlogged = 0, 0
			fallthrough
		default:
			if full {
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// deliver sends the oldest pending batch and marks it delivered, and reports
// whether the batch was full (more may be waiting).
func (r *Relay) deliver(ctx context.Context) (full bool, err error) {
	entries, err := r.outbox.PendingEvents(ctx, r.o.BatchSize)
	if err != nil {
		return false, fmt.Errorf("read outbox: %w", err)
	}
	r.backlog.Store(int64(len(entries)))
	if len(entries) == 0 {
		return false, nil
	}
	req := &auditv1.AppendRequest{Events: make([]*auditv1.Event, len(entries))}
	seqs := make([]int64, len(entries))
	for i, e := range entries {
		req.Events[i] = grpcapi.EventToProto(e.Event)
		seqs[i] = e.Seq
	}
	cctx, cancel := context.WithTimeout(ctx, r.o.CallTimeout)
	_, err = r.client.Append(cctx, req)
	cancel()
	if err != nil {
		return false, fmt.Errorf("append %d events (outbox seq %d…%d): %w", len(entries), seqs[0], seqs[len(seqs)-1], err)
	}
	// Should this fail, the batch stays pending and is sent again: Append
	// keeps the first copy.
	if err := r.outbox.MarkDelivered(ctx, seqs); err != nil {
		return false, fmt.Errorf("mark %d events delivered: %w", len(seqs), err)
	}
	full = len(entries) == r.o.BatchSize
	if !full {
		r.backlog.Store(0)
	}
	return full, nil
}

// backoff returns the wait after the nth failure in a row: MinBackoff
// doubled n-1 times, at most MaxBackoff, of which a random half is taken off
// so that relays of many replicas do not retry in step.
func (r *Relay) backoff(n int) time.Duration {
	d := r.o.MinBackoff
	for i := 1; i < n && d < r.o.MaxBackoff; i++ {
		if d > r.o.MaxBackoff/2 {
			d = r.o.MaxBackoff
			break
		}
		d *= 2
	}
	d = min(d, r.o.MaxBackoff)
	half := d / 2
	return d - half + rand.N(half+1)
}

// RunBeside runs serve and, when auditAddr is set, a relay that delivers
// outbox to the audit service there, connected with dial (the producer's
// mTLS identity and service token), until ctx ends or either fails. The
// producing services serve this way, so that their audit events leave the
// outbox while they work.
func RunBeside(ctx context.Context, serve func(context.Context) error, outbox audit.Outbox, auditAddr string,
	dial grpcclient.Options, log *zap.Logger) error {
	if auditAddr == "" {
		return serve(ctx)
	}
	dial.Server = mtls.Audit
	conn, err := grpcclient.New(auditAddr, dial)
	if err != nil {
		return fmt.Errorf("audit service at %q: %w", auditAddr, err)
	}
	defer conn.Close()
	r := New(outbox, auditv1.NewAuditServiceClient(conn), Options{Logger: log})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(ctx) })
	g.Go(func() error { return r.Run(ctx) })
	return g.Wait()
}
