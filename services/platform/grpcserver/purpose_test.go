package grpcserver

import (
	"context"
	"net"
	"strings"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/services/trail"
)

// A purpose that is not a category is refused on any call, unary or
// streaming, with a message naming the header and the categories; a
// category, or none, is not.
func TestPurposeHeaderCheckedOnEveryCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Name: "test", Listener: l, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	for _, tc := range []struct {
		name   string
		values []string
		bad    bool
	}{
		{name: "none"},
		{name: "a category", values: []string{"review"}},
		{name: "a typo", values: []string{"reveiw"}, bad: true},
		{name: "twice", values: []string{"review", "execution"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cctx := context.Background()
			for _, v := range tc.values {
				cctx = metadata.AppendToOutgoingContext(cctx, trail.PurposeHeader, v)
			}
			_, err := health.Check(cctx, &healthpb.HealthCheckRequest{})
			stream, serr := health.Watch(cctx, &healthpb.HealthCheckRequest{})
			if serr == nil {
				_, serr = stream.Recv()
			}
			for call, err := range map[string]error{"Check": err, "Watch": serr} {
				if !tc.bad {
					if err != nil {
						t.Errorf("%s with purpose %q = %v; want it served", call, tc.values, err)
					}
					continue
				}
				st := status.Convert(err)
				if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "X-Comity-Purpose") {
					t.Errorf("%s with purpose %q = %v; want INVALID_ARGUMENT naming X-Comity-Purpose", call, tc.values, err)
				}
				var fields []string
				for _, d := range st.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok {
						for _, v := range br.GetFieldViolations() {
							fields = append(fields, v.GetField()+": "+v.GetDescription())
						}
					}
				}
				if len(fields) != 1 || !strings.HasPrefix(fields[0], "X-Comity-Purpose: ") || !strings.Contains(fields[0], "stated-proceedings") {
					t.Errorf("%s with purpose %q: violations %q; want one on X-Comity-Purpose listing the categories", call, tc.values, fields)
				}
			}
		})
	}
}

// The declared purpose reaches the handler's context, of unary and
// streaming calls alike, as the domain reads it.
func TestPurposeReachesTheHandler(t *testing.T) {
	ic := interceptors{logger: zap.NewNop()}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(trail.PurposeHeader, "Translation"))
	var got string
	_, err := ic.validateUnary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/comity.request.v1.RequestService/GetRequest"},
		func(ctx context.Context, _ any) (any, error) {
			got = trail.ReadPurpose(ctx)
			return nil, nil
		})
	if err != nil || got != trail.PurposeTranslation {
		t.Errorf("a unary handler sees purpose %q (%v); want translation", got, err)
	}
	got = ""
	err = ic.validateStream(nil, &ctxStream{ctx: ctx}, &grpc.StreamServerInfo{}, func(_ any, ss grpc.ServerStream) error {
		got = trail.ReadPurpose(ss.Context())
		return nil
	})
	if err != nil || got != trail.PurposeTranslation {
		t.Errorf("a streaming handler sees purpose %q (%v); want translation", got, err)
	}
	err = ic.validateStream(nil, &ctxStream{ctx: context.Background()}, &grpc.StreamServerInfo{}, func(_ any, ss grpc.ServerStream) error {
		got = trail.ReadPurpose(ss.Context())
		return nil
	})
	if err != nil || got != trail.PurposeUndeclared {
		t.Errorf("a streaming handler of a call without a purpose sees %q (%v); want undeclared", got, err)
	}
}
