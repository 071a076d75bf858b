package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/request"
)

// restWatch is a watch opened through REST: the status it was answered
// with, and the lines it delivers until it ends (lines is then closed).
type restWatch struct {
	status int
	// refusal is the error body of a watch that was not opened.
	refusal map[string]any
	lines   chan map[string]any
	cancel  func()
}

// openWatch opens GET /v1/requests:watch with token; the watch is closed
// when the test ends, or by cancel.
func openWatch(t *testing.T, s *suite, token string) restWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", s.baseURL+"/v1/requests:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	w := restWatch{status: resp.StatusCode, lines: make(chan map[string]any, 64), cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&w.refusal)
		close(w.lines)
		return w
	}
	go func() {
		defer resp.Body.Close()
		defer close(w.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				w.lines <- m
			}
		}
	}()
	return w
}

// end waits until the watch ends, at most until deadline, and returns the
// error it ended with ({"code": …, "message": …}) and when it ended; it
// fails the test if the watch is still open at the deadline.
func (w restWatch) end(t *testing.T, deadline time.Time) (map[string]any, time.Time) {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var last map[string]any
	for {
		select {
		case m, ok := <-w.lines:
			if !ok {
				e, _ := last["error"].(map[string]any)
				return e, time.Now()
			}
			last = m
		case <-timer.C:
			t.Fatalf("the watch was still open at %s", deadline.Format(time.TimeOnly))
		}
	}
}

// TestHostileWatchOutlivesToken: a watch opened with a token that expires
// a few seconds later must end once the token is no longer accepted (its
// expiry plus the verifier's 30s leeway), saying so; it used to go on
// delivering for ever.
func TestHostileWatchOutlivesToken(t *testing.T) {
	t.Parallel()
	s := startSuite(t, suiteOptions{})
	issued := time.Now()
	short, err := identity.MintDevToken(s.dataDir, identity.TokenRequest{
		Agency: "kz-gpo", Roles: []identity.Role{identity.CentralAuthority}, TTL: 2 * time.Second,
	}, issued)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(issued.Unix()+2, 0)
	w := openWatch(t, s, short)
	if w.status != http.StatusOK {
		t.Fatalf("watch with a fresh token = %d %v", w.status, w.refusal)
	}
	const leeway = 30 * time.Second
	noLongerAccepted := exp.Add(leeway)
	// The watch must end soon after the token stops being accepted: end
	// fails the test if it is still open 10s later.
	e, ended := w.end(t, noLongerAccepted.Add(10*time.Second))
	if ended.Before(noLongerAccepted) {
		t.Errorf("the watch ended at %s, before its token stopped being accepted at %s (expiry %s plus the leeway)",
			ended.Format(time.TimeOnly), noLongerAccepted.Format(time.TimeOnly), exp.Format(time.TimeOnly))
	}
	msg, _ := e["message"].(string)
	wantSince := "no longer accepted since " + noLongerAccepted.UTC().Format(time.RFC3339)
	if e["code"] != float64(16) || !strings.Contains(msg, wantSince) || !strings.Contains(msg, "sign in again") {
		t.Errorf("the watch ended with %v; want UNAUTHENTICATED (16) saying the token is %s and to sign in again", e, wantSince)
	}
}

// TestHostileWatchOutlivesAgency: a watch of a user whose agency a directory
// administrator deactivates must end, saying so.
func TestHostileWatchOutlivesAgency(t *testing.T) {
	t.Parallel()
	s := startSuite(t, suiteOptions{watch: request.WatchLimits{AgencyCheck: 200 * time.Millisecond}})
	liaison := s.token("kz-police-cyber", identity.LiaisonOfficer)
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	w := openWatch(t, s, liaison)
	if w.status != http.StatusOK {
		t.Fatalf("watch = %d %v", w.status, w.refusal)
	}
	if r := s.do("POST", "/v1/agencies/kz-police-cyber:deactivate", admin, s.withEtag("kz-police-cyber", admin, nil)); r.status != http.StatusOK {
		t.Fatalf("deactivate kz-police-cyber = %d %s", r.status, r.raw)
	}
	e, _ := w.end(t, time.Now().Add(30*time.Second))
	msg, _ := e["message"].(string)
	if e["code"] != float64(16) || !strings.Contains(msg, "kz-police-cyber") || !strings.Contains(msg, "deactivated") {
		t.Errorf("the watch ended with %v; want UNAUTHENTICATED (16) saying agency kz-police-cyber was deactivated", e)
	}
}

