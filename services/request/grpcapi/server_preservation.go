package grpcapi

import (
	"context"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
)

// The methods of the preservation lifecycle (DESIGN §5.1).

// RequestExtension implements requestv1.RequestServiceServer.
func (s *Server) RequestExtension(ctx context.Context, req *requestv1.RequestExtensionRequest) (*requestv1.RequestExtensionResponse, error) {
	return transition[requestv1.RequestExtensionResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.RequestExtension(ctx, p, id, etag, req.GetReason(), req.GetDays())
	})
}

// GrantExtension implements requestv1.RequestServiceServer.
func (s *Server) GrantExtension(ctx context.Context, req *requestv1.GrantExtensionRequest) (*requestv1.GrantExtensionResponse, error) {
	return transition[requestv1.GrantExtensionResponse](ctx, req, s.svc.GrantExtension)
}

// DeclineExtension implements requestv1.RequestServiceServer.
func (s *Server) DeclineExtension(ctx context.Context, req *requestv1.DeclineExtensionRequest) (*requestv1.DeclineExtensionResponse, error) {
	return transition[requestv1.DeclineExtensionResponse](ctx, req, with(s.svc.DeclineExtension, req.GetReason()))
}

// ReleasePreservation implements requestv1.RequestServiceServer.
func (s *Server) ReleasePreservation(ctx context.Context, req *requestv1.ReleasePreservationRequest) (*requestv1.ReleasePreservationResponse, error) {
	return transition[requestv1.ReleasePreservationResponse](ctx, req, with(s.svc.ReleasePreservation, req.GetReason()))
}

// DiscloseChain implements requestv1.RequestServiceServer.
func (s *Server) DiscloseChain(ctx context.Context, req *requestv1.DiscloseChainRequest) (*requestv1.DiscloseChainResponse, error) {
	c := request.ChainDisclosure{Provider: req.GetProvider(), Country: req.GetCountry(), Explanation: req.GetExplanation()}
	return transition[requestv1.DiscloseChainResponse](ctx, req, with(s.svc.DiscloseChain, c))
}

// DraftFollowUp implements requestv1.RequestServiceServer. It has no etag:
// it changes nothing of the request it follows up, and makes a new one.
func (s *Server) DraftFollowUp(ctx context.Context, req *requestv1.DraftFollowUpRequest) (*requestv1.DraftFollowUpResponse, error) {
	p, id, err := callerOn(ctx, req.GetName(), "name")
	if err != nil {
		return nil, err
	}
	f := request.FollowUp{Type: cooperation.RequestType(enumName(req.GetType())), RequestedState: req.GetRequestedState()}
	v, err := s.svc.DraftFollowUp(ctx, p, id, f, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &requestv1.DraftFollowUpResponse{Request: RequestToProto(v)}, nil
}
