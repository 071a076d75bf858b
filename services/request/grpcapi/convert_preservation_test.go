package grpcapi

import (
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/request"
)

// TestPreservationToProto: the preservation, its extensions and the chain
// disclosures reach the API whole; the follow-up holding a preservation is
// a resource name there (an id in the domain); who acted is an Actor with
// the agency's resource name.
func TestPreservationToProto(t *testing.T) {
	kz := request.Actor{Subject: "p-kz", Name: "A. Prosecutor", Agency: "kz-gpo"}
	uz := request.Actor{Subject: "ca-uz", Name: "U. Authority", Agency: "uz-247"}
	r := request.Request{
		ID: "0192f0c4-dddd", Type: cooperation.DataPreservation, Status: request.Executed,
		Custodian:        &request.Custodian{Provider: "Example Telecom LLC", Country: "UZ", Service: "mobile internet", AccountReference: "+998900000000"},
		FollowUpIntended: &request.FollowUpIntended{Intended: true, ProductionType: cooperation.TrafficData},
		Preservation: &request.Preservation{State: request.HeldPendingFollowUp, HeldBy: "0192f0c4-ffff", HeldAlsoBy: []string{"0192f0c4-eeee"}, ReleaseReason: "",
			Extensions: []request.PreservationExtension{
				{RequestedBy: kz, Days: 30, Reason: "analysis", Decision: "GRANTED", DecidedBy: uz, RequestTime: t1, DecideTime: t2},
				{RequestedBy: kz, Days: 90, Reason: "more", Decision: "DECLINED", DecidedBy: uz, RequestTime: t2, DecideTime: t3, DeclineReason: "cannot"},
			}},
		ChainDisclosures: []request.ChainDisclosure{{Provider: "Example Hosting LLC", Country: "KG", Explanation: "VPN exit node", DisclosedBy: uz, DiscloseTime: t2}},
		Deadlines:        request.Deadlines{ExtensionRequestBy: t1},
	}
	got := RequestToProto(request.View{Request: r})
	kzActor := &requestv1.Actor{Subject: "p-kz", DisplayName: "A. Prosecutor", Agency: "agencies/kz-gpo"}
	uzActor := &requestv1.Actor{Subject: "ca-uz", DisplayName: "U. Authority", Agency: "agencies/uz-247"}
	want := []proto.Message{
		&requestv1.Custodian{Provider: "Example Telecom LLC", Country: "UZ", Service: "mobile internet", AccountReference: "+998900000000"},
		&requestv1.FollowUpIntended{Intended: true, ProductionType: got.GetFollowUpIntended().GetProductionType()},
		&requestv1.Preservation{State: requestv1.Preservation_HELD_PENDING_FOLLOW_UP, HeldBy: "requests/0192f0c4-ffff", HeldAlsoBy: []string{"requests/0192f0c4-eeee"},
			Extensions: []*requestv1.PreservationExtension{
				{RequestedBy: kzActor, Days: 30, Reason: "analysis", Decision: requestv1.PreservationExtension_GRANTED, DecidedBy: uzActor,
					RequestTime: timestamppb.New(t1), DecideTime: timestamppb.New(t2)},
				{RequestedBy: kzActor, Days: 90, Reason: "more", Decision: requestv1.PreservationExtension_DECLINED, DecidedBy: uzActor,
					RequestTime: timestamppb.New(t2), DecideTime: timestamppb.New(t3), DeclineReason: "cannot"},
			}},
		&requestv1.ChainDisclosure{Provider: "Example Hosting LLC", Country: "KG", Explanation: "VPN exit node", DisclosedBy: uzActor,
			DiscloseTime: timestamppb.New(t2)},
		&requestv1.Deadlines{ExtensionRequestBy: timestamppb.New(t1)},
	}
	var cds []*requestv1.ChainDisclosure
	cds = got.GetChainDisclosures()
	if len(cds) != 1 {
		t.Fatalf("chain disclosures %v; want one", cds)
	}
	for i, g := range []proto.Message{got.GetCustodian(), got.GetFollowUpIntended(), got.GetPreservation(), cds[0], got.GetDeadlines()} {
		if !proto.Equal(g, want[i]) {
			t.Errorf("RequestToProto\n got: %v\nwant: %v", prototext.Format(g), prototext.Format(want[i]))
		}
	}
	if pt := got.GetFollowUpIntended().GetProductionType().String(); pt != "TRAFFIC_DATA" {
		t.Errorf("follow-up production type %s; want TRAFFIC_DATA", pt)
	}

	// Not held: no held_by at all, not a bare "requests/".
	r.Preservation = &request.Preservation{State: request.Released, ReleaseReason: "not needed"}
	if p := RequestToProto(request.View{Request: r}).GetPreservation(); p.GetHeldBy() != "" || p.GetState() != requestv1.Preservation_RELEASED ||
		p.GetReleaseReason() != "not needed" {
		t.Errorf("released preservation %v; want RELEASED with its reason and no held_by", prototext.Format(p))
	}
}
