// Package storetest is the conformance suite of request.Store. Every backend
// runs the same suite, so that the embedded and the scaled-out deployments
// behave alike for the users of cooperation requests.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// outbox is what the stores offer the audit relay beyond request.Store.
type outbox = trail.Outbox

// Run runs the suite. newStore must return an empty store of its own each
// time it is called (subtests run in parallel) and release it in t.Cleanup.
// The store must also have the methods of trail.Outbox.
func Run(t *testing.T, newStore func(t *testing.T) request.Store) {
	check.Suite(t, newStore, []check.Case[func(t *testing.T) request.Store]{
		{Name: "RoundTrip", Run: testRoundTrip},
		{Name: "References", Run: testReferences},
		{Name: "ReferencesConcurrent", Run: testReferencesConcurrent},
		{Name: "Idempotent", Run: testIdempotent},
		{Name: "IdempotentConcurrent", Run: testIdempotentConcurrent},
		{Name: "Update", Run: testUpdate},
		{Name: "UpdateRace", Run: testUpdateRace},
		{Name: "UpdatePair", Run: testUpdatePair},
		{Name: "NotFound", Run: testNotFound},
		{Name: "Filter", Run: testFilter},
		{Name: "OrderAndPage", Run: testOrderAndPage},
		{Name: "StatisticsRows", Run: testStatisticsRows},
		{Name: "History", Run: testHistory},
		{Name: "HistoryFollowedWhileWritten", Run: testHistoryFollow},
		{Name: "Messages", Run: testMessages},
		{Name: "Attachments", Run: testAttachments},
		{Name: "RecordEvent", Run: testRecordEvent},
		{Name: "Outbox", Run: testOutbox},
		{Name: "OutboxDeadLetters", Run: testOutboxDeadLetters},
		{Name: "DataSubjectRequests", Run: testDataSubjectRequests},
		{Name: "DataSubjectRequestRace", Run: testDataSubjectRequestRace},
	})
}

// t0 is a time in 2026 whose nanoseconds make truncation visible.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)

// tashkent is not UTC: the store must return UTC.
var tashkent = time.FixedZone("UZT", 5*3600)

var prosecutor = request.Actor{Subject: "https://idp.kz.example/#p-kz-1", Name: "A. Prosecutor", Agency: "kz-gpo"}

