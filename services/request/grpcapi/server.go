// Package grpcapi serves the request service's gRPC API: it checks the shape
// of each request, converts it to the domain, calls request.Service and
// converts the answer back. No rule of the workflow lives here.
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/lists"
	"github.com/comity-mla/comity/services/platform/paging"
	"github.com/comity-mla/comity/services/query/aip"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// Server implements requestv1.RequestServiceServer.
type Server struct {
	requestv1.UnimplementedRequestServiceServer
	svc *request.Service
}

var _ requestv1.RequestServiceServer = (*Server)(nil)

// NewServer returns a Server over svc.
func NewServer(svc *request.Service) *Server { return &Server{svc: svc} }

// CreateRequest implements requestv1.RequestServiceServer.
func (s *Server) CreateRequest(ctx context.Context, req *requestv1.CreateRequestRequest) (*requestv1.CreateRequestResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTimes(req.GetRequest(), "request"); err != nil {
		return nil, err
	}
	v, err := s.svc.Create(ctx, p, requestFromProto(req.GetRequest()), req.GetRequestId())
	if err != nil {
		return nil, underRequest(err)
	}
	return &requestv1.CreateRequestResponse{Request: RequestToProto(v)}, nil
}

// GetRequest implements requestv1.RequestServiceServer.
func (s *Server) GetRequest(ctx context.Context, req *requestv1.GetRequestRequest) (*requestv1.GetRequestResponse, error) {
	v, err := ofRequest(ctx, req.GetName(), "name", s.svc.Get)
	if err != nil {
		return nil, err
	}
	return &requestv1.GetRequestResponse{Request: RequestToProto(v)}, nil
}

// ListRequests implements requestv1.RequestServiceServer.
func (s *Server) ListRequests(ctx context.Context, req *requestv1.ListRequestsRequest) (*requestv1.ListRequestsResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	page, err := paging.Parse(req, 50, 500)
	if err != nil {
		return nil, err
	}
	filter, order, err := aip.ParseList(req.GetFilter(), req.GetOrderBy(), request.RequestSchema, request.OrderSchema)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, request.ListOptions{Filter: filter, OrderBy: order, Offset: page.Offset, Limit: page.Size})
	if err != nil {
		return nil, err
	}
	return &requestv1.ListRequestsResponse{
		Requests:      lists.Convert(res.Views, RequestToProto),
		NextPageToken: page.NextIf(res.More),
		TotalSize:     int32(res.Total),
	}, nil
}

// UpdateRequest implements requestv1.RequestServiceServer.
func (s *Server) UpdateRequest(ctx context.Context, req *requestv1.UpdateRequestRequest) (*requestv1.UpdateRequestResponse, error) {
	in := req.GetRequest()
	p, id, err := callerOn(ctx, in.GetName(), "request.name")
	if err != nil {
		return nil, err
	}
	if err := checkTimes(in, "request"); err != nil {
		return nil, err
	}
	apply, touched, err := updateFromProto(in, req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Update(ctx, p, id, in.GetEtag(), apply, touched)
	if err != nil {
		return nil, underRequest(err)
	}
	return &requestv1.UpdateRequestResponse{Request: RequestToProto(v)}, nil
}

// Preauthorize implements grpcserver.Preauthorizer: an update of a draft,
// or a written confirmation, checks who the caller is before the shape of what they send, so that
// someone who may not update it is refused as such (or told it does not
// exist), not for its body.
func (s *Server) Preauthorize(ctx context.Context, _ string, req any) error {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return nil
	}
	switch r := req.(type) {
	case *requestv1.UpdateRequestRequest:
		id, err := requestID(r.GetRequest().GetName(), "request.name")
		if err != nil {
			return nil
		}
		return s.svc.MayUpdate(ctx, p, id)
	case *requestv1.ConfirmInWritingRequest:
		// A confirmation carries the request's fields as an update does.
		id, err := requestID(r.GetName(), "name")
		if err != nil {
			return nil
		}
		return s.svc.MayConfirmInWriting(ctx, p, id)
	}
	return nil
}

// lifecycleRequest is what every lifecycle action's request message has.
type lifecycleRequest interface {
	GetName() string
	GetEtag() string
}

