package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// The central authority's work: its queues (/authority) and one page per
// action it takes on a request. Each action page asks exactly what the
// action's request message takes, calls the service with the etag the page
// was rendered with, and shows the service's answer: the console decides
// nothing about who may act or whether the request is fit to go.

// authorityRoles are the roles that take the central authority's actions.
var authorityRoles = []string{"central_authority"}

// authorityAction is one of the central authority's actions: what the
// request's page links to, what its form asks and how it calls the service.
type authorityAction struct {
	requestAction
	// Fields are the form's fields as the service names them in its
	// complaints, most specific first (formError places a complaint on the
	// first that contains it).
	Fields []string
	// Deadlines are the message ids of the request's deadlines that matter
	// for the action (see deadlines).
	Deadlines []string
	// Perform calls the service with the user's input. It returns the id
	// of the request the user goes to next, "" for this one (a follow-up
	// draft is a request of its own).
	Perform func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error)
	// Renumber, when set, turns a field path of the service's complaint
	// into the form's (the form sends only its filled rows, so the
	// service's items[0] may be the form's third row).
	Renumber func(in url.Values, field string) string
}

// authorityActions are the central authority's actions, in the order the
// request's page lists them.
var authorityActions = []authorityAction{
	{
		requestAction: requestAction{ID: "transmit", Label: "action.transmit.link", Side: requestingSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_SUBMITTED}},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.TransmitRequest(ctx, &requestv1.TransmitRequestRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "return", Label: "action.return.link", Side: requestingSide, Danger: true,
			Statuses: []requestv1.Request_Status{requestv1.Request_SUBMITTED}},
		Fields: []string{"reason"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.ReturnRequest(ctx, &requestv1.ReturnRequestRequest{Name: name, Etag: etag, Reason: in.Get("reason")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "acknowledge", Label: "action.acknowledge.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_TRANSMITTED}},
		Deadlines: []string{"deadline.acknowledge_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.AcknowledgeRequest(ctx, &requestv1.AcknowledgeRequestRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "accept", Label: "action.accept.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED}},
		Fields:    []string{"dual_criminality", "human_rights_review.note", "human_rights_review", "use_conditions", "conditions"},
		Deadlines: []string{"deadline.answer_by"},
		Renumber:  renumberRows("use_conditions", "use_conditions", useConditionFilled),
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			uses, err := useConditions(in)
			if err != nil {
				return "", err
			}
			req := &requestv1.AcceptRequestRequest{
				Name: name, Etag: etag, Conditions: in.Get("conditions"), UseConditions: uses,
				DualCriminality: requestv1.Acceptance_DualCriminality(requestv1.Acceptance_DualCriminality_value[in.Get("dual_criminality")]),
			}
			// No answer to "concerns?" is no review at all, which the
			// service refuses; an answer is a review, with its note.
			switch in.Get("concerns") {
			case "yes", "no":
				req.HumanRightsReview = &requestv1.HumanRightsReview{Concerns: in.Get("concerns") == "yes", Note: in.Get("note")}
			}
			_, err = rs.AcceptRequest(ctx, req)
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "clarify", Label: "action.clarify.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED}},
		Fields:    []string{"questions"},
		Deadlines: []string{"deadline.answer_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.RequestClarification(ctx, &requestv1.RequestClarificationRequest{Name: name, Etag: etag, Questions: in.Get("questions")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "refuse", Label: "action.refuse.link", Side: requestedSide, Danger: true,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED}},
		Fields:    []string{"grounds", "explanation", "consultation.note", "consultation.time", "consultation"},
		Deadlines: []string{"deadline.answer_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			req := &requestv1.RefuseRequestRequest{Name: name, Etag: etag, Explanation: in.Get("explanation")}
			// The consultation before refusing (Budapest 27(6)): sent when
			// the user wrote of it, for the service to say whether this
			// refusal needs one.
			when, err := formTimestamp("consultation.time", in.Get("consultation.time"))
			if err != nil {
				return "", err
			}
			if note := in.Get("consultation.note"); note != "" || when != nil {
				req.Consultation = &requestv1.Consultation{Note: note, Time: when}
			}
			for _, g := range in["grounds"] {
				// An unknown ground is sent as unset, for the service to
				// refuse next to the field.
				req.Grounds = append(req.Grounds, requestv1.Refusal_Ground(requestv1.Refusal_Ground_value[g]))
			}
			_, err = rs.RefuseRequest(ctx, req)
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "execute", Label: "action.execute.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACCEPTED, requestv1.Request_PARTIALLY_EXECUTED}},
		Fields:    []string{"response_summary", "partial", "attachments", "items"},
		Deadlines: []string{"deadline.answer_by"},
		Renumber:  renumberRows("items", "items", itemFilled),
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			items, err := executeItems(in)
			if err != nil {
				return "", err
			}
			_, err = rs.ExecuteRequest(ctx, &requestv1.ExecuteRequestRequest{
				Name: name, Etag: etag, ResponseSummary: in.Get("response_summary"),
				Partial: in.Get("partial") == "true", Attachments: in["attachments"], Items: items,
			})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "extend", Label: "action.extend.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_EXECUTED},
			Types:    []directoryv1.RequestType{directoryv1.RequestType_DATA_PRESERVATION}},
		Fields:    []string{"deadlines.preservation_expires_at"},
		Deadlines: []string{"deadline.preservation_expires_at"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.ExtendPreservation(ctx, &requestv1.ExtendPreservationRequest{Name: name, Etag: etag})
			return "", err
		},
	},
}

func init() {
	// The actions of issue 14 (practice.go) use the same pages; those of
	// the requesting side name their roles.
	authorityActions = append(authorityActions, practiceActions...)
	// And those of DESIGN §10 (dataprotection.go).
	authorityActions = append(authorityActions, dataProtectionActions...)
	for i := range authorityActions {
		a := &authorityActions[i]
		if a.Roles == nil {
			a.Roles = authorityRoles
		}
		registerActions(a.requestAction)
	}
}

// authorityRoutes are the central authority's pages, for Routes.
func (c *Console) authorityRoutes(h func(http.HandlerFunc) http.Handler) map[string]http.Handler {
	m := map[string]http.Handler{"GET /authority": h(c.authorityQueues)}
	for _, a := range authorityActions {
		m["GET /requests/{id}/"+a.ID] = h(c.authorityForm(a))
		m["POST /requests/{id}/"+a.ID] = h(c.authorityPost(a))
	}
	return m
}

// authorityQueue is one of the central authority's work queues.
type authorityQueue struct {
	ID, Title, Hint string
	Rows            []requestRow
	// More says that the queue has requests beyond those shown.
	More bool
}

// authorityQueues shows the central authority's queues, overdue requests
// first in each. The filters only sort what the service shows the user into
// queues: which requests those are is the service's decision.
func (c *Console) authorityQueues(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	if !slices.ContainsFunc(authorityRoles, func(role string) bool { return slices.Contains(s.Roles, role) }) {
		// Like the navigation, which does not link here: the queues are
		// a central authority's work, and another user would find in them
		// only a misleading part of what the services show them.
		c.renderError(w, r, pg, http.StatusForbidden, pg.T("authority.only_central_authority"))
		return
	}
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	var queues []authorityQueue
	for _, q := range authorityQueueSpecs(s) {
		out, err := c.loadAuthorityQueue(ctx, pg, z, q)
		if err != nil {
			c.serviceError(w, r, pg, err)
			return
		}
		queues = append(queues, out)
	}
	pg.Title = pg.T("authority.title")
	c.render(w, r, http.StatusOK, AuthorityPage(pg, queues))
}

// loadAuthorityQueue asks the service for the queue's requests: its
// overdue ones first, then the others, each part oldest change first.
func (c *Console) loadAuthorityQueue(ctx context.Context, pg page, z zones, q authorityQueueSpec) (authorityQueue, error) {
	out := authorityQueue{ID: q.id, Title: pg.T("authority." + q.id + ".title"), Hint: pg.T("authority." + q.id + ".hint")}
	parts := []string{q.filter + " AND overdue = true", q.filter + " AND overdue = false"}
	if !q.overdue {
		parts = []string{q.filter}
	}
	var reqs []*requestv1.Request
	for _, f := range parts {
		resp, err := c.be.Requests.ListRequests(ctx, &requestv1.ListRequestsRequest{
			PageSize: dashboardPageSize, Filter: f, OrderBy: "updateTime",
		})
		if err != nil {
			return authorityQueue{}, fmt.Errorf("queue %s: %w", q.id, err)
		}
		reqs = append(reqs, resp.GetRequests()...)
		out.More = out.More || resp.GetNextPageToken() != ""
	}
	if !q.overdue {
		// Preservations have no overdue: the one that lapses first comes
		// first.
		slices.SortStableFunc(reqs, func(a, b *requestv1.Request) int {
			return cmp.Compare(a.GetDeadlines().GetPreservationExpiresAt().AsTime().UnixNano(),
				b.GetDeadlines().GetPreservationExpiresAt().AsTime().UnixNano())
		})
	}
	for _, req := range reqs {
		out.Rows = append(out.Rows, c.row(pg, z, req))
	}
	return out, nil
}

// authorityQueueSpec is a queue's filter (AIP-160, as ListRequests takes
// it).
type authorityQueueSpec struct {
	id, filter string
	// overdue says that the queue's requests can be overdue, so that they
	// are listed first.
	overdue bool
}

// authorityQueueSpecs are the queues of the user: outgoing requests of
// their state, and incoming ones addressed to their agency.
func authorityQueueSpecs(s *session) []authorityQueueSpec {
	var out []authorityQueueSpec
	if stateCodePattern.MatchString(s.State) {
		out = append(out, authorityQueueSpec{"outgoing", `status = SUBMITTED AND requestingState = "` + s.State + `"`, true},
			// Proposed conditions and a confidentiality that cannot be
			// kept wait for the requesting side's decision (§5.2, §5.4).
			authorityQueueSpec{"requester_decision", `(status = CONDITIONS_PROPOSED OR status = AWAITING_REQUESTER_DECISION) AND requestingState = "` + s.State + `"`, true})
	}
	agency := strings.TrimPrefix(s.Agency, "agencies/")
	if agencyIDPattern.MatchString(agency) {
		to := ` AND requestedAgency = "` + agency + `"`
		out = append(out,
			authorityQueueSpec{"acknowledge", "status = TRANSMITTED" + to, true},
			authorityQueueSpec{"decide", "status = ACKNOWLEDGED" + to, true},
			authorityQueueSpec{"execute", "(status = ACCEPTED OR status = PARTIALLY_EXECUTED)" + to, true},
			authorityQueueSpec{"waiting", "(status = POSTPONED OR status = CONDITIONS_PROPOSED OR status = AWAITING_REQUESTER_DECISION)" + to, true},
			authorityQueueSpec{"preservations", "status = EXECUTED AND type = DATA_PRESERVATION" + to, false},
		)
	}
	return out
}

// authorityChoice is an option of a radio group or checkbox list.
type authorityChoice struct {
	Value, Label string
	Checked      bool
}

// authorityAttachment is an attachment the execution may name.
type authorityAttachment struct {
	Name, Label string
	Checked     bool
}

// authorityActionView is what an action's page shows.
type authorityActionView struct {
	Action    authorityAction
	ID        string
	Row       requestRow
	Etag      string
	Deadlines []deadline
	// In is the user's input, kept when the service refuses it.
	In     url.Values
	Errors *formErrors
	// Check is the safeguards check of a transmission.
	Check *authorityCheck
	// Options of the form's enum fields, translated.
	DualCriminality, Grounds []authorityChoice
	Attachments              []authorityAttachment
	// Practice is what the forms of issue 14 need (practice.go).
	Practice practiceView
}

// authorityCheck is what the service said of transmitting the request as
// it is (TransmitRequest with validate_only).
type authorityCheck struct {
	Passed bool
	// Message is the refusal's general complaint; Problems are the unmet
	// safeguards, each with its field's label.
	Message  string
	Problems []violation
}

// Href is the action's own address.
func (v authorityActionView) Href() string {
	return "/requests/" + url.PathEscape(v.ID) + "/" + v.Action.ID
}

// RequestHref is the request's page.
func (v authorityActionView) RequestHref() string { return "/requests/" + url.PathEscape(v.ID) }

// authorityForm shows the action's form.
func (c *Console) authorityForm(a authorityAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if call, ok := c.startAuthorityCall(w, r); ok {
			c.showAuthorityAction(w, r, call, a, http.StatusOK, url.Values{}, nil)
		}
	}
}

// authorityPost performs the action with the etag the form was rendered with:
// on success the user goes back to the request's page with a confirmation
// (303); on a refusal the form comes back with the input kept and the
// complaints next to their fields (400, or 409 when someone else acted
// first); what is no refusal of the form's content is an error page.
func (c *Console) authorityPost(a authorityAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		call, ok := c.startAuthorityCall(w, r)
		if !ok {
			return
		}
		if err := r.ParseForm(); err != nil {
			c.renderError(w, r, call.pg, http.StatusBadRequest, call.pg.T("authority.bad_form"))
			return
		}
		in := r.PostForm
		next, err := a.Perform(call.ctx, c.be.Requests, "requests/"+call.id, in.Get("etag"), in)
		if err == nil {
			http.Redirect(w, r, "/requests/"+url.PathEscape(cmp.Or(next, call.id))+"?done="+a.ID, http.StatusSeeOther)
			return
		}
		var renumber func(string) string
		if a.Renumber != nil {
			renumber = func(f string) string { return a.Renumber(in, f) }
		}
		fe, shown := formErrorRenumbered(call.pg, err, renumber, append(rowFields(in), a.Fields...)...)
		if !shown {
			c.serviceError(w, r, call.pg, err)
			return
		}
		code := http.StatusBadRequest
		if status.Code(err) == codes.Aborted {
			code = http.StatusConflict
		}
		c.showAuthorityAction(w, r, call, a, code, in, fe)
	}
}

