package console

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
)

// comityMockUser is a mockoidc user whose ID token carries Comity's own
// claims, so that the directory's default mapping reads it.
type comityMockUser struct{}

func (comityMockUser) ID() string                        { return "mock-kz-1" }
func (comityMockUser) Userinfo([]string) ([]byte, error) { return []byte(`{"sub":"mock-kz-1"}`), nil }
func (comityMockUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return comityMockClaims{base}, nil
}

type comityMockClaims struct{ *mockoidc.IDTokenClaims }

func (c comityMockClaims) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(c.IDTokenClaims)
	if err != nil {
		return nil, err
	}
	all := map[string]any{}
	if err := json.Unmarshal(base, &all); err != nil {
		return nil, err
	}
	all["agency"], all["roles"], all["name"] = "kz-gpo", []string{"prosecutor"}, "Mock Prosecutor"
	return json.Marshal(all)
}

// TestIDTokenBearerRefresh: with a provider whose ID tokens are what the
// services verify (IDTokenBearer), an expiring session is renewed with the
// refresh token and carries the provider's new ID token; once the provider
// refuses the refresh token and the token expired, the session ends.
func TestIDTokenBearerRefresh(t *testing.T) {
	mock, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	mock.ClientID = identity.Audience
	// Shorter than the refresh margin: every page renews it.
	mock.AccessTTL = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := mock.Start(l, nil); err != nil {
		t.Fatal(err)
	}
	defer mock.Shutdown()
	dirConn := startDirectory(t, t.TempDir(), identity.Issuer{ID: mock.Issuer(), JWKS: mock.JWKSEndpoint()})
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	consoleSrv := httptest.NewServer(nil)
	defer consoleSrv.Close()
	c, err := New(Config{PublicURL: consoleSrv.URL, SessionSecret: testSecret, Providers: []Provider{{
		ID: "mock", Issuer: mock.Issuer(), ClientID: mock.ClientID, ClientSecret: mock.ClientSecret, States: []string{"KZ"},
		Scopes: []string{"profile"}, IDTokenBearer: true,
	}}}, Backends{Directory: directoryv1.NewDirectoryServiceClient(dirConn), Requests: requestv1.NewRequestServiceClient(conn),
		Audit: auditv1.NewAuditServiceClient(conn)}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range c.Routes() {
		mux.Handle(pattern, h)
	}
	var got *session
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) { got, _ = c.session(w, r) })
	consoleSrv.Config.Handler = mux

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	probe := func() *session {
		t.Helper()
		got = nil
		resp, err := client.Get(consoleSrv.URL + "/probe")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return got
	}
	mock.QueueUser(comityMockUser{})
	resp, err := client.Get(consoleSrv.URL + "/signin/start?provider=mock")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.String() != consoleSrv.URL+"/" {
		t.Fatalf("the sign-in ended at %s, want the dashboard", resp.Request.URL)
	}
	first := probe()
	if first == nil || first.Agency != "kz-gpo" || first.Refresh == "" || !isIDToken(first.Access) {
		t.Fatalf("after the sign-in the session is %+v, want kz-gpo's with the ID token as bearer and a refresh token", first)
	}

	mock.FastForward(2 * time.Second) // a later iat: a token of its own
	second := probe()
	if second == nil || second.Access == first.Access || !isIDToken(second.Access) {
		t.Fatalf("an expiring session was not renewed with a new ID token: %+v", second)
	}

	// The provider forgets its sessions: the refresh is refused, and once
	// the token expired the session ends.
	mock.SessionStore = mockoidc.NewSessionStore()
	c.now = func() time.Time { return time.Now().Add(time.Minute) }
	defer func() { c.now = time.Now }()
	if s := probe(); s != nil {
		t.Error("a session whose token expired and whose refresh was refused is still open")
	}
}

// isIDToken reports whether tok is one of the mock's ID tokens (they carry
// the user's claims; its access tokens do not).
func isIDToken(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Agency string `json:"agency"`
	}
	return json.Unmarshal(payload, &claims) == nil && claims.Agency == "kz-gpo"
}
