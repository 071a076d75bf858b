package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// uploadNamed uploads content under a file name sent as RFC 8187
// filename*, which carries any character.
func uploadNamed(t *testing.T, s *suite, path, token, filename string, content []byte) response {
	t.Helper()
	req, err := http.NewRequest("POST", s.baseURL+path+"/attachments:upload?kind=EVIDENCE", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/pdf")
	req.Header.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(filename))
	req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// TestHostileFileNamesThatLie: a file name with a bidirectional control
// (U+202E makes "\u202Efdp.exe" show as "exe.pdf") or another invisible
// format character used to be accepted. It is refused, naming the field and
// the character; a name stored before is served without it, always as an
// attachment that the browser must not sniff.
func TestHostileFileNamesThatLie(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	r := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), http.StatusOK)
	path := "/v1/" + r.body["name"].(string)
	content := []byte("%PDF-1.7 hostile names")

	for _, tc := range []struct {
		name, filename, want string
	}{
		{"right-to-left override", "\u202Efdp.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
		{"right-to-left isolate", "report\u2067fdp.exe", "U+2067 (RIGHT-TO-LEFT ISOLATE)"},
		{"arabic letter mark", "\u061Cinvoice.pdf", "U+061C (ARABIC LETTER MARK)"},
		{"zero width space", "scan\u200B.pdf", "U+200B (ZERO WIDTH SPACE)"},
		{"byte order mark", "\uFEFFscan.pdf", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"},
		{"another format character", "scan\U000E0001.pdf", "U+E0001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := uploadNamed(t, s, path, prosecutor, tc.filename, content)
			found := false
			for _, v := range got.violations() {
				found = found || strings.Contains(v, "filename") && strings.Contains(v, tc.want) && strings.Contains(v, "rename the file")
			}
			if got.status != http.StatusBadRequest || !found {
				t.Errorf("upload named %q = %d %.400s; want 400 naming filename and %s", tc.filename, got.status, got.raw, tc.want)
			}
		})
	}
	if got := uploadNamed(t, s, path, prosecutor, "заявление №7.pdf", content); got.status != http.StatusOK {
		t.Fatalf("upload of a plain Cyrillic name = %d %s", got.status, got.raw)
	}

	// A name stored before uploads refused such characters.
	stored := uploadNamed(t, s, path, prosecutor, "legacy.pdf", content)
	if stored.status != http.StatusOK {
		t.Fatalf("upload = %d %s", stored.status, stored.raw)
	}
	att := stored.body["name"].(string)
	db, err := sqlitedb.Open(t.Context(), filepath.Join(s.dataDir, "request.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Write.ExecContext(t.Context(), `UPDATE attachments SET filename = ? WHERE id = ?`,
		"\u202Efdp.exe", att[strings.LastIndex(att, "/")+1:])
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.baseURL+"/v1/"+att+":download", nil)
	req.Header.Set("Authorization", "Bearer "+prosecutor)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cd := resp.Header.Get("Content-Disposition")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(cd, "attachment;") || strings.Contains(cd, "\u202E") ||
		strings.Contains(strings.ToUpper(cd), "%E2%80%AE") || !strings.Contains(cd, "fdp.exe") {
		t.Errorf("download of a stored %q = %d, Content-Disposition %q; want an attachment named fdp.exe", "\u202Efdp.exe", resp.StatusCode, cd)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q; want nosniff", got)
	}
	list := s.mustDo("GET", path+"/attachments", prosecutor, nil, http.StatusOK)
	if strings.Contains(list.raw, "\u202E") || strings.Contains(list.raw, `\u202e`) || strings.Contains(list.raw, `\u202E`) {
		t.Errorf("the attachment list shows the hidden character: %.400s", list.raw)
	}
}
