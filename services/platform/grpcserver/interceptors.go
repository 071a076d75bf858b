package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/platform/traceid"
	"github.com/comity-mla/comity/services/trail"
)

type traceKey struct{}

// TraceID returns the trace id of the call ctx belongs to, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

type interceptors struct {
	logger    *zap.Logger
	auth      Authenticator
	validator protovalidate.Validator
	audit     *AuditConfig
	// anonymous counts the unauthenticated calls; set with audit.
	anonymous *anonymous
	// callers, when the server runs on mTLS, says which peer identities
	// may call which methods; nil when it serves plaintext.
	callers mtls.Policy
	// anonymousReads may be called without a token (Config.AnonymousReads).
	anonymousReads []string
}

// withTrace adopts the caller's trace id when it is well-formed (the gateway
// sends one) and mints one otherwise, and echoes it in the response header.
func withTrace(ctx context.Context) context.Context {
	id := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(traceid.Header); len(v) > 0 && traceid.Valid(v[0]) {
			id = v[0]
		}
	}
	if id == "" {
		id = traceid.New()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(traceid.Header, id))
	return context.WithValue(ctx, traceKey{}, id)
}

func (ic interceptors) traceUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(withTrace(ctx), req)
}

func (ic interceptors) traceStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &ctxStream{ServerStream: ss, ctx: withTrace(ss.Context())})
}

func (ic interceptors) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	fields := []zap.Field{
		zap.String("trace_id", TraceID(ctx)),
		zap.String("method", method),
		zap.String("code", code.String()),
		zap.Duration("duration", time.Since(start)),
	}
	if p, ok := identity.FromContext(ctx); ok {
		fields = append(fields, zap.String("subject", p.Subject), zap.String("agency", p.Agency))
	}
	level := zapcore.DebugLevel
	switch code {
	case codes.OK, codes.Canceled:
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = zapcore.ErrorLevel
	default:
		level = zapcore.InfoLevel
		fields = append(fields, zap.String("error", status.Convert(err).Message()))
	}
	if ce := ic.logger.Check(level, "call"); ce != nil {
		ce.Write(fields...)
	}
}

func (ic interceptors) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	ic.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (ic interceptors) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	ic.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

func (ic interceptors) mapErrorsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		return nil, mapError(ctx, ic.logger, info.FullMethod, err)
	}
	return resp, nil
}

// mapError maps err, the error a call ended with, to the status the
// caller gets (ToStatus), and keeps err for the audit interceptor, which
// strips it (refusedCall).
func mapError(ctx context.Context, logger *zap.Logger, method string, err error) error {
	return refused(ToStatus(ctx, logger, method, err).Err(), err)
}

func (ic interceptors) mapErrorsStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := h(srv, ss); err != nil {
		return mapError(ss.Context(), ic.logger, info.FullMethod, err)
	}
	return nil
}

// panicError carries a recovered panic to the error mapper, which logs it
// with the stack as an internal error.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// recovered turns a panic into an error for the error mapper, which logs it
// with the stack as an internal error; the caller sees only the trace id.
func recovered(p any) error { return &panicError{value: p, stack: debug.Stack()} }

// public reports whether a method may be called without a token: health
// checks and reflection describe the server, not any case.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

func (ic interceptors) authenticate(ctx context.Context, method string) (context.Context, error) {
	if ic.callers != nil {
		// The calling service first: a user's token does not let a
		// service call what it has no business with.
		if peer, err := ic.callers.Check(ctx, method); err != nil {
			if errors.Is(err, mtls.ErrNoIdentity) {
				return nil, errs.New(errs.Unauthenticated, "%s", err)
			}
			// The refusal is audited with the calling service as actor.
			return nil, withCaller(errs.New(errs.PermissionDenied, "%s", err), identity.Principal{Subject: peer, Service: peer})
		}
	}
	if public(method) || slices.Contains(ic.anonymousReads, method) {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	header := ""
	if v := md.Get("authorization"); len(v) > 0 {
		header = v[0]
	}
	raw, err := identity.BearerToken(header)
	if err != nil {
		return nil, err
	}
	p, err := ic.auth.Verify(ctx, raw)
	var refusal *identity.RefusedError
	if errors.As(err, &refusal) {
		// A genuine token whose claims are refused: the refusal is audited
		// with who the token claimed to be. The claimed principal never
		// reaches a handler.
		return nil, withCaller(err, refusal.Claimed)
	}
	if err != nil {
		return nil, err
	}
	return identity.NewContext(ctx, p), nil
}

// ofCaller returns err, a handler's error, as an error of the caller ctx
// was authenticated as, if any.
func ofCaller(ctx context.Context, err error) error {
	if p, ok := identity.FromContext(ctx); ok {
		return withCaller(err, p)
	}
	return err
}

func (ic interceptors) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := ic.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	return resp, ofCaller(ctx, err)
}

