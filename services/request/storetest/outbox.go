package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
	"github.com/comity-mla/comity/services/trail/outboxtest"
)

var liaison = request.Actor{Subject: "https://idp.uz.example/#ca-uz-1", Name: "B. Liaison", Agency: "uz-gpo"}

func utcMicros(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// createEach writes items in order with create (what names it in failures)
// and checks that each comes back as want makes it; it returns those, by id.
func createEach[T any](t *testing.T, what string, items []T, id func(T) string, create func(T) (T, error), want func(T) T) map[string]T {
	t.Helper()
	wants := map[string]T{}
	for _, it := range items {
		got, err := create(it)
		if err != nil {
			t.Fatalf("%s(%s): %v", what, id(it), err)
		}
		w := want(it)
		check.Equal(t, what+" "+id(it), got, w)
		wants[id(it)] = w
	}
	return wants
}

func testMessages(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	create(t, s, draft("req-1", "KZ", t0))
	create(t, s, draft("req-2", "KZ", t0))
	later := time.Date(2026, 3, 2, 15, 0, 0, 555555555, tashkent) // after t0, not UTC
	// Given out of order: msg-b is written first but is the later one;
	// msg-c has the time of msg-b, and comes after it by id.
	msgs := []request.Message{
		{ID: "msg-b", RequestID: "req-1", Body: "Просим уточнить период.", Visibility: "BOTH_SIDES", Author: liaison, CreateTime: later},
		{ID: "msg-a", RequestID: "req-1", Body: "Request sent.", Visibility: "OWN_AGENCY", Author: prosecutor, CreateTime: t0.Add(time.Minute)},
		{ID: "msg-c", RequestID: "req-1", Body: "Period: 1–3 February.", Visibility: "BOTH_SIDES", Author: prosecutor, CreateTime: later},
		{ID: "msg-x", RequestID: "req-2", Body: "Other request.", Visibility: "BOTH_SIDES", Author: prosecutor, CreateTime: t0},
	}
	wantMsg := createEach(t, "CreateMessage", msgs, func(m request.Message) string { return m.ID },
		func(m request.Message) (request.Message, error) {
			return s.CreateMessage(ctx, m, event("ev-"+m.ID, "CreateMessage"))
		},
		func(m request.Message) request.Message { m.CreateTime = utcMicros(m.CreateTime); return m })
	pick := func(ids ...string) []request.Message {
		var out []request.Message
		for _, id := range ids {
			out = append(out, wantMsg[id])
		}
		return out
	}
	tests := []struct {
		name          string
		requestID     string
		offset, limit int
		want          []request.Message
	}{
		{"all, oldest first", "req-1", 0, 0, pick("msg-a", "msg-b", "msg-c")},
		{"a page", "req-1", 1, 1, pick("msg-b")},
		{"the last page", "req-1", 2, 10, pick("msg-c")},
		{"beyond the end", "req-1", 3, 0, nil},
		{"another request", "req-2", 0, 0, pick("msg-x")},
		{"a request without messages", "req-none", 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListMessages(t.Context(), tc.requestID, tc.offset, tc.limit)
			if err != nil {
				t.Fatalf("ListMessages: %v", err)
			}
			check.Equal(t, "messages", got, tc.want)
		})
	}

	t.Run("duplicate id", func(t *testing.T) {
		_, err := s.CreateMessage(ctx, request.Message{ID: "msg-a", RequestID: "req-1", Body: "again"}, event("ev-dup", "CreateMessage"))
		check.Code(t, "CreateMessage with an existing id", err, errs.ErrAlreadyExists)
		if got, _ := s.ListMessages(ctx, "req-1", 0, 0); !slices.Equal(got, pick("msg-a", "msg-b", "msg-c")) {
			t.Errorf("messages after a failed create: %+v", got)
		}
	})
	t.Run("no time", func(t *testing.T) {
		before := time.Now()
		got, err := s.CreateMessage(ctx, request.Message{ID: "msg-now", RequestID: "req-2", Body: "now"}, event("ev-msg-now", "CreateMessage"))
		if err != nil {
			t.Fatal(err)
		}
		if got.CreateTime.Before(before.Truncate(time.Microsecond)) || got.CreateTime.After(time.Now()) || got.CreateTime.Location() != time.UTC {
			t.Errorf("create time %v; want the time of the call in UTC", got.CreateTime)
		}
		if l, _ := s.ListMessages(ctx, "req-2", 1, 0); len(l) != 1 || l[0] != got {
			t.Errorf("listed %+v; want %+v", l, got)
		}
	})
	check.Equal(t, "outbox: each message with its event, none for the failure", pendingIDs(t, s),
		[]string{"ev-create-req-1", "ev-create-req-2", "ev-msg-b", "ev-msg-a", "ev-msg-c", "ev-msg-x", "ev-msg-now"})
}

