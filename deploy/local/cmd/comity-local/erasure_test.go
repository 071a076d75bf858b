package main_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// TestErasedTextsAreInNoFileOfTheDataDirectory runs comity-local with a
// short retention (DESIGN §10), runs a case with texts of its own to
// CLOSED, waits for its erasure on the log, then searches every file under
// the data directory (the SQLite databases with their WAL and shared
// memory, the blob store, the outboxes, the audit log's files) for those
// texts: none may be found. The request's metadata, the attachment's digest
// and size, and its audit trail remain. The same search before the erasure
// finds the texts, so that it can fail.
func TestErasedTextsAreInNoFileOfTheDataDirectory(t *testing.T) {
	local, _ := binaries(t)
	dataDir := filepath.Join(t.TempDir(), "var")
	const retention = 8 * time.Second
	p := start(t, local, dataDir, "--retention-after-close", retention.String(), "--retention-sweep-interval", "1s")
	c := &gatewaytest.Client{TB: t, BaseURL: "http://" + p.http, DataDir: dataDir}
	prosecutor := c.Token("kz-gpo", identity.Prosecutor)
	kzCA := c.Token("kz-gpo", identity.CentralAuthority)
	uzCA := c.Token("uz-247", identity.CentralAuthority)
	auditor := c.Token("kz-oversight", identity.Auditor)

	// Texts found nowhere else: the case's narrative, a person, an
	// identifier, a message, the evidence's content and its file name.
	var b [6]byte
	_, _ = rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	secrets := map[string]string{
		"narrative":  "Narrative " + tag + ": the payroll server of Qazaq Example Bank was entered",
		"person":     "Suspect " + tag,
		"identifier": "intruder-" + tag + "@example.net",
		"message":    "Message " + tag + ": the suspect uses the alias Karaganda-77",
		"evidence":   "evidence-content-" + tag,
		"filename":   "logs-" + tag + ".csv",
	}

	body := gatewaytest.Preservation()
	body["factsSummary"] = secrets["narrative"]
	body["persons"] = []any{map[string]any{"fullName": secrets["person"], "role": "suspect"}}
	now := time.Now().UTC()
	body["identifiers"] = []any{map[string]any{"kind": "EMAIL", "value": secrets["identifier"],
		"startTime": now.Add(-72 * time.Hour).Format(time.RFC3339), "endTime": now.Add(-24 * time.Hour).Format(time.RFC3339)}}
	name := c.MustDo("POST", "/v1/requests", prosecutor, body, 200).Body["name"].(string)
	act := func(tok, action string, body map[string]any) {
		t.Helper()
		if body == nil {
			body = map[string]any{}
		}
		c.MustDo("POST", "/v1/"+name+":"+action, tok, body, 200)
	}
	act(prosecutor, "submit", nil)
	act(kzCA, "transmit", nil)
	act(uzCA, "acknowledge", nil)
	act(uzCA, "accept", map[string]any{"dualCriminality": "NOT_REQUIRED", "humanRightsReview": map[string]any{"note": "No concerns."}})
	up := c.Upload("/v1/"+name, uzCA, "EVIDENCE", "", secrets["filename"], []byte(secrets["evidence"]), nil)
	if up.Status != 200 {
		t.Fatalf("upload = %d: %s", up.Status, up.Raw)
	}
	evidence := up.Body["name"].(string)
	c.MustDo("POST", "/v1/"+name+"/messages", prosecutor, map[string]any{"body": secrets["message"], "visibility": "BOTH_SIDES"}, 200)
	act(uzCA, "execute", map[string]any{"responseSummary": "The logs are preserved.", "attachments": []any{evidence}})
	act(prosecutor, "close", nil)

	// Before the erasure, the search finds the texts where they are kept.
	if found := search(t, dataDir, secrets); len(found) == 0 {
		t.Fatal("before the erasure, the search finds none of the case's texts: it could not fail")
	}
	trail := func() []map[string]any {
		r := c.MustDo("GET", "/v1/audit/entries?pageSize=1000&filter="+url.QueryEscape(`resource = "`+name+`"`), auditor, nil, 200)
		var out []map[string]any
		for _, e := range r.Body["entries"].([]any) {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	// The trail of the seven calls on the request itself (the upload and
	// the message are on their own resources), once the relays delivered
	// it.
	var before []map[string]any
	for deadline := time.Now().Add(20 * time.Second); len(before) < 7; time.Sleep(250 * time.Millisecond) {
		if before = trail(); time.Now().After(deadline) {
			t.Fatalf("the trail of the case holds %d entries before its erasure; want its seven calls", len(before))
		}
	}

	// The erasure: the request is erased and the erasure is on the log.
	deadline := time.Now().Add(retention + 60*time.Second)
	var erased []map[string]any
	for {
		erased = trail()
		if slices.ContainsFunc(erased, func(e map[string]any) bool {
			return strings.HasSuffix(e["event"].(map[string]any)["action"].(string), "/EraseRequest")
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no erasure on the log %v after the retention of %v ran out", time.Since(now), retention)
		}
		time.Sleep(250 * time.Millisecond)
	}
	r := c.MustDo("GET", "/v1/"+name, prosecutor, nil, 200).Body
	for deadline := time.Now().Add(30 * time.Second); ; {
		es, _ := r["erasures"].([]any)
		if len(es) == 1 && es[0].(map[string]any)["completeTime"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the erasure did not complete: %v", r["erasures"])
		}
		time.Sleep(250 * time.Millisecond)
		r = c.MustDo("GET", "/v1/"+name, prosecutor, nil, 200).Body
	}

	// What remains: the metadata, the attachment's digest and size, the
	// trail as it was.
	if r["status"] != "CLOSED" || r["reference"] == nil || r["type"] != "DATA_PRESERVATION" || r["requestedAgency"] != "agencies/uz-247" {
		t.Errorf("after erasure the metadata is %v %v %v %v", r["status"], r["reference"], r["type"], r["requestedAgency"])
	}
	atts := c.MustDo("GET", "/v1/"+name+"/attachments", prosecutor, nil, 200).Body["attachments"].([]any)
	if a := atts[0].(map[string]any); len(atts) != 1 || a["sha256"] != up.Body["sha256"] || a["sizeBytes"] != up.Body["sizeBytes"] {
		t.Errorf("after erasure the attachments are %v; want the digest %v and size %v kept", atts, up.Body["sha256"], up.Body["sizeBytes"])
	}
	for _, e := range before {
		if !slices.ContainsFunc(erased, func(a map[string]any) bool { return a["index"] == e["index"] && a["leaf"] == e["leaf"] }) {
			t.Errorf("entry %v is no longer on the trail as it was", e["index"])
		}
	}

	// No erased text is in any file of the data directory. The WAL is
	// checkpointed after the erasure: the search is retried briefly for
	// that to happen.
	var found []string
	for deadline := time.Now().Add(20 * time.Second); ; {
		if found = search(t, dataDir, secrets); len(found) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, f := range found {
		t.Errorf("after erasure: %s", f)
	}
	p.stop(t)
	// Nor once the process has stopped and every file is closed.
	for _, f := range search(t, dataDir, secrets) {
		t.Errorf("after erasure and a clean stop: %s", f)
	}
}

// search reads every file under dir and reports each of the texts it holds,
// as "FILE holds the NAME".
func search(t *testing.T, dir string, texts map[string]string) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a temporary file gone meanwhile
			}
			return err
		}
		files++
		rel, _ := filepath.Rel(dir, path)
		for what, text := range texts {
			if bytes.Contains(data, []byte(text)) {
				found = append(found, fmt.Sprintf("%s holds the %s %q", rel, what, text))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found %d files under %s; want the suite's databases, blobs and logs", files, dir)
	}
	slices.Sort(found)
	return found
}
