package grpcapi

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// TestExecutionAttachmentNames: the attachments of a delivery and of its
// items are ids in the domain and attachment names of the request in the
// API, in execution and in every delivery, both ways.
func TestExecutionAttachmentNames(t *testing.T) {
	delivery := func(partial bool, att string) request.Execution {
		return request.Execution{ResponseSummary: "s", Partial: partial, Attachments: []string{att},
			Items:       []request.ExecutionItem{{IdentifierIndex: 1, DataCategory: "logs", Outcome: "PROVIDED", Attachments: []string{att}}},
			ExecutedBy:  request.Actor{Subject: "ca-uz", Agency: "uz-247"},
			ExecuteTime: t1,
		}
	}
	first, last := delivery(true, "a1"), delivery(false, "a2")
	r := request.Request{ID: "r1", Status: request.Executed, Execution: &last, Deliveries: []request.Execution{first, last}}
	got := RequestToProto(request.View{Request: r})
	toProto := func(partial bool, att string) *requestv1.Execution {
		name := "requests/r1/attachments/" + att
		return &requestv1.Execution{ResponseSummary: "s", Partial: partial, Attachments: []string{name},
			Items: []*requestv1.ExecutionItem{{IdentifierIndex: 1, DataCategory: "logs", Outcome: requestv1.ExecutionItem_PROVIDED,
				Attachments: []string{name}}},
			ExecutedBy:  &requestv1.Actor{Subject: "ca-uz", Agency: "agencies/uz-247"},
			ExecuteTime: got.GetExecution().GetExecuteTime(),
		}
	}
	want := []*requestv1.Execution{toProto(true, "a1"), toProto(false, "a2")}
	if !proto.Equal(got.GetExecution(), want[1]) || len(got.GetDeliveries()) != 2 ||
		!proto.Equal(got.GetDeliveries()[0], want[0]) || !proto.Equal(got.GetDeliveries()[1], want[1]) {
		t.Errorf("execution %v\ndeliveries %v\nwant the last of %v", prototext.Format(got.GetExecution()), got.GetDeliveries(), want)
	}
	if !got.GetExecution().GetExecuteTime().AsTime().Equal(t1) {
		t.Errorf("execute time %v, want %v", got.GetExecution().GetExecuteTime().AsTime(), t1)
	}

	items, err := executionItems("r1", []*requestv1.ExecutionItem{
		{IdentifierIndex: 0, DataCategory: "logs", Outcome: requestv1.ExecutionItem_NOT_RETAINED, Reason: "Deleted.", Attachments: []string{"requests/r1/attachments/a1"}},
		{IdentifierIndex: 1, Outcome: requestv1.ExecutionItem_OUTCOME_UNSPECIFIED},
	})
	wantItems := []request.ExecutionItem{{IdentifierIndex: 0, DataCategory: "logs", Outcome: "NOT_RETAINED", Reason: "Deleted.", Attachments: []string{"a1"}},
		{IdentifierIndex: 1}}
	if err != nil || len(items) != 2 || items[1].Outcome != "" || !slices.Equal(items[0].Attachments, wantItems[0].Attachments) ||
		items[0].Outcome != wantItems[0].Outcome || items[0].Reason != wantItems[0].Reason {
		t.Errorf("executionItems = %+v, %v; want %+v (an unset outcome left for the domain to refuse)", items, err, wantItems)
	}
	_, err = executionItems("r1", []*requestv1.ExecutionItem{
		{Attachments: []string{"requests/r1/attachments/a1"}},
		{Attachments: []string{"requests/r2/attachments/a1", "a1"}},
	})
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 2 ||
		e.Violations[0].Field != "items[1].attachments[0]" || e.Violations[1].Field != "items[1].attachments[1]" {
		t.Errorf("bad item attachments = %v; want INVALID_ARGUMENT on items[1].attachments[0] and [1]", err)
	}
}

// TestAcceptanceOfConditionsShowsNoReview: an acceptance recorded by
// :acceptConditions has no assessments, and the API shows no human-rights
// review rather than one of "no concerns".
func TestAcceptanceOfConditionsShowsNoReview(t *testing.T) {
	got := RequestToProto(request.View{Request: request.Request{ID: "r1", Status: request.Accepted,
		Acceptance: &request.Acceptance{Conditions: "CONFIDENTIAL"}}})
	want := &requestv1.Acceptance{Conditions: "CONFIDENTIAL"}
	if !proto.Equal(got.GetAcceptance(), want) {
		t.Errorf("acceptance %v, want %v", got.GetAcceptance(), want)
	}
}

// TestEnumsAreTheProtos: the domain's outcomes, impediment, condition,
// cost and consent kinds, and the data subjects' rights, decisions and
// informing statuses, are exactly the proto's set values, which the
// conversions map by name.
func TestEnumsAreTheProtos(t *testing.T) {
	for _, tc := range []struct {
		domain []string
		enum   protoreflect.EnumDescriptor
	}{
		{request.Outcomes, requestv1.ExecutionItem_OUTCOME_UNSPECIFIED.Descriptor()},
		{request.ImpedimentKinds, requestv1.Impediment_KIND_UNSPECIFIED.Descriptor()},
		{request.ConditionKinds, requestv1.Condition_KIND_UNSPECIFIED.Descriptor()},
		{request.CostKinds, requestv1.Cost_KIND_UNSPECIFIED.Descriptor()},
		{request.ConsentKinds, requestv1.Consent_KIND_UNSPECIFIED.Descriptor()},
		{request.Rights, requestv1.DataSubjectRequest_RIGHT_UNSPECIFIED.Descriptor()},
		{request.SubjectDecisions, requestv1.DataSubjectDecision_DECISION_UNSPECIFIED.Descriptor()},
		{request.InformingStatuses, requestv1.DataSubjectInforming_STATUS_UNSPECIFIED.Descriptor()},
	} {
		var protos []string
		for i := range tc.enum.Values().Len() {
			if v := tc.enum.Values().Get(i); v.Number() != 0 {
				protos = append(protos, string(v.Name()))
			}
		}
		if !slices.Equal(protos, tc.domain) {
			t.Errorf("%s: the domain's %v, the proto's %v", tc.enum.FullName(), tc.domain, protos)
		}
	}
}
