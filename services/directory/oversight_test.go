package directory_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/trail"
)

// TestOversightKeptByOversight, on both engines: who may change the state's
// witness is decided by which agencies are active OVERSIGHT agencies and by
// which tokens reach them, so a directory_admin of another agency of the
// state (the central authority's) may not make an agency an active
// OVERSIGHT agency, nor stop one being one (kind, deactivation,
// activation, creation), nor give a claim mapping that maps a provider's
// value to an OVERSIGHT agency: otherwise they could make their own agency
// OVERSIGHT, repoint the witness and turn it back (DESIGN §6.1). Each
// refusal names who may, concerns the state and changes nothing; the
// oversight agency's directory_admin may do each of them; changes that do
// not touch what is OVERSIGHT stay open to the central authority.
func TestOversightKeptByOversight(t *testing.T) {
	const own, idp = "urn:comity:dev-issuer", "https://idp.kz.example/"
	ca := identity.Principal{Subject: "ca-1", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: own}
	ov := identity.Principal{Subject: "ov-1", Agency: "kz-oversight", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}, Issuer: own}
	kind := func(k directory.Kind) directory.AgencyChange { return directory.AgencyChange{Kind: &k} }
	toOversight := identity.ClaimMapping{Issuer: idp, AgencyClaim: "org.unit", AgencyValues: map[string]string{"OMB": "kz-oversight"}}
	toGPO := identity.ClaimMapping{Issuer: idp, AgencyClaim: "org.unit", AgencyValues: map[string]string{"GPO": "kz-gpo"}}
	mappings := func(v ...identity.ClaimMapping) *directory.StateChange {
		return &directory.StateChange{ClaimMappings: &v}
	}
	for _, engine := range sqldbtest.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				// setup, when given, runs as the oversight admin first.
				setup func(*testing.T, *directory.Service, directory.Store)
				call  func(*testing.T, *directory.Service, directory.Store, identity.Principal) error
				// open: the central authority's admin may do it too.
				open bool
			}{
				{name: "own agency made OVERSIGHT", call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
					_, err := svc.UpdateAgency(t.Context(), p, "kz-gpo", etagOf(t, store, "kz-gpo"), kind(directory.Oversight))
					return err
				}},
				{name: "another agency made OVERSIGHT", call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
					_, err := svc.UpdateAgency(t.Context(), p, "kz-police-cyber", etagOf(t, store, "kz-police-cyber"), kind(directory.Oversight))
					return err
				}},
				{name: "OVERSIGHT agency created", call: func(t *testing.T, svc *directory.Service, _ directory.Store, p identity.Principal) error {
					_, err := svc.CreateAgency(t.Context(), p, directory.Agency{ID: "kz-ombudsman-" + p.Subject, State: "KZ",
						Kind: directory.Oversight, DisplayNames: map[string]string{"en": "Ombudsman"}})
					return err
				}},
				{name: "OVERSIGHT agency made law enforcement, another one left", setup: createOmbudsman,
					call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
						_, err := svc.UpdateAgency(t.Context(), p, "kz-ombudsman", etagOf(t, store, "kz-ombudsman"), kind(directory.LawEnforcement))
						return err
					}},
				{name: "OVERSIGHT agency deactivated, another one left", setup: createOmbudsman,
					call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
						_, err := svc.DeactivateAgency(t.Context(), p, "kz-ombudsman", etagOf(t, store, "kz-ombudsman"))
						return err
					}},
				{name: "inactive OVERSIGHT agency activated", setup: func(t *testing.T, svc *directory.Service, store directory.Store) {
					createOmbudsman(t, svc, store)
					if _, err := svc.DeactivateAgency(t.Context(), ovAdmin, "kz-ombudsman", etagOf(t, store, "kz-ombudsman")); err != nil {
						t.Fatal(err)
					}
				}, call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
					_, err := svc.ActivateAgency(t.Context(), p, "kz-ombudsman", etagOf(t, store, "kz-ombudsman"))
					return err
				}},
				{name: "claim mapping to the OVERSIGHT agency", call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
					st, _ := store.GetState(t.Context(), "KZ")
					_, err := svc.UpdateState(t.Context(), p, "KZ", st.Etag(), *mappings(toOversight))
					return err
				}},
				// Not about OVERSIGHT: the central authority's admin keeps them.
				{name: "claim mapping to the central authority", open: true, call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
					st, _ := store.GetState(t.Context(), "KZ")
					_, err := svc.UpdateState(t.Context(), p, "KZ", st.Etag(), *mappings(toGPO))
					return err
				}},
				{name: "law enforcement made prosecution", open: true, call: func(t *testing.T, svc *directory.Service, store directory.Store, p identity.Principal) error {
					_, err := svc.UpdateAgency(t.Context(), p, "kz-police-cyber", etagOf(t, store, "kz-police-cyber"), kind(directory.Prosecution))
					return err
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					for _, p := range []identity.Principal{ca, ov} {
						svc, store := newServiceOn(t, engine.Open(t), time.Now())
						trustBoth(t, store, own, idp)
						if tc.setup != nil {
							tc.setup(t, svc, store)
						}
						before := snapshotOf(t, store)
						err := tc.call(t, svc, store, p)
						if p.Agency == ov.Agency || tc.open {
							if err != nil {
								t.Errorf("%s: %v; want it allowed", p.Agency, err)
							}
							continue
						}
						if errs.CodeOf(err) != errs.PermissionDenied || !strings.Contains(err.Error(), "only a directory_admin of the oversight agency (kind OVERSIGHT) of KZ") {
							t.Errorf("%s: %v; want PERMISSION_DENIED naming who may", p.Agency, err)
						}
						if r, ok := trail.RefusalOf(err); !ok || !slices.Equal(r.States, []string{"KZ"}) {
							t.Errorf("refusal %#v; want one concerning KZ, for its auditors", r)
						}
						if after := snapshotOf(t, store); !reflect.DeepEqual(after, before) {
							t.Errorf("a refused change changed the directory:\n got %+v\nwant %+v", after, before)
						}
					}
				})
			}
		})
	}
}

var ovAdmin = identity.Principal{Subject: "ov-1", Agency: "kz-oversight", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}}

// createOmbudsman creates kz-ombudsman, a second OVERSIGHT agency of KZ, as
// the oversight agency's directory_admin.
func createOmbudsman(t *testing.T, svc *directory.Service, _ directory.Store) {
	t.Helper()
	if _, err := svc.CreateAgency(t.Context(), ovAdmin, directory.Agency{ID: "kz-ombudsman", State: "KZ",
		Kind: directory.Oversight, DisplayNames: map[string]string{"en": "Ombudsman"}}); err != nil {
		t.Fatal(err)
	}
}

func etagOf(t *testing.T, store directory.Store, id string) string {
	t.Helper()
	a, err := store.GetAgency(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Etag()
}

type directorySnapshot struct {
	State    directory.State
	Agencies []directory.Agency
}

func snapshotOf(t *testing.T, store directory.Store) directorySnapshot {
	t.Helper()
	st, err := store.GetState(t.Context(), "KZ")
	if err != nil {
		t.Fatal(err)
	}
	page, err := store.ListAgencies(t.Context(), directory.AgencyQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return directorySnapshot{st, page.Agencies}
}
