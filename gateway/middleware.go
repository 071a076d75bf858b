package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/comity-mla/comity/services/platform/traceid"
	"github.com/comity-mla/comity/services/trail"
)

// withTrace gives every HTTP request a trace id: the caller's X-Trace-Id
// when well-formed, else a new one. It reaches the services as metadata and
// comes back in the X-Trace-Id response header, so that a user can quote it.
func withTrace(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(traceid.Header)
		if !traceid.Valid(id) {
			id = traceid.New()
			r.Header.Set(traceid.Header, id)
		}
		w.Header().Set(traceid.Header, id)
		h.ServeHTTP(w, r)
	})
}

// logRequests writes one line per HTTP request with its trace id, so that a
// user quoting the X-Trace-Id of an answer leads to the gateway's line and
// the services' lines of the same call: debug for answers below 400, info
// for refusals, warn for failures.
func logRequests(logger *zap.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		level := zapcore.DebugLevel
		switch {
		case sw.status >= 500:
			level = zapcore.WarnLevel
		case sw.status >= 400:
			level = zapcore.InfoLevel
		}
		if ce := logger.Check(level, "http request"); ce != nil {
			ce.Write(
				zap.String("trace_id", r.Header.Get(traceid.Header)),
				zap.String("http_method", r.Method),
				zap.String("path", r.URL.Path),
				zap.Int("status", sw.status),
				zap.Duration("duration", time.Since(start)),
			)
		}
	})
}

// statusWriter remembers the status written; it keeps http.Flusher, which
// the streaming routes need, and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// utf8URL refuses a URL whose path or query parameters are not UTF-8 text
// (once %-decoded). They become string fields of gRPC messages, which must be
// UTF-8: the call would otherwise fail to marshal, as an internal error.
func utf8URL(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(field, what string) {
			writeStatus(w, r, http.StatusBadRequest, status.Convert(badRequest(what+" is not valid UTF-8 text",
				[]*errdetails.BadRequest_FieldViolation{{Field: field, Description: "is not valid UTF-8 text"}})))
		}
		if !utf8.ValidString(r.URL.Path) {
			refuse("path", "the URL path")
			return
		}
		// A query that does not parse is left to the handlers to refuse.
		q, _ := url.ParseQuery(r.URL.RawQuery)
		for k, vs := range q {
			if !utf8.ValidString(k) {
				// The name itself cannot be a field name (details are UTF-8).
				refuse(strings.ToValidUTF8(k, "\uFFFD"), fmt.Sprintf("query parameter name %q", k))
				return
			}
			for _, v := range vs {
				if !utf8.ValidString(v) {
					refuse(k, fmt.Sprintf("query parameter %q", k))
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// limitBody refuses a request body over limit bytes with 413 before reading
// more than limit+1 bytes of it. JSON bodies are small, so the accepted body
// is buffered and handed on whole.
func limitBody(limit int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		tooLarge := func() {
			writeStatus(w, r, http.StatusRequestEntityTooLarge,
				status.New(codes.ResourceExhausted, fmt.Sprintf("request body is larger than the limit of %d bytes", limit)))
		}
		if r.ContentLength > limit {
			tooLarge()
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeStatus(w, r, http.StatusBadRequest, status.Convert(badRequest("could not read the request body",
				[]*errdetails.BadRequest_FieldViolation{{Field: "body", Description: "could not be read whole"}})))
			return
		}
		if int64(len(body)) > limit {
			tooLarge()
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		// Kept for the error handler, to say where a body that does not
		// decode goes wrong.
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, body)))
	})
}

