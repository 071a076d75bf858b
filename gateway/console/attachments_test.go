package console

import (
	"mime"
	"strings"
	"testing"
)

// TestContentDisposition: whatever a stored file name holds, the header is
// one line, "attachment", with an ASCII fallback in plain quotes and the
// name in filename*, without controls or the characters that reorder text.
func TestContentDisposition(t *testing.T) {
	for name, want := range map[string]string{
		"report.pdf":                        "report.pdf",
		"evil\"name\r\nX-Injected: yes.pdf": "evil\"nameX-Injected: yes.pdf",
		"invoice\u202egnp.exe":              "invoicegnp.exe",
		"a\\b/../c\u2066d\u2069.txt":        "ab..cd.txt",
		"Протокол допроса; 100%.docx":       "Протокол допроса; 100%.docx",
		"\r\n\u202e":                        "attachment",
		"..":                                "attachment",
	} {
		h := contentDisposition(name)
		if strings.ContainsAny(h, "\r\n\u202e\u2066\u2069") {
			t.Errorf("%q: header %q carries a control or a bidi character", name, h)
		}
		if !strings.HasPrefix(h, `attachment; filename="`) || strings.Count(h, `"`) != 2 {
			t.Errorf("%q: header %q is not attachment with one quoted fallback", name, h)
		}
		typ, params, err := mime.ParseMediaType(h)
		if err != nil || typ != "attachment" {
			t.Errorf("%q: header %q does not parse: %v", name, h, err)
			continue
		}
		if params["filename"] != want {
			t.Errorf("%q: the browser saves %q, want %q", name, params["filename"], want)
		}
	}
}
