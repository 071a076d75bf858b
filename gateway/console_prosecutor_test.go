package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// draftValues is a complete urgent preservation request to UZ, as the
// form sends it, with necessity as given: with the custodian and the
// announced follow-up that a preservation needs at submission (DESIGN
// §5.1).
func draftValues(requestID, necessity string) url.Values {
	start := time.Now().UTC().Add(-72 * time.Hour).Format("2006-01-02T15:04")
	end := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")
	return url.Values{
		"request_id": {requestID}, "type": {"DATA_PRESERVATION"}, "priority": {"URGENT"},
		"requested_state": {"UZ"}, "legal_basis": {"CIS_IT_CRIME_AGREEMENT_2018"},
		"case_reference":                {"KZ-CASE-2026-2001"},
		"offence.description":           {"Unauthorised access to the payment system of a regional bank"},
		"offence.legal_qualification":   {"Article 205 of the Criminal Code of the Republic of Kazakhstan"},
		"offence.maximum_penalty_years": {"7"},
		"facts_summary":                 {"The bank's payment gateway was accessed from an address hosted in Uzbekistan."},
		"identifier_rows":               {"1"}, "person_rows": {"1"},
		"identifiers[0].kind": {"IP_ADDRESS"}, "identifiers[0].value": {"203.0.113.7:443"},
		"identifiers[0].start_time": {start}, "identifiers[0].end_time": {end},
		"data_categories":               {"connection logs\nsubscriber of the address"},
		"necessity_and_proportionality": {necessity},
		"language":                      {"ru"},
		"custodian.provider":            {"Example Telecom LLC"}, "custodian.country": {"UZ"},
		"follow_up_intended.intended": {"true"}, "follow_up_intended.production_type": {"TRAFFIC_DATA"},
	}
}

const goodNecessity = "The logs are the only way to identify the intruder; they are kept for 30 days only, " +
	"so preservation is needed now; only the three days of the intrusion are concerned."

