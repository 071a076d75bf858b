package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// statisticsQuery holds what the statistics command asks for: a period
// (requests created in it count) and a pair of states, each optional.
type statisticsQuery struct {
	from, to                        string
	requestingState, requestedState string
}

// values are the query parameters of GET /v1/statistics. A date as --to
// means the whole of that day (UTC): the period ends at the next midnight.
func (q statisticsQuery) values() (url.Values, error) {
	v := url.Values{}
	for _, f := range []struct{ flag, value, param string }{{"from", q.from, "periodStart"}, {"to", q.to, "periodEnd"}} {
		if f.value == "" {
			continue
		}
		ts, err := parseTime(f.flag, f.value)
		if err != nil {
			return nil, err
		}
		t := ts.AsTime()
		if _, err := time.Parse(time.DateOnly, f.value); err == nil && f.flag == "to" {
			t = t.AddDate(0, 0, 1)
		}
		v.Set(f.param, t.UTC().Format(time.RFC3339Nano))
	}
	for _, f := range []struct{ flag, value, param string }{
		{"requesting-state", q.requestingState, "requestingState"}, {"requested-state", q.requestedState, "requestedState"},
	} {
		s := strings.ToUpper(strings.TrimSpace(f.value))
		if s == "" {
			continue
		}
		if len(s) != 2 {
			return nil, fmt.Errorf("%w: --%s %q is not a state's ISO code, e.g. UZ", errUsage, f.flag, f.value)
		}
		v.Set(f.param, s)
	}
	return v, nil
}

func newStatisticsCmd(g *globals) *cobra.Command {
	var q statisticsQuery
	c := &cobra.Command{
		Use:   "statistics",
		Short: "Aggregates per pair of states involving yours: counts by status, times to answer, overdue, refusals, categories, outcomes",
		Long: `Aggregates per ordered pair of states involving your state (no case data) over the requests
created in a period: the number of requests by status, the median and mean time to acknowledge
and to answer (with how many requests each median is taken over), how many are overdue, how
many are emergencies and how many not, the refusals by ground, the requests by data category
sought, and the execution items by outcome over every delivery. --from and --to choose the period (dates, the --to day included, or RFC 3339
times; by default the year up to now); --requesting-state and --requested-state a pair.`,
		Example: "  comityctl statistics\n" +
			"  comityctl statistics --from 2026-01-01 --to 2026-06-30\n" +
			"  comityctl statistics --requesting-state KZ --requested-state UZ --output json",
		Aliases: []string{"stats"},
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := q.values()
			if err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			path := "/v1/statistics"
			if len(v) > 0 {
				path += "?" + v.Encode()
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, path, nil)
			if err != nil {
				return err
			}
			return g.print(data, statisticsView{})
		},
	}
	f := c.Flags()
	f.StringVar(&q.from, "from", "", "start of the period (a date, 2026-01-01, or an RFC 3339 time)")
	f.StringVar(&q.to, "to", "", "end of the period (a date, which is included, or an RFC 3339 time)")
	f.StringVar(&q.requestingState, "requesting-state", "", "only the requests from this state, e.g. KZ")
	f.StringVar(&q.requestedState, "requested-state", "", "only the requests to this state, e.g. UZ")
	return c
}

// statisticsView shows one row per pair; the counts by status and the
// refusals by ground as NAME=N lists, times as durations.
type statisticsView struct{}

func (statisticsView) table(w io.Writer, v any) error {
	m, _ := v.(map[string]any)
	pairs, _ := m["pairs"].([]any)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tBY STATUS\tTO ACKNOWLEDGE (MEDIAN)\t(MEAN)\tTO ANSWER (MEDIAN)\t(MEAN)\tOVERDUE\tEMERGENCY\tOTHER\tREFUSALS\tDATA CATEGORIES\tITEM OUTCOMES")
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(lookup(p, "requestingState"), 0), printable(lookup(p, "requestedState"), 0),
			printable(counts(p, "byStatus"), 0),
			medianOf(p, "medianTimeToAcknowledge", "acknowledgedCount"), medianOf(p, "meanTimeToAcknowledge", ""),
			medianOf(p, "medianTimeToAnswer", "answeredCount"), medianOf(p, "meanTimeToAnswer", ""),
			printable(lookup(p, "overdue"), 0), count(p, "emergencyCount"), count(p, "nonEmergencyCount"),
			printable(counts(p, "refusalsByGround"), 0), printable(counts(p, "byDataCategory"), 0), printable(counts(p, "executionItemsByOutcome"), 0))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(pairs) == 0 {
		_, err := fmt.Fprintln(w, "(no requests between these states in the period)")
		return err
	}
	return nil
}

// counts shows a map of counts as NAME=N, sorted by name.
func counts(v any, key string) string {
	m, _ := v.(map[string]any)
	c, _ := m[key].(map[string]any)
	var parts []string
	for _, k := range sortedKeys(c) {
		// A data category is free text: quoted when it holds a space or
		// an =, so that the list still reads as NAME=N pairs.
		name := k
		if k == "" || strings.ContainsAny(k, " =\"") {
			name = strconv.Quote(k)
		}
		parts = append(parts, name+"="+scalar(c[k]))
	}
	return strings.Join(parts, " ")
}

// count shows a count the API gives as a number, 0 when the answer
// leaves it out.
func count(v any, key string) string {
	m, _ := v.(map[string]any)
	if n := scalar(m[key]); n != "" {
		return n
	}
	return "0"
}

// medianOf shows a median or mean time (a protobuf Duration, "7200s") with
// the number of requests it is taken over when countKey is given; "-" when
// there are none.
func medianOf(v any, durationKey, countKey string) string {
	m, _ := v.(map[string]any)
	s, ok := m[durationKey].(string)
	if !ok {
		return "-"
	}
	shown := printable(s, 0)
	if d, err := time.ParseDuration(s); err == nil {
		shown = roundDuration(d)
	}
	if n := scalar(m[countKey]); n != "" {
		shown += " (of " + n + ")"
	}
	return shown
}

func roundDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
