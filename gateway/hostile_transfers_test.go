package gateway_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/httpserver"
	"github.com/comity-mla/comity/services/request"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths, for a gateway serving HTTPS (and so HTTP/2).
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "comity gateway test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "https.crt"), filepath.Join(dir, "https.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// heldUpload starts an upload of an announced 1 MiB whose body sends a few
// bytes and then waits: it holds its transfer place (and, on the service,
// a blob file) until the test ends it. It returns the function that ends
// it and a channel with the upload's answer.
func heldUpload(t *testing.T, s *suite, path, token string) (end func(), answer <-chan *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, s.baseURL+path+"/attachments:upload?kind=EVIDENCE", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 20
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("Content-Disposition", `attachment; filename="held.pdf"`)
	sum := sha256.Sum256(nil)
	req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	out := make(chan *http.Response, 1)
	go func() {
		resp, err := s.http.Do(req)
		if err != nil {
			out <- nil
			return
		}
		out <- resp
	}()
	go func() { _, _ = pw.Write([]byte("%PDF-1.7 ")) }()
	ended := false
	end = func() {
		if !ended {
			ended = true
			pw.CloseWithError(fmt.Errorf("the test ends the held upload"))
		}
	}
	t.Cleanup(end)
	return end, out
}

// untilRefused uploads a small file as token until the answer is a 429
// saying want (the held transfers take their places as the service reads
// them), and fails the test after 15 s without one.
func untilRefused(t *testing.T, s *suite, path, token, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.upload(path, token, "EVIDENCE", "", "probe.pdf", []byte("%PDF-1.7 probe"), nil)
		if r.status == http.StatusTooManyRequests {
			if !strings.Contains(r.message(), want) || !strings.Contains(r.message(), "retry") || r.header.Get("Retry-After") == "" {
				t.Fatalf("upload refused with 429 %q (Retry-After %q); want it to name %q and ask to retry", r.message(), r.header.Get("Retry-After"), want)
			}
			return
		}
		if r.status != http.StatusOK {
			t.Fatalf("upload = %d %s; want 200 until the bound is reached, then 429", r.status, r.raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads beyond the bound on transfers in progress still succeed after 15 s (want 429 naming %s)", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Uploads held open over one HTTP/2 connection (the gateway serving HTTPS)
// cannot take more than the transfer bounds: one agency's beyond its share
// get 429 naming --max-transfers-per-agency while another agency's upload
// succeeds; beyond the total everyone's get 429 naming --max-transfers;
// and the places come back when the held uploads end.
func TestHostileTransfersAreBounded(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	s := startSuite(t, suiteOptions{
		dataDir: dir, httpsCert: cert, httpsKey: key,
		transfers: request.TransferLimits{Total: 5, PerAgency: 3},
		// The held bodies wait far longer than the test.
		http: httpserver.Options{BodyWindow: time.Minute},
	})
	ownRequest := func(agency, to string) (string, string) {
		tok := s.token(agency, identity.Prosecutor)
		body := preservation()
		body["requestedState"] = to
		return "/v1/" + s.mustDo("POST", "/v1/requests", tok, body, http.StatusOK).body["name"].(string), tok
	}
	if resp, err := s.http.Get(s.baseURL + "/healthz"); err != nil || resp.ProtoMajor != 2 {
		t.Fatalf("the gateway over HTTPS does not speak HTTP/2: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	kzPath, kz := ownRequest("kz-gpo", "UZ")
	uzPath, uz := ownRequest("uz-gpo", "KZ")
	tjPath, tj := ownRequest("tj-gpo", "KZ")

	var ends []func()
	var answers []<-chan *http.Response
	// hold starts a held upload and waits until the service holds its
	// file (in the blob store's directory of uploads in progress), so that
	// no probe takes its place first.
	hold := func(path, tok string) {
		end, answer := heldUpload(t, s, path, tok)
		ends, answers = append(ends, end), append(answers, answer)
		deadline := time.Now().Add(15 * time.Second)
		for {
			files, _ := os.ReadDir(filepath.Join(dir, "attachments", "tmp"))
			if len(files) == len(ends) {
				return
			}
			select {
			case resp := <-answer:
				t.Fatalf("held upload %d ended at once: %v", len(ends), resp)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d uploads in progress after 15 s, want %d", len(files), len(ends))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for range 3 {
		hold(kzPath, kz)
	}
	untilRefused(t, s, kzPath, kz, "--max-transfers-per-agency")
	// Another agency is not held off by kz-gpo's share.
	if r := s.upload(uzPath, uz, "EVIDENCE", "", "other.pdf", []byte("%PDF-1.7 from UZ"), nil); r.status != http.StatusOK {
		t.Fatalf("uz-gpo's upload while kz-gpo holds its share = %d %s, want 200", r.status, r.raw)
	}
	for range 2 {
		hold(tjPath, tj)
	}
	untilRefused(t, s, uzPath, uz, "--max-transfers)")

	for _, end := range ends {
		end()
	}
	for _, a := range answers {
		select {
		case resp := <-a:
			if resp != nil {
				resp.Body.Close()
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a held upload whose body broke off got no answer in 15 s")
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.upload(kzPath, kz, "EVIDENCE", "", "after.pdf", []byte("%PDF-1.7 after"), nil)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the held uploads ended, an upload = %d %s: their places did not come back", r.status, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client that starts a download and stops reading is cut within the
// write-progress deadline, and the download's transfer place (the blob
// file the service holds) is freed: with a bound of one transfer, the next
// download succeeds.
func TestHostileDownloadStalledClientIsCut(t *testing.T) {
	s := startSuite(t, suiteOptions{
		transfers: request.TransferLimits{Total: 1},
		http:      httpserver.Options{WriteProgress: time.Second},
	})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	path := "/v1/" + s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK).body["name"].(string)
	// Larger than every buffer between the service's file and the stalled
	// client (the gRPC window, the sockets'): the service cannot send it
	// all and finish on its own.
	content := bytes.Repeat([]byte("%PDF-1.7 evidence "), (48<<20)/18)
	up := s.upload(path, prosecutor, "EVIDENCE", "", "big.pdf", content, nil)
	if up.status != http.StatusOK {
		t.Fatalf("upload = %d %s", up.status, up.raw)
	}
	download := "/v1/" + up.body["name"].(string) + ":download"

	addr := strings.TrimPrefix(s.baseURL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", download, addr, prosecutor)
	head := make([]byte, 12)
	if _, err := io.ReadFull(c, head); err != nil || string(head) != "HTTP/1.1 200" {
		t.Fatalf("stalled download began with %q, %v; want HTTP/1.1 200", head, err)
	}
	// The client now reads nothing. The stalled download holds the one
	// transfer place until the gateway cuts it.
	started := time.Now()
	deadline := started.Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, s.baseURL+download, nil)
		req.Header.Set("Authorization", "Bearer "+prosecutor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && n == int64(len(content)) {
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("download while another is stalled = %d (%d bytes); want 429 until the stalled one is cut, then 200", resp.StatusCode, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("a download whose client stopped reading still held its transfer place %s later (write-progress deadline 1 s)", time.Since(started).Round(time.Second))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The stalled connection was cut: what it can still read (what the
	// sockets held) ends well short of the file.
	freed := time.Since(started)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := io.Copy(io.Discard, c)
	if n >= int64(len(content)) {
		t.Errorf("the stalled client could still read all %d bytes: its download was not cut", n)
	}
	t.Logf("stalled download cut after %d bytes; the next one succeeded %s after the client stopped reading", n, freed.Round(100*time.Millisecond))
}
