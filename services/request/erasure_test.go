package request_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
	"github.com/comity-mla/comity/services/trail"
)

// sweepRig is a Service on a real store and blob store, with the clock
// at t0, whose directory lists KZ and UZ.
type sweepRig struct {
	svc   *request.Service
	st    *store.Store
	blobs *fsblob.Store
	clock *clock
	dir   *agencies
}

// flakyBlobs is a blob store whose Delete fails while fail is set: a crash
// between the database and the blob store, as the sweep sees it.
type flakyBlobs struct {
	*fsblob.Store
	fail atomic.Bool
}

func (b *flakyBlobs) Delete(ctx context.Context, key string) error {
	if b.fail.Load() {
		return errors.New("the process died here")
	}
	return b.Store.Delete(ctx, key)
}

func newSweepRig(t *testing.T, db *sqldb.DB, blobDir string, clk *clock, wrap func(*fsblob.Store) request.Blobs) sweepRig {
	t.Helper()
	st, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	var b request.Blobs = blobs
	if wrap != nil {
		b = wrap(blobs)
	}
	dir := &agencies{}
	svc, err := request.NewService(request.Config{Store: st, Blobs: b, Directory: dir, Trust: dir, Now: clk.now,
		States: func(context.Context) ([]string, error) { return []string{"KZ", "UZ"}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return sweepRig{svc: svc, st: st, blobs: blobs, clock: clk, dir: dir}
}

func sqliteRig(t *testing.T) sweepRig {
	c := &clock{}
	c.set(t0)
	return newSweepRig(t, sqldbtest.SQLite(t), t.TempDir(), c, nil)
}

// attach uploads content as an attachment of kind to request id.
func (rig sweepRig) attach(t *testing.T, id, kind, name, content string) request.Attachment {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	a, err := rig.svc.Attach(ctx, kzProsecutor, request.Upload{RequestID: id, Kind: kind, Filename: name,
		SHA256: hex.EncodeToString(sum[:])}, strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// closedCase is a request of KZ to UZ with a narrative, a person, a
// message, a clarification, a status reason and two attachments (EVIDENCE
// and OTHER), closed now, as its lifecycle would have left it.
func (rig sweepRig) closedCase(t *testing.T) (request.View, []request.Attachment) {
	t.Helper()
	d := completeDraft()
	d.Persons = []request.Person{{FullName: "Aigerim Suspectova", Role: "SUSPECT"}}
	v := ok(t)(rig.svc.Create(ctx, kzProsecutor, d, ""))
	atts := []request.Attachment{rig.attach(t, v.ID, "EVIDENCE", "chat-log.txt", "the seized chat log"),
		rig.attach(t, v.ID, "OTHER", "letter.pdf", "a covering letter")}
	if _, err := rig.svc.PostMessage(ctx, kzProsecutor, v.ID, request.Message{Body: "Call me about the wallet.", Visibility: request.BothSides}); err != nil {
		t.Fatal(err)
	}
	now := rig.clock.now()
	if _, err := rig.st.Update(ctx, v.ID, func(r *request.Request) (request.Change, error) {
		r.Clarifications = []request.Clarification{{Question: "Which wallet?", Answer: "The one ending 5512."}}
		from := r.Status
		r.Status, r.TransmitTime, r.CloseTime, r.UpdateTime = request.Closed, now, now, now
		return request.Change{History: &request.HistoryEntry{From: from, To: request.Closed, Action: "close", Time: now, Reason: "The case was tried."},
			Event: trail.Event{ID: trail.NewID()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return ok(t)(rig.svc.Get(ctx, kzProsecutor, v.ID)), atts
}

// eraseEvents counts the outbox's events of action on request id.
func eraseEvents(t *testing.T, st *store.Store, id, action string) int {
	t.Helper()
	pending, err := st.PendingEvents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range pending {
		if e.Event.Action == "/comity.request.v1.RequestService/"+action && e.Event.Resource == "requests/"+id {
			if e.Event.Service != "comity-request" || e.Event.Outcome != "OK" || strings.Join(e.Event.States, ",") != "KZ,UZ" {
				t.Errorf("erasure event = %+v; want comity-request's, OK, for KZ and UZ", e.Event)
			}
			n++
		}
	}
	return n
}

func sweep(t *testing.T, svc *request.Service) request.SweepReport {
	t.Helper()
	rep, err := svc.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return rep
}

// TestRetentionErasure: a closed request shows when it will be erased;
// nothing goes before; once its retention has run out the sweep erases its
// content (one audit event), deletes its attachments' content and records
// the erasure complete; what remains is its metadata, the attachments'
// digests and sizes and the history without reasons; every action on the
// content is then refused naming the erasure; the next sweep does
// nothing.
func TestRetentionErasure(t *testing.T) {
	rig := sqliteRig(t)
	v, atts := rig.closedCase(t)
	if want := t0.Add(request.DefaultRetention); !v.Deadlines.EraseBy.Equal(want) {
		t.Fatalf("EraseBy = %v; want %v (closed plus five years)", v.Deadlines.EraseBy, want)
	}
	rig.dir.retention.Store("KZ", 30*day)
	if v = ok(t)(rig.svc.Get(ctx, kzCA, v.ID)); !v.Deadlines.EraseBy.Equal(t0.Add(30 * day)) {
		t.Fatalf("EraseBy = %v; want the state's retention of 30 days to win", v.Deadlines.EraseBy)
	}

	rig.clock.set(t0.Add(30*day - time.Second))
	if rep := sweep(t, rig.svc); rep.Erased != 0 {
		t.Fatalf("a second early: %+v; want nothing erased", rep)
	}
	rig.clock.set(t0.Add(30*day + time.Minute))
	if rep := sweep(t, rig.svc); rep.Erased != 1 || rep.Completed != 1 {
		t.Fatalf("after the retention: %+v; want one erased and completed", rep)
	}
	if n := eraseEvents(t, rig.st, v.ID, "EraseRequest"); n != 1 {
		t.Fatalf("%d erasure events; want 1", n)
	}

	got := ok(t)(rig.svc.Get(ctx, kzProsecutor, v.ID))
	if !got.MetadataOnly || got.FactsSummary != "" || got.Persons != nil || got.Identifiers != nil || got.Clarifications != nil ||
		got.Reference != v.Reference || got.Status != request.Closed || !got.CloseTime.Equal(v.CloseTime) || !got.Deadlines.EraseBy.IsZero() {
		t.Fatalf("erased request = %+v; want its metadata only, reference, status and close time kept, no EraseBy", got.Request)
	}
	if len(got.Erasures) != 1 || got.Erasures[0].Scope != request.EraseContent || got.Erasures[0].Cause != request.ByRetention ||
		got.Erasures[0].CompleteTime.IsZero() || len(got.Erasures[0].Attachments) != 2 {
		t.Fatalf("erasures = %+v; want one complete CONTENT erasure under RETENTION of the 2 attachments", got.Erasures)
	}
	list, err := rig.svc.Attachments(ctx, kzProsecutor, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range list {
		if a.EraseTime.IsZero() || a.SHA256 != atts[i].SHA256 || a.SizeBytes != atts[i].SizeBytes {
			t.Errorf("attachment after erasure = %+v; want its erase time, digest and size", a)
		}
		if _, err := rig.blobs.Open(ctx, atts[i].BlobKey); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("the content of %s is still in the blob store (%v)", a.ID, err)
		}
	}
	hist, err := rig.st.History(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist[:len(hist)-1] {
		if h.Reason != "" {
			t.Errorf("history entry %s kept its reason %q", h.Action, h.Reason)
		}
	}
	if last := hist[len(hist)-1]; last.Action != "eraseContent" || last.To != request.Closed || last.Actor.Subject != "comity-request" {
		t.Errorf("last history entry = %+v; want the service's eraseContent", last)
	}

	erasedRefusal := func(what string, err error) {
		t.Helper()
		if errs.CodeOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "erased on "+t0.Add(30*day).Format(time.DateOnly)) {
			t.Errorf("%s on the erased request = %v; want FAILED_PRECONDITION naming the erasure's date", what, err)
		}
	}
	_, _, err = rig.svc.Messages(ctx, kzProsecutor, v.ID, 0, 0)
	erasedRefusal("Messages", err)
	_, err = rig.svc.PostMessage(ctx, kzProsecutor, v.ID, request.Message{Body: "hello", Visibility: request.BothSides})
	erasedRefusal("PostMessage", err)
	_, _, err = rig.svc.Download(ctx, kzProsecutor, v.ID, atts[0].ID)
	erasedRefusal("Download", err)
	_, err = rig.svc.SetLegalHold(ctx, kzCA, v.ID, "", "Appeal pending.", rig.clock.now().Add(day))
	erasedRefusal("SetLegalHold", err)

	if rep := sweep(t, rig.svc); rep.Erased+rep.Completed+rep.Evidence != 0 {
		t.Fatalf("a second sweep: %+v; want nothing", rep)
	}
	if n := eraseEvents(t, rig.st, v.ID, "EraseRequest"); n != 1 {
		t.Fatalf("%d erasure events after a second sweep; want still 1", n)
	}
}

// TestLegalHold: a hold (by the requesting state's CA, its review date in
// the future) stops the erasure and takes away EraseBy; past its review
// the request is overdue; lifted, the next sweep erases. Bad holds and
// lifting none are refused naming the field.
func TestLegalHold(t *testing.T) {
	rig := sqliteRig(t)
	v, _ := rig.closedCase(t)
	review := t0.Add(2 * 365 * day)

	for _, tc := range []struct {
		name   string
		reason string
		review time.Time
		field  string
	}{
		{"no reason", " ", review, "reason"},
		{"no review", "Appeal pending.", time.Time{}, "review_time"},
		{"past review", "Appeal pending.", t0.Add(-time.Hour), "review_time"},
		{"review beyond ten years", "Appeal pending.", t0.Add(11 * 365 * day), "review_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rig.svc.SetLegalHold(ctx, kzCA, v.ID, "", tc.reason, tc.review)
			if code, vs := refusal(err); code != errs.Invalid || len(vs) != 1 || vs[0].field != tc.field {
				t.Fatalf("= %v; want INVALID_ARGUMENT naming %s", err, tc.field)
			}
		})
	}
	if _, err := rig.svc.SetLegalHold(ctx, uzCA, v.ID, "", "Ours.", review); errs.CodeOf(err) != errs.PermissionDenied {
		t.Fatalf("a hold by the requested side = %v; want PERMISSION_DENIED", err)
	}
	if _, err := rig.svc.LiftLegalHold(ctx, kzCA, v.ID, "", "Nothing to lift."); errs.CodeOf(err) != errs.FailedPrecondition {
		t.Fatalf("lifting no hold = %v; want FAILED_PRECONDITION", err)
	}

	held := ok(t)(rig.svc.SetLegalHold(ctx, kzCA, v.ID, "", "An appeal is pending.", review))
	if h := held.LegalHold; !h.Holds() || h.Reason != "An appeal is pending." || h.SetBy.Subject != kzCA.Subject ||
		!held.Deadlines.LegalHoldReviewBy.Equal(review) || !held.Deadlines.EraseBy.IsZero() {
		t.Fatalf("held = %+v, deadlines %+v; want the hold, its review date and no EraseBy", h, held.Deadlines)
	}
	renewed := ok(t)(rig.svc.SetLegalHold(ctx, kzCA, v.ID, "", "The appeal was adjourned.", review.Add(day)))
	if !renewed.Deadlines.LegalHoldReviewBy.Equal(review.Add(day)) || renewed.LegalHold.Reason != "The appeal was adjourned." {
		t.Fatalf("renewed hold = %+v; want the new reason and review date", renewed.LegalHold)
	}

	rig.clock.set(t0.Add(request.DefaultRetention + day))
	if rep := sweep(t, rig.svc); rep.Erased != 0 {
		t.Fatalf("under a hold: %+v; want nothing erased", rep)
	}
	if got := ok(t)(rig.svc.Get(ctx, kzCA, v.ID)); !got.Overdue || got.FactsSummary == "" {
		t.Fatalf("past the hold's review: overdue %v, content %q; want overdue and kept", got.Overdue, got.FactsSummary)
	}

	lifted := ok(t)(rig.svc.LiftLegalHold(ctx, kzCA, v.ID, "", "The appeal was decided."))
	if h := lifted.LegalHold; h.Holds() || h.LiftReason != "The appeal was decided." || !lifted.Deadlines.LegalHoldReviewBy.IsZero() ||
		!lifted.Deadlines.EraseBy.Equal(t0.Add(request.DefaultRetention)) {
		t.Fatalf("lifted = %+v, deadlines %+v; want lifted, no review, EraseBy back", h, lifted.Deadlines)
	}
	if rep := sweep(t, rig.svc); rep.Erased != 1 {
		t.Fatalf("after lifting: %+v; want it erased", rep)
	}
}

// TestEvidenceErasure: at Deadlines.EvidenceEraseBy (a DELETE_BY or
// RETURN condition, or a consent's keep_until) the EVIDENCE attachments'
// content is erased, nothing else; downloading it is refused naming when.
func TestEvidenceErasure(t *testing.T) {
	rig := sqliteRig(t)
	v, atts := rig.closedCase(t)
	rig.dir.retention.Store("KZ", 10*365*day)
	due := t0.Add(90 * day)
	if _, err := rig.st.Update(ctx, v.ID, func(r *request.Request) (request.Change, error) {
		r.Deadlines.EvidenceEraseBy = due
		return request.Change{Event: trail.Event{ID: trail.NewID()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rig.clock.set(due.Add(-time.Second))
	if rep := sweep(t, rig.svc); rep.Evidence != 0 {
		t.Fatalf("before the condition's date: %+v; want nothing", rep)
	}
	rig.clock.set(due)
	if rep := sweep(t, rig.svc); rep.Evidence != 1 || rep.Erased != 0 || rep.Completed != 1 {
		t.Fatalf("at the condition's date: %+v; want the evidence erased, nothing else", rep)
	}
	if n := eraseEvents(t, rig.st, v.ID, "EraseEvidence"); n != 1 {
		t.Fatalf("%d evidence erasure events; want 1", n)
	}
	got := ok(t)(rig.svc.Get(ctx, kzProsecutor, v.ID))
	if got.MetadataOnly || got.FactsSummary == "" || !got.Deadlines.EvidenceEraseBy.IsZero() || len(got.Erasures) != 1 ||
		got.Erasures[0].Scope != request.EraseEvidence || got.Erasures[0].Attachments[0] != atts[0].ID {
		t.Fatalf("after the evidence erasure: %+v; want the content kept and one EVIDENCE erasure of %s", got.Request, atts[0].ID)
	}
	_, _, err := rig.svc.Download(ctx, kzProsecutor, v.ID, atts[0].ID)
	if errs.CodeOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "erased on "+due.Format(time.RFC3339)) {
		t.Fatalf("downloading the erased evidence = %v; want FAILED_PRECONDITION naming %s", err, due.Format(time.RFC3339))
	}
	_, rc, err := rig.svc.Download(ctx, kzProsecutor, v.ID, atts[1].ID)
	if err != nil {
		t.Fatalf("downloading the letter = %v; want it kept", err)
	}
	rc.Close()
}

// TestErasureResumes: a crash between the database and the blob store
// leaves the erasure pending and the content in the blob store; the next
// sweep deletes it and completes the erasure, with no second event.
func TestErasureResumes(t *testing.T) {
	c := &clock{}
	c.set(t0)
	var flaky *flakyBlobs
	rig := newSweepRig(t, sqldbtest.SQLite(t), t.TempDir(), c, func(b *fsblob.Store) request.Blobs {
		flaky = &flakyBlobs{Store: b}
		return flaky
	})
	v, atts := rig.closedCase(t)
	flaky.fail.Store(true)
	rig.clock.set(t0.Add(request.DefaultRetention + time.Hour))
	rep, err := rig.svc.Sweep(ctx)
	if err == nil || rep.Erased != 1 || rep.Completed != 0 {
		t.Fatalf("with the blob store failing: %+v, %v; want erased, not completed, and the error", rep, err)
	}
	if r, _ := rig.st.Get(ctx, v.ID); !r.ErasurePending() {
		t.Fatalf("erasures = %+v; want it pending", r.Erasures)
	}
	if rc, err := rig.blobs.Open(ctx, atts[0].BlobKey); err != nil {
		t.Fatalf("the content before the erasure is finished: %v; want it still there (the crash)", err)
	} else {
		rc.Close()
	}
	flaky.fail.Store(false)
	if rep := sweep(t, rig.svc); rep.Completed != 1 || rep.Erased != 0 {
		t.Fatalf("the next sweep: %+v; want the erasure completed, nothing erased again", rep)
	}
	if r, _ := rig.st.Get(ctx, v.ID); r.ErasurePending() {
		t.Fatalf("erasures = %+v; want it complete", r.Erasures)
	}
	for _, a := range atts {
		if _, err := rig.blobs.Open(ctx, a.BlobKey); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("the content of %s after completion: %v; want it gone", a.ID, err)
		}
	}
	if n := eraseEvents(t, rig.st, v.ID, "EraseRequest"); n != 1 {
		t.Fatalf("%d erasure events; want 1", n)
	}
}

// TestErasureOnceAmongReplicas: two services on one PostgreSQL database
// and blob directory sweeping at once erase the request once, with one
// event.
func TestErasureOnceAmongReplicas(t *testing.T) {
	db := sqldbtest.Postgres(t)
	blobDir := t.TempDir()
	c := &clock{}
	c.set(t0)
	a := newSweepRig(t, db, blobDir, c, nil)
	b := newSweepRig(t, db, blobDir, c, nil)
	var ids []string
	for range 5 {
		v, _ := a.closedCase(t)
		ids = append(ids, v.ID)
	}
	c.set(t0.Add(request.DefaultRetention + time.Hour))
	for round := range 3 {
		var wg sync.WaitGroup
		reps := make([]request.SweepReport, 2)
		errs := make([]error, 2)
		for i, rig := range []sweepRig{a, b} {
			wg.Go(func() { reps[i], errs[i] = rig.svc.Sweep(ctx) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v, %v", round, errs[0], errs[1])
		}
		want := 0
		if round == 0 {
			want = len(ids)
		}
		if n := reps[0].Erased + reps[1].Erased; n != want {
			t.Fatalf("round %d: the replicas erased %d (%+v, %+v); want %d", round, n, reps[0], reps[1], want)
		}
	}
	for _, id := range ids {
		if n := eraseEvents(t, a.st, id, "EraseRequest"); n != 1 {
			t.Errorf("request %s: %d erasure events; want 1", id, n)
		}
		if r, _ := a.st.Get(ctx, id); !r.ContentErased() || r.ErasurePending() || len(r.Erasures) != 1 {
			t.Errorf("request %s: erasures %+v; want one, complete", id, r.Erasures)
		}
	}
}

// silentDirectory is a directory that cannot say a state's retention.
type silentDirectory struct{ *agencies }

func (silentDirectory) Retention(context.Context, string) (time.Duration, bool, error) {
	return 0, false, errs.New(errs.Unavailable, "the directory is not answering")
}

// TestSweepSkipsAStateWhoseRetentionIsUnknown: when the directory cannot
// say a state's retention the sweep erases none of its requests (it does
// not fall back on the deployment's default: never erase on a guess), says
// which states it skipped, and the read shows no erase date.
func TestSweepSkipsAStateWhoseRetentionIsUnknown(t *testing.T) {
	rig := sqliteRig(t)
	v, _ := rig.closedCase(t)
	silent := silentDirectory{rig.dir}
	svc, err := request.NewService(request.Config{Store: rig.st, Blobs: rig.blobs, Directory: silent, Trust: rig.dir, Now: rig.clock.now,
		States: func(context.Context) ([]string, error) { return []string{"KZ"}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	rig.clock.set(t0.Add(request.DefaultRetention + day))
	rep := sweep(t, svc)
	if rep.Erased != 0 || len(rep.Skipped) != 1 || rep.Skipped[0] != "KZ" {
		t.Fatalf("= %+v; want nothing erased and KZ skipped", rep)
	}
	if got := ok(t)(svc.Get(ctx, kzProsecutor, v.ID)); got.FactsSummary == "" || !got.Deadlines.EraseBy.IsZero() {
		t.Fatalf("content %q, EraseBy %v; want the content kept and no erase date shown", got.FactsSummary, got.Deadlines.EraseBy)
	}
	if rep := sweep(t, rig.svc); rep.Erased != 1 {
		t.Fatalf("once the directory answers: %+v; want it erased", rep)
	}
}
