package grpcapi

import (
	"context"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
)

// The handlers of DESIGN §10's legal hold. Erasure itself has no method:
// the service's sweep does it.

// SetLegalHold implements requestv1.RequestServiceServer.
func (s *Server) SetLegalHold(ctx context.Context, req *requestv1.SetLegalHoldRequest) (*requestv1.SetLegalHoldResponse, error) {
	review, err := timeField("review_time", req.GetReviewTime())
	if err != nil {
		return nil, err
	}
	return transition[requestv1.SetLegalHoldResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.SetLegalHold(ctx, p, id, etag, req.GetReason(), review)
	})
}

// LiftLegalHold implements requestv1.RequestServiceServer.
func (s *Server) LiftLegalHold(ctx context.Context, req *requestv1.LiftLegalHoldRequest) (*requestv1.LiftLegalHoldResponse, error) {
	return transition[requestv1.LiftLegalHoldResponse](ctx, req, with(s.svc.LiftLegalHold, req.GetReason()))
}
