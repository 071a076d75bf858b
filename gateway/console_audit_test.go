package gateway_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// auditUser is a browser without JavaScript: an HTTP client with its own
// cookies, signed in to the console through the development provider.
type auditUser struct {
	t    *testing.T
	base string
	http *http.Client
}

var auditAuthRequestIDPattern = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// auditSignIn signs in to the console of cs as a user of agency with
// role, through the development provider's sign-in form, as a browser
// would: the console's session cookie ends up in the client's jar.
func auditSignIn(t *testing.T, cs *consoleSuite, agency, role string) *auditUser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &auditUser{t: t, base: cs.baseURL, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: auditEnglishTransport{}}}
	resp, err := u.http.Get(cs.baseURL + "/signin/start?provider=dev")
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	page := auditReadBody(t, resp)
	m := auditAuthRequestIDPattern.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("sign-in: the provider's page at %s has no sign-in form: %s", resp.Request.URL, page)
	}
	resp, err = u.http.PostForm(resp.Request.URL.String(), url.Values{
		"authRequestID": {html.UnescapeString(m[1])}, "agency": {agency}, "role": {role}, "name": {"Test " + agency},
	})
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	page = auditReadBody(t, resp)
	if !strings.Contains(page, `data-who="agency">`+agency+`<`) {
		t.Fatalf("sign-in as %s %s did not end signed in (at %s, status %d): %s", agency, role, resp.Request.URL, resp.StatusCode, page)
	}
	return u
}

// auditEnglishTransport asks for English pages, as a browser set to English
// does.
type auditEnglishTransport struct{}

func (auditEnglishTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", "en")
	return http.DefaultTransport.RoundTrip(r)
}

func auditReadBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// get fetches a console page and returns its status and HTML.
func (u *auditUser) get(path string) (int, string) {
	u.t.Helper()
	resp, err := u.http.Get(u.base + path)
	if err != nil {
		u.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, auditReadBody(u.t, resp)
}

// post sends a console form and returns the final status, HTML and
// address (redirects followed).
func (u *auditUser) post(path string, form url.Values) (int, string, *http.Response) {
	u.t.Helper()
	resp, err := u.http.PostForm(u.base+path, form)
	if err != nil {
		u.t.Fatalf("POST %s: %v", path, err)
	}
	body := auditReadBody(u.t, resp)
	return resp.StatusCode, body, resp
}

var (
	auditRowPattern      = regexp.MustCompile(`data-entry="(\d+)"`)
	auditResourcePattern = regexp.MustCompile(`data-resource="([^"]*)"`)
	auditActionPattern   = regexp.MustCompile(`<span class="action-name" title="([^"]*)"`)
	auditNextPattern     = regexp.MustCompile(`href="([^"]*)" rel="next"`)
	auditHiddenEtag      = regexp.MustCompile(`name="etag" value="([^"]*)"`)
	auditVerifyPattern   = regexp.MustCompile(`<code data-verify-command>([^<]*)</code>`)
)

// auditRowIndexes are the leaf indexes of the rows of a trail page, in order.
// waitForCheckpoint waits, at most 30 s, until the latest checkpoint the
// console shows has at least size entries.
func waitForCheckpoint(t *testing.T, auditor *auditUser, size uint64) {
	t.Helper()
	start := time.Now()
	for {
		code, page := auditor.get("/audit/checkpoint")
		if code != http.StatusOK {
			t.Fatalf("/audit/checkpoint = %d: %s", code, page)
		}
		note := regexp.MustCompile(`(?s)<pre class="note" data-note[^>]*>[^\n]*\n([0-9]+)\n`).FindStringSubmatch(page)
		if note == nil {
			t.Fatalf("the checkpoint page shows no signed note of the log: %s", page)
		}
		if n, _ := strconv.ParseUint(note[1], 10, 64); n >= size {
			t.Logf("checkpoint %d covers entry %d after %v", n, size-1, time.Since(start))
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no checkpoint covered entry %d within 30 s (the latest has %s entries)", size-1, note[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func auditRowIndexes(t *testing.T, page string) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range auditRowPattern.FindAllStringSubmatch(page, -1) {
		n, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func auditSubmatches(re *regexp.Regexp, page string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// TestConsoleAuditPages drives the auditor's pages without a browser: a KZ
// auditor's trail shows the KZ events of a request and never its content,
// the filters narrow it, pages follow in order, the request's events are
// one link away, the checkpoint is shown, and the export downloads a bundle
// that the exact command the page shows (the built comityctl) verifies; a
// prosecutor is refused.
func TestConsoleAuditPages(t *testing.T) {
	cs := startConsoleSuite(t)
	bin := comityctl(t)
	const secret = "Zebra-Okapi-4471 wired the funds through a kiosk in Shymkent"

	kz := cs.token("kz-gpo", identity.Prosecutor)
	body := gatewaytest.Preservation()
	body["factsSummary"] = secret
	created := cs.mustDo(http.MethodPost, "/v1/requests", kz, body, http.StatusOK)
	name, _ := created.body["name"].(string)
	if !strings.HasPrefix(name, "requests/") {
		t.Fatalf("create answered no name: %s", created.raw)
	}
	// A translation attached to the draft: its events have the resource
	// requests/X/attachments/Y, which the request's events include.
	att := cs.client().Upload("/v1/"+name, kz, "TRANSLATION", "uz", "tarjima.pdf", []byte("%PDF-1.4 tarjima"), nil)
	attName, _ := att.Body["name"].(string)
	if att.Status != http.StatusOK || !strings.HasPrefix(attName, name+"/attachments/") {
		t.Fatalf("upload = %d %s", att.Status, att.Raw)
	}
	cs.download("/v1/"+attName+":download", kz, http.StatusOK)
	// More than a page of events of the request: its reads.
	for range 55 {
		cs.mustDo(http.MethodGet, "/v1/"+name, kz, nil, http.StatusOK)
	}

	auditor := auditSignIn(t, cs, "kz-oversight", "auditor")
	requestEvents := "/audit?" + url.Values{"resource": {name}}.Encode()
	// The events reach the trail through the services' relays: wait for
	// all of the request's (its create, upload, download and 55 reads).
	var first string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, page := auditor.get(requestEvents)
		if code != http.StatusOK {
			t.Fatalf("%s = %d: %s", requestEvents, code, page)
		}
		// The first page fills before the last events arrive: wait until
		// the page after it holds the rest too.
		if next := auditNextPattern.FindStringSubmatch(page); next != nil {
			if _, second := auditor.get(html.UnescapeString(next[1])); len(auditRowIndexes(t, second)) >= 6 {
				first = page
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request's events did not fill a page within 30 s: %s", page)
		}
		time.Sleep(300 * time.Millisecond)
	}
	pages := []string{first}

	t.Run("the request's events, paged", func(t *testing.T) {
		idx := auditRowIndexes(t, first)
		if len(idx) != 50 {
			t.Fatalf("the first page has %d entries, want 50", len(idx))
		}
		for _, r := range auditSubmatches(auditResourcePattern, first) {
			if r != name && !strings.HasPrefix(r, name+"/") {
				t.Errorf("the request's events list an event of %q", r)
			}
		}
		if !strings.Contains(first, `data-request-events="`+name+`"`) {
			t.Error("the page does not say whose events it shows")
		}
		next := auditNextPattern.FindStringSubmatch(first)
		if next == nil {
			t.Fatal("no link to the next page")
		}
		code, second := auditor.get(html.UnescapeString(next[1]))
		if code != http.StatusOK {
			t.Fatalf("next page = %d: %s", code, second)
		}
		pages = append(pages, second)
		idx2 := auditRowIndexes(t, second)
		if len(idx2) < 6 {
			t.Errorf("the second page has %d entries, want the remaining ≥ 6", len(idx2))
		}
		all := append(idx, idx2...)
		for i := 1; i < len(all); i++ {
			if all[i] >= all[i-1] {
				t.Fatalf("entries not newest first across the pages: %v", all)
			}
		}
		if !slices.Contains(auditSubmatches(auditResourcePattern, first+second), attName) {
			t.Errorf("the request's events lack those of its attachment %s", attName)
		}
		actions := auditSubmatches(auditActionPattern, first+second)
		if !slices.Contains(actions, "/comity.request.v1.RequestService/CreateRequest") || !slices.Contains(actions, "/comity.request.v1.RequestService/GetRequest") {
			t.Errorf("the request's events lack its creation or reads: %v", actions)
		}
	})

	t.Run("the whole trail and its filters", func(t *testing.T) {
		code, trail := auditor.get("/audit")
		if code != http.StatusOK || len(auditRowIndexes(t, trail)) == 0 {
			t.Fatalf("/audit = %d with %d entries", code, len(auditRowIndexes(t, trail)))
		}
		pages = append(pages, trail)
		if !strings.Contains(trail, `href="/audit?resource=`+url.QueryEscape(name)+`"`) {
			t.Error("the trail's entries of the request do not link to the request's events")
		}
		create := "/comity.request.v1.RequestService/CreateRequest"
		code, filtered := auditor.get("/audit?" + url.Values{"action": {create}}.Encode())
		if code != http.StatusOK {
			t.Fatalf("filtered by action = %d: %s", code, filtered)
		}
		pages = append(pages, filtered)
		acts := auditSubmatches(auditActionPattern, filtered)
		if len(acts) != 1 || acts[0] != create {
			t.Errorf("filtered by %s, the trail lists %v; want the one creation", create, acts)
		}
		code, failed := auditor.get("/audit?outcome=%21OK&resource=" + url.QueryEscape(name))
		if code != http.StatusOK || strings.Contains(failed, "data-entry=") || !strings.Contains(failed, "data-empty") {
			t.Errorf("the request's failed events = %d, want none: %s", code, failed)
		}
		future := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
		if code, later := auditor.get("/audit?from=" + future); code != http.StatusOK || strings.Contains(later, "data-entry=") {
			t.Errorf("events from an hour ahead = %d, want none", code)
		}
		code, bad := auditor.get("/audit?from=yesterday")
		if code != http.StatusBadRequest || !strings.Contains(bad, "Enter a date and time such as") || !strings.Contains(bad, `aria-invalid="true"`) {
			t.Errorf("a bad time = %d, want 400 with the complaint on the field: %s", code, bad)
		}
	})

	t.Run("checkpoint", func(t *testing.T) {
		code, page := auditor.get("/audit/checkpoint")
		if code != http.StatusOK {
			t.Fatalf("/audit/checkpoint = %d: %s", code, page)
		}
		pages = append(pages, page)
		note := regexp.MustCompile(`(?s)<pre class="note" data-note[^>]*>(.*?)</pre>`).FindStringSubmatch(page)
		if note == nil || !strings.HasPrefix(html.UnescapeString(note[1]), "comity.test/audit\n") || !strings.Contains(note[1], "— ") {
			t.Errorf("the checkpoint page shows no signed note of the log: %v", note)
		}
		if !strings.Contains(page, "comityctl audit verify --public-key") || !strings.Contains(page, "comityctl audit export --gateway "+cs.baseURL+" ") {
			t.Error("the checkpoint page does not say how to verify, with this console's address")
		}
	})

	t.Run("export", func(t *testing.T) {
		code, page := auditor.get("/audit/export?" + url.Values{"resource": {name}}.Encode())
		if code != http.StatusOK {
			t.Fatalf("/audit/export = %d: %s", code, page)
		}
		pages = append(pages, page)
		if !strings.Contains(page, `value="`+name+`"`) {
			t.Error("the export form does not carry the trail's filter")
		}
		m := auditVerifyPattern.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the export page shows no verify command: %s", page)
		}
		cmd := html.UnescapeString(m[1])
		// The bundle holds the entries under the latest checkpoint, and
		// the log publishes one at an interval, after its index already
		// lists the entries: wait until one covers the request's first.
		waitForCheckpoint(t, auditor, slices.Min(auditRowIndexes(t, first))+1)
		code, bundle, resp := auditor.post("/audit/export", url.Values{"resource": {name}, "max_entries": {"100"}})
		if code != http.StatusOK {
			t.Fatalf("POST /audit/export = %d: %s", code, bundle)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="comity-audit-kz.bundle"` {
			t.Errorf("the bundle comes with Content-Disposition %q, want an attachment named comity-audit-kz.bundle", cd)
		}
		if strings.Contains(bundle, secret) {
			t.Error("the bundle holds the request's facts")
		}
		// The command exactly as shown: comityctl audit verify
		// --public-key '<key>' comity-audit-kz.bundle.
		cm := regexp.MustCompile(`^comityctl (audit verify --public-key) '([^']+)' (comity-audit-kz\.bundle)$`).FindStringSubmatch(cmd)
		if cm == nil {
			t.Fatalf("the verify command reads %q", cmd)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, cm[3])
		if err := os.WriteFile(file, []byte(bundle), 0o600); err != nil {
			t.Fatal(err)
		}
		// The bundle holds the entries under the latest checkpoint, which
		// may not yet cover the last reads.
		n := len(regexp.MustCompile(`"inclusionProof":`).FindAllString(bundle, -1))
		out, ok := runCtl(t, bin, "audit", "verify", "--public-key", cm[2], file)
		if !ok || n == 0 || !strings.Contains(out, "verified: "+strconv.Itoa(n)+" entries") {
			t.Errorf("comityctl did not verify the downloaded bundle's %d entries: %s", n, out)
		}
		// A bundle whose first leaf lost a byte is not verified: the check
		// can fail.
		loc := regexp.MustCompile(`"leaf":\s*"`).FindStringIndex(bundle)
		if loc == nil {
			t.Fatal("the bundle has no leaf")
		}
		at := loc[1] + 8
		flipped := byte('A')
		if bundle[at] == 'A' {
			flipped = 'B'
		}
		tampered := bundle[:at] + string(flipped) + bundle[at+1:]
		if err := os.WriteFile(file, []byte(tampered), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, ok := runCtl(t, bin, "audit", "verify", "--public-key", cm[2], file); ok {
			t.Errorf("comityctl verified a tampered bundle: %s", out)
		}

		code, refused, _ := auditor.post("/audit/export", url.Values{"max_entries": {"20000"}})
		if code != http.StatusBadRequest || !strings.Contains(refused, `id="f-max_entries"`) {
			t.Errorf("an export of 20000 entries = %d, want the form again with the complaint", code)
		}
	})

	t.Run("no case content", func(t *testing.T) {
		for i, p := range pages {
			if strings.Contains(p, secret) || strings.Contains(p, "KZ-CASE-2026-1187") {
				t.Errorf("audit page %d shows the request's content", i)
			}
		}
	})

	t.Run("a prosecutor is refused", func(t *testing.T) {
		pr := auditSignIn(t, cs, "kz-gpo", "prosecutor")
		for _, p := range []string{"/audit", "/audit/checkpoint", "/audit/export"} {
			code, page := pr.get(p)
			if code != http.StatusForbidden || !strings.Contains(page, "You are not allowed to do this.") || strings.Contains(page, "data-entry=") {
				t.Errorf("a prosecutor's %s = %d, want the refusal", p, code)
			}
		}
		code, page, _ := pr.post("/audit/export", url.Values{})
		if code != http.StatusForbidden || strings.Contains(page, `"publicKey"`) {
			t.Errorf("a prosecutor's export = %d, want the refusal", code)
		}
	})
}

// TestConsoleDirectoryPages drives the directory administrator's pages
// without a browser: the KZ administrator sees KZ's entry and agencies,
// deactivates kz-police-cyber and activates it again (each visible on the
// page and through the API); a form sent with an etag made stale meanwhile
// is refused as a conflict and shown again, current; an administrator of
// another state cannot change it.
func TestConsoleDirectoryPages(t *testing.T) {
	cs := startConsoleSuite(t)
	admin := auditSignIn(t, cs, "kz-gpo", "directory_admin")
	apiAdmin := cs.token("kz-gpo", identity.DirectoryAdmin)
	const agencyPath = "/directory/agencies/kz-police-cyber"
	active := func() any {
		return cs.mustDo("GET", "/v1/agencies/kz-police-cyber", apiAdmin, nil, http.StatusOK).body["active"]
	}

	code, page := admin.get("/directory")
	if code != http.StatusOK {
		t.Fatalf("/directory = %d: %s", code, page)
	}
	for _, want := range []string{`data-state-entry="KZ"`, "Asia/", `data-trusted-issuers`, `data-agency="kz-police-cyber"`, `href="/directory/agencies/kz-oversight"`, "Law enforcement"} {
		if !strings.Contains(page, want) {
			t.Errorf("the directory page lacks %q", want)
		}
	}
	if strings.Contains(page, `data-agency="uz-`) {
		t.Error("the KZ directory page lists UZ agencies")
	}
	code, page = admin.get(agencyPath)
	if code != http.StatusOK || !strings.Contains(page, "Cybercrime unit duty desk") || !strings.Contains(page, `data-action="deactivate"`) {
		t.Fatalf("the agency's page = %d, want its contact point and the deactivation: %s", code, page)
	}

	// A form read, then the agency changed through the API: the form's
	// etag is stale.
	_, form := admin.get(agencyPath + "/deactivate")
	m := auditHiddenEtag.FindStringSubmatch(form)
	if m == nil || !strings.Contains(form, "sessions end") || !strings.Contains(form, "can no longer be routed") {
		t.Fatalf("the deactivation form has no etag or does not say what deactivation does: %s", form)
	}
	stale := html.UnescapeString(m[1])
	cs.mustDo("PATCH", "/v1/agencies/kz-police-cyber", apiAdmin, map[string]any{"etag": stale,
		"contactPoints": []any{map[string]any{"role": "Night desk", "phone": "+7 7172 111 111", "alwaysAvailable": true}}}, http.StatusOK)
	code, page, _ = admin.post(agencyPath+"/deactivate", url.Values{"etag": {stale}})
	if code != http.StatusConflict || !strings.Contains(page, "Someone changed this in the meantime") || !strings.Contains(page, `role="alert"`) {
		t.Errorf("a stale deactivation = %d, want 409 saying someone changed it: %s", code, page)
	}
	fresh := auditHiddenEtag.FindStringSubmatch(page)
	if fresh == nil || html.UnescapeString(fresh[1]) == stale {
		t.Fatalf("the form shown again does not carry the current etag")
	}
	if active() != true {
		t.Fatal("a stale deactivation deactivated the agency")
	}

	// The state's only oversight body: the directory refuses, and says
	// why, rather than leave KZ's auditors unable to sign in.
	_, form = admin.get("/directory/agencies/kz-oversight/deactivate")
	if m := auditHiddenEtag.FindStringSubmatch(form); m == nil {
		t.Fatal("the deactivation form of kz-oversight has no etag")
	} else {
		code, page, _ = admin.post("/directory/agencies/kz-oversight/deactivate", url.Values{"etag": {html.UnescapeString(m[1])}})
		if code != http.StatusBadRequest || !strings.Contains(page, "auditors unable to sign in") || !strings.Contains(page, `role="alert"`) {
			t.Errorf("deactivating the only oversight body = %d, want 400 with the directory's reason: %s", code, page)
		}
		if r := cs.mustDo("GET", "/v1/agencies/kz-oversight", apiAdmin, nil, http.StatusOK); r.body["active"] != true {
			t.Error("the only oversight body was deactivated")
		}
	}

	// An administrator of UZ cannot deactivate it, even with its etag.
	uz := auditSignIn(t, cs, "uz-gpo", "directory_admin")
	code, page, _ = uz.post(agencyPath+"/deactivate", url.Values{"etag": {html.UnescapeString(fresh[1])}})
	if code != http.StatusForbidden || !strings.Contains(page, "You are not allowed to do this.") {
		t.Errorf("a UZ administrator's deactivation = %d, want the refusal: %s", code, page)
	}
	if _, uzPage := uz.get(agencyPath); strings.Contains(uzPage, `data-action="deactivate"`) {
		t.Error("a UZ administrator is offered the deactivation of a KZ agency")
	}
	if active() != true {
		t.Fatal("the UZ administrator deactivated a KZ agency")
	}

	code, page, resp := admin.post(agencyPath+"/deactivate", url.Values{"etag": {html.UnescapeString(fresh[1])}})
	if code != http.StatusOK || !strings.HasSuffix(resp.Request.URL.String(), agencyPath+"?done=deactivate") ||
		!strings.Contains(page, `data-done="deactivate"`) || !strings.Contains(page, `data-active="false"`) {
		t.Fatalf("the deactivation = %d at %s: %s", code, resp.Request.URL, page)
	}
	if active() != false {
		t.Error("the API says the agency is still active")
	}
	if _, list := admin.get("/directory"); !regexp.MustCompile(`(?s)data-agency="kz-police-cyber".*?data-active="false"`).MatchString(list) {
		t.Error("the directory page does not show the agency inactive")
	}

	_, form = admin.get(agencyPath + "/activate")
	m = auditHiddenEtag.FindStringSubmatch(form)
	if m == nil || !strings.Contains(form, "can sign in again") {
		t.Fatalf("the activation form has no etag or does not say what activation does: %s", form)
	}
	code, page, resp = admin.post(agencyPath+"/activate", url.Values{"etag": {html.UnescapeString(m[1])}})
	if code != http.StatusOK || !strings.Contains(page, `data-done="activate"`) || !strings.Contains(page, `data-active="true"`) {
		t.Fatalf("the activation = %d at %s: %s", code, resp.Request.URL, page)
	}
	if active() != true {
		t.Error("the API says the agency is still inactive")
	}
	// Once active, the activation form says so and offers nothing.
	if _, again := admin.get(agencyPath + "/activate"); !strings.Contains(again, "data-already") || strings.Contains(again, `name="etag"`) {
		t.Error("the activation form of an active agency offers to activate it")
	}
}

// TestConsoleAuditLargeExport exports a bundle larger than gRPC's default
// 4 MiB message through the console: the download holds every entry asked
// for, rather than a refusal.
func TestConsoleAuditLargeExport(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of audited calls")
	}
	cs := startConsoleSuite(t)
	kz := cs.token("kz-gpo", identity.Prosecutor)
	name, _ := cs.mustDo(http.MethodPost, "/v1/requests", kz, gatewaytest.Preservation(), http.StatusOK).body["name"].(string)
	const calls = 5000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < calls; i += 8 {
				if r := cs.do(http.MethodGet, "/v1/"+name, kz, nil); r.status != http.StatusOK {
					t.Errorf("read %d = %d", i, r.status)
					return
				}
			}
		}()
	}
	wg.Wait()
	auditor := auditSignIn(t, cs, "kz-oversight", "auditor")
	form := url.Values{"resource": {name}, "max_entries": {"10000"}}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		code, bundle, _ := auditor.post("/audit/export", form)
		if code != http.StatusOK {
			t.Fatalf("the export = %d: %s", code, bundle)
		}
		n := len(regexp.MustCompile(`"inclusionProof":`).FindAllString(bundle, -1))
		if n > calls {
			t.Logf("a bundle of %d entries, %d bytes", n, len(bundle))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bundle holds %d entries after 60 s, want all %d", n, calls+1)
		}
	}
}
