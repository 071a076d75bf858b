package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// The console's page benchmark (docs/benchmarks.md): the time the gateway
// takes to answer the console's main pages, by 1 and 32 signed-in sessions
// at once, over a request store of 100,000 requests (the dashboard, a
// request's page, the new-request form), and each page's weight.
// The pages are fetched over HTTP as a browser would (its session cookie,
// no rendering): what is measured is the server's side, from the request's
// first byte to the page's last.

// benchConsoleRequests is the size of the store the dashboard lists 50 of.
const benchConsoleRequests = 100_000

var benchConsoleSessions = []int{1, 32}

// benchPage is a page of the benchmark: its path, relative to the
// console, and the text that proves it was rendered whole.
type benchPage struct {
	name, path, want string
}

func BenchmarkConsolePages(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run("engine="+engine, func(b *testing.B) {
			cb := newConsoleBench(b, engine)
			for _, pg := range cb.pages {
				for _, sessions := range benchConsoleSessions {
					b.Run(fmt.Sprintf("page=%s/sessions=%d", pg.name, sessions), func(b *testing.B) {
						cb.bench(b, pg, sessions)
					})
				}
			}
		})
	}
}

// consoleBench is a suite whose store holds benchConsoleRequests requests
// of the KZ prosecutor, with sessions of that prosecutor signed in.
type consoleBench struct {
	cs       *consoleSuite
	pages    []benchPage
	sessions []*http.Client
}

func newConsoleBench(b *testing.B, engine string) *consoleBench {
	b.Helper()
	cs := startConsoleSuite(b, consoleSuiteOptions{suite: suiteOptions{postgres: engine == "postgres", quiet: true}})
	kz := cs.token("kz-gpo", identity.Prosecutor)
	created := cs.do(http.MethodPost, "/v1/requests", kz, gatewaytest.Preservation())
	if created.status != http.StatusOK {
		b.Fatalf("create: %d %s", created.status, created.raw)
	}
	name, _ := created.body["name"].(string)
	id := strings.TrimPrefix(name, "requests/")
	ref, _ := created.body["reference"].(string)
	start := time.Now()
	seedCopies(b, cs.suite, engine, id, benchConsoleRequests-1)
	b.Logf("%s: %d requests seeded in %s", engine, benchConsoleRequests, time.Since(start).Round(time.Millisecond))
	cb := &consoleBench{cs: cs, pages: []benchPage{
		{"dashboard", "/", `data-request=`},
		{"request", "/requests/" + id, ref},
		{"new-request", "/requests/new", `name="necessity_and_proportionality"`},
	}}
	for range slices.Max(benchConsoleSessions) {
		cb.sessions = append(cb.sessions, cs.signInHTTP(b, "kz-gpo", "prosecutor").http)
	}
	for _, pg := range cb.pages {
		cb.weigh(b, pg)
	}
	return cb
}

