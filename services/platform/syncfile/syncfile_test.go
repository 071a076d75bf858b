package syncfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/comity-mla/comity/services/platform/syncfile"
)

// TestWriteClose: the data is in the file and the file is closed; a file
// that cannot be written gives the write's error and is closed all the
// same.
func TestWriteClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syncfile.WriteClose(f, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "data" {
		t.Errorf("file holds %q, %v; want data", got, err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("file not closed: Close again gave %v", err)
	}

	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syncfile.WriteClose(ro, []byte("more")); err == nil {
		t.Error("writing a read-only file succeeded")
	}
	if err := ro.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read-only file not closed after the failed write: Close again gave %v", err)
	}
}
