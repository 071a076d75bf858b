package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/trail"
)

// Data subjects' requests (DESIGN §10): a central authority records that
// a person asked for access to, correction or erasure of their data, and
// what was decided and whether the person was informed. The pages ask what
// the service's messages take and show its answers; who may record and
// see them is the service's decision.

// subjectsPageSize is how many data subjects' requests the list shows.
const subjectsPageSize = 100

var subjectIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func (c *Console) subjectRoutes(h func(http.HandlerFunc) http.Handler, routes map[string]http.Handler) {
	routes["GET /subjects"] = h(c.subjectsPage)
	routes["GET /subjects/new"] = h(c.newSubjectForm)
	routes["POST /subjects/new"] = h(c.createSubject)
	routes["GET /subjects/{id}"] = h(c.subjectPage)
	routes["POST /subjects/{id}/decide"] = h(c.decideSubject)
	routes["POST /subjects/{id}/inform"] = h(c.informSubject)
}

// subjectCall is a central authority's visit to the data subjects' pages.
type subjectCall struct {
	pg  page
	ctx context.Context
}

// startSubjectCall returns the user's call, or answers the request itself:
// sign-in, or a refusal for who is no central authority (the navigation
// does not link here for them either).
func (c *Console) startSubjectCall(w http.ResponseWriter, r *http.Request) (subjectCall, bool) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return subjectCall{}, false
	}
	pg := c.page(w, r, s)
	if !slices.Contains(s.Roles, "central_authority") {
		c.renderError(w, r, pg, http.StatusForbidden, pg.T("subjects.only_central_authority"))
		return subjectCall{}, false
	}
	// Every read these pages make answers a person's request about their
	// data: that is what they are for.
	ctx := withReadPurpose(outgoing(r.Context(), r, s), trail.PurposeDataSubjectRequest)
	return subjectCall{pg: pg, ctx: ctx}, true
}

// subjectRow is a data subject's request as the list shows it.
type subjectRow struct {
	Href, Person, Right, Received, Decision, DecisionCode string
	Requests                                              int
	Overdue                                               bool
}

// subjectsPage lists the data subjects' requests of the user's state,
// overdue ones first.
func (c *Console) subjectsPage(w http.ResponseWriter, r *http.Request) {
	call, ok := c.startSubjectCall(w, r)
	if !ok {
		return
	}
	pg := call.pg
	resp, err := c.be.Requests.ListDataSubjectRequests(call.ctx, &requestv1.ListDataSubjectRequestsRequest{PageSize: subjectsPageSize})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	var rows []subjectRow
	for _, d := range resp.GetDataSubjectRequests() {
		rows = append(rows, subjectRowOf(pg, d))
	}
	// Overdue first, each part as the service ordered it (newest first).
	slices.SortStableFunc(rows, func(a, b subjectRow) int {
		switch {
		case a.Overdue == b.Overdue:
			return 0
		case a.Overdue:
			return -1
		}
		return 1
	})
	pg.Title = pg.T("subjects.title")
	c.render(w, r, http.StatusOK, SubjectsPage(pg, rows, resp.GetNextPageToken() != ""))
}

func subjectRowOf(pg page, d *requestv1.DataSubjectRequest) subjectRow {
	id := strings.TrimPrefix(d.GetName(), "dataSubjectRequests/")
	row := subjectRow{Href: "/subjects/" + url.PathEscape(id), Person: d.GetPerson().GetFullName(),
		Right: pg.T("subject.right." + d.GetRight().String()), Requests: len(d.GetRequests()), Overdue: d.GetOverdue(),
		Decision: pg.T("subjects.undecided"), DecisionCode: "undecided"}
	if t := d.GetReceiveTime(); t != nil {
		row.Received = t.AsTime().UTC().Format(timeLayout) + " UTC"
	}
	if dec := d.GetDecision(); dec != nil && dec.GetDecision() != 0 {
		row.Decision, row.DecisionCode = pg.T("subject.decision."+dec.GetDecision().String()), strings.ToLower(dec.GetDecision().String())
	}
	return row
}

// subjectForm is a form of these pages: the user's input and the
// service's complaints, as the action forms hold them.
func subjectForm(in url.Values, fe *formErrors) authorityActionView {
	return authorityActionView{In: in, Errors: fe}
}

