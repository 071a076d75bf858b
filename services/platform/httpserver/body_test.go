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

// A handler that reads its body to the end keeps the connection alive. One
// that answers without reading it gets the rest of the body read and dropped
// first, within bounds, so that the client reads the answer rather than a
// reset connection; past those bounds the connection closes after the
// answer.
func TestConnectionKeptOnlyWhenTheBodyWasRead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		read      bool
		size      int
		wantClose bool
	}{
		{"body read", true, 10_000, false},
		{"body left unread, sent at once", false, 10_000, false},
		{"body left unread, more than the server lingers on", false, lingerBytes + 1<<20, true},
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
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(strings.Repeat("x", tc.size)))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("the client got no answer: %v", err)
				}
				if resp.StatusCode != http.StatusAccepted {
					t.Errorf("status %d, want the handler's 202", resp.StatusCode)
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
