package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/comity-mla/comity/gateway/openapi"
)

// get fetches a path of the suite's gateway, failing unless it answers 200
// with the content type want.
func (s *suite) get(path, want string) []byte {
	s.t.Helper()
	resp, err := s.http.Get(s.baseURL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, want) {
		s.t.Fatalf("GET %s = %d %s, want 200 %s: %.200s", path, resp.StatusCode, ct, want, body)
	}
	return body
}

// TestOpenAPIDocuments reads the OpenAPI documents the gateway serves as an
// outside tool would: kin-openapi loads and validates the Swagger 2.0 one,
// converts it, and validates the OpenAPI 3 one. Each says it is Comity at
// the release version of VERSION, requires the bearer token everywhere but
// on the anonymous calls, and describes only routes the gateway serves: every
// operation, called without a token, is refused for want of one (401), or
// answers when it is anonymous, never "no such route".
func TestOpenAPIDocuments(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	ctx := context.Background()
	version, err := os.ReadFile(filepath.Join("..", "VERSION"))
	if err != nil {
		t.Fatal(err)
	}

	var v2 openapi2.T
	if err := json.Unmarshal(s.get("/openapi.json", "application/json"), &v2); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	if openapi.Version != strings.TrimSpace(string(version)) {
		t.Errorf("openapi.Version = %q, want VERSION's %q", openapi.Version, version)
	}
	if v2.Swagger != "2.0" || v2.Info.Title != "Comity" || v2.Info.Version != strings.TrimSpace(string(version)) {
		t.Errorf("/openapi.json is %q titled %q version %q, want 2.0 Comity %s", v2.Swagger, v2.Info.Title, v2.Info.Version, version)
	}
	converted, err := openapi2conv.ToV3(&v2)
	if err != nil {
		t.Fatalf("/openapi.json does not convert to OpenAPI 3: %v", err)
	}
	if err := converted.Validate(ctx); err != nil {
		t.Errorf("/openapi.json converted to OpenAPI 3 is not valid: %v", err)
	}

	loader := openapi3.NewLoader()
	v3, err := loader.LoadFromData(s.get("/openapi.v3.json", "application/json"))
	if err != nil {
		t.Fatalf("/openapi.v3.json: %v", err)
	}
	if err := v3.Validate(ctx); err != nil {
		t.Errorf("/openapi.v3.json is not valid: %v", err)
	}
	if v3.Info.Title != "Comity" || v3.Info.Version != v2.Info.Version {
		t.Errorf("/openapi.v3.json is titled %q version %q", v3.Info.Title, v3.Info.Version)
	}
	bearer := v3.Components.SecuritySchemes["bearer"]
	if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" || bearer.Value.BearerFormat != "JWT" {
		t.Errorf("/openapi.v3.json: bearer scheme %+v, want an HTTP bearer JWT", bearer)
	}
	if len(v3.Security) != 1 || v3.Security[0]["bearer"] == nil {
		t.Errorf("/openapi.v3.json does not require the bearer token by default: %v", v3.Security)
	}

	anonymous := []string{"ListTrustedIssuers", "ListRetentions", "Healthz", "Readyz"}
	param := regexp.MustCompile(`\{[^}]+\}`)
	ids := map[string]bool{}
	var ops []string
	for path, item := range v3.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path)
			if ids[op.OperationID] {
				t.Errorf("operationId %s is not unique", op.OperationID)
			}
			ids[op.OperationID] = true
			if strings.Contains(path, "_") {
				t.Errorf("%s %s: a parameter named by the generator, not for what it is", method, path)
			}
			open := op.Security != nil && len(*op.Security) == 0
			if want := slices.Contains(anonymous, op.OperationID); open != want {
				t.Errorf("%s %s (%s): anonymous %v, want %v", method, path, op.OperationID, open, want)
			}
			// The call as a client reading the document makes it, with
			// what it marks required, and no token.
			url := s.baseURL + param.ReplaceAllStringFunc(path, func(p string) string {
				// An integer (a uint64 is a string in proto's JSON) or an id.
				if pp := op.Parameters.GetByInAndName("path", strings.Trim(p, "{}")); pp != nil &&
					strings.Contains(pp.Schema.Value.Format, "int") {
					return "1"
				}
				return "x"
			})
			var query []string
			for _, p := range op.Parameters {
				if p.Value.In == "query" && p.Value.Required {
					v := "x"
					if s := p.Value.Schema.Value; s != nil && len(s.Enum) > 0 {
						v = s.Enum[len(s.Enum)-1].(string)
					}
					query = append(query, p.Value.Name+"="+v)
				}
			}
			if len(query) > 0 {
				url += "?" + strings.Join(query, "&")
			}
			var body io.Reader
			if op.RequestBody != nil {
				body = strings.NewReader("{}")
			}
			req, err := http.NewRequest(method, url, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			for _, p := range op.Parameters {
				if p.Value.In == "header" && p.Value.Required {
					switch p.Value.Name {
					case "Content-Disposition":
						req.Header.Set("Content-Disposition", `attachment; filename="x.pdf"`)
					case "Repr-Digest":
						sum := sha256.Sum256(nil)
						req.Header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
					default:
						t.Errorf("%s %s: header %s required, which this test does not know", method, path, p.Value.Name)
					}
				}
			}
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case open && resp.StatusCode != http.StatusOK:
				t.Errorf("%s %s (anonymous) = %d, want 200: %.200s", method, path, resp.StatusCode, raw)
			case !open && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("%s %s without a token = %d, want 401: %.200s", method, path, resp.StatusCode, raw)
			}
		}
	}
	// The routes the gateway serves by hand are described too.
	for _, want := range []string{
		"POST /v1/requests/{request}/attachments:upload",
		"GET /v1/requests/{request}/attachments/{attachment}:download",
		"GET /v1/requests:watch",
		"GET /v1/requests/{request}",
		"PATCH /v1/agencies/{agency}",
	} {
		if !slices.Contains(ops, want) {
			t.Errorf("the document does not describe %s", want)
		}
	}
	upload := v3.Paths.Find("/v1/requests/{request}/attachments:upload").Post
	if rb := upload.RequestBody.Value; rb.Content.Get("application/pdf") == nil || rb.Content.Get("application/pdf").Schema.Value.Format != "binary" {
		t.Errorf("upload: the body is not described as the file's bytes: %v", rb.Content)
	}
	if len(ops) < 40 {
		t.Errorf("the document describes %d operations, want every REST route: %v", len(ops), ops)
	}
}

