package gateway_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// consoleUser is a user signed in to the console through the development
// provider and driven over HTTP without a browser, as the console's tests
// and its benchmark do. Its client keeps the session cookie, asks for
// English pages, and, after the sign-in, does not follow redirects: a test
// sees the 303 that follows an action.
type consoleUser struct {
	t    testing.TB
	base string
	http *http.Client
	// purpose is what the user answers when the console asks why they
	// read a request (DESIGN §10), as a user would before any page of it;
	// "" leaves the question to the test.
	purpose string
}

var authRequestIDPattern = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// signInHTTP signs in as a user of agency with role, as a browser would:
// the console's redirect, the provider's sign-in form, the callback that
// sets the session cookie, and the dashboard.
func (cs *consoleSuite) signInHTTP(t testing.TB, agency, role string) *consoleUser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: english{}}
	resp, err := c.Get(cs.baseURL + "/signin/start?provider=dev")
	if err != nil {
		t.Fatalf("sign-in start: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := authRequestIDPattern.FindSubmatch(body)
	if m == nil {
		t.Fatalf("the sign-in start led to %s (%d), not the provider's sign-in form: %.300s", resp.Request.URL, resp.StatusCode, body)
	}
	resp, err = c.PostForm(resp.Request.URL.String(), url.Values{
		"authRequestID": {html.UnescapeString(string(m[1]))}, "agency": {agency}, "role": {role}, "name": {"Test " + agency},
	})
	if err != nil {
		t.Fatalf("sign-in form: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-who="agency">`+agency+`<`) {
		t.Fatalf("sign-in as %s %s ended at %s with %d: %.300s", agency, role, resp.Request.URL, resp.StatusCode, body)
	}
	// Redirects are the test's to follow from here on.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &consoleUser{t: t, base: cs.baseURL, http: c, purpose: "review"}
}

// purposeAsked is where the console sends the user to declare the purpose
// of reading a request before its page, "" when it did not.
func purposeAsked(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if resp.StatusCode == http.StatusUnauthorized {
		loc = resp.Header.Get("HX-Redirect")
	}
	if p, _, _ := strings.Cut(loc, "?"); strings.HasPrefix(p, "/requests/") && strings.HasSuffix(p, "/purpose") {
		return loc
	}
	return ""
}

// english asks for the console's pages in English, as a browser set to
// English does, unless the request names a language: without one the
// console answers in Russian, its first fallback.
type english struct{}

func (english) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Accept-Language") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Accept-Language", "en")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// consolePage is a console answer.
type consolePage struct {
	status   int
	header   http.Header
	body     string
	location string
}

func (u *consoleUser) get(path string) consolePage {
	u.t.Helper()
	return u.send(http.MethodGet, path, nil, nil)
}

// fetch returns the status and the page at path.
func (u *consoleUser) fetch(path string) (int, string) {
	u.t.Helper()
	p := u.get(path)
	return p.status, p.body
}

// mustGet fetches a console page that must be there.
func (u *consoleUser) mustGet(t testing.TB, path string) string {
	t.Helper()
	p := u.get(path)
	if p.status != http.StatusOK {
		t.Fatalf("GET %s = %d: %.300s", path, p.status, p.body)
	}
	return p.body
}

func (u *consoleUser) post(path string, form url.Values, header http.Header) consolePage {
	u.t.Helper()
	return u.send(http.MethodPost, path, form, header)
}

func (u *consoleUser) send(method, path string, form url.Values, header http.Header) consolePage {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.base+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return u.do(req)
}

func (u *consoleUser) do(req *http.Request) consolePage {
	u.t.Helper()
	resp, err := u.http.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	if asked := purposeAsked(resp); asked != "" && u.purpose != "" && req.Method == http.MethodGet {
		// The console asks why the user reads the request: they say, and
		// the page they asked for follows.
		resp.Body.Close()
		q, _ := url.Parse(asked)
		p := u.send(http.MethodPost, q.Path, url.Values{"purpose": {u.purpose}, "next": {q.Query().Get("next")}},
			http.Header{"Origin": {u.base}, "Sec-Fetch-Site": {"same-origin"}})
		if p.status != http.StatusSeeOther {
			u.t.Fatalf("declaring the purpose %q at %s answered %d: %.300s", u.purpose, q.Path, p.status, p.body)
		}
		// The client wrote the jar's cookies into req: the retry takes
		// them afresh, the purpose's included.
		again := req.Clone(req.Context())
		again.Header.Del("Cookie")
		return u.do(again)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		u.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return consolePage{status: resp.StatusCode, header: resp.Header, body: string(b), location: resp.Header.Get("Location")}
}