// event returns a fully filled audit event.
func event(id, action string) trail.Event {
	return trail.Event{
		ID:          id,
		Time:        t0,
		Actor:       trail.Actor{Subject: prosecutor.Subject, Agency: "kz-gpo", Roles: []string{"PROSECUTOR"}, Issuer: "https://idp.kz.example/"},
		Service:     "comity-request",
		Action:      "/comity.request.v1.RequestService/" + action,
		Resource:    "requests/" + id,
		States:      []string{"KZ", "UZ"},
		Outcome:     "OK",
		RequestHMAC: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
}

// draft returns a minimal draft of a prosecutor of state.
func draft(id, state string, created time.Time) request.Request {
	lc := strings.ToLower(state)
	return request.Request{
		ID: id, Type: cooperation.DataPreservation, Priority: cooperation.Routine,
		RequestingAgency: lc + "-gpo", RequestingState: state, Owner: "https://idp." + lc + ".example/#p-" + lc + "-1",
		RequestedState: "UZ", RequestedAgency: "uz-gpo", Status: request.Draft,
		CreateTime: created, UpdateTime: created,
	}
}

// creation is the change of a Create, as the Service writes it.
func creation(r request.Request) request.Change {
	return request.Change{
		History: &request.HistoryEntry{To: request.Draft, Action: "create", Actor: prosecutor, Time: r.CreateTime},
		Event:   event("ev-create-"+r.ID, "CreateRequest"),
	}
}

func create(t *testing.T, s request.Store, r request.Request) request.Request {
	t.Helper()
	got, created, err := s.Create(t.Context(), r, request.IdempotencyKey{}, creation(r))
	if err != nil || !created {
		t.Fatalf("Create(%s) = %v, %v; want created", r.ID, created, err)
	}
	return got
}

// rich returns a request with every field filled, in a zone other than UTC
// and with nanoseconds.
func rich(id string) request.Request {
	at := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 15, 30, 987654321, tashkent) }
	return request.Request{
		ID:               id,
		Reference:        "set by the store",
		Type:             cooperation.TrafficData,
		Priority:         cooperation.Emergency,
		EmergencyReason:  "Threat to life: a ransom deadline tonight",
		RequestingAgency: "kz-gpo",
		RequestingState:  "KZ",
		Owner:            "https://idp.kz.example/#p-kz-1",
		RequestedState:   "UZ",
		RequestedAgency:  "uz-police-cyber",
		LegalBasis:       "BILATERAL_TREATY",
		TreatyCitation:   "Treaty between KZ and UZ on legal assistance (2019), art. 12",
		CaseReference:    "KZ-CASE-2026/0042",
		Offence: request.Offence{
			Description:           "Extortion by e-mail",
			LegalQualification:    "Art. 194 (3) Criminal Code",
			StatuteText:           "Extortion, that is, the demand to transfer property…",
			MaximumPenaltyYears:   12,
			DeathPenaltyPossible:  true,
			DeathPenaltyAssurance: "The death penalty will not be sought or imposed.",
		},
		FactsSummary: "Between 1 and 3 February the victim received demands «заплатите» from the address below.",
		Persons: []request.Person{
			{FullName: "Иван Петров", DateOfBirth: "1990-04-01", Nationality: "KZ", Role: "SUSPECT"},
			{FullName: "Ali Valiyev", Role: "VICTIM"},
		},
		Identifiers: []request.Identifier{
			{Kind: "IP_ADDRESS", Value: "203.0.113.7:443", StartTime: at(1, 10), EndTime: at(1, 12)},
			{Kind: "EMAIL", Value: "extortion@example.org"},
			{Kind: "CRYPTO_WALLET", Value: "bc1qexample", StartTime: at(2, 0)},
		},
		DataCategories:                 []string{"SUBSCRIBER", "TRAFFIC"},
		NecessityAndProportionality:    strings.Repeat("The data is the only lead to the sender. ", 4),
		JudicialAuthorisationReference: "Court order 2-123/2026",
		Confidential:                   true,
		UseLimitations:                 "Only for case KZ-CASE-2026/0042",
		Language:                       "ru",
		RequestedResponseTime:          at(20, 0),
		RelatedRequests:                []request.RelatedRequest{{Kind: request.FollowUpOf, Request: "0195f0c2-0000-7000-8000-00000000aaaa"}},
		Status:                         request.Executed,
		Deadlines:                      request.Deadlines{AcknowledgeBy: at(3, 8), AnswerBy: at(4, 8), PreservationExpiresAt: at(30, 23)},
		Acceptance:                     &request.Acceptance{DualCriminality: "MET", HumanRightsConcerns: true, HumanRightsNote: "Fair trial assured", Conditions: "Use for this case only"},
		Refusal:                        &request.Refusal{Grounds: []string{"ESSENTIAL_INTERESTS", "OTHER"}, Explanation: "Partly refused"},
		Execution:                      &request.Execution{ResponseSummary: "Subscriber data attached", Partial: true},
		Clarifications: []request.Clarification{
			{Question: "Which time zone are the times in?", AskedBy: request.Actor{Subject: "ca-uz", Name: "UZ CA", Agency: "uz-gpo"}, AskTime: at(2, 11),
				Answer: "Tashkent time.", AnsweredBy: request.Actor{Subject: "p-kz-1", Name: "KZ P", Agency: "kz-gpo"}, AnswerTime: at(2, 12),
				AnswerAttachments: []string{"0195f0c2-0000-7000-8000-00000000bbbb"}},
			{Question: "And the port?", AskedBy: request.Actor{Subject: "ca-uz", Name: "UZ CA", Agency: "uz-gpo"}, AskTime: at(2, 13)},
		},
		TransmitTime:    at(2, 9),
		AcknowledgeTime: at(2, 10),
		AnswerTime:      at(3, 11),
		Version:         42, // the store sets it
		CreateTime:      at(2, 8),
		UpdateTime:      at(3, 12),
	}
}

// want is r as the store returns it after writing it as version v with
// reference ref: times UTC truncated to microseconds, empty lists nil.
func want(r request.Request, ref string, v int64) request.Request {
	tm := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	nilIfEmpty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return slices.Clone(s)
	}
	r.Reference, r.Version = ref, v
	r.RequestedResponseTime, r.CreateTime, r.UpdateTime = tm(r.RequestedResponseTime), tm(r.CreateTime), tm(r.UpdateTime)
	r.TransmitTime, r.AcknowledgeTime, r.AnswerTime = tm(r.TransmitTime), tm(r.AcknowledgeTime), tm(r.AnswerTime)
	r.Deadlines = request.Deadlines{AcknowledgeBy: tm(r.Deadlines.AcknowledgeBy), AnswerBy: tm(r.Deadlines.AnswerBy),
		PreservationExpiresAt: tm(r.Deadlines.PreservationExpiresAt)}
	r.DataCategories = nilIfEmpty(r.DataCategories)
	if len(r.RelatedRequests) == 0 {
		r.RelatedRequests = nil
	}
	if len(r.Persons) == 0 {
		r.Persons = nil
	}
	cs := r.Clarifications
	r.Clarifications = nil
	for _, c := range cs {
		c.AskTime, c.AnswerTime = tm(c.AskTime), tm(c.AnswerTime)
		c.AnswerAttachments = nilIfEmpty(c.AnswerAttachments)
		r.Clarifications = append(r.Clarifications, c)
	}
	ids := r.Identifiers
	r.Identifiers = nil
	for _, id := range ids {
		id.StartTime, id.EndTime = tm(id.StartTime), tm(id.EndTime)
		r.Identifiers = append(r.Identifiers, id)
	}
	if r.Refusal != nil {
		f := *r.Refusal
		f.Grounds = nilIfEmpty(f.Grounds)
		r.Refusal = &f
	}
	return r
}

