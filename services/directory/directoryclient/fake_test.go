package directoryclient_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory/directoryclient"
	"github.com/comity-mla/comity/services/errs"
)

// fakeConn is a directory that answers each unary call with answer, given
// the call's authorization metadata. It counts the calls.
type fakeConn struct {
	answer func(ctx context.Context, method, auth string) (proto.Message, error)
	calls  atomic.Int64
}

func (f *fakeConn) Invoke(ctx context.Context, method string, _, reply any, _ ...grpc.CallOption) error {
	f.calls.Add(1)
	md, _ := metadata.FromOutgoingContext(ctx)
	auth := ""
	if v := md.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	resp, err := f.answer(ctx, method, auth)
	if err != nil {
		return err
	}
	proto.Merge(reply.(proto.Message), resp)
	return nil
}

func (f *fakeConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("fakeConn: no streams")
}

func agencyAnswer(id string) *directoryv1.GetAgencyResponse {
	return &directoryv1.GetAgencyResponse{Agency: &directoryv1.Agency{Name: "agencies/" + id, State: "KZ", Active: true}}
}

// answerOnRelease is a connection whose calls answer kz-gpo once release
// is closed, or fail when their context ends first, and a client over it.
func answerOnRelease(release <-chan struct{}) (*fakeConn, *directoryclient.Client) {
	f := &fakeConn{answer: func(ctx context.Context, _, _ string) (proto.Message, error) {
		select {
		case <-release:
			return agencyAnswer("kz-gpo"), nil
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}}
	return f, directoryclient.New(f)
}

// TestConcurrentMisses checks that callers missing the cache for one key at
// once share one call.
func TestConcurrentMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f, c := answerOnRelease(release)
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer a"))
		var wg sync.WaitGroup
		got := make([]string, 10)
		for i := range got {
			wg.Go(func() {
				a, err := c.Agency(ctx, "kz-gpo")
				if err != nil {
					t.Error(err)
				}
				got[i] = a.ID
			})
		}
		synctest.Wait() // every caller is waiting for the directory
		if n := f.calls.Load(); n != 1 {
			t.Errorf("%d concurrent misses made %d calls, want 1", len(got), n)
		}
		close(release)
		wg.Wait()
		for i, id := range got {
			if id != "kz-gpo" {
				t.Errorf("caller %d got %q, want kz-gpo", i, id)
			}
		}
	})
}

// TestSharedCallRefused checks that a caller whose credentials are good does
// not inherit the refusal of another caller's credentials through a shared
// call.
func TestSharedCallRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := &fakeConn{answer: func(_ context.Context, _, auth string) (proto.Message, error) {
			<-release
			if auth != "Bearer good" {
				return nil, status.Error(codes.Unauthenticated, "token is malformed")
			}
			return agencyAnswer("kz-gpo"), nil
		}}
		c := directoryclient.New(f)
		as := func(auth string) context.Context {
			return metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", auth))
		}
		var badErr, goodErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, badErr = c.Agency(as("Bearer bad"), "kz-gpo") })
		synctest.Wait() // the bad caller's call is in flight
		wg.Go(func() { _, goodErr = c.Agency(as("Bearer good"), "kz-gpo") })
		synctest.Wait() // the good caller waits for it
		close(release)
		wg.Wait()
		if !errors.Is(badErr, errs.ErrUnauthenticated) {
			t.Errorf("bad token: err = %v, want unauthenticated", badErr)
		}
		if goodErr != nil {
			t.Errorf("good token: err = %v, want the agency", goodErr)
		}
		if n := f.calls.Load(); n != 2 {
			t.Errorf("made %d calls, want 2", n)
		}
	})
}

// TestCacheTTL checks that answers, and not-found answers, are kept for the
// TTL and no longer.
func TestCacheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeConn{answer: func(_ context.Context, method, _ string) (proto.Message, error) {
			if method == directoryv1.DirectoryService_GetState_FullMethodName {
				return nil, status.Error(codes.NotFound, "state ZZ not found")
			}
			return agencyAnswer("kz-gpo"), nil
		}}
		const ttl = 10 * time.Second
		c := directoryclient.New(f, directoryclient.WithCacheTTL(ttl))
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer a"))
		lookUp := func() {
			t.Helper()
			if _, err := c.Agency(ctx, "kz-gpo"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.State(ctx, "ZZ"); !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("State(ZZ) = %v, want not found", err)
			}
		}
		lookUp()
		time.Sleep(ttl - time.Millisecond)
		lookUp()
		if n := f.calls.Load(); n != 2 {
			t.Fatalf("within the TTL: %d calls, want 2", n)
		}
		time.Sleep(time.Millisecond)
		lookUp()
		if n := f.calls.Load(); n != 4 {
			t.Fatalf("after the TTL: %d calls, want 4", n)
		}
	})
}

