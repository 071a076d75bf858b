// Package storetest is the conformance suite of audit.Index. Every backend
// runs the same suite, so that auditors get the same answers from the
// embedded and the scaled-out deployments.
package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Run runs the suite. newStore must return an empty index of its own each
// time it is called (subtests run in parallel) and release it in t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) audit.Index) {
	check.Suite(t, newStore, []check.Case[func(t *testing.T) audit.Index]{
		{Name: "RoundTrip", Run: testRoundTrip},
		{Name: "PutIdempotent", Run: testPutIdempotent},
		{Name: "PutConcurrent", Run: testPutConcurrent},
		{Name: "PutConflict", Run: testPutConflict},
		{Name: "PutInvalid", Run: testPutInvalid},
		{Name: "GetNotFound", Run: testGetNotFound},
		{Name: "Lookup", Run: testLookup},
		{Name: "ListByState", Run: testListByState},
		{Name: "ListByFilter", Run: testListByFilter},
		{Name: "ListUnderResource", Run: testListUnderResource},
		{Name: "ListPaging", Run: testListPaging},
		{Name: "ListNewestFirst", Run: testListNewestFirst},
		{Name: "SizeAndCount", Run: testSizeAndCount},
	})
}

// t0 is the time of the first fixture event; the others follow a minute
// apart. Its microseconds make a loss of precision visible.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// plus5 is the zone of Central Asia's UTC+5 states, in which a producer might
// write a time.
var plus5 = time.FixedZone("UTC+5", 5*3600)

const (
	submit       = "/comity.request.v1.RequestService/SubmitRequest"
	accept       = "/comity.request.v1.RequestService/AcceptRequest"
	attachment   = "/comity.request.v1.RequestService/GetAttachment"
	updateAgency = "/comity.directory.v1.DirectoryService/UpdateAgency"
	importDir    = "/comity.directory.v1.DirectoryService/ImportDirectory"
)

// eventID returns a fixed UUIDv7-shaped id for event n.
func eventID(n int) string { return fmt.Sprintf("0195a3c4-5e00-7000-8000-%012d", n) }

func digest(n int) string { return fmt.Sprintf("%064x", n) }

// fixtures returns six events, to be logged at indexes 0 to 5:
//
//	0 kz-alice submits requests/r1 (KZ, UZ), with a transition
//	1 uz-bob reads an attachment of requests/r1 (KZ, UZ)
//	2 an unauthenticated call to the directory, denied (TJ)
//	3 tj-carol is refused a submission of requests/r2 (KG, TJ)
//	4 ops-admin imports the directory: no agency, resource or states
//	5 uz-bob accepts requests/r1 (KZ, UZ), its time written in UTC+5
func fixtures() []trail.Event {
	kzAlice := trail.Actor{Subject: "kz-alice", Agency: "kz-gpo", Roles: []string{"prosecutor", "supervisor"}, Issuer: "https://idp.kz.example/"}
	uzBob := trail.Actor{Subject: "uz-bob", Agency: "uz-gpo", Roles: []string{"prosecutor"}, Issuer: "https://idp.uz.example/"}
	tjCarol := trail.Actor{Subject: "tj-carol", Agency: "tj-gpo", Roles: []string{"investigator"}, Issuer: "https://idp.tj.example/"}
	admin := trail.Actor{Subject: "ops-admin", Roles: []string{"admin"}, Issuer: "https://idp.comity.example/"}
	return []trail.Event{
		{ID: eventID(0), Time: at(0), Actor: kzAlice, Service: "comity-request", Action: submit,
			Resource: "requests/r1", States: []string{"KZ", "UZ"}, Outcome: "OK",
			Transition: &trail.Transition{From: "DRAFT", To: "SUBMITTED"}, RequestHMAC: digest(0)},
		{ID: eventID(1), Time: at(1), Actor: uzBob, Service: "comity-request", Action: attachment,
			Resource: "requests/r1/attachments/a1", States: []string{"KZ", "UZ"}, Outcome: "OK", RequestHMAC: digest(1),
			Purpose: trail.PurposeReview},
		{ID: eventID(2), Time: at(2), Service: "comity-directory", Action: updateAgency,
			Resource: "agencies/tj-gpo", States: []string{"TJ"}, Outcome: "UNAUTHENTICATED", RequestHMAC: digest(2)},
		{ID: eventID(3), Time: at(3), Actor: tjCarol, Service: "comity-request", Action: submit,
			Resource: "requests/r2", States: []string{"KG", "TJ"}, Outcome: "PERMISSION_DENIED", RequestHMAC: digest(3)},
		{ID: eventID(4), Time: at(4), Actor: admin, Service: "comity-directory", Action: importDir,
			Outcome: "OK", RequestHMAC: digest(4)},
		{ID: eventID(5), Time: at(5).In(plus5), Actor: uzBob, Service: "comity-request", Action: accept,
			Resource: "requests/r1", States: []string{"KZ", "UZ"}, Outcome: "OK",
			Transition: &trail.Transition{From: "SUBMITTED", To: "ACCEPTED"}, RequestHMAC: digest(5)},
	}
}