// TestHostileWatchOutlivesAgencyKind: a watch of a user whose agency a
// directory administrator changes to a kind where the user's role does not
// count (DESIGN §3's table) must end, saying so; the watch used to go on,
// though every new call of that user is refused.
func TestHostileWatchOutlivesAgencyKind(t *testing.T) {
	t.Parallel()
	s := startSuite(t, suiteOptions{watch: request.WatchLimits{AgencyCheck: 200 * time.Millisecond}})
	liaison := s.token("kz-police-cyber", identity.LiaisonOfficer)
	// Only a directory_admin of the oversight agency may make an agency
	// OVERSIGHT (it decides who may change the state's witness).
	admin := s.token("kz-oversight", identity.DirectoryAdmin)
	w := openWatch(t, s, liaison)
	if w.status != http.StatusOK {
		t.Fatalf("watch = %d %v", w.status, w.refusal)
	}
	if r := s.do("PATCH", "/v1/agencies/kz-police-cyber?updateMask=kind", admin, s.withEtag("kz-police-cyber", admin, map[string]any{"kind": "OVERSIGHT"})); r.status != http.StatusOK {
		t.Fatalf("make kz-police-cyber an OVERSIGHT agency = %d %s", r.status, r.raw)
	}
	e, _ := w.end(t, time.Now().Add(30*time.Second))
	msg, _ := e["message"].(string)
	if e["code"] != float64(16) || !strings.Contains(msg, "kz-police-cyber is now of kind OVERSIGHT") || !strings.Contains(msg, `"liaison_officer"`) {
		t.Errorf("the watch ended with %v; want UNAUTHENTICATED (16) saying kz-police-cyber is now of kind OVERSIGHT, where liaison_officer does not count", e)
	}
}

