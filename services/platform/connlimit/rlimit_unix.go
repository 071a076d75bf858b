//go:build unix

package connlimit

import (
	"fmt"
	"syscall"
)

// FileLimit returns the process's soft and hard descriptor limits
// (RLIMIT_NOFILE).
func FileLimit() (soft, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, fmt.Errorf("connlimit: descriptor limit: %w", err)
	}
	return uint64(r.Cur), uint64(r.Max), nil
}

// RaiseFileLimit raises the soft descriptor limit to the hard one and
// returns both as they were before and the soft limit now. Go's runtime does
// this too on Linux at start; doing it here as well makes it explicit, and
// the caller logs the figures the connection bound is sized from.
func RaiseFileLimit() (before, now, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, 0, fmt.Errorf("connlimit: descriptor limit: %w", err)
	}
	before = uint64(r.Cur)
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return before, before, uint64(r.Max), fmt.Errorf("connlimit: raising the descriptor limit from %d to %d: %w", before, r.Max, err)
		}
	}
	soft, hard, err := FileLimit()
	return before, soft, hard, err
}
