package directory_test

import (
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
	"github.com/comity-mla/comity/services/trail"
)

// agenciesOf returns every agency in the store.
func agenciesOf(t *testing.T, store *dirstore.Store) []directory.Agency {
	t.Helper()
	page, err := store.ListAgencies(t.Context(), directory.AgencyQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Agencies
}

// TestAgencyChangesKeepSignIn checks the safeguards of agency kinds and
// active flags (a role counts only at an active agency of a kind that may
// hold it): no change may leave the state with no agency where
// directory_admin counts or none where auditor counts, nor stop a role of
// the caller's own from counting at the caller's agency; each refusal says
// so in the violation and leaves the directory as it was, with no event;
// harmless changes pass; the etag is required, and a change that must never
// be made says why rather than only that the etag is missing.
func TestAgencyChangesKeepSignIn(t *testing.T) {
	gpoAdmin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ",
		Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: "urn:comity:dev-issuer"}
	oversightAdmin := gpoAdmin
	oversightAdmin.Agency = "kz-oversight"
	ombudsmanAdmin := gpoAdmin
	ombudsmanAdmin.Agency = "kz-ombudsman"
	gpoAdminProsecutor := gpoAdmin
	gpoAdminProsecutor.Roles = []identity.Role{identity.DirectoryAdmin, identity.Prosecutor}
	kind := func(k directory.Kind) directory.AgencyChange { return directory.AgencyChange{Kind: &k} }
	// setup changes the seeded directory (KZ: kz-gpo CENTRAL_AUTHORITY,
	// kz-police-cyber LAW_ENFORCEMENT, kz-247 CONTACT_POINT_24_7,
	// kz-oversight OVERSIGHT, all active) before the call.
	deactivated := func(id string) func(*testing.T, *dirstore.Store) {
		return func(t *testing.T, store *dirstore.Store) {
			if _, err := store.UpdateAgency(t.Context(), id, func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
				a.Active = false
				return trail.Event{ID: "setup-" + id}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ombudsman := func(active bool) func(*testing.T, *dirstore.Store) {
		return func(t *testing.T, store *dirstore.Store) {
			if _, err := store.CreateAgency(t.Context(), directory.Agency{ID: "kz-ombudsman", State: "KZ", Kind: directory.Oversight,
				DisplayNames: map[string]string{"en": "Ombudsman"}, Active: true}, trail.Event{ID: "setup-ombudsman"}); err != nil {
				t.Fatal(err)
			}
			if !active {
				deactivated("kz-ombudsman")(t, store)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, *dirstore.Store)
		p     identity.Principal
		id    string
		// change is nil for a deactivation.
		change *directory.AgencyChange
		noEtag bool
		// wantErr, field and words: the refusal; nil wantErr, success.
		wantErr      *errs.Error
		field, words string
	}{
		{name: "only oversight body made law enforcement", p: gpoAdmin, id: "kz-oversight", change: ptr(kind(directory.LawEnforcement)),
			wantErr: errs.ErrFailedPrecondition, field: "agency.kind",
			words: "kz-oversight is KZ's only active oversight body (OVERSIGHT): changing its kind to LAW_ENFORCEMENT would leave KZ's auditors unable to sign in; create another OVERSIGHT agency first"},
		{name: "only oversight body deactivated", p: gpoAdmin, id: "kz-oversight",
			wantErr: errs.ErrFailedPrecondition, field: "name",
			words: "kz-oversight is KZ's only active oversight body (OVERSIGHT): deactivating it would leave KZ's auditors unable to sign in"},
		{name: "only oversight body, another inactive one", setup: ombudsman(false), p: gpoAdmin, id: "kz-oversight",
			change: ptr(kind(directory.TrainingInstitution)), wantErr: errs.ErrFailedPrecondition, field: "agency.kind",
			words: "would leave KZ's auditors unable to sign in"},
		{name: "only oversight body, even made central authority", p: gpoAdmin, id: "kz-oversight", change: ptr(kind(directory.CentralAuthority)),
			wantErr: errs.ErrFailedPrecondition, field: "agency.kind", words: "would leave KZ's auditors unable to sign in"},
		{name: "own agency deactivated", p: gpoAdmin, id: "kz-gpo", wantErr: errs.ErrFailedPrecondition, field: "name",
			words: "this change would stop your own role directory_admin from counting at kz-gpo (it counts only at an active CENTRAL_AUTHORITY or OVERSIGHT agency); ask another administrator"},
		{name: "own agency made law enforcement", p: gpoAdmin, id: "kz-gpo", change: ptr(kind(directory.LawEnforcement)),
			wantErr: errs.ErrFailedPrecondition, field: "agency.kind", words: "your own role directory_admin from counting at kz-gpo"},
		{name: "own agency made oversight, losing a role of one's own", p: gpoAdminProsecutor, id: "kz-gpo", change: ptr(kind(directory.Oversight)),
			wantErr: errs.ErrFailedPrecondition, field: "agency.kind", words: "your own role prosecutor from counting at kz-gpo"},
		{name: "own oversight body made central authority", setup: ombudsman(true), p: oversightAdmin, id: "kz-oversight",
			change: ptr(kind(directory.CentralAuthority)), wantErr: nil},
		{name: "last agency where directory_admin counts deactivated", setup: deactivated("kz-oversight"), p: gpoAdmin, id: "kz-gpo",
			wantErr: errs.ErrFailedPrecondition, field: "name",
			words: "kz-gpo is KZ's only active agency where directory_admin counts (CENTRAL_AUTHORITY or OVERSIGHT): deactivating it would leave KZ's directory administrators unable to sign in, and nobody could undo it; create another CENTRAL_AUTHORITY or OVERSIGHT agency first"},
		{name: "lockout without etag says why", p: gpoAdmin, id: "kz-oversight", change: ptr(kind(directory.LawEnforcement)), noEtag: true,
			wantErr: errs.ErrFailedPrecondition, field: "agency.kind", words: "would leave KZ's auditors unable to sign in"},
		{name: "update without etag", p: gpoAdmin, id: "kz-police-cyber", change: ptr(kind(directory.Prosecution)), noEtag: true,
			wantErr: errs.ErrInvalid, field: "agency.etag", words: "send the etag you read"},
		{name: "deactivation without etag", p: gpoAdmin, id: "kz-police-cyber", noEtag: true,
			wantErr: errs.ErrInvalid, field: "etag", words: "send the etag you read"},
		{name: "another agency's kind", p: gpoAdmin, id: "kz-police-cyber", change: ptr(kind(directory.Prosecution))},
		{name: "another agency deactivated", p: gpoAdmin, id: "kz-247"},
		// By the other oversight agency's admin: the central authority's
		// may not (TestOversightKeptByOversight).
		{name: "oversight body made law enforcement, another one left", setup: ombudsman(true), p: ombudsmanAdmin, id: "kz-oversight",
			change: ptr(kind(directory.LawEnforcement))},
		{name: "central authority made law enforcement by an oversight administrator", p: oversightAdmin, id: "kz-gpo",
			change: ptr(kind(directory.LawEnforcement))},
		{name: "own agency, kind unchanged", p: gpoAdmin, id: "kz-gpo", change: ptr(kind(directory.CentralAuthority))},
		{name: "inactive oversight body's kind", setup: func(t *testing.T, store *dirstore.Store) {
			ombudsman(true)(t, store)
			deactivated("kz-oversight")(t, store)
		}, p: gpoAdmin, id: "kz-oversight", change: ptr(kind(directory.LawEnforcement))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t, time.Now())
			if tc.setup != nil {
				tc.setup(t, store)
			}
			before := agenciesOf(t, store)
			pending, err := store.PendingEvents(t.Context(), 0)
			if err != nil {
				t.Fatal(err)
			}
			cur, err := store.GetAgency(t.Context(), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			etag := cur.Etag()
			if tc.noEtag {
				etag = ""
			}
			var got directory.Agency
			if tc.change != nil {
				got, err = svc.UpdateAgency(t.Context(), tc.p, tc.id, etag, *tc.change)
			} else {
				got, err = svc.DeactivateAgency(t.Context(), tc.p, tc.id, etag)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.change == nil && got.Active || tc.change != nil && got.Kind != *tc.change.Kind {
					t.Errorf("got %+v; want the change made", got)
				}
				return
			}
			var e *errs.Error
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &e) {
				t.Fatalf("error %v; want %v", err, tc.wantErr)
			}
			if !slices.ContainsFunc(e.Violations, func(v errs.Violation) bool {
				return v.Field == tc.field && strings.Contains(v.Description, tc.words)
			}) {
				t.Errorf("violations %+v; want one of %s saying %q", e.Violations, tc.field, tc.words)
			}
			if after := agenciesOf(t, store); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused change changed the directory:\n got %+v\nwant %+v", after, before)
			}
			if after, err := store.PendingEvents(t.Context(), 0); err != nil || len(after) != len(pending) {
				t.Errorf("a refused change wrote %d events (%v)", len(after)-len(pending), err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestImportKeepsSignIn checks that a snapshot cannot do what an
// administrator may not: where it would leave a state with no active agency
// where directory_admin counts, or none where auditor counts, the agencies
// that would give it up keep their kind and active flag, and the report
// names them; the rest of the snapshot is stored; a snapshot that leaves
// another such agency is stored as it is.
func TestImportKeepsSignIn(t *testing.T) {
	agency := func(id string, k directory.Kind, active bool) directory.Agency {
		return directory.Agency{ID: id, State: "KZ", Kind: k, DisplayNames: map[string]string{"en": id + " (imported)"}, Active: active}
	}
	type state struct {
		kind   directory.Kind
		active bool
	}
	for _, tc := range []struct {
		name     string
		snapshot []directory.Agency
		// want is each agency's kind and active flag after the import.
		want map[string]state
		kept []directory.KeptAgency
	}{
		{name: "oversight body made law enforcement",
			snapshot: []directory.Agency{agency("kz-oversight", directory.LawEnforcement, true)},
			want:     map[string]state{"kz-oversight": {directory.Oversight, true}, "kz-gpo": {directory.CentralAuthority, true}},
			kept: []directory.KeptAgency{{ID: "kz-oversight", State: "KZ", Kind: directory.Oversight, Active: true,
				SnapshotKind: directory.LawEnforcement, SnapshotActive: true, Role: identity.Auditor}}},
		{name: "every agency where directory_admin counts deactivated",
			snapshot: []directory.Agency{agency("kz-gpo", directory.CentralAuthority, false), agency("kz-oversight", directory.Oversight, false),
				agency("kz-police-cyber", directory.LawEnforcement, false)},
			want: map[string]state{"kz-gpo": {directory.CentralAuthority, true}, "kz-oversight": {directory.Oversight, true},
				"kz-police-cyber": {directory.LawEnforcement, false}},
			kept: []directory.KeptAgency{
				{ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority, Active: true, SnapshotKind: directory.CentralAuthority, Role: identity.DirectoryAdmin},
				{ID: "kz-oversight", State: "KZ", Kind: directory.Oversight, Active: true, SnapshotKind: directory.Oversight, Role: identity.DirectoryAdmin},
			}},
		{name: "oversight body replaced by another",
			snapshot: []directory.Agency{agency("kz-oversight", directory.LawEnforcement, true), agency("kz-ombudsman", directory.Oversight, true)},
			want:     map[string]state{"kz-oversight": {directory.LawEnforcement, true}, "kz-ombudsman": {directory.Oversight, true}}},
		{name: "central authority made law enforcement, oversight left",
			snapshot: []directory.Agency{agency("kz-gpo", directory.LawEnforcement, true)},
			want:     map[string]state{"kz-gpo": {directory.LawEnforcement, true}, "kz-oversight": {directory.Oversight, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, store := newService(t, time.Now())
			report, err := directory.Import(t.Context(), store, nil, tc.snapshot)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if !reflect.DeepEqual(report.KeptAgencies, tc.kept) {
				t.Errorf("kept agencies\n got %+v\nwant %+v", report.KeptAgencies, tc.kept)
			}
			for id, want := range tc.want {
				a, err := store.GetAgency(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if got := (state{a.Kind, a.Active}); got != want {
					t.Errorf("%s: kind %s, active %t; want %s, %t", id, got.kind, got.active, want.kind, want.active)
				}
				inSnapshot := slices.ContainsFunc(tc.snapshot, func(a directory.Agency) bool { return a.ID == id })
				if inSnapshot && a.DisplayNames["en"] != id+" (imported)" {
					t.Errorf("%s: display names %q; want the snapshot's (only kind and active flag are kept)", id, a.DisplayNames)
				}
			}
		})
	}
}
