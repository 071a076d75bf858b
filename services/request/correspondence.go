package request

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"

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
		return Request{}, concerns(r, errs.New(errs.PermissionDenied, "auditors see a request's metadata, not its correspondence or attachments"))
	}
	return r, nil
}

// PostMessage adds a message to a request's correspondence.
func (s *Service) PostMessage(ctx context.Context, p identity.Principal, requestID string, m Message) (_ Message, err error) {
	r, err := s.liveContent(ctx, p, requestID)
	if err != nil {
		return Message{}, err
	}
	defer func() { err = concerns(r, err) }()
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
	return out, nil
}

// Messages returns the messages of a request p may read: those for both
// sides, and those of p's own agency. The read is audited.
func (s *Service) Messages(ctx context.Context, p identity.Principal, requestID string, offset, limit int) (_ []Message, _ bool, err error) {
	r, err := s.liveContent(ctx, p, requestID)
	if err != nil {
		return nil, false, err
	}
	defer func() { err = concerns(r, err) }()
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
var attachmentKinds = []string{"REQUEST_DOCUMENT", translation, "COURT_ORDER", evidenceKind, "OTHER"}

// Attach stores content as an attachment of a request. Access is checked
// before any content is read; the content is streamed to the blob store,
// its SHA-256 and size computed and checked against the declared digest and
// the size limit, and on any failure nothing is kept. It is refused with
// RESOURCE_EXHAUSTED when TransferLimits are reached.
func (s *Service) Attach(ctx context.Context, p identity.Principal, u Upload, content io.Reader) (_ Attachment, err error) {
	r, err := s.liveContent(ctx, p, u.RequestID)
	if err != nil {
		return Attachment{}, err
	}
	defer func() { err = concerns(r, err) }()
	if r.Status == Closed {
		return Attachment{}, (errs.Violations{{Field: "status", Description: "request " + r.Reference + " is CLOSED"}}).Err(
			errs.FailedPrecondition, "cannot attach to a closed request")
	}
	var vs errs.Violations
	if !slices.Contains(attachmentKinds, u.Kind) {
		vs.Add("metadata.kind", "must be one of %s", strings.Join(attachmentKinds, ", "))
	}
	name, problem := cleanFilename(u.Filename)
	if problem != "" {
		vs.Add("metadata.filename", "%s", problem)
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
	if err := evidenceTooLate(r, u.Kind, s.now()); err != nil {
		return Attachment{}, err
	}
	if u.SizeBytes > s.maxAttach {
		return Attachment{}, errs.New(errs.ResourceExhausted, "attachment of %d bytes is larger than the limit of %d bytes", u.SizeBytes, s.maxAttach)
	}
	// The upload holds a blob file until its client has sent it all.
	release, err := s.transfers.acquire(p)
	if err != nil {
		return Attachment{}, err
	}
	key, sum, size, err := s.blobs.Put(ctx, content, s.maxAttach, u.SHA256)
	release()
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
	return out, nil
}

// cleanFilename keeps the last element of a path and refuses characters
// that are not what they seem, so that a name is safe in a
// Content-Disposition header, on any file system, and shows a reader what
// the file is: no control characters, no quote, and no invisible format
// characters (Unicode category Cf, which holds every bidirectional control:
// U+202E makes "\u202Efdp.exe" show as "exe.pdf"). It returns the name, or
// what is wrong with it in words the uploader can act on.
func cleanFilename(name string) (string, string) {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == ".." || name == "" {
		return "", "a file name without directories is required"
	}
	for _, r := range name {
		switch {
		case r == '"':
			return "", `the file name contains a double quote ("); rename the file`
		case unicode.IsControl(r):
			return "", fmt.Sprintf("the file name contains the control character %U; rename the file", r)
		case hiddenRune(r):
			return "", fmt.Sprintf("the file name contains the invisible control character %s; rename the file", runeName(r))
		}
	}
	return name, ""
}

// hiddenRune reports whether r is an invisible character that changes how
// the text around it shows: a format character (category Cf, which holds
// all of Bidi_Control, the zero-width characters and the byte order mark)
// or a line or paragraph separator.
func hiddenRune(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// formatNames are the Unicode names of the format characters a file name is
// most likely to carry: every Bidi_Control character and the zero-width
// ones. Others are named by code point alone.
var formatNames = map[rune]string{
	0x00AD: "SOFT HYPHEN",
	0x061C: "ARABIC LETTER MARK",
	0x200B: "ZERO WIDTH SPACE",
	0x200C: "ZERO WIDTH NON-JOINER",
	0x200D: "ZERO WIDTH JOINER",
	0x200E: "LEFT-TO-RIGHT MARK",
	0x200F: "RIGHT-TO-LEFT MARK",
	0x2028: "LINE SEPARATOR",
	0x2029: "PARAGRAPH SEPARATOR",
	0x202A: "LEFT-TO-RIGHT EMBEDDING",
	0x202B: "RIGHT-TO-LEFT EMBEDDING",
	0x202C: "POP DIRECTIONAL FORMATTING",
	0x202D: "LEFT-TO-RIGHT OVERRIDE",
	0x202E: "RIGHT-TO-LEFT OVERRIDE",
	0x2060: "WORD JOINER",
	0x2066: "LEFT-TO-RIGHT ISOLATE",
	0x2067: "RIGHT-TO-LEFT ISOLATE",
	0x2068: "FIRST STRONG ISOLATE",
	0x2069: "POP DIRECTIONAL ISOLATE",
	0xFEFF: "ZERO WIDTH NO-BREAK SPACE",
}

// runeName is "U+202E (RIGHT-TO-LEFT OVERRIDE)", or "U+XXXX" for a
// character formatNames does not name.
func runeName(r rune) string {
	if n, ok := formatNames[r]; ok {
		return fmt.Sprintf("%U (%s)", r, n)
	}
	return fmt.Sprintf("%U", r)
}

// shownFilename is a stored file name as it is handed out: names stored
// before uploads refused hidden characters still carry them, so every
// control, quote and hidden character is removed from what a client shows
// or saves; nothing left gives "attachment".
func shownFilename(name string) string {
	out := strings.Map(func(r rune) rune {
		if r == '"' || unicode.IsControl(r) || hiddenRune(r) {
			return -1
		}
		return r
	}, name)
	if strings.Trim(out, ". ") == "" {
		return "attachment"
	}
	return out
}

// Attachments lists the attachments of a request.
func (s *Service) Attachments(ctx context.Context, p identity.Principal, requestID string) (_ []Attachment, err error) {
	r, err := s.caseContent(ctx, p, requestID)
	if err != nil {
		return nil, err
	}
	defer func() { err = concerns(r, err) }()
	atts, err := s.store.ListAttachments(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for i := range atts {
		atts[i].Filename = shownFilename(atts[i].Filename)
	}
	return atts, nil
}

// Download returns an attachment and its content, recording the download.
// EVIDENCE is withheld, and the refusal recorded, while conditions that
// bind its use are unacknowledged (evidenceWithheld).
// The caller closes the content, which ends the transfer: it is refused
// with RESOURCE_EXHAUSTED while TransferLimits are reached, as Attach is.
func (s *Service) Download(ctx context.Context, p identity.Principal, requestID, attachmentID string) (_ Attachment, _ io.ReadCloser, err error) {
	r, err := s.liveContent(ctx, p, requestID)
	if err != nil {
		return Attachment{}, nil, err
	}
	defer func() { err = concerns(r, err) }()
	a, err := s.store.GetAttachment(ctx, r.ID, attachmentID)
	if err != nil {
		return Attachment{}, nil, err
	}
	if !a.EraseTime.IsZero() {
		return Attachment{}, nil, attachmentErasedErr(a)
	}
	if err := evidenceWithheld(p, r, a); err != nil {
		if rerr := s.recordWithheld(ctx, p, r, "requests/"+r.ID+"/attachments/"+a.ID); rerr != nil {
			return Attachment{}, nil, rerr
		}
		return Attachment{}, nil, err
	}
	// The download holds its blob file open until the caller closes it,
	// which gives its transfer place back.
	release, err := s.transfers.acquire(p)
	if err != nil {
		return Attachment{}, nil, err
	}
	blob, err := s.blobs.Open(ctx, a.BlobKey)
	if err != nil {
		release()
		return Attachment{}, nil, fmt.Errorf("attachment %s content: %w", a.ID, err)
	}
	content := releasingReader{ReadCloser: blob, release: release}
	if err := s.recordRead(ctx, p, r, "requests/"+r.ID+"/attachments/"+a.ID); err != nil {
		content.Close()
		return Attachment{}, nil, err
	}
	a.Filename = shownFilename(a.Filename)
	return a, content, nil
}
