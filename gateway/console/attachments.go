package console

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/gateway/uploadstream"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// DefaultMaxAttachmentBytes bounds an upload through the console when
// Config.MaxAttachmentBytes is zero, as the gateway's own default does.
const DefaultMaxAttachmentBytes = 100 << 20

// multipartSlack is what a multipart body may carry besides the file: the
// boundaries, the part headers and the small fields (kind, language, digest).
const multipartSlack = 64 << 10

// maxFieldBytes bounds a small field of the upload form.
const maxFieldBytes = 1 << 10

// The ids and digests the console accepts in its addresses and forms.
var (
	attachmentIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	sha256Pattern       = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// attachmentEntry is an attachment as the request's page lists it.
type attachmentEntry struct {
	Href, Filename, Kind, Language, Size, SHA256, Uploader string
	At                                                     moment
	// Erased is when its content was erased; no download is offered then.
	Erased moment
	// Held says that the service will refuse its download until the use
	// conditions are acknowledged (evidence, DESIGN §10): the link opens a
	// page that says so rather than a download that fails unexplained.
	Held bool
}

// attachmentList reads a request's attachments; false when the user may
// not see them.
func (c *Console) attachmentList(ctx context.Context, z zones, req *requestv1.Request) ([]attachmentEntry, bool) {
	resp, err := c.be.Requests.ListAttachments(ctx, &requestv1.ListAttachmentsRequest{Parent: req.GetName()})
	if err != nil {
		return nil, false
	}
	var out []attachmentEntry
	held := unacknowledged(req) > 0
	for _, a := range resp.GetAttachments() {
		_, att, _ := strings.Cut(a.GetName(), "/attachments/")
		out = append(out, attachmentEntry{
			Href:     "/requests/" + url.PathEscape(strings.TrimPrefix(req.GetName(), "requests/")) + "/attachments/" + url.PathEscape(att),
			Filename: a.GetFilename(), Kind: a.GetKind().String(), Language: a.GetLanguage(),
			Size: byteSize(a.GetSizeBytes()), SHA256: a.GetSha256(),
			Uploader: firstNonEmpty(a.GetUploader().GetDisplayName(), a.GetUploader().GetSubject()),
			At:       z.at(a.GetCreateTime(), req.GetRequestingState(), req.GetRequestedState()),
			Erased:   z.at(a.GetEraseTime(), req.GetRequestingState(), req.GetRequestedState()),
			Held:     held && a.GetKind() == requestv1.Attachment_EVIDENCE,
		})
	}
	return out, true
}

// byteSize is a size as people read it.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// uploadFields are the upload form's fields as the service names them.
var uploadFields = []string{"metadata.kind", "metadata.language", "metadata.filename", "metadata.media_type", "metadata.sha256", "file"}

// upload streams a file from a multipart form into UploadAttachment:
// POST /requests/{id}/attachments. The form's small fields come first
// (kind, language and, when the browser computed it, the SHA-256), then
// the file, which is read part by part and sent chunk by chunk, never held
// whole. The service needs the digest before the content: when the
// browser did not send one (no JavaScript), the file is first spooled to
// a temporary file while it is hashed, and then sent from there.
func (c *Console) upload(w http.ResponseWriter, r *http.Request) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, c.maxAttachment()+multipartSlack)
	live := r.Header.Get("HX-Request") == "true"
	var form uploadForm
	name, err := c.receiveUpload(outgoing(r.Context(), r, s), r, id, &form)
	if err == nil {
		if live {
			c.renderRequest(w, r, http.StatusOK, func(co *correspondence) { co.Uploaded = name })
			return
		}
		http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=upload#attachments", http.StatusSeeOther)
		return
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || status.Code(err) == codes.ResourceExhausted {
		msg := pg.T("attachment.too_large", map[string]any{"Size": byteSize(c.maxAttachment())})
		if busy(err) {
			w.Header().Set("Retry-After", "1")
			msg = pg.T("attachment.busy_or_large")
		}
		err = status.Error(codes.InvalidArgument, msg)
		fe, _ := formError(pg, err, uploadFields...)
		fe.Message, fe.Detail = msg, ""
		c.uploadRefused(w, r, live, http.StatusRequestEntityTooLarge, form, fe)
		return
	}
	fe, ok := formError(pg, err, uploadFields...)
	if !ok {
		c.serviceError(w, r, pg, err)
		return
	}
	c.uploadRefused(w, r, live, http.StatusBadRequest, form, fe)
}

