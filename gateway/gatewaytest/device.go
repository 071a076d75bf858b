package gatewaytest

import (
	"bufio"
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/comity-mla/comity/gateway/cliauth"
)

// LoginResult is how a background cliauth.Login ended.
type LoginResult struct {
	Token cliauth.Token
	Err   error
}

// instructions are what cliauth.Login prints: the address to open and the
// code it must show.
var instructions = regexp.MustCompile(`open this address in a browser:\n\n    (\S+)\n\n(?:check that the page shows|enter) the code (\S+),`)

// StartLogin runs cliauth.Login in the background, as comityctl login
// does, and returns the address and the code it printed for the user, and
// where its result will come. A Login that prints no instructions fails
// the test with its error.
func StartLogin(tb testing.TB, ctx context.Context, o cliauth.Options) (address, code string, done <-chan LoginResult) {
	tb.Helper()
	pr, pw := io.Pipe()
	o.Out = pw
	res := make(chan LoginResult, 1)
	go func() {
		tok, err := cliauth.Login(ctx, o)
		pw.Close()
		res <- LoginResult{tok, err}
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "Waiting for the sign-in") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	m := instructions.FindStringSubmatch(out.String())
	if m == nil {
		r := <-res
		tb.Fatalf("Login printed %q and ended with %v, not the instructions to sign in", out.String(), r.Err)
	}
	return m[1], m[2], res
}

// DevicePage is the development provider's device page as a browser got
// it.
type DevicePage struct {
	// URL is the page's address, where its form posts to.
	URL    string
	Status int
	Body   string
	// Code is the user code the page's form holds.
	Code string
}

var userCodeInput = regexp.MustCompile(`name="user_code" value="([^"]*)"`)

// OpenDevicePage opens the device page at address, as the user's browser
// does with the address the command printed.
func OpenDevicePage(tb testing.TB, address string) DevicePage {
	tb.Helper()
	resp, err := http.Get(address)
	if err != nil {
		tb.Fatalf("device page %s: %v", address, err)
	}
	return readDevicePage(tb, resp)
}

// Submit sends the page's form as a browser does when the user presses the
// button named action (approve or deny): to the page's address, from its
// origin, with the code the form holds unless fields give another.
func (p DevicePage) Submit(tb testing.TB, action string, fields url.Values) DevicePage {
	tb.Helper()
	form := url.Values{"user_code": {p.Code}, "action": {action}}
	for k, v := range fields {
		form[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, p.URL, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	u, _ := url.Parse(p.URL)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("device page form: %v", err)
	}
	return readDevicePage(tb, resp)
}

func readDevicePage(tb testing.TB, resp *http.Response) DevicePage {
	tb.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	p := DevicePage{URL: resp.Request.URL.String(), Status: resp.StatusCode, Body: string(body)}
	if m := userCodeInput.FindStringSubmatch(p.Body); m != nil {
		p.Code = html.UnescapeString(m[1])
	}
	return p
}
