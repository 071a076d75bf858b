package console

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // the parties' time zones, whatever the host has installed

	"github.com/a-h/templ"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// dashboardPageSize is how many requests each part of the dashboard shows.
const dashboardPageSize = 50

// page is what every page's layout shows.
type page struct {
	T         func(id string, data ...map[string]any) string
	Lang      string
	Title     string
	User      *session
	Path      string
	Languages []Language
}

// page returns the layout data of the request.
func (c *Console) page(_ http.ResponseWriter, r *http.Request, s *session) page {
	lang := c.langOf(r)
	p := r.URL.Path
	if r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	return page{T: c.i18n.localizer(lang), Lang: lang, User: s, Path: p, Languages: Languages}
}

// render writes a page; it is rendered whole first, so that a failure is
// an error page rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, comp templ.Component) {
	var buf bytes.Buffer
	if err := comp.Render(r.Context(), &buf); err != nil {
		c.log.Error("console page failed to render", zap.String("path", r.URL.Path), zap.Error(err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show case data of one user: no cache may keep them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, pg page, code int, msg string) {
	pg.Title = pg.T("error.title")
	c.render(w, r, code, ErrorPage(pg, msg))
}

// fail answers an error of the console itself.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, pg page, err error) {
	c.log.Error("console failed", zap.String("path", r.URL.Path), zap.Error(err))
	c.renderError(w, r, pg, http.StatusInternalServerError, pg.T("error.internal"))
}

// serviceError shows what a service answered, in the user's language with
// the service's own explanation beside it.
func (c *Console) serviceError(w http.ResponseWriter, r *http.Request, pg page, err error) {
	st := status.Convert(err)
	var code int
	var msg string
	switch st.Code() {
	case codes.Unauthenticated:
		// The token is refused (the agency deactivated, say): the session
		// ends, and the sign-in page says why.
		c.endSession(w, r, st.Message())
		return
	case codes.PermissionDenied:
		code, msg = http.StatusForbidden, pg.T("error.permission_denied")
	case codes.NotFound:
		code, msg = http.StatusNotFound, pg.T("error.not_found")
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		code, msg = http.StatusBadRequest, pg.T("error.invalid")
	case codes.ResourceExhausted:
		code, msg = http.StatusTooManyRequests, pg.T("error.rate_limited")
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		code, msg = http.StatusServiceUnavailable, pg.T("error.unavailable")
	default:
		c.log.Warn("service call failed", zap.String("path", r.URL.Path), zap.Error(err))
		c.renderError(w, r, pg, http.StatusInternalServerError, pg.T("error.internal"))
		return
	}
	pg.Title = pg.T("error.title")
	c.render(w, r, code, ServiceErrorPage(pg, msg, st.Message()))
}

// signedIn returns the session, or sends the user to sign in. An htmx
// request is told to go there (HX-Redirect): its XMLHttpRequest would
// follow a redirect and swap the sign-in page into the part of the page it
// updates.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request) (*session, bool) {
	s, err := c.session(w, r)
	if err != nil {
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", "/signin")
			w.WriteHeader(http.StatusUnauthorized)
			return nil, false
		}
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil, false
	}
	s.purposes = c.readPurposes(r, s)
	return s, true
}

// requestVisit begins a signed-in user's page about the request named in
// the path ({id}), or answers for it: the sign-in page without a session,
// not-found for an id no request can have (as the service would say).
func (c *Console) requestVisit(w http.ResponseWriter, r *http.Request) (*session, page, string, bool) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return nil, page{}, "", false
	}
	pg := c.page(w, r, s)
	id := r.PathValue("id")
	if !requestIDPattern.MatchString(id) {
		c.renderError(w, r, pg, http.StatusNotFound, pg.T("error.not_found"))
		return nil, page{}, "", false
	}
	// A page shows the request's content: its reader says why first. A
	// form sent comes from a page that asked.
	if r.Method == http.MethodGet && c.needPurpose(w, r, s, id) {
		return nil, page{}, "", false
	}
	return s, pg, id, true
}

