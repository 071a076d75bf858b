package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// Two replicas of the request service and two of the directory behind the
// gateway, on one PostgreSQL, with one audit service: the complete case,
// then 1,000 requests filed and submitted by 16 concurrent clients through
// both request replicas, one of which is killed with SIGKILL a third of the
// way in. Every request a client was told exists does, with its
// acknowledged transition; reference numbers are unique and gap-free; the
// outbox drains and every event is on the audit log once.
func TestScaleOutOnPostgreSQL(t *testing.T) {
	// One agency files the whole load: lift the gateway's per-agency limit.
	c := startCluster(t, clusterOptions{postgres: true, directories: 2, requests: 2, rateLimit: "100000"})
	year := time.Now().UTC().Format("2006")
	kase := gatewaytest.CompleteCase(c.client, "scale-case")
	if want := "KZ-" + year + "-000001"; kase.Reference != want {
		t.Errorf("reference of the case = %q, want %q", kase.Reference, want)
	}

	const total, clients = 1000, 16
	prosecutor := c.client.Token("kz-gpo", identity.Prosecutor)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 60 * time.Second}
	var (
		mu        sync.Mutex
		created   = map[string]string{} // name → reference, as acknowledged
		submitted = map[string]bool{}
		retries   atomic.Int64
		done      atomic.Int64
		killOnce  sync.Once
		// creates the second replica served before it was killed
		servedBySecond int
		work           = make(chan int)
		wg             sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			for i := range work {
				var req struct{ Name, Reference string }
				code, raw := callRetrying(httpc, &retries, "POST", c.gwURL+"/v1/requests?requestId=load-"+strconv.Itoa(i), prosecutor, gatewaytest.Preservation(), &req)
				if code != 200 {
					t.Errorf("create load-%d: %d %s", i, code, raw)
					continue
				}
				mu.Lock()
				created[req.Name] = req.Reference
				mu.Unlock()
				var sub struct{ Status string }
				code, raw = callRetrying(httpc, &retries, "POST", c.gwURL+"/v1/"+req.Name+":submit", prosecutor, map[string]any{}, &sub)
				if code == 400 && strings.Contains(raw, "SUBMITTED") {
					// A retried submit whose first try went through
					// before its replica died: the request says so.
					code, raw = callRetrying(httpc, &retries, "GET", c.gwURL+"/v1/"+req.Name, prosecutor, nil, &sub)
				}
				if code != 200 || sub.Status != "SUBMITTED" {
					t.Errorf("submit %s: %d %s", req.Name, code, raw)
					continue
				}
				mu.Lock()
				submitted[req.Name] = true
				mu.Unlock()
				if done.Add(1) == total/3 {
					killOnce.Do(func() {
						servedBySecond = handled(t, c.reqs[1], "CreateRequest")
						c.reqs[1].kill(t)
					})
				}
			}
		})
	}
	start := time.Now()
	for i := range total {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d requests filed and submitted in %v through 2 replicas, one killed after %d; %d calls retried",
		total, time.Since(start).Round(time.Millisecond), total/3, retries.Load())
	if c.reqs[1].running() {
		t.Fatal("the second request replica was never killed")
	}
	// Round-robin: both replicas carried the load, each about half until
	// one died.
	servedByFirst := handled(t, c.reqs[0], "CreateRequest")
	t.Logf("creates served: %d by the first replica, %d by the second before it was killed", servedByFirst, servedBySecond)
	if servedBySecond < total/3/4 || servedByFirst < total/2 {
		t.Errorf("the load was not spread over both replicas: %d and %d creates", servedByFirst, servedBySecond)
	}
	if len(created) != total || len(submitted) != total {
		t.Fatalf("acknowledged %d creates and %d submits of %d", len(created), len(submitted), total)
	}

	// Everything acknowledged is there, with unique, gap-free references.
	listed := map[string]struct{ reference, status string }{}
	pageToken := ""
	for {
		q := url.Values{"pageSize": {"500"}, "pageToken": {pageToken}}
		r := c.client.MustDo("GET", "/v1/requests?"+q.Encode(), prosecutor, nil, 200)
		items, _ := r.Body["requests"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			listed[m["name"].(string)] = struct{ reference, status string }{m["reference"].(string), m["status"].(string)}
		}
		if pageToken, _ = r.Body["nextPageToken"].(string); pageToken == "" {
			break
		}
	}
	if len(listed) != total+1 {
		t.Errorf("listed %d requests, want %d (the case and the load)", len(listed), total+1)
	}
	for name, ref := range created {
		got, ok := listed[name]
		switch {
		case !ok:
			t.Errorf("acknowledged request %s (%s) is lost", name, ref)
		case got.reference != ref:
			t.Errorf("%s: reference %s, acknowledged as %s", name, got.reference, ref)
		case got.status != "SUBMITTED":
			t.Errorf("%s: status %s, but its submit was acknowledged", name, got.status)
		}
	}
	var numbers []int
	for _, r := range listed {
		n, err := strconv.Atoi(strings.TrimPrefix(r.reference, "KZ-"+year+"-"))
		if err != nil || !strings.HasPrefix(r.reference, "KZ-"+year+"-") {
			t.Fatalf("reference %q is not KZ-%s-NNNNNN", r.reference, year)
		}
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	for i, n := range numbers {
		if n != i+1 {
			t.Fatalf("references are not unique and gap-free: the %d-th is %06d", i+1, n)
		}
	}

	// The outbox drains (the surviving replica's relay delivers what the
	// killed one left) and each request's events are on the log once.
	c.awaitOutboxDrained()
	auditor := c.client.Token("kz-oversight", identity.Auditor)
	byResource := map[string]map[string]int{}
	for _, e := range c.entries(auditor, `action = "`+requestService+`SubmitRequest" OR action = "`+requestService+`CreateRequest"`) {
		if byResource[e.resource] == nil {
			byResource[e.resource] = map[string]int{}
		}
		byResource[e.resource][strings.TrimPrefix(e.action, requestService)+" "+e.outcome]++
	}
	for name := range created {
		got := byResource[name]
		// A create retried after its replica died is a second call, and
		// audited as one; a submit is there exactly once as it succeeded.
		if got["CreateRequest OK"] < 1 || got["SubmitRequest OK"] != 1 {
			t.Errorf("%s: events on the log %v, want CreateRequest OK and one SubmitRequest OK", name, got)
		}
	}
	c.checkUniqueEventIDs(auditor)
}