func (ic interceptors) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := ic.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return ofCaller(ctx, h(srv, &ctxStream{ServerStream: ss, ctx: ctx}))
}

func (ic interceptors) validate(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil
	}
	var vs errs.Violations
	nulIn(m.ProtoReflect(), "", &vs)
	err := ic.validator.Validate(m)
	var verr *protovalidate.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, v := range verr.Violations {
			vs.Add(protovalidate.FieldPathString(v.Proto.GetField()), "%s", describe(v))
		}
	case err != nil:
		return fmt.Errorf("validate %T: %w", msg, err)
	}
	return vs.Err(errs.Invalid, "invalid request")
}

// nulIn adds to vs every text of m, nested ones included, that holds the
// NUL character, by its field path (request.persons[0].name). The rule is
// every service's, for every call: no store keeps such a text (a
// PostgreSQL document or text column refuses it), and no text a person
// writes needs one.
func nulIn(m protoreflect.Message, path string, vs *errs.Violations) {
	join := func(name protoreflect.Name) string {
		if path == "" {
			return string(name)
		}
		return path + "." + string(name)
	}
	text := func(p string, v protoreflect.Value) {
		if strings.ContainsRune(v.String(), 0) {
			vs.Add(p, "must not contain the NUL character (U+0000)")
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := join(fd.Name())
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				ep := fmt.Sprintf("%s[%q]", p, k.String())
				text(ep, protoreflect.ValueOfString(k.String()))
				switch fd.MapValue().Kind() {
				case protoreflect.StringKind:
					text(ep, mv)
				case protoreflect.MessageKind, protoreflect.GroupKind:
					nulIn(mv.Message(), ep, vs)
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				ep := fmt.Sprintf("%s[%d]", p, i)
				switch fd.Kind() {
				case protoreflect.StringKind:
					text(ep, l.Get(i))
				case protoreflect.MessageKind, protoreflect.GroupKind:
					nulIn(l.Get(i).Message(), ep, vs)
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			text(p, v)
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			nulIn(v.Message(), p, vs)
		}
		return true
	})
}

// Preauthorizer is implemented by a service that checks who may make some
// of its calls before their input is looked at: the validation below asks
// it first, so that a caller who may not make the call is told so
// (PERMISSION_DENIED, or NOT_FOUND for what they may not see), never what
// is wrong with input they may not send. Preauthorize returns nil for the
// methods it does not check, and for what the handler reports itself (a
// resource that does not exist).
type Preauthorizer interface {
	Preauthorize(ctx context.Context, fullMethod string, req any) error
}

func (ic interceptors) validateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if pa, ok := info.Server.(Preauthorizer); ok {
		if err := pa.Preauthorize(ctx, info.FullMethod, req); err != nil {
			return nil, err
		}
	}
	ctx, err := withPurpose(ctx)
	if err != nil {
		return nil, err
	}
	if err := ic.validate(req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (ic interceptors) validateStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := withPurpose(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, &validatingStream{ServerStream: &ctxStream{ServerStream: ss, ctx: ctx}, ic: ic})
}

// withPurpose returns ctx carrying the purpose the caller declared in the
// x-comity-purpose metadata (the gateway's X-Comity-Purpose header), which
// the domain puts on the events of its reads of content (DESIGN §10). It is
// checked on every call, read or not, so that a misspelt purpose is refused
// wherever a client sends it rather than logged as undeclared; no purpose
// is fine. Several values, which no client means to send, are refused too.
func withPurpose(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(trail.PurposeHeader)
	switch len(values) {
	case 0:
		return ctx, nil
	case 1:
	default:
		var vs errs.Violations
		vs.Add("X-Comity-Purpose", "is given %d times: declare one purpose, one of %s", len(values), strings.Join(trail.Purposes, ", "))
		return nil, vs.Err(errs.Invalid, "the X-Comity-Purpose header is given more than once: declare one purpose")
	}
	p, err := trail.ParsePurpose(values[0])
	if err != nil {
		return nil, err
	}
	return trail.WithPurpose(ctx, p), nil
}

// ctxStream replaces a stream's context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// validatingStream validates every message the client sends.
type validatingStream struct {
	grpc.ServerStream
	ic interceptors
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.ic.validate(m)
}
