// Package healthtest waits, in tests, for a gRPC server to serve: it polls
// the standard health check the servers of package grpcserver answer.
package healthtest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// WaitServing polls the health check of the server behind conn, with
// backoff, until it answers SERVING; it fails tb when timeout passes first,
// or when done (nil: never) yields, the server having ended.
func WaitServing(tb testing.TB, conn grpc.ClientConnInterface, timeout time.Duration, done <-chan error) {
	tb.Helper()
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(timeout)
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		select {
		case err := <-done:
			tb.Fatalf("server ended before serving: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server not serving after %v: %v", timeout, err)
		}
		time.Sleep(backoff)
	}
}
