package request

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// Message visibilities.
const (
	BothSides = "BOTH_SIDES"
	OwnAgency = "OWN_AGENCY"
)

// caseContent returns the request when p may read its content (messages,
// attachments), NOT_FOUND when p may not see it at all, and
// PERMISSION_DENIED for metadata-only callers.
func (s *Service) caseContent(ctx context.Context, p identity.Principal, id string) (Request, error) {
	r, err := s.visible(ctx, p, id)
	if err != nil {
		return Request{}, err
	}
	if accessOf(p, r) != fullAccess {
		return Request{}, errs.New(errs.PermissionDenied, "auditors see a request's metadata, not its correspondence or attachments")
	}
	return r, nil
}

// PostMessage adds a message to a request's correspondence.
func (s *Service) PostMessage(ctx context.Context, p identity.Principal, requestID string, m Message) (Message, error) {
	r, err := s.caseContent(ctx, p, requestID)
	if err != nil {
		return Message{}, err
	}
	var vs errs.Violations
	if strings.TrimSpace(m.Body) == "" {
		vs.Add("message.body", "required")
	}
	if m.Visibility != BothSides && m.Visibility != OwnAgency {
		vs.Add("message.visibility", "must be BOTH_SIDES or OWN_AGENCY")
	}
	if err := vs.Err(errs.Invalid, "invalid message"); err != nil {
		return Message{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Message{}, err
	}
	m.ID, m.RequestID, m.Author, m.CreateTime = id.String(), r.ID, actorOf(p), s.now()
	ev := s.eventOn(ctx, p, r, "requests/"+r.ID+"/messages/"+m.ID, "", "")
	out, err := s.store.CreateMessage(ctx, m, ev)
	if err != nil {
		return Message{}, err
	}
	audit.MarkRecorded(ctx)
	return out, nil
}

// Messages returns the messages of a request p may read: those for both
// sides, and those of p's own agency. The read is audited.
func (s *Service) Messages(ctx context.Context, p identity.Principal, requestID string, offset, limit int) ([]Message, bool, error) {
	r, err := s.caseContent(ctx, p, requestID)
	if err != nil {
		return nil, false, err
	}
	// Messages of one request are few (correspondence, not a feed), and
	// which of them p may read is decided per message, so page in memory.
	all, err := s.store.ListMessages(ctx, r.ID, 0, 0)
	if err != nil {
		return nil, false, err
	}
	var readable []Message
	for _, m := range all {
		if m.Visibility == BothSides || m.Author.Agency == p.Agency {
			readable = append(readable, m)
		}
	}
	if offset > len(readable) {
		offset = len(readable)
	}
	readable = readable[offset:]
	more := limit > 0 && len(readable) > limit
	if more {
		readable = readable[:limit]
	}
	if err := s.recordRead(ctx, p, r, "requests/"+r.ID+"/messages"); err != nil {
		return nil, false, err
	}
	return readable, more, nil
}

// Upload describes an attachment being uploaded.
type Upload struct {
	RequestID string
	Kind      string
	Filename  string
	MediaType string
	Language  string
	// SHA256 is the digest the client declares (lower-case hex).
	SHA256 string
	// SizeBytes is the size the client announces; 0 or less when unknown.
	SizeBytes int64
}

// Attachment kinds.
var attachmentKinds = []string{"REQUEST_DOCUMENT", translation, "COURT_ORDER", "EVIDENCE", "OTHER"}

// Attach stores content as an attachment of a request. Access is checked
// before any content is read; the content is streamed to the blob store,
// its SHA-256 and size computed and checked against the declared digest and
// the size limit, and on any failure nothing is kept.
func (s *Service) Attach(ctx context.Context, p identity.Principal, u Upload, content io.Reader) (Attachment, error) {
	r, err := s.caseContent(ctx, p, u.RequestID)
	if err != nil {
		return Attachment{}, err
	}
	if r.Status == Closed {
		return Attachment{}, (errs.Violations{{Field: "status", Description: "request " + r.Reference + " is CLOSED"}}).Err(
			errs.FailedPrecondition, "cannot attach to a closed request")
	}
	var vs errs.Violations
	if !contains(attachmentKinds, u.Kind) {
		vs.Add("metadata.kind", "must be one of %s", strings.Join(attachmentKinds, ", "))
	}
	name, ok := cleanFilename(u.Filename)
	if !ok {
		vs.Add("metadata.filename", "a file name without directories or control characters is required")
	}
	if u.Kind == translation && u.Language == "" {
		vs.Add("metadata.language", "a translation must say its language")
	}
	if len(u.SHA256) != 64 {
		vs.Add("metadata.sha256", "the SHA-256 of the content is required")
	}
	if err := vs.Err(errs.Invalid, "invalid attachment"); err != nil {
		return Attachment{}, err
	}
	if u.SizeBytes > s.maxAttach {
		return Attachment{}, errs.New(errs.ResourceExhausted, "attachment of %d bytes is larger than the limit of %d bytes", u.SizeBytes, s.maxAttach)
	}
	key, sum, size, err := s.blobs.Put(ctx, content, s.maxAttach, u.SHA256)
	if err != nil {
		return Attachment{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Attachment{}, err
	}
	a := Attachment{
		ID: id.String(), RequestID: r.ID, Kind: u.Kind, Filename: name, MediaType: u.MediaType, Language: u.Language,
		SHA256: sum, SizeBytes: size, BlobKey: key, Uploader: actorOf(p), CreateTime: s.now(),
	}
	ev := s.eventOn(ctx, p, r, "requests/"+r.ID+"/attachments/"+a.ID, "", "")
	out, err := s.store.CreateAttachment(ctx, a, ev)
	if err != nil {
		// The record is what makes the content reachable; without it the
		// blob is garbage.
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			err = fmt.Errorf("%w (and removing its content: %v)", err, derr)
		}
		return Attachment{}, err
	}
	audit.MarkRecorded(ctx)
	return out, nil
}

// cleanFilename keeps the last element of a path and refuses control
// characters, so that a name is safe in a Content-Disposition header and on
// any file system.
func cleanFilename(name string) (string, bool) {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == ".." || name == "" {
		return "", false
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '"' {
			return "", false
		}
	}
	return name, true
}

// Attachments lists the attachments of a request.
func (s *Service) Attachments(ctx context.Context, p identity.Principal, requestID string) ([]Attachment, error) {
	r, err := s.caseContent(ctx, p, requestID)
	if err != nil {
		return nil, err
	}
	return s.store.ListAttachments(ctx, r.ID)
}

// Download returns an attachment and its content, recording the download.
// The caller closes the content.
func (s *Service) Download(ctx context.Context, p identity.Principal, requestID, attachmentID string) (Attachment, io.ReadCloser, error) {
	r, err := s.caseContent(ctx, p, requestID)
	if err != nil {
		return Attachment{}, nil, err
	}
	a, err := s.store.GetAttachment(ctx, r.ID, attachmentID)
	if err != nil {
		return Attachment{}, nil, err
	}
	content, err := s.blobs.Open(ctx, a.BlobKey)
	if err != nil {
		return Attachment{}, nil, fmt.Errorf("attachment %s content: %w", a.ID, err)
	}
	if err := s.recordRead(ctx, p, r, "requests/"+r.ID+"/attachments/"+a.ID); err != nil {
		content.Close()
		return Attachment{}, nil, err
	}
	return a, content, nil
}
