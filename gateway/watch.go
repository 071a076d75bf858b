package gateway

import (
	"errors"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// watchStartedHeader is grpcapi.WatchStartedHeader, which the gateway does
// not import: the request service's header saying its watch has started.
const watchStartedHeader = "comity-watch-started"

// watch serves GET /v1/requests:watch as newline-delimited JSON, one
// {"result": …} object per status change, like grpc-gateway's own streams,
// but it answers as soon as the service has started watching: grpc-gateway
// would hold the HTTP response until the first change, so a client could
// not know when its watch began.
func (a *streams) watch(w http.ResponseWriter, r *http.Request) {
	if !a.checkQuery(w, r, http.MethodGet, watchTemplate) {
		return
	}
	ctx, err := runtime.AnnotateContext(r.Context(), a.mux, r, "/comity.request.v1.RequestService/WatchRequests")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The query parameters as grpc-gateway reads them for its own GETs
	// (the filter), so that they are read the same way as everywhere else.
	in := &requestv1.WatchRequestsRequest{}
	if err := runtime.PopulateQueryParameters(in, r.URL.Query(), utilities.NewDoubleArray(nil)); err != nil {
		a.fail(w, r, status.Errorf(codes.InvalidArgument, "%v", err))
		return
	}
	stream, err := a.client.WatchRequests(ctx, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The service sends its headers, saying it started, once the watch has
	// its starting point; a refusal ends the stream without that header.
	if md, err := stream.Header(); err != nil || len(md.Get(watchStartedHeader)) == 0 {
		if _, rerr := stream.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
			err = rerr
		}
		if err == nil {
			err = status.Error(codes.Unavailable, "the watch ended before it started")
		}
		// Not a.fail: a watch refused for the bound on open streams is a
		// 429 (too many requests), not a file too large.
		_, m := runtime.MarshalerForRequest(a.mux, r)
		runtime.HTTPError(r.Context(), a.mux, m, w, r, err)
		return
	}
	_, m := runtime.MarshalerForRequest(a.mux, r)
	out := a.timely(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if err := out.write(nil, true); err != nil {
		return
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				// The status line is out; report the end in the stream, as
				// grpc-gateway does.
				body, _ := m.Marshal(map[string]any{"error": status.Convert(err).Proto()})
				_ = out.write(append(body, '\n'), true)
			}
			return
		}
		body, err := m.Marshal(map[string]any{"result": msg})
		if err != nil {
			return
		}
		// A client that stops reading is cut after --write-progress-timeout,
		// which ends the service's stream and frees its place.
		if err := out.write(append(body, '\n'), true); err != nil {
			return
		}
	}
}