func outboxOf(t *testing.T, s request.Store) outbox {
	t.Helper()
	o, ok := s.(outbox)
	if !ok {
		t.Fatalf("%T has no PendingEvents and MarkDelivered for the audit relay", s)
	}
	return o
}

// pendingIDs returns the ids of the undelivered events, oldest first.
func pendingIDs(t *testing.T, s request.Store) []string {
	t.Helper()
	entries, err := outboxOf(t, s).PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Event.ID)
	}
	return ids
}

func historyOf(t *testing.T, s request.Store, id string) []request.HistoryEntry {
	t.Helper()
	h, err := s.History(t.Context(), id)
	if err != nil {
		t.Fatalf("History(%s): %v", id, err)
	}
	return h
}

func allRequests(t *testing.T, s request.Store) []request.Request {
	t.Helper()
	page, err := s.List(t.Context(), request.ListQuery{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return page.Requests
}

func requestIDs(rs []request.Request) []string {
	return check.Each(rs, func(e request.Request) string { return e.ID })
}

func testRoundTrip(t *testing.T, newStore func(t *testing.T) request.Store) {
	empty := draft("req-empty", "KZ", t0)
	empty.Persons, empty.Identifiers, empty.DataCategories, empty.RelatedRequests =
		[]request.Person{}, []request.Identifier{}, []string{}, []request.RelatedRequest{}
	empty.Refusal = &request.Refusal{Grounds: []string{}}
	tests := []struct {
		name string
		// r is created as it is, or, with viaUpdate, set by an Update of a
		// draft with its id.
		r         request.Request
		viaUpdate bool
	}{
		{name: "every field", r: rich("req-rich")},
		{name: "every field set by Update", r: rich("req-rich"), viaUpdate: true},
		{name: "empty lists come back nil", r: empty},
		{name: "minimal", r: draft("req-min", "KZ", t0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t)
			var (
				got request.Request
				err error
			)
			wantR := want(tc.r, "KZ-2026-000001", 1)
			if !tc.viaUpdate {
				var created bool
				got, created, err = s.Create(ctx, tc.r, request.IdempotencyKey{}, creation(tc.r))
				if err != nil || !created {
					t.Fatalf("Create = %v, %v; want created", created, err)
				}
			} else {
				create(t, s, draft(tc.r.ID, "KZ", t0))
				got, err = s.Update(ctx, tc.r.ID, func(r *request.Request) (request.Change, error) {
					next := tc.r
					next.Reference = r.Reference
					*r = next
					return request.Change{Event: event("ev-update", "UpdateRequest")}, nil
				})
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				wantR.Version = 2
			}
			check.Equal(t, "written request", got, wantR)
			if got.CreateTime.Location() != time.UTC {
				t.Errorf("create time %v is not UTC", got.CreateTime)
			}
			stored, err := s.Get(ctx, tc.r.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			check.Equal(t, "Get", stored, wantR)
			check.Equal(t, "List", allRequests(t, s), []request.Request{wantR})
			if got.Etag() != wantR.Etag() {
				t.Errorf("etag %q; want %q", got.Etag(), wantR.Etag())
			}
		})
	}

	t.Run("times the store sets", func(t *testing.T) {
		s := newStore(t)
		r := draft("req-now", "KZ", time.Time{})
		r.UpdateTime = time.Time{}
		before := time.Now()
		got, _, err := s.Create(t.Context(), r, request.IdempotencyKey{}, creation(r))
		after := time.Now()
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got.CreateTime.Before(before.Truncate(time.Microsecond)) || got.CreateTime.After(after) ||
			got.CreateTime.Location() != time.UTC || got.CreateTime.Nanosecond()%1000 != 0 {
			t.Errorf("create time %v; want the time of the call, UTC, whole microseconds", got.CreateTime)
		}
		if !got.UpdateTime.Equal(got.CreateTime) {
			t.Errorf("update time %v; want the create time %v", got.UpdateTime, got.CreateTime)
		}
		if wantRef := fmt.Sprintf("KZ-%d-000001", got.CreateTime.Year()); got.Reference != wantRef {
			t.Errorf("reference %s; want %s", got.Reference, wantRef)
		}
		stored, err := s.Get(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		check.Equal(t, "Get", stored, got)
	})
}

func testReferences(t *testing.T, newStore func(t *testing.T) request.Store) {
	s := newStore(t)
	steps := []struct {
		name    string
		id      string
		state   string
		created time.Time
		want    string
		wantErr *errs.Error
	}{
		{name: "first of a state and year", id: "a", state: "KZ", created: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), want: "KZ-2026-000001"},
		{name: "second", id: "b", state: "KZ", created: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), want: "KZ-2026-000002"},
		{name: "another state starts at 1", id: "c", state: "UZ", created: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), want: "UZ-2026-000001"},
		{name: "another year starts at 1", id: "d", state: "KZ", created: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), want: "KZ-2027-000001"},
		{name: "the year is the UTC year", id: "e", state: "KZ", created: time.Date(2027, 1, 1, 3, 0, 0, 0, tashkent), want: "KZ-2026-000003"},
		{name: "a failed create takes no number", id: "a", state: "KZ", created: time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC), wantErr: errs.ErrAlreadyExists},
		{name: "no gap after the failure", id: "f", state: "KZ", created: time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), want: "KZ-2026-000004"},
		{name: "the other state goes on", id: "g", state: "UZ", created: time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC), want: "UZ-2026-000002"},
		{name: "the other year goes on", id: "h", state: "KZ", created: time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC), want: "KZ-2027-000002"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := draft(st.id, st.state, st.created)
			ch := creation(r)
			ch.Event.ID = "ev-" + st.name // a failed create must not be kept from failing by its event
			got, _, err := s.Create(t.Context(), r, request.IdempotencyKey{}, ch)
			if st.wantErr != nil {
				check.Code(t, "Create", err, st.wantErr)
				if err != nil && !strings.Contains(err.Error(), st.id) {
					t.Errorf("error %q does not name request %s", err, st.id)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got.Reference != st.want {
				t.Errorf("reference %s; want %s", got.Reference, st.want)
			}
			stored, err := s.Get(t.Context(), st.id)
			if err != nil || stored.Reference != st.want {
				t.Errorf("Get: reference %s, %v; want %s", stored.Reference, err, st.want)
			}
			if h := historyOf(t, s, st.id); len(h) != 1 || h[0].Reference != st.want {
				t.Errorf("history %+v; want one entry with reference %s", h, st.want)
			}
		})
	}
	// The failed create left nothing behind.
	if a, err := s.Get(t.Context(), "a"); err != nil || a.Reference != "KZ-2026-000001" || a.Version != 1 {
		t.Errorf("request a after a failed create with its id: %s version %d, %v", a.Reference, a.Version, err)
	}
	if h := historyOf(t, s, "a"); len(h) != 1 {
		t.Errorf("request a has %d history entries; want 1", len(h))
	}
	if ids := pendingIDs(t, s); slices.Contains(ids, "ev-a failed create takes no number") {
		t.Errorf("the event of a failed create is in the outbox: %v", ids)
	}
}

