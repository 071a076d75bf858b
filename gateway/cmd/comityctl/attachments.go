package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

var attachmentPattern = regexp.MustCompile(`^requests/[A-Za-z0-9-]{1,64}/attachments/[A-Za-z0-9-]{1,64}$`)

// attachmentName checks an attachment's name, requests/ID/attachments/ID.
func attachmentName(arg string) (string, error) {
	if !attachmentPattern.MatchString(arg) {
		return "", fmt.Errorf("%w: %q is not an attachment's name: want requests/ID/attachments/ID, as 'comityctl attachments list REQUEST' shows", errUsage, arg)
	}
	return arg, nil
}

var attachmentColumns = []column{
	{header: "NAME", path: "name"}, {header: "KIND", path: "kind"}, {header: "FILENAME", path: "filename", width: 40},
	{header: "SIZE", path: "sizeBytes"}, {header: "SHA-256", path: "sha256"}, {header: "BY", path: "uploader.agency"},
	{header: "CREATED", path: "createTime"},
}

func newAttachmentsCmd(g *globals) *cobra.Command {
	c := group("attachments", "Files attached to a request: upload, list, download",
		`  comityctl attachments upload KZ-2026-000002 confirmation.pdf --kind EVIDENCE
  comityctl attachments list KZ-2026-000002
  comityctl attachments download requests/…/attachments/…`,
		newAttachmentsUploadCmd(g), newAttachmentsListCmd(g), newAttachmentsDownloadCmd(g))
	c.Aliases = []string{"attachment"}
	return c
}

func newAttachmentsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list REQUEST",
		Short:   "List a request's attachments, oldest first",
		Example: "  comityctl attachments list KZ-2026-000002",
		Args:    args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, a []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			name, err := resolveRequest(c.Context(), cl, a[0])
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/"+name+"/attachments", nil)
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "attachments", columns: attachmentColumns})
		},
	}
}

func newAttachmentsUploadCmd(g *globals) *cobra.Command {
	var kind, language, mediaType, filename string
	c := &cobra.Command{
		Use:   "upload REQUEST FILE",
		Short: "Attach a file to a request, with its SHA-256",
		Long: `Attach FILE to a request. Its SHA-256 is computed first and sent with it (RFC 9530
Repr-Digest): the service keeps the file only if what it received matches. Progress is shown on
a terminal.`,
		Example: "  comityctl attachments upload KZ-2026-000002 confirmation.pdf --kind EVIDENCE\n" +
			"  comityctl attachments upload KZ-2026-000002 tarjima.pdf --kind TRANSLATION --language uz",
		Args: args(2, "REQUEST FILE"),
		RunE: func(c *cobra.Command, a []string) error {
			n, err := enumValue("kind", kind, requestv1.Attachment_Kind(0).Descriptor())
			if err != nil {
				return err
			}
			kindName := requestv1.Attachment_Kind(n).String()
			cl, err := g.client()
			if err != nil {
				return err
			}
			name, err := resolveRequest(c.Context(), cl, a[0])
			if err != nil {
				return err
			}
			return g.upload(c.Context(), cl, name, a[1], kindName, language, mediaType, filename)
		},
	}
	enumFlag(c, &kind, "kind", "what the file is (required)", requestv1.Attachment_Kind(0).Descriptor())
	c.Flags().StringVar(&language, "language", "", "language of the content (BCP-47), e.g. uz for a translation")
	c.Flags().StringVar(&mediaType, "media-type", "", "the file's media type (default: from its extension, else its content)")
	c.Flags().StringVar(&filename, "filename", "", "the name the file goes by (default: FILE's own name)")
	return c
}

func (g *globals) upload(ctx context.Context, c *restClient, request, path, kind, language, mediaType, filename string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", errUsage, path)
	}
	if filename == "" {
		filename = filepath.Base(path)
	}
	if mediaType == "" {
		mediaType = mime.TypeByExtension(filepath.Ext(path))
	}
	if mediaType == "" {
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		mediaType = http.DetectContentType(head[:n])
	}
	h := sha256.New()
	if _, err := io.Copy(h, g.progress(f, st.Size(), "computing the SHA-256 of "+filename)); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	sum := h.Sum(nil)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": filename})
	if disp == "" {
		return fmt.Errorf("%w: the file name %q cannot be sent; give another with --filename", errUsage, filename)
	}
	q := url.Values{"kind": {kind}}
	if language != "" {
		q.Set("language", language)
	}
	header := http.Header{
		"Content-Type":        {mediaType},
		"Content-Disposition": {disp},
		"Repr-Digest":         {"sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"},
		"Accept":              {"application/json"},
	}
	body := &sizedReader{r: g.progress(f, st.Size(), "uploading "+filename), n: st.Size()}
	resp, err := c.streamSized(ctx, http.MethodPost, "/v1/"+request+"/attachments:upload?"+q.Encode(), body, st.Size(), header)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return err
	}
	var att struct {
		Sha256 string `json:"sha256"`
	}
	if err := json.Unmarshal(data, &att); err != nil || att.Sha256 != hex.EncodeToString(sum) {
		return fmt.Errorf("the gateway's answer does not confirm the file's SHA-256 %x: %s", sum, printable(string(data), 300))
	}
	return g.print(data, listOfOne{columns: attachmentColumns})
}

// sizedReader is a body of a known length.
type sizedReader struct {
	r io.Reader
	n int64
}