// authorityCall is who acts on which request.
type authorityCall struct {
	pg  page
	id  string
	ctx context.Context
}

// startAuthorityCall returns the signed-in user's call on the request of the path,
// or answers the request itself (sign-in, not found).
func (c *Console) startAuthorityCall(w http.ResponseWriter, r *http.Request) (authorityCall, bool) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return authorityCall{}, false
	}
	return authorityCall{pg: pg, id: id, ctx: outgoing(r.Context(), r, s)}, true
}

// showAuthorityAction renders the action's form with the user's input and the
// service's complaints, if any.
func (c *Console) showAuthorityAction(w http.ResponseWriter, r *http.Request, call authorityCall, a authorityAction, code int, in url.Values, fe *formErrors) {
	pg := call.pg
	v, err := c.loadAuthorityAction(call.ctx, pg, a, "requests/"+call.id, in)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	v.ID, v.Errors = call.id, fe
	if v.Check != nil && fe != nil {
		// The safeguards check, asked again of the request as it is now,
		// lists the unmet safeguards: the summary need not repeat them.
		fe.Unplaced = nil
	}
	pg.Title = pg.T("action."+a.ID+".title", map[string]any{"Reference": v.Row.Reference})
	c.render(w, r, code, AuthorityActionPage(pg, v))
}

