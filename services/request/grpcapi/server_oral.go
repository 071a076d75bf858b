package grpcapi

import (
	"context"
	"strings"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
)

// The methods of DESIGN §5.3–§5.5: requests recorded from a call, their
// written confirmation, confidentiality that cannot be kept, and the
// transfer of a request to another prosecutor.

// RecordOralRequest implements requestv1.RequestServiceServer.
func (s *Server) RecordOralRequest(ctx context.Context, req *requestv1.RecordOralRequestRequest) (*requestv1.RecordOralRequestResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTimes(req.GetRequest(), "request"); err != nil {
		return nil, err
	}
	in := req.GetIntake()
	if ts := in.GetReceivedTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return nil, (errs.Violations{{Field: "intake.received_time", Description: "not a valid timestamp: " + err.Error()}}).Err(errs.Invalid, "invalid intake")
		}
	}
	intake := request.Intake{Channel: enumName(in.GetChannel()), ReceivedTime: timeOf(in.GetReceivedTime()), Caller: in.GetCaller()}
	v, err := s.svc.RecordOral(ctx, p, requestFromProto(req.GetRequest()), strings.TrimPrefix(req.GetRequestingAgency(), agencyPrefix),
		intake, req.GetRequestId())
	if err != nil {
		return nil, underRequest(err)
	}
	return &requestv1.RecordOralRequestResponse{Request: RequestToProto(v)}, nil
}

// ConfirmInWriting implements requestv1.RequestServiceServer: the fields in
// the mask complete the request, as an update of a draft would change them.
func (s *Server) ConfirmInWriting(ctx context.Context, req *requestv1.ConfirmInWritingRequest) (*requestv1.ConfirmInWritingResponse, error) {
	p, id, err := callerOn(ctx, req.GetName(), "name")
	if err != nil {
		return nil, err
	}
	// Without a request there is nothing to complete: the recorded fields
	// stand as they are (an absent update_mask would otherwise replace them
	// all with nothing).
	apply, touched := func(*request.Request) {}, []string(nil)
	if in := req.GetRequest(); in != nil {
		if err := checkTimes(in, "request"); err != nil {
			return nil, err
		}
		if apply, touched, err = updateFromProto(in, req.GetUpdateMask()); err != nil {
			return nil, err
		}
	}
	v, err := s.svc.ConfirmInWriting(ctx, p, id, req.GetEtag(), apply, touched)
	if err != nil {
		return nil, underRequest(err)
	}
	return &requestv1.ConfirmInWritingResponse{Request: RequestToProto(v)}, nil
}

// DeclareConfidentialityImpossible implements requestv1.RequestServiceServer.
func (s *Server) DeclareConfidentialityImpossible(ctx context.Context, req *requestv1.DeclareConfidentialityImpossibleRequest) (*requestv1.DeclareConfidentialityImpossibleResponse, error) {
	return transition[requestv1.DeclareConfidentialityImpossibleResponse](ctx, req, with(s.svc.DeclareConfidentialityImpossible, req.GetExplanation()))
}

// ProceedRequest implements requestv1.RequestServiceServer.
func (s *Server) ProceedRequest(ctx context.Context, req *requestv1.ProceedRequestRequest) (*requestv1.ProceedRequestResponse, error) {
	return transition[requestv1.ProceedRequestResponse](ctx, req, s.svc.Proceed)
}

// TransferOwnership implements requestv1.RequestServiceServer.
func (s *Server) TransferOwnership(ctx context.Context, req *requestv1.TransferOwnershipRequest) (*requestv1.TransferOwnershipResponse, error) {
	return transition[requestv1.TransferOwnershipResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.TransferOwnership(ctx, p, id, etag, req.GetOwner(), req.GetReason())
	})
}
