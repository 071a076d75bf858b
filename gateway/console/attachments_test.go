package console

import (
	"bytes"
	"context"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
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

// TestUploadRefusedInUserLanguage: an upload the console itself refuses
// (here: no file chosen) is explained next to the file field in the user's
// language, with no English "the service said" beside it, and the form
// comes back with the kind and language the user chose.
func TestUploadRefusedInUserLanguage(t *testing.T) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("kind", "EVIDENCE")
	mw.WriteField("language", "uz")
	fw, err := mw.CreateFormFile("file", "")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("x"))
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "/requests/r1/attachments", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())

	var form uploadForm
	_, err = (&Console{}).receiveUpload(r.Context(), r, "r1", &form)
	if err == nil {
		t.Fatal("an upload without a file name was accepted")
	}
	pg := page{T: mustCatalog(t).localizer("ru"), Lang: "ru"}
	fe, ok := formError(pg, err, uploadFields...)
	if !ok {
		t.Fatalf("the refusal is not a form's: %v", err)
	}
	if got := fe.For("file"); len(got) != 1 || got[0].Text != pg.T("violation.UPLOAD_NO_FILE") || got[0].Detail != "" {
		t.Errorf("the file field's complaint is %+v, want the Russian %q alone", got, pg.T("violation.UPLOAD_NO_FILE"))
	}
	if fe.Detail != "" {
		t.Errorf("the summary quotes %q as the service's words: the console refused, in English", fe.Detail)
	}
	if form != (uploadForm{Kind: "EVIDENCE", Language: "uz"}) {
		t.Errorf("the form read is %+v", form)
	}

	v := requestView{Talk: correspondence{ID: "r1", AttachmentsRead: true, UploadErrors: fe, UploadForm: form,
		UploadKinds: enumOptions(pg, "attachment.kind.", requestv1.Attachment_Kind_name)}}
	var html strings.Builder
	if err := requestAttachments(pg, v).Render(context.Background(), &html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<option value="EVIDENCE" selected>`, `name="language" value="uz"`, `id="upload-file" name="file" required aria-describedby="upload-file-slot" aria-invalid="true"`} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("the form shown again lacks %s", want)
		}
	}
}