// authorityActionView reads the request as it is now (so that a form shown again
// after a conflict carries the current status and etag) and what the
// action's form offers.
func (c *Console) loadAuthorityAction(ctx context.Context, pg page, a authorityAction, name string, in url.Values) (authorityActionView, error) {
	z, err := c.zones(ctx)
	if err != nil {
		return authorityActionView{}, err
	}
	resp, err := c.be.Requests.GetRequest(ctx, &requestv1.GetRequestRequest{Name: name})
	if err != nil {
		return authorityActionView{}, err
	}
	req := resp.GetRequest()
	v := authorityActionView{Action: a, Row: c.row(pg, z, req), Etag: req.GetEtag(), In: in}
	v.Deadlines = authorityDeadlines(pg, z, req, a.Deadlines)
	switch a.ID {
	case "transmit":
		_, err := c.be.Requests.TransmitRequest(ctx, &requestv1.TransmitRequestRequest{Name: name, Etag: req.GetEtag(), ValidateOnly: true})
		if err == nil {
			v.Check = &authorityCheck{Passed: true}
		} else if fe, ok := formError(pg, err); ok {
			v.Check = authorityCheckOf(pg, fe)
		} else {
			return authorityActionView{}, err
		}
	case "accept":
		for _, dc := range []requestv1.Acceptance_DualCriminality{requestv1.Acceptance_MET, requestv1.Acceptance_NOT_REQUIRED} {
			v.DualCriminality = append(v.DualCriminality, authorityChoice{Value: dc.String(),
				Label: pg.T("authority.dual_criminality." + dc.String()), Checked: in.Get("dual_criminality") == dc.String()})
		}
		// The use conditions that will bind the requesting side (DESIGN
		// §10), as many rows as the proposal's form offers.
		v.Practice.ConditionKinds = enumOptions(pg, "condition.kind.", requestv1.Condition_Kind_name)
		n := rowCount(in, "use_conditions")
		if n == 0 {
			n = emptyConditionRows
		}
		for i := range n {
			k := func(s string) string { return in.Get(fmt.Sprintf("use_conditions[%d].%s", i, s)) }
			v.Practice.UseConditions = append(v.Practice.UseConditions, conditionRow{Kind: k("kind"), Text: k("text"), DueTime: k("due_time")})
		}
	case "refuse":
		for n := int32(1); n < int32(len(requestv1.Refusal_Ground_name)); n++ {
			g := requestv1.Refusal_Ground(n).String()
			if req.GetType() == directoryv1.RequestType_DATA_PRESERVATION && !slices.Contains(preservationGrounds, g) {
				// A preservation may be refused on these only (DESIGN
				// §5.1); the service says whether the last applies.
				continue
			}
			v.Grounds = append(v.Grounds, authorityChoice{Value: g, Label: pg.T("refusal.ground." + g), Checked: slices.Contains(in["grounds"], g)})
		}
	default:
		if err := c.loadPractice(ctx, pg, z, &v, req, in); err != nil {
			return authorityActionView{}, err
		}
		loadDataProtection(pg, z, &v, req)
	}
	switch a.ID {
	case "execute":
		atts, err := c.be.Requests.ListAttachments(ctx, &requestv1.ListAttachmentsRequest{Parent: name})
		if err != nil {
			return authorityActionView{}, err
		}
		for _, at := range atts.GetAttachments() {
			v.Attachments = append(v.Attachments, authorityAttachment{
				Name:    at.GetName(),
				Label:   at.GetFilename() + " (" + pg.T("authority.attachment_kind."+at.GetKind().String()) + ")",
				Checked: slices.Contains(in["attachments"], at.GetName()),
			})
		}
	}
	return v, nil
}

// authorityCheckOf is a refused transmission as its safeguards check shows it.
func authorityCheckOf(pg page, fe *formErrors) *authorityCheck {
	ch := &authorityCheck{Message: fe.Message}
	for _, v := range fe.Unplaced {
		ch.Problems = append(ch.Problems, violation{Field: fieldLabel(pg, v.Field), Text: v.Text, Detail: v.Detail})
	}
	return ch
}

// authorityDeadlines are the request's deadlines of the given message ids
// that are set, in UTC and both parties' zones.
func authorityDeadlines(pg page, z zones, req *requestv1.Request, ids []string) []deadline {
	var out []deadline
	for _, d := range deadlines(pg, z, req) {
		if slices.Contains(ids, d.ID) {
			out = append(out, d)
		}
	}
	return out
}
