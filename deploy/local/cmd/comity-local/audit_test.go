package main_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// auditDraft is a complete urgent preservation request from KZ to UZ.
func auditDraft(t *testing.T) string {
	t.Helper()
	now := time.Now().UTC()
	b, err := json.Marshal(map[string]any{
		"type": "DATA_PRESERVATION", "priority": "URGENT", "requestedState": "UZ",
		"legalBasis": "CIS_IT_CRIME_AGREEMENT_2018", "caseReference": "KZ-CASE-2026-0917",
		"offence": map[string]any{
			"description":         "Unauthorised access to the payment system of a regional bank",
			"legalQualification":  "Article 205 of the Criminal Code of the Republic of Kazakhstan",
			"maximumPenaltyYears": 7,
		},
		"factsSummary": "The bank's payment gateway was accessed from an address hosted in Uzbekistan.",
		"identifiers": []any{map[string]any{
			"kind": "IP_ADDRESS", "value": "198.51.100.23:443",
			"startTime": now.Add(-72 * time.Hour).Format(time.RFC3339), "endTime": now.Add(-24 * time.Hour).Format(time.RFC3339),
		}},
		"necessityAndProportionality": "The logs are the only way to identify the intruder; they are kept for 30 days only, " +
			"so preservation is needed now; only the three days of the intrusion are concerned.",
		"language":         "ru",
		"custodian":        map[string]any{"provider": "Example Telecom LLC", "country": "UZ"},
		"followUpIntended": map[string]any{"intended": true, "productionType": "TRAFFIC_DATA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ctlRun runs comityctl and returns its combined output and exit code.
func ctlRun(t *testing.T, ctl string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(ctl, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("comityctl %v: %v", args, err)
	return "", 0
}

// awaitExport polls the export of filter until it holds want entries: the
// relay delivers asynchronously, and an export holds only what a
// checkpoint covers.
func awaitExport(t *testing.T, base, tok, filter string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		status, body := call(t, "GET", base+"/v1/audit/entries:export?filter="+url.QueryEscape(filter), tok, "")
		entries, _ := body["entries"].([]any)
		if status == 200 && len(entries) == want {
			return
		}
		if status != 200 || len(entries) > want || time.Now().After(deadline) {
			t.Fatalf("export of %s = %d with %d entries, want %d: %v", filter, status, len(entries), want, body)
		}
		time.Sleep(backoff)
	}
}

// readJSON and writeJSON edit a bundle as a user with a text editor would.
func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func writeJSON(t *testing.T, path string, m map[string]any) {
	t.Helper()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipB64 flips one bit of the byte at offset i of a base64 value.
func flipB64(t *testing.T, v any, i int) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(v.(string))
	if err != nil || len(b) <= i {
		t.Fatalf("not base64 of more than %d bytes: %v (%v)", i, v, err)
	}
	b[i] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}

// signNote signs text (a checkpoint body, ending in a newline) with the
// log's note signer key (PRIVATE+KEY+<name>+<hash>+<base64(1 || seed)>), as
// the log itself would: what someone holding the key could forge.
func signNote(t *testing.T, signerKeyFile, text string) []byte {
	t.Helper()
	raw, err := os.ReadFile(signerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(strings.TrimSpace(string(raw)), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		t.Fatalf("%s is not a note signer key", signerKeyFile)
	}
	hash, err1 := hex.DecodeString(parts[3])
	key, err2 := base64.StdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(hash) != 4 || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		t.Fatalf("%s is not an Ed25519 note signer key", signerKeyFile)
	}
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(key[1:]), []byte(text))
	return []byte(text + "\n— " + parts[2] + " " + base64.StdEncoding.EncodeToString(append(hash, sig...)) + "\n")
}

func TestAuditBundleVerifiesOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	local, ctl := binaries(t)
	dataDir := filepath.Join(t.TempDir(), "var")
	p := start(t, local, dataDir)
	base := "http://" + p.http
	prosecutor := token(t, ctl, dataDir, "kz-gpo", "prosecutor")
	kzCA := token(t, ctl, dataDir, "kz-gpo", "central_authority")
	uzCA := token(t, ctl, dataDir, "uz-247", "central_authority")
	auditor := token(t, ctl, dataDir, "kz-oversight", "auditor")
	publicKey := filepath.Join(dataDir, "audit", "public.key")
	dir := t.TempDir()

	status, body := call(t, "POST", base+"/v1/requests", prosecutor, auditDraft(t))
	if status != 200 {
		t.Fatalf("create = %d %v", status, body)
	}
	name := body["name"].(string)
	for _, step := range []struct{ tok, action, body string }{
		{prosecutor, "submit", `{}`}, {kzCA, "transmit", `{}`}, {uzCA, "acknowledge", `{}`},
	} {
		if status, body := call(t, "POST", base+"/v1/"+name+":"+step.action, step.tok, step.body); status != 200 {
			t.Fatalf("%s = %d %v", step.action, status, body)
		}
	}
	filter := fmt.Sprintf("resource = %q", name)
	awaitExport(t, base, auditor, filter, 4)

	// export runs `comityctl audit export` to dir/file, as an auditor would.
	export := func(gateway, tok, filter, since, file string) (string, string) {
		t.Helper()
		path := filepath.Join(dir, file)
		args := []string{"audit", "export", "--token", tok, "--gateway", gateway, "--out", path}
		if filter != "" {
			args = append(args, "--filter", filter)
		}
		if since != "" {
			args = append(args, "--since", since)
		}
		out, code := ctlRun(t, ctl, args...)
		if code != 0 {
			t.Fatalf("comityctl audit export --filter %q --since %q = %d: %s", filter, since, code, out)
		}
		return path, out
	}
	first, out := export(base, auditor, filter, "", "first.json")
	if !strings.Contains(out, "exported 4 entries") {
		t.Fatalf("audit export: %s", out)
	}
	verify := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		return ctlRun(t, ctl, append([]string{"audit", "verify", "--public-key", publicKey}, args...)...)
	}
	if out, code := verify(t, first); code != 0 || !strings.Contains(out, "verified: 4 entries") {
		t.Fatalf("audit verify of an untouched bundle = %d: %s", code, out)
	}

	// A second deployment: another log with the same origin, another key.
	otherDir := filepath.Join(t.TempDir(), "var")
	other := start(t, local, otherDir)
	otherAuditor := token(t, ctl, otherDir, "kz-oversight", "auditor")
	otherKey := filepath.Join(otherDir, "audit", "public.key")
	awaitNonEmptyLog(t, "http://"+other.http, otherAuditor)
	otherBundle, _ := export("http://"+other.http, otherAuditor, "", "", "other.json")
	otherPub := readKey(t, otherKey)
	if readKey(t, publicKey) == otherPub ||
		readJSON(t, otherBundle)["checkpoint"].(map[string]any)["origin"] != readJSON(t, first)["checkpoint"].(map[string]any)["origin"] {
		t.Fatal("the two deployments should differ in their keys only")
	}

	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, b map[string]any)
		args   []string // verify's extra flags
	}{
		{name: "one byte of an entry's leaf", tamper: func(t *testing.T, b map[string]any) {
			e := entry(b, 1)
			e["leaf"] = flipLeafID(t, e["leaf"])
		}},
		{name: "a forged leaf with its event to match", tamper: func(t *testing.T, b map[string]any) {
			e := entry(b, 1)
			e["leaf"] = flipLeafID(t, e["leaf"])
			leaf, _ := base64.StdEncoding.DecodeString(e["leaf"].(string))
			var ev map[string]any
			_ = json.Unmarshal(leaf, &ev)
			e["event"].(map[string]any)["id"] = ev["id"]
		}},
		{name: "an event field but not the leaf", tamper: func(t *testing.T, b map[string]any) {
			entry(b, 2)["event"].(map[string]any)["actor"].(map[string]any)["subject"] = "dev:kz-gpo:someone-else"
		}},
		{name: "one inclusion proof hash", tamper: func(t *testing.T, b map[string]any) {
			proof := b["entries"].([]any)[0].(map[string]any)["inclusionProof"].([]any)
			proof[len(proof)-1] = flipB64(t, proof[len(proof)-1], 5)
		}},
		{name: "the checkpoint note's root line", tamper: func(t *testing.T, b map[string]any) {
			cp := b["checkpoint"].(map[string]any)
			lines := strings.Split(cp["note"].(string), "\n")
			lines[2] = flipB64(t, lines[2], 0)
			cp["note"] = strings.Join(lines, "\n")
		}},
		{name: "the checkpoint's size field", tamper: func(t *testing.T, b map[string]any) {
			cp := b["checkpoint"].(map[string]any)
			size, _ := strconv.Atoi(cp["size"].(string))
			cp["size"] = strconv.Itoa(size + 1)
		}},
		{name: "the checkpoint's root hash field", tamper: func(t *testing.T, b map[string]any) {
			cp := b["checkpoint"].(map[string]any)
			cp["rootHash"] = flipB64(t, cp["rootHash"], 0)
		}},
		{name: "another public key in the bundle", tamper: func(t *testing.T, b map[string]any) { b["publicKey"] = otherPub }},
		{name: "the key of another deployment given", args: []string{"--public-key", otherKey}},
		{name: "the bundle and the key of another deployment", tamper: func(t *testing.T, b map[string]any) { b["publicKey"] = otherPub },
			args: []string{"--public-key", otherKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := readJSON(t, first)
			path := filepath.Join(t.TempDir(), "tampered.json")
			if tc.tamper != nil {
				tc.tamper(t, b)
				if sameJSON(b, readJSON(t, first)) {
					t.Fatal("the tampering changed nothing")
				}
			}
			writeJSON(t, path, b)
			// A later --public-key wins: the flag package keeps the last.
			out, code := verify(t, append(tc.args, path)...)
			t.Logf("%s", out)
			if code != 1 || !strings.Contains(out, "NOT VERIFIED") {
				t.Errorf("audit verify = %d: %s; want exit 1 and NOT VERIFIED", code, out)
			}
		})
	}

	// More activity; a new bundle proves the log only grew since the first.
	if status, body := call(t, "POST", base+"/v1/"+name+":requestClarification", uzCA, `{"questions":"Which time zone are the timestamps in?"}`); status != 200 {
		t.Fatalf("requestClarification = %d %v", status, body)
	}
	awaitExport(t, base, auditor, filter, 5)
	second, _ := export(base, auditor, filter, first, "second.json")
	unlinked, _ := export(base, auditor, filter, "", "unlinked.json")
	signerKey := filepath.Join(dataDir, "audit", "signing.key")
	firstNote := readJSON(t, first)["checkpoint"].(map[string]any)["note"].(string)
	firstBody := firstNote[:strings.Index(firstNote, "\n\n")+1]
	lines := strings.Split(firstBody, "\n")
	firstSize, _ := strconv.ParseUint(lines[1], 10, 64)
	note := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	forgedRoot := sha256.Sum256([]byte("another history"))
	resigned := note("resigned.note", signNote(t, signerKey, firstBody))
	rewritten := note("rewritten.note", signNote(t, signerKey,
		fmt.Sprintf("%s\n%d\n%s\n", lines[0], firstSize, base64.StdEncoding.EncodeToString(forgedRoot[:]))))
	forgedPrefix := note("prefix.note", signNote(t, signerKey,
		fmt.Sprintf("%s\n%d\n%s\n", lines[0], firstSize-1, base64.StdEncoding.EncodeToString(forgedRoot[:]))))
	// Exported with a proof from the forged size: only the forged root can
	// make it fail.
	sinceForged, _ := export(base, auditor, filter, forgedPrefix, "since-forged.json")
	for _, tc := range []struct {
		name, bundle, since string
		// mention is what the verdict must say: "verified", or why not.
		mention string
	}{
		{"the second bundle since the first", second, first, "verified: 5 entries"},
		// The forging helper makes notes the verifier accepts: the
		// failures below are for their contents, not their form.
		{"the second bundle since the first checkpoint signed again", second, resigned, "verified: 5 entries"},
		{"the first bundle since the second (larger)", first, second, "larger"},
		{"a bundle exported without --since, since the first", unlinked, first, "no consistency proof"},
		{"the second bundle since another deployment's checkpoint", second, otherBundle, "earlier checkpoint"},
		{"the first bundle since its own size with another root", first, rewritten, "rewritten"},
		{"the second bundle since the first's size with another root", second, rewritten, "not a prefix"},
		{"a bundle since a forged smaller checkpoint", sinceForged, forgedPrefix, "not a prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := verify(t, "--since", tc.since, tc.bundle)
			t.Logf("%s", out)
			ok := strings.HasPrefix(tc.mention, "verified")
			switch {
			case ok && (code != 0 || !strings.Contains(out, tc.mention)):
				t.Errorf("audit verify --since = %d: %s; want %q", code, out, tc.mention)
			case !ok && (code != 1 || !strings.Contains(out, "NOT VERIFIED") || !strings.Contains(out, tc.mention)):
				t.Errorf("audit verify --since = %d: %s; want exit 1 and NOT VERIFIED, mentioning %q", code, out, tc.mention)
			}
		})
	}

	t.Run("Tessera fsck of the running log", func(t *testing.T) {
		fsck := os.Getenv("COMITY_TESSERA_FSCK")
		if fsck == "" {
			t.Skip("COMITY_TESSERA_FSCK not set: go install github.com/transparency-dev/tessera/cmd/fsck@v1.0.4 and point it at the binary")
		}
		logDir := filepath.Join(dataDir, "audit", "log")
		// comity-local keeps serving and growing its log while fsck reads
		// it: an auditor reads the checkpoint every 10ms, and each read is
		// an entry.
		stop, stopped, served := make(chan struct{}), make(chan struct{}), make(chan struct{})
		var reads, failed int
		go func() {
			defer close(stopped)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				req, _ := http.NewRequest("GET", base+"/v1/audit/checkpoint", nil)
				req.Header.Set("Authorization", "Bearer "+auditor)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					failed++
				} else if reads++; reads == 1 {
					close(served)
				}
				if resp != nil {
					resp.Body.Close()
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		select {
		case <-served:
		case <-stopped:
		}
		// fsck takes milliseconds on a log this small: three runs, each on
		// a larger checkpoint than the last, as the reads grow the log.
		var checked uint64
		for range 3 {
			before := awaitCheckpointOver(t, logDir, checked)
			var ok bool
			var out string
			checked, ok, out = runFsck(t, fsck, dataDir)
			after := checkpointSize(t, logDir)
			t.Logf("%s", out)
			t.Logf("checkpoint size %d before fsck, %d after; fsck checked %d", before, after, checked)
			if !ok || checked < before || checked > after {
				t.Errorf("fsck of the running log = failed or checked size %d, not within [%d, %d]:\n%s", checked, before, after, out)
			}
		}
		close(stop)
		<-stopped
		if failed > 0 || reads == 0 {
			t.Errorf("while fsck ran, comity-local served %d reads and failed %d; want it serving", reads, failed)
		}
		if t.Failed() {
			return
		}

		// Settled: the reads above are logged (the spool is empty) and the
		// published checkpoint covers everything integrated, so that
		// nothing rewrites the last entry bundle behind the edit below.
		size := awaitSettledLog(t, dataDir)
		if size == 0 || size >= 256*1000 {
			t.Fatalf("checkpoint size %d: want a small log", size)
		}
		// The entry bundle holding the last entries, partial or full
		// (C2SP tlog-tiles).
		bundle := fmt.Sprintf("tile/entries/%03d", size/256)
		if size%256 != 0 {
			bundle += fmt.Sprintf(".p/%d", size%256)
		} else {
			bundle = fmt.Sprintf("tile/entries/%03d", size/256-1)
		}
		path := filepath.Join(logDir, bundle)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(data, []byte(`"id":"`))
		if i < 0 {
			t.Fatalf("%s holds no event", bundle)
		}
		data[i+len(`"id":"`)+1] ^= 1
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok, out := runFsck(t, fsck, dataDir); ok || !strings.Contains(out, "fsck failed") {
			t.Errorf("fsck of a log with a flipped byte in %s passed:\n%s", bundle, out)
		} else {
			t.Logf("%s", out)
		}
		if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
			t.Errorf("comity-local after the checks: %v %v; want it still ready", resp, err)
		}
	})
}

