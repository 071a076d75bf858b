// Command comity-slowloris is the load test of issue 10: against a running
// comity-local it holds --conns slow connections from one address (each
// sends its headers, then its body a byte every --trickle, and reconnects
// when the server closes it), while honest creates of another agency from
// another address keep running; after --duration it prints what happened:
// the honest creates' successes and latency, how the slow connections ended,
// and the peak RSS and descriptors of the server process.
//
//	ulimit -n 20000
//	go run ./deploy/local/cmd/comity-slowloris --data-dir ./var --pid $(pgrep -n comity-local)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

func main() {
	gateway := flag.String("gateway", "http://127.0.0.1:8080", "the gateway's URL")
	metrics := flag.String("metrics", "http://127.0.0.1:9090/metrics", "the server's metrics URL (for the refused-connection counters); empty skips them")
	dataDir := flag.String("data-dir", "./var", "comity-local's data directory (its dev issuer mints the honest client's tokens)")
	pid := flag.Int("pid", 0, "the server's process id, to sample its RSS and open descriptors; 0 skips them")
	conns := flag.Int("conns", 5000, "slow connections to hold at once")
	attackFrom := flag.String("attack-from", "127.0.0.1", "local address of the slow connections")
	honestFrom := flag.String("honest-from", "127.0.0.2", "local address of the honest client")
	honestAgency := flag.String("honest-agency", "kz-gpo", "agency of the honest client's prosecutor")
	workers := flag.Int("honest-workers", 2, "honest clients creating requests one after the other")
	pace := flag.Duration("honest-pace", 100*time.Millisecond, "pause between one honest client's creates (keeps them under the agency's rate limit)")
	trickle := flag.Duration("trickle", 5*time.Second, "pause between the bytes of a slow body")
	retry := flag.Duration("retry", time.Second, "pause before a slow connection closed by the server connects again")
	duration := flag.Duration("duration", 2*time.Minute, "how long the attack lasts")
	flag.Parse()
	if err := run(config{
		gateway: strings.TrimSuffix(*gateway, "/"), metrics: *metrics, dataDir: *dataDir, pid: *pid, conns: *conns,
		attackFrom: *attackFrom, honestFrom: *honestFrom, honestAgency: *honestAgency, workers: *workers, pace: *pace,
		trickle: *trickle, retry: *retry, duration: *duration,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "comity-slowloris:", err)
		os.Exit(1)
	}
}

type config struct {
	gateway, metrics, dataDir            string
	pid, conns, workers                  int
	attackFrom, honestFrom, honestAgency string
	pace, trickle, retry, duration       time.Duration
}

// attack counts how the slow connections fared.
type attack struct {
	dialed, dialFailed atomic.Int64
	// closedSilently: closed by the server without an answer (the
	// connection bound, or the header timeout); reset: the same, seen as a
	// reset (the server closed with the client's bytes unread); cut:
	// answered (400, the body came too slowly) and closed.
	closedSilently, reset, cut atomic.Int64
	open, peakOpen             atomic.Int64
}

