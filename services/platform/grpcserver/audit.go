package grpcserver

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// AuditConfig makes the server put a trail.Call in every call's context
// and record, through Recorder, each refused call that the trail must hold
// (the domain records its successful calls itself, in the transaction of
// the change they make): every denied call (UNAUTHENTICATED,
// PERMISSION_DENIED, NOT_FOUND) and every failed attempt at a
// state-changing method, whatever its outcome (a validate-only call,
// AIP-163, changes nothing and is recorded only when denied).
//
// Calls refused as UNAUTHENTICATED with no principal at all (no token, a
// malformed or badly signed one, no client certificate) are not recorded one
// by one, so that an anonymous caller cannot grow the permanent log at will:
// they are counted (metric comity_unauthenticated_calls_total) and recorded
// as one aggregate event per client (IPv4 address or IPv6 /64) and minute (see
// trail.UnauthenticatedCallsAction). A token whose signature verified but whose
// claims are refused names its caller, and its calls are recorded one by
// one like any other denied call.
type AuditConfig struct {
	// Service names the producing service in events, e.g. "comity-request".
	Service  string
	Recorder trail.Recorder
	// DigestKey keys the digests of request messages in events
	// (Event.RequestHMAC). Without one, events carry no digest: never a
	// plain hash, which an auditor could brute-force.
	DigestKey trail.DigestKey
	// MaxAnonymousAddresses bounds the clients (IPv4 addresses, IPv6 /64s)
	// whose unauthenticated calls are counted apart in one minute; the
	// calls of any further client are counted together under the address
	// "other". Zero means DefaultMaxAnonymousAddresses.
	MaxAnonymousAddresses int
	// AnonymousWindow is the span of time one aggregate event of
	// unauthenticated calls covers; zero means a minute. Tests shorten it
	// to see the aggregates written.
	AnonymousWindow time.Duration
}

// A refused call's error reaches the audit interceptor as a refusedCall,
// which mapErrors, inside it, makes of the error the call ended with: the
// status the caller gets, the error itself, which may carry what the domain
// said the call concerned (trail.Refusal), and who the caller was when the
// auth interceptor knew (callerError). The audit interceptor passes on only
// the status.
type refusedCall struct {
	status error
	cause  error
	caller *identity.Principal
}

func (r *refusedCall) Error() string { return r.status.Error() }

// callerError is an error of a call whose caller the auth interceptor
// knows: the refusal is recorded with who made it, also when the caller was
// refused (a genuine token with refused claims, a service calling what it
// may not).
type callerError struct {
	err    error
	caller identity.Principal
}

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// withCaller returns err as an error of a call by p; nil for nil.
func withCaller(err error, p identity.Principal) error {
	if err == nil {
		return nil
	}
	return &callerError{err: err, caller: p}
}

// refused returns what mapErrors passes to the audit interceptor for err,
// a call's error, of which st is the status.
func refused(st, err error) error {
	rc := &refusedCall{status: st, cause: err}
	var ce *callerError
	if errors.As(err, &ce) {
		rc.caller = &ce.caller
	}
	return rc
}

// statusOnly returns the status a call ended with, as the caller sees it.
func statusOnly(err error) error {
	if rc, ok := err.(*refusedCall); ok {
		return rc.status
	}
	return err
}

