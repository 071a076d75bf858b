package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

var rowPattern = regexp.MustCompile(`<tr data-request="([^"]+)"`)

// rows are the references of the request rows of a page, in order.
func rows(page string) []string {
	var out []string
	for _, m := range rowPattern.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, data string
	retry      int
}

// sseStream reads the events of /liaison/events.
type sseStream struct {
	events chan sseEvent
	// done is closed when the server ends the stream.
	done   chan struct{}
	cancel context.CancelFunc
	resp   *http.Response
	// heartbeats counts the comments the server sent.
	heartbeats atomic.Int32
}

// events opens the live updates' stream with the client's cookies.
func (u *consoleUser) events() *sseStream {
	u.t.Helper()
	return openEvents(u.t, u.http, u.base)
}

func openEvents(t testing.TB, c *http.Client, base string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/liaison/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	// The client's own timeout would cut a long-lived stream.
	sc := &http.Client{Jar: c.Jar, Transport: english{}}
	resp, err := sc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /liaison/events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET /liaison/events = %d %s, want 200 and an event stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{events: make(chan sseEvent, 100), done: make(chan struct{}), cancel: cancel, resp: resp}
	t.Cleanup(s.close)
	go s.read()
	return s
}

func (s *sseStream) read() {
	defer close(s.done)
	sc := bufio.NewScanner(s.resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.heartbeats.Add(1)
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
			ev.retry, _ = strconv.Atoi(strings.TrimPrefix(line, "retry: "))
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
	<-s.done
}

// next returns the next event, or fails after wait.
func (s *sseStream) next(t *testing.T, wait time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.done:
		select {
		case ev := <-s.events:
			return ev
		default:
		}
		t.Fatal("the event stream ended before the next event")
	case <-time.After(wait):
		t.Fatalf("no event within %s", wait)
	}
	return sseEvent{}
}

// await returns the first event for which ok holds, or fails after wait.
func (s *sseStream) await(t *testing.T, wait time.Duration, what string, ok func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-s.events:
			if ok(ev) {
				return ev
			}
		case <-s.done:
			t.Fatalf("the event stream ended before %s", what)
		case <-deadline:
			t.Fatalf("no %s within %s", what, wait)
		}
	}
}

// ended reports whether the server ends the stream within wait.
func (s *sseStream) ended(wait time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(wait):
		return false
	}
}

