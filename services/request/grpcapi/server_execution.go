package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
)

// The handlers of DESIGN §5.2: execution item by item, impediments,
// postponement and conditions. :execute and :refuse themselves are in
// server.go.

// NotifyImpediment implements requestv1.RequestServiceServer.
func (s *Server) NotifyImpediment(ctx context.Context, req *requestv1.NotifyImpedimentRequest) (*requestv1.NotifyImpedimentResponse, error) {
	expected, err := timeField("expected_time", req.GetExpectedTime())
	if err != nil {
		return nil, err
	}
	im := request.Impediment{Kind: enumName(req.GetKind()), Explanation: req.GetExplanation(), ExpectedTime: expected}
	return transition[requestv1.NotifyImpedimentResponse](ctx, req, with(s.svc.NotifyImpediment, im))
}

// PostponeRequest implements requestv1.RequestServiceServer.
func (s *Server) PostponeRequest(ctx context.Context, req *requestv1.PostponeRequestRequest) (*requestv1.PostponeRequestResponse, error) {
	until, err := timeField("until", req.GetUntil())
	if err != nil {
		return nil, err
	}
	return transition[requestv1.PostponeRequestResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.Postpone(ctx, p, id, etag, until, req.GetReason())
	})
}

// ResumeRequest implements requestv1.RequestServiceServer.
func (s *Server) ResumeRequest(ctx context.Context, req *requestv1.ResumeRequestRequest) (*requestv1.ResumeRequestResponse, error) {
	return transition[requestv1.ResumeRequestResponse](ctx, req, s.svc.Resume)
}

// ProposeConditions implements requestv1.RequestServiceServer.
func (s *Server) ProposeConditions(ctx context.Context, req *requestv1.ProposeConditionsRequest) (*requestv1.ProposeConditionsResponse, error) {
	conditions := make([]request.Condition, 0, len(req.GetConditions()))
	for i, c := range req.GetConditions() {
		due, err := timeField(fmt.Sprintf("conditions[%d].due_time", i), c.GetDueTime())
		if err != nil {
			return nil, err
		}
		conditions = append(conditions, request.Condition{Kind: enumName(c.GetKind()), Text: c.GetText(), DueTime: due})
	}
	var cost *request.Cost
	if c := req.GetCost(); c != nil {
		cost = &request.Cost{Kind: enumName(c.GetKind()), Estimate: c.GetEstimate(), Currency: c.GetCurrency(), Bearer: c.GetBearer()}
	}
	return transition[requestv1.ProposeConditionsResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.ProposeConditions(ctx, p, id, etag, conditions, cost)
	})
}

// AcceptConditions implements requestv1.RequestServiceServer.
func (s *Server) AcceptConditions(ctx context.Context, req *requestv1.AcceptConditionsRequest) (*requestv1.AcceptConditionsResponse, error) {
	return transition[requestv1.AcceptConditionsResponse](ctx, req, s.svc.AcceptConditions)
}

// RejectConditions implements requestv1.RequestServiceServer.
func (s *Server) RejectConditions(ctx context.Context, req *requestv1.RejectConditionsRequest) (*requestv1.RejectConditionsResponse, error) {
	return transition[requestv1.RejectConditionsResponse](ctx, req, with(s.svc.RejectConditions, req.GetReason()))
}

// executionItems converts the items of an :execute on request id, their
// attachments from names to ids (each an attachment of that request).
func executionItems(id string, items []*requestv1.ExecutionItem) ([]request.ExecutionItem, error) {
	var vs errs.Violations
	out := make([]request.ExecutionItem, 0, len(items))
	for i, it := range items {
		atts, err := attachmentIDs(id, it.GetAttachments())
		if err != nil {
			// Name each bad attachment under its item.
			vs = append(vs, itemViolations(fmt.Sprintf("items[%d].", i), err)...)
			continue
		}
		out = append(out, request.ExecutionItem{IdentifierIndex: it.GetIdentifierIndex(), DataCategory: it.GetDataCategory(),
			Outcome: enumName(it.GetOutcome()), Reason: it.GetReason(), Attachments: atts})
	}
	if err := vs.Err(errs.Invalid, "invalid attachments"); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// itemViolations returns err's violations with their fields under prefix.
func itemViolations(prefix string, err error) errs.Violations {
	var e *errs.Error
	if !errors.As(err, &e) {
		return errs.Violations{{Field: prefix + "attachments", Description: err.Error()}}
	}
	out := make(errs.Violations, len(e.Violations))
	for i, v := range e.Violations {
		v.Field = prefix + v.Field
		out[i] = v
	}
	return out
}

// executionToProto writes the attachments of a delivery converted by
// toMessage (ids) as the attachment names of request id.
func executionToProto(id string, ex *requestv1.Execution) {
	if ex == nil {
		return
	}
	names := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, a := range ids {
			out[i] = requestPrefix + id + attachmentsInfix + a
		}
		return out
	}
	ex.Attachments = names(ex.GetAttachments())
	for _, it := range ex.GetItems() {
		it.Attachments = names(it.GetAttachments())
	}
}

// timeField is the time of an optional timestamp field: zero when absent,
// INVALID_ARGUMENT naming field when outside what a time.Time and the
// stores can hold.
func timeField(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, (errs.Violations{{Field: field, Description: fmt.Sprintf("not a valid timestamp: %v", err)}}).Err(errs.Invalid, "invalid timestamp")
	}
	return ts.AsTime(), nil
}
