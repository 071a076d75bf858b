package httpserver

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
)

// advertisedStreams serves HTTPS with opts and returns the
// SETTINGS_MAX_CONCURRENT_STREAMS the server announces to an HTTP/2 client:
// the bound on requests one connection may carry at once.
func advertisedStreams(t *testing.T, opts Options) uint32 {
	t.Helper()
	// httptest's certificate, for a TLS listener of Serve's own.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	certs := ts.TLS.Certificates
	ts.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tls.NewListener(raw, &tls.Config{Certificates: certs, NextProtos: []string{"h2", "http/1.1"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, http.NotFoundHandler(), zap.NewNop(), time.Second, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	c, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// The client preface and an empty SETTINGS frame (RFC 9113 §3.4).
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	// The server's first frame is its SETTINGS: a 9-byte header, then
	// 6-byte entries (identifier, value).
	head := make([]byte, 9)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatal(err)
	}
	if head[3] != 0x4 {
		t.Fatalf("first frame of type %d, want SETTINGS (4)", head[3])
	}
	payload := make([]byte, int(head[0])<<16|int(head[1])<<8|int(head[2]))
	if _, err := io.ReadFull(c, payload); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+6 <= len(payload); i += 6 {
		if binary.BigEndian.Uint16(payload[i:]) == 0x3 { // SETTINGS_MAX_CONCURRENT_STREAMS
			return binary.BigEndian.Uint32(payload[i+2:])
		}
	}
	t.Fatal("the server announces no bound on concurrent streams")
	return 0
}

// One HTTP/2 connection, counted once by the connection bound, may carry
// only HTTP2MaxStreams requests at once, not Go's default of 250.
func TestHTTP2MaxStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want uint32
	}{
		{"default", Options{}, DefaultHTTP2MaxStreams},
		{"lowered", Options{HTTP2MaxStreams: 3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := advertisedStreams(t, tc.opts); got != tc.want {
				t.Errorf("the server announces %d concurrent streams per connection, want %d", got, tc.want)
			}
		})
	}
}
