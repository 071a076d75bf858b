// Package relay delivers a producing service's audit outbox to the audit
// service (DESIGN §6): it reads the oldest pending events, appends them with
// AuditService.Append and only then marks them delivered. When the audit
// service is down it keeps the backlog and retries with backoff, so that the
// producing service keeps working and the backlog drains when the audit
// service returns. Append is idempotent by event id, which makes a batch sent
// twice (the answer lost, or the mark failed) harmless.
//
// An event that Append refuses as invalid (INVALID_ARGUMENT), which no retry
// can fix, is set aside in the outbox (dead-lettered, with when and why),
// counted and logged with its id, and the events behind it keep flowing: one
// bad event must not silence the trail. The relay finds the refused events
// from the BadRequest field violations of the refusal (events[N]…), checking
// each by sending it alone, or else by sending the batch one event at a time.
// Any other failure (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, …) is retried
// and sets nothing aside. `comityctl audit outbox` lists and redelivers the
// dead letters. Events are bounded (trail.Bounded) as they are sent, so that
// events written by an older producer that did not bound them are delivered
// cut rather than refused. An audit service that refuses event after event
// (a stricter version, a wrong configuration) would have the whole backlog
// set aside and the log lose its order: after MaxRefusalsInRow refusals in a
// row the relay stops setting events aside, retries with backoff and
// reports the delivery unhealthy until an event is accepted again.
//
// The relay also watches the queue: the metrics comity_audit_outbox_* (backlog,
// age of the oldest undelivered event, dead letters) and a delivery health
// (trail.DeliveryHealthService) that turns NOT_SERVING while the oldest
// undelivered event is older than the alarm bound.
package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

// maxBatch is the most events one Append takes (AppendRequest.events).
const maxBatch = 1000

// logEvery is the least time between two log lines about failures, so that
// an audit service down for an hour does not flood the log.
const logEvery = 30 * time.Second

// DefaultBacklogAlarm is the default Options.BacklogAlarm.
const DefaultBacklogAlarm = 5 * time.Minute

// DefaultMaxRefusalsInRow is the default Options.MaxRefusalsInRow.
const DefaultMaxRefusalsInRow = 20

// errRefusesEverything is the failure of a delivery stopped because the
// audit service refused MaxRefusalsInRow events in a row.
var errRefusesEverything = errors.New("the audit service refuses every event; check its version/config")

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
	// BacklogAlarm is how old the oldest undelivered event may get before
	// the delivery is reported behind (SetDeliveryHealthy(false), a log
	// line); default 5m.
	BacklogAlarm time.Duration
	// StatsInterval is how often the relay reads the outbox's Stats for the
	// metrics and the alarm; default 5s.
	StatsInterval time.Duration
	// MaxRefusalsInRow is how many events the audit service may refuse in
	// a row, set aside one by one, before the relay takes it for an audit
	// service that refuses every event: it then sets no more aside, retries
	// with backoff, logs an error and reports the delivery unhealthy until
	// an event is accepted; default 20.
	MaxRefusalsInRow int
	// SetDeliveryHealthy, when set, is told whether the delivery keeps up:
	// false while the oldest undelivered event is older than BacklogAlarm
	// or the audit service refuses every event (MaxRefusalsInRow), true
	// otherwise. It is called once the outbox is first read, then on
	// every change.
	SetDeliveryHealthy func(healthy bool)
	// Metrics, when set, receives the outbox metrics (NewMetrics).
	Metrics *Metrics
	// Logger receives failures (at most one line per 30s while they last),
	// recoveries, each dead letter and the alarm; nil means no logs.
	Logger *zap.Logger
}

// Metrics are a producer's outbox metrics.
type Metrics struct {
	backlog      prometheus.Gauge
	deadLetters  prometheus.Gauge
	deadLettered prometheus.Counter
	// oldest is when the oldest undelivered event was written, in Unix
	// nanoseconds, 0 when none waits; the age gauge is computed from it
	// when scraped, so that it grows between two reads of the outbox.
	oldest atomic.Int64
}