// action is a lifecycle call of request.Service with all but its common
// arguments bound.
type action func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error)

// with binds the one argument past the common ones of a lifecycle call.
func with[A any](call func(context.Context, identity.Principal, string, string, A) (request.View, error), a A) action {
	return func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return call(ctx, p, id, etag, a)
	}
}

// transition is what every lifecycle method does around its domain call:
// take the caller and the request id from the name, call do, and answer
// with the request it returns in the response's field `request`, which
// every lifecycle response has.
func transition[R any, PR interface {
	*R
	proto.Message
}](ctx context.Context, req lifecycleRequest, do action) (PR, error) {
	p, id, err := callerOn(ctx, req.GetName(), "name")
	if err != nil {
		return nil, err
	}
	v, err := do(ctx, p, id, req.GetEtag())
	if err != nil {
		return nil, err
	}
	resp := PR(new(R))
	m := resp.ProtoReflect()
	m.Set(m.Descriptor().Fields().ByName("request"), protoreflect.ValueOfMessage(RequestToProto(v).ProtoReflect()))
	return resp, nil
}

// SubmitRequest implements requestv1.RequestServiceServer.
func (s *Server) SubmitRequest(ctx context.Context, req *requestv1.SubmitRequestRequest) (*requestv1.SubmitRequestResponse, error) {
	return transition[requestv1.SubmitRequestResponse](ctx, req, with(s.svc.Submit, req.GetValidateOnly()))
}

// ReturnRequest implements requestv1.RequestServiceServer.
func (s *Server) ReturnRequest(ctx context.Context, req *requestv1.ReturnRequestRequest) (*requestv1.ReturnRequestResponse, error) {
	return transition[requestv1.ReturnRequestResponse](ctx, req, with(s.svc.Return, req.GetReason()))
}

// TransmitRequest implements requestv1.RequestServiceServer.
func (s *Server) TransmitRequest(ctx context.Context, req *requestv1.TransmitRequestRequest) (*requestv1.TransmitRequestResponse, error) {
	return transition[requestv1.TransmitRequestResponse](ctx, req, with(s.svc.Transmit, req.GetValidateOnly()))
}

// AcknowledgeRequest implements requestv1.RequestServiceServer.
func (s *Server) AcknowledgeRequest(ctx context.Context, req *requestv1.AcknowledgeRequestRequest) (*requestv1.AcknowledgeRequestResponse, error) {
	return transition[requestv1.AcknowledgeRequestResponse](ctx, req, s.svc.Acknowledge)
}

// RequestClarification implements requestv1.RequestServiceServer.
func (s *Server) RequestClarification(ctx context.Context, req *requestv1.RequestClarificationRequest) (*requestv1.RequestClarificationResponse, error) {
	return transition[requestv1.RequestClarificationResponse](ctx, req, with(s.svc.RequestClarification, req.GetQuestions()))
}

// ProvideClarification implements requestv1.RequestServiceServer.
func (s *Server) ProvideClarification(ctx context.Context, req *requestv1.ProvideClarificationRequest) (*requestv1.ProvideClarificationResponse, error) {
	return transition[requestv1.ProvideClarificationResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		atts, err := attachmentIDs(id, req.GetAttachments())
		if err != nil {
			return request.View{}, err
		}
		return s.svc.ProvideClarification(ctx, p, id, etag, req.GetAnswers(), atts)
	})
}

// AcceptRequest implements requestv1.RequestServiceServer.
func (s *Server) AcceptRequest(ctx context.Context, req *requestv1.AcceptRequestRequest) (*requestv1.AcceptRequestResponse, error) {
	a := request.Acceptance{
		DualCriminality:     enumName(req.GetDualCriminality()),
		HumanRightsConcerns: req.GetHumanRightsReview().GetConcerns(),
		HumanRightsNote:     req.GetHumanRightsReview().GetNote(),
		Conditions:          req.GetConditions(),
	}
	var err error
	if a.UseConditions, err = conditionsFromProto("use_conditions", req.GetUseConditions()); err != nil {
		return nil, err
	}
	return transition[requestv1.AcceptRequestResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		return s.svc.Accept(ctx, p, id, etag, a, req.GetHumanRightsReview() != nil)
	})
}