// uploadForm is what the user chose in the upload form besides the file,
// kept when the upload is refused (a browser cannot be given the file back).
type uploadForm struct {
	Kind, Language string
}

// uploadFormFields are the upload form's small fields, with the field each
// is in the service's complaints.
var uploadFormFields = map[string]string{"kind": "metadata.kind", "language": "metadata.language", "sha256": "metadata.sha256"}

// transferBoundField is the violation of a refusal for the bound on
// transfers in progress (services/request.TransferBoundField): worth trying
// again shortly, unlike a file over the limit.
const transferBoundField = "attachment_transfers"

// busy says whether the service refused the upload for its bound on
// transfers in progress rather than for the file's size.
func busy(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == transferBoundField {
					return true
				}
			}
		}
	}
	return false
}

// uploadRefused shows the request's page with the upload's complaints. An
// htmx post is answered 200, for htmx to show it in place of the section.
func (c *Console) uploadRefused(w http.ResponseWriter, r *http.Request, live bool, code int, form uploadForm, fe *formErrors) {
	if live {
		code = http.StatusOK
	}
	c.renderRequest(w, r, code, func(co *correspondence) { co.UploadErrors, co.UploadForm = fe, form })
}

// maxAttachment is the largest file the console streams through.
func (c *Console) maxAttachment() int64 {
	if c.cfg.MaxAttachmentBytes > 0 {
		return c.cfg.MaxAttachmentBytes
	}
	return DefaultMaxAttachmentBytes
}

// receiveUpload reads the multipart form into form and streams its file
// to the service; it returns the stored file's name.
func (c *Console) receiveUpload(ctx context.Context, r *http.Request, id string, form *uploadForm) (string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", fieldRefusal("file", "UPLOAD_NOT_MULTIPART")
	}
	meta := &requestv1.AttachmentUpload{Parent: "requests/" + id}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return "", fieldRefusal("file", "UPLOAD_NO_FILE")
		}
		if err != nil {
			return "", readError(err)
		}
		if part.FormName() != "file" {
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return "", readError(err)
			}
			if len(b) > maxFieldBytes {
				return "", fieldRefusal(cmp.Or(uploadFormFields[part.FormName()], part.FormName()), "UPLOAD_FIELD_TOO_LONG")
			}
			v := strings.TrimSpace(string(b))
			switch part.FormName() {
			case "kind":
				form.Kind = v
				meta.Kind = requestv1.Attachment_Kind(requestv1.Attachment_Kind_value[v])
			case "language":
				form.Language = v
				meta.Language = v
			case "sha256":
				meta.Sha256 = strings.ToLower(v)
			}
			continue
		}
		meta.Filename = baseName(part.FileName())
		if meta.Filename == "" {
			return "", fieldRefusal("file", "UPLOAD_NO_FILE")
		}
		meta.MediaType = "application/octet-stream"
		if mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && strings.Contains(mt, "/") {
			meta.MediaType = mt
		}
		if !sha256Pattern.MatchString(meta.Sha256) {
			return c.spoolAndSend(ctx, meta, part)
		}
		return c.send(ctx, meta, part)
	}
}

