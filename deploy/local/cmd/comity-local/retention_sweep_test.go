package main_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionSweepErasesInTheRunningBinary: comity-local with a
// retention of a second erases a draft never transmitted once a second
// has passed since its last change, through its own sweep, with no one
// calling. The sweep acts on no caller's behalf, so it must reach the
// directory (the states, each state's retention) without a caller's
// token; a sweep that cannot is one that never erases anything.
func TestRetentionSweepErasesInTheRunningBinary(t *testing.T) {
	local, ctl := binaries(t)
	dataDir := filepath.Join(t.TempDir(), "var")
	p := start(t, local, dataDir, "--retention-after-close=1s", "--retention-sweep-interval=1s")
	base := "http://" + p.http + "/v1"
	prosecutor := token(t, ctl, dataDir, "kz-gpo", "prosecutor")
	status, body := call(t, "POST", base+"/requests", prosecutor,
		`{"type":"DATA_PRESERVATION","priority":"ROUTINE","requestedState":"UZ","factsSummary":"Narrative-to-be-erased-4242"}`)
	if status != 200 {
		t.Fatalf("create = %d %v", status, body)
	}
	name := body["name"].(string)

	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body = call(t, "GET", base+"/"+name, prosecutor, "")
		if status != 200 {
			t.Fatalf("get = %d %v", status, body)
		}
		if erasures, _ := body["erasures"].([]any); len(erasures) > 0 {
			if body["factsSummary"] != "" {
				t.Fatalf("the erased draft still shows its narrative: %v", body)
			}
			return
		}
		if time.Now().After(deadline) {
			var sweeps []string
			for line := range strings.SplitSeq(p.logs.String(), "\n") {
				if strings.Contains(strings.ToLower(line), "sweep") || strings.Contains(line, "credentials") {
					sweeps = append(sweeps, line)
				}
			}
			t.Fatalf("20s after a draft's retention of 1s ran out it is not erased: %v\nthe sweep's logs:\n%s",
				body, strings.Join(sweeps[:min(len(sweeps), 3)], "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