// newEntry returns e logged at index.
func newEntry(t *testing.T, index uint64, e trail.Event) audit.Entry {
	t.Helper()
	leaf, err := audit.Leaf(e)
	if err != nil {
		t.Fatal(err)
	}
	return audit.Entry{Index: index, Event: e, Leaf: leaf}
}

// fixtureEntries returns the fixtures at indexes 0 to 5.
func fixtureEntries(t *testing.T) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for i, e := range fixtures() {
		out = append(out, newEntry(t, uint64(i), e))
	}
	return out
}

// want is e as the index returns it: the same leaf, and the event it holds
// with its time in UTC.
func want(e audit.Entry) audit.Entry {
	e.Event.Time = e.Event.Time.UTC()
	return e
}

func wantAll(es []audit.Entry) []audit.Entry {
	return check.Each(es, want)
}

// checkListed checks that List of q returns the entries of es (the entry
// of index i at es[i]) at the indexes wantIndexes, in that order, as the
// index returns them.
func checkListed(t *testing.T, s audit.Index, es []audit.Entry, q audit.EntryQuery, wantIndexes []uint64) {
	t.Helper()
	got := list(t, s, q)
	check.Equal(t, "indexes", indexes(got), wantIndexes)
	for _, e := range got {
		check.Equal(t, fmt.Sprintf("entry %d", e.Index), e, want(es[e.Index]))
	}
}

// seeded puts the fixtures into s.
func seeded(t *testing.T, s audit.Index) []audit.Entry {
	t.Helper()
	es := fixtureEntries(t)
	if err := s.Put(t.Context(), es); err != nil {
		t.Fatalf("Put fixtures: %v", err)
	}
	return es
}

func list(t *testing.T, s audit.Index, q audit.EntryQuery) []audit.Entry {
	t.Helper()
	es, err := s.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return es
}

func indexes(es []audit.Entry) []uint64 {
	return check.Each(es, func(e audit.Entry) uint64 { return e.Index })
}

func checkSize(t *testing.T, s audit.Index, size, count uint64) {
	t.Helper()
	if got, err := s.Size(t.Context()); err != nil || got != size {
		t.Errorf("Size = %d, %v; want %d", got, err, size)
	}
	if got, err := s.Count(t.Context()); err != nil || got != count {
		t.Errorf("Count = %d, %v; want %d", got, err, count)
	}
}

// checkUnchanged checks that s holds exactly the fixtures es.
func checkUnchanged(t *testing.T, s audit.Index, es []audit.Entry) {
	t.Helper()
	check.Equal(t, "List after the call", list(t, s, audit.EntryQuery{AfterIndex: -1}), wantAll(es))
	checkSize(t, s, uint64(len(es)), uint64(len(es)))
	for _, st := range []string{"KZ", "UZ", "TJ", "KG"} {
		var want []uint64
		for _, e := range es {
			if slices.Contains(e.Event.States, st) {
				want = append(want, e.Index)
			}
		}
		check.Equal(t, "List state "+st+" after the call", indexes(list(t, s, audit.EntryQuery{State: st, AfterIndex: -1})), want)
	}
}

