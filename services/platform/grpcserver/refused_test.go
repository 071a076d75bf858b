package grpcserver

import (
	"context"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// TestRefusedCallsRecordedOnce runs calls through the audit and
// error-mapping interceptors, with a handler
// that answers as the domain would, and checks what the trail gets: each
// refusal exactly once (twice for NOT_FOUND, the caller's view and the
// resource's) on the trail of the states the refusal carries, nothing for
// what the domain recorded itself, and the caller's status as ToStatus makes
// it, whatever the refusal carried.
func TestRefusedCallsRecordedOnce(t *testing.T) {
	const (
		submit = "/comity.request.v1.RequestService/SubmitRequest"
		get    = "/comity.request.v1.RequestService/GetRequest"
	)
	caller := identity.Principal{Subject: "p-uz", Agency: "uz-gpo", State: "UZ", Roles: []identity.Role{identity.Prosecutor}}
	refused := func(code errs.Code, resource string, states ...string) error {
		return trail.Concerning(errs.New(code, "refused here"), resource, states...)
	}
	type event struct {
		resource string
		states   []string
	}
	for _, tc := range []struct {
		name      string
		method    string
		principal *identity.Principal
		err       error
		code      codes.Code
		events    []event
	}{
		{"a request the caller may not see", get, &caller, refused(errs.NotFound, "requests/r-1", "KZ"), codes.NotFound,
			[]event{{"requests/asked", []string{"UZ"}}, {"requests/r-1", []string{"KZ"}}}},
		{"a name that names nothing", get, &caller, errs.New(errs.NotFound, "refused here"), codes.NotFound,
			[]event{{"requests/asked", []string{"UZ"}}, {"requests/asked", nil}}},
		{"a denial on a request the caller sees", submit, &caller, refused(errs.PermissionDenied, "", "KZ", "UZ"),
			codes.PermissionDenied, []event{{"requests/asked", []string{"KZ", "UZ"}}}},
		{"a failed change", submit, &caller, refused(errs.FailedPrecondition, "", "KZ", "UZ"), codes.FailedPrecondition,
			[]event{{"requests/asked", []string{"KZ", "UZ"}}}},
		{"a refusal before the domain", submit, &caller, errs.New(errs.Invalid, "refused here"), codes.InvalidArgument,
			[]event{{"requests/asked", []string{"UZ"}}}},
		{"a failed read", get, &caller, refused(errs.FailedPrecondition, "", "KZ"), codes.FailedPrecondition, nil},
		{"a change the domain recorded", submit, &caller, nil, codes.OK, nil},
		{"a canceled change", submit, &caller, refused(errs.FailedPrecondition, "", "KZ", "UZ"), codes.OK, nil},
		{"a call of nobody known", submit, nil, errs.New(errs.Unauthenticated, "refused here"), codes.Unauthenticated, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &captured{}
			ic := interceptors{logger: zap.NewNop(), audit: &AuditConfig{Service: "comity-request", Recorder: rec}}
			anon, err := newAnonymous(ic.audit, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ic.anonymous = anon
			info := &grpc.UnaryServerInfo{FullMethod: tc.method}
			// The handler as the auth interceptor runs it: in the context of
			// the caller it authenticated.
			domain := func(ctx context.Context, _ any) (any, error) {
				err := tc.err
				if tc.name == "a canceled change" {
					err = context.Canceled
				}
				if tc.principal != nil {
					ctx = identity.NewContext(ctx, *tc.principal)
				}
				return nil, ofCaller(ctx, err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, err = ic.auditUnary(ctx, &requestv1.GetRequestRequest{Name: "requests/asked"}, info,
				func(ctx context.Context, req any) (any, error) { return ic.mapErrorsUnary(ctx, req, info, domain) })
			want := tc.code
			if tc.name == "a canceled change" {
				want = codes.Canceled
			}
			if status.Code(err) != want {
				t.Fatalf("status %v; want %v", err, want)
			}
			if _, ok := trail.RefusalOf(err); ok {
				t.Errorf("the caller's error carries the refusal: %#v", err)
			}
			if err != nil && want != codes.Canceled {
				if st, _ := status.FromError(err); st.Message() != "refused here" {
					t.Errorf("message %q; want the domain's", st.Message())
				}
			}
			var got []event
			for _, e := range rec.events {
				if e.Action != tc.method || e.Actor.Subject != caller.Subject || e.Outcome != rpccode.Code(want).String() {
					t.Errorf("event %+v; want %s by %s, %v", e, tc.method, caller.Subject, want)
				}
				got = append(got, event{e.Resource, e.States})
			}
			if !reflect.DeepEqual(got, tc.events) {
				t.Errorf("events %+v; want %+v", got, tc.events)
			}
		})
	}
}
