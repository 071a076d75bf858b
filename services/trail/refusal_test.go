package trail_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

func TestActorOf(t *testing.T) {
	p := identity.Principal{Subject: "s", Agency: "kz-gpo", State: "KZ", Issuer: "https://idp.kz.example/",
		Roles: []identity.Role{identity.Prosecutor, identity.Auditor}}
	want := trail.Actor{Subject: "s", Agency: "kz-gpo", Issuer: "https://idp.kz.example/", Roles: []string{"prosecutor", "auditor"}}
	if got := trail.ActorOf(p); !reflect.DeepEqual(got, want) {
		t.Errorf("ActorOf = %+v; want %+v", got, want)
	}
}

func TestConcerning(t *testing.T) {
	if trail.Concerning(nil, "requests/r", "KZ") != nil {
		t.Error("Concerning(nil) is not nil")
	}
	base := errs.New(errs.NotFound, "request %q not found", "r")
	if err := trail.Concerning(base, "", "", ""); err != base {
		t.Errorf("a refusal with nothing known is %#v; want the error itself", err)
	}
	err := trail.Concerning(fmt.Errorf("wrapped: %w", base), "requests/r", "UZ", "", "KZ")
	r, ok := trail.RefusalOf(err)
	if !ok || !reflect.DeepEqual(r.States, []string{"UZ", "KZ"}) || r.Resource != "requests/r" {
		t.Fatalf("refusal %#v; want UZ, KZ and requests/r", r)
	}
	if errs.CodeOf(err) != errs.NotFound || !errors.Is(err, errs.ErrNotFound) || err.Error() != "wrapped: "+base.Error() {
		t.Errorf("the refusal changes its error: %v (code %v)", err, errs.CodeOf(err))
	}
	// The refusal closest to the decision is kept.
	again := trail.Concerning(err, "requests/other", "TJ")
	if r2, _ := trail.RefusalOf(again); r2 != r {
		t.Errorf("a second Concerning replaced the first: %#v", r2)
	}
}

func TestRefusalEvents(t *testing.T) {
	ctx := trail.WithCall(context.Background(), trail.Call{Service: "comity-request",
		Action: "/comity.request.v1.RequestService/GetRequest", Resource: "requests/KZ-2026-000001"})
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	uz := identity.Principal{Subject: "p-uz", Agency: "uz-gpo", State: "UZ", Roles: []identity.Role{identity.Prosecutor}}
	type view struct {
		resource string
		states   []string
	}
	for _, tc := range []struct {
		name    string
		caller  *identity.Principal
		outcome string
		err     error
		want    []view
	}{
		{"NOT_FOUND of a request by its reference", &uz, "NOT_FOUND",
			trail.Concerning(errs.New(errs.NotFound, "nf"), "requests/r-1", "KZ"),
			[]view{{"requests/KZ-2026-000001", []string{"UZ"}}, {"requests/r-1", []string{"KZ"}}}},
		{"NOT_FOUND of a name that names nothing", &uz, "NOT_FOUND", errs.New(errs.NotFound, "nf"),
			[]view{{"requests/KZ-2026-000001", []string{"UZ"}}, {"requests/KZ-2026-000001", nil}}},
		{"NOT_FOUND of nobody known", nil, "NOT_FOUND", trail.Concerning(errs.New(errs.NotFound, "nf"), "requests/r-1", "KZ"),
			[]view{{"requests/KZ-2026-000001", []string{"KZ"}}}},
		{"PERMISSION_DENIED on a request", &uz, "PERMISSION_DENIED",
			trail.Concerning(errs.New(errs.PermissionDenied, "no"), "requests/r-1", "KZ", "UZ"),
			[]view{{"requests/KZ-2026-000001", []string{"KZ", "UZ"}}}},
		{"a refusal before the domain", &uz, "INVALID_ARGUMENT", errs.New(errs.Invalid, "bad"),
			[]view{{"requests/KZ-2026-000001", []string{"UZ"}}}},
	} {
		evs := trail.RefusalEvents(ctx, now, tc.caller, tc.outcome, tc.err)
		var got []view
		for _, e := range evs {
			got = append(got, view{e.Resource, e.States})
			if e.Outcome != tc.outcome || !e.Time.Equal(now) || e.Action != "/comity.request.v1.RequestService/GetRequest" {
				t.Errorf("%s: event %+v", tc.name, e)
			}
			if tc.caller != nil && !reflect.DeepEqual(e.Actor, trail.ActorOf(*tc.caller)) {
				t.Errorf("%s: actor %+v", tc.name, e.Actor)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: events %+v; want %+v", tc.name, got, tc.want)
		}
	}
}
