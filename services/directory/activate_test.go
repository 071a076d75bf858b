package directory_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/trail"
)

// activationStore is a store the activation test runs on: the directory's
// Store and its audit outbox, where the change's event is written.
type activationStore interface {
	directory.Store
	Seed(ctx context.Context, states []directory.State, agencies []directory.Agency) (bool, error)
	PendingEvents(ctx context.Context, limit int) ([]trail.OutboxEntry, error)
}

// activationBackends open an empty store of each backend: the embedded
// (SQLite) and the scaled-out (PostgreSQL) deployment obey the same rules.
var activationBackends = map[string]func(t *testing.T) activationStore{
	"sqlite":   func(t *testing.T) activationStore { return openStore(t, sqldbtest.SQLite(t)) },
	"postgres": func(t *testing.T) activationStore { return openStore(t, sqldbtest.Postgres(t)) },
}

// TestActivateAgency checks the reverse of a deactivation on both stores: a
// directory_admin of the agency's state activates it with its current etag,
// the agency counts again for the identity layer, and the change is
// audited like a deactivation; a stale or missing etag, another state's
// administrator and a user without the role are refused and write nothing.
func TestActivateAgency(t *testing.T) {
	for name, open := range activationBackends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testActivateAgency(t, open(t))
		})
	}
}

func testActivateAgency(t *testing.T, store activationStore) {
	now := time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)
	state := func(code string) directory.State {
		return directory.State{Code: code, DisplayNames: map[string]string{"en": code},
			AcceptedLanguages: []string{"ru"}, TimeZone: "Asia/Almaty", TrustedIssuers: []string{"https://idp.example/"}}
	}
	agency := func(id, st string, k directory.Kind) directory.Agency {
		return directory.Agency{ID: id, State: st, Kind: k, DisplayNames: map[string]string{"en": id}, Active: true}
	}
	if _, err := store.Seed(t.Context(), []directory.State{state("KZ"), state("UZ")}, []directory.Agency{
		agency("kz-gpo", "KZ", directory.CentralAuthority), agency("kz-police-cyber", "KZ", directory.LawEnforcement),
		agency("kz-oversight", "KZ", directory.Oversight), agency("uz-gpo", "UZ", directory.CentralAuthority),
	}); err != nil {
		t.Fatal(err)
	}
	svc := directory.NewService(store, func() time.Time { return now })
	admin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: "https://idp.example/"}
	uzAdmin := identity.Principal{Subject: "admin-2", Agency: "uz-gpo", State: "UZ",
		Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: "https://idp.example/"}
	prosecutor := identity.Principal{Subject: "pr-1", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.Prosecutor}, Issuer: "https://idp.example/"}
	const id = "kz-police-cyber"
	call := func(method string) context.Context {
		return trail.WithCall(t.Context(), trail.Call{Service: "comity-directory",
			Action: "/comity.directory.v1.DirectoryService/" + method})
	}
	events := func() int {
		t.Helper()
		evs, err := store.PendingEvents(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	off, err := svc.DeactivateAgency(call("DeactivateAgency"), admin, id, firstEtag(id))
	if err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if off.Active {
		t.Fatal("the agency is active after its deactivation")
	}
	trust, err := svc.AgencyTrust(t.Context(), id)
	if err != nil || trust.Active {
		t.Fatalf("AgencyTrust after the deactivation: %+v, %v; want inactive", trust, err)
	}
	before := events()

	refusals := []struct {
		name string
		p    identity.Principal
		etag string
		want error
		// states are those the refusal concerns, whose auditors see it:
		// the agency's, once the agency was read; the role is checked
		// before, and a refusal for it is the caller's own.
		states []string
	}{
		{"stale etag", admin, firstEtag(id), errs.ErrConflict, []string{"KZ"}},
		{"no etag", admin, "", errs.ErrInvalid, []string{"KZ"}},
		{"administrator of another state", uzAdmin, off.Etag(), errs.ErrPermissionDenied, []string{"KZ"}},
		{"prosecutor", prosecutor, off.Etag(), errs.ErrPermissionDenied, nil},
	}
	for _, r := range refusals {
		ctx := call("ActivateAgency")
		_, err := svc.ActivateAgency(ctx, r.p, id, r.etag)
		if !errors.Is(err, r.want) {
			t.Errorf("%s: activate answered %v; want %v", r.name, err, r.want)
		}
		var states []string
		if refusal, ok := trail.RefusalOf(err); ok {
			states = refusal.States
		}
		if !slices.Equal(states, r.states) {
			t.Errorf("%s: the refusal concerns %v; want %v", r.name, states, r.states)
		}
	}
	if n := events(); n != before {
		t.Errorf("the refused activations wrote %d events", n-before)
	}
	if got, _ := svc.GetAgency(t.Context(), admin, id); got.Active {
		t.Fatal("a refused activation activated the agency")
	}

	ctx := call("ActivateAgency")
	on, err := svc.ActivateAgency(ctx, admin, id, off.Etag())
	if err != nil {
		t.Fatalf("activate: %v", err)
	}
	if !on.Active || on.Etag() == off.Etag() || !on.UpdateTime.Equal(now) {
		t.Errorf("activated agency: active %v, etag %q (was %q), updated %v; want active, a new etag, updated %v",
			on.Active, on.Etag(), off.Etag(), on.UpdateTime, now)
	}
	if got, err := svc.GetAgency(t.Context(), admin, id); err != nil || !got.Active || got.Etag() != on.Etag() {
		t.Errorf("the stored agency after the activation: active %v, etag %q, %v", got.Active, got.Etag(), err)
	}
	if trust, err := svc.AgencyTrust(t.Context(), id); err != nil || !trust.Active {
		t.Errorf("AgencyTrust after the activation: %+v, %v; want active", trust, err)
	}
	evs, err := store.PendingEvents(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != before+1 {
		t.Fatalf("%d events after the activation; want %d", len(evs), before+1)
	}
	ev := evs[len(evs)-1].Event
	if ev.Action != "/comity.directory.v1.DirectoryService/ActivateAgency" || ev.Resource != "agencies/"+id ||
		len(ev.States) != 1 || ev.States[0] != "KZ" || ev.Outcome != "OK" || ev.Actor.Subject != "admin-1" {
		t.Errorf("the activation's event is %+v", ev)
	}

	// Once more: an active agency stays active, with the etag just read.
	again, err := svc.ActivateAgency(call("ActivateAgency"), admin, id, on.Etag())
	if err != nil || !again.Active {
		t.Errorf("activating an active agency: active %v, %v; want no error", again.Active, err)
	}
}
