package grpcserver

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// While the server's database does not answer, its health check says
// NOT_SERVING; once it answers again, SERVING.
func TestHealthFollowsReadiness(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv, err := New(Config{
		Name: "test", Listener: l, Logger: zap.NewNop(), ReadyInterval: 10 * time.Millisecond,
		Ready: func(context.Context) error {
			if down.Load() {
				return errors.New("database unreachable")
			}
			return nil
		},
	})
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
	await := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health is %v (%v), want %v", resp.GetStatus(), err, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	await(healthpb.HealthCheckResponse_SERVING)
	down.Store(true)
	await(healthpb.HealthCheckResponse_NOT_SERVING)
	down.Store(false)
	await(healthpb.HealthCheckResponse_SERVING)
}
