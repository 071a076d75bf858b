package tlog_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/witnesstest"
)

// TestTesseraFsck checks that Tessera's own fsck, an independent reader of
// the tlog-tiles files, agrees with the log: a log written through Log
// passes, witnessed (its checkpoint cosigned by real witnesses) or not, and
// one flipped byte in an entry bundle or a tile fails it. It runs
// only when COMITY_TESSERA_FSCK names the fsck binary:
//
//	GOBIN=/work/main/bin go install github.com/transparency-dev/tessera/cmd/fsck@v1.0.4
//	COMITY_TESSERA_FSCK=/work/main/bin/fsck go test ./audit/tlog/ -run Fsck
//
// fsck v1.0.4 exits 0 even when the check fails, and with its default of one
// worker it hangs on the first mismatched tile (the failing worker stops
// draining the queue the checker writes to). So the test runs it without the
// terminal UI, with four workers, under a timeout, and reads its verdict
// from the log lines it prints.
func TestTesseraFsck(t *testing.T) {
	bin := os.Getenv("COMITY_TESSERA_FSCK")
	if bin == "" {
		t.Skip("COMITY_TESSERA_FSCK not set: go install github.com/transparency-dev/tessera/cmd/fsck@v1.0.4 and point it at the binary")
	}
	// 600 entries: two full bundles and a partial one, two levels of tiles.
	src, _ := fillLog(t, 600)
	witnessed := fillWitnessedLog(t, 600)

	tests := []struct {
		name   string
		src    string
		damage string // file under dir/log to flip a byte of; "" for none
		wantOK bool
	}{
		{name: "good log", src: src, wantOK: true},
		{name: "flipped byte in a full entry bundle", src: src, damage: "tile/entries/000"},
		{name: "flipped byte in the partial entry bundle", src: src, damage: "tile/entries/002.p/88"},
		{name: "flipped byte in a hash tile", src: src, damage: "tile/0/001"},
		{name: "good witnessed log", src: witnessed, wantOK: true},
		{name: "witnessed log, flipped byte in a full entry bundle", src: witnessed, damage: "tile/entries/001"},
		{name: "witnessed log, flipped byte in a hash tile", src: witnessed, damage: "tile/0/001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(tc.src)); err != nil {
				t.Fatal(err)
			}
			if tc.damage != "" {
				flipFileByte(t, filepath.Join(dir, "log", tc.damage), 100)
			}
			ok, out := runFsck(t, bin, dir)
			if ok != tc.wantOK {
				t.Errorf("fsck passed = %v, want %v; output:\n%s", ok, tc.wantOK, out)
			}
		})
	}
}

// runFsck runs fsck on the log under dir with its public key and reports
// whether it passed.
func runFsck(t *testing.T, bin, dir string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--storage_url=file://"+filepath.Join(dir, "log")+"/",
		"--public_key="+filepath.Join(dir, "public.key"),
		"--ui=false",
		"-N=4",
	)
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("fsck did not finish in 60s; output:\n%s", out)
	}
	passed := err == nil &&
		strings.Contains(string(out), "Successfully fsck'd log with size 600") &&
		!strings.Contains(string(out), "fsck failed")
	return passed, string(out)
}

// fillWitnessedLog writes n leaves to a log witnessed by three real
// witnesses (a quorum of 2), closes it and returns its directory, after
// checking that the checkpoint it left on disk, the one fsck reads, carries
// the quorum's cosignatures.
func fillWitnessedLog(t *testing.T, n int) string {
	t.Helper()
	ws := witnesstest.Start(t, "state", 3)
	policy := witnesstest.Policy(2, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, policy, ws)
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = leaf(t, "w", i)
	}
	appendAndAwait(t, l, leaves)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "log", "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := bundle.VerifyCosignatures(cp, policy); err != nil {
		t.Fatalf("the witnessed log's checkpoint on disk is not cosigned: %+v, %v", rep, err)
	}
	return dir
}
