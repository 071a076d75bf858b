package auditd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/comity-mla/comity/services/audit/tlog"
)

// warnEvery is how often the same Tessera warning is repeated: a witness
// quorum that is down fails every checkpoint interval, and a line per
// failure would drown the log; a new kind of failure is warned at once.
const warnEvery = time.Minute

// tesseraLog receives Tessera's klog lines. Its progress lines are debug
// detail; its warnings and errors (above all a checkpoint that was not
// published because the witnesses' quorum did not cosign it, which stops
// every later append from being proven) are zap warnings, rate-limited,
// and the failed publications are counted.
type tesseraLog struct {
	log      *zap.Logger
	failures prometheus.Counter
	now      func() time.Time

	mu     sync.Mutex
	last   string // the last warning, digits removed
	lastAt time.Time
}

// newTesseraLog returns the writer for klog.
func newTesseraLog(log *zap.Logger) *tesseraLog {
	return &tesseraLog{
		log: log,
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "comity_audit_checkpoint_publish_failures_total",
			Help: "Checkpoints of the audit log that were not published (with witnesses: their quorum did not cosign in time).",
		}),
		now: time.Now,
	}
}

// register registers w's metrics on reg (when not nil): the failed
// publications, and how many entries of tl's tree no published checkpoint
// covers yet.
func (w *tesseraLog) register(reg prometheus.Registerer, tl *tlog.Log) error {
	unpublished := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "comity_audit_log_unpublished_entries",
		Help: "Entries of the audit log's tree that no published checkpoint covers yet: durable, but not provable. " +
			"It grows while the witnesses' quorum does not cosign.",
	}, func() float64 {
		n, err := unpublishedEntries(tl)
		if err != nil {
			return 0
		}
		return float64(n)
	})
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{w.failures, unpublished} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("audit log metrics: %w", err)
		}
	}
	return nil
}

// unpublishedEntries is how far the tree is ahead of its published
// checkpoint.
func unpublishedEntries(tl *tlog.Log) (uint64, error) {
	ctx := context.Background()
	n, err := tl.IntegratedSize(ctx)
	if err != nil {
		return 0, err
	}
	cp, err := tl.Checkpoint(ctx)
	if err != nil {
		return n, nil // none published yet
	}
	if n < cp.Size {
		return 0, nil
	}
	return n - cp.Size, nil
}

func (w *tesseraLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	// klog's header starts with the severity: I(nfo), W(arning), E(rror)
	// or F(atal), then the time and place, up to "] ".
	if line == "" || line[0] == 'I' {
		w.log.Debug(line)
		return len(p), nil
	}
	msg := line
	if _, m, ok := strings.Cut(line, "] "); ok {
		msg = m
	}
	what := "audit log (Tessera): " + msg
	if strings.HasPrefix(msg, "publishCheckpoint:") {
		w.failures.Inc()
		what = "a checkpoint of the audit log was not published (with witnesses: their quorum did not cosign it); " +
			"appends are still accepted and durable, but cannot be proven until one is: " + msg
	}
	if w.repeat(msg) {
		w.log.Debug(what)
	} else {
		w.log.Warn(what)
	}
	return len(p), nil
}

// repeat reports whether msg is the warning given last (numbers aside)
// less than warnEvery ago, and otherwise notes it as given now.
func (w *tesseraLog) repeat(msg string) bool {
	key := strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return -1
		}
		return r
	}, msg)
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if key == w.last && now.Sub(w.lastAt) < warnEvery {
		return true
	}
	w.last, w.lastAt = key, now
	return false
}
