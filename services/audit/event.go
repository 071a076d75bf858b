// Package audit is Comity's audit trail: the events every service records,
// and (in its subpackages) the transparency log that keeps them.
//
// Producing services write each Event in the same database transaction as
// the change it records (an outbox); a relay delivers the outbox to the audit
// service. Events carry no case content: no narratives, identifiers or files.
package audit

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Event is one entry of the audit trail (DESIGN §6).
type Event struct {
	// ID is a UUIDv7, unique per event; delivery is idempotent by it.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Actor is who made the call; empty Subject for an unauthenticated call.
	Actor Actor `json:"actor"`
	// Service is the producing service, e.g. "comity-request".
	Service string `json:"service"`
	// Action is the full gRPC method, e.g.
	// "/comity.request.v1.RequestService/SubmitRequest".
	Action string `json:"action"`
	// Resource is the resource name acted on, e.g. "requests/…".
	Resource string `json:"resource,omitempty"`
	// States are the ISO codes of the states involved, sorted.
	States []string `json:"states,omitempty"`
	// Outcome is the gRPC code name of the result, e.g. "OK",
	// "PERMISSION_DENIED".
	Outcome string `json:"outcome"`
	// Transition is the status change, when there is one.
	Transition *Transition `json:"transition,omitempty"`
	// RequestSHA256 is the hex SHA-256 of the call's request message in
	// deterministic protobuf encoding: proof of what was asked without
	// holding it.
	RequestSHA256 string `json:"request_sha256,omitempty"`
}

// Actor is the caller of an audited call.
type Actor struct {
	Subject string   `json:"subject,omitempty"`
	Agency  string   `json:"agency,omitempty"`
	Roles   []string `json:"roles,omitempty"`
	Issuer  string   `json:"issuer,omitempty"`
}

// Transition is a status change.
type Transition struct {
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

// NewID returns a new event id (UUIDv7: time-ordered).
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source does.
		panic(err)
	}
	return id.String()
}

// Call is what the transport knows about the call being served: the method,
// the digest of its request message and the resource it names. The gRPC
// server puts it in the context; domain code copies it into events.
type Call struct {
	Service       string
	Action        string
	Resource      string
	RequestSHA256 string

	// recorded is set once an event of this call is written, so that the
	// server does not record the call a second time.
	recorded *bool
	// states collects the states the domain found involved (NoteStates), so
	// that a denied call is on the trail of the states it concerned.
	states *[]string
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c Call) context.Context {
	c.recorded = new(bool)
	c.states = new([]string)
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call ctx belongs to.
func CallFrom(ctx context.Context) (Call, bool) {
	c, ok := ctx.Value(callKey{}).(Call)
	return c, ok
}

// MarkRecorded notes that an event for the call of ctx has been written.
func MarkRecorded(ctx context.Context) {
	if c, ok := CallFrom(ctx); ok {
		*c.recorded = true
	}
}

// Recorded reports whether an event for the call of ctx has been written.
func Recorded(ctx context.Context) bool {
	c, ok := CallFrom(ctx)
	return ok && *c.recorded
}

// NoteStates records that the call of ctx concerns states (e.g. the parties
// of the request it names), whatever its outcome: when the call is denied,
// the server's event of it carries them, so that those states' auditors see
// the attempt.
func NoteStates(ctx context.Context, states ...string) {
	if c, ok := CallFrom(ctx); ok {
		*c.states = append(*c.states, states...)
	}
}

// NotedStates returns the states noted for the call of ctx.
func NotedStates(ctx context.Context) []string {
	if c, ok := CallFrom(ctx); ok {
		return *c.states
	}
	return nil
}

// NewEvent returns an event for the call of ctx, with a new id and time.
func NewEvent(ctx context.Context, now time.Time, actor Actor, outcome string) Event {
	c, _ := CallFrom(ctx)
	return Event{
		ID: NewID(), Time: now.UTC().Truncate(time.Microsecond), Actor: actor, Service: c.Service, Action: c.Action,
		Resource: c.Resource, Outcome: outcome, RequestSHA256: c.RequestSHA256,
	}
}

// Recorder writes an event on its own, outside any change: a denied call, a
// failed attempt, or a read of full content. Stores implement it with their
// outbox.
type Recorder interface {
	RecordEvent(ctx context.Context, e Event) error
}
