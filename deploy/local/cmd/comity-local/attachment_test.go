package main_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read memory from: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// content is a reproducible stream of n pseudo-random bytes, so that a
// 100 MiB file never exists in this test's memory either.
func content(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'c', 'o', 'm', 'i', 't', 'y'}), n)
}

func TestA100MiBAttachmentStreamsThroughTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB through the real binaries")
	}
	const size = 100 << 20
	local, ctl := binaries(t)
	dataDir := filepath.Join(t.TempDir(), "var")
	p := start(t, local, dataDir)
	base := "http://" + p.http + "/v1"

	h := sha256.New()
	if _, err := io.Copy(h, content(size)); err != nil {
		t.Fatal(err)
	}
	sum := h.Sum(nil)

	prosecutor := token(t, ctl, dataDir, "kz-gpo", "prosecutor")
	status, body := call(t, "POST", base+"/requests", prosecutor,
		`{"type":"DATA_PRESERVATION","priority":"ROUTINE","requestedState":"UZ"}`)
	if status != 200 {
		t.Fatalf("create = %d %v", status, body)
	}
	name := body["name"].(string)

	before := peakRSS(t, p.cmd.Process.Pid)
	req, _ := http.NewRequest("POST", base+"/"+name+"/attachments:upload?kind=EVIDENCE", content(size))
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+prosecutor)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Disposition", `attachment; filename="disk-image.bin"`)
	req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload = %d %s", resp.StatusCode, up)
	}
	var att struct {
		Name      string `json:"name"`
		SizeBytes string `json:"sizeBytes"`
	}
	if err := json.Unmarshal(up, &att); err != nil || att.SizeBytes != strconv.Itoa(size) {
		t.Fatalf("upload answer %s (%v)", up, err)
	}

	req, _ = http.NewRequest("GET", base+"/"+att.Name+":download", nil)
	req.Header.Set("Authorization", "Bearer "+prosecutor)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != size {
		t.Fatalf("download = %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	if got := h.Sum(nil); string(got) != string(sum) {
		t.Error("the downloaded file differs from the uploaded one")
	}
	if d := resp.Header.Get("Repr-Digest"); d != "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":" {
		t.Errorf("Repr-Digest = %q", d)
	}
	after := peakRSS(t, p.cmd.Process.Pid)
	growth := after - before
	t.Logf("peak resident memory %d MiB before, %d MiB after 100 MiB up and down: +%d MiB", before>>20, after>>20, growth>>20)
	if growth >= 64<<20 {
		t.Errorf("peak resident memory grew by %d MiB moving a 100 MiB file; want under 64 MiB", growth>>20)
	}
	p.stop(t)
}
