package console

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// statPair is what the statistics page shows of one ordered pair of states.
type statPair struct {
	// ID names the pair in the page, e.g. "KZ-UZ".
	ID       string
	From, To string
	// Heading names both states in the user's language.
	Heading string
	// Statuses are the counts by status in the order of the lifecycle,
	// drafts excluded (the service counts none).
	Statuses barChart
	Total    int
	Overdue  int
	// MedianAck, MedianAnswer, MeanAck and MeanAnswer are in hours,
	// formatted for the user, or say that there is no sample yet.
	MedianAck, MedianAnswer string
	MeanAck, MeanAnswer     string
	// Emergency and NotEmergency count the requests of EMERGENCY priority
	// and the others.
	Emergency, NotEmergency int
	// Refusals are the refusals by ground; no bars when there are none.
	Refusals barChart
	// Categories are the requests by data category sought, Outcomes the
	// execution items by outcome; no bars when there are none.
	Categories, Outcomes barChart
}

// statisticsView is what the statistics page shows.
type statisticsView struct {
	// From and To are the period form's days as typed (UTC, To included).
	From, To string
	// Bad are the form's fields the console could not read, with the
	// message id of the complaint; Errors what the service refused.
	Bad    map[string]string
	Errors *formErrors
	// Period is the period counted, as the service applied its defaults.
	Period string
	Pairs  []statPair
}

// periodDay is the layout of the period form's days.
const periodDay = "2006-01-02"

// statisticsRequest reads the period form: from and to are UTC days, to
// included (so the period ends at the next midnight), each optional, as
// the service's defaults fill in. A value that is not a day, or a to
// before from, is refused here, in the user's language.
func statisticsRequest(v *statisticsView, get func(string) string) *requestv1.GetStatisticsRequest {
	v.From, v.To = strings.TrimSpace(get("from")), strings.TrimSpace(get("to"))
	req := &requestv1.GetStatisticsRequest{}
	bad := map[string]string{}
	var from, to time.Time
	var err error
	if v.From != "" {
		if from, err = time.Parse(periodDay, v.From); err != nil {
			bad["from"] = "statistics.bad_date"
		} else {
			req.PeriodStart = timestamppb.New(from)
		}
	}
	if v.To != "" {
		if to, err = time.Parse(periodDay, v.To); err != nil {
			bad["to"] = "statistics.bad_date"
		} else {
			req.PeriodEnd = timestamppb.New(to.AddDate(0, 0, 1))
		}
	}
	if req.PeriodStart != nil && req.PeriodEnd != nil && to.Before(from) {
		bad["to"] = "statistics.bad_order"
	}
	if len(bad) > 0 {
		v.Bad = bad
		return nil
	}
	return req
}

// statistics serves GET /statistics: the request service's aggregates for
// each pair of states that involves the user's state, each drawn as charts
// with the figures beside them. The service decides which requests count;
// the page asks for the period its form gives, by default the service's
// (the year up to now), and says which period was counted.
func (c *Console) statistics(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	pg.Title = pg.T("statistics.title")
	var v statisticsView
	req := statisticsRequest(&v, r.URL.Query().Get)
	if req == nil {
		c.render(w, r, http.StatusBadRequest, StatisticsPage(pg, v))
		return
	}
	resp, err := c.be.Requests.GetStatistics(outgoing(r.Context(), r, s), req)
	if err != nil {
		fe, isForm := formError(pg, err)
		if !isForm {
			c.serviceError(w, r, pg, err)
			return
		}
		v.Errors = fe
		c.render(w, r, http.StatusBadRequest, StatisticsPage(pg, v))
		return
	}
	v.Period = pg.T("statistics.period", map[string]any{
		"From": resp.GetPeriodStart().AsTime().Format(periodLayout), "To": resp.GetPeriodEnd().AsTime().Format(periodLayout)})
	for _, ps := range resp.GetPairs() {
		v.Pairs = append(v.Pairs, statPairOf(pg, ps))
	}
	c.render(w, r, http.StatusOK, StatisticsPage(pg, v))
}

