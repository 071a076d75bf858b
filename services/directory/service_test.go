package directory_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	dirstore "github.com/comity-mla/comity/services/directory/store"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/trail"
)

// openStore opens the directory store on db, an empty database.
func openStore(t *testing.T, db *sqldb.DB) *dirstore.Store {
	t.Helper()
	return sqldbtest.New(t, dirstore.New, db)
}

// newService returns a service over a seeded SQLite store, and the store.
func newService(t *testing.T, now time.Time) (*directory.Service, *dirstore.Store) {
	t.Helper()
	return newServiceOn(t, sqldbtest.SQLite(t), now)
}

// newServiceOn returns a service over a seeded store on db, and the store.
func newServiceOn(t *testing.T, db *sqldb.DB, now time.Time) (*directory.Service, *dirstore.Store) {
	t.Helper()
	store := openStore(t, db)
	state := func(code string) directory.State {
		return directory.State{Code: code, DisplayNames: map[string]string{"en": code},
			AcceptedLanguages: []string{"ru"}, TimeZone: "Asia/Almaty"}
	}
	agency := func(id string, k directory.Kind) directory.Agency {
		return directory.Agency{ID: id, State: "KZ", Kind: k, DisplayNames: map[string]string{"en": id}, Active: true}
	}
	agencies := []directory.Agency{agency("kz-gpo", directory.CentralAuthority), agency("kz-police-cyber", directory.LawEnforcement),
		agency("kz-247", directory.ContactPoint247), agency("kz-oversight", directory.Oversight)}
	if _, err := store.Seed(t.Context(), []directory.State{state("KZ"), state("UZ")}, agencies); err != nil {
		t.Fatal(err)
	}
	return directory.NewService(store, func() time.Time { return now }), store
}

