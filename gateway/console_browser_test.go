package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/comity-mla/comity/gateway/console"
	"github.com/comity-mla/comity/gateway/console/devprovider"
	"github.com/comity-mla/comity/gateway/gatewaytest"
	"github.com/comity-mla/comity/services/identity"
)

// browserBudget bounds the whole browser suite, so that a hung page fails
// the test instead of CI.
const browserBudget = 90 * time.Second

// consoleSuite is the whole suite with the console, the development
// OpenID provider and a second, independent provider (mockoidc).
type consoleSuite struct {
	*suite
	dev  *devprovider.Provider
	mock *mockoidc.MockOIDC
	// endSessions counts the calls of the development provider's
	// end_session_endpoint (RP-initiated logout); while stayOnSignout is
	// set, those calls are answered 204 No Content, which leaves the
	// browser on the console's sign-out page.
	endSessions   *atomic.Int64
	stayOnSignout *atomic.Bool
}

// consoleSuiteOptions adjust startConsoleSuite.
type consoleSuiteOptions struct {
	// accessTTL is how long the development provider's access tokens
	// live (its default when zero).
	accessTTL time.Duration
	// suite are the suite's options; its data directory, trusted issuers
	// and console are set by startConsoleSuite.
	suite suiteOptions
}

func startConsoleSuite(t testing.TB, opts ...consoleSuiteOptions) *consoleSuite {
	t.Helper()
	var o consoleSuiteOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	dataDir := t.TempDir()
	dev, err := identity.EnsureDevIssuer(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	// The development provider's address is needed before the directory
	// is seeded with its issuer, and the console's address before the
	// provider knows its redirect URI: listen first, serve later.
	opL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opIssuer := "http://" + opL.Addr().String()
	// mockoidc's access tokens carry no user claims: the console presents
	// its ID tokens (IDTokenBearer), whose audience is the client id, so the
	// console is its client `comity`, the audience the services require.
	mock, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	mock.ClientID = identity.Audience
	mockL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := mock.Start(mockL, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mock.Shutdown() })
	mockIssuer := identity.Issuer{ID: mock.Issuer(), JWKS: mock.JWKSEndpoint()}

	secret := []byte(strings.Repeat("0123456789abcdef", 4))
	const clientSecret = "console-dev-secret"
	opt := o.suite
	opt.dataDir = dataDir
	// The development provider signs with the dev issuer's key.
	opt.trustedIssuers = []identity.Issuer{{ID: opIssuer, JWKS: dev.JWKS}, mockIssuer}
	opt.console = func(base string) *console.Config {
		return &console.Config{
			PublicURL: base, SessionSecret: secret,
			Providers: []console.Provider{
				{ID: "dev", Name: "Comity development provider", Issuer: opIssuer,
					ClientID: "comity-console", ClientSecret: clientSecret, States: []string{"KG", "KZ", "TJ", "TM", "UZ"}},
				{ID: "mock", Name: "Independent test provider", Issuer: mock.Issuer(),
					ClientID: mock.Config().ClientID, ClientSecret: mock.Config().ClientSecret, States: []string{"KG"},
					Scopes: []string{"profile", "email"}, IDTokenBearer: true},
			},
		}
	}
	s := startSuite(t, opt)
	p, err := devprovider.New(devprovider.Config{
		Issuer: opIssuer, SigningKeyFile: filepath.Join(dataDir, "dev-issuer", "signing-key.jwk"), AccessTokenTTL: o.accessTTL,
		Clients: []devprovider.Client{{ID: "comity-console", Secret: clientSecret, RedirectURIs: []string{s.baseURL + "/signin/callback"},
			PostLogoutRedirectURIs: []string{s.baseURL + "/signin"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	endSessions, stay := new(atomic.Int64), new(atomic.Bool)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/end_session" {
			endSessions.Add(1)
			if stay.Load() {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		p.ServeHTTP(w, r)
	})}
	go srv.Serve(opL)
	t.Cleanup(func() { srv.Close() })
	// KG maps the mock issuer's tokens (kgMapping), set before any service
	// caches what the directory says of KG.
	setKGMapping(t, s, kgMapping(mock.Issuer()))
	return &consoleSuite{suite: s, dev: p, mock: mock, endSessions: endSessions, stayOnSignout: stay}
}

// chromiumPath finds Debian's chromium, or skips the test with a notice
// unless COMITY_TEST_BROWSER_REQUIRED=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("COMITY_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("COMITY_TEST_BROWSER_REQUIRED") == "1" {
		t.Fatal("chromium is not installed and COMITY_TEST_BROWSER_REQUIRED=1: apt-get install chromium")
	}
	t.Skip("NOTICE: chromium is not installed, the console's browser tests are skipped (apt-get install chromium; COMITY_TEST_BROWSER_REQUIRED=1 makes this a failure)")
	return ""
}

// axeSource is axe-core as npm installed it under tools/ (make tools).
func axeSource(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "tools", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed: run `make tools` (npm ci in tools/): %v", err)
	}
	return string(data)
}

