// Package trail is the contract of Comity's audit trail that every
// producing service and the platform share: the Event a call leaves, who
// made it (Actor), how a service records one (Recorder) and the outbox an
// event waits in until the audit service has it in its log. It imports no
// service: the audit service (package audit) consumes what this package
// describes.
//
// Producing services write each Event in the same database transaction as
// the change it records (an outbox); a relay delivers the outbox to the audit
// service. Events carry no case content: no narratives, identifiers or files.
package trail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	// LegacyRequestSHA256 is the plain hex SHA-256 of the request message
	// that events logged before the keyed digest carry (JSON
	// request_sha256). It is kept as the leaf holds it, so that such a
	// leaf decodes to what it says and encodes back to the same bytes; no
	// event is built with it, the API does not carry it, and it is not to
	// be read as keyed: for a short identifier it can be brute-forced.
	LegacyRequestSHA256 string `json:"request_sha256,omitempty"`
	// RequestHMAC is the hex HMAC-SHA256 of the call's request message in
	// deterministic protobuf encoding, keyed with the producing services'
	// per-deployment digest key: it proves "this exact call" to whoever
	// holds the key. A plain hash would not do: the messages are short and
	// predictable, and an auditor could brute-force the identifiers in them.
	RequestHMAC string `json:"request_hmac,omitempty"`
	// Count is the number of calls an aggregate event stands for (the
	// unauthenticated calls of one client address in one minute); zero for
	// the event of one call.
	Count uint64 `json:"count,omitempty"`
	// Purpose is the purpose the reader declared, on the event of a read
	// of a request's content (one of Purposes), or PurposeUndeclared when
	// they declared none; empty on every other event. It is last and left
	// out when empty, so that the leaves logged before it existed decode
	// and encode back to the very bytes logged.
	Purpose string `json:"purpose,omitempty"`
	// Safeguards are the outcomes of the safeguards and assessments a
	// :submit, :transmit, :accept or :refuse call checked (DESIGN §6.1),
	// without content: which checks ran and what they found, so that a
	// bundle alone proves that an accepted request passed them. Empty on
	// every other event; last and left out when empty, like Purpose.
	Safeguards []Safeguard `json:"safeguards,omitempty"`
}

// Safeguard is the outcome of one safeguard or assessment: Check is its
// upper-case name (DEATH_PENALTY_ASSURANCE), Outcome an upper-case word
// (PASSED, FAILED, NOT_APPLICABLE, or an assessment's value such as MET).
type Safeguard struct {
	Check   string `json:"check"`
	Outcome string `json:"outcome"`
}

// MaxSafeguards is the most outcomes an event carries.
const MaxSafeguards = 64

// Actor is the caller of an audited call.
type Actor struct {
	Subject string   `json:"subject,omitempty"`
	Agency  string   `json:"agency,omitempty"`
	Roles   []string `json:"roles,omitempty"`
	Issuer  string   `json:"issuer,omitempty"`
	// Address is the network address of a caller known by nothing else:
	// set on the aggregate events of unauthenticated calls only.
	Address string `json:"address,omitempty"`
}