func testReferencesConcurrent(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	const n = 50
	refs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := draft(fmt.Sprintf("req-%02d", i), "KZ", t0)
			got, _, err := s.Create(ctx, r, request.IdempotencyKey{}, creation(r))
			if err != nil {
				t.Errorf("Create #%d: %v", i, err)
			}
			refs[i] = got.Reference
		})
	}
	wg.Wait()
	var wantRefs []string
	for i := 1; i <= n; i++ {
		wantRefs = append(wantRefs, fmt.Sprintf("KZ-2026-%06d", i))
	}
	slices.Sort(refs)
	check.Equal(t, "references of concurrent creates (no gap, no duplicate)", refs, wantRefs)
	if got := len(allRequests(t, s)); got != n {
		t.Errorf("%d requests stored; want %d", got, n)
	}
	r := draft("req-after", "KZ", t0)
	if got, _, err := s.Create(ctx, r, request.IdempotencyKey{}, creation(r)); err != nil || got.Reference != fmt.Sprintf("KZ-2026-%06d", n+1) {
		t.Errorf("next Create: %s, %v; want KZ-2026-%06d", got.Reference, err, n+1)
	}
}

// keyOf is the idempotency key of r's owner at r's agency, as the Service
// builds it, with the digest of a body named body.
func keyOf(r request.Request, key, body string) request.IdempotencyKey {
	return request.IdempotencyKey{
		Issuer: "https://idp." + strings.ToLower(r.RequestingState) + ".example/", Subject: r.Owner,
		Agency: r.RequestingAgency, Key: key, BodySHA256: fmt.Sprintf("%x", sha256.Sum256([]byte(body))),
	}
}