// NewMetrics registers the outbox metrics of the producing service named
// service (its label, e.g. "request") with reg:
//
//	comity_audit_outbox_backlog             events waiting, dead letters not counted
//	comity_audit_outbox_oldest_age_seconds  age of the oldest of them (0 when none)
//	comity_audit_outbox_dead_letters        events set aside, waiting for an operator
//	comity_audit_outbox_dead_lettered_total events this process has set aside
//
// A nil reg registers nowhere.
func NewMetrics(reg prometheus.Registerer, service string) (*Metrics, error) {
	m := &Metrics{
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "comity_audit_outbox_backlog",
			Help: "Audit events waiting in the outbox for delivery to the audit service, dead letters not counted.",
		}),
		deadLetters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "comity_audit_outbox_dead_letters",
			Help: "Audit events the audit service refused as invalid, set aside in the outbox until an operator redelivers them (comityctl audit outbox).",
		}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "comity_audit_outbox_dead_lettered_total",
			Help: "Audit events this process set aside because the audit service refused them as invalid.",
		}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "comity_audit_outbox_oldest_age_seconds",
		Help: "Age in seconds of the oldest audit event waiting in the outbox (0 when none waits).",
	}, func() float64 {
		n := m.oldest.Load()
		if n == 0 {
			return 0
		}
		return max(0, time.Since(time.Unix(0, n)).Seconds())
	})
	if reg == nil {
		return m, nil
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)
	for _, c := range []prometheus.Collector{m.backlog, age, m.deadLetters, m.deadLettered} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("audit outbox metrics: %w", err)
		}
	}
	return m, nil
}

// Relay delivers one outbox. Several relays may drain one outbox (replicas on
// one PostgreSQL database): they may send the same events, which Append
// takes once.
type Relay struct {
	outbox trail.Outbox
	client auditv1.AuditServiceClient
	o      Options
	log    *zap.Logger
	m      *Metrics

	backlog atomic.Int64
	// refresh asks the watcher for fresh Stats (after a dead letter).
	refresh chan struct{}
	// refusalsInRow counts the events set aside since the audit service
	// last accepted one; only the delivery goroutine uses it.
	refusalsInRow int
	// refusing is set while the delivery is stopped on an audit service
	// that refuses every event; Watch reports it unhealthy.
	refusing atomic.Bool
}

// New returns a relay from outbox to client. The client carries the relay's
// credentials (per-RPC credentials of its connection): the relay knows
// nothing of tokens.
func New(outbox trail.Outbox, client auditv1.AuditServiceClient, o Options) *Relay {
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
	if o.BacklogAlarm <= 0 {
		o.BacklogAlarm = DefaultBacklogAlarm
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = 5 * time.Second
	}
	if o.MaxRefusalsInRow <= 0 {
		o.MaxRefusalsInRow = DefaultMaxRefusalsInRow
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	m := o.Metrics
	if m == nil {
		m, _ = NewMetrics(nil, "")
	}
	return &Relay{outbox: outbox, client: client, o: o, log: log, m: m, refresh: make(chan struct{}, 1)}
}

// Backlog returns the number of undelivered events the relay last saw in
// the outbox, at most BatchSize: 0 once it found the outbox drained.
func (r *Relay) Backlog() int { return int(r.backlog.Load()) }

// Run delivers the outbox until ctx ends, then returns nil, and watches it
// meanwhile (Watch). It never drops an event nor changes the order of those
// it delivers: a batch that fails is retried, with backoff, before any later
// event is sent. The one exception is an event the audit service refuses as
// invalid (INVALID_ARGUMENT): it is set aside in the outbox as a dead letter
// (logged with its id and the refusal, counted), and the events behind it go
// on; an operator redelivers it once the cause is fixed.
func (r *Relay) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Watch(ctx) })
	g.Go(func() error { r.deliverLoop(ctx); return nil })
	return g.Wait()
}