// spoolAndSend hashes the file into a temporary file (the service needs the
// digest first), then sends it from there; the file is removed after.
func (c *Console) spoolAndSend(ctx context.Context, meta *requestv1.AttachmentUpload, body io.Reader) (string, error) {
	tmp, err := os.CreateTemp("", "comity-upload-*")
	if err != nil {
		return "", fmt.Errorf("spooling an upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), body)
	if err != nil {
		return "", readError(err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("spooling an upload: %w", err)
	}
	meta.Sha256, meta.SizeBytes = hex.EncodeToString(h.Sum(nil)), n
	return c.send(ctx, meta, tmp)
}

// send streams the metadata, then body in chunks, to UploadAttachment.
func (c *Console) send(ctx context.Context, meta *requestv1.AttachmentUpload, body io.Reader) (string, error) {
	stream, err := c.be.Requests.UploadAttachment(ctx)
	if err != nil {
		return "", err
	}
	resp, err := uploadstream.Send(stream, meta, body)
	if re := (*uploadstream.ReadError)(nil); errors.As(err, &re) {
		return "", readError(re.Err)
	}
	if err != nil {
		return "", err
	}
	return resp.GetAttachment().GetFilename(), nil
}

// readError is a failure to read the browser's upload: too large (the
// MaxBytesError is kept for the caller) or cut short.
func readError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return fieldRefusal("file", "UPLOAD_CUT_SHORT")
}

// fieldRefusal is the console's own refusal of one field of the upload
// form, shaped as the services shape theirs: its reason code is worded in
// the user's language by the catalog ("violation.<reason>"), and it has no
// message of its own, since no service said anything.
func fieldRefusal(field, reason string) error {
	st := status.New(codes.InvalidArgument, "")
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Reason: reason},
	}}); err == nil {
		st = d
	}
	return st.Err()
}

// baseName is a file name without the directories some browsers send.
func baseName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return strings.TrimSpace(name)
}

// download streams an attachment from DownloadAttachment: GET
// /requests/{id}/attachments/{att}. It is always saved, never shown: a
// file from the other side of a case must not run in the console's origin.
func (c *Console) download(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	id, att := r.PathValue("id"), r.PathValue("att")
	if !requestIDPattern.MatchString(id) || !attachmentIDPattern.MatchString(att) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
		return
	}
	if c.needPurpose(w, r, s, id) {
		return
	}
	ctx, cancel := context.WithCancel(outgoing(r.Context(), r, s))
	defer cancel()
	stream, err := c.be.Requests.DownloadAttachment(ctx, &requestv1.DownloadAttachmentRequest{
		Name: "requests/" + id + "/attachments/" + att,
	})
	if err != nil {
		c.downloadRefused(w, r, pg, id, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		c.downloadRefused(w, r, pg, id, err)
		return
	}
	meta := first.GetAttachment()
	if meta == nil {
		c.fail(w, r, pg, errors.New("the download did not start with the attachment's metadata"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(meta.GetFilename()))
	h.Set("Content-Length", strconv.FormatInt(meta.GetSizeBytes(), 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The status line is sent: cut the connection so that the
			// browser sees an incomplete file, not a complete wrong one.
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return
		}
	}
}

// contentDisposition is "attachment" with the file's name as RFC 6266 says:
// filename= an ASCII fallback without quotes, backslashes or controls, and
// filename*= the name in UTF-8, percent-encoded. Controls and the
// characters that reorder text (bidi overrides), which could make a name
// read as another, are dropped from both.
func contentDisposition(name string) string {
	var clean strings.Builder
	for _, r := range name {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) ||
			r == '/' || r == '\\' || unicode.In(r, unicode.Cf) {
			continue
		}
		clean.WriteRune(r)
	}
	n := strings.TrimSpace(clean.String())
	if n == "" || n == "." || n == ".." {
		n = "attachment"
	}
	var ascii, ext strings.Builder
	for _, r := range n {
		switch {
		case r == '"' || r == '%':
			ascii.WriteByte('_')
		case r < 0x20 || r > 0x7e:
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(r)
		}
	}
	for _, b := range []byte(n) {
		if b < 0x80 && (b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0) {
			ext.WriteByte(b)
		} else {
			fmt.Fprintf(&ext, "%%%02X", b)
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}

// downloadRefused shows why the service would not give the file: a
// precondition (evidence under conditions not yet acknowledged, a file
// erased) is said in the user's words with the service's own beside it,
// and a way back to the request's data protection, where the conditions
// are acknowledged; anything else is a service error.
func (c *Console) downloadRefused(w http.ResponseWriter, r *http.Request, pg page, id string, err error) {
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition {
		c.serviceError(w, r, pg, err)
		return
	}
	pg.Title = pg.T("download.refused.title")
	c.render(w, r, http.StatusBadRequest, DownloadRefusedPage(pg, "/requests/"+url.PathEscape(id), st.Message()))
}