func testRoundTrip(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	es := seeded(t, s)
	for _, e := range es {
		got, err := s.Get(t.Context(), e.Index)
		if err != nil {
			t.Fatalf("Get(%d): %v", e.Index, err)
		}
		check.Equal(t, fmt.Sprintf("Get(%d)", e.Index), got, want(e))
		if string(got.Leaf) != string(e.Leaf) {
			t.Errorf("Get(%d) leaf %s; want the logged bytes %s", e.Index, got.Leaf, e.Leaf)
		}
		if got.Event.Time.Location() != time.UTC || !got.Event.Time.Equal(e.Event.Time) {
			t.Errorf("Get(%d) time %v; want %v in UTC", e.Index, got.Event.Time, e.Event.Time)
		}
	}
	check.Equal(t, "List", list(t, s, audit.EntryQuery{AfterIndex: -1}), wantAll(es))
}

func testPutIdempotent(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	es := seeded(t, s)
	ctx := t.Context()
	if err := s.Put(ctx, es); err != nil {
		t.Errorf("Put of the same entries again: %v", err)
	}
	reversed := slices.Clone(es[2:5])
	slices.Reverse(reversed)
	if err := s.Put(ctx, reversed); err != nil {
		t.Errorf("Put of some of them again, in another order: %v", err)
	}
	if err := s.Put(ctx, []audit.Entry{es[1], es[1]}); err != nil {
		t.Errorf("Put of one entry twice in a call: %v", err)
	}
	if err := s.Put(ctx, nil); err != nil {
		t.Errorf("Put of no entries: %v", err)
	}
	// Same index, same event id: recorded, whatever else the call says.
	changed := es[0].Event
	changed.Outcome, changed.States = "INTERNAL", []string{"TJ"}
	if err := s.Put(ctx, []audit.Entry{newEntry(t, 0, changed)}); err != nil {
		t.Errorf("Put of a recorded index and event id with another leaf: %v", err)
	}
	checkUnchanged(t, s, es)
	if got := list(t, s, audit.EntryQuery{AfterIndex: -1, Filter: query.Compare{Field: "outcome", Op: query.Eq, Value: "INTERNAL"}}); len(got) != 0 {
		t.Errorf("the repeated Put changed the indexed outcome: %v", indexes(got))
	}
}

func testPutConcurrent(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	es := fixtureEntries(t)
	const n = 8
	var wg sync.WaitGroup
	errList := make([]error, n)
	for i := range n {
		wg.Go(func() {
			call := slices.Clone(es)
			if i%2 == 1 {
				slices.Reverse(call)
			}
			errList[i] = s.Put(t.Context(), call)
		})
	}
	wg.Wait()
	for i, err := range errList {
		if err != nil {
			t.Errorf("concurrent Put #%d: %v", i, err)
		}
	}
	checkUnchanged(t, s, es)
}

func testPutConflict(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	es := seeded(t, s)
	// fresh is a new event at the next index: valid on its own, so that a
	// refused call shows whether it was written.
	fresh := newEntry(t, 6, trail.Event{ID: eventID(6), Time: at(6), Service: "comity-request",
		Action: submit, Resource: "requests/r3", States: []string{"AZ"}, Outcome: "OK"})
	other := trail.Event{ID: eventID(7), Time: at(7), Service: "comity-request", Action: submit, States: []string{"AZ"}, Outcome: "OK"}
	tests := []struct {
		name  string
		entry audit.Entry
	}{
		{"another event at a recorded index", newEntry(t, 0, other)},
		{"a recorded event at another index", newEntry(t, 7, es[0].Event)},
		{"two events at one index of the call", newEntry(t, 6, other)},
		{"one event at two indexes of the call", newEntry(t, 7, fresh.Event)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refusedPut(t, s, es, errs.ErrConflict, fresh, tc.entry)
			if got, err := s.Lookup(t.Context(), []string{fresh.Event.ID, other.ID}); err != nil || len(got) != 0 {
				t.Errorf("Lookup after the refused Put = %v, %v; want none", got, err)
			}
			if got := list(t, s, audit.EntryQuery{State: "AZ", AfterIndex: -1}); len(got) != 0 {
				t.Errorf("List state AZ after the refused Put = %v; want none", indexes(got))
			}
		})
	}
}

