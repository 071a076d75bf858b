package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// statisticsQuery holds what the statistics command asks for. The
// gateway of this version gives statistics over all time for every pair
// of states involving the caller's: the pair is chosen here, from the
// answer, and a period cannot be asked for yet (statisticsPeriodSupported).
type statisticsQuery struct {
	from, to                        string
	requestingState, requestedState string
}

// statisticsPeriodSupported says whether the gateway takes a period. Issue
// 12 item 8 adds it; until then --from and --to are refused rather than
// silently ignored.
const statisticsPeriodSupported = false

func newStatisticsCmd(g *globals) *cobra.Command {
	var q statisticsQuery
	c := &cobra.Command{
		Use:   "statistics",
		Short: "Aggregates per pair of states involving yours: counts by status, times to answer, overdue, refusals",
		Long: `Aggregates per ordered pair of states involving your state (no case data): the number of
requests by status, the median time to acknowledge and to answer, how many are overdue, and the
refusals by ground. --requesting-state and --requested-state choose a pair; --from and --to a
period (dates or RFC 3339 times).`,
		Example: "  comityctl statistics\n  comityctl statistics --requesting-state KZ --requested-state UZ --output json",
		Aliases: []string{"stats"},
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			for _, f := range []struct{ flag, v string }{{"from", q.from}, {"to", q.to}} {
				if f.v == "" {
					continue
				}
				if _, err := parseTime(f.flag, f.v); err != nil {
					return err
				}
				if !statisticsPeriodSupported {
					return fmt.Errorf("%w: --%s: this gateway gives statistics over all time only (a period comes with issue 12 item 8); leave out --from and --to", errUsage, f.flag)
				}
			}
			for _, s := range []*string{&q.requestingState, &q.requestedState} {
				*s = strings.ToUpper(strings.TrimSpace(*s))
				if *s != "" && len(*s) != 2 {
					return fmt.Errorf("%w: %q is not a state's ISO code, e.g. UZ", errUsage, *s)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/statistics", nil)
			if err != nil {
				return err
			}
			if data, err = q.pick(data); err != nil {
				return err
			}
			return g.print(data, statisticsView{})
		},
	}
	f := c.Flags()
	f.StringVar(&q.from, "from", "", "start of the period (a date, 2026-01-01, or an RFC 3339 time)")
	f.StringVar(&q.to, "to", "", "end of the period (a date or an RFC 3339 time)")
	f.StringVar(&q.requestingState, "requesting-state", "", "only the pairs from this state, e.g. KZ")
	f.StringVar(&q.requestedState, "requested-state", "", "only the pairs to this state, e.g. UZ")
	return c
}

// pick keeps the pairs the state flags choose, every field of them as the
// gateway sent it.
func (q statisticsQuery) pick(data []byte) ([]byte, error) {
	if q.requestingState == "" && q.requestedState == "" {
		return data, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the answer is not statistics: %w", err)
	}
	var pairs []json.RawMessage
	if raw, ok := m["pairs"]; ok {
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, fmt.Errorf("the answer is not statistics: %w", err)
		}
	}
	kept := []json.RawMessage{}
	for _, p := range pairs {
		var s struct{ RequestingState, RequestedState string }
		if err := json.Unmarshal(p, &s); err != nil {
			return nil, fmt.Errorf("the answer is not statistics: %w", err)
		}
		if (q.requestingState == "" || strings.EqualFold(s.RequestingState, q.requestingState)) &&
			(q.requestedState == "" || strings.EqualFold(s.RequestedState, q.requestedState)) {
			kept = append(kept, p)
		}
	}
	out, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	m["pairs"] = out
	return json.Marshal(m)
}

// statisticsView shows one row per pair; the counts by status and the
// refusals by ground as NAME=N lists, times as durations.
type statisticsView struct{}

func (statisticsView) table(w io.Writer, v any) error {
	m, _ := v.(map[string]any)
	pairs, _ := m["pairs"].([]any)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tBY STATUS\tTO ACKNOWLEDGE (MEDIAN)\tTO ANSWER (MEDIAN)\tOVERDUE\tREFUSALS")
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(lookup(p, "requestingState"), 0), printable(lookup(p, "requestedState"), 0),
			printable(counts(p, "byStatus"), 0), durationOf(p, "medianToAcknowledge", "medianHoursToAcknowledge"),
			durationOf(p, "medianToAnswer", "medianHoursToAnswer"), printable(lookup(p, "overdue"), 0), printable(counts(p, "refusalsByGround"), 0))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(pairs) == 0 {
		_, err := fmt.Fprintln(w, "(no requests between these states)")
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
		parts = append(parts, k+"="+scalar(c[k]))
	}
	return strings.Join(parts, " ")
}

// durationOf shows a median time: a protobuf Duration ("7200s") under
// durationKey, or else a number of hours under hoursKey (what this
// version of the API sends), as a rounded duration.
func durationOf(v any, durationKey, hoursKey string) string {
	m, _ := v.(map[string]any)
	if s, ok := m[durationKey].(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			return roundDuration(d)
		}
		return printable(s, 0)
	}
	if h := scalar(m[hoursKey]); h != "" {
		if f, err := strconv.ParseFloat(h, 64); err == nil {
			return roundDuration(time.Duration(f * float64(time.Hour)))
		}
	}
	return "-"
}

func roundDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
