package console

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// liaisonPageSize is how many requests each part of the liaison dashboard
// shows on a page.
const liaisonPageSize = 50

// liaisonFilter is the liaison dashboard's filter form as the user sent it.
// The values go to the request service as they are, in an AIP-160 filter:
// the service, not the console, says which are valid.
type liaisonFilter struct {
	Status, Type, Priority, State, Overdue string
}

// liaisonFilterOf reads the filter form from the query string.
func liaisonFilterOf(q url.Values) liaisonFilter {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	return liaisonFilter{
		Status: get("status"), Type: get("type"), Priority: get("priority"),
		State: get("state"), Overdue: get("overdue"),
	}
}

// Any says whether the user filtered at all.
func (f liaisonFilter) Any() bool { return f != liaisonFilter{} }

// expr is the AIP-160 filter of f without its overdue part, "" for none.
// Values are quoted, so that whatever the query string holds stays one
// value: the service judges it and says what is wrong.
func (f liaisonFilter) expr() string {
	var parts []string
	for _, c := range []struct{ field, value string }{
		{"status", f.Status}, {"type", f.Type}, {"priority", f.Priority},
	} {
		if c.value != "" {
			parts = append(parts, c.field+" = "+strconv.Quote(c.value))
		}
	}
	if f.State != "" {
		// The other party: the user's own state is the other side, which
		// the service's visibility rules already ensure.
		q := strconv.Quote(f.State)
		parts = append(parts, "(requestingState = "+q+" OR requestedState = "+q+")")
	}
	return strings.Join(parts, " AND ")
}

// overdueExpr is the condition on overdue for the form's value v: true and
// false are booleans, anything else goes quoted for the service to refuse.
func overdueExpr(v string) string {
	if v == "true" || v == "false" {
		return "overdue = " + v
	}
	return "overdue = " + strconv.Quote(v)
}

// and joins AIP-160 conditions, skipping empty ones.
func and(exprs ...string) string {
	return strings.Join(slices.DeleteFunc(exprs, func(e string) bool { return e == "" }), " AND ")
}

// serviceCountLimit is how far past a page's end the request service
// counts the requests matching (request.ListCountLimit): beyond it, its
// total_size is a lower bound.
const serviceCountLimit = 1000

// countText says how many requests a part of the dashboard holds: "at
// least" when total may be the service's bound rather than the count (a
// dashboard of a large store), so that 1,051 is not shown as the total of
// 100,000.
func countText(pg page, total int32) string {
	if total > liaisonPageSize+serviceCountLimit {
		return pg.T("liaison.count_at_least", map[string]any{"Count": total})
	}
	return pg.T("liaison.count", map[string]any{"Count": total})
}

// liaisonSection is one part of the dashboard: the overdue requests, the
// others, or (when the user filtered on overdue) the one list.
type liaisonSection struct {
	// ID names the part in the page (its table is "requests-" + ID).
	ID      string
	Heading string
	Rows    []requestRow
	Total   int32
	// Next and First link to the part's next and first page, "" when
	// there is none.
	Next, First string
	// Overdue marks the part of overdue requests.
	Overdue bool
}

// liaisonView is what the liaison dashboard shows.
type liaisonView struct {
	Filter                                    liaisonFilter
	Statuses, Types, Priorities, States, Dues []option
	Sections                                  []liaisonSection
	// Error is the service's refusal of the filter or a page token.
	Error *formErrors
}

// Empty says that no part has a request.
func (v liaisonView) Empty() bool {
	for _, s := range v.Sections {
		if len(s.Rows) > 0 {
			return false
		}
	}
	return true
}

// liaison serves GET /liaison: every request that concerns the user's
// state (the service decides which the user may see), overdue ones first,
// filtered and paged, with live updates (liaisonEvents). With the
// HX-Request header, only the results are sent: the live updates fetch them
// again after each change.
func (c *Console) liaison(w http.ResponseWriter, r *http.Request) {
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
	v := liaisonView{Filter: liaisonFilterOf(r.URL.Query())}
	v.options(pg, s, z)
	code := http.StatusOK
	for _, part := range liaisonParts(pg, v.Filter) {
		sec, err := c.liaisonSection(ctx, pg, z, r.URL, v.Filter, part)
		if err != nil {
			fe, ok := formError(pg, err)
			if !ok {
				c.serviceError(w, r, pg, err)
				return
			}
			// The service's refusal of the filter or a page token, in
			// its words beside the form that the user can correct.
			v.Error, v.Sections, code = fe, nil, http.StatusBadRequest
			break
		}
		v.Sections = append(v.Sections, sec)
	}
	pg.Title = pg.T("liaison.title")
	w.Header().Add("Vary", "HX-Request")
	if r.Header.Get("HX-Request") == "true" {
		c.render(w, r, code, liaisonResults(pg, v))
		return
	}
	c.render(w, r, code, LiaisonPage(pg, v))
}