func (s *sizedReader) Read(p []byte) (int, error) { return s.r.Read(p) }

// streamSized is stream with a known Content-Length, so that the gateway
// can refuse a file over its limit before it is sent.
func (c *restClient) streamSized(ctx context.Context, method, path string, body *sizedReader, size int64, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	return c.send(ctx, req, header)
}

// progress wraps r to show on a terminal (standard error) how much of
// total has passed; elsewhere it is r, and comityctl stays quiet.
func (g *globals) progress(r io.Reader, total int64, what string) io.Reader {
	if !isTerminal(g.stderr) {
		return r
	}
	return &progressReader{r: r, total: total, what: what, w: g.stderr}
}

type progressReader struct {
	r         io.Reader
	w         io.Writer
	what      string
	total, n  int64
	last      time.Time
	completed bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	done := errors.Is(err, io.EOF) || (p.total > 0 && p.n >= p.total)
	if done && !p.completed {
		p.completed = true
		fmt.Fprintf(p.w, "\r%s: %s, done.          \n", p.what, bytesText(p.n))
	} else if !done && time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		pct := ""
		if p.total > 0 {
			pct = fmt.Sprintf(" (%d%%)", p.n*100/p.total)
		}
		fmt.Fprintf(p.w, "\r%s: %s of %s%s", p.what, bytesText(p.n), bytesText(p.total), pct)
	}
	return n, err
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func newAttachmentsDownloadCmd(g *globals) *cobra.Command {
	var out string
	var force bool
	c := &cobra.Command{
		Use:   "download ATTACHMENT",
		Short: "Save an attachment, its SHA-256 checked",
		Long: `Save an attachment (requests/ID/attachments/ID) to --out, or to the current directory under
the attachment's own file name (reduced to a plain name: never a path). The file appears only
once its SHA-256 matches the one the service recorded at upload; an existing file is not
overwritten without --force. --out - writes to standard output (checked at the end).`,
		Example: "  comityctl attachments download requests/…/attachments/…\n" +
			"  comityctl attachments download requests/…/attachments/… --out evidence.pdf --force",
		Args: args(1, "one ATTACHMENT (requests/ID/attachments/ID)"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := attachmentName(a[0])
			if err != nil {
				return err
			}
			if out != "" && out != "-" && !force {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%w: %s exists: pass --force to overwrite it, or another --out", errUsage, out)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			return g.download(c.Context(), cl, name, out, force)
		},
	}
	c.Flags().StringVar(&out, "out", "", "file to write (default: the attachment's file name, in the current directory; - for standard output)")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}

// safeFilename reduces a file name the server gave to a plain name in the
// current directory: its last path element, without control characters,
// not hidden and not "." or "..". It returns "" when nothing usable is
// left.
func safeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if !unicode.IsGraphic(r) || unicode.Is(unicode.Bidi_Control, r) || r == ':' {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	// A dot file could be read by tools as their configuration (.envrc).
	name = strings.TrimLeft(name, ".")
	if name == "" || len(name) > 255 {
		return ""
	}
	return name
}

func (g *globals) download(ctx context.Context, c *restClient, name, out string, force bool) error {
	resp, err := c.stream(ctx, http.MethodGet, "/v1/"+name+":download", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	want, err := digestHeader(resp.Header.Get("Repr-Digest"))
	if err != nil {
		return fmt.Errorf("the gateway sent no usable SHA-256 of the file (Repr-Digest %q): nothing was written", resp.Header.Get("Repr-Digest"))
	}
	if out == "" {
		_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		out = safeFilename(params["filename"])
		if out == "" {
			return fmt.Errorf("%w: the attachment's file name %q cannot be used here: give --out FILE", errUsage, printable(params["filename"], 100))
		}
		if !force {
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%w: %s exists: pass --force to overwrite it, or --out another file", errUsage, out)
			}
		}
	}
	h := sha256.New()
	body := io.TeeReader(g.progress(resp.Body, resp.ContentLength, "downloading "+out), h)
	if out == "-" {
		n, err := io.Copy(g.stdout, body)
		if err != nil {
			return fmt.Errorf("the download broke off after %d bytes: %w", n, err)
		}
		if got := h.Sum(nil); !bytes.Equal(got, want) {
			return fmt.Errorf("the content written (%d bytes) does NOT match the attachment's SHA-256 (%x, got %x): discard it", n, want, got)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".comityctl-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after a successful link or rename
	n, err := io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("the download broke off after %d bytes, nothing was written: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("the download ended after %d of %d bytes, nothing was written", n, resp.ContentLength)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("the file received does NOT match the attachment's SHA-256 (%x, got %x): nothing was written", want, got)
	}
	if force {
		err = os.Rename(tmp.Name(), out)
	} else {
		// A link fails if out appeared meanwhile: nothing is overwritten.
		err = os.Link(tmp.Name(), out)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s exists: pass --force to overwrite it, or --out another file", errUsage, out)
		}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(g.stderr, "saved %s (%s, SHA-256 %x checked)\n", out, bytesText(n), want)
	return err
}

// digestHeader reads the sha-256 of an RFC 9530 Repr-Digest header.
func digestHeader(h string) ([]byte, error) {
	for _, member := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || strings.TrimSpace(k) != "sha-256" {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), ":")
		sum, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sum) != sha256.Size {
			return nil, errors.New("not a SHA-256")
		}
		return sum, nil
	}
	return nil, errors.New("no sha-256")
}