// seedCopies writes n copies of the request id straight into the request
// service's store, each with its own id, reference and times (a minute
// apart, into the past), so that the store holds a year's and more of one
// agency's requests without n calls through the service. Only the lists'
// columns and the document differ: the history, the audit trail and the
// outbox are not written, since no page of the benchmark reads them for the
// copies.
func seedCopies(tb testing.TB, s *suite, engine, id string, n int) {
	tb.Helper()
	ctx := context.Background()
	const minute = int64(time.Minute / time.Microsecond)
	switch engine {
	case "sqlite":
		db, err := sqlitedb.Open(ctx, strings.TrimPrefix(s.databases["request"], "sqlite:"))
		if err != nil {
			tb.Fatal(err)
		}
		defer db.Close()
		_, err = db.Write.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO requests (id, reference, type, priority, status, requesting_agency, requesting_state,
				requested_agency, requested_state, owner, transmitted, acknowledge_by, answer_by,
				create_time, update_time, version, doc)
			SELECT printf('bench-%07d', i), printf('KZ-2025-%06d', i), type, priority, status, requesting_agency,
				requesting_state, requested_agency, requested_state, owner, transmitted, acknowledge_by, answer_by,
				create_time - i * ?, update_time - i * ?, version,
				json_set(doc, '$.id', printf('bench-%07d', i), '$.reference', printf('KZ-2025-%06d', i))
			FROM requests, n WHERE requests.id = ?`, n, minute, minute, id)
		if err != nil {
			tb.Fatalf("seed: %v", err)
		}
	case "postgres":
		pool, err := pgdb.Open(ctx, s.databases["request"])
		if err != nil {
			tb.Fatal(err)
		}
		defer pool.Close()
		_, err = pool.Exec(ctx, `INSERT INTO requests (id, reference, type, priority, status, requesting_agency,
				requesting_state, requested_agency, requested_state, owner, transmitted, acknowledge_by, answer_by,
				create_time, update_time, version, doc)
			SELECT format('bench-%s', lpad(i::text, 7, '0')), format('KZ-2025-%s', lpad(i::text, 6, '0')), type, priority,
				status, requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
				acknowledge_by, answer_by, create_time - i * interval '1 minute', update_time - i * interval '1 minute', version,
				jsonb_set(jsonb_set(doc::jsonb, '{id}', to_jsonb(format('bench-%s', lpad(i::text, 7, '0')))),
					'{reference}', to_jsonb(format('KZ-2025-%s', lpad(i::text, 6, '0'))))
			FROM requests, generate_series(1, $1) AS i WHERE requests.id = $2`, n, id)
		if err != nil {
			tb.Fatalf("seed: %v", err)
		}
		// A store that grew to this size has its planner statistics (autovacuum
		// analyses it); one filled in a single statement has none yet.
		if _, err := pool.Exec(ctx, `ANALYZE requests`); err != nil {
			tb.Fatalf("seed: analyse: %v", err)
		}
	}
}

// assetPattern finds the stylesheets and scripts a page loads.
var assetPattern = regexp.MustCompile(`<(?:link rel="stylesheet" href|script src)="(/static/[^"]+)"`)

// weigh reports the page's weight: its HTML, and the CSS and JavaScript it
// loads, as a first visit fetches them.
func (cb *consoleBench) weigh(b *testing.B, pg benchPage) {
	b.Helper()
	html := cb.get(b, cb.sessions[0], pg)
	var css, js int
	for _, m := range assetPattern.FindAllStringSubmatch(html, -1) {
		resp, err := cb.sessions[0].Get(cb.cs.baseURL + m[1])
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d", m[1], resp.StatusCode)
		}
		if strings.HasSuffix(m[1], ".css") {
			css += int(n)
		} else {
			js += int(n)
		}
	}
	b.Logf("weight of %s: HTML %d B, CSS %d B, JS %d B, all %.1f KB", pg.name, len(html), css, js,
		float64(len(html)+css+js)/1000)
}

// get fetches the page with a session and checks that it is the page.
func (cb *consoleBench) get(tb testing.TB, c *http.Client, pg benchPage) string {
	resp, err := c.Get(cb.cs.baseURL + pg.path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), pg.want) {
		tb.Fatalf("%s: %d, want 200 with %q; got %.300s", pg.path, resp.StatusCode, pg.want, body)
	}
	return string(body)
}

// bench fetches the page b.N times in all, by sessions sessions at once,
// and reports the latency's median and 99th percentile.
func (cb *consoleBench) bench(b *testing.B, pg benchPage, sessions int) {
	lat := make([]time.Duration, b.N)
	var next sync.Mutex
	i := 0
	take := func() int {
		next.Lock()
		defer next.Unlock()
		if i >= b.N {
			return -1
		}
		i++
		return i - 1
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Go(func() {
			for k := take(); k >= 0; k = take() {
				t0 := time.Now()
				cb.get(b, cb.sessions[s], pg)
				lat[k] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
