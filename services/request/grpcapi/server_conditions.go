package grpcapi

import (
	"context"
	"fmt"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
)

// The handlers of DESIGN §10's use conditions: their acknowledgement,
// consent, onward transfers and reports of use. :accept's use_conditions
// are converted here too (AcceptRequest is in server.go).

// conditionsFromProto converts the conditions given under field, an enum
// left unset or unknown as the domain then refuses it, naming it; a due
// time no time.Time can hold is refused here, naming field[i].due_time.
func conditionsFromProto(field string, cs []*requestv1.Condition) ([]request.Condition, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	var vs errs.Violations
	out := make([]request.Condition, 0, len(cs))
	for i, c := range cs {
		due, err := timeField(fmt.Sprintf("%s[%d].due_time", field, i), c.GetDueTime())
		if err != nil {
			vs = append(vs, itemViolations("", err)...)
			continue
		}
		out = append(out, request.Condition{Kind: enumName(c.GetKind()), Text: c.GetText(), DueTime: due})
	}
	if err := vs.Err(errs.Invalid, "invalid conditions"); err != nil {
		return nil, err
	}
	return out, nil
}

// AcknowledgeConditions implements requestv1.RequestServiceServer.
func (s *Server) AcknowledgeConditions(ctx context.Context, req *requestv1.AcknowledgeConditionsRequest) (*requestv1.AcknowledgeConditionsResponse, error) {
	return transition[requestv1.AcknowledgeConditionsResponse](ctx, req, s.svc.AcknowledgeConditions)
}

// RequestConsent implements requestv1.RequestServiceServer.
func (s *Server) RequestConsent(ctx context.Context, req *requestv1.RequestConsentRequest) (*requestv1.RequestConsentResponse, error) {
	keep, err := timeField("keep_until", req.GetKeepUntil())
	if err != nil {
		return nil, err
	}
	c := request.Consent{Kind: enumName(req.GetKind()), Purpose: req.GetPurpose(), Recipient: req.GetRecipient(), KeepUntil: keep}
	return transition[requestv1.RequestConsentResponse](ctx, req, with(s.svc.RequestConsent, c))
}

// GrantConsent implements requestv1.RequestServiceServer.
func (s *Server) GrantConsent(ctx context.Context, req *requestv1.GrantConsentRequest) (*requestv1.GrantConsentResponse, error) {
	return transition[requestv1.GrantConsentResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.GrantConsent(ctx, p, id, etag, req.GetConsent(), req.GetTerms())
	})
}

// RefuseConsent implements requestv1.RequestServiceServer.
func (s *Server) RefuseConsent(ctx context.Context, req *requestv1.RefuseConsentRequest) (*requestv1.RefuseConsentResponse, error) {
	return transition[requestv1.RefuseConsentResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.RefuseConsent(ctx, p, id, etag, req.GetConsent(), req.GetReason())
	})
}

// RecordOnwardTransfer implements requestv1.RequestServiceServer.
func (s *Server) RecordOnwardTransfer(ctx context.Context, req *requestv1.RecordOnwardTransferRequest) (*requestv1.RecordOnwardTransferResponse, error) {
	t := request.OnwardTransfer{Recipient: req.GetRecipient(), Authorisation: req.GetAuthorisation(), Consent: req.GetConsent()}
	return transition[requestv1.RecordOnwardTransferResponse](ctx, req, with(s.svc.RecordOnwardTransfer, t))
}

// ReportUse implements requestv1.RequestServiceServer.
func (s *Server) ReportUse(ctx context.Context, req *requestv1.ReportUseRequest) (*requestv1.ReportUseResponse, error) {
	return transition[requestv1.ReportUseResponse](ctx, req, with(s.svc.ReportUse, req.GetText()))
}