func testPutInvalid(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	es := seeded(t, s)
	fresh := newEntry(t, 6, trail.Event{ID: eventID(6), Time: at(6), Service: "comity-request",
		Action: submit, States: []string{"AZ"}, Outcome: "OK"})
	mismatched := newEntry(t, 7, trail.Event{ID: eventID(7), Time: at(7), Service: "comity-request", Outcome: "OK"})
	mismatched.Event.ID = eventID(8)
	tests := []struct {
		name  string
		entry audit.Entry
	}{
		{"no leaf", audit.Entry{Index: 7, Event: fixtures()[0]}},
		{"leaf not an event", audit.Entry{Index: 7, Leaf: []byte("not json")}},
		{"leaf without an event id", audit.Entry{Index: 7, Leaf: []byte(`{"service":"comity-request"}`)}},
		{"event not the leaf's", mismatched},
		{"index beyond int64", newEntry(t, math.MaxInt64+1, trail.Event{ID: eventID(9), Time: at(9), Outcome: "OK"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refusedPut(t, s, es, errs.ErrInvalid, fresh, tc.entry)
		})
	}
}

// refusedPut checks that a Put of the entries fails with code and writes
// nothing of the call: neither the first entry's index nor any change to es,
// the entries stored before.
func refusedPut(t *testing.T, s audit.Index, es []audit.Entry, code *errs.Error, entries ...audit.Entry) {
	t.Helper()
	check.Code(t, "Put", s.Put(t.Context(), entries), code)
	if _, err := s.Get(t.Context(), entries[0].Index); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Get(%d) after the refused Put: %v; want not found: nothing of the call is written", entries[0].Index, err)
	}
	checkUnchanged(t, s, es)
}

func testGetNotFound(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	for _, index := range []uint64{0, math.MaxUint64} {
		_, err := s.Get(t.Context(), index)
		check.Code(t, fmt.Sprintf("Get(%d) on an empty index", index), err, errs.ErrNotFound)
	}
	seeded(t, s)
	for _, index := range []uint64{6, math.MaxInt64, math.MaxUint64} {
		_, err := s.Get(t.Context(), index)
		check.Code(t, fmt.Sprintf("Get(%d)", index), err, errs.ErrNotFound)
	}
}

func testLookup(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	ctx := t.Context()
	if got, err := s.Lookup(ctx, []string{eventID(0)}); err != nil || len(got) != 0 {
		t.Errorf("Lookup on an empty index = %v, %v; want none", got, err)
	}
	seeded(t, s)
	tests := []struct {
		name string
		ids  []string
		want map[string]uint64
	}{
		{"none", nil, map[string]uint64{}},
		{"known", []string{eventID(5), eventID(0)}, map[string]uint64{eventID(0): 0, eventID(5): 5}},
		{"unknown", []string{eventID(6), "not-an-id"}, map[string]uint64{}},
		{"known and unknown, repeated", []string{eventID(6), eventID(3), eventID(3)}, map[string]uint64{eventID(3): 3}},
	}
	// A full batch of a relay: the six fixtures among 994 unknown ids.
	batch := struct {
		name string
		ids  []string
		want map[string]uint64
	}{name: "1000 ids", want: map[string]uint64{}}
	for i := range 994 {
		batch.ids = append(batch.ids, eventID(1000+i))
	}
	for i := range 6 {
		batch.ids = slices.Insert(batch.ids, i*150, eventID(i))
		batch.want[eventID(i)] = uint64(i)
	}
	tests = append(tests, batch)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Lookup(t.Context(), tc.ids)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			check.Equal(t, "Lookup", got, tc.want)
		})
	}
}

