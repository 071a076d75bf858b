package directory_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/sqlite"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
)

// newService returns a service over a seeded SQLite store, and the store.
func newService(t *testing.T, now time.Time) (*directory.Service, *sqlite.Store) {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlite.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	state := func(code string) directory.State {
		return directory.State{Code: code, DisplayNames: map[string]string{"en": code},
			AcceptedLanguages: []string{"ru"}, TimeZone: "Asia/Almaty"}
	}
	agency := directory.Agency{ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority,
		DisplayNames: map[string]string{"en": "GPO"}, Active: true}
	if _, err := store.Seed(t.Context(), []directory.State{state("KZ"), state("UZ")}, []directory.Agency{agency}); err != nil {
		t.Fatal(err)
	}
	return directory.NewService(store, func() time.Time { return now }), store
}

// TestChangesAreAudited checks the event each change writes and that the
// call is marked recorded, so that the server does not record it again; and
// that a refused change writes no event and leaves the call to the server.
func TestChangesAreAudited(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 30, 0, 123456000, time.UTC)
	admin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: "https://idp.kz.example/"}
	uzAdmin := admin
	uzAdmin.State, uzAdmin.Agency = "UZ", "uz-gpo"
	tz := "Asia/Qostanay"
	tests := []struct {
		name   string
		method string
		call   func(ctx context.Context, s *directory.Service) error
		// resource and state are those of the event; empty resource: none.
		resource, state string
		wantErr         *errs.Error
	}{
		{name: "create agency", method: "CreateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.CreateAgency(ctx, admin, directory.Agency{ID: "kz-academy", Kind: directory.TrainingInstitution,
				DisplayNames: map[string]string{"en": "Academy"}})
			return err
		}, resource: "agencies/kz-academy", state: "KZ"},
		{name: "update agency", method: "UpdateAgency", call: func(ctx context.Context, s *directory.Service) error {
			names := map[string]string{"en": "Prosecutor General"}
			_, err := s.UpdateAgency(ctx, admin, "kz-gpo", "", directory.AgencyChange{DisplayNames: &names})
			return err
		}, resource: "agencies/kz-gpo", state: "KZ"},
		{name: "deactivate agency", method: "DeactivateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.DeactivateAgency(ctx, admin, "kz-gpo", "")
			return err
		}, resource: "agencies/kz-gpo", state: "KZ"},
		{name: "update state", method: "UpdateState", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.UpdateState(ctx, admin, "kz", "", directory.StateChange{TimeZone: &tz})
			return err
		}, resource: "states/KZ", state: "KZ"},
		{name: "agency of another state", method: "UpdateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.DeactivateAgency(ctx, uzAdmin, "kz-gpo", "")
			return err
		}, wantErr: errs.ErrPermissionDenied},
		{name: "stale etag", method: "UpdateState", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.UpdateState(ctx, admin, "KZ", "stale", directory.StateChange{TimeZone: &tz})
			return err
		}, wantErr: errs.ErrConflict},
		{name: "invalid agency", method: "CreateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.CreateAgency(ctx, admin, directory.Agency{ID: "kz-academy", Kind: directory.TrainingInstitution})
			return err
		}, wantErr: errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t, now)
			call := audit.Call{Service: "comity-directory", Action: "/comity.directory.v1.DirectoryService/" + tc.method,
				RequestSHA256: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"}
			ctx := audit.WithCall(t.Context(), call)
			err := tc.call(ctx, svc)
			pending, perr := store.PendingEvents(t.Context(), 0)
			if perr != nil {
				t.Fatal(perr)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v; want %v", err, tc.wantErr)
				}
				if len(pending) != 0 {
					t.Errorf("a refused change wrote %d events", len(pending))
				}
				if audit.Recorded(ctx) {
					t.Error("a refused change is marked recorded: the server would not record it")
				}
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if !audit.Recorded(ctx) {
				t.Error("the call is not marked recorded: the server would record it a second time")
			}
			if len(pending) != 1 {
				t.Fatalf("%d events written; want 1", len(pending))
			}
			got := pending[0].Event
			want := audit.Event{
				ID: got.ID, Time: now, Service: call.Service, Action: call.Action,
				Actor:    audit.Actor{Subject: "admin-1", Agency: "kz-gpo", Roles: []string{"directory_admin"}, Issuer: "https://idp.kz.example/"},
				Resource: tc.resource, States: []string{tc.state}, Outcome: "OK", RequestSHA256: call.RequestSHA256,
			}
			if got.ID == "" {
				t.Error("event has no id")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestAgencyTrust: what the identity layer is told about an agency, the
// kind included (it decides which roles count there), and that an agency
// not in the directory is not found.
func TestAgencyTrust(t *testing.T) {
	svc, _ := newService(t, time.Now())
	got, err := svc.AgencyTrust(t.Context(), "kz-gpo")
	if err != nil {
		t.Fatal(err)
	}
	if want := (identity.AgencyTrust{State: "KZ", Kind: "CENTRAL_AUTHORITY", Active: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("AgencyTrust(kz-gpo) = %+v, want %+v", got, want)
	}
	if _, err := svc.AgencyTrust(t.Context(), "xx-nowhere"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("AgencyTrust(xx-nowhere) = %v, want not found", err)
	}
}
