package grpcapi_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/grpcapi"
	"github.com/comity-mla/comity/services/trail"
)

// The outcomes of safeguards travel through the API both ways and in the
// leaf, after every other field, so that a leaf without them (every leaf
// logged before them, TestPurposeInLeavesAndTheAPI) keeps its bytes.
func TestSafeguardsInLeavesAndTheAPI(t *testing.T) {
	leaf := `{"id":"01a24f19-ece4-7cd8-9be6-80ebdfb3a390","time":"2026-03-01T08:40:00Z","actor":{"subject":"dev:uz-247:central_authority","agency":"uz-247","roles":["central_authority"]},"service":"comity-request","action":"/comity.request.v1.RequestService/AcceptRequest","resource":"requests/01a24f19-ecda-7cec-8adc-67f388d79b32","states":["KZ","UZ"],"outcome":"OK","transition":{"from":"ACKNOWLEDGED","to":"ACCEPTED"},"safeguards":[{"check":"DUAL_CRIMINALITY","outcome":"MET"},{"check":"HUMAN_RIGHTS_REVIEW","outcome":"NO_CONCERNS"},{"check":"DEATH_PENALTY_ASSURANCE","outcome":"PRESENT"}]}`
	ev, err := audit.ParseLeaf([]byte(leaf))
	if err != nil {
		t.Fatal(err)
	}
	want := []trail.Safeguard{{Check: "DUAL_CRIMINALITY", Outcome: "MET"}, {Check: "HUMAN_RIGHTS_REVIEW", Outcome: "NO_CONCERNS"}, {Check: "DEATH_PENALTY_ASSURANCE", Outcome: "PRESENT"}}
	if len(ev.Safeguards) != len(want) {
		t.Fatalf("the leaf decodes to safeguards %v; want %v", ev.Safeguards, want)
	}
	for i := range want {
		if ev.Safeguards[i] != want[i] {
			t.Errorf("safeguards[%d] = %v; want %v", i, ev.Safeguards[i], want[i])
		}
	}
	if again, err := audit.Leaf(ev); err != nil || !bytes.Equal(again, []byte(leaf)) {
		t.Errorf("the leaf encodes back to other bytes (%v):\n got %s\nwant %s", err, again, leaf)
	}
	shown := grpcapi.EventToProto(ev)
	if len(shown.GetSafeguards()) != 3 || shown.GetSafeguards()[2].GetCheck() != "DEATH_PENALTY_ASSURANCE" || shown.GetSafeguards()[2].GetOutcome() != "PRESENT" {
		t.Errorf("the API shows safeguards %v", shown.GetSafeguards())
	}
	back, err := audit.Leaf(grpcapi.EventFromProto(shown))
	if err != nil || !bytes.Equal(back, []byte(leaf)) {
		t.Errorf("the event sent through the API is logged as other bytes (%v):\n got %s\nwant %s", err, back, leaf)
	}
	if logged, err := audit.ParseLeaf(back); err != nil || !proto.Equal(grpcapi.EventToProto(logged), shown) {
		t.Errorf("the entry's event does not match its leaf: %v", err)
	}
	// An event without outcomes has no safeguards key at all.
	ev.Safeguards = nil
	if plain, _ := audit.Leaf(grpcapi.EventFromProto(grpcapi.EventToProto(ev))); bytes.Contains(plain, []byte("safeguards")) {
		t.Errorf("an event without outcomes is logged with a safeguards key: %s", plain)
	}
}
