package grpcserver

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
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
			r, ok := RefusedFromStatus(back)
			if ok != tc.wantOK {
				t.Fatalf("RefusedFromStatus ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && (r.Claimed.State != tc.wantState || r.Error() != msg || errs.CodeOf(r) != errs.Unauthenticated) {
				t.Errorf("read back %+v %q, want state %s and the message", r.Claimed, r.Error(), tc.wantState)
			}
		})
	}
	if _, ok := RefusedFromStatus(status.New(codes.PermissionDenied, msg)); ok {
		t.Error("a PERMISSION_DENIED status read as a refused token")
	}
}