// TestConsoleLiaison exercises the liaison officer's dashboard, its live
// updates and the statistics page over plain HTTP: the filters select the
// requests the service says, a bad filter is refused in words beside the
// form, a change made through the API arrives on the event stream of the
// officers of its states and of no other, a session that is not one is told
// so, the service's bound on watches is reported instead of retried at
// once, and the statistics' charts hold the service's figures.
func TestConsoleLiaison(t *testing.T) {
	cs := startConsoleSuite(t)
	prosecutor := cs.token("kz-gpo", identity.Prosecutor)
	kzCA := cs.token("kz-gpo", identity.CentralAuthority)
	uzCA := cs.token("uz-247", identity.CentralAuthority)

	create := func(body map[string]any) (name, ref string) {
		t.Helper()
		r := cs.mustDo("POST", "/v1/requests", prosecutor, body, 200)
		name, _ = r.body["name"].(string)
		ref, _ = r.body["reference"].(string)
		return name, ref
	}
	step := func(name, token, action string) {
		t.Helper()
		cs.mustDo("POST", "/v1/"+name+":"+action, token, map[string]any{}, 200)
	}
	// A draft, a transmitted and an acknowledged preservation to UZ, a
	// routine subscriber information request to UZ, and a request to TJ.
	_, draft := create(gatewaytest.Preservation())
	sent, transmitted := create(gatewaytest.Preservation())
	step(sent, prosecutor, "submit")
	step(sent, kzCA, "transmit")
	acked, acknowledged := create(gatewaytest.Preservation())
	step(acked, prosecutor, "submit")
	step(acked, kzCA, "transmit")
	step(acked, uzCA, "acknowledge")
	sub := gatewaytest.Preservation()
	sub["type"], sub["priority"] = "SUBSCRIBER_INFORMATION", "ROUTINE"
	subName, subscriber := create(sub)
	step(subName, prosecutor, "submit")
	step(subName, kzCA, "transmit")
	tj := gatewaytest.Preservation()
	tj["requestedState"] = "TJ"
	_, toTJ := create(tj)

	kz := cs.signInHTTP(t, "kz-gpo", "liaison_officer")
	uz := cs.signInHTTP(t, "uz-gpo", "liaison_officer")

	t.Run("filters", func(t *testing.T) {
		for _, c := range []struct {
			who   *consoleUser
			query string
			want  []string
		}{
			{kz, "", []string{draft, transmitted, acknowledged, subscriber, toTJ}},
			{kz, "?status=TRANSMITTED", []string{transmitted, subscriber}},
			{kz, "?status=ACKNOWLEDGED", []string{acknowledged}},
			{kz, "?type=SUBSCRIBER_INFORMATION", []string{subscriber}},
			{kz, "?priority=URGENT&status=TRANSMITTED", []string{transmitted}},
			{kz, "?state=TJ", []string{toTJ}},
			{kz, "?state=UZ&status=DRAFT", []string{draft}},
			{kz, "?overdue=false", []string{draft, transmitted, acknowledged, subscriber, toTJ}},
			{kz, "?overdue=true", nil},
			// The requested side sees what was transmitted to it only.
			{uz, "", []string{transmitted, acknowledged, subscriber}},
			{uz, "?state=KZ&type=DATA_PRESERVATION", []string{transmitted, acknowledged}},
		} {
			code, page := c.who.fetch("/liaison" + c.query)
			if code != http.StatusOK {
				t.Errorf("/liaison%s = %d, want 200", c.query, code)
				continue
			}
			got := rows(page)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("/liaison%s shows %v, want %v", c.query, got, want)
			}
			if len(c.want) == 0 && !strings.Contains(page, "No request matches these filters.") {
				t.Errorf("/liaison%s shows no request but does not say that none matches", c.query)
			}
		}
		// The filter form keeps the user's choices.
		_, page := kz.fetch("/liaison?status=TRANSMITTED&state=UZ")
		for _, want := range []string{`<option value="TRANSMITTED" selected>`, `<option value="UZ" selected>`} {
			if !strings.Contains(page, want) {
				t.Errorf("the filtered dashboard does not keep the choice %s", want)
			}
		}
		// Without a filter on overdue, the requests not overdue are their
		// own part, after the overdue ones (none here).
		if _, page := kz.fetch("/liaison"); !strings.Contains(page, `id="requests-others"`) || strings.Contains(page, `id="requests-overdue"`) {
			t.Error("the dashboard does not show its requests in the part of those not overdue")
		}
		// The live updates fetch the results alone.
		req, _ := http.NewRequest(http.MethodGet, kz.base+"/liaison?status=ACKNOWLEDGED", nil)
		req.Header.Set("HX-Request", "true")
		resp, err := kz.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(strings.TrimSpace(string(body)), `<div id="liaison-results"`) || !slices.Equal(rows(string(body)), []string{acknowledged}) {
			t.Errorf("the results fragment reads %.300s", body)
		}
	})

	t.Run("paging", func(t *testing.T) {
		// Pages come from the service's page tokens: with more requests
		// than a page holds, the next page shows the rest, once each.
		for len(rows(kz.mustGet(t, "/liaison?status=DRAFT"))) < 50 {
			create(gatewaytest.Preservation())
		}
		create(gatewaytest.Preservation())
		first := kz.mustGet(t, "/liaison?status=DRAFT")
		next := regexp.MustCompile(`href="([^"]+)" data-page="next"`).FindStringSubmatch(first)
		if len(rows(first)) != 50 || next == nil {
			t.Fatalf("the first page of 51 drafts shows %d rows and next link %v", len(rows(first)), next)
		}
		second := kz.mustGet(t, html.UnescapeString(next[1]))
		if !strings.Contains(second, `data-page="first"`) || strings.Contains(second, `data-page="next"`) {
			t.Error("the last page does not link to the first only")
		}
		all := append(rows(first), rows(second)...)
		slices.Sort(all)
		if len(all) != 51 || len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Errorf("the two pages show %d rows, %d distinct, want every draft once", len(all), len(slices.Compact(slices.Clone(all))))
		}
		if !strings.Contains(first, "51 in all") {
			t.Error("the dashboard does not say how many requests match")
		}
		// A token that is not the service's is refused in its words.
		code, page := kz.fetch("/liaison?page=bm90LWEtdG9rZW4")
		if code != http.StatusBadRequest || !strings.Contains(page, "data-filter-error") || !strings.Contains(page, "not a page token issued for this query") {
			t.Errorf("a forged page token: %d, want 400 with the service's words; page: %.400s", code, errorPart(page))
		}
	})

	t.Run("bad filter", func(t *testing.T) {
		code, page := kz.fetch("/liaison?status=NOPE&type=SUBSCRIBER_INFORMATION")
		if code != http.StatusBadRequest {
			t.Errorf("an unknown status = %d, want 400", code)
		}
		msg := errorPart(page)
		if !strings.Contains(msg, "The request service refused these filters") || !strings.Contains(msg, "NOPE") {
			t.Errorf("an unknown status is not explained: %q", msg)
		}
		t.Logf("an unknown status reads: %s", strings.Join(strings.Fields(msg), " "))
		if len(rows(page)) != 0 {
			t.Error("a refused filter still shows requests")
		}
		// The form keeps what was asked, the unknown value included.
		for _, want := range []string{`<option value="NOPE" selected>`, `<option value="SUBSCRIBER_INFORMATION" selected>`} {
			if !strings.Contains(page, want) {
				t.Errorf("the refused filter form lost %s", want)
			}
		}
		if code, page := kz.fetch("/liaison?overdue=maybe"); code != http.StatusBadRequest || !strings.Contains(errorPart(page), "overdue") {
			t.Errorf("overdue=maybe = %d, %q", code, errorPart(page))
		}
	})

	t.Run("live updates", func(t *testing.T) {
		uzStream := uz.events()
		if ev := uzStream.next(t, 10*time.Second); ev.name != "ready" || ev.retry <= 0 {
			t.Fatalf("the stream opened with %+v, want ready with a retry", ev)
		}
		tjStream := cs.signInHTTP(t, "tj-gpo", "liaison_officer").events()
		if ev := tjStream.next(t, 10*time.Second); ev.name != "ready" {
			t.Fatalf("the TJ stream opened with %+v", ev)
		}
		name, ref := create(gatewaytest.Preservation())
		step(name, prosecutor, "submit")
		step(name, kzCA, "transmit")
		uzStream.await(t, 15*time.Second, "transmission of "+ref, func(ev sseEvent) bool {
			return ev.name == "change" && strings.Contains(ev.data, `"reference":"`+ref+`"`) && strings.Contains(ev.data, `"status":"TRANSMITTED"`)
		})
		step(name, uzCA, "acknowledge")
		ev := uzStream.await(t, 15*time.Second, "acknowledgement of "+ref, func(ev sseEvent) bool {
			return ev.name == "change" && strings.Contains(ev.data, `"status":"ACKNOWLEDGED"`) && strings.Contains(ev.data, ref)
		})
		if want := ref + " is now Acknowledged"; !strings.Contains(ev.data, want) {
			t.Errorf("the change event reads %s, want the announcement %q", ev.data, want)
		}
		// The TJ officer's stream was fed the same history: nothing of it.
		time.Sleep(time.Second)
		for len(tjStream.events) > 0 {
			if ev := <-tjStream.events; ev.name == "change" {
				t.Errorf("a TJ liaison officer was sent %s", ev.data)
			}
		}
	})

	t.Run("no session", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			cookie *http.Cookie
		}{
			{"no cookie", nil},
			{"forged cookie", &http.Cookie{Name: "comity-session", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		} {
			jar, _ := cookiejar.New(nil)
			if c.cookie != nil {
				u, _ := url.Parse(cs.baseURL)
				jar.SetCookies(u, []*http.Cookie{c.cookie})
			}
			s := openEvents(t, &http.Client{Jar: jar}, cs.baseURL)
			ev := s.next(t, 10*time.Second)
			if ev.name != "ended" || !strings.Contains(ev.data, "Your session has ended") {
				t.Errorf("%s: the stream opened with %+v, want that the session has ended", c.name, ev)
			}
			if !s.ended(5 * time.Second) {
				t.Errorf("%s: the stream did not end", c.name)
			}
		}
	})

	t.Run("watch bound", func(t *testing.T) {
		// The service allows each user 8 watches at once: a further one
		// is told to wait a minute, in words, and not retried at once.
		busy := -1
		for i := range 10 {
			s := uz.events()
			ev := s.next(t, 10*time.Second)
			if ev.name == "ready" {
				continue
			}
			if ev.name != "busy" || ev.retry < 30000 || !strings.Contains(ev.data, "Too many live views") {
				t.Fatalf("stream %d opened with %+v, want busy with a long retry", i, ev)
			}
			busy = i
			t.Logf("watch %d of the user was refused: %s (retry %d ms)", i+1, ev.data, ev.retry)
			break
		}
		if busy < 0 || busy > 8 {
			t.Errorf("the 10th watch of one user was not refused (first refused: %d)", busy)
		}
	})

	t.Run("statistics", func(t *testing.T) {
		api := cs.mustDo("GET", "/v1/statistics", prosecutor, nil, 200)
		var transmittedN, acknowledgedN float64
		var kzUZ map[string]any
		for _, p := range api.body["pairs"].([]any) {
			p := p.(map[string]any)
			if p["requestingState"] == "KZ" && p["requestedState"] == "UZ" {
				kzUZ = p
				by := p["byStatus"].(map[string]any)
				transmittedN, _ = by["TRANSMITTED"].(float64)
				acknowledgedN, _ = by["ACKNOWLEDGED"].(float64)
			}
		}
		if transmittedN < 2 || acknowledgedN < 2 {
			t.Fatalf("the API's statistics of KZ → UZ are unexpected: %s", api.raw)
		}
		code, page := kz.fetch("/statistics")
		if code != 200 {
			t.Fatalf("/statistics = %d", code)
		}
		pair := section(page, `data-pair="KZ-UZ"`)
		if pair == "" {
			t.Fatalf("the statistics page has no part for KZ → UZ: %.500s", page)
		}
		svg := section(pair, `<svg class="chart" id="chart-status-KZ-UZ"`)
		for _, want := range []string{
			`role="img"`, `aria-labelledby="chart-status-KZ-UZ-title chart-status-KZ-UZ-desc"`,
			`<title id="chart-status-KZ-UZ-title">Requests by status, Kazakhstan → Uzbekistan</title>`,
			fmt.Sprintf(`data-label="Transmitted" data-value="%d"`, int(transmittedN)),
			fmt.Sprintf(`data-label="Acknowledged" data-value="%d"`, int(acknowledgedN)),
			fmt.Sprintf(`Transmitted: %d; Acknowledged: %d;`, int(transmittedN), int(acknowledgedN)),
		} {
			if !strings.Contains(svg, want) {
				t.Errorf("the KZ → UZ chart lacks %s: %.800s", want, svg)
			}
		}
		if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") {
			t.Error("the chart has a style attribute or a script")
		}
		table := fmt.Sprintf(`<tr><th scope="row">Transmitted</th><td>%d</td></tr>`, int(transmittedN))
		if !strings.Contains(pair, table) {
			t.Errorf("the figures beside the chart lack %s", table)
		}
		// The medians are the API's durations in hours, and a median of no
		// request (nothing answered yet) says so rather than 0.0 h.
		for _, m := range []struct{ field, figure string }{
			{"medianTimeToAcknowledge", "median-ack"}, {"medianTimeToAnswer", "median-answer"},
			{"meanTimeToAcknowledge", "mean-ack"}, {"meanTimeToAnswer", "mean-answer"},
		} {
			want := "none yet"
			if d, ok := kzUZ[m.field].(string); ok {
				dur, err := time.ParseDuration(d)
				if err != nil {
					t.Fatalf("%s = %q: %v", m.field, d, err)
				}
				want = strconv.FormatFloat(dur.Hours(), 'f', 1, 64) + " h"
				if dur < time.Hour {
					want = strconv.FormatFloat(dur.Minutes(), 'f', 0, 64) + " min"
				}
			}
			if got := figure(pair, m.figure); got != want {
				t.Errorf("the page shows %s %q where the API's %s is %v: want %q", m.figure, got, m.field, kzUZ[m.field], want)
			}
		}
		// Emergency or not, as the API counts them (a count of 0 may be
		// left out): none of these requests is an emergency.
		count := func(field string) int { n, _ := kzUZ[field].(float64); return int(n) }
		if count("emergencyCount") != 0 || count("nonEmergencyCount") < 3 {
			t.Errorf("the API counts %d emergency and %d other requests KZ → UZ; want 0 and 3 or more", count("emergencyCount"), count("nonEmergencyCount"))
		}
		for _, f := range []struct{ field, figure string }{{"emergencyCount", "emergency"}, {"nonEmergencyCount", "not-emergency"}} {
			if got := figure(pair, f.figure); got != strconv.Itoa(count(f.field)) {
				t.Errorf("the page shows %s %q where the API's %s is %d", f.figure, got, f.field, count(f.field))
			}
		}
		// The requests by type of data requested, named as the console
		// names request types, with the figures beside the chart; and no
		// execution item yet.
		cats, _ := kzUZ["byDataCategory"].(map[string]any)
		preservations, _ := cats["DATA_PRESERVATION"].(float64)
		if preservations < 3 {
			t.Fatalf("the API's data categories of KZ → UZ: %v; want DATA_PRESERVATION 3 times or more", cats)
		}
		categories := section(pair, `<svg class="chart" id="chart-categories-KZ-UZ"`)
		for _, want := range []string{
			`<title id="chart-categories-KZ-UZ-title">Requests by data category, Kazakhstan → Uzbekistan</title>`,
			fmt.Sprintf(`data-label="Data preservation" data-value="%d"`, int(preservations)),
		} {
			if !strings.Contains(categories, want) {
				t.Errorf("the KZ → UZ data category chart lacks %s: %.800s", want, categories)
			}
		}
		if row := fmt.Sprintf(`<tr><th scope="row">Data preservation</th><td>%d</td></tr>`, int(preservations)); !strings.Contains(pair, row) {
			t.Errorf("the figures beside the data category chart lack %s", row)
		}
		if outcomes, _ := kzUZ["executionItemsByOutcome"].(map[string]any); len(outcomes) != 0 || !strings.Contains(pair, "<p>No execution items recorded.</p>") ||
			strings.Contains(pair, `id="chart-outcomes-KZ-UZ"`) {
			t.Errorf("with nothing executed, the API gives outcomes %v and the page does not say there are none: %.1500s", kzUZ["executionItemsByOutcome"], pair)
		}
		if !strings.Contains(page, "<p data-period>Requests created from ") {
			t.Errorf("the statistics page does not say which period it counts: %.800s", page)
		}
		// The period form: days in UTC, the last one included. Today holds
		// the requests just filed; tomorrow none.
		today := time.Now().UTC()
		day := func(t time.Time) string { return t.Format("2006-01-02") }
		if code, page := kz.fetch("/statistics?from=" + day(today)); code != 200 || section(page, `data-pair="KZ-UZ"`) == "" {
			t.Errorf("/statistics from today = %d without KZ → UZ: %.500s", code, page)
		}
		tomorrow := today.AddDate(0, 0, 1)
		code, page = kz.fetch("/statistics?from=" + day(tomorrow) + "&to=" + day(tomorrow))
		if want := "Requests created from " + day(tomorrow) + " 00:00 to " + day(tomorrow.AddDate(0, 0, 1)) + " 00:00 (UTC)."; code != 200 ||
			!strings.Contains(page, want) || !strings.Contains(page, "<p data-empty>") || strings.Contains(page, `data-pair=`) {
			t.Errorf("/statistics of tomorrow = %d, want no pair and %q: %.800s", code, want, page)
		}
		for _, tc := range []struct{ query, want string }{
			{"from=2026-02-30", "Enter a date such as 2026-01-31."},
			{"from=2026-03-02&to=2026-03-01", "The period cannot end before the day it starts."},
			{"from=2000-01-01&to=2025-12-31", "is longer than 10 years"},
		} {
			code, page := kz.fetch("/statistics?" + tc.query)
			if code != 400 || !strings.Contains(html.UnescapeString(page), tc.want) || strings.Contains(page, "<p data-period>") {
				t.Errorf("/statistics?%s = %d, want 400 saying %q: %.1500s", tc.query, code, tc.want, page)
			}
		}
		// KZ → TJ holds no transmitted request, so no pair yet; TJ sees
		// no pair of KZ → UZ.
		if _, page := cs.signInHTTP(t, "tj-gpo", "liaison_officer").fetch("/statistics"); strings.Contains(page, `data-pair="KZ-UZ"`) {
			t.Error("a TJ user sees the statistics of KZ → UZ")
		}
	})
}

