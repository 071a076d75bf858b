package request_test

import (
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
	"github.com/comity-mla/comity/services/request/store"
)

// TestOldReleaseRequestsWork runs the lifecycle through the Service on the
// request database of the release before issue 14 (store/testdata/
// release-911dcc2, see regenerate.sh there), on each engine: its draft
// passes today's safeguards, is submitted and transmitted, each step with
// its history entry and audit event, and the executed preservation reads
// for its owner with its relations.
func TestOldReleaseRequestsWork(t *testing.T) {
	const (
		fixtures    = "store/testdata/release-911dcc2/"
		draftID     = "0195f0c2-0000-7000-8000-000000000001"
		preservedID = "0195f0c2-0000-7000-8000-000000000003"
	)
	for _, engine := range []struct {
		name string
		open func(t *testing.T) *sqldb.DB
	}{
		{"sqlite", func(t *testing.T) *sqldb.DB { return sqldbtest.SQLiteCopy(t, fixtures+"requests.db") }},
		{"postgres", func(t *testing.T) *sqldb.DB { return sqldbtest.PostgresFrom(t, fixtures+"requests.postgres.sql") }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			ctx := t.Context()
			st := sqldbtest.New(t, store.New, engine.open(t))
			blobs, err := fsblob.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			dir := &agencies{}
			now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
			svc, err := request.NewService(request.Config{Store: st, Blobs: blobs, Directory: dir, Trust: dir, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			prosecutor := user("p-kz-1", "kz-gpo", identity.Prosecutor)
			ca := user("ca-kz", "kz-gpo", identity.CentralAuthority)

			v, err := svc.Get(ctx, prosecutor, draftID)
			if err != nil {
				t.Fatalf("Get the old draft: %v", err)
			}
			if v, err = svc.Submit(ctx, prosecutor, draftID, v.Request.Etag(), false); err != nil {
				t.Fatalf("Submit the old draft: %v", err)
			}
			if v, err = svc.Transmit(ctx, ca, draftID, v.Request.Etag(), false); err != nil {
				t.Fatalf("Transmit the old draft: %v", err)
			}
			if v.Request.Status != request.Transmitted || !v.Request.TransmitTime.Equal(now) || v.Request.Version != 3 {
				t.Errorf("the old draft after submit and transmit: %s at %v, version %d; want TRANSMITTED at %v, version 3",
					v.Request.Status, v.Request.TransmitTime, v.Request.Version, now)
			}
			h, err := svc.History(ctx, prosecutor, draftID)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range h {
				actions = append(actions, e.Action)
			}
			if len(actions) != 3 || actions[0] != "create" || actions[1] != "submit" || actions[2] != "transmit" {
				t.Errorf("history of the old draft: %v; want create, submit, transmit", actions)
			}
			pending, err := st.PendingEvents(ctx, 1000)
			if err != nil {
				t.Fatal(err)
			}
			// The old release's create event is still pending (nothing
			// delivered the fixture's outbox); the read of the Get, the
			// submit and the transmit follow it.
			var events []string
			for _, e := range pending {
				if e.Event.Resource == "requests/"+draftID {
					events = append(events, e.Event.Action)
				}
			}
			if len(events) != 4 || events[0] != "/comity.request.v1.RequestService/CreateRequest" {
				t.Errorf("events of the old draft in the outbox: %v; want its creation, then a read, a submit and a transmit", events)
			}

			p, err := svc.Get(ctx, prosecutor, preservedID)
			if err != nil {
				t.Fatalf("Get the old preservation: %v", err)
			}
			if p.Request.Status != request.Executed || len(p.Request.RelatedRequests) != 2 || p.Request.RelatedRequests[0].Kind != request.Related {
				t.Errorf("the old preservation: %s, relations %+v; want EXECUTED with two RELATED", p.Request.Status, p.Request.RelatedRequests)
			}
		})
	}
}
