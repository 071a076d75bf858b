package openapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/comity-mla/comity/gateway/openapi"
)

// TestRoutes serves the documents, the page and its files, each with its
// type and the page under the strict policy, and nothing else: no
// directory listing, no file outside what the page needs, whatever the path.
func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	for pattern, h := range openapi.Routes() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path   string
		status int
		ctype  string
		body   string
	}{
		{"/openapi.json", 200, "application/json", `"swagger": "2.0"`},
		{"/openapi.v3.json", 200, "application/json", `"openapi": "3.0.3"`},
		{"/api", 200, "text/html", `<script src="/api/api.js" defer></script>`},
		{"/api/api.js", 200, "text/javascript", "SwaggerUIBundle"},
		{"/api/api.css", 200, "text/css", ".api-top"},
		{"/api/swagger-ui/swagger-ui-bundle.js", 200, "text/javascript", ""},
		{"/api/swagger-ui/swagger-ui.css", 200, "text/css", ""},
		{"/api/swagger-ui/LICENSE", 200, "text/plain", "Apache License"},
		{"/api/", 404, "", ""},
		{"/api/swagger-ui/", 404, "", ""},
		{"/api/swagger-ui", 404, "", ""},
		{"/api/api.html", 404, "", ""},
		{"/api/page/api.js", 404, "", ""},
		{"/api/openapi.json", 404, "", ""},
		{"/api/swagger-ui/..%2fopenapi.go", 404, "", ""},
		{"/api/%2e%2e/openapi.go", 404, "", ""},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("GET %s = %d, want %d", c.path, resp.StatusCode, c.status)
			continue
		}
		if c.status != 200 {
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.ctype)
		}
		if !strings.Contains(string(body), c.body) {
			t.Errorf("GET %s: the body does not contain %q", c.path, c.body)
		}
		if strings.HasPrefix(c.path, "/api") {
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") {
				t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
			}
		}
	}
}
