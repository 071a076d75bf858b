package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// The databases of testdata/release-911dcc2 were written by the release
// before issue 14 (commit 911dcc2) with that release's store; its
// regenerate.sh says how, and oldfixtures/main.go what they hold.
const oldRelease = "testdata/release-911dcc2/"

// OldReleaseDB opens, on each engine, a copy of the old release's request
// database of its own; today's store runs its migrations on it.
func oldReleaseDB(t *testing.T, f func(t *testing.T, db *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqldbtest.SQLiteCopy(t, oldRelease+"requests.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, sqldbtest.PostgresFrom(t, oldRelease+"requests.postgres.sql")) })
}

const (
	oldDraftID       = "0195f0c2-0000-7000-8000-000000000001"
	oldTransmittedID = "0195f0c2-0000-7000-8000-000000000002"
	oldPreservedID   = "0195f0c2-0000-7000-8000-000000000003"
	oldRefusedID     = "0195f0c2-0000-7000-8000-000000000004"
)

// oldReleaseRequests are the requests of the fixture as today's store must
// read them: what the old release wrote, its untyped related requests
// RELATED relations, and none of the fields issue 14 added.
func oldReleaseRequests() []request.Request {
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC) }
	prosecutor := request.Actor{Subject: "p-kz-1", Name: "Aigerim Nurlanovna", Agency: "kz-gpo"}
	caUZ := request.Actor{Subject: "ca-uz", Name: "UZ central authority", Agency: "uz-gpo"}
	base := func(id, ref string, t cooperation.RequestType, created time.Time) request.Request {
		return request.Request{
			ID: id, Reference: ref, Type: t, Priority: cooperation.Routine,
			RequestingAgency: "kz-gpo", RequestingState: "KZ", Owner: "p-kz-1",
			RequestedState: "UZ", RequestedAgency: "uz-gpo", LegalBasis: "CHISINAU_CONVENTION_2002", Language: "ru",
			Offence:                     request.Offence{Description: "Intrusion into a bank's systems", LegalQualification: "Article 205", MaximumPenaltyYears: 5},
			FactsSummary:                "Accounts were emptied through a compromised server.",
			Identifiers:                 []request.Identifier{{Kind: "IP_ADDRESS", Value: "192.0.2.10", StartTime: at(1, 10, 0), EndTime: at(1, 12, 0)}},
			NecessityAndProportionality: strings.Repeat("The logs are the only record of who reached the server, and they are overwritten weekly. ", 2),
			DataCategories:              []string{"Subscriber name and address", "IP logs"},
			Status:                      request.Draft, Version: 1, CreateTime: created, UpdateTime: created,
		}
	}
	draft := base(oldDraftID, "KZ-2026-000001", cooperation.SubscriberInformation, at(2, 9, 0))
	draft.Persons = []request.Person{{FullName: "Иван Петров", DateOfBirth: "1990-04-01", Nationality: "KZ", Role: "SUSPECT"}}

	transmitted := base(oldTransmittedID, "KZ-2026-000002", cooperation.TrafficData, at(3, 9, 0))
	transmitted.Priority, transmitted.EmergencyReason = cooperation.Emergency, "Threat to life: a ransom deadline tonight"
	transmitted.RelatedRequests = []request.RelatedRequest{{Kind: request.Related, Request: oldDraftID}}
	transmitted.Status, transmitted.Version, transmitted.UpdateTime = request.Transmitted, 3, at(3, 11, 0)
	transmitted.TransmitTime, transmitted.Deadlines = at(3, 11, 0), request.Deadlines{AcknowledgeBy: at(6, 11, 0)}

	preserved := base(oldPreservedID, "KZ-2026-000003", cooperation.DataPreservation, at(4, 9, 0))
	preserved.RelatedRequests = []request.RelatedRequest{
		{Kind: request.Related, Request: oldTransmittedID}, {Kind: request.Related, Request: "0195f0c2-0000-7000-8000-00000000aaaa"}}
	preserved.Status, preserved.Version, preserved.UpdateTime = request.Executed, 8, at(4, 16, 0)
	preserved.TransmitTime, preserved.AcknowledgeTime, preserved.AnswerTime = at(4, 11, 0), at(4, 12, 0), at(4, 16, 0)
	preserved.Clarifications = []request.Clarification{{Question: "Which time zone are the times in?", AskedBy: caUZ, AskTime: at(4, 13, 0),
		Answer: "UTC.", AnsweredBy: prosecutor, AnswerTime: at(4, 14, 0)}}
	preserved.Acceptance = &request.Acceptance{DualCriminality: "NOT_REQUIRED"}
	preserved.Execution = &request.Execution{ResponseSummary: "The logs are preserved for 90 days."}
	preserved.Deadlines = request.Deadlines{PreservationExpiresAt: at(4, 16, 0).AddDate(0, 0, 90)}

	refused := base(oldRefusedID, "KZ-2026-000004", cooperation.ContentData, at(5, 9, 0))
	refused.DataCategories = []string{"Content of e-mails"}
	refused.Status, refused.Version, refused.UpdateTime = request.Refused, 5, at(6, 9, 0)
	refused.TransmitTime, refused.AcknowledgeTime, refused.AnswerTime = at(5, 11, 0), at(5, 12, 0), at(6, 9, 0)
	refused.Refusal = &request.Refusal{Grounds: []string{"DOUBLE_CRIMINALITY"}, Explanation: "Not an offence in Uzbekistan."}
	return []request.Request{draft, transmitted, preserved, refused}
}