// firstEtag is the etag of the seeded agency id (version 1).
func firstEtag(id string) string { return directory.Agency{ID: id, Version: 1}.Etag() }

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
		// resource and state are those of the event, state that of a
		// refusal (whose auditors see it); empty resource: none.
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
			_, err := s.UpdateAgency(ctx, admin, "kz-gpo", firstEtag("kz-gpo"), directory.AgencyChange{DisplayNames: &names})
			return err
		}, resource: "agencies/kz-gpo", state: "KZ"},
		{name: "deactivate agency", method: "DeactivateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.DeactivateAgency(ctx, admin, "kz-police-cyber", firstEtag("kz-police-cyber"))
			return err
		}, resource: "agencies/kz-police-cyber", state: "KZ"},
		{name: "update state", method: "UpdateState", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.UpdateState(ctx, admin, "kz", directory.State{Code: "KZ", Version: 1}.Etag(), directory.StateChange{TimeZone: &tz})
			return err
		}, resource: "states/KZ", state: "KZ"},
		{name: "agency of another state", method: "UpdateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.DeactivateAgency(ctx, uzAdmin, "kz-gpo", "")
			return err
		}, state: "KZ", wantErr: errs.ErrPermissionDenied},
		{name: "stale etag", method: "UpdateState", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.UpdateState(ctx, admin, "KZ", "stale", directory.StateChange{TimeZone: &tz})
			return err
		}, state: "KZ", wantErr: errs.ErrConflict},
		{name: "invalid agency", method: "CreateAgency", call: func(ctx context.Context, s *directory.Service) error {
			_, err := s.CreateAgency(ctx, admin, directory.Agency{ID: "kz-academy", Kind: directory.TrainingInstitution})
			return err
		}, state: "KZ", wantErr: errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t, now)
			call := trail.Call{Service: "comity-directory", Action: "/comity.directory.v1.DirectoryService/" + tc.method,
				RequestHMAC: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"}
			ctx := trail.WithCall(t.Context(), call)
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
				if r, ok := trail.RefusalOf(err); !ok || !reflect.DeepEqual(r.States, []string{tc.state}) || r.Resource != "" {
					t.Errorf("refusal %#v; want one concerning %s, for the server to record on its trail", r, tc.state)
				}
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(pending) != 1 {
				t.Fatalf("%d events written; want 1", len(pending))
			}
			got := pending[0].Event
			want := trail.Event{
				ID: got.ID, Time: now, Service: call.Service, Action: call.Action,
				Actor:    trail.Actor{Subject: "admin-1", Agency: "kz-gpo", Roles: []string{"directory_admin"}, Issuer: "https://idp.kz.example/"},
				Resource: tc.resource, States: []string{tc.state}, Outcome: "OK", RequestHMAC: call.RequestHMAC,
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

// TestUpdateStateKeepsTrust checks the safeguards of a state's trusted
// issuers: a change must be made knowingly (with the etag), must leave the
// state an issuer, and must not remove the issuer of the caller's own token;
// a refused change leaves the state as it was.
func TestUpdateStateKeepsTrust(t *testing.T) {
	const own, other = "urn:comity:dev-issuer", "https://idp.kz.example/"
	admin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: own}
	issuers := func(v ...string) *[]string { return &v }
	tz := "Asia/Qostanay"
	for _, tc := range []struct {
		name    string
		noEtag  bool
		change  directory.StateChange
		wantErr *errs.Error
		// field and words must appear in the violation of a refusal.
		field, words string
		want         []string
	}{
		{name: "no etag", noEtag: true, change: directory.StateChange{TimeZone: &tz}, wantErr: errs.ErrInvalid,
			field: "state.etag", words: "send the etag you read"},
		{name: "own issuer replaced, no etag", noEtag: true, change: directory.StateChange{TrustedIssuers: issuers("urn:evil")},
			wantErr: errs.ErrFailedPrecondition, field: "state.trusted_issuers", words: "the issuer of your own token"},
		{name: "no issuer left", change: directory.StateChange{TrustedIssuers: issuers()}, wantErr: errs.ErrFailedPrecondition,
			field: "state.trusted_issuers", words: "would leave KZ with no trusted token issuer"},
		{name: "own issuer replaced", change: directory.StateChange{TrustedIssuers: issuers("urn:evil")}, wantErr: errs.ErrFailedPrecondition,
			field: "state.trusted_issuers", words: "removes urn:comity:dev-issuer, the issuer of your own token"},
		{name: "own issuer removed, another kept", change: directory.StateChange{TrustedIssuers: issuers(other)}, wantErr: errs.ErrFailedPrecondition,
			field: "state.trusted_issuers", words: "ask another administrator"},
		{name: "issuer added", change: directory.StateChange{TrustedIssuers: issuers(own, other, "urn:new")},
			want: []string{own, other, "urn:new"}},
		{name: "another issuer removed", change: directory.StateChange{TrustedIssuers: issuers(own)}, want: []string{own}},
		{name: "issuers untouched", change: directory.StateChange{TimeZone: &tz}, want: []string{own, other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t, time.Now())
			before, err := store.UpdateState(t.Context(), "KZ", func(st *directory.State) (trail.Event, error) {
				st.TrustedIssuers = []string{own, other}
				return trail.Event{ID: "setup"}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			etag := before.Etag()
			if tc.noEtag {
				etag = ""
			}
			got, err := svc.UpdateState(t.Context(), admin, "KZ", etag, tc.change)
			if tc.wantErr != nil {
				var e *errs.Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &e) {
					t.Fatalf("error %v; want %v", err, tc.wantErr)
				}
				if !slices.ContainsFunc(e.Violations, func(v errs.Violation) bool {
					return v.Field == tc.field && strings.Contains(v.Description, tc.words)
				}) {
					t.Errorf("violations %+v; want one of %s saying %q", e.Violations, tc.field, tc.words)
				}
				after, err := store.GetState(t.Context(), "KZ")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(after, before) {
					t.Errorf("a refused change changed the state:\n got %+v\nwant %+v", after, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateState: %v", err)
			}
			if !slices.Equal(got.TrustedIssuers, tc.want) {
				t.Errorf("trusted issuers %q; want %q", got.TrustedIssuers, tc.want)
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