func testIdempotent(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	const key = "0c1d5f6e-retry-key"
	first := draft("req-first", "KZ", t0)
	got, created, err := s.Create(ctx, first, keyOf(first, key, "body"), creation(first))
	if err != nil || !created {
		t.Fatalf("first Create = %v, %v; want created", created, err)
	}
	wantFirst := want(first, "KZ-2026-000001", 1)
	check.Equal(t, "first Create", got, wantFirst)
	seq, err := s.LastHistorySeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events := pendingIDs(t, s)
	// nothingWritten checks that a call wrote no request, history or event.
	nothingWritten := func(t *testing.T, r request.Request) {
		t.Helper()
		if _, err := s.Get(ctx, r.ID); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Get(%s): %v; want not found: the call must write nothing", r.ID, err)
		}
		if after, err := s.LastHistorySeq(ctx); err != nil || after != seq {
			t.Errorf("LastHistorySeq %d, %v; want %d", after, err, seq)
		}
		check.Equal(t, "outbox", pendingIDs(t, s), events)
	}

	// A retry carries a new id and the same body: it gets the first.
	retry := draft("req-retry", "KZ", t0.Add(time.Minute))
	got, created, err = s.Create(ctx, retry, keyOf(retry, key, "body"), creation(retry))
	if err != nil || created {
		t.Fatalf("retried Create = %v, %v; want not created", created, err)
	}
	check.Equal(t, "retried Create", got, wantFirst)
	nothingWritten(t, retry)

	// The same key with another body is refused, naming request_id.
	other := draft("req-other-body", "KZ", t0.Add(time.Minute))
	other.FactsSummary = "changed"
	_, created, err = s.Create(ctx, other, keyOf(other, key, "another body"), creation(other))
	check.Code(t, "Create with the key and another body", err, errs.ErrAlreadyExists)
	var e *errs.Error
	if !errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != "request_id" || created {
		t.Errorf("Create with the key and another body = %v, %v; want a violation of request_id", created, err)
	}
	nothingWritten(t, other)

	// The key is remembered after the request changed: the retry sees that.
	updated, err := s.Update(ctx, first.ID, func(r *request.Request) (request.Change, error) {
		r.FactsSummary = "edited"
		return request.Change{Event: event("ev-edit", "UpdateRequest")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seq, events = mustLastSeq(t, s), pendingIDs(t, s)
	if got, created, err := s.Create(ctx, retry, keyOf(retry, key, "body"), creation(retry)); err != nil || created {
		t.Errorf("Create after Update = %v, %v; want not created", created, err)
	} else {
		check.Equal(t, "Create after Update", got, updated)
	}

	// The key is the user's alone: a user is an issuer's subject at an
	// agency, and a subject is unique only at its issuer.
	tests := []struct {
		name string
		r    request.Request
		key  func(request.IdempotencyKey) request.IdempotencyKey
		want string // reference
	}{
		{name: "same key, other subject", r: draft("req-other-subject", "KZ", t0),
			key:  func(k request.IdempotencyKey) request.IdempotencyKey { k.Subject += "-2"; return k },
			want: "KZ-2026-000002"},
		{name: "same key and subject, other issuer", r: draft("req-other-issuer", "KZ", t0),
			key: func(k request.IdempotencyKey) request.IdempotencyKey {
				k.Issuer = "https://idp.other.example/"
				return k
			},
			want: "KZ-2026-000003"},
		{name: "same key, subject and issuer, other agency", r: draft("req-other-agency", "KZ", t0),
			key:  func(k request.IdempotencyKey) request.IdempotencyKey { k.Agency = "kz-247"; return k },
			want: "KZ-2026-000004"},
		{name: "no key", r: draft("req-no-key-1", "KZ", t0),
			key:  func(request.IdempotencyKey) request.IdempotencyKey { return request.IdempotencyKey{} },
			want: "KZ-2026-000005"},
		{name: "no key again", r: draft("req-no-key-2", "KZ", t0),
			key:  func(request.IdempotencyKey) request.IdempotencyKey { return request.IdempotencyKey{} },
			want: "KZ-2026-000006"},
		{name: "another key", r: draft("req-key-2", "KZ", t0),
			key:  func(k request.IdempotencyKey) request.IdempotencyKey { k.Key = "key-2"; return k },
			want: "KZ-2026-000007"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, created, err := s.Create(ctx, tc.r, tc.key(keyOf(tc.r, key, "body")), creation(tc.r))
			if err != nil || !created || got.ID != tc.r.ID || got.Reference != tc.want {
				t.Errorf("Create = %s %s, %v, %v; want %s %s created", got.ID, got.Reference, created, err, tc.r.ID, tc.want)
			}
		})
	}

	t.Run("a failed create does not keep its key", func(t *testing.T) {
		dup := draft(first.ID, "KZ", t0)
		ch := creation(dup)
		ch.Event.ID = "ev-dup"
		_, _, err := s.Create(ctx, dup, keyOf(dup, "key-3", "body"), ch)
		check.Code(t, "Create with an existing id", err, errs.ErrAlreadyExists)
		r := draft("req-key-3", "KZ", t0)
		got, created, err := s.Create(ctx, r, keyOf(r, "key-3", "another body"), creation(r))
		if err != nil || !created || got.ID != r.ID || got.Reference != "KZ-2026-000008" {
			t.Errorf("Create with the key of a failed create = %s %s, %v, %v; want %s KZ-2026-000008 created",
				got.ID, got.Reference, created, err, r.ID)
		}
	})
}

func mustLastSeq(t *testing.T, s request.Store) int64 {
	t.Helper()
	seq, err := s.LastHistorySeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func testIdempotentConcurrent(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	const n = 10
	var (
		wg      sync.WaitGroup
		results [n]request.Request
		fresh   [n]bool
	)
	for i := range n {
		wg.Go(func() {
			r := draft(fmt.Sprintf("req-%02d", i), "KZ", t0)
			var err error
			// The same user's key: one Service stamps every request of
			// that user with the same issuer, subject and agency.
			results[i], fresh[i], err = s.Create(ctx, r, keyOf(r, "same-key", "body"), creation(r))
			if err != nil {
				t.Errorf("Create #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	winner := slices.Index(fresh[:], true)
	if winner < 0 || slices.Index(fresh[winner+1:], true) >= 0 {
		t.Fatalf("created flags %v; want exactly one true", fresh)
	}
	for i, r := range results {
		check.Equal(t, fmt.Sprintf("result #%d", i), r, results[winner])
	}
	if results[winner].Reference != "KZ-2026-000001" {
		t.Errorf("reference %s; want KZ-2026-000001", results[winner].Reference)
	}
	check.Equal(t, "stored requests", requestIDs(allRequests(t, s)), []string{results[winner].ID})
	if seq, err := s.LastHistorySeq(ctx); err != nil || len(historyOf(t, s, results[winner].ID)) != 1 {
		t.Errorf("history: last seq %d, %v, %d entries; want 1 entry", seq, err, len(historyOf(t, s, results[winner].ID)))
	}
	check.Equal(t, "outbox", pendingIDs(t, s), []string{"ev-create-" + results[winner].ID})
	r := draft("req-next", "KZ", t0)
	if got, _, err := s.Create(ctx, r, request.IdempotencyKey{}, creation(r)); err != nil || got.Reference != "KZ-2026-000002" {
		t.Errorf("next Create: %s, %v; want KZ-2026-000002: the losers must not take numbers", got.Reference, err)
	}
}

func testUpdate(t *testing.T, newStore func(t *testing.T) request.Store) {
	errFn := errors.New("fn refused")
	later := t0.Add(26*time.Hour + 789) // nanoseconds are truncated
	submit := func(r *request.Request) (request.Change, error) {
		r.Status, r.UpdateTime = request.Submitted, later
		return request.Change{
			History: &request.HistoryEntry{From: request.Draft, To: request.Submitted, Action: "submit", Actor: prosecutor, Time: later, Reason: "ready"},
			Event:   event("ev-submit", "SubmitRequest"),
		}, nil
	}
	type updateCase struct {
		name    string
		fn      func(*request.Request) (request.Change, error)
		wantErr error // matched with errors.Is; nil means success
		sameErr bool  // the very error of fn must come back
		// change is what a successful fn does to the request as a user sees it.
		change func(*request.Request)
		// wantHistory is the entry appended, if any; wantEvent the event.
		wantHistory *request.HistoryEntry
		wantEvent   string
	}
	tests := []updateCase{
		{name: "transition", fn: submit,
			change: func(r *request.Request) { r.Status, r.UpdateTime = request.Submitted, later.Truncate(time.Microsecond) },
			// The store fills in the request's id, reference and parties.
			wantHistory: &request.HistoryEntry{RequestID: "req-1", Reference: "KZ-2026-000001", From: request.Draft, To: request.Submitted,
				Action: "submit", Actor: prosecutor, Time: later.Truncate(time.Microsecond), Reason: "ready",
				RequestingAgency: "kz-gpo", RequestingState: "KZ", RequestedAgency: "uz-gpo", RequestedState: "UZ",
				Owner: "https://idp.kz.example/#p-kz-1"},
			wantEvent: "ev-submit"},
		{name: "edit without history", fn: func(r *request.Request) (request.Change, error) {
			r.RequestedState, r.RequestedAgency, r.FactsSummary = "KG", "kg-gpo", "more facts"
			r.Persons = append(r.Persons, request.Person{FullName: "C. D.", Role: "WITNESS"})
			return request.Change{Event: event("ev-edit", "UpdateRequest")}, nil
		}, change: func(r *request.Request) {
			r.RequestedState, r.RequestedAgency, r.FactsSummary = "KG", "kg-gpo", "more facts"
			r.Persons = []request.Person{{FullName: "C. D.", Role: "WITNESS"}}
		}, wantEvent: "ev-edit"},
		{name: "fn error", fn: func(r *request.Request) (request.Change, error) {
			r.Status = request.Submitted
			return request.Change{Event: event("ev-refused", "SubmitRequest")}, errFn
		}, wantErr: errFn, sameErr: true},
		{name: "fn domain error", fn: func(r *request.Request) (request.Change, error) {
			r.FactsSummary = "x"
			return request.Change{}, errs.New(errs.FailedPrecondition, "request is not a draft")
		}, wantErr: errs.ErrFailedPrecondition},
	}
	for _, f := range []struct {
		name string
		set  func(*request.Request)
	}{
		{"id", func(r *request.Request) { r.ID = "req-2" }},
		{"reference", func(r *request.Request) { r.Reference = "KZ-2026-000099" }},
		{"requesting agency", func(r *request.Request) { r.RequestingAgency = "kz-police-cyber" }},
		{"requesting state", func(r *request.Request) { r.RequestingState = "KG" }},
	} {
		tests = append(tests, updateCase{name: "change " + f.name, fn: func(r *request.Request) (request.Change, error) {
			f.set(r)
			return submit(r)
		}, wantErr: errs.ErrInvalid})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t)
			before := create(t, s, draft("req-1", "KZ", t0))
			other := create(t, s, draft("req-2", "KZ", t0))
			historyBefore := historyOf(t, s, "req-1")
			eventsBefore := pendingIDs(t, s)

			got, err := s.Update(ctx, "req-1", tc.fn)
			stored, getErr := s.Get(ctx, "req-1")
			if getErr != nil {
				t.Fatal(getErr)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || (tc.sameErr && err != tc.wantErr) {
					t.Errorf("Update error %v; want %v", err, tc.wantErr)
				}
				check.Equal(t, "request after a failed update", stored, before)
				check.Equal(t, "history after a failed update", historyOf(t, s, "req-1"), historyBefore)
				check.Equal(t, "outbox after a failed update", pendingIDs(t, s), eventsBefore)
			} else {
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				w := before
				tc.change(&w)
				w.Version = 2
				check.Equal(t, "Update result", got, w)
				check.Equal(t, "Get after Update", stored, w)
				if got.Etag() == before.Etag() {
					t.Errorf("etag %q did not change", got.Etag())
				}
				h := historyOf(t, s, "req-1")
				wantLen := len(historyBefore)
				if tc.wantHistory != nil {
					wantLen++
				}
				if len(h) != wantLen {
					t.Fatalf("%d history entries; want %d", len(h), wantLen)
				}
				if tc.wantHistory != nil {
					last, prev := h[len(h)-1], historyBefore[len(historyBefore)-1]
					if last.Seq <= prev.Seq {
						t.Errorf("new entry seq %d not after %d", last.Seq, prev.Seq)
					}
					w := *tc.wantHistory
					w.Seq = last.Seq
					// The request right after the change, as a watch
					// needs it: metadata, no narrative.
					w.Snapshot = request.Snapshot(stored)
					check.Equal(t, "history entry", last, w)
				}
				check.Equal(t, "outbox", pendingIDs(t, s), append(eventsBefore, tc.wantEvent))
			}
			if o, err := s.Get(ctx, "req-2"); err != nil {
				t.Fatal(err)
			} else {
				check.Equal(t, "other request", o, other)
			}
		})
	}

	// The owner changes (:transferOwnership, :confirmInWriting), and the
	// owner column that need-to-know filters on follows it.
	t.Run("owner transferred", func(t *testing.T) {
		s := newStore(t)
		create(t, s, draft("req-1", "KZ", t0))
		const next = "https://idp.kz.example/#p-kz-2"
		got, err := s.Update(t.Context(), "req-1", func(r *request.Request) (request.Change, error) {
			r.Owner = next
			return request.Change{Event: event("ev-transfer", "TransferOwnership")}, nil
		})
		if err != nil || got.Owner != next {
			t.Fatalf("Update: owner %q, %v; want %q", got.Owner, err, next)
		}
		for owner, want := range map[string]int{next: 1, "https://idp.kz.example/#p-kz-1": 0} {
			page, err := s.List(t.Context(), request.ListQuery{Filter: query.Compare{Field: "owner", Op: query.Eq, Value: owner}})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Requests) != want {
				t.Errorf("requests owned by %s: %d; want %d", owner, len(page.Requests), want)
			}
		}
	})

	t.Run("successive updates", func(t *testing.T) {
		s := newStore(t)
		create(t, s, draft("req-1", "KZ", t0))
		for v := int64(2); v <= 4; v++ {
			got, err := s.Update(t.Context(), "req-1", func(r *request.Request) (request.Change, error) {
				r.FactsSummary += "."
				return request.Change{Event: event(fmt.Sprintf("ev-%d", v), "UpdateRequest")}, nil
			})
			if err != nil || got.Version != v {
				t.Fatalf("Update: version %d, %v; want %d", got.Version, err, v)
			}
		}
	})
}

func testUpdateRace(t *testing.T, newStore func(t *testing.T) request.Store) {
	for _, n := range []int{2, 20} {
		t.Run(fmt.Sprintf("%d transmits", n), func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t)
			r := draft("req-1", "KZ", t0)
			r.Status = request.Submitted
			create(t, s, r)
			results := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, results[i] = s.Update(ctx, "req-1", func(r *request.Request) (request.Change, error) {
						if r.Status != request.Submitted {
							return request.Change{}, errs.New(errs.FailedPrecondition, "request is %s, not SUBMITTED", r.Status)
						}
						r.Status, r.TransmitTime = request.Transmitted, t0.Add(time.Hour)
						return request.Change{
							History: &request.HistoryEntry{From: request.Submitted, To: request.Transmitted, Action: "transmit",
								Actor: request.Actor{Subject: fmt.Sprintf("ca-%d", i)}, Time: t0.Add(time.Hour)},
							Event: event(fmt.Sprintf("ev-transmit-%d", i), "TransmitRequest"),
						}, nil
					})
				})
			}
			wg.Wait()
			won := -1
			for i, err := range results {
				switch {
				case err == nil && won < 0:
					won = i
				case err == nil:
					t.Errorf("transmits #%d and #%d both succeeded", won, i)
				case !errors.Is(err, errs.ErrFailedPrecondition):
					t.Errorf("transmit #%d: %v; want FailedPrecondition", i, err)
				}
			}
			if won < 0 {
				t.Fatal("no transmit succeeded")
			}
			got, err := s.Get(ctx, "req-1")
			if err != nil || got.Status != request.Transmitted || got.Version != 2 {
				t.Errorf("after the race: %s version %d, %v; want TRANSMITTED version 2", got.Status, got.Version, err)
			}
			h := historyOf(t, s, "req-1")
			if len(h) != 2 || h[1].Actor.Subject != fmt.Sprintf("ca-%d", won) {
				t.Errorf("history %+v; want the creation and the winner's transmit", h)
			}
			check.Equal(t, "outbox", pendingIDs(t, s), []string{"ev-create-req-1", fmt.Sprintf("ev-transmit-%d", won)})
		})
	}
}

