package store_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/seed"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// The databases of testdata/release-911dcc2 were written by the directory
// store of the release before issue 14 (commit 911dcc2): its default seed
// (seed.json, the seed file of that release) trusting
// https://idp.example/, then a contact point added to kz-gpo. The
// generator and regenerate.sh are in
// services/request/store/testdata/release-911dcc2.
const oldRelease = "testdata/release-911dcc2/"

// TestOldReleaseDatabase opens the old release's directory with today's
// store on each engine (its migrations run on it): every state and agency
// reads as written, a filter lists them, the seed sees a directory already
// seeded, and an agency updates on top of its old row.
func TestOldReleaseDatabase(t *testing.T) {
	f, err := os.Open(oldRelease + "seed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantStates, wantAgencies, err := seed.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wantStates {
		wantStates[i].TrustedIssuers = append(wantStates[i].TrustedIssuers, "https://idp.example/")
	}
	for i := range wantAgencies {
		if wantAgencies[i].ID == "kz-gpo" {
			wantAgencies[i].ContactPoints = append(wantAgencies[i].ContactPoints, directory.ContactPoint{
				Role: "Duty prosecutor", FullName: "Duty desk", Phone: "+7 7172 71 25 00", AlwaysAvailable: true})
		}
	}
	for _, engine := range []struct {
		name string
		open func(t *testing.T) *sqldb.DB
	}{
		{"sqlite", func(t *testing.T) *sqldb.DB { return sqldbtest.SQLiteCopy(t, oldRelease+"directory.db") }},
		{"postgres", func(t *testing.T) *sqldb.DB { return sqldbtest.PostgresFrom(t, oldRelease+"directory.postgres.sql") }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t, engine.open(t))

			states, err := s.ListStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range states {
				if states[i].RetentionAfterClose != 0 {
					t.Errorf("state %s: retention %v; want none (the deployment's default) for a state stored before it existed",
						states[i].Code, states[i].RetentionAfterClose)
				}
				if states[i].Version != 1 || states[i].UpdateTime.IsZero() {
					t.Errorf("state %s: version %d, update time %v; want version 1 and a time", states[i].Code, states[i].Version, states[i].UpdateTime)
				}
				states[i].Version, states[i].UpdateTime = 0, time.Time{}
			}
			check.Equal(t, "states", sortedStates(states), sortedStates(wantStates))

			page, err := s.ListAgencies(ctx, directory.AgencyQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			agencies := page.Agencies
			for i := range agencies {
				want := int64(1)
				if agencies[i].ID == "kz-gpo" {
					want = 2
				}
				if agencies[i].Version != want {
					t.Errorf("agency %s: version %d; want %d", agencies[i].ID, agencies[i].Version, want)
				}
				agencies[i].Version, agencies[i].UpdateTime = 0, time.Time{}
			}
			check.Equal(t, "agencies", sortedAgencies(agencies), sortedAgencies(wantAgencies))

			uz, err := s.ListAgencies(ctx, directory.AgencyQuery{Limit: 100,
				Filter: query.Compare{Field: "state", Op: query.Eq, Value: "UZ"}})
			if err != nil || len(uz.Agencies) != 5 {
				t.Errorf("agencies of UZ: %d, %v; want 5", len(uz.Agencies), err)
			}
			if seeded, err := s.Seed(ctx, wantStates, wantAgencies); err != nil || seeded {
				t.Errorf("Seed on the old directory: %v, %v; want nothing seeded", seeded, err)
			}
			got, err := s.UpdateAgency(ctx, "uz-247", func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
				a.AcceptedLanguages = append(a.AcceptedLanguages, "en")
				return trail.Event{ID: "ev-update-uz-247", Service: "comity-directory", Resource: "agencies/uz-247", Outcome: "OK"}, nil
			})
			if err != nil || got.Version != 2 || !slices.Contains(got.AcceptedLanguages, "en") {
				t.Errorf("update of an old agency: version %d, languages %v, %v; want version 2 with en", got.Version, got.AcceptedLanguages, err)
			}
		})
	}
}

func sortedStates(s []directory.State) []directory.State {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b directory.State) int { return strings.Compare(a.Code, b.Code) })
	return s
}

func sortedAgencies(s []directory.Agency) []directory.Agency {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b directory.Agency) int { return strings.Compare(a.ID, b.ID) })
	return s
}
