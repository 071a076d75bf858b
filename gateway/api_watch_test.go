package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// watchEvent is one line of GET /v1/requests:watch: its result, or the
// error that ended the stream.
type watchEvent struct {
	result map[string]any
	err    map[string]any
}

// change returns the event's request name and the status it changed to.
func (e watchEvent) change() (name, to string) {
	name, _ = e.result["request"].(string)
	c, _ := e.result["change"].(map[string]any)
	to, _ = c["toStatus"].(string)
	return name, to
}

// snapshot returns the request as it was right after the event's change.
func (e watchEvent) snapshot() map[string]any {
	m, _ := e.result["snapshot"].(map[string]any)
	return m
}

// openWatch opens GET /v1/requests:watch?query as token, and returns its
// events; the watch has started (every later change reaches it) when it
// returns. It ends with the test.
func (s *suite) openWatch(t *testing.T, token, query string) <-chan watchEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", s.baseURL+"/v1/requests:watch?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("watch?%s = %d; want 200", query, resp.StatusCode)
	}
	events := make(chan watchEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			e := watchEvent{}
			e.result, _ = m["result"].(map[string]any)
			e.err, _ = m["error"].(map[string]any)
			events <- e
		}
	}()
	return events
}

// nextEvent returns the next event of a watch, failing when none comes in
// 10s or the watch ends.
func nextEvent(t *testing.T, events <-chan watchEvent, who string) watchEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatalf("the watch of %s ended", who)
		}
		if e.err != nil {
			t.Fatalf("the watch of %s ended with %v", who, e.err)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("the watch of %s got nothing in 10s", who)
	}
	return watchEvent{}
}

// noEvent fails when a watch gets an event within wait.
func noEvent(t *testing.T, events <-chan watchEvent, who string, wait time.Duration) {
	t.Helper()
	select {
	case e, ok := <-events:
		if ok {
			name, to := e.change()
			t.Errorf("the watch of %s got a change of %s to %s (%v); want none", who, name, to, e.err)
		}
	case <-time.After(wait):
	}
}

// TestWatchRequestedSideFromTransmission is issue 12's case: a request is
// created, submitted and transmitted within 100 ms. The UZ liaison officer
// watching used to receive its DRAFT and SUBMITTED changes, because the
// watch decided on the request as it was when it read the changes
// (transmitted). Each change is now decided on the request as it was then:
// the requested side's changes start with the transmission; the requesting
// side's central authority gets all three. Each event carries the request
// as it was right after its change, as a list shows it.
func TestWatchRequestedSideFromTransmission(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
			prosecutor := s.token("kz-gpo", identity.Prosecutor)
			kzCA := s.token("kz-gpo", identity.CentralAuthority)
			uzCA := s.token("uz-247", identity.CentralAuthority)
			liaison := s.openWatch(t, s.token("uz-gpo", identity.LiaisonOfficer), "")
			requesting := s.openWatch(t, kzCA, "")

			start := time.Now()
			name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
			s.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
			s.mustDo("POST", "/v1/"+name+":transmit", kzCA, map[string]any{}, 200)
			if d := time.Since(start); d > time.Second {
				t.Logf("create, submit and transmit took %v; the case is about 100 ms", d)
			}
			s.mustDo("POST", "/v1/"+name+":acknowledge", uzCA, map[string]any{}, 200)

			for _, want := range []string{"DRAFT", "SUBMITTED", "TRANSMITTED", "ACKNOWLEDGED"} {
				e := nextEvent(t, requesting, "the KZ central authority")
				if n, to := e.change(); n != name || to != want {
					t.Fatalf("the KZ central authority got a change of %s to %s; want %s to %s", n, to, name, want)
				}
				if st, _ := e.snapshot()["status"].(string); st != want {
					t.Errorf("the change to %s carries the request as %q; want it as it was then, %s", want, st, want)
				}
			}
			// Changes arrive in order: a DRAFT or SUBMITTED change sent to
			// the liaison officer would come before the transmission.
			for _, want := range []string{"TRANSMITTED", "ACKNOWLEDGED"} {
				e := nextEvent(t, liaison, "the UZ liaison officer")
				if n, to := e.change(); n != name || to != want {
					t.Fatalf("the UZ liaison officer got a change of %s to %s; want %s to %s (nothing from before the transmission)", n, to, name, want)
				}
				snap := e.snapshot()
				if st, _ := snap["status"].(string); st != want || snap["name"] != name || snap["metadataOnly"] != true {
					t.Errorf("the change to %s carries %v; want the request's metadata as %s", want, snap, want)
				}
				if v, _ := snap["factsSummary"].(string); v != "" {
					t.Errorf("a watch event carries the request's narrative: %v", snap)
				}
			}
			noEvent(t, liaison, "the UZ liaison officer", 500*time.Millisecond)
		})
	}
}

// TestWatchFilter: a watch takes the list's filter and applies it to each
// change against the request as it was right after the change, so that
// `status = TRANSMITTED` gives the transmissions even of requests that have
// moved on by the time the watch reads them; a bad filter is refused with
// the list's words.
func TestWatchFilter(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
			prosecutor := s.token("kz-gpo", identity.Prosecutor)
			kzCA := s.token("kz-gpo", identity.CentralAuthority)
			uzCA := s.token("uz-247", identity.CentralAuthority)
			transmitted := s.openWatch(t, kzCA, "filter="+url.QueryEscape(`status = TRANSMITTED AND requestedState = "UZ"`))
			drafts := s.openWatch(t, kzCA, "filter="+url.QueryEscape(`status = DRAFT`))

			var names []string
			for range 2 {
				name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
				s.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
				s.mustDo("POST", "/v1/"+name+":transmit", kzCA, map[string]any{}, 200)
				s.mustDo("POST", "/v1/"+name+":acknowledge", uzCA, map[string]any{}, 200)
				names = append(names, name)
			}
			for _, w := range []struct {
				events <-chan watchEvent
				want   string
			}{{transmitted, "TRANSMITTED"}, {drafts, "DRAFT"}} {
				var got []string
				for range names {
					n, to := nextEvent(t, w.events, "the filtered watch").change()
					if to != w.want {
						t.Errorf("the watch filtered on %s got a change to %s", w.want, to)
					}
					got = append(got, n)
				}
				if !slices.Equal(got, names) {
					t.Errorf("the watch filtered on %s got changes of %v; want %v", w.want, got, names)
				}
				noEvent(t, w.events, "the watch filtered on "+w.want, 300*time.Millisecond)
			}

			for _, bad := range []string{`stauts = DRAFT`, `status = DRAFTED`, `status =`} {
				list := s.do("GET", "/v1/requests?filter="+url.QueryEscape(bad), kzCA, nil)
				watch := s.do("GET", "/v1/requests:watch?filter="+url.QueryEscape(bad), kzCA, nil)
				if watch.status != http.StatusBadRequest || watch.message() == "" || watch.message() != list.message() ||
					!slices.Equal(watch.violations(), list.violations()) {
					t.Errorf("watch with filter %q = %d %s %v; want 400 with the list's words: %d %s %v",
						bad, watch.status, watch.message(), watch.violations(), list.status, list.message(), list.violations())
				}
			}
		})
	}
}
