package httpserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Lingering on a refused body: before a response that the handler begins
// without having read its request's body (a refusal: 429, 401, 413, …), the
// server reads and drops what the client is still sending, for at most
// lingerTime and lingerBytes. Most clients write their whole body before
// they read the answer; closing on them mid-body resets the connection, and
// they report "connection reset" instead of the refusal and its reason. The
// bounds keep a trickling or endless body from holding the connection: past
// them the answer goes out with Connection: close, and the server lingers
// once more, within the same bounds, while the client reads it, before it
// ends the connection. A refused body thus holds its connection for at most
// twice lingerTime.
const (
	lingerTime  = time.Second
	lingerBytes = 4 << 20
)

// guardBodies enforces the minimum body rate of opts on every request with a
// body, and closes the connection of any request whose body was not read to
// its end.
//
// net/http, left alone, waits for an unread body twice: when the handler
// writes its response headers (it reads up to 256 KiB of the rest, to keep
// the connection), and when it closes the body after the handler (the same).
// Neither read has a deadline, so a refusal (429, 401, 413) of a body
// trickling a byte at a time would hold its connection for ever. A response
// begun before the body's end therefore first lingers on the body (bounded,
// see lingerTime), and when the body still has not ended says
// Connection: close, which skips the first read; the read deadline is set to
// now after the handler, which ends the second at once.
func guardBodies(opts Options, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		b := &rateBody{src: r.Body, rc: rc, min: opts.BodyMinBytes, window: opts.BodyWindow}
		r.Body = b
		http1 := r.ProtoMajor == 1
		// A client that asked for 100 Continue has sent nothing yet and
		// sends nothing on a refusal: reading would ask it for the body.
		expectContinue := strings.EqualFold(r.Header.Get("Expect"), "100-continue")
		h.ServeHTTP(&closeWriter{ResponseWriter: w, body: b, http1: http1, expectContinue: expectContinue}, r)
		if !b.eof && http1 {
			// The answer says Connection: close. Send it now and keep
			// dropping what the client still sends, within the same
			// bounds, so that it reads the answer before the connection
			// ends; then end the reads at once. (HTTP/2 resets the stream
			// of an unread body by itself; it has no Connection header.)
			_ = rc.Flush()
			b.linger()
			_ = rc.SetReadDeadline(time.Now())
		}
	})
}

// rateBody reads a request body with a read deadline that requires min bytes
// per window. Only the time spent waiting in Read counts, so a handler that
// is slow to consume (an upload waiting on the request service) does not
// count against its client.
type rateBody struct {
	src    io.ReadCloser
	rc     *http.ResponseController
	min    int64
	window time.Duration

	got    int64         // bytes since the window began
	waited time.Duration // time spent in Read since the window began
	read   int64         // bytes in all
	eof    bool
}

// errSlowBody is returned once a body has been too slow.
var errSlowBody = errors.New("request body arrived too slowly")

func (b *rateBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	start := time.Now()
	_ = b.rc.SetReadDeadline(start.Add(b.window - b.waited))
	n, err := b.src.Read(p)
	b.read += int64(n)
	b.waited += time.Since(start)
	if b.got += int64(n); b.got >= b.min {
		b.got, b.waited = 0, 0
	}
	switch {
	case err == io.EOF:
		b.eof = true
		// No deadline once the body is in: net/http's background read,
		// which notices a client going away, would otherwise end the
		// request when it passes.
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: fewer than %d bytes in %s: %w", errSlowBody, b.min, b.window, err)
	}
	return n, err
}

func (b *rateBody) Close() error { return b.src.Close() }

// linger reads and drops the rest of the body for at most lingerTime and
// lingerBytes, and reports whether the body ended meanwhile.
func (b *rateBody) linger() bool {
	if b.eof {
		return true
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(lingerTime))
	n, err := io.CopyN(io.Discard, b.src, lingerBytes)
	b.read += n
	if err == io.EOF {
		b.eof = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return b.eof
}

// closeWriter adds Connection: close to a response begun before its
// request's body was read to the end (HTTP/1 only).
type closeWriter struct {
	http.ResponseWriter
	body           *rateBody
	http1          bool
	expectContinue bool
	started        bool
}

func (w *closeWriter) begin() {
	if w.started {
		return
	}
	w.started = true
	if !w.http1 || w.body.eof {
		return
	}
	if w.expectContinue && w.body.read == 0 {
		w.Header().Set("Connection", "close")
		return
	}
	if !w.body.linger() {
		w.Header().Set("Connection", "close")
	}
}

func (w *closeWriter) WriteHeader(code int) {
	if code >= 200 {
		w.begin()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closeWriter) Write(p []byte) (int, error) {
	w.begin()
	return w.ResponseWriter.Write(p)
}

func (w *closeWriter) Flush() {
	w.begin()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *closeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