func testNotFound(t *testing.T, newStore func(t *testing.T) request.Store) {
	s := newStore(t)
	create(t, s, draft("req-1", "KZ", t0))
	called := false
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "req-nope"); return err }},
		{"Update", func(ctx context.Context) error {
			_, err := s.Update(ctx, "req-nope", func(*request.Request) (request.Change, error) {
				called = true
				return request.Change{Event: event("ev-x", "UpdateRequest")}, nil
			})
			return err
		}},
		{"GetAttachment", func(ctx context.Context) error { _, err := s.GetAttachment(ctx, "req-1", "att-nope"); return err }},
		{"CreateMessage", func(ctx context.Context) error {
			_, err := s.CreateMessage(ctx, request.Message{ID: "msg-1", RequestID: "req-nope", Body: "hi"}, event("ev-m", "CreateMessage"))
			return err
		}},
		{"CreateAttachment", func(ctx context.Context) error {
			_, err := s.CreateAttachment(ctx, request.Attachment{ID: "att-1", RequestID: "req-nope"}, event("ev-a", "UploadAttachment"))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t.Context())
			check.Code(t, tc.name, err, errs.ErrNotFound)
			if err != nil && !strings.Contains(err.Error(), "nope") {
				t.Errorf("error %q does not name what is missing", err)
			}
		})
	}
	if called {
		t.Error("Update called fn for a missing request")
	}
	check.Equal(t, "outbox", pendingIDs(t, s), []string{"ev-create-req-1"})
	if h, err := s.History(t.Context(), "req-nope"); err != nil || h != nil {
		t.Errorf("History of a missing request = %v, %v; want nil, nil", h, err)
	}
}