// errorPart is the filter's error block of a page, its text only.
func errorPart(page string) string {
	block := section(page, `data-filter-error`)
	return html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(block, " "))
}

// section returns page from the element holding marker to the end of that
// element's first closing tag of the same name, or "".
func section(page, marker string) string {
	i := strings.Index(page, marker)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<")
	tag := page[start+1:]
	tag = tag[:strings.IndexAny(tag, " >")]
	end := strings.Index(page[start:], "</"+tag+">")
	if end < 0 {
		return page[start:]
	}
	return page[start : start+end+len(tag)+3]
}

// TestConsoleLiaisonTokenExpiry shows that the live updates outlive the
// access token: an idle stream sends heartbeats, it ends when the session's
// token expires, and the browser's reconnection, with the cookie, gets a
// stream again on a token the console renewed with the refresh token.
func TestConsoleLiaisonTokenExpiry(t *testing.T) {
	const ttl = 20 * time.Second
	cs := startConsoleSuite(t, consoleSuiteOptions{accessTTL: ttl})
	uz := cs.signInHTTP(t, "uz-gpo", "liaison_officer")
	u, _ := url.Parse(cs.baseURL)
	before := sessionCookie(uz.http.Jar.Cookies(u))
	s := uz.events()
	if ev := s.next(t, 10*time.Second); ev.name != "ready" {
		t.Fatalf("the stream opened with %+v", ev)
	}
	started := time.Now()
	if !s.ended(ttl + 15*time.Second) {
		t.Fatal("the stream did not end when its token expired")
	}
	if d := time.Since(started); d < ttl-3*time.Second {
		t.Errorf("the stream ended after %s, before its token expired", d)
	}
	if n := s.heartbeats.Load(); n < 1 {
		t.Errorf("an idle stream of %s sent %d heartbeats, want one every 15s", ttl, n)
	}
	after := sessionCookie(uz.http.Jar.Cookies(u))
	if after == "" || after == before {
		t.Error("the console did not renew the session's token on the stream's connection")
	}
	// The reconnection works on the renewed session, and delivers.
	s2 := uz.events()
	if ev := s2.next(t, 10*time.Second); ev.name != "ready" {
		t.Fatalf("the reconnected stream opened with %+v, want ready", ev)
	}
	prosecutor := cs.token("kz-gpo", identity.Prosecutor)
	name := cs.mustDo("POST", "/v1/requests", prosecutor, gatewaytest.Preservation(), 200).body["name"].(string)
	cs.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
	cs.mustDo("POST", "/v1/"+name+":transmit", cs.token("kz-gpo", identity.CentralAuthority), map[string]any{}, 200)
	s2.await(t, 10*time.Second, "the transmission", func(ev sseEvent) bool {
		return ev.name == "change" && strings.Contains(ev.data, `"status":"TRANSMITTED"`)
	})
}

// sessionCookie is the value of the console's session cookie among cs.
func sessionCookie(cs []*http.Cookie) string {
	for _, c := range cs {
		if c.Name == "comity-session" {
			return c.Value
		}
	}
	return ""
}

// figure returns the text of the statistics figure named name (its dd's
// data-figure), unescaped, or "".
func figure(pair, name string) string {
	m := regexp.MustCompile(`<dd data-figure="` + regexp.QuoteMeta(name) + `">([^<]*)</dd>`).FindStringSubmatch(pair)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}
