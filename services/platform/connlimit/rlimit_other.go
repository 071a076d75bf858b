//go:build !unix

package connlimit

// fallbackLimit stands for the descriptor limit where the system has no
// RLIMIT_NOFILE (Windows handles are not bounded the same way).
const fallbackLimit = 16384

// FileLimit returns a fixed figure where the system has no RLIMIT_NOFILE.
func FileLimit() (soft, hard uint64, err error) { return fallbackLimit, fallbackLimit, nil }

// RaiseFileLimit does nothing where the system has no RLIMIT_NOFILE.
func RaiseFileLimit() (before, now, hard uint64, err error) {
	return fallbackLimit, fallbackLimit, fallbackLimit, nil
}