func run(cfg config) error {
	u, err := urlHostPort(cfg.gateway)
	if err != nil {
		return err
	}
	token, err := identity.MintDevToken(cfg.dataDir, identity.TokenRequest{Agency: cfg.honestAgency, Roles: []identity.Role{identity.Prosecutor}}, time.Now())
	if err != nil {
		return fmt.Errorf("minting the honest client's token from %s: %w", filepath.Join(cfg.dataDir, "dev-issuer"), err)
	}
	body, err := json.Marshal(gatewaytest.Preservation())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	refusedBefore := refusedConns(cfg.metrics)

	var a attack
	var wg sync.WaitGroup
	for i := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the first connections over a second.
			sleep(ctx, time.Duration(i)*time.Second/time.Duration(cfg.conns))
			for ctx.Err() == nil {
				a.slow(ctx, cfg, u)
				sleep(ctx, cfg.retry)
			}
		}()
	}

	honest := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cfg.honestFrom)}, Timeout: 10 * time.Second}).DialContext,
	}}
	var mu sync.Mutex
	var latencies []time.Duration
	failures := map[string]int{}
	for range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				outcome := create(ctx, honest, cfg.gateway, token, body)
				took := time.Since(start)
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if outcome == "" {
					latencies = append(latencies, took)
				} else {
					failures[outcome]++
				}
				mu.Unlock()
				sleep(ctx, cfg.pace)
			}
		}()
	}

	var peakRSS, peakFDs int64
	tick := time.NewTicker(time.Second)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			if o := a.open.Load(); o > a.peakOpen.Load() {
				a.peakOpen.Store(o)
			}
			if cfg.pid != 0 {
				peakRSS = max(peakRSS, rss(cfg.pid))
				peakFDs = max(peakFDs, fds(cfg.pid))
			}
		}
	}
	tick.Stop()
	wg.Wait()
	refusedAfter := refusedConns(cfg.metrics)

	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Printf("attack: %d slow connections from %s for %s (a byte every %s), honest creates from %s as %s\n",
		cfg.conns, cfg.attackFrom, cfg.duration, cfg.trickle, cfg.honestFrom, cfg.honestAgency)
	fmt.Printf("honest creates: %d succeeded, %d failed %v; latency p50 %s, p99 %s, max %s\n",
		len(latencies), sum(failures), failures, pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	fmt.Printf("slow connections: %d dialed (%d dials failed), %d closed without an answer (%d of them reset), %d cut by the body rate (400), %d open at most at once on the client side\n",
		a.dialed.Load(), a.dialFailed.Load(), a.closedSilently.Load()+a.reset.Load(), a.reset.Load(), a.cut.Load(), a.peakOpen.Load())
	if refusedBefore != nil && refusedAfter != nil {
		fmt.Printf("server: connections refused over a bound during the run:")
		for _, k := range sortedKeys(refusedAfter) {
			fmt.Printf(" %s=%d", k, refusedAfter[k]-refusedBefore[k])
		}
		fmt.Println()
	}
	if cfg.pid != 0 {
		fmt.Printf("server process %d: peak RSS %.1f MiB, peak open descriptors %d; up after the attack: %v\n",
			cfg.pid, float64(peakRSS)/(1<<20), peakFDs, alive(cfg.pid))
	}
	return nil
}

// slow makes one slow connection and returns when the server closes it or
// ctx ends.
func (a *attack) slow(ctx context.Context, cfg config, hostPort string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cfg.attackFrom)}, Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		if ctx.Err() == nil {
			a.dialFailed.Add(1)
		}
		return
	}
	a.dialed.Add(1)
	a.open.Add(1)
	defer a.open.Add(-1)
	defer c.Close()
	answer := make(chan string, 1)
	go func() {
		b, err := io.ReadAll(c)
		if len(b) == 0 && err != nil {
			answer <- "reset"
			return
		}
		answer <- string(b)
	}()
	// An outsider: no token; a body the gateway reads before anything else.
	if _, err := fmt.Fprintf(c, "POST /v1/requests HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", hostPort); err == nil {
		t := time.NewTicker(cfg.trickle)
		defer t.Stop()
	sending:
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-answer:
				answer <- s
				break sending
			case <-t.C:
				if _, err := c.Write([]byte{' '}); err != nil {
					break sending
				}
			}
		}
	}
	select {
	case <-ctx.Done():
	case s := <-answer:
		switch {
		case strings.HasPrefix(s, "HTTP/1.1 400"):
			a.cut.Add(1)
		case s == "reset":
			a.reset.Add(1)
		default:
			a.closedSilently.Add(1)
		}
	}
}

// create files one request and returns "" or what went wrong.
func create(ctx context.Context, c *http.Client, gateway, token string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gateway+"/v1/requests", bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "transport error"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// refusedConns reads comity_connections_refused_total by listener and
// bound; nil when there is no metrics URL or it does not answer.
func refusedConns(url string) map[string]int64 {
	if url == "" {
		return nil
	}
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "comity_connections_refused_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[strings.TrimPrefix(line[:i], "comity_connections_refused_total")] = int64(v)
		}
	}
	return out
}

func rss(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func fds(pid int) int64 {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return int64(len(entries))
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func urlHostPort(gateway string) (string, error) {
	hp := strings.TrimPrefix(gateway, "http://")
	if _, _, err := net.SplitHostPort(hp); err != nil || strings.Contains(hp, "/") {
		return "", fmt.Errorf("--gateway %q: want http://HOST:PORT", gateway)
	}
	return hp, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
