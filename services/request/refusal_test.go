package request_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// TestRefusalsCarryTheParties checks what the domain says of each refusal
// for the trail (trail.Refusal): a refusal decided once the request was
// read concerns the request's parties, whose auditors see every attempt; a
// refusal decided before, or of a name that names nothing, carries nothing,
// and the server records it for the caller's state only. The server records
// every refusal from it, exactly once (grpcserver's tests); successful
// changes write their event with the change and carry none.
func TestRefusalsCarryTheParties(t *testing.T) {
	ctx := trail.WithCall(t.Context(), trail.Call{Service: "comity-request", Action: "/comity.request.v1.RequestService/UpdateRequest"})
	svc, store, _ := newService(t, request.WatchLimits{})
	draft, err := svc.Create(ctx, kzProsecutor, draftToUZ(), "")
	if err != nil {
		t.Fatal(err)
	}
	id := draft.ID
	other := user("p-kz-2", "kz-gpo", identity.Prosecutor)
	uzProsecutor := user("p-uz", "uz-gpo", identity.Prosecutor)
	kzParties := []string{"KZ"} // a draft is its requesting state's only
	noChange := func(*request.Request) {}
	outbox := store.Store.(trail.Outbox)
	for _, tc := range []struct {
		name   string
		call   func() error
		code   errs.Code
		states []string // nil: no Refusal
		// resource is the canonical name the refusal gives, when the call
		// named the request another way.
		resource string
	}{
		{"a request of a state the caller is not party to", func() error {
			_, err := svc.Get(ctx, uzProsecutor, id)
			return err
		}, errs.NotFound, kzParties, ""},
		{"a request by its reference, of a state the caller is not party to", func() error {
			_, err := svc.Get(ctx, uzProsecutor, strings.ToLower(draft.Reference))
			return err
		}, errs.NotFound, kzParties, "requests/" + id},
		{"an update by another prosecutor", func() error {
			_, err := svc.Update(ctx, other, id, "", noChange, nil)
			return err
		}, errs.PermissionDenied, kzParties, ""},
		{"an update with a stale etag", func() error {
			_, err := svc.Update(ctx, kzProsecutor, id, "stale", noChange, nil)
			return err
		}, errs.Conflict, kzParties, ""},
		{"a check before the update", func() error {
			return svc.MayUpdate(ctx, other, id)
		}, errs.PermissionDenied, kzParties, ""},
		{"a lifecycle action out of turn", func() error {
			_, err := svc.Acknowledge(ctx, kzProsecutor, id, "")
			return err
		}, errs.PermissionDenied, kzParties, ""},
		{"the history of a request the caller may not see", func() error {
			_, err := svc.History(ctx, uzProsecutor, id)
			return err
		}, errs.NotFound, kzParties, ""},
		{"a message the caller may not post", func() error {
			_, err := svc.PostMessage(ctx, uzProsecutor, id, request.Message{Body: "hello", Visibility: request.BothSides})
			return err
		}, errs.NotFound, kzParties, ""},
		{"an invalid message on a request the caller sees", func() error {
			_, err := svc.PostMessage(ctx, kzProsecutor, id, request.Message{})
			return err
		}, errs.Invalid, kzParties, ""},
		{"a name that names nothing", func() error {
			_, err := svc.Get(ctx, kzProsecutor, "0190f3a4-0000-7000-8000-000000000000")
			return err
		}, errs.NotFound, nil, ""},
		{"a refusal before the request is read", func() error {
			_, err := svc.Create(ctx, uzProsecutor, request.Request{}, "")
			return err
		}, errs.Invalid, nil, ""},
	} {
		before, err := outbox.PendingEvents(t.Context(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		err = tc.call()
		if errs.CodeOf(err) != tc.code {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.code)
		}
		var states []string
		if r, ok := trail.RefusalOf(err); ok {
			states = r.States
			if r.Resource != tc.resource {
				t.Errorf("%s: the refusal names %q; want %q", tc.name, r.Resource, tc.resource)
			}
			if !errors.Is(err, &errs.Error{Code: tc.code}) {
				t.Errorf("%s: the refusal hides its code from errors.Is", tc.name)
			}
		}
		if !slices.Equal(states, tc.states) || (states == nil) != (tc.states == nil) {
			t.Errorf("%s: the refusal concerns %v; want %v", tc.name, states, tc.states)
		}
		if after, err := outbox.PendingEvents(t.Context(), 1000); err != nil || len(after) != len(before) {
			t.Errorf("%s: the domain wrote %d events (%v); the server records refusals", tc.name, len(after)-len(before), err)
		}
	}
	// A change that succeeds writes its event with the change, and
	// carries no refusal.
	if _, err := svc.Update(ctx, kzProsecutor, id, draft.Etag(), func(r *request.Request) {
		r.RequestedResponseTime = time.Now().Add(30 * 24 * time.Hour)
	}, []string{"requested_response_time"}); err != nil {
		t.Fatalf("update: %v", err)
	}
}