// RefuseRequest implements requestv1.RequestServiceServer.
func (s *Server) RefuseRequest(ctx context.Context, req *requestv1.RefuseRequestRequest) (*requestv1.RefuseRequestResponse, error) {
	f := request.Refusal{Explanation: req.GetExplanation()}
	if c := req.GetConsultation(); c != nil {
		at, err := timeField("consultation.time", c.GetTime())
		if err != nil {
			return nil, err
		}
		f.Consultation = &request.Consultation{Note: c.GetNote(), Time: at}
	}
	for _, g := range req.GetGrounds() {
		// Every ground as it came, GROUND_UNSPECIFIED included: the
		// domain refuses what is not a ground, naming it.
		f.Grounds = append(f.Grounds, g.String())
	}
	return transition[requestv1.RefuseRequestResponse](ctx, req, with(s.svc.Refuse, f))
}

// ExecuteRequest implements requestv1.RequestServiceServer.
func (s *Server) ExecuteRequest(ctx context.Context, req *requestv1.ExecuteRequestRequest) (*requestv1.ExecuteRequestResponse, error) {
	e := request.Execution{ResponseSummary: req.GetResponseSummary(), Partial: req.GetPartial()}
	return transition[requestv1.ExecuteRequestResponse](ctx, req, func(ctx context.Context, p identity.Principal, id, etag string) (request.View, error) {
		atts, err := attachmentIDs(id, req.GetAttachments())
		if err != nil {
			return request.View{}, err
		}
		if e.Items, err = executionItems(id, req.GetItems()); err != nil {
			return request.View{}, err
		}
		return s.svc.Execute(ctx, p, id, etag, e, atts)
	})
}

// ExtendPreservation implements requestv1.RequestServiceServer.
func (s *Server) ExtendPreservation(ctx context.Context, req *requestv1.ExtendPreservationRequest) (*requestv1.ExtendPreservationResponse, error) {
	return transition[requestv1.ExtendPreservationResponse](ctx, req, s.svc.ExtendPreservation)
}

// WithdrawRequest implements requestv1.RequestServiceServer.
func (s *Server) WithdrawRequest(ctx context.Context, req *requestv1.WithdrawRequestRequest) (*requestv1.WithdrawRequestResponse, error) {
	return transition[requestv1.WithdrawRequestResponse](ctx, req, with(s.svc.Withdraw, req.GetReason()))
}

// CloseRequest implements requestv1.RequestServiceServer.
func (s *Server) CloseRequest(ctx context.Context, req *requestv1.CloseRequestRequest) (*requestv1.CloseRequestResponse, error) {
	return transition[requestv1.CloseRequestResponse](ctx, req, s.svc.Close)
}

// GetRequestHistory implements requestv1.RequestServiceServer.
func (s *Server) GetRequestHistory(ctx context.Context, req *requestv1.GetRequestHistoryRequest) (*requestv1.GetRequestHistoryResponse, error) {
	h, err := ofRequest(ctx, req.GetName(), "name", s.svc.History)
	if err != nil {
		return nil, err
	}
	return &requestv1.GetRequestHistoryResponse{Changes: lists.Convert(h, StatusChangeToProto)}, nil
}

// CreateMessage implements requestv1.RequestServiceServer.
func (s *Server) CreateMessage(ctx context.Context, req *requestv1.CreateMessageRequest) (*requestv1.CreateMessageResponse, error) {
	p, id, err := callerOn(ctx, req.GetParent(), "parent")
	if err != nil {
		return nil, err
	}
	m, err := s.svc.PostMessage(ctx, p, id, messageFromProto(req.GetMessage()))
	if err != nil {
		return nil, err
	}
	return &requestv1.CreateMessageResponse{Message: MessageToProto(m)}, nil
}

// ListMessages implements requestv1.RequestServiceServer.
func (s *Server) ListMessages(ctx context.Context, req *requestv1.ListMessagesRequest) (*requestv1.ListMessagesResponse, error) {
	p, id, err := callerOn(ctx, req.GetParent(), "parent")
	if err != nil {
		return nil, err
	}
	page, err := paging.Parse(req, 100, 1000)
	if err != nil {
		return nil, err
	}
	msgs, more, err := s.svc.Messages(ctx, p, id, page.Offset, page.Size)
	if err != nil {
		return nil, err
	}
	// Next wants a total; "at least one past this page" is all Messages
	// tells, and all Next needs to issue a token.
	total := 0
	if more {
		total = page.Offset + len(msgs) + 1
	}
	return &requestv1.ListMessagesResponse{Messages: lists.Convert(msgs, MessageToProto), NextPageToken: page.Next(total)}, nil
}