// LegacyKeyRequest is the request a store's test writes, with the key
// LegacyKey of its owner, into a database at migration 0001, before keys
// named the issuer, the agency and the body; CheckLegacyKey then checks what
// the later migrations made of that key.
func LegacyKeyRequest() request.Request {
	r := want(draft("req-legacy", "KZ", t0), "KZ-2026-000001", 1)
	return r
}

// LegacyKey is the key stored with LegacyKeyRequest.
const LegacyKey = "legacy-retry-key"

// CheckLegacyKey checks a store whose database had, before it was migrated,
// LegacyKeyRequest and its owner's LegacyKey: a retry by that subject at that
// agency still finds the request, whatever its issuer and body (neither was
// recorded); at another agency the key names nothing.
func CheckLegacyKey(t *testing.T, s request.Store) {
	t.Helper()
	ctx := t.Context()
	old := LegacyKeyRequest()
	retry := draft("req-retry", "KZ", t0)
	got, created, err := s.Create(ctx, retry, keyOf(retry, LegacyKey, "body"), creation(retry))
	if err != nil || created {
		t.Fatalf("retry with the carried-over key = %v, %v; want its request", created, err)
	}
	check.Equal(t, "retry with the carried-over key", got, old)

	elsewhere := draft("req-elsewhere", "KZ", t0)
	elsewhere.RequestingAgency = "kz-247"
	got, created, err = s.Create(ctx, elsewhere, keyOf(elsewhere, LegacyKey, "body"), creation(elsewhere))
	if err != nil || !created || got.ID != elsewhere.ID {
		t.Errorf("the carried-over key at another agency = %s, %v, %v; want a new request", got.ID, created, err)
	}
	// The new key is the caller's own from now on, with its body.
	other := draft("req-other", "KZ", t0)
	other.RequestingAgency = "kz-247"
	_, _, err = s.Create(ctx, other, keyOf(other, LegacyKey, "another body"), creation(other))
	check.Code(t, "the new key with another body", err, errs.ErrAlreadyExists)
}
