package console

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// TestEveryStateChangingRouteRefusesCrossSite: every route of the console
// that is not a GET, the uploads included, refuses a browser's cross-site
// request before it reaches its handler (the services are not even
// reachable here), and every answer carries the console's security headers.
func TestEveryStateChangingRouteRefusesCrossSite(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := New(Config{PublicURL: "https://comity.example", SessionSecret: testSecret, Providers: []Provider{{
		ID: "dev", Issuer: "https://idp.example", ClientID: "console", States: []string{"KZ"},
	}}}, Backends{Directory: directoryv1.NewDirectoryServiceClient(conn), Requests: requestv1.NewRequestServiceClient(conn),
		Audit: auditv1.NewAuditServiceClient(conn)}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	routes := c.Routes()
	maps.Copy(routes, c.StreamRoutes())
	n := 0
	for pattern, h := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		if method == http.MethodGet {
			continue
		}
		n++
		path = strings.NewReplacer("{id}", "r1", "{att}", "a1", "{$}", "").Replace(path)
		r := httptest.NewRequest(method, "https://comity.example"+path, strings.NewReader("lang=en&return=/"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.Header.Set("Origin", "https://evil.example")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s: a cross-site request got %d, want 403", pattern, w.Code)
		}
		if w.Header().Get("Content-Security-Policy") != contentSecurityPolicy || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: the refusal lacks the security headers", pattern)
		}
	}
	if n < 10 {
		t.Fatalf("only %d state-changing routes found", n)
	}
}
