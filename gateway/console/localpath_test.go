package console

import "testing"

// TestLocalPath: a return address that a browser would read as another
// site's (protocol-relative, a backslash, or one hidden behind the tab and
// newline characters browsers strip from URLs) becomes "/"; a path of the
// site stays as it is.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/requests/r1?done=x":   "/requests/r1?done=x",
		"/liaison?status=DRAFT": "/liaison?status=DRAFT",
		"":                      "/",
		"https://evil.example":  "/",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"/\t/evil.example":      "/",
		"/\n/evil.example":      "/",
		"/\r/evil.example":      "/",
		"\t//evil.example":      "/",
		"/\x00/evil.example":    "/",
		"/\x7f":                 "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