// subjectCreateFields are the recording form's fields as the service names
// them (without the message's data_subject_request.).
var subjectCreateFields = []string{"person.full_name", "person.date_of_birth", "person.contact", "person", "right", "requests",
	"receive_time", "description"}

// newSubjectView is what the recording form shows.
type newSubjectView struct {
	Form   authorityActionView
	Rights []option
}

func (c *Console) newSubjectForm(w http.ResponseWriter, r *http.Request) {
	call, ok := c.startSubjectCall(w, r)
	if !ok {
		return
	}
	c.showNewSubject(w, r, call.pg, http.StatusOK, url.Values{}, nil)
}

func (c *Console) showNewSubject(w http.ResponseWriter, r *http.Request, pg page, code int, in url.Values, fe *formErrors) {
	pg.Title = pg.T("subjects.new.title")
	c.render(w, r, code, NewSubjectPage(pg, newSubjectView{Form: subjectForm(in, fe),
		Rights: enumOptions(pg, "subject.right.", requestv1.DataSubjectRequest_Right_name)}))
}

// createSubject records a data subject's request: POST /subjects/new.
func (c *Console) createSubject(w http.ResponseWriter, r *http.Request) {
	call, ok := c.startSubjectCall(w, r)
	if !ok {
		return
	}
	pg := call.pg
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("authority.bad_form"))
		return
	}
	in := r.PostForm
	name, err := c.recordSubject(call.ctx, in)
	if err == nil {
		http.Redirect(w, r, "/subjects/"+url.PathEscape(strings.TrimPrefix(name, "dataSubjectRequests/"))+"?done=record", http.StatusSeeOther)
		return
	}
	fe, shown := formErrorRenumbered(pg, err, func(f string) string { return strings.TrimPrefix(f, "data_subject_request.") },
		subjectCreateFields...)
	if !shown {
		c.serviceError(w, r, pg, err)
		return
	}
	c.showNewSubject(w, r, pg, http.StatusBadRequest, in, fe)
}

// recordSubject sends the recording form to the service, the requests it
// names by reference or id resolved to their names.
func (c *Console) recordSubject(ctx context.Context, in url.Values) (string, error) {
	received, err := formOptionalTimestamp("receive_time", in.Get("receive_time"))
	if err != nil {
		return "", err
	}
	var names []string
	for i, ref := range subjectRequestRefs(in.Get("requests")) {
		n, err := c.requestNamed(ctx, ref)
		if err != nil {
			return "", err
		}
		if n == "" {
			return "", formRefusal(fmt.Sprintf("requests[%d]", i), "FORM_REQUEST",
				fmt.Sprintf("no request you may see has the reference or id %q", ref))
		}
		names = append(names, n)
	}
	resp, err := c.be.Requests.CreateDataSubjectRequest(ctx, &requestv1.CreateDataSubjectRequestRequest{
		DataSubjectRequest: &requestv1.DataSubjectRequest{
			Person: &requestv1.DataSubject{FullName: strings.TrimSpace(in.Get("person.full_name")),
				DateOfBirth: strings.TrimSpace(in.Get("person.date_of_birth")), Contact: in.Get("person.contact")},
			Right:       requestv1.DataSubjectRequest_Right(requestv1.DataSubjectRequest_Right_value[in.Get("right")]),
			Requests:    names,
			ReceiveTime: received,
			Description: in.Get("description"),
		},
	})
	return resp.GetDataSubjectRequest().GetName(), err
}

// subjectRequestRefs are the requests the form names, one a line or
// separated by commas.
func subjectRequestRefs(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' }) {
		if f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "requests/")); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// requestNamed is the name of the request with the reference or id, ""
// when the user may see none. A reference is looked up among the requests
// the user may list (metadata only: no content is read to find it).
func (c *Console) requestNamed(ctx context.Context, ref string) (string, error) {
	if !requestIDPattern.MatchString(ref) {
		return "", nil
	}
	if !referenceLike.MatchString(ref) {
		return "requests/" + ref, nil
	}
	resp, err := c.be.Requests.ListRequests(ctx, &requestv1.ListRequestsRequest{PageSize: 1,
		Filter: `reference = "` + strings.ToUpper(ref) + `"`})
	if err != nil {
		return "", err
	}
	if len(resp.GetRequests()) == 0 {
		return "", nil
	}
	return resp.GetRequests()[0].GetName(), nil
}

