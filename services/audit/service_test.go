package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/auditd"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/spool"
	"github.com/comity-mla/comity/services/audit/store"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/trail"
)

// testTrail is an audit service over a real log and a real SQLite index, which
// a test can close and reopen (or reopen without its index).
type testTrail struct {
	t     *testing.T
	dir   string
	svc   *audit.Service
	log   *tlog.Log
	db    *sqlitedb.DB
	spool *spool.Spool
}

func openTrail(t *testing.T, dir string) *testTrail {
	t.Helper()
	ctx := t.Context()
	l, err := tlog.Open(ctx, filepath.Join(dir, "log"), tlog.Options{Origin: "comity.test/audit"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := store.New(ctx, sqldb.FromSQLite(db))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "reads.spool"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &testTrail{t: t, dir: dir, svc: audit.NewService(auditd.LogAdapter{Log: l}, idx, nil, audit.WithSpool(sp)), log: l, db: db, spool: sp}
	if err := tr.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.close)
	return tr
}

func (tr *testTrail) close() {
	if tr.log == nil {
		return
	}
	if err := tr.svc.Flush(context.Background()); err != nil {
		tr.t.Error(err)
	}
	if err := tr.log.Close(context.Background()); err != nil {
		tr.t.Error(err)
	}
	tr.db.Close()
	tr.spool.Close()
	tr.log = nil
}

var producer = identity.Principal{Subject: "service:comity-request", Service: "comity-request"}

func event(n int, states ...string) trail.Event {
	return trail.Event{
		ID: trail.NewID(), Time: time.Date(2026, 11, 28, 10, 0, n, 0, time.UTC), Service: "comity-request",
		Action: "/comity.request.v1.RequestService/SubmitRequest", Resource: fmt.Sprintf("requests/r%d", n),
		States: states, Outcome: "OK", Actor: trail.Actor{Subject: "p", Agency: "kz-gpo", Roles: []string{"prosecutor"}},
	}
}

func TestAppendIsExactlyOncePerEvent(t *testing.T) {
	tr := openTrail(t, t.TempDir())
	ctx := t.Context()
	evs := []trail.Event{event(1, "KZ", "UZ"), event(2, "KZ", "UZ"), event(3, "TJ")}
	first, err := tr.svc.Append(ctx, producer, "", evs)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tr.svc.Append(ctx, producer, "", append([]trail.Event{evs[2], event(4, "KZ")}, evs...))
	if err != nil {
		t.Fatal(err)
	}
	if again[0] != first[2] || again[2] != first[0] || again[4] != first[2] {
		t.Errorf("re-appended events got new indexes: first %v, again %v", first, again)
	}
	// Sixteen producers race to append the same 50 events.
	racers := make([]trail.Event, 50)
	for i := range racers {
		racers[i] = event(100+i, "KZ")
	}
	var wg sync.WaitGroup
	results := make([][]uint64, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if results[i], err = tr.svc.Append(ctx, producer, "", racers); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range results {
		if fmt.Sprint(results[i]) != fmt.Sprint(results[0]) {
			t.Fatalf("racing appends disagree on indexes: %v vs %v", results[i], results[0])
		}
	}
	next, err := tr.log.NextIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(3 + 1 + 50); next != want {
		t.Errorf("the log holds %d entries, want %d (each event once)", next, want)
	}
	if _, err := tr.svc.Append(ctx, identity.Principal{Subject: "u", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.Auditor}}, "", evs); errs.CodeOf(err) != errs.PermissionDenied {
		t.Errorf("a user appended: %v", err)
	}
}

func TestRecoverRebuildsALostIndex(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir)
	ctx := t.Context()
	evs := []trail.Event{event(1, "KZ"), event(2, "UZ"), event(3, "KZ", "UZ")}
	idx, err := tr.svc.Append(ctx, producer, "", evs)
	if err != nil {
		t.Fatal(err)
	}
	tr.close()
	for _, f := range []string{"index.db", "index.db-wal", "index.db-shm"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	tr = openTrail(t, dir)
	// The relays send again what they were not sure of: nothing is logged
	// twice.
	again, err := tr.svc.Append(ctx, producer, "", evs)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(idx) {
		t.Errorf("after losing the index, re-appended events got %v, want %v", again, idx)
	}
	auditor := uzAuditor
	entries, err := tr.svc.Entries(ctx, auditor, nil, audit.FromStart, 0)
	if err != nil {
		t.Fatal(err)
	}
	var resources []string
	for _, e := range entries {
		if e.Event.Service == "comity-request" {
			resources = append(resources, e.Event.Resource)
		}
	}
	if fmt.Sprint(resources) != "[requests/r2 requests/r3]" {
		t.Errorf("a UZ auditor sees %v, want the UZ events r2 and r3 only", resources)
	}
	// Every answer comes with a proof against a signed checkpoint.
	if err := tr.log.AwaitIntegration(ctx, idx[2]+1); err != nil {
		t.Fatal(err)
	}
	e, proof, size, cp, err := tr.svc.EntryProof(ctx, auditor, idx[2], 0)
	if err != nil {
		t.Fatal(err)
	}
	verified, err := bundle.VerifyCheckpoint(cp.Note, tr.log.PublicKey())
	if err != nil || verified.Size != size {
		t.Fatalf("checkpoint: %v (size %d vs %d)", err, verified.Size, size)
	}
	if err := bundle.VerifyInclusion(e.Leaf, e.Index, proof, verified); err != nil {
		t.Errorf("inclusion proof: %v", err)
	}
	if _, _, _, _, err := tr.svc.EntryProof(ctx, auditor, idx[0], 0); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("a UZ auditor got a KZ-only entry: %v", err)
	}
}

