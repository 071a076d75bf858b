// Package syncfile finishes writing a file so that what was written
// outlasts a crash: written, synced to the disk, closed.
package syncfile

import "os"

// WriteClose writes data to f, syncs f and closes it, whatever fails on
// the way; it returns the first error.
func WriteClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
