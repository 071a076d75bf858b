package grpcserver

import (
	"context"
	"errors"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/refusal"
)

var grpcCodes = map[errs.Code]codes.Code{
	errs.Internal:           codes.Internal,
	errs.Invalid:            codes.InvalidArgument,
	errs.FailedPrecondition: codes.FailedPrecondition,
	errs.NotFound:           codes.NotFound,
	errs.AlreadyExists:      codes.AlreadyExists,
	errs.Conflict:           codes.Aborted,
	errs.Unauthenticated:    codes.Unauthenticated,
	errs.PermissionDenied:   codes.PermissionDenied,
	errs.ResourceExhausted:  codes.ResourceExhausted,
	errs.Unavailable:        codes.Unavailable,
}

// ToStatus maps an error returned by domain code to the status the caller
// sees: an *identity.RefusedError is UNAUTHENTICATED with the state of the
// token's agency as an ErrorInfo detail (refusal.Status);
// an *errs.Error keeps its code, message and violations (as BadRequest
// or PreconditionFailure details); a context error keeps its meaning; a
// status from a gRPC client call made on the caller's behalf is passed on;
// anything else is logged with the trace id and becomes "internal error".
func ToStatus(ctx context.Context, logger *zap.Logger, method string, err error) *status.Status {
	var e *errs.Error
	var refused *identity.RefusedError
	switch {
	case errors.As(err, &refused):
		return refusal.Status(refused)
	case errors.As(err, &e) && e.Code != errs.Internal:
		if e.Err != nil && e.Code == errs.Unavailable {
			logger.Warn("dependency unavailable", zap.String("trace_id", TraceID(ctx)),
				zap.String("method", method), zap.Error(e.Err))
		}
		return domainStatus(e)
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "call canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	}
	// The status itself, not status.FromError's: that one takes the
	// message of the outermost wrapper (the caller or the states a refusal
	// carries), where the caller must read the status's own.
	var carrier interface{ GRPCStatus() *status.Status }
	if errors.As(err, &carrier) {
		if s := carrier.GRPCStatus(); s.Code() != codes.Unknown && s.Code() != codes.Internal {
			return s
		}
	}
	id := TraceID(ctx)
	logger.Error("internal error", zap.String("trace_id", id), zap.String("method", method), zap.Error(err))
	return status.New(codes.Internal, "internal error (trace id "+id+")")
}

func domainStatus(e *errs.Error) *status.Status {
	st := status.New(grpcCodes[e.Code], e.Error())
	if len(e.Violations) == 0 {
		return st
	}
	if e.Code == errs.FailedPrecondition {
		pf := &errdetails.PreconditionFailure{}
		for _, v := range e.Violations {
			// The type is the violation's reason code when it has one, so
			// that clients can word it in their user's language.
			typ := v.Reason
			if typ == "" {
				typ = "FAILED_PRECONDITION"
			}
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
				Type: typ, Subject: v.Field, Description: v.Description,
			})
		}
		if withDetails, err := st.WithDetails(pf); err == nil {
			return withDetails
		}
		return st
	}
	br := &errdetails.BadRequest{}
	for _, v := range e.Violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: v.Field, Description: v.Description, Reason: v.Reason,
		})
	}
	if withDetails, err := st.WithDetails(br); err == nil {
		return withDetails
	}
	return st
}