func testListByState(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	seeded(t, s)
	tests := []struct {
		state string
		want  []uint64
	}{
		{"KZ", []uint64{0, 1, 5}},
		{"UZ", []uint64{0, 1, 5}},
		{"TJ", []uint64{2, 3}},
		{"KG", []uint64{3}},
		{"TM", nil},
		{"", []uint64{0, 1, 2, 3, 4, 5}},
	}
	for _, tc := range tests {
		t.Run("state "+tc.state, func(t *testing.T) {
			got := list(t, s, audit.EntryQuery{State: tc.state, AfterIndex: -1})
			check.Equal(t, "indexes", indexes(got), tc.want)
			for _, e := range got {
				if tc.state != "" && !slices.Contains(e.Event.States, tc.state) {
					t.Errorf("entry %d with states %v listed for %s", e.Index, e.Event.States, tc.state)
				}
			}
		})
	}
}

func testListByFilter(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	es := seeded(t, s)
	eq := func(field string, v any) query.Expr { return query.Compare{Field: field, Op: query.Eq, Value: v} }
	cmp := func(field string, op query.Op, v any) query.Expr {
		return query.Compare{Field: field, Op: op, Value: v}
	}
	tests := []struct {
		name   string
		state  string
		filter query.Expr
		want   []uint64
	}{
		{"resource", "", eq("resource", "requests/r1"), []uint64{0, 5}},
		{"no resource", "", eq("resource", ""), []uint64{4}},
		{"actor", "", eq("actor", "uz-bob"), []uint64{1, 5}},
		{"unauthenticated actor", "", eq("actor", ""), []uint64{2}},
		{"agency", "", eq("agency", "kz-gpo"), []uint64{0}},
		{"action", "", eq("action", submit), []uint64{0, 3}},
		{"outcome", "", eq("outcome", "PERMISSION_DENIED"), []uint64{3}},
		{"outcome not OK", "", cmp("outcome", query.Ne, "OK"), []uint64{2, 3}},
		{"service", "", eq("service", "comity-directory"), []uint64{2, 4}},
		{"purpose of a read", "", eq("purpose", "review"), []uint64{1}},
		{"no purpose", "", eq("purpose", ""), []uint64{0, 2, 3, 4, 5}},
		{"no match", "", eq("resource", "requests/r9"), nil},
		{"time equal", "", eq("time", at(1)), []uint64{1}},
		{"time before", "", cmp("time", query.Lt, at(1)), []uint64{0}},
		{"time range", "", query.And{Left: cmp("time", query.Ge, at(2)), Right: cmp("time", query.Lt, at(4))},
			[]uint64{2, 3}},
		{"time after, bound in UTC+5", "", cmp("time", query.Gt, at(4).In(plus5)), []uint64{5}},
		{"time written in UTC+5", "", cmp("time", query.Ge, at(5)), []uint64{5}},
		{"time a microsecond late", "", cmp("time", query.Ge, at(1).Add(time.Microsecond)), []uint64{2, 3, 4, 5}},
		{"and", "", query.And{Left: eq("service", "comity-request"), Right: eq("outcome", "OK")},
			[]uint64{0, 1, 5}},
		{"state and filter", "TJ", eq("outcome", "PERMISSION_DENIED"), []uint64{3}},
		// Without parentheses around the or, 4 (no state) would be listed.
		{"state and or", "TJ", query.Or{Left: eq("actor", ""), Right: eq("service", "comity-directory")},
			[]uint64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkListed(t, s, es, audit.EntryQuery{State: tc.state, Filter: tc.filter, AfterIndex: -1}, tc.want)
		})
	}
}