// statPairOf lays out one pair's figures and charts.
func statPairOf(pg page, ps *requestv1.PairStatistics) statPair {
	from, to := ps.GetRequestingState(), ps.GetRequestedState()
	sp := statPair{
		ID: from + "-" + to, From: from, To: to,
		Heading:      pg.T("statistics.pair", map[string]any{"From": stateName(pg, from), "To": stateName(pg, to)}),
		Overdue:      int(ps.GetOverdue()),
		MedianAck:    timeFigure(pg, ps.GetMedianTimeToAcknowledge()),
		MedianAnswer: timeFigure(pg, ps.GetMedianTimeToAnswer()),
		MeanAck:      timeFigure(pg, ps.GetMeanTimeToAcknowledge()),
		MeanAnswer:   timeFigure(pg, ps.GetMeanTimeToAnswer()),
		Emergency:    int(ps.GetEmergencyCount()),
		NotEmergency: int(ps.GetNonEmergencyCount()),
	}
	var statuses []chartItem
	for i := range len(requestv1.Request_Status_name) {
		st := requestv1.Request_Status(i)
		if st == requestv1.Request_STATUS_UNSPECIFIED || st == requestv1.Request_DRAFT {
			continue
		}
		n := int(ps.GetByStatus()[st.String()])
		sp.Total += n
		statuses = append(statuses, chartItem{Label: pg.T("status." + st.String()), Value: n, Class: "status-" + strings.ToLower(st.String())})
	}
	sp.Statuses = newBarChart("chart-status-"+sp.ID, pg.T("statistics.by_status_of", map[string]any{"Pair": sp.Heading}),
		pg.T("statistics.by_status_desc"), statuses)
	var grounds []chartItem
	for i := range len(requestv1.Refusal_Ground_name) {
		g := requestv1.Refusal_Ground(i)
		if n := int(ps.GetRefusalsByGround()[g.String()]); n > 0 {
			grounds = append(grounds, chartItem{Label: pg.T("statistics.ground." + g.String()), Value: n, Class: "ground"})
		}
	}
	if len(grounds) > 0 {
		sp.Refusals = newBarChart("chart-refusals-"+sp.ID, pg.T("statistics.refusals_of", map[string]any{"Pair": sp.Heading}),
			pg.T("statistics.refusals_desc"), grounds)
	}
	// Categories are the types of data requested, named as the console
	// names request types (one the console does not know, from a newer
	// service, under its own name), the most sought first.
	var categories []chartItem
	for c, n := range ps.GetByDataCategory() {
		label := c
		if _, known := directoryv1.RequestType_value[c]; known {
			label = pg.T("type." + c)
		}
		categories = append(categories, chartItem{Label: label, Value: int(n), Class: "category"})
	}
	slices.SortFunc(categories, func(a, b chartItem) int {
		if a.Value != b.Value {
			return b.Value - a.Value
		}
		return strings.Compare(a.Label, b.Label)
	})
	if len(categories) > 0 {
		sp.Categories = newBarChart("chart-categories-"+sp.ID, pg.T("statistics.categories_of", map[string]any{"Pair": sp.Heading}),
			pg.T("statistics.categories_desc"), categories)
	}
	// Outcomes in the order of the enum; one the console does not know
	// (a newer service) still counts, under its name.
	outcomes := maps.Clone(ps.GetExecutionItemsByOutcome())
	var items []chartItem
	for i := range len(requestv1.ExecutionItem_Outcome_name) {
		o := requestv1.ExecutionItem_Outcome(i).String()
		if n := int(outcomes[o]); n > 0 {
			items = append(items, chartItem{Label: pg.T("statistics.outcome." + o), Value: n, Class: "outcome-" + strings.ToLower(o)})
		}
		delete(outcomes, o)
	}
	for _, o := range slices.Sorted(maps.Keys(outcomes)) {
		if n := int(outcomes[o]); n > 0 {
			items = append(items, chartItem{Label: o, Value: n, Class: "outcome"})
		}
	}
	if len(items) > 0 {
		sp.Outcomes = newBarChart("chart-outcomes-"+sp.ID, pg.T("statistics.outcomes_of", map[string]any{"Pair": sp.Heading}),
			pg.T("statistics.outcomes_desc"), items)
	}
	return sp
}

// stateName is a state's name in the user's language, or its code when the
// catalog does not know it.
func stateName(pg page, code string) string {
	if n := pg.T("state." + code); n != "state."+code {
		return n
	}
	return code
}

// periodLayout shows the bounds of the period counted, in UTC.
const periodLayout = "2006-01-02 15:04"

// timeFigure formats a median or a mean: in whole minutes below an hour (a median of
// 20 minutes is not "0.3 h"), else in hours with one decimal. The service
// leaves it out when no request has got that far, which the page says in
// words rather than as 0.
func timeFigure(pg page, d *durationpb.Duration) string {
	if d == nil {
		return pg.T("statistics.no_median")
	}
	if dur := d.AsDuration(); dur < time.Hour {
		return pg.T("statistics.minutes", map[string]any{"Minutes": strconv.FormatFloat(dur.Minutes(), 'f', 0, 64)})
	}
	return pg.T("statistics.hours", map[string]any{"Hours": strconv.FormatFloat(d.AsDuration().Hours(), 'f', 1, 64)})
}