// TestOldReleaseDatabase opens the database of the release before issue 14
// with today's store on each engine: every request reads as it was
// written, with its history and messages, lists filter it, a new request
// continues the old numbering, an old idempotency key still answers, and a
// transition writes on top of the old rows.
func TestOldReleaseDatabase(t *testing.T) {
	oldReleaseDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		wants := oldReleaseRequests()
		for _, want := range wants {
			got, err := s.Get(ctx, want.ID)
			if err != nil {
				t.Fatalf("Get(%s): %v", want.Reference, err)
			}
			check.Equal(t, want.Reference, got, want)
		}

		h, err := s.History(ctx, oldPreservedID)
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, e := range h {
			steps = append(steps, e.Action+"→"+string(e.To))
		}
		check.Equal(t, "history of the executed preservation", steps, []string{"create→DRAFT", "submit→SUBMITTED",
			"transmit→TRANSMITTED", "acknowledge→ACKNOWLEDGED", "requestClarification→CLARIFICATION_REQUESTED",
			"provideClarification→ACKNOWLEDGED", "accept→ACCEPTED", "execute→EXECUTED"})
		msgs, err := s.ListMessages(ctx, oldPreservedID, 0, 0)
		if err != nil || len(msgs) != 1 || msgs[0].Body != "Please confirm the period of the logs." {
			t.Errorf("messages of the executed preservation: %+v, %v; want the one the old release wrote", msgs, err)
		}

		eq := func(field string, v any) query.Expr { return query.Compare{Field: field, Op: query.Eq, Value: v} }
		for _, tc := range []struct {
			name   string
			filter query.Expr
			want   []string
		}{
			{"all", nil, []string{oldDraftID, oldTransmittedID, oldPreservedID, oldRefusedID}},
			{"status EXECUTED", eq("status", "EXECUTED"), []string{oldPreservedID}},
			{"priority EMERGENCY", eq("priority", "EMERGENCY"), []string{oldTransmittedID}},
			{"transmitted to UZ", query.And{Left: eq("transmitted", true), Right: eq("requestedState", "UZ")},
				[]string{oldTransmittedID, oldPreservedID, oldRefusedID}},
			{"type DATA_PRESERVATION", eq("type", "DATA_PRESERVATION"), []string{oldPreservedID}},
		} {
			page, err := s.List(ctx, request.ListQuery{Filter: tc.filter})
			if err != nil {
				t.Fatalf("List %s: %v", tc.name, err)
			}
			var ids []string
			for _, r := range page.Requests {
				ids = append(ids, r.ID)
			}
			check.Equal(t, "List "+tc.name, ids, tc.want)
		}

		// The old create's idempotency key still names its request.
		key := request.IdempotencyKey{Issuer: "https://idp.example/", Subject: "p-kz-1", Agency: "kz-gpo",
			Key: "create-" + oldDraftID, BodySHA256: strings.Repeat("0", 64)}
		again, created, err := s.Create(ctx, request.Request{ID: "0195f0c2-0000-7000-8000-0000000000ff", RequestingState: "KZ",
			Status: request.Draft, CreateTime: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}, key, request.Change{
			History: &request.HistoryEntry{To: request.Draft}, Event: trail.Event{ID: "ev-create-again"}})
		if err != nil || created || again.ID != oldDraftID {
			t.Errorf("create with the old key: %s, created %v, %v; want the old draft, not created", again.ID, created, err)
		}
		// A new request of KZ in 2026 follows the four the old release numbered.
		fresh, created, err := s.Create(ctx, request.Request{ID: "0195f0c2-0000-7000-8000-0000000000fe", RequestingState: "KZ",
			Status: request.Draft, CreateTime: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}, request.IdempotencyKey{}, request.Change{
			History: &request.HistoryEntry{To: request.Draft}, Event: trail.Event{ID: "ev-create-fresh"}})
		if err != nil || !created || fresh.Reference != "KZ-2026-000005" {
			t.Errorf("a new request: %q, created %v, %v; want KZ-2026-000005", fresh.Reference, created, err)
		}

		// A transition of the old draft writes its version 2 and its
		// history entry after the old ones.
		if err := submit(ctx, s, oldDraftID); err != nil {
			t.Fatalf("submit the old draft: %v", err)
		}
		got, err := s.Get(ctx, oldDraftID)
		if err != nil || got.Status != request.Submitted || got.Version != 2 {
			t.Errorf("the old draft after submit: %s version %d, %v; want SUBMITTED version 2", got.Status, got.Version, err)
		}
		if h, err := s.History(ctx, oldDraftID); err != nil || len(h) != 2 || h[1].To != request.Submitted || h[1].Seq <= h[0].Seq {
			t.Errorf("history of the old draft after submit: %+v, %v; want create then submit", h, err)
		}
	})
}
