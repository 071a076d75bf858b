package auditd

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/klog/v2"

	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/audit/witnesstest"
)

// TestUnwitnessedPublishWarned: while the witnesses' quorum is down,
// checkpoints are not published; the operator sees it as a warning (once,
// then again only after a minute or when the failure changes), a counter
// of failed publications and a gauge of the entries no checkpoint covers.
func TestUnwitnessedPublishWarned(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	tw := newTesseraLog(zap.New(core))
	var clockMu sync.Mutex
	clock := time.Now()
	tw.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	klog.LogToStderr(false)
	klog.SetOutput(tw)
	t.Cleanup(func() { klog.LogToStderr(true) })

	ctx := context.Background()
	ws := witnesstest.Start(t, "state", 3)
	l, err := tlog.Open(ctx, t.TempDir(), tlog.Options{Origin: "comity.test/audit", WitnessPolicy: witnesstest.Policy(2, ws...), WitnessTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, w := range ws {
			w.SetDown(false)
		}
		_ = l.Close(ctx)
	})
	for _, w := range ws {
		w.Trust(t, l.PublicKey())
	}
	reg := prometheus.NewRegistry()
	if err := tw.register(reg, l); err != nil {
		t.Fatal(err)
	}
	ws[0].SetDown(true)
	ws[1].SetDown(true)
	if _, err := l.Append(ctx, [][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	warnings := func() []observer.LoggedEntry {
		return logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("was not published").All()
	}
	poll := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in time; warnings %v", what, warnings())
			}
		}
	}
	poll("failed publication", func() bool { return testutil.ToFloat64(tw.failures) >= 3 })
	if n := len(warnings()); n != 1 {
		t.Errorf("%d warnings for 3 failed publications within a minute, want 1: %v", n, warnings())
	}
	if w := warnings()[0].Message; !strings.Contains(w, "cannot be proven") {
		t.Errorf("warning %q does not say the appends cannot be proven", w)
	}
	if got, err := testutil.GatherAndCount(reg, "comity_audit_log_unpublished_entries"); err != nil || got != 1 {
		t.Fatalf("gauge: %d, %v", got, err)
	}
	poll("gauge of 2 unpublished entries", func() bool {
		n, _ := unpublishedEntries(l)
		return n == 2
	})
	// A minute later, still failing: warned again.
	clockMu.Lock()
	clock = clock.Add(warnEvery + time.Second)
	clockMu.Unlock()
	poll("second warning", func() bool { return len(warnings()) == 2 })
}