// checkpointSize returns the size of the checkpoint published in logDir.
func checkpointSize(t *testing.T, logDir string) uint64 {
	t.Helper()
	cp, err := os.ReadFile(filepath.Join(logDir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(cp), "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint: %q", cp)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return size
}

// awaitCheckpointOver waits until the checkpoint published in logDir is
// larger than size, and returns its size.
func awaitCheckpointOver(t *testing.T, logDir string, size uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 250*time.Millisecond) {
		if got := checkpointSize(t, logDir); got > size {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint did not grow past %d in 30s", size)
		}
		time.Sleep(backoff)
	}
}

// awaitSettledLog waits until the audit log under dataDir has nothing in
// flight: no auditor's read waits in the spool, and the published
// checkpoint is as large as the tree Tessera has integrated (its private
// .state/treeState). It returns the checkpoint's size.
func awaitSettledLog(t *testing.T, dataDir string) uint64 {
	t.Helper()
	logDir := filepath.Join(dataDir, "audit", "log")
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 250*time.Millisecond) {
		fi, err := os.Stat(filepath.Join(dataDir, "audit", "reads.spool"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(logDir, ".state", "treeState"))
		if err != nil {
			t.Fatal(err)
		}
		var tree struct {
			Size uint64 `json:"size"`
		}
		if err := json.Unmarshal(raw, &tree); err != nil {
			t.Fatalf("treeState: %v", err)
		}
		size := checkpointSize(t, logDir)
		if fi.Size() == 0 && size == tree.Size {
			return size
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log did not settle in 30s: spool %d bytes, checkpoint %d, tree %d", fi.Size(), size, tree.Size)
		}
		time.Sleep(backoff)
	}
}