// fieldComplaint returns the complaint list shown next to the input with
// the HTML id, or "".
func fieldComplaint(body, id string) string {
	re := regexp.MustCompile(`(?s)<ul class="field-error" id="` + regexp.QuoteMeta(id) + `-error">(.*?)</ul>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " "))
}

// checkState is the state a page's checklist gives a safeguard.
func checkState(body, item string) string {
	m := regexp.MustCompile(`data-check="` + item + `" data-state="([a-z]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

var draftIDPattern = regexp.MustCompile(`^/requests/([A-Za-z0-9-]+)/edit\?saved=1$`)

// TestConsoleProsecutor drives the prosecutor's console pages over HTTP
// against the whole suite: a refused field's complaint sits next to the
// field; a form posted twice makes one draft; the live save answers the
// checklist and a new etag; a stale etag keeps the input; a refused submit
// places the safeguards' complaints next to their fields; withdraw,
// messages, and files uploaded streamed and downloaded as attachments.
func TestConsoleProsecutor(t *testing.T) {
	cs := startConsoleSuite(t)
	u := cs.signInHTTP(t, "kz-gpo", "prosecutor")

	t.Run("new form", func(t *testing.T) {
		p := u.get("/requests/new")
		if p.status != http.StatusOK {
			t.Fatalf("GET /requests/new: %d %s", p.status, p.body)
		}
		for _, want := range []string{`name="necessity_and_proportionality"`, `name="identifiers[0].value"`, `value="uz-247"`,
			`data-check="necessity" data-state="unknown"`, `name="request_id" value="`, "Maximum penalty (years)"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("the new-request form lacks %s", want)
			}
		}
		if strings.Contains(p.body, `<optgroup label="Kazakhstan`) {
			t.Error("the form offers agencies of the user's own state")
		}
	})

	t.Run("a refused field is shown next to it", func(t *testing.T) {
		v := draftValues("bad-field-1", goodNecessity)
		v.Set("language", "Russian please")
		p := u.post("/requests/new", v, nil)
		if p.status != http.StatusBadRequest {
			t.Fatalf("a draft with a bad language answered %d, want 400: %s", p.status, p.body)
		}
		if got := fieldComplaint(p.body, "language"); got == "" {
			t.Errorf("no complaint next to the language field: %s", p.body)
		}
		if !strings.Contains(p.body, `id="language" name="language" value="Russian please"`) || !strings.Contains(p.body, `aria-invalid="true"`) {
			t.Error("the refused form did not keep the input or mark the field invalid")
		}
		if !strings.Contains(p.body, "Unauthorised access to the payment system") {
			t.Error("the refused form lost the other fields' input")
		}
	})

	t.Run("another identifier row without JavaScript", func(t *testing.T) {
		v := draftValues("rows-1", goodNecessity)
		v.Set("add", "identifier")
		p := u.post("/requests/new", v, nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, `name="identifiers[1].value"`) ||
			!strings.Contains(p.body, `value="203.0.113.7:443"`) {
			t.Errorf("adding an identifier row: %d, second row or first value missing", p.status)
		}
	})

	var id string
	t.Run("a double post makes one draft", func(t *testing.T) {
		v := draftValues("double-post-1", "Too short.")
		first := u.post("/requests/new", v, nil)
		second := u.post("/requests/new", v, nil)
		m1, m2 := draftIDPattern.FindStringSubmatch(first.location), draftIDPattern.FindStringSubmatch(second.location)
		if first.status != http.StatusSeeOther || m1 == nil || m2 == nil {
			t.Fatalf("create answered %d %q and %d %q, want 303 to the draft", first.status, first.location, second.status, second.location)
		}
		if m1[1] != m2[1] {
			t.Errorf("posting the same form twice made two drafts: %s and %s", m1[1], m2[1])
		}
		id = m1[1]
	})
	if id == "" {
		t.Fatal("no draft")
	}

	t.Run("the draft's checklist comes from the service", func(t *testing.T) {
		p := u.get("/requests/" + id + "/edit?saved=1")
		if p.status != http.StatusOK {
			t.Fatalf("edit page: %d %s", p.status, p.body)
		}
		if got := checkState(p.body, "necessity"); got != "unmet" {
			t.Errorf("the necessity safeguard of a short statement is %q, want unmet", got)
		}
		if got := checkState(p.body, "legal_basis"); got != "met" {
			t.Errorf("the legal basis safeguard is %q, want met", got)
		}
		if got := fieldComplaint(p.body, "necessity_and_proportionality"); !strings.Contains(got, "too short to be of real substance") {
			t.Errorf("the necessity field's complaint is %q, want the console's words for NECESSITY_TOO_SHORT", got)
		}
		if !strings.Contains(p.body, "Draft saved at") {
			t.Error("the saved draft's page does not say it was saved")
		}
	})

	t.Run("a live save answers the checklist, the etag and the status", func(t *testing.T) {
		p := u.get("/requests/" + id + "/edit")
		etag := regexp.MustCompile(`id="draft-etag" name="etag" value="([^"]*)"`).FindStringSubmatch(p.body)
		if etag == nil {
			t.Fatal("no etag in the form")
		}
		v := draftValues("double-post-1", goodNecessity)
		v.Set("id", id)
		v.Set("etag", html.UnescapeString(etag[1]))
		live := u.post("/requests/"+id+"/edit", v, http.Header{"Hx-Request": {"true"}})
		if live.status != http.StatusOK {
			t.Fatalf("live save: %d %s", live.status, live.body)
		}
		if got := checkState(live.body, "necessity"); got != "met" {
			t.Errorf("after the fix the necessity safeguard is %q, want met", got)
		}
		newEtag := regexp.MustCompile(`id="draft-etag" name="etag" value="([^"]*)" hx-swap-oob="true"`).FindStringSubmatch(live.body)
		if newEtag == nil || newEtag[1] == etag[1] {
			t.Errorf("the live save did not send the new etag out of band: %s", live.body)
		}
		if !strings.Contains(live.body, `id="draft-status" hx-swap-oob="innerHTML"`) || !strings.Contains(live.body, "Every safeguard is met.") {
			t.Errorf("the live save's status line is missing or wrong: %s", live.body)
		}
		if !strings.Contains(live.body, `id="necessity_and_proportionality-slot" hx-swap-oob="innerHTML"`) {
			t.Error("the live save does not refresh the field's complaint slot")
		}

		// The same etag again is stale: conflict, input kept.
		v.Set("case_reference", "KZ-CASE-TYPED-BY-HAND")
		stale := u.post("/requests/"+id+"/edit", v, nil)
		if stale.status != http.StatusConflict {
			t.Fatalf("a stale etag answered %d, want 409", stale.status)
		}
		if !strings.Contains(stale.body, "changed this in the meantime") || !strings.Contains(stale.body, `value="KZ-CASE-TYPED-BY-HAND"`) {
			t.Errorf("the conflict does not say so or lost the input: %s", stale.body)
		}
	})

	t.Run("a refused submit places the safeguards", func(t *testing.T) {
		v := draftValues("incomplete-1", "short")
		v.Del("legal_basis")
		p := u.post("/requests/new", v, nil)
		m := draftIDPattern.FindStringSubmatch(p.location)
		if m == nil {
			t.Fatalf("create: %d %s", p.status, p.body)
		}
		form := u.get("/requests/" + m[1] + "/submit")
		if form.status != http.StatusOK || checkState(form.body, "legal_basis") != "unmet" {
			t.Errorf("the submit page does not show the unmet legal basis: %d", form.status)
		}
		refused := u.post("/requests/"+m[1]+"/submit", url.Values{}, nil)
		if refused.status != http.StatusBadRequest {
			t.Fatalf("submitting an incomplete draft answered %d, want 400", refused.status)
		}
		for id, want := range map[string]string{
			"legal_basis": "Choose the legal basis", "necessity_and_proportionality": "too short",
		} {
			if got := fieldComplaint(refused.body, id); !strings.Contains(got, want) {
				t.Errorf("after the refused submit the complaint next to %s is %q, want %q", id, got, want)
			}
		}
	})

	t.Run("submit, message, withdraw", func(t *testing.T) {
		ok := u.post("/requests/"+id+"/submit", url.Values{}, nil)
		if ok.status != http.StatusSeeOther || ok.location != "/requests/"+id+"?done=submit" {
			t.Fatalf("submit: %d %q %s", ok.status, ok.location, ok.body)
		}
		page := u.get(ok.location)
		if !strings.Contains(page.body, "submitted to your central authority") || !strings.Contains(page.body, "Submitted") {
			t.Error("the request's page does not confirm the submission")
		}

		empty := u.post("/requests/"+id+"/messages", url.Values{"body": {""}, "visibility": {"OWN_AGENCY"}}, nil)
		if empty.status != http.StatusBadRequest || fieldComplaint(empty.body, "message-body") == "" {
			t.Errorf("an empty message answered %d without a complaint next to it", empty.status)
		}
		posted := u.post("/requests/"+id+"/messages", url.Values{"body": {"Please hurry: the logs expire."}, "visibility": {"OWN_AGENCY"}}, nil)
		if posted.status != http.StatusSeeOther {
			t.Fatalf("message: %d %s", posted.status, posted.body)
		}
		page = u.get("/requests/" + id)
		if !strings.Contains(page.body, "Please hurry: the logs expire.") || !strings.Contains(page.body, "My agency only") {
			t.Error("the timeline does not show the message")
		}
		if strings.Index(page.body, "Please hurry") < strings.Index(page.body, "Submitted") {
			t.Error("the message comes before the submission on the timeline")
		}

		noReason := u.post("/requests/"+id+"/withdraw", url.Values{"reason": {""}}, nil)
		if noReason.status != http.StatusBadRequest || fieldComplaint(noReason.body, "text") == "" {
			t.Errorf("a withdrawal without a reason answered %d without a complaint next to the reason", noReason.status)
		}
		done := u.post("/requests/"+id+"/withdraw", url.Values{"text": {"Filed by mistake."}}, nil)
		if done.status != http.StatusSeeOther {
			t.Fatalf("withdraw: %d %s", done.status, done.body)
		}
		if page := u.get("/requests/" + id); !strings.Contains(page.body, "Withdrawn") || !strings.Contains(page.body, "Filed by mistake.") {
			t.Error("the withdrawn request's page does not say so")
		}
		if page := u.get("/requests/" + id); !strings.Contains(page.body, `data-action="close"`) || strings.Contains(page.body, `data-action="withdraw"`) {
			t.Error("the withdrawn request's page does not offer to close it, or still offers to withdraw it")
		}
		closed := u.post("/requests/"+id+"/close", url.Values{}, nil)
		if closed.status != http.StatusSeeOther {
			t.Fatalf("close: %d %s", closed.status, closed.body)
		}
		if page := u.get(closed.location); !strings.Contains(page.body, "The case was closed.") || !strings.Contains(page.body, "Closed") {
			t.Error("the closed request's page does not say so")
		}
	})

	t.Run("answer the requested side's questions", func(t *testing.T) {
		p := u.post("/requests/new", draftValues("answer-1", goodNecessity), nil)
		m := draftIDPattern.FindStringSubmatch(p.location)
		if m == nil {
			t.Fatalf("create: %d %s", p.status, p.body)
		}
		if p := u.post("/requests/"+m[1]+"/submit", url.Values{}, nil); p.status != http.StatusSeeOther {
			t.Fatalf("submit: %d %s", p.status, p.body)
		}
		path := "/v1/requests/" + m[1]
		kzCA, uzCA := cs.token("kz-gpo", identity.CentralAuthority), cs.token("uz-247", identity.CentralAuthority)
		cs.mustDo("POST", path+":transmit", kzCA, map[string]any{}, http.StatusOK)
		cs.mustDo("POST", path+":acknowledge", uzCA, map[string]any{}, http.StatusOK)
		cs.mustDo("POST", path+":requestClarification", uzCA, map[string]any{"questions": "Which time zone are the times in?"}, http.StatusOK)

		page := u.get("/requests/" + m[1])
		if !strings.Contains(page.body, `data-action="answer"`) {
			t.Error("the request's page does not offer to answer the questions")
		}
		form := u.get("/requests/" + m[1] + "/answer")
		if form.status != http.StatusOK || !strings.Contains(form.body, "Which time zone are the times in?") {
			t.Fatalf("the answer page does not show the questions asked: %d", form.status)
		}
		etag := regexp.MustCompile(`name="etag" value="([^"]*)"`).FindStringSubmatch(form.body)
		if etag == nil {
			t.Fatal("the answer form has no etag")
		}
		empty := u.post("/requests/"+m[1]+"/answer", url.Values{"etag": {html.UnescapeString(etag[1])}, "text": {""}}, nil)
		if empty.status != http.StatusBadRequest || fieldComplaint(empty.body, "text") == "" || !strings.Contains(empty.body, "Which time zone") {
			t.Errorf("an empty answer answered %d without a complaint next to it or without the questions", empty.status)
		}
		done := u.post("/requests/"+m[1]+"/answer", url.Values{"etag": {html.UnescapeString(etag[1])}, "text": {"All times are in UTC."}}, nil)
		if done.status != http.StatusSeeOther {
			t.Fatalf("answer: %d %s", done.status, done.body)
		}
		if page := u.get(done.location); !strings.Contains(page.body, "Your answers were sent.") || !strings.Contains(page.body, "All times are in UTC.") {
			t.Error("the request's page does not show the answer")
		}
	})
}

// uploadBody streams a multipart upload form whose file is size bytes of
// content from gen: nothing of it is held whole.
func uploadBody(t *testing.T, name string, size int64, digest string, gen func() io.Reader) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			if err := mw.WriteField("kind", "EVIDENCE"); err != nil {
				return err
			}
			if err := mw.WriteField("language", "ru"); err != nil {
				return err
			}
			if digest != "" {
				if err := mw.WriteField("sha256", digest); err != nil {
					return err
				}
			}
			h := make(map[string][]string)
			h["Content-Disposition"] = []string{mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name})}
			h["Content-Type"] = []string{"text/html"}
			part, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			if _, err := io.CopyN(part, gen(), size); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

