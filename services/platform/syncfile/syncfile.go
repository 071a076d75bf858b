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

// SyncDir makes the names created, renamed or removed in dir durable. Its
// errors name dir (they are the os package's path errors).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
