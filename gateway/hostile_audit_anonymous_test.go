package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/trail"
)

// 2,000 refused calls with no token or a token that does not verify, from
// two client addresses, used to write 2,000 events to the permanent log
// (issue 10, item 10). They are now counted (a metric by method and reason,
// a log line per client address and minute) and recorded as one aggregate
// event per service, client address and minute, whose counts add up to the
// calls. A client cannot choose the address it is counted under: the
// gateway's own view of it is what counts, not its X-Forwarded-For.
func TestHostileAnonymousCallsAreAggregated(t *testing.T) {
	obs, logs := observer.New(zapcore.WarnLevel)
	reg := prometheus.NewRegistry()
	s := startSuite(t, suiteOptions{logger: zap.New(obs), metrics: reg})

	clientFrom := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}}
	}
	// What each call sends: a path of each producing service, and each
	// kind of anonymous refusal.
	type call struct{ method, path, auth string }
	kinds := []call{
		{"GET", "/v1/requests/01a24ee8-49ec-794f-8195-d356e92d03fc", ""},
		{"POST", "/v1/agencies/kz-gpo:deactivate", "Bearer not-a-jwt"},
		{"GET", "/v1/requests/" + strings.Repeat("A", 300), "Basic a2F6OmFi"},
		{"POST", "/v1/agencies/" + strings.Repeat("b", 400) + ":deactivate", ""},
	}
	const total = 2000
	from := map[string]int{"127.0.0.1": 1500, "127.0.0.2": 500}
	want := map[string]map[string]uint64{} // service → address → calls
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	begin := time.Now()
	for addr, calls := range from {
		client := clientFrom(addr)
		jobs := make(chan call)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range jobs {
					req, err := http.NewRequest(c.method, s.baseURL+c.path, strings.NewReader("{}"))
					if err != nil {
						t.Error(err)
						continue
					}
					if c.auth != "" {
						req.Header.Set("Authorization", c.auth)
					}
					// A lie the services must not believe.
					req.Header.Set("X-Forwarded-For", "203.0.113.9")
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("%s %s with %q = %d; want 401", c.method, c.path[:min(len(c.path), 40)], c.auth, resp.StatusCode)
					}
				}
			}()
		}
		for range calls {
			c := kinds[n%len(kinds)]
			n++
			service := "comity-request"
			if strings.HasPrefix(c.path, "/v1/agencies/") {
				service = "comity-directory"
			}
			mu.Lock()
			if want[service] == nil {
				want[service] = map[string]uint64{}
			}
			want[service][addr]++
			mu.Unlock()
			jobs <- c
		}
		close(jobs)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// The minutes the calls were made in, and the one of the shutdown.
	minutes := int(time.Now().Truncate(time.Minute).Sub(begin.Truncate(time.Minute))/time.Minute) + 2

	// The metric counts every call, by method and reason.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted, reasons := 0.0, map[string]float64{}
	for _, f := range families {
		if f.GetName() != "comity_unauthenticated_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			counted += m.GetCounter().GetValue()
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					reasons[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if counted != total {
		t.Errorf("comity_unauthenticated_calls_total adds up to %v; want %d", counted, total)
	}
	if reasons["no_token"] != total/2 || reasons["invalid_token"] != total/4 || reasons["malformed_header"] != total/4 {
		t.Errorf("unauthenticated calls by reason = %v; want no_token %d, invalid_token and malformed_header %d each", reasons, total/2, total/4)
	}

	// The services record the minute under way when they stop; read what
	// they wrote to their outboxes, delivered or not.
	s.stop()
	type key struct {
		service, address string
		minute           time.Time
	}
	seen := map[key]bool{}
	got := map[string]map[string]uint64{}
	events, single := 0, 0
	for _, db := range []string{"request.db", "directory.db"} {
		for _, e := range outboxEvents(t, filepath.Join(s.dataDir, db)) {
			if e.Outcome != "UNAUTHENTICATED" {
				continue
			}
			events++
			if e.Action != trail.UnauthenticatedCallsAction || e.Count == 0 {
				if single++; single == 1 {
					t.Errorf("%s recorded an unauthenticated call on its own: %+v", e.Service, e)
				}
				continue
			}
			k := key{e.Service, e.Actor.Address, e.Time.Truncate(time.Minute)}
			if seen[k] {
				t.Errorf("two aggregate events of %v", k)
			}
			seen[k] = true
			if got[e.Service] == nil {
				got[e.Service] = map[string]uint64{}
			}
			got[e.Service][e.Actor.Address] += e.Count
		}
	}
	if single > 0 {
		t.Errorf("%d unauthenticated calls were recorded one event each", single)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the aggregate events count %v (service → client address → calls); want %v", got, want)
	}
	if most := 2 * len(from) * minutes; events > most {
		t.Errorf("%d calls wrote %d events; want at most %d (one per service, client address and minute)", total, events, most)
	}
	var lines []string
	for _, l := range logs.FilterMessage("unauthenticated calls").All() {
		lines = append(lines, fmt.Sprint(l.ContextMap()["client"]))
	}
	if len(lines) != events {
		t.Errorf("%d log lines of unauthenticated calls (clients %v); want one per aggregate event (%d)", len(lines), lines, events)
	}
}

// outboxEvents returns every event of a service's SQLite outbox.
func outboxEvents(t *testing.T, path string) []trail.Event {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Read.Query(`SELECT event FROM audit_outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []trail.Event
	for rows.Next() {
		var doc string
		var e trail.Event
		if err := rows.Scan(&doc); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