// browser is one browser context (its own cookies) of a shared Chromium.
type browser struct {
	t   *testing.T
	ctx context.Context
	axe string
}

// newBrowserRoot starts Chromium for a test within browserBudget.
func newBrowserRoot(t *testing.T) context.Context {
	t.Helper()
	return newBrowserRootWithin(t, browserBudget)
}

// newBrowserRootWithin starts Chromium for a test that may take budget,
// longer than browserBudget (a scenario of many users).
func newBrowserRootWithin(t *testing.T, budget time.Duration) context.Context {
	t.Helper()
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("lang", "en-US"))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	root, rcancel := chromedp.NewContext(actx)
	t.Cleanup(rcancel)
	// Start the browser on the root, whose context has no deadline of its
	// own beyond the budget.
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("chromium does not start: %v", err)
	}
	return root
}

// newBrowser is a user who, whenever the console asks why they read a
// request (DESIGN §10), answers "review" and goes on to the page they
// asked for, as a user would: the test's steps wait for that page.
func newBrowser(t *testing.T, root context.Context, axe string) *browser {
	t.Helper()
	asked := make(chan struct{}, 8)
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		// The listener must not run commands: the answer is given by the
		// goroutine below.
		if e, ok := ev.(*page.EventFrameNavigated); ok && e.Frame.ParentID == "" && strings.Contains(e.Frame.URL, "/purpose?next=") {
			select {
			case asked <- struct{}{}:
			default:
			}
		}
	}))
	t.Cleanup(cancel)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-asked:
				wait, stop := context.WithTimeout(ctx, 15*time.Second)
				_ = chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS(`form[data-purpose-form]`)),
					chromedp.Click(chromedp.CSS(`input[name="purpose"][value="review"]`)),
					chromedp.Click(chromedp.CSS(`form[data-purpose-form] button[type="submit"]`)))
				stop()
			}
		}
	}()
	return &browser{t: t, ctx: ctx, axe: axe}
}

// newAskedBrowser is a user whom the test itself lets answer the console's
// question of purpose.
func newAskedBrowser(t *testing.T, root context.Context, axe string) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return &browser{t: t, ctx: ctx, axe: axe}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *browser) location() string {
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	return loc
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v (at %s)", sel, err, b.location())
	}
	return s
}

// signInDev signs in through the development provider as a user of agency
// with role.
func (b *browser) signInDev(base, state, agency, role string) {
	b.t.Helper()
	b.do(
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a[data-state="`+state+`"]`)),
		chromedp.Click(chromedp.CSS(`a[data-state="`+state+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[data-provider="dev"]`)),
		chromedp.Click(chromedp.CSS(`a[data-provider="dev"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#agency`)),
		chromedp.SetValue(chromedp.CSS(`#agency`), agency),
		chromedp.Click(chromedp.CSS(`input[name="role"][value="`+role+`"]`)),
		chromedp.SetValue(chromedp.CSS(`#name`), "Test "+agency),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-who="agency"]`)),
	)
}

// checkAxe runs axe-core on the page and fails on any WCAG 2.2 A/AA
// violation.
func (b *browser) checkAxe(page string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](b.axe+";true")); err != nil {
		b.t.Fatalf("axe on %s: inject: %v", page, err)
	}
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag",
		values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}).then(r => JSON.stringify(
		r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe on %s: %v", page, err)
	}
	var violations []map[string]any
	if err := json.Unmarshal([]byte(res), &violations); err != nil {
		b.t.Fatalf("axe on %s: %v", page, err)
	}
	for _, v := range violations {
		b.t.Errorf("axe on %s: %v: %v at %v", page, v["id"], v["help"], v["nodes"])
	}
}

// checkNoInlineCode fails when the page has an inline script or style
// (which the CSP would block: htmx must be configured not to inject its
// indicator style) or when htmx did not load.
func (b *browser) checkNoInlineCode(page string) {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("style, [style], script:not([src])").length`))
	if err != nil {
		b.t.Fatalf("%s: %v", page, err)
	}
	if n != 0 {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("head")))
		b.t.Errorf("%s has %d inline scripts or styles: %s", page, n, html)
	}
	loaded, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`typeof htmx === "object" && htmx.config.includeIndicatorStyles === false`))
	if err != nil || !loaded {
		b.t.Errorf("%s: htmx is not loaded with includeIndicatorStyles false (%v)", page, err)
	}
}

