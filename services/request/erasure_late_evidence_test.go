package request_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// TestEvidenceAfterItsDeleteByDate: a request accepted under a DELETE_BY
// condition whose date passes before the requested side has delivered
// all of its evidence (a partial execution, a delivery that is late). The
// sweep erases what evidence there is at the date; evidence delivered
// afterwards is governed by the same condition, and must be erased too,
// not kept until the end of the request's retention (years later) as if
// no condition bound it.
func TestEvidenceAfterItsDeleteByDate(t *testing.T) {
	rig := sqliteRig(t)
	v := ok(t)(rig.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
	due := t0.Add(30 * day)
	if _, err := rig.st.Update(ctx, v.ID, func(r *request.Request) (request.Change, error) {
		now := rig.clock.now()
		r.Status, r.TransmitTime, r.AcknowledgeTime, r.UpdateTime = request.PartiallyExecuted, now, now, now
		r.Acceptance = &request.Acceptance{UseConditions: []request.Condition{{Kind: request.DeleteBy, DueTime: due}}}
		r.Deadlines.EvidenceEraseBy = due
		return request.Change{Event: trail.Event{ID: trail.NewID()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rig.clock.set(due.Add(time.Minute))
	if rep := sweep(t, rig.svc); rep.Evidence != 1 {
		t.Fatalf("at the DELETE_BY date: %+v; want the request's evidence (none yet) erased", rep)
	}

	rig.clock.set(due.Add(time.Hour))
	content := "late-delivered-evidence-8080"
	sum := sha256.Sum256([]byte(content))
	a, err := rig.svc.Attach(ctx, uzCA, request.Upload{RequestID: v.ID, Kind: "EVIDENCE", Filename: "late.txt",
		SHA256: hex.EncodeToString(sum[:])}, strings.NewReader(content))
	if err != nil {
		// Refusing evidence past its DELETE_BY date, saying so, would do
		// as well.
		if errs.CodeOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "DELETE_BY") {
			t.Fatalf("evidence delivered after the DELETE_BY date = %v; want it taken, or refused naming the condition", err)
		}
		return
	}
	rig.clock.set(due.Add(2 * time.Hour))
	sweep(t, rig.svc)
	got, err := rig.st.GetAttachment(ctx, v.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.EraseTime.IsZero() {
		r := ok(t)(rig.svc.Get(ctx, kzCA, v.ID))
		t.Errorf("evidence delivered after the DELETE_BY date of %s is kept (evidence_erase_by %v, erase by %v); "+
			"want it erased by the next sweep", due.Format(time.RFC3339), r.Deadlines.EvidenceEraseBy, r.Deadlines.EraseBy)
	}
}