// TestCallerGivesUp checks that a caller whose context ends stops waiting,
// while the call it started completes for the cache.
func TestCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f, c := answerOnRelease(release)
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer a"))
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.Agency(short, "kz-gpo"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's deadline", err)
		}
		close(release)
		synctest.Wait()
		if _, err := c.Agency(ctx, "kz-gpo"); err != nil {
			t.Fatal(err)
		}
		if n := f.calls.Load(); n != 1 {
			t.Errorf("made %d calls, want 1: the abandoned call fills the cache", n)
		}
	})
}

// TestCallTimeout checks that every call gets the call timeout as deadline.
func TestCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeConn{answer: func(ctx context.Context, _, _ string) (proto.Message, error) {
			<-ctx.Done()
			return nil, status.FromContextError(ctx.Err()).Err()
		}}
		const timeout = 2 * time.Second
		c := directoryclient.New(f, directoryclient.WithCallTimeout(timeout))
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer a"))
		start := time.Now()
		_, err := c.ResolveRoute(ctx, "UZ", cooperation.DataPreservation, cooperation.Urgent)
		if !errors.Is(err, errs.ErrUnavailable) {
			t.Errorf("err = %v, want unavailable", err)
		}
		if d := time.Since(start); d != timeout {
			t.Errorf("the call took %v, want the call timeout %v", d, timeout)
		}
	})
}

// TestErrorMapping checks what callers see of each directory error, and
// that only not-found answers are cached.
func TestErrorMapping(t *testing.T) {
	badRequest, err := status.New(codes.InvalidArgument, "unknown state: requested_state: XX is not a participating state").
		WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "requested_state", Description: "XX is not a participating state"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	precondition, err := status.New(codes.FailedPrecondition, "cannot route: requested_state: no agency").
		WithDetails(&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
			{Type: "FAILED_PRECONDITION", Subject: "requested_state", Description: "no agency"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		status     error
		code       errs.Code
		message    string
		violations []errs.Violation
		cached     bool
	}{
		{name: "not found", status: status.Error(codes.NotFound, "agency zz-x not found"),
			code: errs.NotFound, message: "agency zz-x not found", cached: true},
		{name: "unauthenticated", status: status.Error(codes.Unauthenticated, "token has expired"),
			code: errs.Unauthenticated, message: "token has expired"},
		{name: "permission denied", status: status.Error(codes.PermissionDenied, "not allowed"),
			code: errs.PermissionDenied, message: "not allowed"},
		{name: "invalid", status: status.Error(codes.InvalidArgument, "bad name"),
			code: errs.Invalid, message: "bad name"},
		{name: "invalid with violations", status: badRequest.Err(),
			code: errs.Invalid, message: "unknown state: requested_state: XX is not a participating state",
			violations: []errs.Violation{{Field: "requested_state", Description: "XX is not a participating state"}}},
		{name: "failed precondition", status: status.Error(codes.FailedPrecondition, "UZ has no active agency that receives CONTENT_DATA requests"),
			code: errs.FailedPrecondition, message: "UZ has no active agency that receives CONTENT_DATA requests"},
		{name: "failed precondition with violations", status: precondition.Err(),
			code: errs.FailedPrecondition, message: "cannot route: requested_state: no agency",
			violations: []errs.Violation{{Field: "requested_state", Description: "no agency"}}},
		{name: "deadline exceeded", status: status.Error(codes.DeadlineExceeded, "deadline exceeded"),
			code: errs.Unavailable, message: "directory unavailable"},
		{name: "unavailable", status: status.Error(codes.Unavailable, "connection refused"),
			code: errs.Unavailable, message: "directory unavailable"},
		{name: "internal", status: status.Error(codes.Internal, "internal error (trace id 1)"),
			code: errs.Unavailable, message: "directory unavailable"},
		{name: "not a status", status: errors.New("boom"),
			code: errs.Unavailable, message: "directory unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConn{answer: func(context.Context, string, string) (proto.Message, error) { return nil, tc.status }}
			c := directoryclient.New(f)
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer a"))
			for range 2 {
				_, err := c.Agency(ctx, "zz-x")
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != tc.code || err.Error() != tc.message {
					t.Fatalf("err = %v (%v), want %v %q", err, errs.CodeOf(err), tc.code, tc.message)
				}
				if len(e.Violations) != len(tc.violations) || (len(tc.violations) > 0 && e.Violations[0] != tc.violations[0]) {
					t.Errorf("violations = %v, want %v", e.Violations, tc.violations)
				}
				if tc.code == errs.Unavailable && !errors.Is(err, tc.status) {
					t.Errorf("err = %v does not keep its cause %v", err, tc.status)
				}
			}
			want := int64(2)
			if tc.cached {
				want = 1
			}
			if n := f.calls.Load(); n != want {
				t.Errorf("two lookups made %d calls, want %d", n, want)
			}
		})
	}
}
