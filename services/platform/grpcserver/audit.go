package grpcserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/identity"
)

// AuditConfig makes the server put an audit.Call in every call's context
// and record, through Recorder, each call that the domain code did not
// record itself but that the trail must hold: every denied call
// (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND) and every attempt at a
// state-changing method, whatever its outcome.
type AuditConfig struct {
	// Service names the producing service in events, e.g. "comity-request".
	Service  string
	Recorder audit.Recorder
}

// callState lets the auth interceptor, which runs inside the audit one,
// tell it who the caller turned out to be.
type callState struct{ principal *identity.Principal }

type callStateKey struct{}

func setCallPrincipal(ctx context.Context, p identity.Principal) {
	if st, ok := ctx.Value(callStateKey{}).(*callState); ok {
		st.principal = &p
	}
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

func digest(m any) string {
	pm, ok := m.(proto.Message)
	if !ok {
		return ""
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(pm)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (ic interceptors) auditCall(ctx context.Context, method string, req any) (context.Context, *callState) {
	c := audit.Call{Service: ic.audit.Service, Action: method, RequestSHA256: digest(req)}
	if pm, ok := req.(proto.Message); ok {
		c.Resource = resourceOf(pm)
	}
	st := &callState{}
	return context.WithValue(audit.WithCall(ctx, c), callStateKey{}, st), st
}

// recordUnrecorded writes the event of a call the domain did not record.
func (ic interceptors) recordUnrecorded(ctx context.Context, st *callState, method string, err error) {
	code := status.Code(err)
	denied := code == codes.Unauthenticated || code == codes.PermissionDenied || code == codes.NotFound
	if audit.Recorded(ctx) || (!denied && readOnly(method)) || code == codes.Canceled {
		return
	}
	var actor audit.Actor
	if st.principal != nil {
		p := st.principal
		roles := make([]string, len(p.Roles))
		for i, r := range p.Roles {
			roles[i] = string(r)
		}
		actor = audit.Actor{Subject: p.Subject, Agency: p.Agency, Roles: roles, Issuer: p.Issuer}
	}
	// Events name outcomes as gRPC's canonical code names (PERMISSION_DENIED).
	ev := audit.NewEvent(ctx, time.Now(), actor, rpccode.Code(code).String())
	states := audit.NotedStates(ctx)
	if st.principal != nil && st.principal.State != "" {
		states = append(states, st.principal.State)
	}
	slices.Sort(states)
	ev.States = slices.Compact(states)
	// The call may have been cut short; the event must still be written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := ic.audit.Recorder.RecordEvent(wctx, ev); rerr != nil {
		ic.logger.Error("audit event not recorded", zap.String("trace_id", TraceID(ctx)),
			zap.String("method", method), zap.String("outcome", code.String()), zap.Error(rerr))
	}
}

func (ic interceptors) auditUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if ic.audit == nil || public(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, st := ic.auditCall(ctx, info.FullMethod, req)
	resp, err := h(ctx, req)
	ic.recordUnrecorded(ctx, st, info.FullMethod, err)
	return resp, err
}

func (ic interceptors) auditStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if ic.audit == nil || public(info.FullMethod) {
		return h(srv, ss)
	}
	ctx, st := ic.auditCall(ss.Context(), info.FullMethod, nil)
	err := h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	ic.recordUnrecorded(ctx, st, info.FullMethod, err)
	return err
}
