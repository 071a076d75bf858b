// Package openapi serves the REST API's description: the OpenAPI document
// (Swagger 2.0 at /openapi.json, OpenAPI 3 at /openapi.v3.json) and a
// reference page at /api that shows it with Swagger UI.
//
// The documents are generated (`make generate`: protoc-gen-openapiv2 from
// the protos, completed by tools/openapi) and committed; Swagger UI is
// vendored from the pinned swagger-ui-dist npm package with its licence.
// Everything is embedded in the binary: the gateway serves the document
// of the very API it runs.
package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed openapi.json openapi.v3.json page swagger-ui
var files embed.FS

// Swagger2 and V3 are the documents, as served.
var (
	Swagger2 = mustRead("openapi.json")
	V3       = mustRead("openapi.v3.json")
)

// Version is the release version the document carries: VERSION's, put
// there by `make generate` (and kept so by check-generated), for a binary
// to report without a second copy of it.
var Version = func() string {
	var doc struct {
		Info struct{ Version string } `json:"info"`
	}
	if err := json.Unmarshal(Swagger2, &doc); err != nil || doc.Info.Version == "" {
		panic(fmt.Sprintf("openapi.json has no info.version: %v", err))
	}
	return doc.Info.Version
}()

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// contentSecurityPolicy is the console's: no inline script or style
// element. Swagger UI sets its styles through the DOM (style attributes
// set from script), which the policy allows.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Routes are the patterns to mount on the gateway's mux. Anyone may read
// them: they describe the API, not any case.
func Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /openapi.json":    document(Swagger2),
		"GET /openapi.v3.json": document(V3),
		"GET /api":             secure(http.HandlerFunc(page)),
		"GET /api/{file...}":   secure(http.HandlerFunc(asset)),
	}
}

func document(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}

func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func page(w http.ResponseWriter, r *http.Request) {
	http.ServeFileFS(w, r, files, "page/api.html")
}

// asset serves the page's script and style (page/) and Swagger UI's files
// (swagger-ui/); nothing else, and no directory listings.
func asset(w http.ResponseWriter, r *http.Request) {
	name := path.Clean(r.PathValue("file"))
	if !strings.HasPrefix(name, "swagger-ui/") {
		name = "page/" + name
	}
	if name == "page/api.html" {
		// The page is /api; ServeFileFS would redirect its own name there.
		http.NotFound(w, r)
		return
	}
	if st, err := fs.Stat(files, name); err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, files, name)
}