var uzAuditor = identity.Principal{Subject: "a", Agency: "uz-oversight", State: "UZ", Roles: []identity.Role{identity.Auditor}}

// readsOf returns the resources of the auditors' reads on the trail, in log
// order, as a UZ auditor lists them (a read of the list is itself spooled).
func readsOf(t *testing.T, tr *testTrail) []string {
	t.Helper()
	entries, err := tr.svc.Entries(t.Context(), uzAuditor, nil, audit.FromStart, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Event.Resource, "audit/") {
			out = append(out, e.Event.Resource)
		}
	}
	return out
}

func TestAuditorsReadsAreLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir)
	ctx := t.Context()
	idx, err := tr.svc.Append(ctx, producer, "", []trail.Event{event(1, "UZ")})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.log.AwaitIntegration(ctx, idx[0]+1); err != nil {
		t.Fatal(err)
	}
	// Append answers before the entry is indexed: wait for the index
	// too, or the read below may not find it on a busy machine.
	if err := tr.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The answer does not wait for the log; the read reaches it after.
	if _, _, _, _, err := tr.svc.EntryProof(ctx, uzAuditor, idx[0], 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.svc.Checkpoint(ctx, uzAuditor); err != nil {
		t.Fatal(err)
	}
	if err := tr.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(readsOf(t, tr)), fmt.Sprintf("[audit/entries/%d audit/checkpoint]", idx[0]); got != want {
		t.Errorf("reads on the trail: %s, want %s", got, want)
	}
	tr.close() // the Entries read of readsOf is logged too

	// A crash after answering two reads: one of them was logged but not
	// yet removed from the spool, the other was not logged.
	logged, unlogged := event(2, "UZ"), event(3, "UZ")
	logged.Resource, unlogged.Resource = "audit/entries/998", "audit/entries/999"
	tr = openTrail(t, dir)
	if _, err := tr.svc.Append(ctx, producer, "", []trail.Event{logged}); err != nil {
		t.Fatal(err)
	}
	next, err := tr.log.NextIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.spool.Add(ctx, []trail.Event{logged, unlogged}); err != nil {
		t.Fatal(err)
	}
	// Not drained: as if the process died here (the spool is closed by
	// close; Flush does not log what no read started draining).
	tr.close()

	tr = openTrail(t, dir) // Recover logs the spool
	after, err := tr.log.NextIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != next+1 {
		t.Errorf("after the restart the log grew from %d to %d entries, want one more (the unlogged read)", next, after)
	}
	if pending, err := tr.spool.Pending(ctx); err != nil || len(pending) != 0 {
		t.Errorf("the spool after Recover holds %v (%v), want nothing", pending, err)
	}
	got := readsOf(t, tr)
	if n := len(got); n < 2 || got[n-2] != "audit/entries/998" || got[n-1] != "audit/entries/999" {
		t.Errorf("reads on the trail after the restart: %v, want it to end with entries 998 and 999", got)
	}
}
