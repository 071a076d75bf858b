package request_test

import (
	"testing"

	"github.com/comity-mla/comity/services/trail"
)

// TestHistoryReasonsAreAuditedReads: the reasons of a request's history
// are content (a refusal's explanation, a clarification's question, and
// since DESIGN §10 a report of how the evidence was used, an onward
// transfer's recipient and authorisation, a consent's purpose, a legal
// hold's reason). Reading them is a read of content like a Get: it leaves
// an audit event carrying the purpose the reader declared, or oversight
// could not see, nor review against purpose, who read the report of use.
func TestHistoryReasonsAreAuditedReads(t *testing.T) {
	rig := sqliteRig(t)
	v, _ := rig.closedCase(t)
	reads := func() (n int, purposes []string) {
		pending, err := rig.st.PendingEvents(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pending {
			if e.Event.Purpose != "" && e.Event.Actor.Subject == kzProsecutor.Subject {
				n++
				purposes = append(purposes, e.Event.Purpose)
			}
		}
		return n, purposes
	}
	before, _ := reads()
	h, err := rig.svc.History(trail.WithPurpose(ctx, trail.PurposeReview), kzProsecutor, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, e := range h {
		shown = shown || e.Reason != ""
	}
	if !shown {
		t.Fatalf("history = %+v; want the close's reason shown to the owning prosecutor", h)
	}
	after, purposes := reads()
	if after != before+1 || purposes[len(purposes)-1] != trail.PurposeReview {
		t.Errorf("reading the history's reasons left %d read events (purposes %v); want one, declaring %q", after-before, purposes, trail.PurposeReview)
	}
}