// UnauthenticatedCallsAction is the action of the aggregate events that
// stand for a minute of unauthenticated calls from one client (an IPv4
// address, or an IPv6 /64: connlimit.ClientKey): the event's Count says how
// many, its Actor.Address from where, its Resource names one of the
// resources asked for (the first), and its Time is the start of the minute.
const UnauthenticatedCallsAction = "/comity.audit.v1/UnauthenticatedCalls"

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
// the keyed digest of its request message and the resource it names. The
// gRPC server puts it in the context; NewEvent copies it into events.
type Call struct {
	Service     string
	Action      string
	Resource    string
	RequestHMAC string
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call ctx belongs to.
func CallFrom(ctx context.Context) (Call, bool) {
	c, ok := ctx.Value(callKey{}).(Call)
	return c, ok
}

// Details are what the recording code adds to the call's event.
type Details struct {
	// Resource, when not empty, replaces the resource the call names
	// (e.g. the attachment read rather than the request it is under).
	Resource string
	// States are the states involved, whose auditors see the event.
	States     []string
	Transition *Transition
	// Count is the number of calls an aggregate event stands for.
	Count uint64
	// Purpose is the declared purpose of a read of content (ReadPurpose);
	// empty for any other event.
	Purpose string
	// Safeguards are the outcomes of the checks the call made (Event.Safeguards).
	Safeguards []Safeguard
}

// NewEvent returns the event of the call of ctx, with a new id and time.
// It is the one place events are made, and it bounds every field to what
// AuditService.Append accepts (see Bounded): whatever a caller sends, the
// event can be logged, so that no call can stop delivery.
func NewEvent(ctx context.Context, now time.Time, actor Actor, outcome string, d Details) Event {
	c, _ := CallFrom(ctx)
	e := Event{
		ID: NewID(), Time: now.UTC().Truncate(time.Microsecond), Actor: actor, Service: c.Service, Action: c.Action,
		Resource: c.Resource, States: d.States, Outcome: outcome, Transition: d.Transition,
		RequestHMAC: c.RequestHMAC, Count: d.Count, Purpose: d.Purpose, Safeguards: d.Safeguards,
	}
	if d.Resource != "" {
		e.Resource = d.Resource
	}
	return Bounded(e)
}

// Recorder writes an event on its own, outside any change: a denied call, a
// failed attempt, or a read of full content. Stores implement it with their
// outbox.
type Recorder interface {
	RecordEvent(ctx context.Context, e Event) error
}

// The bounds of an event's fields, as AuditService.Append checks them
// (proto/comity/audit/v1/audit.proto); lengths are in characters.
const (
	maxService  = 100
	maxAction   = 300
	maxResource = 300
	maxSubject  = 300
	maxAgency   = 100
	maxIssuer   = 300
	maxAddress  = 100
	maxRole     = 100
	maxRoles    = 10
	maxStates   = 10
	maxOutcome  = 40
	maxStatus   = 40
)

var (
	stateCode = regexp.MustCompile(`^[A-Z]{2}$`)
	// checkName and checkOutcome are the forms of a Safeguard's fields.
	checkName    = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	checkOutcome = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,39}$`)
	purpose      = regexp.MustCompile(`^[a-z-]{1,40}$`)
	hexDigest    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Bounded returns e with every field within what AuditService.Append
// accepts. A text that is too long, not valid UTF-8 or holds control or
// bidirectional formatting characters is replaced by its cleaned beginning
// and a mark carrying a digest of the whole (see Cut), so that it stays
// useful to an auditor and tells different names apart; roles are
// de-duplicated and at most 10; states keep only well-formed ISO codes,
// sorted, without repeats; a request digest that is not one is dropped; a
// purpose that is not a category's form is "undeclared"; safeguards keep
// only the well-formed ones (ValidSafeguard), at most 64; an
// empty service, action or outcome (which no server makes) is "unknown".
// Bounded of a bounded event is the event itself.
func Bounded(e Event) Event {
	e.Service = required(Cut(e.Service, maxService))
	e.Action = required(Cut(e.Action, maxAction))
	e.Resource = Cut(e.Resource, maxResource)
	e.Outcome = required(Cut(e.Outcome, maxOutcome))
	e.Actor.Subject = Cut(e.Actor.Subject, maxSubject)
	e.Actor.Agency = Cut(e.Actor.Agency, maxAgency)
	e.Actor.Issuer = Cut(e.Actor.Issuer, maxIssuer)
	e.Actor.Address = Cut(e.Actor.Address, maxAddress)
	if e.Actor.Roles != nil {
		roles := make([]string, 0, min(len(e.Actor.Roles), maxRoles))
		for _, r := range e.Actor.Roles {
			if r = Cut(r, maxRole); r != "" && !slices.Contains(roles, r) && len(roles) < maxRoles {
				roles = append(roles, r)
			}
		}
		e.Actor.Roles = roles
	}
	if e.States != nil {
		states := make([]string, 0, len(e.States))
		for _, s := range e.States {
			if stateCode.MatchString(s) {
				states = append(states, s)
			}
		}
		slices.Sort(states)
		states = slices.Compact(states)
		e.States = states[:min(len(states), maxStates)]
	}
	if e.Transition != nil {
		e.Transition = &Transition{From: Cut(e.Transition.From, maxStatus), To: Cut(e.Transition.To, maxStatus)}
	}
	if !hexDigest.MatchString(e.RequestHMAC) {
		e.RequestHMAC = ""
	}
	if e.Purpose != "" && !purpose.MatchString(e.Purpose) {
		// Only ParsePurpose's categories reach an event; anything else is
		// a fault of the producer, logged as no declaration at all.
		e.Purpose = PurposeUndeclared
	}
	if e.Safeguards != nil {
		// Only the producers' fixed names reach an event (their tests
		// check them): one that is not a name is a fault, left out
		// rather than refused with the whole event.
		sg := make([]Safeguard, 0, min(len(e.Safeguards), MaxSafeguards))
		for _, g := range e.Safeguards {
			if ValidSafeguard(g) && len(sg) < MaxSafeguards {
				sg = append(sg, g)
			}
		}
		e.Safeguards = sg
		if len(sg) == 0 {
			e.Safeguards = nil
		}
	}
	return e
}

// ValidSafeguard reports whether g's check and outcome have the forms
// AuditService.Append accepts: upper-case names of at most 64 and 40
// characters.
func ValidSafeguard(g Safeguard) bool {
	return checkName.MatchString(g.Check) && checkOutcome.MatchString(g.Outcome)
}

// Cut returns s if it is valid UTF-8, at most limit characters and free of
// control and bidirectional formatting characters. Otherwise it returns the
// beginning of s, with every invalid byte and such character replaced by
// U+FFFD, followed by "…[cut sha256:<32 hex digits>]": the first half of the
// SHA-256 of s as given, which tells different names apart without holding
// them. The result is at most limit characters, and Cut leaves it as it is.
func Cut(s string, limit int) string {
	if clean(s) && utf8.RuneCountInString(s) <= limit {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	mark := "…[cut sha256:" + hex.EncodeToString(sum[:16]) + "]"
	keep := limit - utf8.RuneCountInString(mark)
	if keep < 0 {
		// Too small a bound for the mark: as much of the digest as fits.
		return hex.EncodeToString(sum[:])[:min(limit, 2*sha256.Size)]
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		if n == keep {
			break
		}
		if forbidden(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		n++
	}
	return b.String() + mark
}

// required returns s, or "unknown" for a field Append requires.
func required(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if forbidden(r) {
			return false
		}
	}
	return true
}

// forbidden reports whether r has no place in an event's text: control
// characters, and the bidirectional formatting ones that make a name show
// as another (U+202E turns "fdp.exe" into "exe.pdf").
func forbidden(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
