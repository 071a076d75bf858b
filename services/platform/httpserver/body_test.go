package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// serve runs Serve with h on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, opts Options) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, h, zap.NewNop(), time.Second, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

// A handler that reads its body to the end keeps the connection alive; one
// that answers without reading it closes the connection.
func TestConnectionKeptOnlyWhenTheBodyWasRead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		read      bool
		wantClose bool
	}{
		{"body read", true, false},
		{"body left unread", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.read {
					_, _ = io.ReadAll(r.Body)
				}
				w.WriteHeader(http.StatusAccepted)
			}), Options{})
			client := &http.Client{Transport: &http.Transport{}}
			reused := 0
			for range 2 {
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(i httptrace.GotConnInfo) {
						if i.Reused {
							reused++
						}
					},
				})
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(strings.Repeat("x", 10_000)))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Close != tc.wantClose {
					t.Errorf("Connection: close = %v, want %v", resp.Close, tc.wantClose)
				}
			}
			if wantReused := map[bool]int{false: 1, true: 0}[tc.wantClose]; reused != wantReused {
				t.Errorf("connection reused %d times, want %d", reused, wantReused)
			}
		})
	}
}