// readOnly reports whether a method only reads, by the AIP method names
// Comity uses.
func readOnly(method string) bool {
	name := method[strings.LastIndexByte(method, '/')+1:]
	for _, prefix := range []string{"Get", "List", "Watch", "Download", "Resolve"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// validateOnly reports whether a request message asks only to validate
// (AIP-163's validate_only set), so that the call changes nothing.
func validateOnly(m any) bool {
	pm, ok := m.(proto.Message)
	if !ok {
		return false
	}
	msg := pm.ProtoReflect()
	f := msg.Descriptor().Fields().ByName("validate_only")
	return f != nil && f.Kind() == protoreflect.BoolKind && msg.Get(f).Bool()
}

// resourceOf returns the resource a request message names: its `name` or
// `parent`, or the `name` of the resource it carries (UpdateX's x.name).
func resourceOf(m proto.Message) string {
	msg := m.ProtoReflect()
	fields := msg.Descriptor().Fields()
	for _, n := range []protoreflect.Name{"name", "parent"} {
		if f := fields.ByName(n); f != nil && f.Kind() == protoreflect.StringKind {
			if v := msg.Get(f).String(); v != "" {
				return v
			}
		}
	}
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.Kind() != protoreflect.MessageKind || f.IsList() || f.IsMap() || !msg.Has(f) {
			continue
		}
		inner := msg.Get(f).Message()
		if nf := inner.Descriptor().Fields().ByName("name"); nf != nil && nf.Kind() == protoreflect.StringKind {
			if v := inner.Get(nf).String(); v != "" {
				return v
			}
		}
	}
	return ""
}

// digest returns the keyed digest of a request message in deterministic
// encoding, or "" without a key or a message.
func digest(key trail.DigestKey, m any) string {
	pm, ok := m.(proto.Message)
	if !ok || len(key) == 0 {
		return ""
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(pm)
	if err != nil {
		return ""
	}
	return key.Sum(data)
}

// auditCall returns ctx with the trail.Call of the call, and whether the
// call changes nothing whatever its outcome: a read method, or a
// validate-only call (AIP-163). Such a call is recorded only when denied. A
// validate-only call refused for its content (FAILED_PRECONDITION,
// ABORTED, INVALID_ARGUMENT) is not recorded: it is a question, asked by the
// console as a form is filled, and recording each answer would bury real
// attempts under non-actions.
func (ic interceptors) auditCall(ctx context.Context, method string, req any) (context.Context, bool) {
	c := trail.Call{Service: ic.audit.Service, Action: method, RequestHMAC: digest(ic.audit.DigestKey, req)}
	if pm, ok := req.(proto.Message); ok {
		c.Resource = resourceOf(pm)
	}
	return trail.WithCall(ctx, c), readOnly(method) || validateOnly(req)
}

// recordRefused writes the events of a refused call that the trail must
// hold (see AuditConfig): the domain records its successful calls itself,
// with the change they make, and says in the error it refuses a call with
// which states the call concerned (trail.Refusal); a call refused before
// the domain (authentication, preauthorization, validation) concerns the
// caller's state only. trail.RefusalEvents says what events a refusal
// leaves.
func (ic interceptors) recordRefused(ctx context.Context, readOnly bool, method string, err error) {
	if err == nil {
		return
	}
	rc, ok := err.(*refusedCall)
	if !ok {
		rc = &refusedCall{status: err, cause: err}
	}
	code := status.Code(rc.status)
	denied := code == codes.Unauthenticated || code == codes.PermissionDenied || code == codes.NotFound
	if (!denied && readOnly) || code == codes.Canceled {
		return
	}
	if code == codes.Unauthenticated && rc.caller == nil {
		ic.anonymous.add(ctx, method, anonymousReason(ctx, ic.callers != nil), time.Now())
		return
	}
	// Events name outcomes as gRPC's canonical code names (PERMISSION_DENIED).
	events := trail.RefusalEvents(ctx, time.Now(), rc.caller, rpccode.Code(code).String(), rc.cause)
	// The call may have been cut short; the event must still be written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, ev := range events {
		if rerr := ic.audit.Recorder.RecordEvent(wctx, ev); rerr != nil {
			ic.logger.Error("audit event not recorded", zap.String("trace_id", TraceID(ctx)),
				zap.String("method", method), zap.String("outcome", code.String()), zap.Error(rerr))
		}
	}
}

func (ic interceptors) auditUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if ic.audit == nil || public(info.FullMethod) {
		resp, err := h(ctx, req)
		return resp, statusOnly(err)
	}
	if slices.Contains(ic.anonymousReads, info.FullMethod) {
		// Nobody to name: counted with the client's other anonymous calls.
		ctx, _ = ic.auditCall(ctx, info.FullMethod, req)
		ic.anonymous.add(ctx, info.FullMethod, "anonymous_read", time.Now())
		resp, err := h(ctx, req)
		return resp, statusOnly(err)
	}
	ctx, readOnly := ic.auditCall(ctx, info.FullMethod, req)
	resp, err := h(ctx, req)
	ic.recordRefused(ctx, readOnly, info.FullMethod, err)
	return resp, statusOnly(err)
}

func (ic interceptors) auditStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if ic.audit == nil || public(info.FullMethod) {
		return statusOnly(h(srv, ss))
	}
	ctx, readOnly := ic.auditCall(ss.Context(), info.FullMethod, nil)
	err := h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	ic.recordRefused(ctx, readOnly, info.FullMethod, err)
	return statusOnly(err)
}