// referenceLike is a request's reference (KZ-2026-000042), as the service
// knows it.
var referenceLike = regexp.MustCompile(`^[A-Za-z]{2}-[0-9]{4}-[0-9]{6,}$`)

// subjectView is what a data subject's request's page shows.
type subjectView struct {
	ID, Etag string
	Row      subjectRow
	Fields   []field
	Requests []relatedView
	// Decisions are every decision, oldest first.
	Decisions [][]field
	Informing []field
	Done      string
	// Decide and Inform are the two forms.
	Decide, Inform              authorityActionView
	DecisionKinds, InformStates []option
}

func (c *Console) subjectPage(w http.ResponseWriter, r *http.Request) {
	call, ok := c.startSubjectCall(w, r)
	if !ok {
		return
	}
	done := ""
	if d := r.URL.Query().Get("done"); d == "record" || d == "decide" || d == "inform" {
		done = call.pg.T("subjects." + d + ".done")
	}
	c.showSubject(w, r, call, http.StatusOK, done, url.Values{}, nil, url.Values{}, nil)
}

// showSubject renders the data subject's request as it is now, with the
// forms' input and complaints.
func (c *Console) showSubject(w http.ResponseWriter, r *http.Request, call subjectCall, code int, done string,
	decideIn url.Values, decideErr *formErrors, informIn url.Values, informErr *formErrors) {
	pg := call.pg
	id := r.PathValue("id")
	if !subjectIDPattern.MatchString(id) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
		return
	}
	resp, err := c.be.Requests.GetDataSubjectRequest(call.ctx, &requestv1.GetDataSubjectRequestRequest{Name: "dataSubjectRequests/" + id})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	d := resp.GetDataSubjectRequest()
	z, err := c.zones(call.ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	at := func(m moment) string {
		if !m.Set {
			return ""
		}
		parts := []string{m.UTC}
		for _, zt := range m.Zones {
			parts = append(parts, zt.Time+" "+zt.Zone)
		}
		return strings.Join(parts, " · ")
	}
	st := d.GetState()
	v := subjectView{ID: id, Etag: d.GetEtag(), Row: subjectRowOf(pg, d), Done: done,
		Decide: subjectForm(decideIn, decideErr), Inform: subjectForm(informIn, informErr),
		DecisionKinds: enumOptions(pg, "subject.decision.", requestv1.DataSubjectDecision_Decision_name),
		InformStates:  enumOptions(pg, "subject.informing.", requestv1.DataSubjectInforming_Status_name)}
	for _, f := range []field{
		{"subjects.person", d.GetPerson().GetFullName()},
		{"subjects.date_of_birth", d.GetPerson().GetDateOfBirth()},
		{"subjects.contact", d.GetPerson().GetContact()},
		{"subjects.right", pg.T("subject.right." + d.GetRight().String())},
		{"subjects.received", at(z.at(d.GetReceiveTime(), st))},
		{"subjects.description", d.GetDescription()},
		{"subjects.recorded_by", actorText(d.GetRecordedBy())},
		{"subjects.create_time", at(z.at(d.GetCreateTime(), st))},
	} {
		if f.Value != "" {
			v.Fields = append(v.Fields, field{Label: pg.T(f.Label), Value: f.Value})
		}
	}
	for _, n := range d.GetRequests() {
		rid := strings.TrimPrefix(n, "requests/")
		v.Requests = append(v.Requests, relatedView{Href: "/requests/" + url.PathEscape(rid), ID: rid})
	}
	for _, dec := range d.GetDecisions() {
		var fs []field
		for _, f := range []field{
			{"subjects.decision", pg.T("subject.decision." + dec.GetDecision().String())},
			{"subjects.reasons", dec.GetReasons()},
			{"subjects.review_time", at(z.at(dec.GetReviewTime(), st))},
			{"subjects.decided_by", actorText(dec.GetDecidedBy())},
			{"subjects.decide_time", at(z.at(dec.GetDecideTime(), st))},
		} {
			if f.Value != "" {
				fs = append(fs, field{Label: pg.T(f.Label), Value: f.Value})
			}
		}
		v.Decisions = append(v.Decisions, fs)
	}
	if inf := d.GetInforming(); inf != nil && inf.GetStatus() != 0 {
		for _, f := range []field{
			{"subjects.informing", pg.T("subject.informing." + inf.GetStatus().String())},
			{"subjects.reasons", inf.GetReasons()},
			{"subjects.review_time", at(z.at(inf.GetReviewTime(), st))},
			{"subjects.recorded_by", actorText(inf.GetRecordedBy())},
			{"subjects.record_time", at(z.at(inf.GetRecordTime(), st))},
		} {
			if f.Value != "" {
				v.Informing = append(v.Informing, field{Label: pg.T(f.Label), Value: f.Value})
			}
		}
	}
	pg.Title = pg.T("subjects.detail.title", map[string]any{"Person": v.Row.Person})
	c.render(w, r, code, SubjectPage(pg, v))
}