// writeStatus writes st as the JSON error body the gateway uses for every
// error (google.rpc.Status), with the given HTTP status.
func writeStatus(w http.ResponseWriter, _ *http.Request, httpStatus int, st *status.Status) {
	body, err := protojson.Marshal(st.Proto())
	if err != nil {
		body = []byte(`{"code":13,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(v)
}

// errorHandler is grpc-gateway's default error handler (google.rpc.Status as
// JSON, HTTP status from the gRPC code), logging calls that a backend could
// not answer.
func errorHandler(logger *zap.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		c := status.Code(err)
		if hs := (*runtime.HTTPStatusError)(nil); errors.As(err, &hs) {
			c = status.Code(hs.Err)
		}
		if c == codes.Unavailable || c == codes.Internal || c == codes.Unknown {
			logger.Warn("backend call failed", zap.String("trace_id", r.Header.Get(traceid.Header)),
				zap.String("path", r.URL.Path), zap.Error(err))
		}
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, explainBody(ctx, err))
	}
}

// explainBody replaces the decoder's refusal of a request body (which
// grpc-gateway turns into a status of its text alone) with one that says
// where the body goes wrong and names the field in details.
func explainBody(ctx context.Context, err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), bodyDecodeError) || len(st.Details()) > 0 {
		return err
	}
	rt := routeOf(ctx)
	body, _ := ctx.Value(bodyKey{}).([]byte)
	if rt == nil {
		return err
	}
	if better := bodyError(rt, body); better != nil {
		return better
	}
	field := rt.body
	if field == "*" || field == "" {
		field = "body"
	}
	return badRequest("invalid request body", []*errdetails.BadRequest_FieldViolation{{Field: field,
		Description: strings.TrimPrefix(strings.TrimPrefix(st.Message(), bodyDecodeError), ": ")}})
}

// routingError answers a URL that matches no route, or not with this method,
// with the router's HTTP status (404, 405 or 400). grpc-gateway's default
// answers 405 with 501 and anything else with 500: a 5xx for a caller's
// mistake. A custom method the resource does not have, or has for another
// HTTP method, is said so, with the methods it has.
func (t *routeTable) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusNotFound || httpStatus == http.StatusMethodNotAllowed {
		if err := t.verbError(w, r, httpStatus); err != nil {
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
			return
		}
	}
	code := codes.NotFound
	switch httpStatus {
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	case http.StatusMethodNotAllowed:
		code = codes.Unimplemented
	default:
		httpStatus = http.StatusNotFound
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r,
		&runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: status.Error(code, http.StatusText(httpStatus))})
}

// backends checks the services' health for /readyz.
type backends struct {
	conns map[string]*grpc.ClientConn
	log   *zap.Logger

	mu sync.Mutex
	// behind are the backends whose audit delivery was last seen behind,
	// so that a change is logged once, not at every probe.
	behind map[string]bool
}

// Values of /readyz's auditDelivery.
const (
	deliveryOK     = "delivering"
	deliveryBehind = "behind: the oldest undelivered audit event is older than the alarm bound"
)

// readyz answers 200 when every backend serves, 503 otherwise. Its body
// also says, under auditDelivery, whether each backend that produces audit
// events delivers them in time (trail.DeliveryHealthService). A delivery
// behind is reported, and logged, but leaves the status 200: /readyz means
// "can serve", and a service whose audit events wait still serves (DESIGN
// §6); taking it out of rotation would stop the suite for an audit outage.
func (b *backends) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	result := map[string]string{}
	delivery := map[string]string{}
	ready := true
	for name, conn := range b.conns {
		hc := healthpb.NewHealthClient(conn)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		switch {
		case err != nil:
			result[name] = "unreachable: " + status.Code(err).String()
			ready = false
			continue
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			result[name] = resp.GetStatus().String()
			ready = false
		default:
			result[name] = "SERVING"
		}
		// NOT_FOUND: the backend produces no audit events (the audit
		// service) or has not read its outbox yet.
		resp, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: trail.DeliveryHealthService})
		if err != nil {
			continue
		}
		behind := resp.GetStatus() != healthpb.HealthCheckResponse_SERVING
		delivery[name] = deliveryOK
		if behind {
			delivery[name] = deliveryBehind
		}
		b.noteDelivery(name, behind)
	}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	body := map[string]any{"ready": ready, "backends": result}
	if len(delivery) > 0 {
		body["auditDelivery"] = delivery
	}
	writeJSON(w, code, body)
}

// noteDelivery logs a change of a backend's audit delivery.
func (b *backends) noteDelivery(name string, behind bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.behind == nil {
		b.behind = map[string]bool{}
	}
	was, seen := b.behind[name]
	b.behind[name] = behind
	switch {
	case behind && !was:
		b.log.Warn("audit delivery behind: the backend's oldest undelivered audit event is older than its --audit-backlog-alarm; it keeps serving",
			zap.String("backend", name))
	case !behind && was && seen:
		b.log.Info("audit delivery caught up", zap.String("backend", name))
	}
}
