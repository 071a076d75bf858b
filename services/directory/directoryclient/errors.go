package directoryclient

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/refusal"
)

// fromStatus maps the status of a failed directory call to the error table.
// What the directory said about the caller's input or credentials is kept, so
// that this service's callers see it; an outage, a timeout or a fault of the
// directory is "directory unavailable", with the cause kept for the log.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return errs.Wrap(err, errs.Unavailable, "directory unavailable")
	}
	switch st.Code() {
	case codes.NotFound:
		return errs.New(errs.NotFound, "%s", st.Message())
	case codes.Unauthenticated:
		if r, ok := refusal.FromStatus(st); ok {
			// The directory refused the token it was asked with, and said
			// the state of the agency it names.
			return r
		}
		return errs.New(errs.Unauthenticated, "%s", st.Message())
	case codes.PermissionDenied:
		return errs.New(errs.PermissionDenied, "%s", st.Message())
	case codes.InvalidArgument:
		return withViolations(errs.Invalid, st)
	case codes.FailedPrecondition:
		return withViolations(errs.FailedPrecondition, st)
	default:
		return errs.Wrap(err, errs.Unavailable, "directory unavailable")
	}
}

// withViolations rebuilds the error the directory reported: its violations
// come from the status details, and its message is the status message
// without the violations the directory appended to it, so that Error() reads
// as the directory's message did.
func withViolations(code errs.Code, st *status.Status) error {
	var vs errs.Violations
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				vs = append(vs, errs.Violation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				vs = append(vs, errs.Violation{Field: v.GetSubject(), Description: v.GetDescription()})
			}
		}
	}
	msg := st.Message()
	if len(vs) > 0 {
		suffix := (&errs.Error{Violations: vs}).Error()
		if !strings.HasSuffix(msg, suffix) {
			// Not the shape we know: keep the message whole, once.
			return errs.New(code, "%s", msg)
		}
		msg = strings.TrimSuffix(msg, suffix)
	}
	return &errs.Error{Code: code, Message: msg, Violations: vs}
}
