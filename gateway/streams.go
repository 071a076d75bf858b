package gateway

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/comity-mla/comity/gateway/uploadstream"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// streams serves the REST routes that grpc-gateway's mapping cannot: the
// upload streams a raw HTTP body into UploadAttachment, the download streams
// DownloadAttachment into a raw HTTP response (neither holds a file in
// memory), and the watch answers as soon as it has started.
type streams struct {
	mux      *runtime.ServeMux
	client   requestv1.RequestServiceClient
	maxBytes int64
	// writeProgress bounds one write of a download or a watch stream
	// (httpserver.Options.WriteProgress).
	writeProgress time.Duration
	// routes checks the query parameters of these routes as the mux's.
	routes *routeTable
}

// The templates of the routes served here, as google.api.http would write
// them: the file transfers have no annotation, since grpc-gateway cannot
// map a stream of a raw body.
const (
	uploadTemplate   = "/v1/{parent=requests/*}/attachments:upload"
	downloadTemplate = "/v1/{name=requests/*/attachments/*}:download"
	watchTemplate    = "/v1/requests:watch"
)

// streamRoutes are the routes of the file transfers, for the route table:
// their query parameters, and their verbs among a resource's methods.
func streamRoutes() []*route {
	svc := requestv1.File_comity_request_v1_request_proto.Services().ByName("RequestService")
	meta := (&requestv1.AttachmentUpload{}).ProtoReflect().Descriptor()
	return []*route{
		// The upload's metadata comes from its headers, except these.
		{httpMethod: http.MethodPost, template: uploadTemplate, rpc: svc.Methods().ByName("UploadAttachment"), in: meta,
			query: map[string]protoreflect.FieldDescriptor{"kind": meta.Fields().ByName("kind"), "language": meta.Fields().ByName("language")}},
		{httpMethod: http.MethodGet, template: downloadTemplate, rpc: svc.Methods().ByName("DownloadAttachment")},
	}
}