// UploadAttachment implements requestv1.RequestServiceServer. The content
// is pulled from the stream as the blob store reads it, never held whole.
func (s *Server) UploadAttachment(stream grpc.ClientStreamingServer[requestv1.UploadAttachmentRequest, requestv1.UploadAttachmentResponse]) error {
	ctx := stream.Context()
	p, err := identity.Require(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return errNoMetadata()
	}
	if err != nil {
		return err
	}
	md := first.GetMetadata()
	if md == nil {
		return errNoMetadata()
	}
	id, err := requestID(md.GetParent(), "metadata.parent")
	if err != nil {
		return err
	}
	u := request.Upload{
		RequestID: id,
		Kind:      enumName(md.GetKind()),
		Filename:  md.GetFilename(),
		MediaType: md.GetMediaType(),
		Language:  md.GetLanguage(),
		SHA256:    md.GetSha256(),
		SizeBytes: md.GetSizeBytes(),
	}
	a, err := s.svc.Attach(ctx, p, u, &chunkReader{stream: stream})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&requestv1.UploadAttachmentResponse{Attachment: AttachmentToProto(a)})
}

func errNoMetadata() error {
	return (errs.Violations{{Field: "metadata", Description: "the first message must carry the metadata"}}).Err(errs.Invalid, "invalid upload")
}