func (r *Relay) deliverLoop(ctx context.Context) {
	var (
		failures  int // in a row
		lastLog   time.Time
		unlogged  int // failures since the last log line
		firstFail time.Time
	)
	for {
		full, err := r.deliver(ctx)
		if ctx.Err() != nil {
			return
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
				log := r.log.Warn
				msg := "audit delivery failed; retrying"
				if errors.Is(err, errRefusesEverything) {
					log, msg = r.log.Error, errRefusesEverything.Error()+"; no more events are set aside, retrying"
				}
				log(msg, zap.Error(err), zap.String("code", status.Code(err).String()),
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
			return
		case <-t.C:
		}
	}
}

// deliver sends the oldest pending batch and marks it delivered, and reports
// whether the relay should go on at once (the batch was full, or events of
// it were set aside: more may be waiting).
func (r *Relay) deliver(ctx context.Context) (more bool, err error) {
	entries, err := r.outbox.PendingEvents(ctx, r.o.BatchSize)
	if err != nil {
		return false, fmt.Errorf("read outbox: %w", err)
	}
	r.backlog.Store(int64(len(entries)))
	if len(entries) == 0 {
		return false, nil
	}
	err = r.send(ctx, entries)
	switch {
	case err == nil:
		more = len(entries) == r.o.BatchSize
		if !more {
			r.backlog.Store(0)
		}
		return more, nil
	case !refused(err):
		return false, fmt.Errorf("append %d events (outbox seq %d…%d): %w", len(entries), entries[0].Seq, entries[len(entries)-1].Seq, err)
	}
	if err := r.setAsideRefused(ctx, entries, err); err != nil {
		return false, err
	}
	return true, nil
}

// send appends entries and marks them delivered. A refusal of Append is
// returned as the status error itself, so that refused can read it.
func (r *Relay) send(ctx context.Context, entries []trail.OutboxEntry) error {
	req := &auditv1.AppendRequest{Events: make([]*auditv1.Event, len(entries))}
	seqs := make([]int64, len(entries))
	for i, e := range entries {
		// Bounded leaves a bounded event as it is; it cuts the fields of
		// one an older producer wrote unbounded, which the audit service
		// would refuse.
		req.Events[i] = grpcapi.EventToProto(trail.Bounded(e.Event))
		seqs[i] = e.Seq
	}
	cctx, cancel := context.WithTimeout(ctx, r.o.CallTimeout)
	_, err := r.client.Append(cctx, req)
	cancel()
	if err != nil {
		return err
	}
	r.refusalsInRow = 0
	if r.refusing.Swap(false) {
		r.log.Info("the audit service accepts events again; refused events are set aside again")
		r.poke()
	}
	// Should this fail, the batch stays pending and is sent again: Append
	// keeps the first copy.
	if err := r.outbox.MarkDelivered(ctx, seqs); err != nil {
		return fmt.Errorf("mark %d events delivered: %w", len(seqs), err)
	}
	return nil
}

// refused reports whether err is Append's refusal of what it was sent as
// invalid: no retry can make it pass. Every other failure, of the network,
// the audit service or this process, may pass on a retry.
func refused(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.InvalidArgument
}

// setAsideRefused delivers what it can of entries, a batch Append refused
// with batchErr, and dead-letters the events Append refuses alone. Each call
// delivers or sets aside at least one event, or returns an error (then
// nothing is set aside that Append did not refuse alone), so that the
// relay always makes progress past a bad event.
func (r *Relay) setAsideRefused(ctx context.Context, entries []trail.OutboxEntry, batchErr error) error {
	k := firstRefused(batchErr, len(entries))
	if k < 0 {
		// The refusal does not say which: find out one event at a time.
		return r.oneByOne(ctx, entries)
	}
	if k > 0 {
		// The events before it first, to keep the order.
		switch err := r.send(ctx, entries[:k]); {
		case err == nil:
		case refused(err):
			if err := r.oneByOne(ctx, entries[:k]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("append %d events (outbox seq %d…%d): %w", k, entries[0].Seq, entries[k-1].Seq, err)
		}
	}
	// The refusal named it, but only its refusal alone proves it bad.
	return r.oneByOne(ctx, entries[k:k+1])
}

// oneByOne sends entries one at a time, in order, and dead-letters each
// that Append refuses alone. It stops at the first other failure.
func (r *Relay) oneByOne(ctx context.Context, entries []trail.OutboxEntry) error {
	for _, e := range entries {
		err := r.send(ctx, []trail.OutboxEntry{e})
		switch {
		case err == nil:
		case refused(err):
			if err := r.deadLetter(ctx, e, err); err != nil {
				return err
			}
		default:
			return fmt.Errorf("append event %s (outbox seq %d): %w", e.Event.ID, e.Seq, err)
		}
	}
	return nil
}

func (r *Relay) deadLetter(ctx context.Context, e trail.OutboxEntry, refusal error) error {
	s := status.Convert(refusal)
	reason := s.Code().String() + ": " + s.Message()
	if r.refusalsInRow >= r.o.MaxRefusalsInRow {
		if !r.refusing.Swap(true) {
			r.poke()
		}
		return fmt.Errorf("%w: %d events refused in a row, the last event %s (outbox seq %d): %s",
			errRefusesEverything, r.refusalsInRow+1, e.Event.ID, e.Seq, reason)
	}
	switch err := r.outbox.DeadLetter(ctx, e.Seq, reason); {
	case errors.Is(err, errs.ErrNotFound):
		// Another relay delivered or set it aside meanwhile.
		return nil
	case err != nil:
		return fmt.Errorf("set aside event %s (outbox seq %d): %w", e.Event.ID, e.Seq, err)
	}
	r.refusalsInRow++
	r.m.deadLettered.Inc()
	r.log.Error("audit event refused by the audit service and set aside (dead-lettered); the events behind it go on. "+
		"Fix the cause, then: comityctl audit outbox redeliver --database DB --id "+e.Event.ID,
		zap.String("event_id", e.Event.ID), zap.Int64("outbox_seq", e.Seq), zap.String("action", e.Event.Action),
		zap.Time("event_time", e.Event.Time), zap.String("reason", reason))
	r.poke()
	return nil
}

// poke asks Watch for fresh Stats and health.
func (r *Relay) poke() {
	select {
	case r.refresh <- struct{}{}:
	default:
	}
}

// eventField is the field path of a violation about one event of a batch.
var eventField = regexp.MustCompile(`^events\[([0-9]+)\]`)

// firstRefused returns the smallest batch position that the BadRequest
// violations of refusal name (events[N]…), or -1 if they name none of the n
// events sent.
func firstRefused(refusal error, n int) int {
	first := -1
	for _, d := range status.Convert(refusal).Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			m := eventField.FindStringSubmatch(v.GetField())
			if m == nil {
				continue
			}
			i, err := strconv.Atoi(m[1])
			if err != nil || i >= n {
				continue
			}
			if first < 0 || i < first {
				first = i
			}
		}
	}
	return first
}

