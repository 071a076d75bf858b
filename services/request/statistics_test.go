package request

import (
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// TestMedian checks the medians of few samples, where an off-by-one shows:
// none is 0 (the API then leaves the median out), one is itself, two their
// mean, and the order of the samples does not matter.
func TestMedian(t *testing.T) {
	const h = time.Hour
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"no sample", nil, 0},
		{"one sample", []time.Duration{7 * time.Second}, 7 * time.Second},
		{"two samples: their mean", []time.Duration{3 * h, 1 * h}, 2 * h},
		{"two samples an odd number of nanoseconds apart", []time.Duration{1, 4}, 2},
		{"three samples, unsorted", []time.Duration{9 * h, 1 * h, 5 * h}, 5 * h},
		{"four samples", []time.Duration{4 * h, 1 * h, 2 * h, 100 * h}, 3 * h},
		{"two huge samples do not overflow", []time.Duration{1<<62 + 2, 1<<62 + 4}, 1<<62 + 3},
	}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("%s: median(%v) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestStatisticsQueryDefaults checks the period applied when the caller
// gives none or half of one.
func TestStatisticsQueryDefaults(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	p := identity.Principal{State: "KZ"}
	q, err := statisticsRowsQuery(StatisticsQuery{RequestedState: "uz"}, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (StatisticsRowsQuery{Start: now.AddDate(-1, 0, 0), End: now, Involving: "KZ", RequestedState: "UZ"}); q != want {
		t.Errorf("no period: %+v, want %+v", q, want)
	}
	end := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	if q, err = statisticsRowsQuery(StatisticsQuery{End: end}, p, now); err != nil || !q.Start.Equal(end.AddDate(-1, 0, 0)) {
		t.Errorf("only an end: %+v, %v; want a start a year before it", q, err)
	}
	// Exactly ten years is allowed; a second more is not.
	start := now.AddDate(-10, 0, 0)
	if _, err := statisticsRowsQuery(StatisticsQuery{Start: start}, p, now); err != nil {
		t.Errorf("ten years: %v", err)
	}
	_, err = statisticsRowsQuery(StatisticsQuery{Start: start.Add(-time.Second)}, p, now)
	if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), "longer than 10 years") {
		t.Errorf("ten years and a second: %v", err)
	}
}

// TestMean checks the mean's truncation and that long samples do not
// overflow the sum.
func TestMean(t *testing.T) {
	const h = time.Hour
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"no sample", nil, 0},
		{"one sample", []time.Duration{7 * time.Second}, 7 * time.Second},
		{"three samples", []time.Duration{1 * h, 2 * h, 9 * h}, 4 * h},
		{"truncated to the nanosecond", []time.Duration{1, 2}, 1},
		{"remainders add up", []time.Duration{2, 2, 2, 3, 3, 3}, 2},
		{"three huge samples do not overflow", []time.Duration{1 << 62, 1 << 62, 1<<62 + 3}, 1<<62 + 1},
	}
	for _, tc := range tests {
		if got := meanDuration(tc.in); got != tc.want {
			t.Errorf("%s: meanDuration(%v) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}