// checkQuery refuses the query parameters of r that the route does not
// take, or a value its field cannot hold, as the mux's routes do.
func (a *streams) checkQuery(w http.ResponseWriter, r *http.Request, method, template string) bool {
	rt := a.routes.find(method, template)
	if rt == nil {
		return true
	}
	if err := rt.checkQuery(r.URL.Query()); err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

// transferBoundField is request.TransferBoundField, which the gateway does
// not import: the violation that makes a RESOURCE_EXHAUSTED "too many
// transfers at once, retry" (429) rather than "file too large" (413).
const transferBoundField = "attachment_transfers"

// timelyWriter writes a long response under a deadline per write: a client
// that reads nothing for writeProgress is cut (the write fails and the
// handler returns, which ends the call to the service and frees what it
// held: the blob file of a download, the place of a watch), however long
// the response as a whole lasts. The deadline is cleared after each write,
// since on HTTP/2 a deadline that passes while nothing is written resets
// the stream too, and an idle watch must live on.
type timelyWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (a *streams) timely(w http.ResponseWriter) *timelyWriter {
	return &timelyWriter{w: w, rc: http.NewResponseController(w), d: a.writeProgress}
}

// write writes p and, with flush, sends it to the client at once.
func (t *timelyWriter) write(p []byte, flush bool) error {
	if err := t.rc.SetWriteDeadline(time.Now().Add(t.d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := t.w.Write(p)
	if err == nil && flush {
		err = t.rc.Flush()
	}
	if err != nil {
		// The deadline stays: what the server still writes of this
		// response (its end, a flush) fails at once too, and the
		// connection closes instead of waiting for ever on the client.
		return err
	}
	if err := t.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// retryLater reports whether st refuses a transfer for the bound on
// transfers in progress.
func retryLater(st *status.Status) bool {
	for _, d := range st.Details() {
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

func (a *streams) fail(w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted {
		if !retryLater(st) {
			// For a file, the limit is on its size: 413, not 429.
			writeStatus(w, r, http.StatusRequestEntityTooLarge, st)
			return
		}
		// The bound on transfers at once: 429 (grpc-gateway's mapping),
		// worth trying again shortly.
		w.Header().Set("Retry-After", "1")
	}
	_, m := runtime.MarshalerForRequest(a.mux, r)
	runtime.HTTPError(r.Context(), a.mux, m, w, r, err)
}

// invalid refuses a header or query parameter of a file transfer, naming
// it in details as the mux's refusals name their fields.
func invalid(header, format string, args ...any) error {
	desc := fmt.Sprintf(format, args...)
	return refusal(header+": "+desc, &errdetails.BadRequest_FieldViolation{Field: header, Description: desc})
}

// parseReprDigest reads the sha-256 member of an RFC 9530 Repr-Digest
// header (`sha-256=:<base64>:`) and returns it as lower-case hex.
func parseReprDigest(h string) (string, error) {
	if h == "" {
		return "", invalid("Repr-Digest", "required, e.g. sha-256=:<base64 of the SHA-256 of the file>:")
	}
	for _, member := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || strings.TrimSpace(k) != "sha-256" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
			return "", invalid("Repr-Digest", "sha-256 must be a byte sequence, :<base64>:")
		}
		sum, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
		if err != nil || len(sum) != 32 {
			return "", invalid("Repr-Digest", "sha-256 must be the base64 of 32 bytes")
		}
		return hex.EncodeToString(sum), nil
	}
	return "", invalid("Repr-Digest", "no sha-256 member; only sha-256 is supported")
}

// reprDigest formats a hex SHA-256 as an RFC 9530 Repr-Digest header.
func reprDigest(hexSum string) string {
	sum, err := hex.DecodeString(hexSum)
	if err != nil {
		return ""
	}
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

// uploadMetadata reads what the upload's URL and headers say about the file.
func uploadMetadata(r *http.Request) (*requestv1.AttachmentUpload, error) {
	kinds := requestv1.Attachment_Kind(0).Descriptor()
	kind, ok := requestv1.Attachment_Kind_value[r.URL.Query().Get("kind")]
	switch {
	case r.URL.Query().Get("kind") == "":
		return nil, invalid("kind", "query parameter required: one of %s", strings.Join(enumValues(kinds), ", "))
	case !ok || kind == 0:
		return nil, invalid("kind", "%s", notOneOf(kinds, r.URL.Query().Get("kind")))
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, invalid("Content-Type", "the file's media type is required, e.g. application/pdf")
	}

	disp, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] == "" {
		return nil, invalid("Content-Disposition", `required: attachment; filename="…"`)
	}
	if !utf8.ValidString(params["filename"]) {
		// RFC 2231's filename*=UTF-8''%FF decodes to any bytes.
		return nil, invalid("Content-Disposition", "the file name is not valid UTF-8 text")
	}
	sum, err := parseReprDigest(r.Header.Get("Repr-Digest"))
	if err != nil {
		return nil, err
	}
	return &requestv1.AttachmentUpload{
		Parent: "requests/" + r.PathValue("id"), Kind: requestv1.Attachment_Kind(kind),
		Filename: params["filename"], MediaType: mediaType, Language: r.URL.Query().Get("language"),
		Sha256: sum, SizeBytes: r.ContentLength,
	}, nil
}

func (a *streams) upload(w http.ResponseWriter, r *http.Request) {
	if !a.checkQuery(w, r, http.MethodPost, uploadTemplate) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" || mt == "application/x-www-form-urlencoded" {
		// curl -F sends a form with the file inside; curl --data-binary
		// without -H labels the file a form. Either would be kept as a
		// file of that media type.
		a.fail(w, r, unsupportedMedia("the upload takes the file itself as the body, with its media type as Content-Type "+
			"(curl --data-binary @file.pdf -H 'Content-Type: application/pdf'), not a form (curl -F or -d)"))
		return
	}
	meta, err := uploadMetadata(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if r.ContentLength > a.maxBytes {
		a.fail(w, r, status.Errorf(codes.ResourceExhausted, "attachment of %d bytes is larger than the limit of %d bytes", r.ContentLength, a.maxBytes))
		return
	}
	ctx, err := runtime.AnnotateContext(r.Context(), a.mux, r, "/comity.request.v1.RequestService/UploadAttachment")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	stream, err := a.client.UploadAttachment(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	resp, err := uploadstream.Send(stream, meta, r.Body)
	if re := (*uploadstream.ReadError)(nil); errors.As(err, &re) {
		err = status.Errorf(codes.InvalidArgument, "reading the upload: %v", re.Err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, m := runtime.MarshalerForRequest(a.mux, r)
	body, err := m.Marshal(resp.GetAttachment())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Repr-Digest", reprDigest(resp.GetAttachment().GetSha256()))
	_, _ = w.Write(body)
}

func (a *streams) download(w http.ResponseWriter, r *http.Request) {
	att, ok := strings.CutSuffix(r.PathValue("attachment"), ":download")
	if !ok {
		err := a.routes.verbError(w, r, http.StatusNotFound)
		if err == nil {
			// The attachment's own name, as listed: its content is at
			// :download, its metadata in the request's list.
			name := "requests/" + r.PathValue("id") + "/attachments/" + r.PathValue("attachment")
			err = status.Errorf(codes.NotFound, "an attachment is not read at its name: GET /v1/%s:download for its content, "+
				"or GET /v1/requests/%s/attachments for the attachments' names, sizes and digests", name, r.PathValue("id"))
		}
		a.fail(w, r, err)
		return
	}
	if !a.checkQuery(w, r, http.MethodGet, downloadTemplate) {
		return
	}
	ctx, err := runtime.AnnotateContext(r.Context(), a.mux, r, "/comity.request.v1.RequestService/DownloadAttachment")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	stream, err := a.client.DownloadAttachment(ctx, &requestv1.DownloadAttachmentRequest{
		Name: "requests/" + r.PathValue("id") + "/attachments/" + att,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	meta := first.GetAttachment()
	if meta == nil {
		a.fail(w, r, status.Error(codes.Internal, "download did not start with the attachment's metadata"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", meta.GetMediaType())
	// Always an attachment, never inline: a file from the other side of a
	// case is saved, not rendered by the browser in the API's origin. A
	// name the header cannot carry still leaves "attachment".
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": meta.GetFilename()})
	if disp == "" {
		disp = "attachment"
	}
	h.Set("Content-Disposition", disp)
	h.Set("Repr-Digest", reprDigest(meta.GetSha256()))
	h.Set("Content-Length", strconv.FormatInt(meta.GetSizeBytes(), 10))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	out := a.timely(w)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The status line is sent: all that is left is to cut the
			// connection so the client sees an incomplete body.
			panic(http.ErrAbortHandler)
		}
		if err := out.write(msg.GetChunk(), false); err != nil {
			// The client stopped reading (or left): returning cancels
			// the service's call, which closes the file.
			return
		}
	}
}