// entry returns the i-th entry of a bundle (cyclically).
func entry(b map[string]any, i int) map[string]any {
	es := b["entries"].([]any)
	return es[i%len(es)].(map[string]any)["entry"].(map[string]any)
}

// flipLeafID changes one character of the event id inside a leaf, so that
// the leaf is still a well-formed event: only the proof can tell.
func flipLeafID(t *testing.T, v any) string {
	t.Helper()
	leaf, err := base64.StdEncoding.DecodeString(v.(string))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(leaf, []byte(`"id":"`))
	if i < 0 {
		t.Fatalf("leaf without an id: %s", leaf)
	}
	leaf[i+len(`"id":"`)+1] ^= 1 // a hex digit: '0'..'9' and 'a'..'f' stay hex-like
	return base64.StdEncoding.EncodeToString(leaf)
}

func sameJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func readKey(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// awaitNonEmptyLog polls until the log's checkpoint covers an entry (an
// auditor's reads are entries too).
func awaitNonEmptyLog(t *testing.T, base, tok string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		status, body := call(t, "GET", base+"/v1/audit/checkpoint", tok, "")
		cp, _ := body["checkpoint"].(map[string]any)
		if size, _ := strconv.Atoi(fmt.Sprint(cp["size"])); status == 200 && size > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log of %s is still empty after 30s: %d %v", base, status, body)
		}
		time.Sleep(backoff)
	}
}

// runFsck runs Tessera's fsck on the log under dataDir/audit and returns
// the size of the checkpoint it checked and whether the check passed. fsck
// v1.0.4 exits 0 even when the check fails: its verdict is in its output.
func runFsck(t *testing.T, bin, dataDir string) (uint64, bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin,
		"--storage_url=file://"+filepath.Join(dataDir, "audit", "log")+"/",
		"--public_key="+filepath.Join(dataDir, "audit", "public.key"),
		"--ui=false", "-N=4",
	).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("fsck did not finish in 60s:\n%s", out)
	}
	m := regexp.MustCompile(`Successfully fsck'd log with size (\d+) `).FindSubmatch(out)
	if err != nil || m == nil || strings.Contains(string(out), "fsck failed") {
		return 0, false, string(out)
	}
	size, err := strconv.ParseUint(string(m[1]), 10, 64)
	return size, err == nil, string(out)
}
