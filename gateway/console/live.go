package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// watchStartedHeader is the request service's response header saying that
// its watch has its starting point (grpcapi.WatchStartedHeader, which the
// gateway does not import).
const watchStartedHeader = "comity-watch-started"

// The timings of the live updates' event stream.
const (
	// liveHeartbeat is how often an idle stream sends a comment: a
	// browser that has gone away is noticed (the write fails, which ends
	// the service's watch and frees its place), and proxies do not close
	// an idle connection.
	liveHeartbeat = 15 * time.Second
	// liveMinStream is the least a stream lives before it ends for its
	// token's expiry, so that a token about to expire (or a provider that
	// says nothing of lifetimes) cannot make the browser reconnect in a
	// tight loop.
	liveMinStream = 10 * time.Second
	// liveRetry is how long the browser waits before it reconnects a
	// stream that ended (the token's expiry, a service's restart).
	liveRetry = 2 * time.Second
	// liveBusyRetry is how long it waits when the service refused the
	// watch for the bound on open streams: it says so instead of hammering.
	liveBusyRetry = time.Minute
	// liveUnavailableRetry is how long it waits when the service cannot
	// watch now.
	liveUnavailableRetry = 10 * time.Second
	// defaultWriteProgress is Config.WriteProgress's default, the
	// gateway's own (httpserver.DefaultWriteProgress).
	defaultWriteProgress = 30 * time.Second
)

// liveEvent is the data of an event of the live stream: what the page
// announces, and for a change, which request and its new status.
type liveEvent struct {
	Text      string `json:"text"`
	Reference string `json:"reference,omitempty"`
	Status    string `json:"status,omitempty"`
}

// eventStream writes server-sent events, each write bounded by the
// write-progress timeout as the gateway's REST watch does: a client that
// reads nothing that long is cut, and the deadline is cleared after each
// write so that an idle stream lives on.
type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

// write sends p to the client at once.
func (e *eventStream) write(p []byte) error {
	if err := e.rc.SetWriteDeadline(time.Now().Add(e.d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := e.w.Write(p); err != nil {
		return err
	}
	if err := e.rc.Flush(); err != nil {
		return err
	}
	if err := e.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// event sends an event named name with data as JSON; retry, when not zero,
// tells the browser how long to wait before it reconnects.
func (e *eventStream) event(name string, data liveEvent, retry time.Duration) error {
	body, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("live event %s: %w", name, err)
	}
	var msg []byte
	if retry > 0 {
		msg = fmt.Appendf(msg, "retry: %d\n", retry.Milliseconds())
	}
	// JSON has no raw newline: the data is one line.
	msg = fmt.Appendf(msg, "event: %s\ndata: %s\n\n", name, body)
	return e.write(msg)
}

// startEvents answers with an event stream: status 200 whatever follows,
// since a browser's EventSource gives up for good on any other answer and
// could not tell the page why.
func (c *Console) startEvents(w http.ResponseWriter) *eventStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Proxies such as nginx would otherwise hold the events back.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	d := c.cfg.WriteProgress
	if d <= 0 {
		d = defaultWriteProgress
	}
	return &eventStream{w: w, rc: http.NewResponseController(w), d: d}
}

// liaisonEvents serves GET /liaison/events, the live dashboard's
// server-sent events, fed by the request service's WatchRequests with the
// user's token: "ready" once the watch has started (the page then fetches
// its results again, to catch up on what happened while it was not
// connected), "change" for each status change the user may see, with its
// announcement. The stream ends when the session's token expires, and the
// browser reconnects: each connection renews the session's token when it
// is due (Console.session), and a session that has ended gets "ended", after
// which the page says so and stops. A watch refused for the bound on open
// streams gets "busy" and a long retry. The gateway's rate limit counts
// each connection, not the events or heartbeats within it.
func (c *Console) liaisonEvents(w http.ResponseWriter, r *http.Request) {
	pg := c.page(w, r, nil)
	s, err := c.session(w, r)
	if err != nil {
		es := c.startEvents(w)
		_ = es.event("ended", liveEvent{Text: pg.T("live.ended")}, 0)
		return
	}
	pg.User = s
	ctx, cancel := context.WithCancel(outgoing(r.Context(), r, s))
	defer cancel()
	stream, err := c.be.Requests.WatchRequests(ctx, &requestv1.WatchRequestsRequest{})
	if err == nil {
		var md map[string][]string
		if md, err = stream.Header(); err == nil && len(md[watchStartedHeader]) == 0 {
			// A refusal ends the stream without the header.
			if _, err = stream.Recv(); err == nil || errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "the watch ended before it started")
			}
		}
	}
	es := c.startEvents(w)
	if err != nil {
		c.refusedEvents(r, es, pg, err)
		return
	}
	if es.event("ready", liveEvent{Text: pg.T("live.on")}, liveRetry) != nil {
		return
	}
	c.pumpEvents(ctx, es, pg, s, stream)
}