// screenshot saves a full-page PNG of the page as dir/name.png when
// COMITY_CONSOLE_SCREENSHOTS names a directory (make console-screenshots).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("COMITY_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	b.do(chromedp.EmulateViewport(1280, 800))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// messageIDPattern matches a message id of the console's catalogue shown
// as such, i.e. untranslated.
var messageIDPattern = regexp.MustCompile(`\b(common|dashboard|deadline|error|field|layout|request|signin|status|type|priority|role|state|legal_basis)\.[A-Za-z_]+`)

func (b *browser) checkTranslated(page string) {
	b.t.Helper()
	body := b.text("body")
	if m := messageIDPattern.FindString(body); m != "" {
		b.t.Errorf("%s shows the message id %q untranslated", page, m)
	}
}

// TestConsoleBrowser drives the console in Chromium: a KZ prosecutor signs
// in through the development provider and sees and opens their request; a
// TJ user sees nothing of it; a cross-site form post is refused; a user of
// an independent provider whose token has no Comity claims gets a clear
// refusal; axe-core finds no violation; Russian pages show no message id.
func TestConsoleBrowser(t *testing.T) {
	cs := startConsoleSuite(t)
	root := newBrowserRoot(t)
	axe := axeSource(t)

	// A request of the KZ prosecutor, made through the API.
	kz := cs.token("kz-gpo", identity.Prosecutor)
	created := cs.do(http.MethodPost, "/v1/requests", kz, gatewaytest.Preservation())
	if created.status != http.StatusOK {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	ref, _ := created.body["reference"].(string)
	name, _ := created.body["name"].(string)
	id := strings.TrimPrefix(name, "requests/")
	if ref == "" || id == "" {
		t.Fatalf("create answered no reference or name: %s", created.raw)
	}

	t.Run("sign-in page", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.do(chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`a[data-state="KZ"]`)))
		if loc := b.location(); !strings.HasSuffix(loc, "/signin") {
			t.Errorf("a visitor without a session is at %s, want the sign-in page", loc)
		}
		b.checkAxe("the sign-in page")
		b.do(chromedp.Click(chromedp.CSS(`a[data-state="KZ"]`)), chromedp.WaitVisible(chromedp.CSS(`a[data-provider="dev"]`)))
		b.checkAxe("the provider choice")
		b.screenshot("signin-en")
	})

	t.Run("KZ prosecutor", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.signInDev(cs.baseURL, "KZ", "kz-gpo", "prosecutor")
		for sel, want := range map[string]string{
			`[data-who="agency"]`: "kz-gpo", `[data-who="state"]`: "KZ",
			`[data-who="roles"]`: "prosecutor", `[data-who="name"]`: "Test kz-gpo",
		} {
			if got := b.text(sel); got != want {
				t.Errorf("header %s = %q, want %q", sel, got, want)
			}
		}
		row := `tr[data-request="` + ref + `"]`
		b.do(chromedp.WaitVisible(chromedp.CSS(row)))
		if got := b.text(row); !strings.Contains(got, "Data preservation") || !strings.Contains(got, "Draft") || !strings.Contains(got, "KZ → UZ") {
			t.Errorf("the dashboard row of %s reads %q, want its type, status and parties", ref, got)
		}
		b.checkAxe("the dashboard")
		b.checkNoInlineCode("the dashboard")
		b.screenshot("dashboard-en")

		b.do(chromedp.Click(chromedp.CSS(row+` a`)), chromedp.WaitVisible(chromedp.CSS(`ol.timeline, .fields`)))
		if loc := b.location(); !strings.HasSuffix(loc, "/requests/"+id) {
			t.Errorf("the request link leads to %s", loc)
		}
		page := b.text("main")
		for _, want := range []string{ref, "KZ-CASE-2026-1187", "Unauthorised access to the payment system", "Draft"} {
			if !strings.Contains(page, want) {
				t.Errorf("the request's page lacks %q", want)
			}
		}
		b.checkAxe("the request's page")
		b.screenshot("request-en")

		// Russian, chosen with the language menu (a same-origin POST).
		b.do(chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)))
		if loc := b.location(); !strings.HasSuffix(loc, "/requests/"+id) {
			t.Errorf("after the language change the user is at %s, want the same page", loc)
		}
		if got := b.text("main"); !strings.Contains(got, "Сохранение данных") || !strings.Contains(got, "Черновик") {
			t.Errorf("the Russian request page lacks the Russian type and status: %q", got)
		}
		b.checkTranslated("the Russian request page")
		b.checkAxe("the Russian request page")
		b.screenshot("request-ru")
		b.do(chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(row)))
		b.checkTranslated("the Russian dashboard")
		b.screenshot("dashboard-ru")
		b.do(chromedp.Navigate(cs.baseURL+"/signin?state=KZ"), chromedp.WaitVisible(chromedp.CSS(`a[data-provider="dev"]`)))
		b.checkTranslated("the Russian sign-in page")
		b.screenshot("signin-ru")

		// A form on another origin posting to the console is refused, and
		// the session survives it.
		evil := startCrossSite(t, cs.baseURL+"/signout")
		// The console's pages have an alert role where the hostile page has
		// none: waiting for it waits for the answer to the post.
		b.do(chromedp.Navigate(evil), chromedp.WaitVisible(chromedp.CSS(`#go`)), chromedp.Click(chromedp.CSS(`#go`)),
			chromedp.WaitVisible(chromedp.CSS(`[role="alert"], [data-who]`)))
		if body := b.text("body"); !strings.Contains(body, "Запрос пришёл с другого сайта и отклонён") {
			t.Errorf("a cross-site post to /signout was not refused: the browser shows %q at %s", body, b.location())
		}
		b.do(chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(row)))

		// Signing out (same origin) ends the session.
		b.do(chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS(`a[data-state="KZ"]`)))
		b.do(chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`a[data-state="KZ"]`)))
	})

	t.Run("TJ user sees nothing", func(t *testing.T) {
		b := newBrowser(t, root, axe)
		b.signInDev(cs.baseURL, "TJ", "tj-gpo", "prosecutor")
		b.do(chromedp.WaitVisible(chromedp.CSS(`[data-empty]`)))
		if strings.Contains(b.text("main"), ref) {
			t.Errorf("a TJ prosecutor's dashboard shows %s", ref)
		}
		b.checkAxe("the empty dashboard")
		b.do(chromedp.Navigate(cs.baseURL+"/requests/"+id), chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)))
		page := b.text("main")
		if strings.Contains(page, ref) || strings.Contains(page, "KZ-CASE-2026-1187") {
			t.Errorf("a TJ prosecutor's page of the KZ request shows its content: %q", page)
		}
		if !strings.Contains(page, "does not exist or is not visible to you") {
			t.Errorf("a TJ prosecutor opening the KZ request reads %q, want that it does not exist for them", page)
		}
		b.checkAxe("the not-found page")
	})

	t.Run("independent provider", func(t *testing.T) {
		// mockoidc's users carry none of Comity's claims: KG's directory
		// entry of the mock issuer (set by startConsoleSuite) maps their
		// organisation code to a KG agency and their groups to Comity
		// roles (kgMapping).
		kgTok := cs.token("kg-gpo", identity.Prosecutor)
		created := cs.do(http.MethodPost, "/v1/requests", kgTok, gatewaytest.Preservation())
		if created.status != http.StatusOK {
			t.Fatalf("create a KG request: %d %s", created.status, created.raw)
		}
		kgRef, _ := created.body["reference"].(string)
		signInMock := func(b *browser, claims map[string]any, wait string) {
			cs.mock.QueueUser(mappedMockUser{subject: "mock-user-1", claims: claims})
			b.do(
				chromedp.Navigate(cs.baseURL+"/signin?state=KG"),
				chromedp.WaitVisible(chromedp.CSS(`a[data-provider="mock"]`)),
				chromedp.Click(chromedp.CSS(`a[data-provider="mock"]`)),
				chromedp.WaitVisible(chromedp.CSS(wait)),
			)
		}

		// An organisation the mapping does not know starts no session:
		// the sign-in page names the claim and its value.
		b := newBrowser(t, root, axe)
		signInMock(b, kgClaims("KG-MINISTRY", "mla-prosecutors"), `[data-session-ended]`)
		if said := b.text("[data-service-message]"); !strings.Contains(said, `token claim "kg_org.code" value "KG-MINISTRY" maps to no agency`) {
			t.Errorf("an unmapped organisation's sign-in reads %q, want the claim and value named", said)
		}
		if loc := b.location(); loc != cs.baseURL+"/signin" {
			t.Errorf("after a refused sign-in the user is at %s, want the sign-in page", loc)
		}
		b.checkAxe("the sign-in page after a refusal")

		// A mapped user reaches their dashboard, sees KG's request and is
		// shown as the services see them.
		b = newBrowser(t, root, axe)
		signInMock(b, kgClaims("KG-PROSECUTOR-GENERAL", "staff", "mla-prosecutors", "mla-liaison"), `[data-who="name"]`)
		for sel, want := range map[string]string{
			`[data-who="name"]`: "Aidai Bekova", `[data-who="agency"]`: "kg-gpo", `[data-who="state"]`: "KG",
			`[data-who="roles"]`: "prosecutor, liaison officer",
		} {
			if got := b.text(sel); got != want {
				t.Errorf("header %s = %q, want %q", sel, got, want)
			}
		}
		if loc := b.location(); loc != cs.baseURL+"/" {
			t.Errorf("after the sign-in the user is at %s, want the dashboard", loc)
		}
		b.do(chromedp.WaitVisible(chromedp.CSS(`tr[data-request="` + kgRef + `"]`)))
		b.checkAxe("the mapped user's dashboard")

		// Signing out through the development provider ends the session
		// there too (RP-initiated logout): the browser is taken from the
		// console's sign-out page to the provider's end_session_endpoint,
		// which sends it back to the sign-in page.
		d := newBrowser(t, root, axe)
		d.signInDev(cs.baseURL, "KG", "kg-oversight", "auditor")
		d.do(chromedp.SetValue(chromedp.CSS(`#lang`), "ru"), chromedp.Click(chromedp.CSS(`.language button`)),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="ru"]`)))
		// The provider's first answer is empty: the sign-out page stays in
		// view to be checked; its link then leads on.
		cs.stayOnSignout.Store(true)
		before := cs.endSessions.Load()
		d.do(chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS(`[data-signed-out]`)))
		for deadline := time.Now().Add(5 * time.Second); cs.endSessions.Load() == before && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		cs.stayOnSignout.Store(false)
		link, err := chromedp.Run(d.ctx, chromedp.Evaluate[string](`document.querySelector("a[data-end-session]").href`))
		if err != nil || !strings.Contains(link, "/end_session?") || !strings.Contains(link, "id_token_hint=") {
			t.Errorf("the sign-out page links to %q, want the provider's end_session_endpoint with the ID token", link)
		}
		d.checkAxe("the sign-out page")
		d.checkNoInlineCode("the sign-out page")
		d.checkTranslated("the Russian sign-out page")
		d.do(chromedp.Click(chromedp.CSS(`a[data-end-session]`)), chromedp.WaitVisible(chromedp.CSS(`a[data-state="KG"]`)))
		if loc := d.location(); loc != cs.baseURL+"/signin" {
			t.Errorf("after signing out the user is at %s, want the sign-in page", loc)
		}
		if n := cs.endSessions.Load() - before; n != 2 {
			t.Errorf("the provider's end_session_endpoint was called %d times, want twice (the page's move on, then its link)", n)
		}

		// KG deactivates the agency: the next page load ends the session
		// (the directory notices within its 2s trust cache).
		admin := cs.token("kg-oversight", identity.DirectoryAdmin)
		if r := cs.do(http.MethodPost, "/v1/agencies/kg-gpo:deactivate", admin, cs.withEtag("kg-gpo", admin, nil)); r.status != http.StatusOK {
			t.Fatalf("deactivate kg-gpo: %d %s", r.status, r.raw)
		}
		ended := false
		for deadline := time.Now().Add(10 * time.Second); !ended && time.Now().Before(deadline); {
			b.do(chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`main`)))
			ended = strings.HasSuffix(b.location(), "/signin")
			if !ended {
				time.Sleep(500 * time.Millisecond)
			}
		}
		if !ended {
			t.Fatalf("10s after kg-gpo was deactivated its user is still at %s", b.location())
		}
		if said := b.text("[data-session-ended]"); !strings.Contains(said, "Your session has ended") || !strings.Contains(said, `agency "kg-gpo" is deactivated`) {
			t.Errorf("the sign-in page after the deactivation reads %q, want that the session ended because kg-gpo is deactivated", said)
		}
		b.checkAxe("the sign-in page after the session ended")
		// The session is gone: the dashboard asks for a sign-in again,
		// without the message.
		b.do(chromedp.Navigate(cs.baseURL+"/"), chromedp.WaitVisible(chromedp.CSS(`a[data-state="KG"]`)))
		if n := b.text("main"); strings.Contains(n, "Your session has ended") {
			t.Errorf("the ended-session message is shown twice: %q", n)
		}
	})
}

// startCrossSite serves, on another origin, a page whose form posts to
// target: what a hostile site would do.
func startCrossSite(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><title>elsewhere</title><form method="post" action="%s"><button id="go">win a prize</button></form></html>`, target)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/"
}
