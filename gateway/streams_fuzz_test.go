package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// checkInvalid fails unless err is INVALID_ARGUMENT with a message that
// starts with the name of the header or parameter at fault.
func checkInvalid(t *testing.T, err error, names ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("error %v is not INVALID_ARGUMENT", err)
	}
	for _, n := range names {
		if strings.HasPrefix(st.Message(), n+": ") {
			// And in details, as every 400 names its field.
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 && br.GetFieldViolations()[0].GetField() == n {
					return
				}
			}
			t.Fatalf("error %q does not name %s in its details: %v", st.Message(), n, st.Details())
		}
	}
	t.Fatalf("error %q names none of %q", st.Message(), names)
}

// FuzzReprDigest feeds parseReprDigest arbitrary Repr-Digest headers. A
// header either gives the lower-case hex of 32 bytes, which formats back to
// a header that parses to the same digest, or is refused as
// INVALID_ARGUMENT naming Repr-Digest.
func FuzzReprDigest(f *testing.F) {
	sum := sha256.Sum256([]byte("confirmation.pdf"))
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	for _, seed := range []string{
		"sha-256=:" + b64 + ":",
		"sha-512=:AAAA:, sha-256=:" + b64 + ":",
		" sha-256 = :" + b64 + ": ",
		"sha-256=:" + b64[:40] + ":",
		"sha-256=" + b64,
		"sha-256=::",
		"sha-256=:",
		"sha-256",
		"md5=:AAAA:",
		"",
		",,,",
		"sha-256=:" + base64.RawStdEncoding.EncodeToString(sum[:]) + ":",
		"sha-256=:" + base64.URLEncoding.EncodeToString(sum[:]) + ":",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, err := parseReprDigest(h)
		if err != nil {
			checkInvalid(t, err, "Repr-Digest")
			return
		}
		if raw, err := hex.DecodeString(got); err != nil || len(raw) != 32 || strings.ToLower(got) != got {
			t.Fatalf("parseReprDigest(%q) = %q, not the lower-case hex of 32 bytes", h, got)
		}
		again, err := parseReprDigest(reprDigest(got))
		if err != nil || again != got {
			t.Fatalf("parseReprDigest(%q) = %q, formatted as %q, parses to %q, %v", h, got, reprDigest(got), again, err)
		}
	})
}

// FuzzUploadMetadata feeds the upload route's metadata parsing arbitrary
// kind and language parameters and Content-Type, Content-Disposition and
// Repr-Digest headers. The metadata is either refused as INVALID_ARGUMENT
// naming what is wrong, or has a known kind, a file name, a media type and a
// digest taken from what was sent.
func FuzzUploadMetadata(f *testing.F) {
	sum := sha256.Sum256([]byte("x"))
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	f.Add("EVIDENCE", "ru", "application/pdf", `attachment; filename="confirmation.pdf"`, digest)
	f.Add("TRANSLATION", "", "text/plain; charset=utf-8", `attachment; filename*=UTF-8''%D0%BF%D0%B5%D1%80%D0%B5%D0%B2%D0%BE%D0%B4.txt`, digest)
	f.Add("KIND_UNSPECIFIED", "", "application/pdf", `attachment; filename="a"`, digest)
	f.Add("evidence", "", "application/pdf", `attachment; filename="a"`, digest)
	f.Add("OTHER", "", "", `attachment; filename="a"`, digest)
	f.Add("OTHER", "", "application/pdf", `inline; filename="a"`, digest)
	f.Add("OTHER", "", "application/pdf", `attachment`, digest)
	f.Add("OTHER", "", "application/pdf", `attachment; filename=""`, digest)
	f.Add("OTHER", "", "application/pdf", `attachment; filename="../../etc/passwd"`, digest)
	f.Add("OTHER", "", "application/pdf", "attachment; filename=\"a\x00b\"", digest)
	f.Add("COURT_ORDER", "kk", "application/pdf", `attachment; filename="a"; filename="b"`, digest)
	f.Add("COURT_ORDER", "kk", "application/pdf;;", `attachment; filename="a"`, "sha-256=:AA==:")
	f.Add("EVIDENCE", "", "application/pdf", `attachment; filename*=UTF-8''%FF%FE`, digest)
	f.Add("REQUEST_DOCUMENT", "\xff", "\xff/\xff", "attachment; filename=\"\xff\"", digest)

	f.Fuzz(func(t *testing.T, kind, language, contentType, disposition, reprDigest string) {
		q := url.Values{"kind": {kind}, "language": {language}}
		r := httptest.NewRequest(http.MethodPost, "/v1/requests/r1/attachments:upload?"+q.Encode(), strings.NewReader("x"))
		r.SetPathValue("id", "r1")
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Content-Disposition", disposition)
		r.Header.Set("Repr-Digest", reprDigest)
		meta, err := uploadMetadata(r)
		if !utf8.ValidString(kind) || !utf8.ValidString(language) {
			// The gateway refuses such a query before the upload route
			// (utf8URL).
			return
		}
		if err != nil {
			checkInvalid(t, err, "kind", "Content-Type", "Content-Disposition", "Repr-Digest")
			return
		}
		wantDigest, _ := parseReprDigest(reprDigest)
		_, params, _ := mime.ParseMediaType(disposition)
		switch {
		case meta.GetKind() == requestv1.Attachment_KIND_UNSPECIFIED || meta.GetKind().String() != kind:
			t.Fatalf("kind %q gave %v", kind, meta.GetKind())
		case meta.GetFilename() == "" || meta.GetFilename() != params["filename"]:
			t.Fatalf("Content-Disposition %q gave file name %q", disposition, meta.GetFilename())
		case meta.GetMediaType() == "":
			t.Fatalf("Content-Type %q gave no media type", contentType)
		case meta.GetSha256() != wantDigest:
			t.Fatalf("Repr-Digest %q gave %q", reprDigest, meta.GetSha256())
		case meta.GetLanguage() != language:
			t.Fatalf("language %q gave %q", language, meta.GetLanguage())
		case meta.GetParent() != "requests/r1":
			t.Fatalf("parent %q", meta.GetParent())
		}
		// The metadata travels as a gRPC message: a field that does not
		// marshal would fail the call as an internal error.
		if _, err := proto.Marshal(meta); err != nil {
			t.Fatalf("metadata %v does not marshal: %v", meta, err)
		}
	})
}
