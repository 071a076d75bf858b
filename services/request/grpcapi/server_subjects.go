package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/lists"
	"github.com/comity-mla/comity/services/platform/paging"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// The handlers of data subjects' requests (DESIGN §10).

const subjectPrefix = "dataSubjectRequests/"

// DataSubjectRequestToProto converts a data subject's request, as read, to
// its API form: toMessage for the fields named alike, and by hand the
// resource names, the last decision and what is computed at the read.
func DataSubjectRequestToProto(v request.DataSubjectView) *requestv1.DataSubjectRequest {
	d := v.DataSubjectRequest
	out := &requestv1.DataSubjectRequest{}
	toMessage(reflect.ValueOf(d), out.ProtoReflect(), "agency", "requests")
	out.Name = subjectPrefix + d.ID
	out.Agency = agencyName(d.Agency)
	for _, id := range d.Requests {
		out.Requests = append(out.Requests, requestPrefix+id)
	}
	if n := len(out.Decisions); n > 0 {
		out.Decision = out.Decisions[n-1]
	}
	out.Overdue, out.Etag = v.Overdue, d.Etag()
	return out
}

// dataSubjectRequestFromProto converts what a caller records of a data
// subject's request: the person, the right, when it was received, the
// description and the requests concerned (names in the API, ids in the
// domain). The rest is the service's to set.
func dataSubjectRequestFromProto(in *requestv1.DataSubjectRequest) (request.DataSubjectRequest, error) {
	var out request.DataSubjectRequest
	var vs errs.Violations
	if err := in.GetReceiveTime().CheckValid(); in.GetReceiveTime() != nil && err != nil {
		vs.Add("data_subject_request.receive_time", "not a valid timestamp: %v", err)
	}
	for i, name := range in.GetRequests() {
		id, ok := strings.CutPrefix(name, requestPrefix)
		if !ok || !validID(id) {
			vs.Add(fmt.Sprintf("data_subject_request.requests[%d]", i), "must be a request name, requests/{id}")
			continue
		}
		out.Requests = append(out.Requests, id)
	}
	if err := vs.Err(errs.Invalid, "invalid data subject's request"); err != nil {
		return request.DataSubjectRequest{}, err
	}
	fromMessage(in.ProtoReflect(), reflect.ValueOf(&out).Elem(), []string{"person", "right", "receive_time", "description"})
	return out, nil
}

// underSubject maps the domain's paths of err's violations to those of the
// create call, which carries the record in data_subject_request: every
// field the domain names is one of the record's. What err says of the
// call's trail (a trail.Refusal) stays with it.
func underSubject(err error) error {
	var e *errs.Error
	if !errors.As(err, &e) || len(e.Violations) == 0 {
		return err
	}
	out := *e
	out.Violations = slices.Clone(e.Violations)
	for i := range out.Violations {
		out.Violations[i].Field = "data_subject_request." + out.Violations[i].Field
	}
	if r, ok := trail.RefusalOf(err); ok {
		return trail.Concerning(&out, r.Resource, r.States...)
	}
	return &out
}

// CreateDataSubjectRequest implements requestv1.RequestServiceServer.
func (s *Server) CreateDataSubjectRequest(ctx context.Context, req *requestv1.CreateDataSubjectRequestRequest) (*requestv1.CreateDataSubjectRequestResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	in, err := dataSubjectRequestFromProto(req.GetDataSubjectRequest())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.CreateDataSubjectRequest(ctx, p, in)
	if err != nil {
		return nil, underSubject(err)
	}
	return &requestv1.CreateDataSubjectRequestResponse{DataSubjectRequest: DataSubjectRequestToProto(v)}, nil
}

// GetDataSubjectRequest implements requestv1.RequestServiceServer.
func (s *Server) GetDataSubjectRequest(ctx context.Context, req *requestv1.GetDataSubjectRequestRequest) (*requestv1.GetDataSubjectRequestResponse, error) {
	p, id, err := callerOnSubject(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.GetDataSubjectRequest(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return &requestv1.GetDataSubjectRequestResponse{DataSubjectRequest: DataSubjectRequestToProto(v)}, nil
}

// ListDataSubjectRequests implements requestv1.RequestServiceServer.
func (s *Server) ListDataSubjectRequests(ctx context.Context, req *requestv1.ListDataSubjectRequestsRequest) (*requestv1.ListDataSubjectRequestsResponse, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	page, err := paging.Parse(req, 50, 1000)
	if err != nil {
		return nil, err
	}
	list, more, err := s.svc.ListDataSubjectRequests(ctx, p, page.Offset, page.Size)
	if err != nil {
		return nil, err
	}
	return &requestv1.ListDataSubjectRequestsResponse{
		DataSubjectRequests: lists.Convert(list, DataSubjectRequestToProto),
		NextPageToken:       page.NextIf(more),
	}, nil
}

// DecideDataSubjectRequest implements requestv1.RequestServiceServer.
func (s *Server) DecideDataSubjectRequest(ctx context.Context, req *requestv1.DecideDataSubjectRequestRequest) (*requestv1.DecideDataSubjectRequestResponse, error) {
	p, id, err := callerOnSubject(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	review, err := timeField("decision.review_time", req.GetDecision().GetReviewTime())
	if err != nil {
		return nil, err
	}
	dec := request.DataSubjectDecision{Decision: enumName(req.GetDecision().GetDecision()), Reasons: req.GetDecision().GetReasons(), ReviewTime: review}
	v, err := s.svc.DecideDataSubjectRequest(ctx, p, id, req.GetEtag(), dec)
	if err != nil {
		return nil, err
	}
	return &requestv1.DecideDataSubjectRequestResponse{DataSubjectRequest: DataSubjectRequestToProto(v)}, nil
}

// RecordDataSubjectInforming implements requestv1.RequestServiceServer.
func (s *Server) RecordDataSubjectInforming(ctx context.Context, req *requestv1.RecordDataSubjectInformingRequest) (*requestv1.RecordDataSubjectInformingResponse, error) {
	p, id, err := callerOnSubject(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	review, err := timeField("informing.review_time", req.GetInforming().GetReviewTime())
	if err != nil {
		return nil, err
	}
	in := request.DataSubjectInforming{Status: enumName(req.GetInforming().GetStatus()), Reasons: req.GetInforming().GetReasons(), ReviewTime: review}
	v, err := s.svc.RecordDataSubjectInforming(ctx, p, id, req.GetEtag(), in)
	if err != nil {
		return nil, err
	}
	return &requestv1.RecordDataSubjectInformingResponse{DataSubjectRequest: DataSubjectRequestToProto(v)}, nil
}

// callerOnSubject returns the caller and the id of the data subject's
// request name names.
func callerOnSubject(ctx context.Context, name string) (identity.Principal, string, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return identity.Principal{}, "", err
	}
	id, ok := strings.CutPrefix(name, subjectPrefix)
	if !ok || !validID(id) {
		return identity.Principal{}, "", (errs.Violations{{Field: "name", Description: "must be a data subject's request name, dataSubjectRequests/{id}"}}).
			Err(errs.Invalid, "invalid name")
	}
	return p, id, nil
}
