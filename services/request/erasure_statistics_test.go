package request_test

import (
	"maps"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// TestStatisticsOutliveErasure: the statistics of a period do not change
// when the requests of that period are erased. Erasure removes personal
// data and case content; the grounds a request was refused on are closed
// codes, and oversight counts them (refusals on human-rights grounds)
// over a period of up to ten years, longer than a state's retention may
// be. A report of last year's refusals must not lose its grounds because
// the requests were closed long enough ago.
func TestStatisticsOutliveErasure(t *testing.T) {
	rig := sqliteRig(t)
	v := ok(t)(rig.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
	now := rig.clock.now()
	if _, err := rig.st.Update(ctx, v.ID, func(r *request.Request) (request.Change, error) {
		from := r.Status
		r.Status, r.TransmitTime, r.AcknowledgeTime, r.AnswerTime, r.CloseTime, r.UpdateTime = request.Closed, now, now, now, now, now
		r.Refusal = &request.Refusal{Grounds: []string{"POLITICAL_OFFENCE"}, Explanation: "The acts are a political offence."}
		return request.Change{History: &request.HistoryEntry{From: from, To: request.Closed, Action: "close", Time: now},
			Event: trail.Event{ID: trail.NewID()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	q := request.StatisticsQuery{Start: t0.Add(-24 * time.Hour), End: t0.Add(24 * time.Hour)}
	before, err := rig.svc.Statistics(ctx, kzCA, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Pairs) != 1 || before.Pairs[0].RefusalsByGround["POLITICAL_OFFENCE"] != 1 {
		t.Fatalf("statistics before the erasure = %+v; want one refusal on POLITICAL_OFFENCE", before.Pairs)
	}

	rig.clock.set(t0.Add(request.DefaultRetention + time.Hour))
	if rep := sweep(t, rig.svc); rep.Erased != 1 {
		t.Fatalf("sweep = %+v; want the closed request erased", rep)
	}
	after, err := rig.svc.Statistics(ctx, kzCA, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Pairs) != 1 || !maps.Equal(after.Pairs[0].RefusalsByGround, before.Pairs[0].RefusalsByGround) {
		t.Errorf("statistics of the same period after the erasure: refusals by ground %v; want %v as before",
			after.Pairs[0].RefusalsByGround, before.Pairs[0].RefusalsByGround)
	}
}
