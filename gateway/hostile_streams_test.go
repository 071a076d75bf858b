package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
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
	e, ended := w.end(t, exp.Add(leeway+30*time.Second))
	if ended.Before(exp) {
		t.Errorf("the watch ended at %s, before its token expired at %s", ended.Format(time.TimeOnly), exp.Format(time.TimeOnly))
	}
	msg, _ := e["message"].(string)
	if e["code"] != float64(16) || !strings.Contains(msg, "token expired") || !strings.Contains(msg, "sign in again") {
		t.Errorf("the watch ended with %v; want UNAUTHENTICATED (16) saying the token expired and to sign in again", e)
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
