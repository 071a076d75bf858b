package console

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSignedInSendsHtmxToTheSigninPage: a partial update (the draft's live
// save, the liaison results, an upload) made once the session is over must
// take the browser to the sign-in page, not get the sign-in page back to
// swap into the part of the page it updates; a plain request is
// redirected as before.
func TestSignedInSendsHtmxToTheSigninPage(t *testing.T) {
	c := &Console{cookies: newCookieNames(false)}

	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/requests/new", nil)
	r.Header.Set("HX-Request", "true")
	if _, ok := c.signedIn(w, r); ok {
		t.Fatal("signed in without a session")
	}
	if got := w.Header().Get("HX-Redirect"); got != "/signin" || w.Code != http.StatusUnauthorized || w.Header().Get("Location") != "" {
		t.Errorf("htmx request without a session: status %d, HX-Redirect %q, Location %q; want 401 and HX-Redirect /signin",
			w.Code, got, w.Header().Get("Location"))
	}

	w = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodGet, "/liaison", nil)
	if _, ok := c.signedIn(w, r); ok {
		t.Fatal("signed in without a session")
	}
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/signin" {
		t.Errorf("plain request without a session: status %d, Location %q; want 303 to /signin", w.Code, w.Header().Get("Location"))
	}
}