// callRetrying calls the gateway, retrying while the request service is
// unavailable (the killed replica's calls in flight), as a client of an
// idempotent API would, and decodes a 200 answer into out.
func callRetrying(c *http.Client, retries *atomic.Int64, method, u, token string, body, out any) (int, string) {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(method, u, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		code, raw := 0, ""
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, raw = resp.StatusCode, string(b)
		} else {
			raw = err.Error()
		}
		if (code == 0 || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout) && attempt < 20 {
			retries.Add(1)
			time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
			continue
		}
		if code == 200 && out != nil {
			if err := json.Unmarshal([]byte(raw), out); err != nil {
				return 0, fmt.Sprintf("answer is not JSON: %v: %s", err, raw)
			}
		}
		return code, raw
	}
}

// awaitOutboxDrained waits until the request service's outbox in
// PostgreSQL holds no undelivered event.
func (c *cluster) awaitOutboxDrained() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.requestDB)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var pending int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL`).Scan(&pending); err != nil {
			c.t.Fatalf("outbox of the request service: %v", err)
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%d events still undelivered in the request service's outbox after 120s", pending)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// handled returns how many calls of method (any outcome) the process has
// answered, from its Prometheus metrics.
func handled(t *testing.T, p *proc, method string) int {
	t.Helper()
	addr := ""
	for i, a := range p.args {
		if a == "--metrics-addr" && i+1 < len(p.args) {
			addr = p.args[i+1]
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Errorf("metrics of %s: %v", p.name, err)
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	n := 0
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "grpc_server_handled_total{") && strings.Contains(line, `grpc_method="`+method+`"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Errorf("metrics of %s: %q", p.name, line)
			}
			n += int(v)
		}
	}
	return n
}
