package spool_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/spool"
	"github.com/comity-mla/comity/services/trail"
)

func read(n int) trail.Event {
	return trail.Event{ID: fmt.Sprintf("0195a3c4-5e00-7000-8000-%012d", n), Time: time.Date(2026, 11, 28, 9, 0, n, 0, time.UTC),
		Actor: trail.Actor{Subject: "auditor", Agency: "kz-oversight", Roles: []string{"auditor"}}, Service: "comity-audit",
		Action: "/comity.audit.v1.AuditService/GetEntry", Resource: fmt.Sprintf("audit/entries/%d", n), States: []string{"KZ"}, Outcome: "OK"}
}

func ids(t *testing.T, s *spool.Spool) []string {
	t.Helper()
	evs, err := s.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Resource)
	}
	return out
}

func open(t *testing.T, path string) *spool.Spool {
	t.Helper()
	s, err := spool.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSpoolKeepsEventsUntilRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reads.spool")
	s := open(t, path)
	ctx := t.Context()
	if got := ids(t, s); got != nil {
		t.Fatalf("a new spool holds %v", got)
	}
	for _, evs := range [][]trail.Event{{read(1)}, {read(2), read(3)}, {read(4)}} {
		if err := s.Add(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Remove(ctx, []string{read(2).ID, "unknown"}); err != nil {
		t.Fatal(err)
	}
	want := "[audit/entries/1 audit/entries/3 audit/entries/4]"
	if got := fmt.Sprint(ids(t, s)); got != want {
		t.Errorf("after removing 2: %s, want %s", got, want)
	}
	// What a crash leaves: the file as it is. Removing costs no write
	// until the file empties, so the removed event is back: the audit
	// service finds it in its index and does not log it again.
	s.Close()
	s = open(t, path)
	if got, want := fmt.Sprint(ids(t, s)), "[audit/entries/1 audit/entries/2 audit/entries/3 audit/entries/4]"; got != want {
		t.Errorf("reopened: %s, want %s", got, want)
	}
	evs, _ := s.Pending(ctx)
	if evs[0].Time != read(1).Time || evs[0].States[0] != "KZ" {
		t.Errorf("reopened event %+v, want %+v", evs[0], read(1))
	}
	if err := s.Add(ctx, []trail.Event{read(5)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, []string{read(1).ID, read(2).ID, read(3).ID, read(4).ID, read(5).ID}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("an emptied spool file: %v, %v; want 0 bytes", fi.Size(), err)
	}
	s.Close()
	if got := ids(t, open(t, path)); got != nil {
		t.Errorf("reopened after emptying: %v", got)
	}
}

func TestSpoolDropsATornRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reads.spool")
	s := open(t, path)
	if err := s.Add(t.Context(), []trail.Event{read(1), read(2)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"cut in the data", data[:len(data)-10], "[audit/entries/1]"},
		{"cut in the header", data[:len(data)/2+3], "[audit/entries/1]"},
		{"last byte changed", append(data[:len(data)-1:len(data)-1], data[len(data)-1]^1), "[audit/entries/1]"},
		{"intact", data, "[audit/entries/1 audit/entries/2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "reads.spool")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := open(t, p)
			if got := fmt.Sprint(ids(t, s)); got != tc.want {
				t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
			}
			// A record added after the cut is read back after it.
			if err := s.Add(t.Context(), []trail.Event{read(9)}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			want := tc.want[:len(tc.want)-1] + " audit/entries/9]"
			if got := fmt.Sprint(ids(t, open(t, p))); got != want {
				t.Errorf("%s, then one added: %s, want %s", tc.name, got, want)
			}
		})
	}
}

func TestSpoolCompactsPastItsLimit(t *testing.T) {
	const limit = 64 << 10
	spool.SetCompactBytes(t.Cleanup, limit)
	path := filepath.Join(t.TempDir(), "reads.spool")
	s := open(t, path)
	ctx := t.Context()
	// A steady stream of reads: each drain leaves the last one behind, so
	// the file never empties; it must not grow for ever.
	for i := 0; i < 1000; i += 10 {
		var batch []trail.Event
		var drained []string
		for j := range 10 {
			batch = append(batch, read(i+j))
			if i > 0 {
				drained = append(drained, read(i-10+j).ID)
			}
		}
		if err := s.Add(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(ctx, drained); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 2*limit {
		t.Errorf("the spool file holds %d bytes for one event", fi.Size())
	}
	s.Close()
	if got := ids(t, open(t, path)); len(got) < 10 || got[len(got)-1] != "audit/entries/999" || len(got) > 500 {
		t.Errorf("reopened: %d events ending in %v; want the last ten, and not all", len(got), got[len(got)-1:])
	}
}

func TestSpoolTellsAMachineStopFromAProcessCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end ends the first opening, given the spool's path.
		end  func(t *testing.T, s *spool.Spool, path string)
		want bool
	}{
		{"closed", func(t *testing.T, s *spool.Spool, _ string) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}, false},
		// The process died: the spool was never closed, on this boot.
		{"process crash", func(*testing.T, *spool.Spool, string) {}, false},
		// The machine restarted under it: the marker names another boot.
		{"machine stop", func(t *testing.T, _ *spool.Spool, path string) {
			if err := os.WriteFile(path+spool.MarkerSuffix, []byte("00000000-0000-0000-0000-000000000000"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reads.spool")
			s, err := spool.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if s.MachineStopped() {
				t.Error("a new spool reports a machine stop")
			}
			if err := s.Add(t.Context(), []trail.Event{read(1)}); err != nil {
				t.Fatal(err)
			}
			tc.end(t, s, path)
			again := open(t, path)
			if got := again.MachineStopped(); got != tc.want {
				t.Errorf("MachineStopped after %s = %v, want %v", tc.name, got, tc.want)
			}
			if got := fmt.Sprint(ids(t, again)); got != "[audit/entries/1]" {
				t.Errorf("after %s the spool holds %s, want the event added", tc.name, got)
			}
			s.Close()
		})
	}
}
