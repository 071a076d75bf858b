package request_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
)

// slowUpload is a blob store whose Put, once the content is stored, runs
// during: what happens while a client is still sending an upload.
type slowUpload struct {
	*fsblob.Store
	during func()
}

func (b *slowUpload) Put(ctx context.Context, r io.Reader, maxBytes int64, want string) (string, string, int64, error) {
	key, sum, size, err := b.Store.Put(ctx, r, maxBytes, want)
	if b.during != nil {
		b.during()
	}
	return key, sum, size, err
}

// TestUploadDuringErasure: a draft never transmitted whose retention has
// run out is erased by the sweep while an upload to it is under way. The
// upload is refused naming the erasure, and neither its file name nor its
// content is kept anywhere: not as an attachment of the erased request,
// not in the blob store.
func TestUploadDuringErasure(t *testing.T) {
	c := &clock{}
	c.set(t0)
	blobDir := t.TempDir()
	slow := &slowUpload{}
	rig := newSweepRig(t, sqldbtest.SQLite(t), blobDir, c, func(b *fsblob.Store) request.Blobs {
		slow.Store = b
		return slow
	})
	v := ok(t)(rig.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
	rig.clock.set(t0.Add(request.DefaultRetention + time.Hour))
	slow.during = func() {
		slow.during = nil
		if rep := sweep(t, rig.svc); rep.Erased != 1 {
			t.Errorf("the sweep during the upload: %+v; want the draft erased", rep)
		}
	}

	content := "late-evidence-content-7070"
	sum := sha256.Sum256([]byte(content))
	_, err := rig.svc.Attach(ctx, kzProsecutor, request.Upload{RequestID: v.ID, Kind: "EVIDENCE", Filename: "late-upload-7071.txt",
		SHA256: hex.EncodeToString(sum[:])}, strings.NewReader(content))
	if !errors.Is(err, errs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "erased") {
		t.Errorf("an upload that ended after its request was erased = %v; want FAILED_PRECONDITION naming the erasure", err)
	}
	atts, err := rig.st.ListAttachments(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range atts {
		if a.EraseTime.IsZero() {
			t.Errorf("the erased request holds the late upload, its content kept: %+v", a)
		}
	}
	if err := filepath.WalkDir(blobDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			t.Errorf("a blob is left after the upload was refused: %s", path)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