// zoneTime is a moment in one party's time zone.
type zoneTime struct {
	State, Zone, Time string
}

// moment is a moment in UTC and in both parties' time zones.
type moment struct {
	UTC   string
	Zones []zoneTime
	Set   bool
}

// deadline is a labelled moment; ID is its label's message id.
type deadline struct {
	ID, Label string
	At        moment
}

// requestRow is a request as a list shows it.
type requestRow struct {
	Href                     string
	Reference                string
	Type, Priority, Status   string
	PriorityCode, StatusCode string
	From, To                 string
	Overdue                  bool
	Deadlines                []deadline
}

// zones maps a state code to its IANA time zone, as the directory says.
type zones map[string]string

func (c *Console) zones(ctx context.Context) (zones, error) {
	resp, err := c.be.Directory.ListStates(ctx, &directoryv1.ListStatesRequest{})
	if err != nil {
		return nil, err
	}
	z := zones{}
	for _, st := range resp.GetStates() {
		z[st.GetCode()] = st.GetTimeZone()
	}
	return z, nil
}

const timeLayout = "2006-01-02 15:04"

// at shows ts in UTC and in the time zones of the states, once each.
func (z zones) at(ts *timestamppb.Timestamp, states ...string) moment {
	if ts == nil {
		return moment{}
	}
	t := ts.AsTime()
	m := moment{UTC: t.UTC().Format(timeLayout) + " UTC", Set: true}
	seen := map[string]bool{}
	for _, st := range states {
		name := z[st]
		if st == "" || seen[st] {
			continue
		}
		seen[st] = true
		loc, err := time.LoadLocation(name)
		if name == "" || err != nil {
			continue
		}
		m.Zones = append(m.Zones, zoneTime{State: st, Zone: name, Time: t.In(loc).Format(timeLayout)})
	}
	return m
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func (c *Console) row(pg page, z zones, req *requestv1.Request) requestRow {
	id := strings.TrimPrefix(req.GetName(), "requests/")
	from, to := req.GetRequestingState(), req.GetRequestedState()
	return requestRow{
		Href:         "/requests/" + url.PathEscape(id),
		Reference:    firstNonEmpty(req.GetReference(), id),
		Type:         pg.T("type." + req.GetType().String()),
		Priority:     pg.T("priority." + req.GetPriority().String()),
		PriorityCode: strings.ToLower(req.GetPriority().String()),
		Status:       pg.T("status." + req.GetStatus().String()),
		StatusCode:   strings.ToLower(req.GetStatus().String()),
		From:         from, To: to,
		Overdue:   req.GetOverdue(),
		Deadlines: deadlines(pg, z, req),
	}
}

func deadlines(pg page, z zones, req *requestv1.Request) []deadline {
	d := req.GetDeadlines()
	from, to := req.GetRequestingState(), req.GetRequestedState()
	var out []deadline
	for _, x := range []struct {
		id string
		ts *timestamppb.Timestamp
	}{
		{"deadline.acknowledge_by", d.GetAcknowledgeBy()},
		{"deadline.answer_by", d.GetAnswerBy()},
		{"deadline.preservation_expires_at", d.GetPreservationExpiresAt()},
		{"deadline.extension_request_by", d.GetExtensionRequestBy()},
		{"deadline.confirmation_due_by", d.GetConfirmationDueBy()},
		{"deadline.report_use_by", d.GetReportUseBy()},
		{"deadline.legal_hold_review_by", d.GetLegalHoldReviewBy()},
		{"deadline.evidence_erase_by", d.GetEvidenceEraseBy()},
		{"deadline.erase_by", d.GetEraseBy()},
	} {
		if x.ts != nil {
			out = append(out, deadline{ID: x.id, Label: pg.T(x.id), At: z.at(x.ts, from, to)})
		}
	}
	return out
}

// dashboard lists the requests the user may see, overdue ones first: the
// prosecutor's "my requests". The service decides which they are.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	var v dashboardView
	for _, part := range []struct {
		filter string
		rows   *[]requestRow
	}{
		{"overdue = true", &v.Overdue},
		{"overdue = false", &v.Others},
	} {
		resp, err := c.be.Requests.ListRequests(ctx, &requestv1.ListRequestsRequest{
			PageSize: dashboardPageSize, Filter: part.filter, OrderBy: "updateTime desc",
		})
		if err != nil {
			c.serviceError(w, r, pg, err)
			return
		}
		for _, req := range resp.GetRequests() {
			*part.rows = append(*part.rows, c.row(pg, z, req))
		}
		if resp.GetNextPageToken() != "" {
			v.More = true
		}
	}
	pg.Title = pg.T("dashboard.title")
	c.render(w, r, http.StatusOK, DashboardPage(pg, v))
}