// refusedEvents tells the page why the watch could not start.
func (c *Console) refusedEvents(r *http.Request, es *eventStream, pg page, err error) {
	switch status.Code(err) {
	case codes.ResourceExhausted:
		_ = es.event("busy", liveEvent{Text: pg.T("live.busy")}, liveBusyRetry)
	case codes.Unauthenticated, codes.PermissionDenied:
		// The services no longer accept the session's token (the agency
		// was deactivated, its state stopped trusting the provider).
		_ = es.event("ended", liveEvent{Text: pg.T("live.ended")}, 0)
	default:
		if r.Context().Err() == nil {
			c.log.Warn("live updates could not start", zap.Error(err))
		}
		_ = es.event("unavailable", liveEvent{Text: pg.T("live.unavailable")}, liveUnavailableRetry)
	}
}

// pumpEvents sends the watch's changes, and heartbeats while there are
// none, until the client goes away, the watch ends, or the session's token
// expires (then the browser reconnects, and the session is renewed).
func (c *Console) pumpEvents(ctx context.Context, es *eventStream, pg page, s *session,
	stream requestv1.RequestService_WatchRequestsClient) {
	changes := make(chan *requestv1.WatchRequestsResponse)
	ended := make(chan error, 1)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				ended <- err
				return
			}
			select {
			case changes <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	// The stream ends with the session's token or with the session
	// itself, whichever is first: the reconnection renews the one or
	// finds the other over.
	left := min(time.Until(time.Unix(s.Expiry, 0)), time.Until(time.Unix(s.Started, 0).Add(c.cfg.MaxSessionAge)))
	expiry := time.NewTimer(max(left, liveMinStream))
	defer expiry.Stop()
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-changes:
			if es.event("change", c.liveChange(pg, msg), 0) != nil {
				return
			}
		case <-beat.C:
			if es.write([]byte(": heartbeat\n\n")) != nil {
				return
			}
		case <-expiry.C:
			// The browser reconnects after liveRetry, with the cookie,
			// and the session's token is renewed on that connection.
			return
		case err := <-ended:
			if status.Code(err) == codes.ResourceExhausted {
				_ = es.event("busy", liveEvent{Text: pg.T("live.busy")}, liveBusyRetry)
			}
			// Any other end (the token no longer accepted, a change
			// missed by a slow client, the service restarting): the
			// browser reconnects and the page catches up on "ready".
			return
		}
	}
}

// liveChange is the event of a status change, announced in the user's
// language.
func (c *Console) liveChange(pg page, msg *requestv1.WatchRequestsResponse) liveEvent {
	st := msg.GetChange().GetToStatus()
	ref := firstNonEmpty(msg.GetReference(), msg.GetRequest())
	return liveEvent{
		Text:      pg.T("live.changed", map[string]any{"Reference": ref, "Status": pg.T("status." + st.String())}),
		Reference: ref, Status: st.String(),
	}
}