// TestOpenAPIReferencePage opens the API reference page in Chromium, from
// the link in the console's footer: it shows the operations of the
// document, and the page's strict
// Content-Security-Policy (the console's: no inline script or style element)
// blocks nothing, neither as a securitypolicyviolation event nor as a
// console message.
func TestOpenAPIReferencePage(t *testing.T) {
	s := startConsoleSuite(t)
	root := newBrowserRoot(t)
	b := newBrowser(t, root, "")

	var mu sync.Mutex
	var messages []string
	listen, stop := context.WithCancel(b.ctx)
	t.Cleanup(stop)
	// Console subscribes as it returns: before the page is opened.
	console := chromedp.Console(listen)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			// The console's sign-in page, where the test starts, has no icon
			// (its /favicon.ico is a 404 by design): the browser's asking for
			// one is no fault of the reference page.
			if strings.HasSuffix(m.URL, "/favicon.ico") {
				continue
			}
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Source == "security" ||
				strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				messages = append(messages, m.String()+" ("+m.Source+" "+m.URL+")")
				mu.Unlock()
			}
		}
	}()
	// Recorded from the start of every document, before the page's own
	// scripts run.
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.cspViolations = [];
			document.addEventListener("securitypolicyviolation", e =>
				window.cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber));`,
	}); err != nil {
		t.Fatal(err)
	}
	b.do(
		chromedp.Navigate(s.baseURL+"/signin"),
		chromedp.Click(chromedp.CSS(`footer a[data-link="api-reference"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.opblock-summary-path`)),
		chromedp.WaitVisible(chromedp.CSS(`.info .title`)),
	)
	if loc := b.location(); loc != s.baseURL+"/api" {
		t.Errorf("the console's footer link led to %s", loc)
	}
	title := b.text(".info .title")
	if !strings.Contains(title, "Comity") {
		t.Errorf("the page's title is %q", title)
	}
	paths, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll(".opblock-summary-path")].map(e => e.getAttribute("data-path"))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/v1/requests/{request}:submit", "/v1/requests/{request}/attachments:upload", "/v1/agencies/{agency}"} {
		if !slices.Contains(paths, want) {
			t.Errorf("the page does not show %s among %d operations", want, len(paths))
		}
	}
	// Open an operation: its parameters render too.
	b.do(
		chromedp.Click(chromedp.CSS(`#operations-Requests-UploadAttachment .opblock-summary-control`)),
		chromedp.WaitVisible(chromedp.CSS(`#operations-Requests-UploadAttachment tr[data-param-name="Repr-Digest"]`)),
	)
	violations, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.cspViolations`))
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) > 0 {
		t.Errorf("the page broke its Content-Security-Policy: %v", violations)
	}
	// An event of the console, if any, comes in shortly after.
	_, _ = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`new Promise(r => setTimeout(() => r(true), 300))`, chromedp.EvalAwaitPromise))
	mu.Lock()
	defer mu.Unlock()
	for _, m := range messages {
		t.Errorf("console: %s", m)
	}
}