// testListUnderResource checks the has operator on resource: a name and
// every name under it, by path segment, and nothing that merely starts
// with the same characters. The names hold the wildcards of LIKE (% and
// _), its usual escape character and a different case, which a LIKE
// pattern built from the value would get wrong.
func testListUnderResource(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	resources := []string{
		0:  "requests/X",
		1:  "requests/X/attachments/Y",
		2:  "requests/X2",
		3:  "requests/X0",
		4:  "requests/X-1",
		5:  "requests/X/attachments/Y/versions/2",
		6:  "requests/x/attachments/Y",
		7:  "requests/a_b%c",
		8:  "requests/a_b%c/attachments/1",
		9:  "requests/aXbYYc",
		10: "requests/aXb%c/attachments/1",
		11: "requests/a_b%cd/attachments/1",
		12: `requests/a\b`,
		13: `requests/a\b/attachments/1`,
		14: "requests/aXb",
		15: "agencies/requests/X",
	}
	var es []audit.Entry
	for i, r := range resources {
		es = append(es, newEntry(t, uint64(i), trail.Event{ID: eventID(i), Time: at(i), Service: "comity-request",
			Action: attachment, Resource: r, States: []string{"KZ"}, Outcome: "OK", RequestHMAC: digest(i)}))
	}
	if err := s.Put(t.Context(), es); err != nil {
		t.Fatalf("Put: %v", err)
	}
	has := func(v string) query.Expr { return query.Compare{Field: "resource", Op: query.Has, Value: v} }
	tests := []struct {
		name   string
		state  string
		filter query.Expr
		want   []uint64
	}{
		{"a request and what is under it", "KZ", has("requests/X"), []uint64{0, 1, 5}},
		{"an attachment and what is under it", "", has("requests/X/attachments/Y"), []uint64{1, 5}},
		{"% and _ are characters", "", has("requests/a_b%c"), []uint64{7, 8}},
		{"the escape character of LIKE is a character", "", has(`requests/a\b`), []uint64{12, 13}},
		{"nothing under a name of no event", "", has("requests/Z"), nil},
		{"another state's scope", "UZ", has("requests/X"), nil},
		{"NOT", "", query.And{Left: query.Not{X: has("requests/X")}, Right: has("requests/X/attachments/Y")}, nil},
		{"OR", "", query.Or{Left: has("requests/X2"), Right: has("requests/X0")}, []uint64{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkListed(t, s, es, audit.EntryQuery{State: tc.state, Filter: tc.filter, AfterIndex: -1}, tc.want)
			// Newest first, the same entries.
			desc := list(t, s, audit.EntryQuery{State: tc.state, Filter: tc.filter, AfterIndex: -1, Descending: true})
			slices.Reverse(desc)
			check.Equal(t, "indexes newest first, reversed", indexes(desc), tc.want)
		})
	}
}

func testListPaging(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	const n = 250
	var es []audit.Entry
	var kz []uint64
	for i := range n {
		states := []string{"TJ"}
		if i%3 == 0 {
			states = []string{"KZ", "UZ"}
			kz = append(kz, uint64(i))
		}
		es = append(es, newEntry(t, uint64(i), trail.Event{ID: eventID(i), Time: at(i), Service: "comity-request",
			Action: submit, Resource: fmt.Sprintf("requests/r%d", i), States: states, Outcome: "OK"}))
	}
	// The later half first: the index fills out of order.
	if err := s.Put(t.Context(), es[n/2:]); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkSize(t, s, n, n-n/2)
	if err := s.Put(t.Context(), es[:n/2]); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkSize(t, s, n, n)

	all := make([]uint64, n)
	for i := range all {
		all[i] = uint64(i)
	}
	var kzLate []uint64 // KZ entries from minute 100 on
	for _, i := range kz {
		if i >= 100 {
			kzLate = append(kzLate, i)
		}
	}
	late := query.Compare{Field: "time", Op: query.Ge, Value: at(100)}
	tests := []struct {
		name   string
		state  string
		filter query.Expr
		limit  int
		want   []uint64
		pages  int
	}{
		{"all by 100", "", nil, 100, all, 3},
		{"all by 1000", "", nil, 1000, all, 1},
		{"all by 250", "", nil, 250, all, 1},
		{"state by 30", "KZ", nil, 30, kz, 3},
		{"state by 7", "KZ", nil, 7, kz, 12},
		{"state and time by 10", "KZ", late, 10, kzLate, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			after, pages := int64(-1), 0
			for {
				page := list(t, s, audit.EntryQuery{State: tc.state, Filter: tc.filter, AfterIndex: after, Limit: tc.limit})
				if len(page) > tc.limit {
					t.Fatalf("page of %d entries; limit %d", len(page), tc.limit)
				}
				if len(page) == 0 {
					break
				}
				pages++
				for _, e := range page {
					check.Equal(t, fmt.Sprintf("entry %d", e.Index), e, want(es[e.Index]))
				}
				got = append(got, indexes(page)...)
				after = int64(page[len(page)-1].Index)
				if pages > n {
					t.Fatal("paging does not end")
				}
			}
			check.Equal(t, "indexes paged through", got, tc.want)
			if pages != tc.pages {
				t.Errorf("%d non-empty pages; want %d", pages, tc.pages)
			}
		})
	}
	t.Run("no limit", func(t *testing.T) {
		check.Equal(t, "indexes", indexes(list(t, s, audit.EntryQuery{AfterIndex: -1})), all)
	})
	t.Run("after 0", func(t *testing.T) {
		check.Equal(t, "indexes", indexes(list(t, s, audit.EntryQuery{AfterIndex: 0, Limit: 2})), []uint64{1, 2})
	})
	t.Run("after the last", func(t *testing.T) {
		check.Equal(t, "indexes", indexes(list(t, s, audit.EntryQuery{AfterIndex: n - 1})), nil)
	})
}

