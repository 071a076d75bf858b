package request

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// PairStatistics aggregates the requests from one state to another.
type PairStatistics struct {
	RequestingState string
	RequestedState  string
	ByStatus        map[Status]int
	// MedianToAcknowledge is the median time from transmission to
	// acknowledgement over the Acknowledged requests; 0 when there are none.
	MedianToAcknowledge time.Duration
	Acknowledged        int
	// MedianToAnswer is the median time from acknowledgement to execution
	// or refusal over the Answered requests; 0 when there are none.
	MedianToAnswer   time.Duration
	Answered         int
	Overdue          int
	RefusalsByGround map[string]int

	// MeanToAcknowledge and MeanToAnswer are the means over the same
	// requests as the medians, truncated to the nanosecond; 0 when there
	// are none.
	MeanToAcknowledge, MeanToAnswer time.Duration
	// ByDataCategory counts the requests by the type of data requested
	// (e-Evidence Art 28(2)): their type, SUBSCRIBER_INFORMATION,
	// TRAFFIC_DATA, CONTENT_DATA, … The data categories a request lists are
	// written free by its prosecutor and are case content (one can name
	// the person or the account sought): statistics, which every user of
	// the state reads, auditors included, never carry them.
	ByDataCategory map[string]int
	// Emergency counts the requests of EMERGENCY priority (e-Evidence Art
	// 28(2) asks for them apart), NotEmergency the others.
	Emergency, NotEmergency int
	// ItemsByOutcome counts the execution items by outcome (PROVIDED,
	// NOT_HELD, …) over every delivery of every request.
	ItemsByOutcome map[string]int
}

// StatisticsQuery says which requests statistics count, as the caller asks.
type StatisticsQuery struct {
	// Start and End bound the period in which the counted requests were
	// created, Start inclusive, End exclusive. A zero End is now; a zero
	// Start is one year before End.
	Start, End time.Time
	// RequestingState and RequestedState keep one side of the pair, or
	// both; "" for any. Lower case is accepted.
	RequestingState, RequestedState string
}

// StatisticsRowsQuery is what the store selects for statistics: the
// requests not in DRAFT created in [Start, End), and of the pairs asked
// for. The service decides which of them the caller's state may know of.
type StatisticsRowsQuery struct {
	Start, End time.Time
	// Involving keeps the requests from or to this state; "" for all.
	Involving string
	// RequestingState and RequestedState are exact upper-case codes; ""
	// for any.
	RequestingState, RequestedState string
}

// StatisticsResult is the period counted, defaults applied, and its pairs.
type StatisticsResult struct {
	Start, End time.Time
	Pairs      []PairStatistics
}

// maxStatisticsYears bounds the period of one GetStatistics: the service
// reads every request of the period to compute medians, so a caller may not
// make it read the whole store by asking for the year 1 to 9999. Ten years
// cover any report a central authority makes.
const maxStatisticsYears = 10

// Statistics returns aggregates per pair of states that involve the
// caller's state, over the requests created in the period asked for: counts
// by status (drafts excluded), by data category, by emergency and by
// outcome of the execution items, median and mean times to acknowledge and
// to answer, overdue requests and refusals by ground (the figures e-Evidence
// Art 28(2) asks a state to report). It holds no case data, and
// counts only the requests the caller's state may know of (DESIGN §3): its
// own outgoing ones, and incoming ones once transmitted to it, so that no
// count tells the requested state of a request still being prepared.
func (s *Service) Statistics(ctx context.Context, p identity.Principal, q StatisticsQuery) (StatisticsResult, error) {
	now := s.now()
	rq, err := statisticsRowsQuery(q, p, now)
	if err != nil {
		return StatisticsResult{}, err
	}
	rows, err := s.store.StatisticsRows(ctx, rq)
	if err != nil {
		return StatisticsResult{}, err
	}
	type key struct{ from, to string }
	pairs := map[key]*PairStatistics{}
	ack := map[key][]time.Duration{}
	answer := map[key][]time.Duration{}
	for _, r := range rows {
		known := r.RequestingState == p.State || r.RequestedState == p.State && !r.TransmitTime.IsZero()
		if r.Status == Draft || !known {
			continue
		}
		k := key{r.RequestingState, r.RequestedState}
		ps := pairs[k]
		if ps == nil {
			ps = &PairStatistics{RequestingState: k.from, RequestedState: k.to, ByStatus: map[Status]int{}, RefusalsByGround: map[string]int{},
				ByDataCategory: map[string]int{}, ItemsByOutcome: map[string]int{}}
			pairs[k] = ps
		}
		ps.ByStatus[r.Status]++
		if r.Priority == cooperation.Emergency {
			ps.Emergency++
		} else {
			ps.NotEmergency++
		}
		ps.ByDataCategory[string(r.Type)]++
		for _, d := range statisticsDeliveries(r) {
			for _, it := range d.Items {
				ps.ItemsByOutcome[it.Outcome]++
			}
		}
		if Overdue(r, now) {
			ps.Overdue++
		}
		if r.Refusal != nil {
			for _, g := range r.Refusal.Grounds {
				ps.RefusalsByGround[g]++
			}
		}
		if !r.TransmitTime.IsZero() && !r.AcknowledgeTime.IsZero() {
			ack[k] = append(ack[k], r.AcknowledgeTime.Sub(r.TransmitTime))
		}
		if !r.AcknowledgeTime.IsZero() && !r.AnswerTime.IsZero() {
			answer[k] = append(answer[k], r.AnswerTime.Sub(r.AcknowledgeTime))
		}
	}
	out := StatisticsResult{Start: rq.Start, End: rq.End, Pairs: make([]PairStatistics, 0, len(pairs))}
	for k, ps := range pairs {
		ps.MeanToAcknowledge, ps.MeanToAnswer = meanDuration(ack[k]), meanDuration(answer[k])
		ps.MedianToAcknowledge, ps.Acknowledged = median(ack[k]), len(ack[k])
		ps.MedianToAnswer, ps.Answered = median(answer[k]), len(answer[k])
		out.Pairs = append(out.Pairs, *ps)
	}
	sort.Slice(out.Pairs, func(i, j int) bool {
		if out.Pairs[i].RequestingState != out.Pairs[j].RequestingState {
			return out.Pairs[i].RequestingState < out.Pairs[j].RequestingState
		}
		return out.Pairs[i].RequestedState < out.Pairs[j].RequestedState
	})
	return out, nil
}