// dashboardView is what the dashboard shows.
type dashboardView struct {
	Overdue, Others []requestRow
	// More says that there are requests beyond the first page of either part.
	More bool
}

// field is a labelled value of a request's page.
type field struct {
	Label, Value string
}

// historyEntry is a status change on a request's timeline.
type historyEntry struct {
	At             moment
	From, To       string
	Action, Reason string
	Actor, Agency  string
}

// clarificationView is one round of questions and answers as a request's
// page shows it; the answer's fields are empty until it is answered.
type clarificationView struct {
	Question, AskedBy, AskedAgency string
	AskAt                          moment
	Answered                       bool
	Answer, AnsweredBy             string
	AnsweredAgency                 string
	AnswerAt                       moment
}

// requestView is what a request's page shows.
type requestView struct {
	Row requestRow
	// Actions are the actions the user may find here (actionsFor).
	Actions []actionLink
	Fields  []field
	History []historyEntry
	// Clarifications are the request's rounds of questions and answers,
	// oldest first.
	Clarifications []clarificationView
	// Practice is the content of issue 14 (practice_page.go).
	Practice requestPractice
	// Protection is the content of DESIGN §10 (dataprotection.go).
	Protection dataProtectionView
	// Talk is the request's messages and attachments (messages.go).
	Talk correspondence
	// Done confirms the action just taken (doneMessage), if any; DoneID
	// names it.
	Done, DoneID string
}

// requestPage shows a request read-only with its timeline.
func (c *Console) requestPage(w http.ResponseWriter, r *http.Request) {
	c.requestPageWith(w, r, http.StatusOK, nil)
}

