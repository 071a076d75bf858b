package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
)

// base is the create time of r01 in listed; hours after it those of the
// others.
var base = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func hours(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

// listed is the fixture of the List tests, created in this order, so that
// the references of UZ are r04 UZ-2026-000001, r05 -000002, r10 -000003. r05
// and r11 have the same create time. A zero ackBy or answerBy hour means the
// deadline is not set.
var listed = []struct {
	id, state, agency, owner string
	toState, toAgency        string
	status                   request.Status
	transmitted              bool
	ackBy, answerBy, created int
}{
	{"r01", "KZ", "kz-gpo", "p-kz-1", "UZ", "uz-gpo", request.Draft, false, 0, 0, 0},
	{"r02", "KZ", "kz-gpo", "p-kz-1", "UZ", "uz-gpo", request.Submitted, false, 0, 0, 1},
	{"r03", "KZ", "kz-cyber", "p-kz-2", "KG", "kg-gpo", request.Transmitted, true, 24, 0, 2},
	{"r04", "UZ", "uz-gpo", "p-uz-1", "KZ", "kz-gpo", request.Acknowledged, true, 0, 240, 3},
	{"r05", "UZ", "uz-gpo", "p-uz-1", "KZ", "kz-gpo", request.Accepted, true, 0, 480, 4},
	{"r06", "KG", "kg-gpo", "p-kg-1", "KZ", "kz-gpo", request.Executed, true, 0, 120, 5},
	{"r07", "KZ", "kz-gpo", "p-kz-1", "TJ", "tj-gpo", request.Acknowledged, true, 0, 720, 6},
	{"r08", "TJ", "tj-gpo", "p-tj-1", "UZ", "uz-gpo", request.Draft, false, 0, 0, 7},
	{"r09", "KZ", "kz-gpo", "p-kz-2", "UZ", "uz-gpo", request.Refused, true, 0, 192, 8},
	{"r10", "UZ", "uz-cyber", "p-uz-2", "KZ", "kz-cyber", request.Withdrawn, false, 0, 0, 9},
	{"r11", "KG", "kg-gpo", "p-kg-1", "KZ", "kz-gpo", request.ClarificationRequested, true, 0, 360, 4},
}

// withListed returns a store holding listed.
func withListed(t *testing.T, newStore func(t *testing.T) request.Store) request.Store {
	t.Helper()
	s := newStore(t)
	for _, f := range listed {
		r := draft(f.id, f.state, hours(f.created))
		r.RequestingAgency, r.Owner, r.RequestedState, r.RequestedAgency = f.agency, f.owner, f.toState, f.toAgency
		r.Status = f.status
		if f.transmitted {
			r.TransmitTime = hours(f.created + 1)
		}
		if f.ackBy != 0 {
			r.Deadlines.AcknowledgeBy = hours(f.ackBy)
		}
		if f.answerBy != 0 {
			r.Deadlines.AnswerBy = hours(f.answerBy)
		}
		create(t, s, r)
	}
	return s
}

func eq(field string, v any) query.Expr { return query.Compare{Field: field, Op: query.Eq, Value: v} }

func testFilter(t *testing.T, newStore func(t *testing.T) request.Store) {
	s := withListed(t, newStore)
	status := func(st request.Status) query.Expr { return eq("status", string(st)) }
	tests := []struct {
		name   string
		filter query.Expr
		want   []string
	}{
		{"all", nil, []string{"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"}},
		{"status", status(request.Draft), []string{"r01", "r08"}},
		{"requestingState", eq("requestingState", "KZ"), []string{"r01", "r02", "r03", "r07", "r09"}},
		{"requestedAgency", eq("requestedAgency", "kz-gpo"), []string{"r04", "r05", "r06", "r11"}},
		{"requestingAgency", eq("requestingAgency", "uz-cyber"), []string{"r10"}},
		{"owner", eq("owner", "p-kg-1"), []string{"r06", "r11"}},
		{"reference", eq("reference", "UZ-2026-000002"), []string{"r05"}},
		{"transmitted", eq("transmitted", true), []string{"r03", "r04", "r05", "r06", "r07", "r09", "r11"}},
		{"not transmitted", eq("transmitted", false), []string{"r01", "r02", "r08", "r10"}},
		// A deadline not set matches no comparison, negated or not.
		{"answerBy before", query.Compare{Field: "answerBy", Op: query.Lt, Value: hours(200)}, []string{"r06", "r09"}},
		{"answerBy at or after", query.Compare{Field: "answerBy", Op: query.Ge, Value: hours(240)}, []string{"r04", "r05", "r07", "r11"}},
		{"not answerBy before", query.Not{X: query.Compare{Field: "answerBy", Op: query.Lt, Value: hours(200)}}, []string{"r04", "r05", "r07", "r11"}},
		{"answerBy other zone", query.Compare{Field: "answerBy", Op: query.Le, Value: hours(192).In(tashkent)}, []string{"r06", "r09"}},
		{"acknowledgeBy before", query.Compare{Field: "acknowledgeBy", Op: query.Lt, Value: hours(48)}, []string{"r03"}},
		{"and", query.And{Left: eq("requestingState", "KZ"), Right: eq("transmitted", true)}, []string{"r03", "r07", "r09"}},
		{"three conditions", query.And{Left: eq("requestedState", "KZ"), Right: query.And{Left: eq("transmitted", true),
			Right: query.Compare{Field: "answerBy", Op: query.Lt, Value: hours(400)}}}, []string{"r04", "r06", "r11"}},
		{"or", query.Or{Left: status(request.Acknowledged), Right: status(request.ClarificationRequested)}, []string{"r04", "r07", "r11"}},
		// The form of the Service's overdue condition at hour 300.
		{"overdue", query.Or{
			Left: query.And{Left: status(request.Transmitted), Right: query.Compare{Field: "acknowledgeBy", Op: query.Lt, Value: hours(300)}},
			Right: query.And{
				Left:  query.Or{Left: status(request.Acknowledged), Right: query.Or{Left: status(request.ClarificationRequested), Right: status(request.Accepted)}},
				Right: query.Compare{Field: "answerBy", Op: query.Lt, Value: hours(300)},
			},
		}, []string{"r03", "r04"}},
		{"createTime range", query.And{Left: query.Compare{Field: "createTime", Op: query.Ge, Value: hours(4)},
			Right: query.Compare{Field: "createTime", Op: query.Lt, Value: hours(6)}}, []string{"r05", "r06", "r11"}},
		{"no match", eq("requestingState", "AZ"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.List(t.Context(), request.ListQuery{Filter: tc.filter, Limit: 100})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			check.Equal(t, "requests", requestIDs(page.Requests), tc.want)
			if page.Total != len(tc.want) {
				t.Errorf("Total %d; want %d", page.Total, len(tc.want))
			}
		})
	}
}

func testOrderAndPage(t *testing.T, newStore func(t *testing.T) request.Store) {
	s := withListed(t, newStore)
	tests := []struct {
		name    string
		orderBy []query.Order
		filter  query.Expr
		want    []string
	}{
		{"default is by id", nil, nil, []string{"r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11"}},
		// r05 and r11 were created at the same time: ties are by id.
		{"createTime descending", []query.Order{{Field: "createTime", Desc: true}}, nil,
			[]string{"r10", "r09", "r08", "r07", "r06", "r05", "r11", "r04", "r03", "r02", "r01"}},
		{"requestingState, then createTime descending", []query.Order{{Field: "requestingState"}, {Field: "createTime", Desc: true}}, nil,
			[]string{"r06", "r11", "r09", "r07", "r03", "r02", "r01", "r08", "r10", "r05", "r04"}},
		{"filtered, createTime descending", []query.Order{{Field: "createTime", Desc: true}}, eq("transmitted", true),
			[]string{"r09", "r07", "r06", "r05", "r11", "r04", "r03"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			all, err := s.List(ctx, request.ListQuery{Filter: tc.filter, OrderBy: tc.orderBy})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			check.Equal(t, "order", requestIDs(all.Requests), tc.want)
			check.Pages(t, "List", 3, tc.want, func(offset int) ([]string, int, error) {
				page, err := s.List(ctx, request.ListQuery{Filter: tc.filter, OrderBy: tc.orderBy, Offset: offset, Limit: 3})
				if more := offset+3 < len(tc.want); err == nil && page.More != more {
					t.Errorf("offset %d: More %v; want %v (%d match)", offset, page.More, more, len(tc.want))
				}
				return requestIDs(page.Requests), page.Total, err
			})
			// A bounded count says "more than" rather than counting on.
			if len(tc.want) > 2 {
				page, err := s.List(ctx, request.ListQuery{Filter: tc.filter, OrderBy: tc.orderBy, Limit: 1, CountLimit: 2})
				if err != nil {
					t.Fatalf("List with a count limit: %v", err)
				}
				if page.Total != 3 || !page.More || len(page.Requests) != 1 {
					t.Errorf("count limit 2 over %d matches: Total %d, More %v, %d requests; want 3, true, 1",
						len(tc.want), page.Total, page.More, len(page.Requests))
				}
			}
		})
	}
}

func testStatisticsRows(t *testing.T, newStore func(t *testing.T) request.Store) {
	s := withListed(t, newStore)
	all := request.StatisticsRowsQuery{Start: hours(0), End: hours(100)}
	tests := []struct {
		name string
		q    func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery
		want []string
	}{
		{"every one but the drafts r01 and r08", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery { return q },
			[]string{"r02", "r03", "r04", "r05", "r06", "r07", "r09", "r10", "r11"}},
		// r04 is created at hour 3, r05 and r11 at hour 4, r06 at 5: the
		// start is inclusive and the end exclusive, to the microsecond.
		{"created in [hour 3, hour 5)", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Start, q.End = hours(3), hours(5)
			return q
		}, []string{"r04", "r05", "r11"}},
		{"created in [hour 3 + 1µs, hour 5 + 1µs)", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Start, q.End = hours(3).Add(time.Microsecond), hours(5).Add(time.Microsecond)
			return q
		}, []string{"r05", "r06", "r11"}},
		{"a period before every request", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Start, q.End = hours(-10), hours(0)
			return q
		}, nil},
		{"involving KG", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Involving = "KG"
			return q
		}, []string{"r03", "r06", "r11"}},
		{"involving KZ, requested from UZ", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Involving, q.RequestedState = "KZ", "UZ"
			return q
		}, []string{"r02", "r09"}},
		{"involving KZ, requesting state UZ", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Involving, q.RequestingState = "KZ", "UZ"
			return q
		}, []string{"r04", "r05", "r10"}},
		{"the pair KG → KZ", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.RequestingState, q.RequestedState = "KG", "KZ"
			return q
		}, []string{"r06", "r11"}},
		{"involving TJ: r08 is a draft", func(q request.StatisticsRowsQuery) request.StatisticsRowsQuery {
			q.Involving = "TJ"
			return q
		}, []string{"r07"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.StatisticsRows(t.Context(), tc.q(all))
			if err != nil {
				t.Fatalf("StatisticsRows: %v", err)
			}
			ids := requestIDs(rows)
			slices.Sort(ids)
			check.Equal(t, "requests counted", ids, tc.want)
			for _, r := range rows {
				stored, err := s.Get(t.Context(), r.ID)
				if err != nil {
					t.Fatal(err)
				}
				check.Equal(t, fmt.Sprintf("row %s", r.ID), r, stored)
			}
		})
	}
}
