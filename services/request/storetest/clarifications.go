package storetest

import (
	"testing"
	"time"

	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/request"
)

// LegacyAsked is the request a store's test writes into a database at
// migration 0004, before clarifications were kept on the request, with the
// history LegacyAskedHistory; CheckBackfilledClarifications then checks what
// migration 0005 made of its questions and answers. LegacyQuiet, written
// beside it with only its creation, was never asked anything.
func LegacyAsked() (asked, quiet request.Request) {
	asked = want(draft("req-asked", "KZ", t0), "KZ-2026-000001", 7)
	asked.Status, asked.TransmitTime = request.ClarificationRequested, t0.Add(time.Hour).Truncate(time.Microsecond)
	quiet = want(draft("req-quiet", "KZ", t0), "KZ-2026-000002", 1)
	return asked, quiet
}

var (
	uzCA = request.Actor{Subject: "ca-uz", Name: "UZ Central Authority", Agency: "uz-gpo"}
	kzP  = request.Actor{Subject: "p-kz-1", Name: "KZ Prosecutor", Agency: "kz-gpo"}
	// at is a time of the history with microseconds, as stored.
	at = func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour).Truncate(time.Microsecond) }
)

// LegacyAskedHistory is the history of LegacyAsked (and of LegacyQuiet, the
// last entry), oldest first: three rounds of questions, the last one
// unanswered. The first answer came with attachments, which the history
// noted at the end of its reason; the second only says "Attached: " in its
// text.
func LegacyAskedHistory() []request.HistoryEntry {
	asked, quiet := LegacyAsked()
	entry := func(r request.Request, from, to request.Status, action string, by request.Actor, h int, reason string) request.HistoryEntry {
		return request.HistoryEntry{RequestID: r.ID, Reference: r.Reference, From: from, To: to, Action: action,
			Actor: by, Time: at(h), Reason: reason,
			RequestingAgency: r.RequestingAgency, RequestingState: r.RequestingState,
			RequestedAgency: r.RequestedAgency, RequestedState: r.RequestedState, Owner: r.Owner}
	}
	ack, cr := request.Acknowledged, request.ClarificationRequested
	return []request.HistoryEntry{
		entry(asked, "", request.Draft, "create", kzP, 0, ""),
		entry(asked, request.Submitted, request.Transmitted, "transmit", kzP, 1, ""),
		entry(asked, request.Transmitted, ack, "acknowledge", uzCA, 2, ""),
		entry(asked, ack, cr, "requestClarification", uzCA, 3, "Which time zone are the times in?"),
		entry(asked, cr, ack, "provideClarification", kzP, 4,
			"Tashkent time.\n\nAttached: 0195f0c2-0000-7000-8000-00000000000a, 0195f0c2-0000-7000-8000-00000000000b"),
		entry(asked, ack, cr, "requestClarification", uzCA, 5, "Which port?"),
		entry(asked, cr, ack, "provideClarification", kzP, 6, "Port 443.\n\nAttached: see our letter of 3 March"),
		entry(asked, ack, cr, "requestClarification", uzCA, 7, "Who runs the server?"),
		entry(quiet, "", request.Draft, "create", kzP, 8, ""),
	}
}

// CheckBackfilledClarifications checks a store whose database had
// LegacyAsked, LegacyQuiet and their history before migration 0005: the
// questions and answers are on the request, in order, and the rest of the
// request is as it was; the history entries have no snapshot (what the
// request was then is not known).
func CheckBackfilledClarifications(t *testing.T, s request.Store) {
	t.Helper()
	ctx := t.Context()
	asked, quiet := LegacyAsked()
	asked.Clarifications = []request.Clarification{
		{Question: "Which time zone are the times in?", AskedBy: uzCA, AskTime: at(3),
			Answer: "Tashkent time.", AnsweredBy: kzP, AnswerTime: at(4),
			AnswerAttachments: []string{"0195f0c2-0000-7000-8000-00000000000a", "0195f0c2-0000-7000-8000-00000000000b"}},
		{Question: "Which port?", AskedBy: uzCA, AskTime: at(5),
			Answer: "Port 443.\n\nAttached: see our letter of 3 March", AnsweredBy: kzP, AnswerTime: at(6)},
		{Question: "Who runs the server?", AskedBy: uzCA, AskTime: at(7)},
	}
	for _, w := range []request.Request{asked, quiet} {
		got, err := s.Get(ctx, w.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", w.ID, err)
		}
		check.Equal(t, "request "+w.ID+" after migration 0005", got, w)
		h, err := s.History(ctx, w.ID)
		if err != nil {
			t.Fatalf("History(%s): %v", w.ID, err)
		}
		for _, e := range h {
			if e.Snapshot != nil {
				t.Errorf("entry %d of %s written before 0005 has snapshot %+v; want none", e.Seq, w.ID, e.Snapshot)
			}
		}
	}
}