// requestPageWith renders the request's page with status code; change, when
// set, alters what the page shows of messages and attachments (a refused
// form's input and complaints).
func (c *Console) requestPageWith(w http.ResponseWriter, r *http.Request, code int, change func(*correspondence)) {
	s, pg, id, ok := c.requestVisit(w, r)
	if !ok {
		return
	}
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	resp, err := c.be.Requests.GetRequest(ctx, &requestv1.GetRequestRequest{Name: "requests/" + id})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	req := resp.GetRequest()
	hist, err := c.be.Requests.GetRequestHistory(ctx, &requestv1.GetRequestHistoryRequest{Name: req.GetName()})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	from, to := req.GetRequestingState(), req.GetRequestedState()
	v := requestView{Row: c.row(pg, z, req), Actions: actionsFor(pg, s, req)}
	v.DoneID, v.Done = doneMessage(pg, r.URL.Query().Get("done"))
	yesNo := func(b bool) string {
		if b {
			return pg.T("common.yes")
		}
		return pg.T("common.no")
	}
	at := func(ts *timestamppb.Timestamp) string {
		m := z.at(ts, from, to)
		if !m.Set {
			return ""
		}
		parts := []string{m.UTC}
		for _, zt := range m.Zones {
			parts = append(parts, zt.Time+" "+zt.Zone)
		}
		return strings.Join(parts, " · ")
	}
	for _, f := range append([]field{
		{"field.requesting_agency", strings.TrimPrefix(req.GetRequestingAgency(), "agencies/")},
		{"field.requesting_state", from},
		{"field.owner", req.GetOwner()},
		{"field.requested_agency", strings.TrimPrefix(req.GetRequestedAgency(), "agencies/")},
		{"field.requested_state", to},
		{"field.emergency_reason", req.GetEmergencyReason()},
		{"field.legal_basis", legalBasis(pg, req.GetLegalBasis())},
		{"field.treaty_citation", req.GetTreatyCitation()},
		{"field.case_reference", req.GetCaseReference()},
		{"field.offence", req.GetOffence().GetDescription()},
		{"field.legal_qualification", req.GetOffence().GetLegalQualification()},
		{"field.facts_summary", req.GetFactsSummary()},
		{"field.data_categories", strings.Join(req.GetDataCategories(), "; ")},
		{"field.necessity_and_proportionality", req.GetNecessityAndProportionality()},
		{"field.judicial_authorisation_reference", req.GetJudicialAuthorisationReference()},
		{"field.use_limitations", req.GetUseLimitations()},
		{"field.confidential", yesNo(req.GetConfidential())},
		{"field.language", req.GetLanguage()},
		{"field.requested_response_time", at(req.GetRequestedResponseTime())},
		{"field.create_time", at(req.GetCreateTime())},
		{"field.update_time", at(req.GetUpdateTime())},
	}, practiceFieldsOf(pg, req)...) {
		if f.Value != "" {
			v.Fields = append(v.Fields, field{Label: pg.T(f.Label), Value: f.Value})
		}
	}
	for _, ch := range hist.GetChanges() {
		fromStatus := ""
		if ch.GetFromStatus() != requestv1.Request_STATUS_UNSPECIFIED {
			// The first change creates the request: it comes from nothing.
			fromStatus = pg.T("status." + ch.GetFromStatus().String())
		}
		v.History = append(v.History, historyEntry{
			At:     z.at(ch.GetTime(), from, to),
			From:   fromStatus,
			To:     pg.T("status." + ch.GetToStatus().String()),
			Action: ch.GetAction(), Reason: ch.GetReason(),
			Actor:  firstNonEmpty(ch.GetActor().GetDisplayName(), ch.GetActor().GetSubject()),
			Agency: strings.TrimPrefix(ch.GetActor().GetAgency(), "agencies/"),
		})
	}
	actor := func(a *requestv1.Actor) (name, agency string) {
		return firstNonEmpty(a.GetDisplayName(), a.GetSubject()), strings.TrimPrefix(a.GetAgency(), "agencies/")
	}
	for _, q := range req.GetClarifications() {
		cv := clarificationView{Question: q.GetQuestion(), AskAt: z.at(q.GetAskTime(), from, to), Answered: q.GetAnswerTime() != nil}
		cv.AskedBy, cv.AskedAgency = actor(q.GetAskedBy())
		if cv.Answered {
			cv.Answer, cv.AnswerAt = q.GetAnswer(), z.at(q.GetAnswerTime(), from, to)
			cv.AnsweredBy, cv.AnsweredAgency = actor(q.GetAnsweredBy())
		}
		v.Clarifications = append(v.Clarifications, cv)
	}
	v.Practice = practiceOf(pg, z, req)
	v.Protection = dataProtectionOf(pg, z, req)
	v.Talk = c.correspondence(ctx, pg, z, req, hist.GetChanges(), v.History)
	if s.State != req.GetRequestingState() {
		// Only the requesting side's evidence waits for its
		// acknowledgement of the conditions (DESIGN §10).
		for i := range v.Talk.Attachments {
			v.Talk.Attachments[i].Held = false
		}
	}
	if change != nil {
		change(&v.Talk)
	}
	pg.Title = pg.T("request.title", map[string]any{"Reference": v.Row.Reference})
	c.render(w, r, code, RequestPage(pg, v))
}

func legalBasis(pg page, b requestv1.Request_LegalBasis) string {
	if b == requestv1.Request_LEGAL_BASIS_UNSPECIFIED {
		return ""
	}
	return pg.T("legal_basis." + b.String())
}