// testListNewestFirst pages through the entries newest first, each page
// below the last index of the one before, with a state and a filter, as
// an auditor's console lists the trail.
func testListNewestFirst(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	const n = 100
	var es []audit.Entry
	var kz []uint64 // newest first
	for i := range n {
		states := []string{"TJ"}
		if i%3 == 0 {
			states = []string{"KZ"}
			kz = append([]uint64{uint64(i)}, kz...)
		}
		es = append(es, newEntry(t, uint64(i), trail.Event{ID: eventID(i), Time: at(i), Service: "comity-request",
			Action: submit, Resource: fmt.Sprintf("requests/r%d", i), States: states, Outcome: "OK"}))
	}
	if err := s.Put(t.Context(), es); err != nil {
		t.Fatalf("Put: %v", err)
	}
	var kzEarly []uint64 // KZ entries before minute 50, newest first
	for _, i := range kz {
		if i < 50 {
			kzEarly = append(kzEarly, i)
		}
	}
	early := query.Compare{Field: "time", Op: query.Lt, Value: at(50)}
	for _, tc := range []struct {
		name   string
		filter query.Expr
		limit  int
		want   []uint64
	}{
		{"state by 7", nil, 7, kz},
		{"state by 34", nil, 34, kz},
		{"state and time by 5", early, 5, kzEarly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			var before uint64
			for pages := 0; ; pages++ {
				page := list(t, s, audit.EntryQuery{State: "KZ", Filter: tc.filter, AfterIndex: audit.FromStart,
					Limit: tc.limit, Descending: true, BeforeIndex: before})
				if len(page) > tc.limit {
					t.Fatalf("page of %d entries; limit %d", len(page), tc.limit)
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					check.Equal(t, fmt.Sprintf("entry %d", e.Index), e, want(es[e.Index]))
				}
				got = append(got, indexes(page)...)
				before = page[len(page)-1].Index
				if before == 0 || pages > n {
					break
				}
			}
			check.Equal(t, "indexes paged through, newest first", got, tc.want)
		})
	}
	t.Run("below 1", func(t *testing.T) {
		check.Equal(t, "indexes", indexes(list(t, s, audit.EntryQuery{AfterIndex: audit.FromStart, Descending: true, BeforeIndex: 1})), []uint64{0})
	})
	t.Run("between", func(t *testing.T) {
		check.Equal(t, "indexes", indexes(list(t, s, audit.EntryQuery{AfterIndex: 10, Descending: true, BeforeIndex: 14})), []uint64{13, 12, 11})
	})
}

func testSizeAndCount(t *testing.T, newStore func(t *testing.T) audit.Index) {
	s := newStore(t)
	checkSize(t, s, 0, 0)
	es := fixtureEntries(t)
	steps := []struct {
		name        string
		put         []audit.Entry
		size, count uint64
	}{
		{"first two", es[:2], 2, 2},
		{"one past a hole", es[5:], 6, 3},
		{"the hole", es[2:5], 6, 6},
		{"again", es, 6, 6},
	}
	for _, st := range steps {
		if err := s.Put(t.Context(), st.put); err != nil {
			t.Fatalf("Put %s: %v", st.name, err)
		}
		t.Run(st.name, func(t *testing.T) { checkSize(t, s, st.size, st.count) })
	}
}
