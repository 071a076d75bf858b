package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/identity"
)

// TestWitnessOutage stops three of the five witnesses (below the quorum of
// three): the suite goes on taking requests and stays ready, but the audit
// log publishes no new checkpoint; once they are back, the checkpoint
// advances past what was filed meanwhile, consistent with the one before,
// cosigned by a quorum of the auditor's policy.
func TestWitnessOutage(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := startCluster(t, clusterOptions{postgres: engine == "postgres", directories: 1, requests: 1})
			auditor := c.client.Token("kz-oversight", identity.Auditor)
			prosecutor := c.client.Token("kz-gpo", identity.Prosecutor)
			publicKey, err := os.ReadFile(filepath.Join(c.dataDir, "audit", "public.key"))
			if err != nil {
				t.Fatal(err)
			}
			policy, err := os.ReadFile(c.policy)
			if err != nil {
				t.Fatal(err)
			}
			checkpoint := func() (bundle.Checkpoint, []byte) {
				r := c.client.MustDo("GET", "/v1/audit/checkpoint", auditor, nil, 200)
				note := r.Body["checkpoint"].(map[string]any)["note"].(string)
				cp, err := bundle.VerifyCheckpoint([]byte(note), string(publicKey))
				if err != nil {
					t.Fatalf("GET /v1/audit/checkpoint: %v\n%s", err, note)
				}
				return cp, []byte(note)
			}
			// The first call's events are witnessed: a checkpoint past 0.
			c.client.MustDo("POST", "/v1/requests?requestId=before-outage", prosecutor, gatewaytest.Preservation(), 200)
			var before bundle.Checkpoint
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if before, _ = checkpoint(); before.Size > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no witnessed checkpoint past size 0 within 60s")
				}
			}

			for _, w := range c.witnesses[:3] {
				w.stop(t)
			}
			stalled, _ := checkpoint()
			var names []string
			for i := range 3 {
				r := c.client.MustDo("POST", "/v1/requests?requestId="+fmt.Sprintf("outage-%d", i), prosecutor, gatewaytest.Preservation(), 200)
				names = append(names, r.Body["name"].(string))
			}
			// Over several of the log's checkpoint intervals: nothing is
			// published without the quorum, and the suite stays ready.
			for range 10 {
				if cp, _ := checkpoint(); cp.Size != stalled.Size {
					t.Fatalf("with 3 of 5 witnesses down, a checkpoint of size %d was published (was %d)", cp.Size, stalled.Size)
				}
				resp, err := http.Get(c.gwURL + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("/readyz = %d with 3 of 5 witnesses down; want 200", resp.StatusCode)
				}
				time.Sleep(500 * time.Millisecond)
			}

			for _, w := range c.witnesses[:3] {
				w.start(t)
			}
			// Every outage create is on the log, under a published checkpoint.
			for _, name := range names {
				want := map[string]int{"CreateRequest OK": 1}
				c.awaitActions(auditor, fmt.Sprintf("resource = %q", name), want)
			}
			var after bundle.Checkpoint
			var note []byte
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if after, note = checkpoint(); after.Size > stalled.Size {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the checkpoint stayed at size %d after the witnesses came back", stalled.Size)
				}
			}
			r := c.client.MustDo("GET", "/v1/audit/proofs:consistency?from="+strconv.FormatUint(before.Size, 10)+"&to="+strconv.FormatUint(after.Size, 10), auditor, nil, 200)
			var proof [][]byte
			for _, h := range r.Body["proof"].([]any) {
				b, err := base64.StdEncoding.DecodeString(h.(string))
				if err != nil {
					t.Fatal(err)
				}
				proof = append(proof, b)
			}
			if err := bundle.VerifyConsistency(before, after, proof); err != nil {
				t.Errorf("the checkpoint after the outage (size %d) is not consistent with the one before (size %d): %v", after.Size, before.Size, err)
			}
			report, err := bundle.VerifyCosignatures(note, policy)
			if err != nil {
				t.Fatalf("the checkpoint after the outage does not satisfy the witness policy: %v\n%s", err, note)
			}
			if len(report.Cosigned) < 3 {
				t.Errorf("cosigned by %v; want at least 3 distinct witnesses", report.Cosigned)
			}
			c.stopAll()
		})
	}
}