func testAttachments(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	create(t, s, draft("req-1", "KZ", t0))
	create(t, s, draft("req-2", "KZ", t0))
	atts := []request.Attachment{
		{ID: "att-2", RequestID: "req-1", Kind: "TRANSLATION", Filename: "перевод.pdf", MediaType: "application/pdf", Language: "uz",
			SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", SizeBytes: 104857600, BlobKey: "blobs/2c/26b4",
			Uploader: prosecutor, CreateTime: time.Date(2026, 3, 3, 12, 0, 0, 999, tashkent)},
		{ID: "att-1", RequestID: "req-1", Kind: "REQUEST_DOCUMENT", Filename: "request.pdf", MediaType: "application/pdf", Language: "ru",
			SHA256: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9", SizeBytes: 3, BlobKey: "blobs/fc/de2b",
			Uploader: prosecutor, CreateTime: t0},
		{ID: "att-3", RequestID: "req-2", Kind: "EVIDENCE", Filename: "log.txt", MediaType: "text/plain", SizeBytes: 0,
			SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", BlobKey: "blobs/e3/b0c4",
			Uploader: liaison, CreateTime: t0},
	}
	wantAtt := createEach(t, "CreateAttachment", atts, func(a request.Attachment) string { return a.ID },
		func(a request.Attachment) (request.Attachment, error) {
			return s.CreateAttachment(ctx, a, event("ev-"+a.ID, "UploadAttachment"))
		},
		func(a request.Attachment) request.Attachment { a.CreateTime = utcMicros(a.CreateTime); return a })
	for _, tc := range []struct {
		name, requestID, id string
		wantErr             *errs.Error
	}{
		{"own request", "req-1", "att-2", nil},
		{"other request", "req-2", "att-3", nil},
		{"asked under another request", "req-2", "att-2", errs.ErrNotFound},
		{"unknown", "req-1", "att-9", errs.ErrNotFound},
	} {
		t.Run("GetAttachment "+tc.name, func(t *testing.T) {
			got, err := s.GetAttachment(t.Context(), tc.requestID, tc.id)
			if tc.wantErr != nil {
				check.Code(t, "GetAttachment", err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("GetAttachment: %v", err)
			}
			check.Equal(t, "attachment", got, wantAtt[tc.id])
		})
	}
	for _, tc := range []struct {
		requestID string
		want      []request.Attachment
	}{
		{"req-1", []request.Attachment{wantAtt["att-1"], wantAtt["att-2"]}},
		{"req-2", []request.Attachment{wantAtt["att-3"]}},
		{"req-none", nil},
	} {
		t.Run("ListAttachments "+tc.requestID, func(t *testing.T) {
			got, err := s.ListAttachments(t.Context(), tc.requestID)
			if err != nil {
				t.Fatalf("ListAttachments: %v", err)
			}
			check.Equal(t, "attachments, oldest first", got, tc.want)
		})
	}
	_, err := s.CreateAttachment(ctx, request.Attachment{ID: "att-1", RequestID: "req-2", Kind: "OTHER"}, event("ev-dup", "UploadAttachment"))
	check.Code(t, "CreateAttachment with an existing id", err, errs.ErrAlreadyExists)
	if got, err := s.GetAttachment(ctx, "req-1", "att-1"); err != nil || got != wantAtt["att-1"] {
		t.Errorf("att-1 after a failed create: %+v, %v", got, err)
	}
	check.Equal(t, "outbox: each attachment with its event, none for the failure", pendingIDs(t, s),
		[]string{"ev-create-req-1", "ev-create-req-2", "ev-att-2", "ev-att-1", "ev-att-3"})
}

// wantEvent is e as the outbox returns it.
func wantEvent(e trail.Event) trail.Event {
	e.Time = utcMicros(e.Time)
	return e
}

func pendingEvents(t *testing.T, s request.Store, limit int) []trail.Event {
	t.Helper()
	entries, err := outboxOf(t, s).PendingEvents(t.Context(), limit)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	return check.Each(entries, func(e trail.OutboxEntry) trail.Event { return e.Event })
}

func testRecordEvent(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	denied := event("ev-denied", "GetRequest")
	denied.Time = time.Date(2026, 3, 2, 15, 4, 5, 987654321, tashkent)
	denied.Outcome = "PERMISSION_DENIED"
	denied.Transition = &trail.Transition{From: "SUBMITTED", To: "TRANSMITTED"}
	// Only what an unauthenticated, resource-less call has.
	minimal := trail.Event{ID: "ev-minimal", Time: t0, Service: "comity-request", Action: "/comity.request.v1.RequestService/ListRequests", Outcome: "UNAUTHENTICATED"}

	retried := denied
	retried.Outcome = "OK" // the same id again: the first stays
	for _, e := range []trail.Event{denied, denied, retried, minimal} {
		if err := s.RecordEvent(ctx, e); err != nil {
			t.Fatalf("RecordEvent(%s): %v", e.ID, err)
		}
	}
	check.Equal(t, "outbox", pendingEvents(t, s, 0), []trail.Event{wantEvent(denied), wantEvent(minimal)})

	// An id already written with a change is not written again either.
	r := create(t, s, draft("req-1", "KZ", t0))
	if err := s.RecordEvent(ctx, event("ev-create-"+r.ID, "CreateRequest")); err != nil {
		t.Fatalf("RecordEvent of the create's event: %v", err)
	}
	check.Equal(t, "outbox ids", pendingIDs(t, s), []string{"ev-denied", "ev-minimal", "ev-create-req-1"})
}

func testOutbox(t *testing.T, newStore func(t *testing.T) request.Store) {
	ctx := t.Context()
	s := newStore(t)
	o := outboxOf(t, s)
	if got := pendingEvents(t, s, 0); got != nil {
		t.Errorf("PendingEvents of an empty store: %v; want nil", got)
	}

	create(t, s, draft("req-1", "KZ", t0))
	transition(t, s, "req-1", request.Draft, request.Submitted, t0.Add(time.Hour))
	if _, err := s.CreateMessage(ctx, request.Message{ID: "msg-1", RequestID: "req-1", Body: "hi"}, event("ev-msg", "CreateMessage")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAttachment(ctx, request.Attachment{ID: "att-1", RequestID: "req-1", Kind: "OTHER"}, event("ev-att", "UploadAttachment")); err != nil {
		t.Fatal(err)
	}
	read := event("ev-read", "DownloadAttachment")
	read.Time = t0.Add(2*time.Hour + 1)
	if err := s.RecordEvent(ctx, read); err != nil {
		t.Fatal(err)
	}
	all := pendingEvents(t, s, 0)
	if len(all) != 5 {
		t.Fatalf("%d pending events; want 5", len(all))
	}
	// The events come back as written.
	check.Equal(t, "create event", all[0], wantEvent(event("ev-create-req-1", "CreateRequest")))
	check.Equal(t, "recorded event", all[4], wantEvent(read))

	entries, err := o.PendingEvents(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Seq >= entries[1].Seq {
		t.Fatalf("PendingEvents(2) = %+v; want the 2 oldest in seq order", entries)
	}
	check.Equal(t, "the 2 oldest", []trail.Event{entries[0].Event, entries[1].Event}, all[:2])
	if err := o.MarkDelivered(ctx, []int64{entries[0].Seq, entries[1].Seq}); err != nil {
		t.Fatalf("MarkDelivered: %v", err)
	}
	check.Equal(t, "pending after delivering the 2 oldest", pendingEvents(t, s, 0), all[2:])

	// Delivered again (a relay that crashed before recording it), unknown
	// seqs, nothing: no error, no change.
	if err := o.MarkDelivered(ctx, []int64{entries[0].Seq, 1 << 40}); err != nil {
		t.Errorf("MarkDelivered again: %v", err)
	}
	if err := o.MarkDelivered(ctx, nil); err != nil {
		t.Errorf("MarkDelivered(nil): %v", err)
	}
	check.Equal(t, "pending after repeated deliveries", pendingEvents(t, s, 0), all[2:])

	transition(t, s, "req-1", request.Submitted, request.Transmitted, t0.Add(3*time.Hour))
	rest, err := o.PendingEvents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 4 || rest[3].Event.ID != fmt.Sprintf("ev-req-1-TRANSMITTED-%d", t0.Add(3*time.Hour).UnixNano()) {
		t.Fatalf("pending %+v; want the 3 undelivered and the new one last", rest)
	}
	var seqList []int64
	for _, e := range rest {
		seqList = append(seqList, e.Seq)
	}
	if err := o.MarkDelivered(ctx, seqList); err != nil {
		t.Fatal(err)
	}
	if got := pendingEvents(t, s, 0); got != nil {
		t.Errorf("pending after delivering everything: %v; want nil", got)
	}
}

// testOutboxDeadLetters runs the outbox's dead-letter suite, shared with the
// directory's stores.
func testOutboxDeadLetters(t *testing.T, newStore func(t *testing.T) request.Store) {
	outboxtest.Run(t, "comity-request", func(t *testing.T) outboxtest.Store {
		s := newStore(t)
		o, ok := s.(outboxtest.Store)
		if !ok {
			t.Fatalf("%T is not an trail.Outbox", s)
		}
		return o
	})
}