// statisticsRowsQuery checks what the caller asked for, applies the
// defaults and says what the store must read. The field names of the
// violations are the API's.
func statisticsRowsQuery(q StatisticsQuery, p identity.Principal, now time.Time) (StatisticsRowsQuery, error) {
	var vs errs.Violations
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	end, endSaid := q.End, rfc(q.End)
	if end.IsZero() {
		end, endSaid = now, "now ("+rfc(now)+")"
	}
	start := q.Start
	if start.IsZero() {
		start = end.AddDate(-1, 0, 0)
	}
	switch {
	case !end.After(start) && q.End.IsZero():
		vs.Add("period_start", "period_start %s is not in the past: without period_end the period ends now", rfc(start))
	case !end.After(start):
		vs.Add("period_end", "the period must end after it starts: period_end %s is not after period_start %s", rfc(end), rfc(start))
	case end.After(start.AddDate(maxStatisticsYears, 0, 0)):
		vs.Add("period_start", "the period from %s to %s is longer than %d years; ask for %d years or less",
			rfc(start), endSaid, maxStatisticsYears, maxStatisticsYears)
	}
	from := stateCode(&vs, "requesting_state", q.RequestingState)
	to := stateCode(&vs, "requested_state", q.RequestedState)
	if from != "" && from == to {
		vs.Add("requested_state", "requesting_state and requested_state are both %s: a request goes from one state to another", from)
	}
	if err := vs.Err(errs.Invalid, "invalid statistics query"); err != nil {
		return StatisticsRowsQuery{}, err
	}
	if from != "" && to != "" && from != p.State && to != p.State {
		return StatisticsRowsQuery{}, errs.New(errs.PermissionDenied,
			"statistics cover only the pairs of states that involve your state, %s, and %s → %s does not; "+
				"give %s as requesting_state or requested_state, or leave one of them out", p.State, from, to, p.State)
	}
	return StatisticsRowsQuery{Start: start.UTC(), End: end.UTC(), Involving: p.State, RequestingState: from, RequestedState: to}, nil
}

// stateCode returns the upper-case ISO 3166-1 alpha-2 code of v, "" for
// none; anything else is a violation of field.
func stateCode(vs *errs.Violations, field, v string) string {
	code := strings.ToUpper(v)
	if code == "" {
		return ""
	}
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		vs.Add(field, "%q is not a state's two-letter ISO code, such as KZ", v)
		return ""
	}
	return code
}

// statisticsDeliveries returns the deliveries of r whose items count: all
// of them, or, for a request executed before deliveries were kept one by
// one, its single execution.
func statisticsDeliveries(r Request) []Execution {
	if len(r.Deliveries) > 0 {
		return r.Deliveries
	}
	if r.Execution != nil {
		return []Execution{*r.Execution}
	}
	return nil
}

// meanDuration is the mean of ds, truncated to the nanosecond; 0 for none.
// Each sample is divided before it is added, and the remainders summed
// apart, so that many long durations do not overflow the sum.
func meanDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	n := time.Duration(len(ds))
	var q, r time.Duration
	for _, d := range ds {
		q += d / n
		r += d % n
	}
	return q + r/n
}

// median is the median of ds, the mean of the middle two when there are an
// even number; 0 for none. It sorts ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	// a + (b-a)/2 rather than (a+b)/2, which could overflow.
	a, b := ds[n/2-1], ds[n/2]
	return a + (b-a)/2
}
