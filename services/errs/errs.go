// Package errs is the one error table of Comity's domain code.
//
// Domain packages return an *Error (or wrap one with %w) carrying a Code; the
// gRPC error interceptor maps each Code to a gRPC status code and each
// violation to a google.rpc error detail, and the gateway maps the gRPC code to
// HTTP. Anything that is not an *Error is internal: it is logged with a trace
// id and never shown to the caller.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies a domain error. Each value maps to exactly one gRPC code.
type Code int

// The codes, with the gRPC code (and HTTP status) each maps to.
const (
	// Internal is a fault of the system, never of the caller (INTERNAL, 500).
	Internal Code = iota
	// Invalid means the input is malformed (INVALID_ARGUMENT, 400).
	Invalid
	// FailedPrecondition means a rule of the workflow is not met
	// (FAILED_PRECONDITION, 400).
	FailedPrecondition
	// NotFound means the resource does not exist or the caller may not see it
	// (NOT_FOUND, 404).
	NotFound
	// AlreadyExists means a resource with that id exists (ALREADY_EXISTS, 409).
	AlreadyExists
	// Conflict means a concurrent change won: a stale etag or a lost race
	// (ABORTED, 409).
	Conflict
	// Unauthenticated means no credential or a bad one (UNAUTHENTICATED, 401).
	Unauthenticated
	// PermissionDenied means the caller is known but not allowed
	// (PERMISSION_DENIED, 403).
	PermissionDenied
	// ResourceExhausted means a limit was reached (RESOURCE_EXHAUSTED, 429/413).
	ResourceExhausted
	// Unavailable means a dependency cannot be reached now; retrying may help
	// (UNAVAILABLE, 503).
	Unavailable
)

var codeNames = [...]string{
	Internal:           "internal",
	Invalid:            "invalid",
	FailedPrecondition: "failed precondition",
	NotFound:           "not found",
	AlreadyExists:      "already exists",
	Conflict:           "conflict",
	Unauthenticated:    "unauthenticated",
	PermissionDenied:   "permission denied",
	ResourceExhausted:  "resource exhausted",
	Unavailable:        "unavailable",
}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Violation names one field (a proto field path such as `agency.state`, or a
// rule such as `status`) and what is wrong with it.
type Violation struct {
	Field       string
	Description string
	// Reason is a machine-readable code of the complaint in UPPER_SNAKE_CASE
	// (e.g. LEGAL_BASIS_REQUIRED), so that a client can say it in its
	// user's language; empty when the description is all there is. It is
	// carried as the BadRequest field violation's reason or the
	// PreconditionFailure violation's type.
	Reason string
}

// Error is a domain error: a code, a message safe to show to the caller, and
// the violations that explain it.
type Error struct {
	Code       Code
	Message    string
	Violations []Violation
	// Err is an optional underlying cause; it is not shown to callers.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Description)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code and no message,
// so that errors.Is(err, errs.ErrNotFound) matches any not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is. Match any error of that code.
var (
	ErrInvalid            = &Error{Code: Invalid}
	ErrFailedPrecondition = &Error{Code: FailedPrecondition}
	ErrNotFound           = &Error{Code: NotFound}
	ErrAlreadyExists      = &Error{Code: AlreadyExists}
	ErrConflict           = &Error{Code: Conflict}
	ErrUnauthenticated    = &Error{Code: Unauthenticated}
	ErrPermissionDenied   = &Error{Code: PermissionDenied}
	ErrResourceExhausted  = &Error{Code: ResourceExhausted}
	ErrUnavailable        = &Error{Code: Unavailable}
)

// New returns an error with a code and a message safe to show to the caller.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with a code and message that keeps err as its cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Violations collects field violations so that every problem of an input is
// reported at once.
type Violations []Violation

// Add records that field is wrong, with a description.
func (vs *Violations) Add(field, format string, args ...any) {
	*vs = append(*vs, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// AddReason records that field is wrong, with a machine-readable reason code
// for clients that show the complaint in their user's language, and a
// description for everyone else.
func (vs *Violations) AddReason(field, reason, format string, args ...any) {
	*vs = append(*vs, Violation{Field: field, Reason: reason, Description: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was recorded, else an error of the code with
// message and every violation.
func (vs Violations) Err(code Code, message string) error {
	if len(vs) == 0 {
		return nil
	}
	return &Error{Code: code, Message: message, Violations: vs}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