// subjectPost reads a form of the data subject's request's page and sends
// it with send; refused, the page comes back with the input kept and the
// complaints next to their fields.
func (c *Console) subjectPost(w http.ResponseWriter, r *http.Request, done string, fields []string,
	send func(ctx context.Context, name string, in url.Values) error) {
	call, ok := c.startSubjectCall(w, r)
	if !ok {
		return
	}
	pg := call.pg
	id := r.PathValue("id")
	if !subjectIDPattern.MatchString(id) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
		return
	}
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, pg, http.StatusBadRequest, pg.T("authority.bad_form"))
		return
	}
	in := r.PostForm
	err := send(call.ctx, "dataSubjectRequests/"+id, in)
	if err == nil {
		http.Redirect(w, r, "/subjects/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
		return
	}
	fe, shown := formError(pg, err, fields...)
	if !shown {
		c.serviceError(w, r, pg, err)
		return
	}
	code := http.StatusBadRequest
	if status.Code(err) == codes.Aborted {
		code = http.StatusConflict
	}
	if done == "decide" {
		c.showSubject(w, r, call, code, "", in, fe, url.Values{}, nil)
	} else {
		c.showSubject(w, r, call, code, "", url.Values{}, nil, in, fe)
	}
}

// decideSubject records a decision: POST /subjects/{id}/decide.
func (c *Console) decideSubject(w http.ResponseWriter, r *http.Request) {
	c.subjectPost(w, r, "decide", []string{"decision.decision", "decision.reasons", "decision.review_time", "decision"},
		func(ctx context.Context, name string, in url.Values) error {
			review, err := formOptionalTimestamp("decision.review_time", in.Get("decision.review_time"))
			if err != nil {
				return err
			}
			_, err = c.be.Requests.DecideDataSubjectRequest(ctx, &requestv1.DecideDataSubjectRequestRequest{Name: name, Etag: in.Get("etag"),
				Decision: &requestv1.DataSubjectDecision{
					Decision:   requestv1.DataSubjectDecision_Decision(requestv1.DataSubjectDecision_Decision_value[in.Get("decision.decision")]),
					Reasons:    in.Get("decision.reasons"),
					ReviewTime: review,
				}})
			return err
		})
}

// informSubject records whether the person was informed: POST
// /subjects/{id}/inform.
func (c *Console) informSubject(w http.ResponseWriter, r *http.Request) {
	c.subjectPost(w, r, "inform", []string{"informing.status", "informing.reasons", "informing.review_time", "informing"},
		func(ctx context.Context, name string, in url.Values) error {
			review, err := formOptionalTimestamp("informing.review_time", in.Get("informing.review_time"))
			if err != nil {
				return err
			}
			_, err = c.be.Requests.RecordDataSubjectInforming(ctx, &requestv1.RecordDataSubjectInformingRequest{Name: name, Etag: in.Get("etag"),
				Informing: &requestv1.DataSubjectInforming{
					Status:     requestv1.DataSubjectInforming_Status(requestv1.DataSubjectInforming_Status_value[in.Get("informing.status")]),
					Reasons:    in.Get("informing.reasons"),
					ReviewTime: review,
				}})
			return err
		})
}
