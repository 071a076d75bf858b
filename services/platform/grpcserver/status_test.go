package grpcserver

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/refusal"
	"github.com/comity-mla/comity/services/trail"
)

// TestRefusedTokenStatusRoundTrip: a refused genuine token is
// UNAUTHENTICATED with its message, and a service that gets that status
// from the directory reads back the state of the token's agency; other
// statuses carry no refusal.
func TestRefusedTokenStatusRoundTrip(t *testing.T) {
	msg := `role "central_authority" cannot be held at agency "kz-oversight" (OVERSIGHT)`
	tests := []struct {
		name      string
		err       error
		wantOK    bool
		wantState string
	}{
		{"refused, state known", &identity.RefusedError{Claimed: identity.Principal{Subject: "u", State: "KZ"},
			Err: errs.New(errs.Unauthenticated, "%s", msg)}, true, "KZ"},
		{"refused, wrapped", fmt.Errorf("call: %w", &identity.RefusedError{Claimed: identity.Principal{State: "UZ"},
			Err: errs.New(errs.Unauthenticated, "%s", msg)}), true, "UZ"},
		{"refused, agency unknown", &identity.RefusedError{Claimed: identity.Principal{Subject: "u"},
			Err: errs.New(errs.Unauthenticated, "%s", msg)}, false, ""},
		{"a plain refusal", errs.New(errs.Unauthenticated, "%s", msg), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := ToStatus(context.Background(), zap.NewNop(), "/m", tc.err)
			if st.Code() != codes.Unauthenticated || st.Message() != msg {
				t.Fatalf("status %v %q, want UNAUTHENTICATED %q", st.Code(), st.Message(), msg)
			}
			// As a client sees it, after the wire.
			back := status.Convert(st.Err())
			r, ok := refusal.FromStatus(back)
			if ok != tc.wantOK {
				t.Fatalf("refusal.FromStatus ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && (r.Claimed.State != tc.wantState || r.Error() != msg || errs.CodeOf(r) != errs.Unauthenticated) {
				t.Errorf("read back %+v %q, want state %s and the message", r.Claimed, r.Error(), tc.wantState)
			}
		})
	}
	if _, ok := refusal.FromStatus(status.New(codes.PermissionDenied, msg)); ok {
		t.Error("a PERMISSION_DENIED status read as a refused token")
	}
}

// TestViolationReasons: a violation's reason code travels as the
// BadRequest field violation's reason and as the PreconditionFailure
// violation's type; without one the type stays FAILED_PRECONDITION.
func TestViolationReasons(t *testing.T) {
	var vs errs.Violations
	vs.AddReason("legal_basis", "LEGAL_BASIS_REQUIRED", "a legal basis is required")
	vs.Add("status", "request is DRAFT")
	for _, code := range []errs.Code{errs.Invalid, errs.FailedPrecondition} {
		st := ToStatus(context.Background(), zap.NewNop(), "/m", vs.Err(code, "refused"))
		var reasons []string
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.BadRequest:
				for _, v := range d.GetFieldViolations() {
					reasons = append(reasons, v.GetField()+"="+v.GetReason())
				}
			case *errdetails.PreconditionFailure:
				for _, v := range d.GetViolations() {
					reasons = append(reasons, v.GetSubject()+"="+v.GetType())
				}
			}
		}
		want := "[legal_basis=LEGAL_BASIS_REQUIRED status=]"
		if code == errs.FailedPrecondition {
			want = "[legal_basis=LEGAL_BASIS_REQUIRED status=FAILED_PRECONDITION]"
		}
		if got := fmt.Sprint(reasons); got != want {
			t.Errorf("%v: reasons %s, want %s", code, got, want)
		}
	}
}

// TestPassedOnStatusKeepsItsMessage: a status a handler passes on (an
// upload's stream.Recv refused a message too large) reaches the caller with
// its own message, though the server wraps the handler's error with the
// caller and the states the refusal concerned.
func TestPassedOnStatusKeepsItsMessage(t *testing.T) {
	inner := status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000000 vs. 4194304)")
	caller := identity.Principal{Subject: "u", Agency: "kz-gpo", State: "KZ"}
	for name, err := range map[string]error{
		"as returned":         inner,
		"with its caller":     withCaller(inner, caller),
		"concerning a state":  withCaller(trail.Concerning(inner, "requests/r1", "UZ"), caller),
		"wrapped with fmt %w": fmt.Errorf("upload: %w", inner),
	} {
		st := ToStatus(context.Background(), zap.NewNop(), "/m", err)
		if st.Code() != codes.ResourceExhausted || st.Message() != status.Convert(inner).Message() {
			t.Errorf("%s: %v %q, want RESOURCE_EXHAUSTED with the status's own message", name, st.Code(), st.Message())
		}
	}
}