// pattern is an endless reader of bytes that are not all alike.
type pattern struct{ n byte }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.n*31 + 7
		p.n++
	}
	return len(b), nil
}

// TestConsoleAttachments uploads files through the console's form,
// streamed to the service, and downloads them as attachments: always
// application/octet-stream with nosniff, a file name made safe for the
// header (quotes, newlines, bidi overrides), the exact content; a large
// upload does not grow the heap by its size.
func TestConsoleAttachments(t *testing.T) {
	cs := startConsoleSuite(t)
	u := cs.signInHTTP(t, "kz-gpo", "prosecutor")
	p := u.post("/requests/new", draftValues("attachments-1", goodNecessity), nil)
	m := draftIDPattern.FindStringSubmatch(p.location)
	if m == nil {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	id := m[1]

	upload := func(name string, size int64, withDigest bool) consolePage {
		t.Helper()
		digest := ""
		if withDigest {
			h := sha256.New()
			io.CopyN(h, &pattern{}, size)
			digest = hex.EncodeToString(h.Sum(nil))
		}
		body, ct := uploadBody(t, name, size, digest, func() io.Reader { return &pattern{} })
		req, err := http.NewRequest(http.MethodPost, u.base+"/requests/"+id+"/attachments", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		return u.do(req)
	}

	t.Run("a name that hides what it is is refused next to the file", func(t *testing.T) {
		p := upload("report\u202egnp.exe", 1000, false)
		if p.status != http.StatusBadRequest {
			t.Fatalf("an upload named with a bidi override answered %d, want 400", p.status)
		}
		if got := fieldComplaint(p.body, "upload-filename"); !strings.Contains(got, "RIGHT-TO-LEFT OVERRIDE") {
			t.Errorf("the complaint next to the file is %q", got)
		}
	})

	name := "Заключение эксперта №5 (final); 100% 'draft'.pdf"
	t.Run("uploaded without a digest from the browser, downloaded as an attachment", func(t *testing.T) {
		p := upload(name, 100_000, false)
		if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "?done=upload#attachments") {
			t.Fatalf("upload: %d %q %s", p.status, p.location, p.body)
		}
		page := u.get("/requests/" + id + "?done=upload")
		if !strings.Contains(page.body, "The file was uploaded.") {
			t.Error("the request's page does not confirm the upload")
		}
		href := regexp.MustCompile(`href="(/requests/` + id + `/attachments/[A-Za-z0-9-]+)" download`).FindStringSubmatch(page.body)
		if href == nil {
			t.Fatalf("the request's page lists no attachment: %s", page.body)
		}
		resp, err := u.http.Get(u.base + href[1])
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		want, _ := io.ReadAll(io.LimitReader(&pattern{}, 100_000))
		if resp.StatusCode != http.StatusOK || string(got) != string(want) {
			t.Fatalf("download: %d, %d bytes (want %d, the same content)", resp.StatusCode, len(got), len(want))
		}
		h := resp.Header
		if h.Get("Content-Type") != "application/octet-stream" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("download headers: Content-Type %q, nosniff %q", h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
		}
		disp := h.Get("Content-Disposition")
		typ, params, err := mime.ParseMediaType(disp)
		if err != nil || typ != "attachment" {
			t.Fatalf("Content-Disposition %q: %v", disp, err)
		}
		// Go's parser prefers filename*: the name as the user will see it.
		if params["filename"] != name {
			t.Errorf("Content-Disposition %q gives the name %q, want %q", disp, params["filename"], name)
		}
		fallback := regexp.MustCompile(`filename="([^"]*)"`).FindStringSubmatch(disp)
		if fallback == nil || strings.ContainsFunc(fallback[1], func(r rune) bool { return r > 0x7e }) {
			t.Errorf("Content-Disposition %q has no ASCII fallback name", disp)
		}
	})

	t.Run("a large upload streams through", func(t *testing.T) {
		const size = 96 << 20
		old := debug.SetGCPercent(10)
		defer debug.SetGCPercent(old)
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}()
		p := upload("large.bin", size, true)
		close(stop)
		wg.Wait()
		if p.status != http.StatusSeeOther {
			t.Fatalf("large upload: %d %s", p.status, p.body)
		}
		grew := int64(peak.Load()) - int64(base.HeapAlloc)
		t.Logf("a %d MiB upload grew the heap by %d MiB at most", size>>20, grew>>20)
		if grew > size/3 {
			t.Errorf("a %d MiB upload grew the heap by %d MiB: it was held in memory", size>>20, grew>>20)
		}
		if page := u.get("/requests/" + id); !strings.Contains(page.body, "large.bin") || !strings.Contains(page.body, "96.0 MiB") {
			t.Error("the request's page does not list the large file")
		}
	})

	t.Run("a file over the limit is refused", func(t *testing.T) {
		p := upload("huge.bin", 101<<20, true)
		if p.status != http.StatusRequestEntityTooLarge || !strings.Contains(p.body, "larger than the limit") {
			t.Errorf("an upload over the limit answered %d: %.300s", p.status, p.body)
		}
	})
}