// chunkReader reads the content of an upload: the chunks of the stream's
// messages after the first, received one at a time as Read needs them.
type chunkReader struct {
	stream grpc.ClientStreamingServer[requestv1.UploadAttachmentRequest, requestv1.UploadAttachmentResponse]
	buf    []byte
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		msg, err := r.stream.Recv()
		switch {
		case err != nil:
			// io.EOF at the end of the stream, as io.Reader wants.
			r.err = err
		case msg.GetMetadata() != nil:
			r.err = (errs.Violations{{Field: "metadata", Description: "only the first message may carry the metadata; later ones carry chunks"}}).Err(errs.Invalid, "invalid upload")
		default:
			r.buf = msg.GetChunk()
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// ListAttachments implements requestv1.RequestServiceServer.
func (s *Server) ListAttachments(ctx context.Context, req *requestv1.ListAttachmentsRequest) (*requestv1.ListAttachmentsResponse, error) {
	atts, err := ofRequest(ctx, req.GetParent(), "parent", s.svc.Attachments)
	if err != nil {
		return nil, err
	}
	return &requestv1.ListAttachmentsResponse{Attachments: lists.Convert(atts, AttachmentToProto)}, nil
}

// downloadChunk is the size of each content message of a download.
const downloadChunk = 256 << 10

// DownloadAttachment implements requestv1.RequestServiceServer: the
// metadata first, then the content in chunks of 256 KiB.
func (s *Server) DownloadAttachment(req *requestv1.DownloadAttachmentRequest, stream grpc.ServerStreamingServer[requestv1.DownloadAttachmentResponse]) error {
	ctx := stream.Context()
	p, err := identity.Require(ctx)
	if err != nil {
		return err
	}
	id, att, err := attachmentName(req.GetName(), "name")
	if err != nil {
		return err
	}
	a, content, err := s.svc.Download(ctx, p, id, att)
	if err != nil {
		return err
	}
	defer content.Close()
	if err := stream.Send(&requestv1.DownloadAttachmentResponse{
		Part: &requestv1.DownloadAttachmentResponse_Attachment{Attachment: AttachmentToProto(a)},
	}); err != nil {
		return err
	}
	for {
		// A new slice per message: grpc-go documents that a sent message
		// must not be modified afterwards (stats handlers may read it
		// lazily), so one buffer cannot be reused. Memory stays one chunk.
		chunk := make([]byte, downloadChunk)
		n, err := io.ReadFull(content, chunk)
		if n > 0 {
			if serr := stream.Send(&requestv1.DownloadAttachmentResponse{
				Part: &requestv1.DownloadAttachmentResponse_Chunk{Chunk: chunk[:n]},
			}); serr != nil {
				return serr
			}
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		case err != nil:
			return fmt.Errorf("attachment %s content: %w", a.ID, err)
		}
	}
}

// WatchStartedHeader is the response header a watch sends once it has its
// starting point: every later change reaches the stream. A watch refused
// (bounds, credentials) ends without it.
const WatchStartedHeader = "comity-watch-started"

// WatchRequests implements requestv1.RequestServiceServer.
func (s *Server) WatchRequests(req *requestv1.WatchRequestsRequest, stream grpc.ServerStreamingServer[requestv1.WatchRequestsResponse]) error {
	ctx := stream.Context()
	p, err := identity.Require(ctx)
	if err != nil {
		return err
	}
	// The list's filter, with the list's words for a bad one.
	filter, err := aip.ParseFilter(req.GetFilter(), request.RequestSchema)
	if err != nil {
		return err
	}
	// Headers go out once the watch has its starting point, so that a REST
	// client gets its response as soon as changes will be seen. They say so
	// (WatchStartedHeader): a refusal sends headers too (the trace id).
	started := func() error { return stream.SendHeader(metadata.Pairs(WatchStartedHeader, "true")) }
	return s.svc.Watch(ctx, p, filter, started, func(e request.HistoryEntry) error {
		resp := &requestv1.WatchRequestsResponse{
			Request:   requestPrefix + e.RequestID,
			Reference: e.Reference,
			Change:    StatusChangeToProto(e),
		}
		if r := e.Snapshot; r != nil {
			// As a list shows a request: metadata, overdue as at the
			// change; clarifications only when the service left them in.
			resp.Snapshot = RequestToProto(request.View{Request: *r, Overdue: request.Overdue(*r, e.Time), MetadataOnly: true})
		}
		return stream.Send(resp)
	})
}

// GetStatistics implements requestv1.RequestServiceServer.
func (s *Server) GetStatistics(ctx context.Context, req *requestv1.GetStatisticsRequest) (*requestv1.GetStatisticsResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	var vs errs.Violations
	check := func(field string, ts *timestamppb.Timestamp) {
		if err := ts.CheckValid(); ts != nil && err != nil {
			vs.Add(field, "not a valid timestamp: %v", err)
		}
	}
	check("period_start", req.GetPeriodStart())
	check("period_end", req.GetPeriodEnd())
	if err := vs.Err(errs.Invalid, "invalid statistics query"); err != nil {
		return nil, err
	}
	stats, err := s.svc.Statistics(ctx, p, request.StatisticsQuery{
		Start:           timeOf(req.GetPeriodStart()),
		End:             timeOf(req.GetPeriodEnd()),
		RequestingState: req.GetRequestingState(),
		RequestedState:  req.GetRequestedState(),
	})
	if err != nil {
		return nil, err
	}
	return &requestv1.GetStatisticsResponse{
		PeriodStart: timestamppb.New(stats.Start),
		PeriodEnd:   timestamppb.New(stats.End),
		Pairs:       lists.Convert(stats.Pairs, PairStatisticsToProto),
	}, nil
}

// callerOn returns the caller and the id of the request that name, the
// input field field, names.
func callerOn(ctx context.Context, name, field string) (identity.Principal, string, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return identity.Principal{}, "", err
	}
	id, err := requestID(name, field)
	if err != nil {
		return identity.Principal{}, "", err
	}
	return p, id, nil
}

// ofRequest answers a read of what the caller may see of the request that
// name, the input field field, names: get's answer.
func ofRequest[V any](ctx context.Context, name, field string, get func(context.Context, identity.Principal, string) (V, error)) (V, error) {
	p, id, err := callerOn(ctx, name, field)
	if err != nil {
		var zero V
		return zero, err
	}
	return get(ctx, p, id)
}

// requestID returns the id of a request name, requests/{id}; field names
// the input field in the error.
func requestID(name, field string) (string, error) {
	id, ok := strings.CutPrefix(name, requestPrefix)
	if !ok || !validID(id) {
		return "", (errs.Violations{{Field: field, Description: "must be a request name, requests/{id}"}}).Err(errs.Invalid, "invalid request name")
	}
	return id, nil
}

// attachmentName returns the request and attachment ids of an attachment
// name, requests/{id}/attachments/{attachment}.
func attachmentName(name, field string) (requestID, attachmentID string, _ error) {
	rest, ok := strings.CutPrefix(name, requestPrefix)
	if ok {
		requestID, attachmentID, ok = strings.Cut(rest, attachmentsInfix)
	}
	if !ok || !validID(requestID) || !validID(attachmentID) {
		return "", "", (errs.Violations{{Field: field, Description: "must be an attachment name, requests/{id}/attachments/{attachment}"}}).Err(errs.Invalid, "invalid attachment name")
	}
	return requestID, attachmentID, nil
}

// attachmentIDs returns the attachment ids of names, each of which must be
// an attachment of request id.
func attachmentIDs(id string, names []string) ([]string, error) {
	var vs errs.Violations
	var out []string
	for i, name := range names {
		field := fmt.Sprintf("attachments[%d]", i)
		rid, att, err := attachmentName(name, field)
		switch {
		case err != nil:
			vs.Add(field, "must be an attachment name, requests/{id}/attachments/{attachment}")
		case rid != id:
			vs.Add(field, "%s is an attachment of another request", name)
		default:
			out = append(out, att)
		}
	}
	if err := vs.Err(errs.Invalid, "invalid attachments"); err != nil {
		return nil, err
	}
	return out, nil
}

// validID reports whether id can be the last segment of a resource name:
// 1 to 64 letters, digits and hyphens, as the API's name patterns say.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// requestWritable are the fields of Request an update can change, in proto
// order, as the field_behavior annotations say (aip.WritableFields): they
// are also the paths of an absent or "*" update_mask.
var requestWritable = aip.WritableFields((&requestv1.Request{}).ProtoReflect().Descriptor())

// underRequest maps the domain's paths of err's violations to those of a
// create or update call, which carries the request in its field `request`:
// a path that starts with a writable field of the request (the domain
// names them as the message does) goes under it; the others (request_id,
// rules such as status) name something of the call. What err says of the
// call's trail (a trail.Refusal) stays with it.
func underRequest(err error) error {
	var e *errs.Error
	if !errors.As(err, &e) || len(e.Violations) == 0 {
		return err
	}
	out := *e
	out.Violations = slices.Clone(e.Violations)
	for i, v := range out.Violations {
		top, _, _ := strings.Cut(v.Field, ".")
		top, _, _ = strings.Cut(top, "[")
		if slices.Contains(requestWritable, top) {
			out.Violations[i].Field = "request." + v.Field
		}
	}
	if r, ok := trail.RefusalOf(err); ok {
		return trail.Concerning(&out, r.Resource, r.States...)
	}
	return &out
}

// updateFromProto reads an update: apply copies to a draft exactly the
// fields the mask names, from in (fieldmask.Update on the draft's API form);
// touched lists the top-level fields changed, for the Service. Output-only
// and identifier fields are ignored, in the mask as in the body
// (aip.UpdatePaths).
func updateFromProto(in *requestv1.Request, mask *fieldmaskpb.FieldMask) (apply func(*request.Request), touched []string, _ error) {
	paths, err := aip.UpdatePaths(mask, in, "a request")
	if err != nil {
		return nil, nil, err
	}
	for _, path := range paths {
		top, _, _ := strings.Cut(path, ".")
		if !slices.Contains(touched, top) {
			touched = append(touched, top)
		}
	}
	// The source is a copy: fieldmask.Update allocates the nested messages
	// a path goes through in the source as well as in the destination.
	src := proto.Clone(in).(*requestv1.Request)
	apply = func(r *request.Request) {
		if len(paths) == 0 {
			// Only ignored fields: nothing changes. (An empty mask
			// means "every field set in src" to fieldmask.Update.)
			return
		}
		draft := RequestToProto(request.View{Request: *r})
		fieldmask.Update(&fieldmaskpb.FieldMask{Paths: paths}, draft, src)
		next := requestFromProto(draft)
		next.KeepServerFields(*r)
		*r = next
	}
	return apply, touched, nil
}
