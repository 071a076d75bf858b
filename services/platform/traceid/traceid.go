// Package traceid is the trace id that follows a call from the gateway
// through the services and back: its header (HTTP) and metadata key (gRPC),
// its form, and a new one. It imports nothing of gRPC, so that the gateway
// names the header without the gRPC server package.
package traceid

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
)

// Header is the HTTP header and gRPC metadata key carrying a call's trace
// id from the gateway to the services and back.
const Header = "x-trace-id"

var pattern = regexp.MustCompile(`^[A-Za-z0-9-]{8,64}$`)

// Valid reports whether id has the form of a trace id, which a caller's
// own id must have to be adopted (it ends up in logs).
func Valid(id string) bool { return pattern.MatchString(id) }

// New returns a fresh random trace id.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