// liaisonPart is a part of the dashboard as it is asked of the service.
type liaisonPart struct {
	id, heading string
	// param is the query parameter holding the part's page token.
	param string
	// overdue is the part's condition on overdue.
	overdue string
}

// liaisonParts are the parts of the dashboard: overdue requests first,
// then the others, each paged on its own; or, when the user filtered on
// overdue, one list.
func liaisonParts(pg page, f liaisonFilter) []liaisonPart {
	if f.Overdue != "" {
		return []liaisonPart{{"results", pg.T("liaison.results"), "page", f.Overdue}}
	}
	return []liaisonPart{
		{"overdue", pg.T("liaison.overdue"), "opage", "true"},
		{"others", pg.T("liaison.others"), "page", "false"},
	}
}

// liaisonSection lists one part's page of requests, most recently changed
// first.
func (c *Console) liaisonSection(ctx context.Context, pg page, z zones, u *url.URL, f liaisonFilter, part liaisonPart) (liaisonSection, error) {
	token := u.Query().Get(part.param)
	resp, err := c.be.Requests.ListRequests(ctx, &requestv1.ListRequestsRequest{
		PageSize: liaisonPageSize, PageToken: token,
		Filter: and(f.expr(), overdueExpr(part.overdue)), OrderBy: "updateTime desc",
	})
	if err != nil {
		return liaisonSection{}, err
	}
	sec := liaisonSection{ID: part.id, Heading: part.heading, Total: resp.GetTotalSize(), Overdue: part.overdue == "true"}
	for _, req := range resp.GetRequests() {
		sec.Rows = append(sec.Rows, c.row(pg, z, req))
	}
	if next := resp.GetNextPageToken(); next != "" {
		sec.Next = withParam(u, part.param, next)
	}
	if token != "" {
		sec.First = withParam(u, part.param, "")
	}
	return sec, nil
}

// options fills the filter form's choices: the enums of the API in the
// user's language, and the states of the directory but the user's own.
func (v *liaisonView) options(pg page, s *session, z zones) {
	anyOpt := option{Value: "", Label: pg.T("liaison.any")}
	v.Statuses = append([]option{anyOpt}, enumOptions(pg, "status.", requestv1.Request_Status_name)...)
	v.Types = append([]option{anyOpt}, enumOptions(pg, "type.", directoryv1.RequestType_name)...)
	v.Priorities = append([]option{anyOpt}, enumOptions(pg, "priority.", directoryv1.Priority_name)...)
	v.States = []option{anyOpt}
	for _, code := range slices.Sorted(maps.Keys(z)) {
		if code != s.State {
			v.States = append(v.States, option{code, stateName(pg, code) + " (" + code + ")"})
		}
	}
	v.Dues = []option{anyOpt, {"true", pg.T("liaison.overdue_only")}, {"false", pg.T("liaison.not_overdue")}}
}

// withParam returns u's path and query with param set to value, or removed
// when value is "".
func withParam(u *url.URL, param, value string) string {
	q := u.Query()
	if value == "" {
		q.Del(param)
	} else {
		q.Set(param, value)
	}
	if len(q) == 0 {
		return u.Path
	}
	return u.Path + "?" + q.Encode()
}

// hasOption says whether value is one of opts.
func hasOption(opts []option, value string) bool {
	return slices.ContainsFunc(opts, func(o option) bool { return o.Value == value })
}

// extraViolations are the complaints of fe that its service message does
// not already say, so that the filter's error says each thing once.
func extraViolations(fe *formErrors) []violation {
	var out []violation
	for _, v := range fe.Unplaced {
		if !strings.Contains(fe.Detail, v.Text) {
			out = append(out, v)
		}
	}
	return out
}
