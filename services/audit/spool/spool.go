// Package spool is the audit.Spool of the audit service: a file beside the
// log that keeps the service's own events (auditors' reads) from the moment
// a read is answered until the event is in the log.
//
// The file is a sequence of records, each a 4-byte big-endian length, the
// 4-byte CRC-32 (IEEE) of the data and the data, the event as audit.Leaf
// encodes it. A record cut short by a crash was never acknowledged, and Open
// drops it.
//
// Add writes without syncing: a read's answer waits for the write into the
// operating system's page cache, not for the disk, which on a busy machine
// takes milliseconds to tens of them. The events survive a crash of the
// process; only a stop of the machine itself (power, kernel) within the
// moments before the drain logs them, or Close syncs them, can lose them.
// That is not silent: Open leaves a marker naming the machine's boot, Close
// removes it, and the next Open reports (MachineStopped) when the last one
// ended with the machine rather than with Close or a process crash.
//
// Remove costs no sync either: the file is truncated once every event in it
// is removed, and otherwise rewritten only once it exceeds compactBytes.
// Removed events may therefore come back after a crash; the audit service
// finds them in its index and does not log them again.
package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/platform/syncfile"
	"github.com/comity-mla/comity/services/trail"
)

// Spool is an open spool file. Its methods are safe for concurrent use; one
// process opens a file at a time (the audit log's writer lock covers it).
type Spool struct {
	path string

	mu     sync.Mutex
	f      *os.File
	events []trail.Event
	// records are the encoded records of events, for rewriting the file.
	records [][]byte
	// size is the file's length, removed records included.
	size int64
	// machineStopped reports the last opening ended with the machine.
	machineStopped bool
}

// markerSuffix names the marker file beside the spool that is there while a
// process has the spool open: it holds the boot id of the machine.
const markerSuffix = ".open"

// bootIDFile identifies the running boot of a Linux machine.
var bootIDFile = "/proc/sys/kernel/random/boot_id"

func bootID() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// compactBytes is the size past which Remove rewrites the file without the
// removed records, when some are left. A variable for the tests.
var compactBytes int64 = 1 << 20

var _ audit.Spool = (*Spool)(nil)

// Open opens the spool at path, creating it if need be, and reads the
// events it holds.
func Open(path string) (*Spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	s := &Spool{path: path, f: f}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	// The marker of an opening that did not end with Close: the process
	// died (nothing lost: its writes were in the page cache), or the
	// machine stopped, if it was another boot (or one cannot tell).
	marker := path + markerSuffix
	boot := bootID()
	if was, err := os.ReadFile(marker); err == nil {
		s.machineStopped = boot == "" || string(was) != boot
	} else if !errors.Is(err, os.ErrNotExist) {
		f.Close()
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	if err := writeSynced(marker, []byte(boot)); err != nil {
		f.Close()
		return nil, err
	}
	// The files' entries in their directory must outlast a crash too.
	if err := syncfile.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// MachineStopped reports whether the spool was last open when the machine
// stopped (or restarted) under it, rather than closed or left by a process
// that died: events added in the moments before may then be lost, and the
// caller should say so.
func (s *Spool) MachineStopped() bool { return s.machineStopped }

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := syncfile.WriteClose(f, data); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	return nil
}

// load reads the records of the file and cuts off a torn last one.
func (s *Spool) load() error {
	data, err := io.ReadAll(s.f)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	off := 0
	for off+8 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n > len(data)-off-8 || crc32.ChecksumIEEE(data[off+8:off+8+n]) != sum {
			break
		}
		leaf := data[off+8 : off+8+n]
		ev, err := audit.ParseLeaf(leaf)
		if err != nil {
			return fmt.Errorf("audit spool %s: record at %d: %w", s.path, off, err)
		}
		s.events = append(s.events, ev)
		s.records = append(s.records, bytes.Clone(data[off:off+8+n]))
		off += 8 + n
	}
	if off < len(data) {
		// Only the last record can be torn: Add syncs each write before
		// the next.
		if err := s.f.Truncate(int64(off)); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
	}
	if _, err := s.f.Seek(int64(off), io.SeekStart); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	s.size = int64(off)
	return nil
}

func record(ev trail.Event) ([]byte, error) {
	leaf, err := audit.Leaf(ev)
	if err != nil {
		return nil, err
	}
	rec := make([]byte, 8, 8+len(leaf))
	binary.BigEndian.PutUint32(rec, uint32(len(leaf)))
	binary.BigEndian.PutUint32(rec[4:], crc32.ChecksumIEEE(leaf))
	return append(rec, leaf...), nil
}

// Add implements audit.Spool: the events are written (not synced: see the
// package comment) when it returns nil.
func (s *Spool) Add(_ context.Context, events []trail.Event) error {
	var buf []byte
	recs := make([][]byte, len(events))
	for i, ev := range events {
		rec, err := record(ev)
		if err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		recs[i] = rec
		buf = append(buf, rec...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("audit spool: closed")
	}
	if _, err := s.f.Write(buf); err != nil {
		return s.fail(err)
	}
	s.size += int64(len(buf))
	s.events = append(s.events, events...)
	s.records = append(s.records, recs...)
	return nil
}

// fail puts the file back as the records in memory say after a failed
// write, so that a partial record does not sit before the next one.
func (s *Spool) fail(err error) error {
	if rerr := s.rewrite(); rerr != nil {
		return fmt.Errorf("audit spool: %w (and restoring the file: %w)", err, rerr)
	}
	return fmt.Errorf("audit spool: %w", err)
}

// Pending implements audit.Spool.
func (s *Spool) Pending(context.Context) ([]trail.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events), nil
}

// Remove implements audit.Spool. The events are gone from Pending at once;
// from the file when it is emptied or compacted (see the package comment).
func (s *Spool) Remove(_ context.Context, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("audit spool: closed")
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	var events []trail.Event
	var records [][]byte
	for i, ev := range s.events {
		if !gone[ev.ID] {
			events = append(events, ev)
			records = append(records, s.records[i])
		}
	}
	if len(events) == len(s.events) {
		return nil
	}
	s.events, s.records = events, records
	if len(records) > 0 && s.size <= compactBytes {
		return nil
	}
	if err := s.rewrite(); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	return nil
}

// rewrite makes the file hold s.records: truncated when there are none
// (the usual case), else replaced by a new file with them. s.mu is held.
func (s *Spool) rewrite() error {
	if len(s.records) == 0 {
		// Not synced: should a crash undo the truncation, the events come
		// back, and are found in the log. The next Add's sync makes it
		// durable.
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		s.size = 0
		return nil
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, bytes.Join(s.records, nil), 0o600); err != nil {
		return err
	}
	t, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := t.Sync(); err != nil {
		t.Close()
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		t.Close()
		return err
	}
	if _, err := t.Seek(0, io.SeekEnd); err != nil {
		t.Close()
		return err
	}
	s.f.Close()
	s.f = t
	s.size = 0
	for _, r := range s.records {
		s.size += int64(len(r))
	}
	return syncfile.SyncDir(filepath.Dir(s.path))
}

// Close syncs and closes the file, whose events stay for the next Open, and
// then removes the marker: the spool was closed, not cut off.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		// The marker stays: the next Open cannot count on the file.
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := os.Remove(s.path + markerSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit spool: %w", err)
	}
	return nil
}