// Watch reads the outbox's Stats every StatsInterval (and after each dead
// letter) until ctx ends, then returns nil: it keeps the metrics current and
// reports, through SetDeliveryHealthy and the log, a backlog whose oldest
// event is older than BacklogAlarm, or an audit service that refuses every
// event. It runs apart from delivery, so that it
// reports a relay stuck in a call too. Run calls it; a service without an
// audit service to deliver to calls it alone, since its events wait too.
func (r *Relay) Watch(ctx context.Context) error {
	var (
		known, behind bool
		lastErrLog    time.Time
	)
	t := time.NewTicker(r.o.StatsInterval)
	defer t.Stop()
	for {
		st, err := r.outbox.Stats(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// The service's own readiness reports its database; this
			// keeps the last state.
			if time.Since(lastErrLog) >= logEvery {
				r.log.Warn("audit outbox stats failed", zap.Error(err))
				lastErrLog = time.Now()
			}
		default:
			r.m.backlog.Set(float64(st.Backlog))
			r.m.deadLetters.Set(float64(st.DeadLetters))
			var age time.Duration
			if st.Backlog > 0 && !st.Oldest.IsZero() {
				r.m.oldest.Store(st.Oldest.UnixNano())
				age = time.Since(st.Oldest)
			} else {
				r.m.oldest.Store(0)
			}
			refusing := r.refusing.Load()
			now := st.Backlog > 0 && age > r.o.BacklogAlarm || refusing
			switch {
			case now && (!behind || !known):
				msg := "audit delivery is behind: the oldest undelivered event is older than the alarm bound"
				if refusing {
					msg = "audit delivery is stopped: " + errRefusesEverything.Error()
				}
				r.log.Warn(msg,
					zap.Duration("age", age.Round(time.Second)), zap.Duration("alarm", r.o.BacklogAlarm),
					zap.Int64("backlog", st.Backlog), zap.Time("oldest", st.Oldest))
			case !now && behind && known:
				r.log.Info("audit delivery caught up", zap.Int64("backlog", st.Backlog))
			}
			if (now != behind || !known) && r.o.SetDeliveryHealthy != nil {
				r.o.SetDeliveryHealthy(!now)
			}
			behind, known = now, true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.refresh:
		}
	}
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
// mTLS identity and service token), until ctx ends or either fails. Without
// auditAddr the outbox is only watched (its events wait, and the metrics
// and the alarm say so). The producing services serve this way, so that
// their audit events leave the outbox while they work.
func RunBeside(ctx context.Context, serve func(context.Context) error, outbox trail.Outbox, auditAddr string,
	dial grpcclient.Options, o Options) error {
	var r *Relay
	if auditAddr != "" {
		dial.Server = mtls.Audit
		conn, err := grpcclient.New(auditAddr, dial)
		if err != nil {
			return fmt.Errorf("audit service at %q: %w", auditAddr, err)
		}
		defer conn.Close()
		r = New(outbox, auditv1.NewAuditServiceClient(conn), o)
	} else {
		r = New(outbox, nil, o)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(ctx) })
	if auditAddr != "" {
		g.Go(func() error { return r.Run(ctx) })
	} else {
		g.Go(func() error { return r.Watch(ctx) })
	}
	return g.Wait()
}