// TestHostileWatchBounds: the open watches of a user and of an agency are
// bounded (1,000 from one agency used to be accepted); the watch over the
// bound is refused with 429 naming the bound, and a closed watch frees its
// place.
func TestHostileWatchBounds(t *testing.T) {
	s := startSuite(t, suiteOptions{watch: request.WatchLimits{PerUser: 2, PerAgency: 3}})
	ca := s.token("kz-gpo", identity.CentralAuthority)
	liaison := s.token("kz-gpo", identity.LiaisonOfficer)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	other := s.token("uz-gpo", identity.LiaisonOfficer)

	refused := func(w restWatch, bound string) {
		t.Helper()
		msg, _ := w.refusal["message"].(string)
		if w.status != http.StatusTooManyRequests || !strings.Contains(msg, bound) {
			t.Errorf("watch over the bound = %d %v; want 429 naming %s", w.status, w.refusal, bound)
		}
	}
	var open []restWatch
	for _, tok := range []string{ca, ca, liaison} {
		w := openWatch(t, s, tok)
		if w.status != http.StatusOK {
			t.Fatalf("watch %d within the bounds = %d %v", len(open)+1, w.status, w.refusal)
		}
		open = append(open, w)
	}
	refused(openWatch(t, s, ca), "--watch-streams-per-user")
	refused(openWatch(t, s, prosecutor), "--watch-streams-per-agency")
	if w := openWatch(t, s, other); w.status != http.StatusOK {
		t.Errorf("a watch of another agency = %d %v; want 200: the bound is per agency", w.status, w.refusal)
	}

	// Closing a watch frees its place once the service sees it closed.
	open[2].cancel()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w := openWatch(t, s, prosecutor)
		if w.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a watch after one was closed = %d %v; want 200", w.status, w.refusal)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostileWatchStuckClient: a gRPC client that opens a watch and never
// reads it, while changes pile up, blocks the service's send. Such a stream
// must keep counting against its user's bound for as long as it is open
// (stuck streams used to be forgotten while their goroutine, stream and
// connection stayed), and it must still end once its token is no longer
// accepted (a blocked send used to keep it open for ever).
func TestHostileWatchStuckClient(t *testing.T) {
	t.Parallel()
	const perUser = 3
	s := startSuite(t, suiteOptions{watch: request.WatchLimits{PerUser: perUser, Poll: 20 * time.Millisecond}})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	kzCA := s.token("kz-gpo", identity.CentralAuthority)
	// The stuck stream's token is the same user's, short-lived.
	issued := time.Now()
	short, err := identity.MintDevToken(s.dataDir, identity.TokenRequest{
		Agency: "kz-gpo", Roles: []identity.Role{identity.Prosecutor}, TTL: 5 * time.Second,
	}, issued)
	if err != nil {
		t.Fatal(err)
	}
	const leeway = 30 * time.Second
	noLongerAccepted := time.Unix(issued.Unix()+5, 0).Add(leeway)

	// Fixed 64 KiB flow-control windows: the client takes no more than
	// that of a stream it does not read.
	conn, err := grpcclient.New(s.addrs["request"], grpcclient.Options{TLS: s.ids[mtls.Gateway], Server: "comity-request",
		Extra: []grpc.DialOption{grpc.WithInitialWindowSize(1 << 16), grpc.WithInitialConnWindowSize(1 << 16)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+short)
	stuck, err := requestv1.NewRequestServiceClient(conn).WatchRequests(ctx, &requestv1.WatchRequestsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := stuck.Header(); err != nil || len(h.Get("comity-watch-started")) == 0 {
		t.Fatalf("the stuck watch did not start: %v %v", h, err)
	}

	// 80 changes, half of them with a 4,000-character reason the owning
	// prosecutor may read: far more than the windows and the service's
	// write buffer take, far fewer than the feed buffers for one stream.
	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	path := "/v1/" + r.body["name"].(string)
	reason := strings.Repeat("r", 4000)
	for range 40 {
		s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, http.StatusOK)
		s.mustDo("POST", path+":return", kzCA, map[string]any{"reason": reason}, http.StatusOK)
	}
	if time.Now().After(noLongerAccepted.Add(-5 * time.Second)) {
		t.Fatal("the changes took so long that the stuck watch's token is about to expire; the test cannot tell anything")
	}

	// The stuck stream still counts: the user may open perUser-1 more.
	for i := range perUser - 1 {
		if w := openWatch(t, s, prosecutor); w.status != http.StatusOK {
			t.Fatalf("watch %d of %d beside the stuck one = %d %v", i+2, perUser, w.status, w.refusal)
		}
	}
	w := openWatch(t, s, prosecutor)
	msg, _ := w.refusal["message"].(string)
	if w.status != http.StatusTooManyRequests || !strings.Contains(msg, "--watch-streams-per-user") {
		t.Errorf("a watch over the bound while the stuck one is open = %d %v; want 429 naming --watch-streams-per-user", w.status, w.refusal)
	}

	// Once its token is no longer accepted, the stuck stream ends and its
	// place is free.
	deadline := noLongerAccepted.Add(15 * time.Second)
	for {
		w := openWatch(t, s, prosecutor)
		if w.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a watch after the stuck one's token expired = %d %v; want 200: the stuck watch still holds its place", w.status, w.refusal)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if time.Now().Before(noLongerAccepted) {
		t.Errorf("the stuck watch's place was freed at %s, before its token stopped being accepted at %s",
			time.Now().Format(time.TimeOnly), noLongerAccepted.Format(time.TimeOnly))
	}
	// Reading it now, the client gets what was sent, then why it ended.
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := stuck.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "no longer accepted") {
			t.Errorf("the stuck watch ended with %v; want UNAUTHENTICATED saying the token is no longer accepted", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck watch, read at last, had not ended 30s later")
	}
}
