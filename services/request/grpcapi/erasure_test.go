package grpcapi

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// TestErasureInTheAPI: an attachment's erase time, a request's erasures,
// hold and erase date reach the API; a review time outside what a
// timestamp holds is refused naming review_time before anything else.
func TestErasureInTheAPI(t *testing.T) {
	a := AttachmentToProto(request.Attachment{ID: "a1", RequestID: "r1", Kind: "EVIDENCE", SHA256: "ab", SizeBytes: 3, EraseTime: t1})
	if !a.GetEraseTime().AsTime().Equal(t1) || a.GetSha256() != "ab" || a.GetSizeBytes() != 3 {
		t.Errorf("attachment = %v; want its erase time, digest and size", a)
	}
	if kept := AttachmentToProto(request.Attachment{ID: "a2", RequestID: "r1"}); kept.GetEraseTime() != nil {
		t.Errorf("a kept attachment has erase time %v; want none", kept.GetEraseTime())
	}
	r := request.Request{ID: "r1", Status: request.Closed,
		Deadlines: request.Deadlines{EraseBy: t1, LegalHoldReviewBy: t1},
		LegalHold: &request.LegalHold{Reason: "Appeal.", ReviewTime: t1},
		Erasures:  []request.Erasure{{Scope: request.EraseEvidence, Cause: request.ByCondition, EraseTime: t1, Attachments: []string{"a1"}}}}
	got := RequestToProto(request.View{Request: r})
	if e := got.GetErasures(); len(e) != 1 || e[0].GetScope() != requestv1.Erasure_EVIDENCE || e[0].GetCause() != requestv1.Erasure_CONDITION ||
		e[0].GetAttachments()[0] != "a1" || e[0].GetCompleteTime() != nil {
		t.Errorf("erasures = %v; want the pending EVIDENCE erasure under a CONDITION of a1", e)
	}
	if !got.GetDeadlines().GetEraseBy().AsTime().Equal(t1) || got.GetLegalHold().GetReason() != "Appeal." {
		t.Errorf("deadlines %v, hold %v; want the erase date and the hold", got.GetDeadlines(), got.GetLegalHold())
	}

	s := &Server{}
	_, err := s.SetLegalHold(t.Context(), &requestv1.SetLegalHoldRequest{Name: "requests/r1", Reason: "Appeal.",
		ReviewTime: &timestamppb.Timestamp{Seconds: 1 << 40}})
	if errs.CodeOf(err) != errs.Invalid || violationField(err) != "review_time" {
		t.Errorf("a review time past year 9999 = %v; want INVALID_ARGUMENT naming review_time", err)
	}
}

// violationField is the field of err's first violation.
func violationField(err error) string {
	var e *errs.Error
	if !errors.As(err, &e) || len(e.Violations) == 0 {
		return ""
	}
	return e.Violations[0].Field
}
