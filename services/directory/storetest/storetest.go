// Package storetest is the conformance suite of directory.Store and of the
// directory's audit outbox. Every backend runs the same suite, so that the
// embedded and the scaled-out deployments behave alike for the users of the
// directory and for the relay that delivers its audit events.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Store is what a backend offers: the directory's Store and the outbox its
// relay drains.
type Store interface {
	directory.Store
	trail.Outbox
}

// Run runs the suite. newStore must return an empty store of its own each
// time it is called (subtests run in parallel) and release it in t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	check.Suite(t, newStore, []check.Case[func(t *testing.T) Store]{
		{Name: "SeedRoundTrip", Run: testSeedRoundTrip},
		{Name: "SeedOnce", Run: testSeedOnce},
		{Name: "SeedConcurrent", Run: testSeedConcurrent},
		{Name: "SeedUnknownState", Run: testSeedUnknownState},
		{Name: "Filter", Run: testFilter},
		{Name: "OrderAndPage", Run: testOrderAndPage},
		{Name: "CreateAgency", Run: testCreateAgency},
		{Name: "NotFound", Run: testNotFound},
		{Name: "UpdateAgency", Run: testUpdateAgency},
		{Name: "UpdateAgencyConcurrent", Run: testUpdateAgencyConcurrent},
		{Name: "UpdateAgencyPeers", Run: testUpdateAgencyPeers},
		{Name: "UpdateAgencyPeersSerialised", Run: testUpdateAgencyPeersSerialised},
		{Name: "UpdateState", Run: testUpdateState},
		{Name: "UpdateStateConcurrent", Run: testUpdateStateConcurrent},
		{Name: "Import", Run: testImport},
		{Name: "ImportUnknownState", Run: testImportUnknownState},
		{Name: "ImportKeep", Run: testImportKeep},
		{Name: "ImportKeepsIssuers", Run: testImportKeepsIssuers},
		{Name: "ImportKeepAgencies", Run: testImportKeepAgencies},
		{Name: "Instruments", Run: testInstruments},
		{Name: "OutboxWithChange", Run: testOutboxWithChange},
		{Name: "OutboxChangeWithoutEvent", Run: testOutboxChangeWithoutEvent},
		{Name: "OutboxEventRoundTrip", Run: testOutboxEventRoundTrip},
		{Name: "OutboxRecordEvent", Run: testOutboxRecordEvent},
		{Name: "OutboxOrderAndLimit", Run: testOutboxOrderAndLimit},
		{Name: "OutboxMarkDelivered", Run: testOutboxMarkDelivered},
		{Name: "OutboxNotForSeedAndImport", Run: testOutboxNotForSeedAndImport},
		{Name: "OutboxDeadLetters", Run: testOutboxDeadLetters},
	})
}

// t0 is the update time of the first fixture agency; the others follow a
// minute apart, in fixture order. Its microseconds make truncation visible.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)

var stateCodes = []string{"KZ", "KG", "TJ", "TM", "UZ"}

// fixtures returns the five states (without update times, which the store
// then sets) and their four agencies each, in the order of t0's comment:
// kz-gpo, kz-police-cyber, kz-247, kz-oversight, kg-gpo, … uz-oversight.
// kg-oversight and tj-police-cyber are inactive. tm-oversight has empty, not
// nil, maps and slices; the store must return them as nil.
func fixtures() ([]directory.State, []directory.Agency) {
	local := map[string]string{"KZ": "kk", "KG": "ky", "TJ": "tg", "TM": "tk", "UZ": "uz"}
	zones := map[string]string{"KZ": "Asia/Almaty", "KG": "Asia/Bishkek", "TJ": "Asia/Dushanbe", "TM": "Asia/Ashgabat", "UZ": "Asia/Tashkent"}
	var states []directory.State
	var agencies []directory.Agency
	i := 0
	for _, code := range stateCodes {
		lc := strings.ToLower(code)
		st := directory.State{
			Code:              code,
			DisplayNames:      map[string]string{"en": "State " + code, "ru": "Государство " + code, local[code]: "Ел " + code},
			OfficialLanguages: []string{local[code]},
			AcceptedLanguages: []string{"ru", local[code]},
			TimeZone:          zones[code],
			TrustedIssuers:    []string{"https://idp." + lc + ".example/"},
		}
		if code == "KG" {
			// An issuer whose tokens are shaped otherwise: its claim
			// mapping is stored and read back whole.
			st.ClaimMappings = []identity.ClaimMapping{{
				Issuer: st.TrustedIssuers[0], AgencyClaim: "org.unit", RolesClaim: "realm_access.roles", NameClaim: "display",
				AgencyValues: map[string]string{"GPO": "kg-gpo"}, RoleValues: map[string]string{"mla-prosecutors": "prosecutor"},
			}}
		}
		if code == "TM" {
			st.TrustedIssuers = nil
			st.OfficialLanguages = []string{}
		}
		if code == "KZ" {
			// A retention of its own (DESIGN §10); the others keep the
			// deployment's default.
			st.RetentionAfterClose = 3 * 365 * 24 * time.Hour
			// And a witness (DESIGN §6.1); the store keeps what it is
			// given, the service checks it.
			st.Witness = directory.StateWitness{URL: "https://witness.kz.example", PublicKey: "witness.kz+0badc0de+BKZKZ="}
		}
		states = append(states, st)
		for _, k := range []struct {
			suffix string
			kind   directory.Kind
		}{
			{"gpo", directory.CentralAuthority},
			{"police-cyber", directory.LawEnforcement},
			{"247", directory.ContactPoint247},
			{"oversight", directory.Oversight},
		} {
			a := directory.Agency{
				ID:                lc + "-" + k.suffix,
				State:             code,
				Kind:              k.kind,
				DisplayNames:      map[string]string{"en": code + " " + k.suffix, "ru": code + " " + k.suffix + " (ru)"},
				AcceptedLanguages: []string{"ru", local[code]},
				Active:            true,
				UpdateTime:        t0.Add(time.Duration(i) * time.Minute),
			}
			switch k.kind {
			case directory.CentralAuthority:
				a.Receives = slices.Clone(cooperation.RequestTypes)
				a.ContactPoints = []directory.ContactPoint{
					{Role: "head of international cooperation", FullName: "A. " + code, Phone: "+7 700 000 0000", Email: "mla@" + lc + ".example", Hours: "09:00-18:00"},
					{Role: "duty prosecutor", FullName: "B. " + code, Email: "duty@" + lc + ".example", AlwaysAvailable: true},
				}
			case directory.ContactPoint247:
				a.Receives = []cooperation.RequestType{cooperation.DataPreservation}
				a.ContactPoints = []directory.ContactPoint{{Role: "24/7 desk", Phone: "+1 555 0100", AlwaysAvailable: true}}
			}
			if a.ID == "kg-oversight" || a.ID == "tj-police-cyber" {
				a.Active = false
			}
			if a.ID == "tm-oversight" {
				a.DisplayNames = map[string]string{}
				a.Receives = []cooperation.RequestType{}
				a.AcceptedLanguages = []string{}
				a.ContactPoints = []directory.ContactPoint{}
			}
			agencies = append(agencies, a)
			i++
		}
	}
	return states, agencies
}

// seeded returns a store holding the fixtures.
func seeded(t *testing.T, newStore func(t *testing.T) Store) Store {
	t.Helper()
	s := newStore(t)
	states, agencies := fixtures()
	ok, err := s.Seed(t.Context(), states, agencies)
	if err != nil || !ok {
		t.Fatalf("Seed = %v, %v; want true, nil", ok, err)
	}
	return s
}

// getAgency returns the agency id that s holds, failing t if it cannot.
func getAgency(t *testing.T, s Store, id string) directory.Agency {
	t.Helper()
	return mustGet(t, "GetAgency", s.GetAgency, id)
}

// getState is getAgency for states.
func getState(t *testing.T, s Store, code string) directory.State {
	t.Helper()
	return mustGet(t, "GetState", s.GetState, code)
}

// mustGet returns what get reads for key, failing t (what names get) if it
// cannot.
func mustGet[T any](t *testing.T, what string, get func(context.Context, string) (T, error), key string) T {
	t.Helper()
	v, err := get(t.Context(), key)
	if err != nil {
		t.Fatalf("%s(%s): %v", what, key, err)
	}
	return v
}

// wantAgency is a as a store returns it after writing it as version v: empty
// maps and slices as nil, the update time in UTC truncated to microseconds.
func wantAgency(a directory.Agency, v int64) directory.Agency {
	emptyMapAsNil(&a.DisplayNames)
	emptyAsNil(&a.Receives)
	emptyAsNil(&a.AcceptedLanguages)
	emptyAsNil(&a.ContactPoints)
	a.Version = v
	a.UpdateTime = a.UpdateTime.UTC().Truncate(time.Microsecond)
	return a
}

// wantState is wantAgency for states; the update time is left to the caller.
func wantState(s directory.State, v int64) directory.State {
	emptyMapAsNil(&s.DisplayNames)
	emptyAsNil(&s.OfficialLanguages)
	emptyAsNil(&s.AcceptedLanguages)
	emptyAsNil(&s.TrustedIssuers)
	s.Version = v
	return s
}

// emptyAsNil sets an empty list to nil, the form a store returns.
func emptyAsNil[S ~[]E, E any](l *S) {
	if len(*l) == 0 {
		*l = nil
	}
}

// emptyMapAsNil is emptyAsNil for maps.
func emptyMapAsNil[M ~map[K]V, K comparable, V any](m *M) {
	if len(*m) == 0 {
		*m = nil
	}
}

// checkWriteTime checks a time the store chose because none was given: in
// [before, after], UTC, whole microseconds.
func checkWriteTime(t *testing.T, what string, got, before, after time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: update time %v is not in UTC", what, got)
	}
	if got.Nanosecond()%1000 != 0 {
		t.Errorf("%s: update time %v has sub-microsecond digits", what, got)
	}
	if got.Before(before.Truncate(time.Microsecond)) || got.After(after) {
		t.Errorf("%s: update time %v not within the call [%v, %v]", what, got, before, after)
	}
}

func allAgencies(t *testing.T, s directory.Store) []directory.Agency {
	t.Helper()
	page, err := s.ListAgencies(t.Context(), directory.AgencyQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("ListAgencies: %v", err)
	}
	return page.Agencies
}

func ids(as []directory.Agency) []string {
	return check.Each(as, func(e directory.Agency) string { return e.ID })
}

func testSeedRoundTrip(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	states, agencies := fixtures()
	before := time.Now()
	ok, err := s.Seed(ctx, states, agencies)
	after := time.Now()
	if err != nil || !ok {
		t.Fatalf("Seed = %v, %v; want true, nil", ok, err)
	}

	gotStates, err := s.ListStates(ctx)
	if err != nil {
		t.Fatalf("ListStates: %v", err)
	}
	var codes []string
	for _, st := range gotStates {
		codes = append(codes, st.Code)
	}
	check.Equal(t, "ListStates codes", codes, []string{"KG", "KZ", "TJ", "TM", "UZ"})
	for _, st := range states {
		got, err := s.GetState(ctx, st.Code)
		if err != nil {
			t.Fatalf("GetState(%s): %v", st.Code, err)
		}
		// The fixtures give no update time: the store sets the time of the seed.
		checkWriteTime(t, "state "+st.Code, got.UpdateTime, before, after)
		want := wantState(st, 1)
		want.UpdateTime = got.UpdateTime
		check.Equal(t, "GetState("+st.Code+")", got, want)
		if i := slices.IndexFunc(gotStates, func(x directory.State) bool { return x.Code == st.Code }); i >= 0 {
			check.Equal(t, "ListStates "+st.Code, gotStates[i], got)
		}
		if got.Etag() == "" || got.Etag() != want.Etag() {
			t.Errorf("state %s etag %q; want %q", st.Code, got.Etag(), want.Etag())
		}
	}

	byID := map[string]directory.Agency{}
	for _, a := range allAgencies(t, s) {
		byID[a.ID] = a
	}
	if len(byID) != len(agencies) {
		t.Errorf("ListAgencies returned %d agencies; want %d", len(byID), len(agencies))
	}
	for _, a := range agencies {
		want := wantAgency(a, 1)
		got, err := s.GetAgency(ctx, a.ID)
		if err != nil {
			t.Fatalf("GetAgency(%s): %v", a.ID, err)
		}
		check.Equal(t, "GetAgency("+a.ID+")", got, want)
		check.Equal(t, "ListAgencies "+a.ID, byID[a.ID], want)
	}
}

func testSeedOnce(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	wantStates, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAgencies := allAgencies(t, s)

	states, agencies := fixtures()
	states[0].TimeZone = "Europe/Moscow"
	states = append(states, directory.State{Code: "AZ", TimeZone: "Asia/Baku"})
	agencies = append(agencies, directory.Agency{ID: "az-gpo", State: "AZ", Kind: directory.CentralAuthority, Active: true})
	ok, err := s.Seed(ctx, states, agencies)
	if err != nil || ok {
		t.Fatalf("second Seed = %v, %v; want false, nil", ok, err)
	}
	gotStates, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check.Equal(t, "states after second Seed", gotStates, wantStates)
	check.Equal(t, "agencies after second Seed", allAgencies(t, s), wantAgencies)
}

func testSeedConcurrent(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	const n = 8
	var (
		wg      sync.WaitGroup
		results [n]bool
		errList [n]error
	)
	for i := range n {
		wg.Go(func() {
			states, agencies := fixtures()
			results[i], errList[i] = s.Seed(ctx, states, agencies)
		})
	}
	wg.Wait()
	seededBy := 0
	for i := range n {
		if errList[i] != nil {
			t.Errorf("Seed #%d: %v", i, errList[i])
		}
		if results[i] {
			seededBy++
		}
	}
	if seededBy != 1 {
		t.Errorf("%d of %d concurrent Seed calls reported seeding; want 1", seededBy, n)
	}
	states, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(stateCodes) {
		t.Errorf("%d states after concurrent Seed; want %d", len(states), len(stateCodes))
	}
	for _, a := range allAgencies(t, s) {
		if a.Version != 1 {
			t.Errorf("agency %s has version %d after concurrent Seed; want 1", a.ID, a.Version)
		}
	}
	if got := len(allAgencies(t, s)); got != 20 {
		t.Errorf("%d agencies after concurrent Seed; want 20", got)
	}
}

func testSeedUnknownState(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	states, agencies := fixtures()
	bad := append(slices.Clone(agencies), directory.Agency{ID: "xx-gpo", State: "XX", Kind: directory.CentralAuthority})
	ok, err := s.Seed(ctx, states, bad)
	check.Code(t, "Seed with an agency of an unknown state", err, errs.ErrFailedPrecondition)
	if ok {
		t.Error("Seed reported seeding although it failed")
	}
	if got, err := s.ListStates(ctx); err != nil || len(got) != 0 {
		t.Errorf("after failed Seed, ListStates = %d states, %v; want none: the seed is one transaction", len(got), err)
	}
	// The failed seed must not count as the one seed.
	if ok, err := s.Seed(ctx, states, agencies); err != nil || !ok {
		t.Errorf("Seed after a failed Seed = %v, %v; want true, nil", ok, err)
	}
}

func testFilter(t *testing.T, newStore func(t *testing.T) Store) {
	s := seeded(t, newStore)
	eq := func(field string, v any) query.Expr { return query.Compare{Field: field, Op: query.Eq, Value: v} }
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	plus5 := time.FixedZone("UTC+5", 5*3600)
	tests := []struct {
		name   string
		filter query.Expr
		want   []string
	}{
		{"state", eq("state", "UZ"), []string{"uz-247", "uz-gpo", "uz-oversight", "uz-police-cyber"}},
		{"kind", eq("kind", "CENTRAL_AUTHORITY"), []string{"kg-gpo", "kz-gpo", "tj-gpo", "tm-gpo", "uz-gpo"}},
		{"inactive", eq("active", false), []string{"kg-oversight", "tj-police-cyber"}},
		{"not active", query.Compare{Field: "active", Op: query.Ne, Value: true}, []string{"kg-oversight", "tj-police-cyber"}},
		{"name", eq("name", "kz-gpo"), []string{"kz-gpo"}},
		{"no match", eq("state", "XX"), nil},
		{"and", query.And{Left: eq("state", "KZ"), Right: eq("kind", "LAW_ENFORCEMENT")}, []string{"kz-police-cyber"}},
		{"or", query.Or{Left: eq("state", "KZ"), Right: eq("state", "KG")},
			[]string{"kg-247", "kg-gpo", "kg-oversight", "kg-police-cyber", "kz-247", "kz-gpo", "kz-oversight", "kz-police-cyber"}},
		{"or inside and", query.And{Left: query.Or{Left: eq("state", "KG"), Right: eq("state", "TJ")}, Right: eq("active", false)},
			[]string{"kg-oversight", "tj-police-cyber"}},
		{"not", query.And{Left: query.Not{X: query.Or{Left: eq("kind", "CENTRAL_AUTHORITY"), Right: eq("kind", "LAW_ENFORCEMENT")}}, Right: eq("state", "TJ")},
			[]string{"tj-247", "tj-oversight"}},
		{"pointer forms", &query.And{Left: &query.Compare{Field: "state", Op: query.Eq, Value: "UZ"}, Right: &query.Not{X: eq("kind", "OVERSIGHT")}},
			[]string{"uz-247", "uz-gpo", "uz-police-cyber"}},
		{"updateTime after", query.Compare{Field: "updateTime", Op: query.Gt, Value: at(17)}, []string{"uz-247", "uz-oversight"}},
		{"updateTime at or after", query.Compare{Field: "updateTime", Op: query.Ge, Value: at(17)}, []string{"uz-247", "uz-oversight", "uz-police-cyber"}},
		{"updateTime after, other zone", query.Compare{Field: "updateTime", Op: query.Gt, Value: at(17).In(plus5)}, []string{"uz-247", "uz-oversight"}},
		{"updateTime before", query.Compare{Field: "updateTime", Op: query.Lt, Value: at(1)}, []string{"kz-gpo"}},
		{"updateTime equal", query.Compare{Field: "updateTime", Op: query.Eq, Value: at(4)}, []string{"kg-gpo"}},
		{"updateTime range", query.And{
			Left:  query.Compare{Field: "updateTime", Op: query.Ge, Value: at(4)},
			Right: query.Compare{Field: "updateTime", Op: query.Le, Value: at(6)},
		}, []string{"kg-247", "kg-gpo", "kg-police-cyber"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.ListAgencies(t.Context(), directory.AgencyQuery{Filter: tc.filter, Limit: 100})
			if err != nil {
				t.Fatalf("ListAgencies: %v", err)
			}
			if got := ids(page.Agencies); !slices.Equal(got, tc.want) {
				t.Errorf("agencies %v; want %v", got, tc.want)
			}
			if page.Total != len(tc.want) {
				t.Errorf("Total %d; want %d", page.Total, len(tc.want))
			}
		})
	}
}

func testOrderAndPage(t *testing.T, newStore func(t *testing.T) Store) {
	s := seeded(t, newStore)
	_, fx := fixtures()
	sorted := func(less func(a, b directory.Agency) int) []string {
		as := slices.Clone(fx)
		slices.SortFunc(as, func(a, b directory.Agency) int {
			if c := less(a, b); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return ids(as)
	}
	tests := []struct {
		name    string
		orderBy []query.Order
		filter  query.Expr
		want    []string
	}{
		{"default is by name", nil, nil, sorted(func(a, b directory.Agency) int { return 0 })},
		{"state descending", []query.Order{{Field: "state", Desc: true}}, nil,
			sorted(func(a, b directory.Agency) int { return strings.Compare(b.State, a.State) })},
		{"kind, ties by name", []query.Order{{Field: "kind"}}, nil,
			sorted(func(a, b directory.Agency) int { return strings.Compare(string(a.Kind), string(b.Kind)) })},
		{"updateTime descending", []query.Order{{Field: "updateTime", Desc: true}}, nil,
			sorted(func(a, b directory.Agency) int { return b.UpdateTime.Compare(a.UpdateTime) })},
		{"active then state", []query.Order{{Field: "active"}, {Field: "state"}}, nil,
			sorted(func(a, b directory.Agency) int {
				if a.Active != b.Active {
					if !a.Active {
						return -1
					}
					return 1
				}
				return strings.Compare(a.State, b.State)
			})},
		{"filtered", []query.Order{{Field: "name", Desc: true}}, query.Compare{Field: "kind", Op: query.Ne, Value: "OVERSIGHT"},
			func() []string {
				var out []string
				for _, id := range slices.Backward(sorted(func(a, b directory.Agency) int { return 0 })) {
					if !strings.HasSuffix(id, "-oversight") {
						out = append(out, id)
					}
				}
				return out
			}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			all, err := s.ListAgencies(ctx, directory.AgencyQuery{Filter: tc.filter, OrderBy: tc.orderBy, Limit: 1000})
			if err != nil {
				t.Fatalf("ListAgencies: %v", err)
			}
			if got := ids(all.Agencies); !slices.Equal(got, tc.want) {
				t.Fatalf("order\n got %v\nwant %v", got, tc.want)
			}
			check.Pages(t, "ListAgencies", 3, tc.want, func(offset int) ([]string, int, error) {
				page, err := s.ListAgencies(ctx, directory.AgencyQuery{Filter: tc.filter, OrderBy: tc.orderBy, Offset: offset, Limit: 3})
				return ids(page.Agencies), page.Total, err
			})
		})
	}
}

func testCreateAgency(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	tashkent := time.FixedZone("UZT", 5*3600)
	tests := []struct {
		name    string
		agency  directory.Agency
		wantErr *errs.Error
		// wantInMessage must appear in the error, so that the user learns
		// what to fix.
		wantInMessage string
	}{
		{name: "new", agency: directory.Agency{
			ID: "uz-academy", State: "UZ", Kind: directory.TrainingInstitution,
			DisplayNames:      map[string]string{"en": "Academy", "uz": "Akademiya"},
			Receives:          []cooperation.RequestType{cooperation.OtherAssistance},
			AcceptedLanguages: []string{"uz"},
			ContactPoints:     []directory.ContactPoint{{Role: "rector", FullName: "R. R.", Hours: "Mon-Fri"}},
			Active:            true,
			// Not UTC, with nanoseconds: the store returns UTC microseconds.
			UpdateTime: time.Date(2026, 4, 2, 15, 4, 5, 987654321, tashkent),
		}},
		{name: "minimal", agency: directory.Agency{
			ID: "kz-prosecution", State: "KZ", Kind: directory.Prosecution,
			UpdateTime: t0,
		}},
		{name: "duplicate", agency: directory.Agency{ID: "kz-gpo", State: "KZ", Kind: directory.Prosecution, UpdateTime: t0},
			wantErr: errs.ErrAlreadyExists, wantInMessage: "kz-gpo"},
		{name: "unknown state", agency: directory.Agency{ID: "xx-gpo", State: "XX", Kind: directory.CentralAuthority, UpdateTime: t0},
			wantErr: errs.ErrFailedPrecondition, wantInMessage: "XX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.GetAgency(ctx, tc.agency.ID)
			ev := newEvent("agencies/"+tc.agency.ID, tc.agency.State)
			got, err := s.CreateAgency(ctx, tc.agency, ev)
			if tc.wantErr != nil {
				check.Code(t, "CreateAgency", err, tc.wantErr)
				if err != nil && !strings.Contains(err.Error(), tc.wantInMessage) {
					t.Errorf("error %q does not name %q", err, tc.wantInMessage)
				}
				after, _ := s.GetAgency(ctx, tc.agency.ID)
				check.Equal(t, "agency after failed create", after, before)
				checkNotPending(t, s, ev.ID)
				return
			}
			if err != nil {
				t.Fatalf("CreateAgency: %v", err)
			}
			checkPending(t, s, ev.ID)
			want := wantAgency(tc.agency, 1)
			check.Equal(t, "CreateAgency result", got, want)
			if got.UpdateTime.Location() != time.UTC {
				t.Errorf("update time %v not in UTC", got.UpdateTime)
			}
			stored, err := s.GetAgency(ctx, tc.agency.ID)
			if err != nil {
				t.Fatalf("GetAgency: %v", err)
			}
			check.Equal(t, "GetAgency after create", stored, got)
		})
	}

	t.Run("no update time", func(t *testing.T) {
		before := time.Now()
		got, err := s.CreateAgency(ctx, directory.Agency{ID: "tj-prosecution", State: "TJ", Kind: directory.Prosecution},
			newEvent("agencies/tj-prosecution", "TJ"))
		after := time.Now()
		if err != nil {
			t.Fatalf("CreateAgency: %v", err)
		}
		checkWriteTime(t, "created agency", got.UpdateTime, before, after)
		stored, err := s.GetAgency(ctx, got.ID)
		if err != nil {
			t.Fatalf("GetAgency: %v", err)
		}
		check.Equal(t, "GetAgency after create", stored, got)
	})
}

func testNotFound(t *testing.T, newStore func(t *testing.T) Store) {
	s := seeded(t, newStore)
	called := false
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetAgency", func(ctx context.Context) error { _, err := s.GetAgency(ctx, "kz-nope"); return err }},
		{"GetState", func(ctx context.Context) error { _, err := s.GetState(ctx, "XX"); return err }},
		{"GetState lower case", func(ctx context.Context) error { _, err := s.GetState(ctx, "kz"); return err }},
		{"UpdateAgency", func(ctx context.Context) error {
			_, err := s.UpdateAgency(ctx, "kz-nope", func(*directory.Agency, []directory.Agency) (trail.Event, error) {
				called = true
				return newEvent("agencies/kz-nope", "KZ"), nil
			})
			return err
		}},
		{"UpdateState", func(ctx context.Context) error {
			_, err := s.UpdateState(ctx, "XX", func(*directory.State) (trail.Event, error) {
				called = true
				return newEvent("states/XX", "XX"), nil
			})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check.Code(t, tc.name, tc.call(t.Context()), errs.ErrNotFound)
		})
	}
	if called {
		t.Error("an update called fn for a missing row")
	}
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("updates of missing rows left %d events in the outbox; want none", len(got))
	}
}

func testUpdateAgency(t *testing.T, newStore func(t *testing.T) Store) {
	errFn := errors.New("fn refused")
	later := t0.Add(48*time.Hour + 789) // nanoseconds are truncated
	tests := []struct {
		name    string
		fn      func(*directory.Agency) error
		wantErr error // matched with errors.Is; nil means success
		// sameErr means the very error of fn must come back.
		sameErr bool
		// change is applied to the stored agency to get the expected one.
		change func(*directory.Agency)
	}{
		{name: "change every field", fn: func(a *directory.Agency) error {
			a.Kind = directory.Prosecution
			a.DisplayNames = map[string]string{"en": "Renamed"}
			a.Receives = []cooperation.RequestType{cooperation.TrafficData, cooperation.ContentData}
			a.AcceptedLanguages = []string{"en"}
			a.ContactPoints = append(a.ContactPoints, directory.ContactPoint{Role: "new", Email: "new@kz.example"})
			a.Active = false
			a.UpdateTime = later
			return nil
		}, change: func(a *directory.Agency) {
			a.Kind = directory.Prosecution
			a.DisplayNames = map[string]string{"en": "Renamed"}
			a.Receives = []cooperation.RequestType{cooperation.TrafficData, cooperation.ContentData}
			a.AcceptedLanguages = []string{"en"}
			a.ContactPoints = append(slices.Clone(a.ContactPoints), directory.ContactPoint{Role: "new", Email: "new@kz.example"})
			a.Active = false
			a.UpdateTime = later.Truncate(time.Microsecond)
		}},
		{name: "clear lists", fn: func(a *directory.Agency) error {
			a.DisplayNames = map[string]string{}
			a.Receives = nil
			a.ContactPoints = []directory.ContactPoint{}
			return nil
		}, change: func(a *directory.Agency) {
			a.DisplayNames, a.Receives, a.ContactPoints = nil, nil, nil
		}},
		{name: "version is the store's", fn: func(a *directory.Agency) error {
			a.Version = 100
			return nil
		}, change: func(a *directory.Agency) {}},
		{name: "fn error", fn: func(a *directory.Agency) error {
			a.Active = false
			a.DisplayNames["en"] = "half-done"
			return errFn
		}, wantErr: errFn, sameErr: true},
		{name: "fn domain error", fn: func(a *directory.Agency) error {
			return errs.New(errs.Conflict, "stale etag")
		}, wantErr: errs.ErrConflict},
		{name: "change id", fn: func(a *directory.Agency) error {
			a.ID = "kz-other"
			return nil
		}, wantErr: errs.ErrInvalid},
		{name: "change state", fn: func(a *directory.Agency) error {
			a.State = "KG"
			return nil
		}, wantErr: errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := seeded(t, newStore)
			const id = "kz-gpo"
			before := getAgency(t, s, id)
			ev := newEvent("agencies/"+id, "KZ")
			got, err := s.UpdateAgency(ctx, id, peerless(withEvent(tc.fn, ev)))
			if tc.wantErr != nil {
				checkNotPending(t, s, ev.ID)
				if !errors.Is(err, tc.wantErr) || (tc.sameErr && err != tc.wantErr) {
					t.Errorf("UpdateAgency error %v; want %v", err, tc.wantErr)
				}
				after := getAgency(t, s, id)
				check.Equal(t, "agency after failed update", after, before)
				if _, err := s.GetAgency(ctx, "kz-other"); !errors.Is(err, errs.ErrNotFound) {
					t.Errorf("failed id change left kz-other behind: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateAgency: %v", err)
			}
			checkPending(t, s, ev.ID)
			want := before
			want.DisplayNames = maps.Clone(before.DisplayNames)
			tc.change(&want)
			want.Version = before.Version + 1
			check.Equal(t, "UpdateAgency result", got, want)
			if got.Etag() == before.Etag() {
				t.Errorf("etag %q did not change", got.Etag())
			}
			stored := getAgency(t, s, id)
			check.Equal(t, "GetAgency after update", stored, got)
			// Only the one agency changed.
			other := getAgency(t, s, "kg-gpo")
			_, fx := fixtures()
			check.Equal(t, "other agency", other, wantAgency(fx[4], 1))
		})
	}
}

func testUpdateAgencyConcurrent(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	const id, n = "uz-gpo", 20
	before, got := updateConcurrently(t, s, n, "UpdateAgency",
		func() (directory.Agency, error) { return s.GetAgency(ctx, id) },
		func(a directory.Agency) int64 { return a.Version },
		func(i int) error {
			_, err := s.UpdateAgency(ctx, id, func(a *directory.Agency, _ []directory.Agency) (trail.Event, error) {
				a.ContactPoints = append(a.ContactPoints, directory.ContactPoint{Role: "officer", FullName: fmt.Sprintf("officer %d", i)})
				return newEvent("agencies/"+id, a.State), nil
			})
			return err
		})
	if len(got.ContactPoints) != len(before.ContactPoints)+n {
		t.Errorf("%d contact points after %d appends to %d: updates were lost", len(got.ContactPoints), n, len(before.ContactPoints))
	}
	for i := range n {
		name := fmt.Sprintf("officer %d", i)
		if !slices.ContainsFunc(got.ContactPoints, func(c directory.ContactPoint) bool { return c.FullName == name }) {
			t.Errorf("contact point %q was lost", name)
		}
	}
}

// updateConcurrently runs n updates at once (update(i) is the i-th, what
// names the store method for errors) of the value get reads, and checks that
// none was lost: the version rose by n and the outbox holds one event each.
// It returns the value before and after.
func updateConcurrently[T any](t *testing.T, s Store, n int, what string, get func() (T, error), version func(T) int64, update func(i int) error) (before, after T) {
	t.Helper()
	before, err := get()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := update(i); err != nil {
				t.Errorf("%s #%d: %v", what, i, err)
			}
		})
	}
	wg.Wait()
	after, err = get()
	if err != nil {
		t.Fatal(err)
	}
	if version(after) != version(before)+int64(n) {
		t.Errorf("version %d after %d updates of version %d", version(after), n, version(before))
	}
	if got := pending(t, s); len(got) != n {
		t.Errorf("%d events in the outbox after %d updates; want one each", len(got), n)
	}
	return before, after
}

func testUpdateState(t *testing.T, newStore func(t *testing.T) Store) {
	errFn := errors.New("fn refused")
	later := t0.Add(72 * time.Hour)
	tests := []struct {
		name    string
		fn      func(*directory.State) error
		wantErr error
		sameErr bool
		change  func(*directory.State)
	}{
		{name: "change every field", fn: func(s *directory.State) error {
			s.DisplayNames = map[string]string{"en": "Kazakhstan"}
			s.OfficialLanguages = []string{"kk", "ru"}
			s.AcceptedLanguages = []string{"kk"}
			s.TimeZone = "Asia/Qostanay"
			s.TrustedIssuers = append(s.TrustedIssuers, "https://new.example/")
			s.ClaimMappings = []identity.ClaimMapping{{Issuer: "https://new.example/", RolesClaim: "groups", RoleValues: map[string]string{"mla": "prosecutor"}}}
			s.RetentionAfterClose = 10*365*24*time.Hour + time.Nanosecond
			s.Witness = directory.StateWitness{URL: "http://127.0.0.1:9104", PublicKey: "witness.kz.new+12345678+BNEW="}
			s.UpdateTime = later
			return nil
		}, change: func(s *directory.State) {
			s.DisplayNames = map[string]string{"en": "Kazakhstan"}
			s.OfficialLanguages = []string{"kk", "ru"}
			s.AcceptedLanguages = []string{"kk"}
			s.TimeZone = "Asia/Qostanay"
			s.TrustedIssuers = append(slices.Clone(s.TrustedIssuers), "https://new.example/")
			s.ClaimMappings = []identity.ClaimMapping{{Issuer: "https://new.example/", RolesClaim: "groups", RoleValues: map[string]string{"mla": "prosecutor"}}}
			s.RetentionAfterClose = 10*365*24*time.Hour + time.Nanosecond
			s.Witness = directory.StateWitness{URL: "http://127.0.0.1:9104", PublicKey: "witness.kz.new+12345678+BNEW="}
			s.UpdateTime = later
		}},
		{name: "remove the witness", fn: func(s *directory.State) error {
			s.Witness = directory.StateWitness{}
			s.UpdateTime = later
			return nil
		}, change: func(s *directory.State) {
			if s.Witness.IsZero() {
				panic("the fixture's KZ has no witness to remove")
			}
			s.Witness = directory.StateWitness{}
			s.UpdateTime = later
		}},
		{name: "remove the retention", fn: func(s *directory.State) error {
			s.RetentionAfterClose = 0
			s.UpdateTime = later
			return nil
		}, change: func(s *directory.State) {
			if s.RetentionAfterClose == 0 {
				panic("the fixture's KZ has no retention to remove")
			}
			s.RetentionAfterClose = 0
			s.UpdateTime = later
		}},
		{name: "clear lists", fn: func(s *directory.State) error {
			s.TrustedIssuers = []string{}
			s.DisplayNames = nil
			s.UpdateTime = later
			return nil
		}, change: func(s *directory.State) {
			s.TrustedIssuers, s.DisplayNames = nil, nil
			s.UpdateTime = later
		}},
		{name: "fn error", fn: func(s *directory.State) error {
			s.TimeZone = "UTC"
			return errFn
		}, wantErr: errFn, sameErr: true},
		{name: "change code", fn: func(s *directory.State) error {
			s.Code = "KG"
			return nil
		}, wantErr: errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := seeded(t, newStore)
			before := getState(t, s, "KZ")
			otherBefore := getState(t, s, "KG")
			ev := newEvent("states/KZ", "KZ")
			got, err := s.UpdateState(ctx, "KZ", withEvent(tc.fn, ev))
			if tc.wantErr != nil {
				checkNotPending(t, s, ev.ID)
				if !errors.Is(err, tc.wantErr) || (tc.sameErr && err != tc.wantErr) {
					t.Errorf("UpdateState error %v; want %v", err, tc.wantErr)
				}
				after := getState(t, s, "KZ")
				check.Equal(t, "state after failed update", after, before)
			} else {
				if err != nil {
					t.Fatalf("UpdateState: %v", err)
				}
				checkPending(t, s, ev.ID)
				want := before
				want.DisplayNames = maps.Clone(before.DisplayNames)
				tc.change(&want)
				want.Version = before.Version + 1
				check.Equal(t, "UpdateState result", got, want)
				if got.Etag() == before.Etag() {
					t.Errorf("etag %q did not change", got.Etag())
				}
				stored := getState(t, s, "KZ")
				check.Equal(t, "GetState after update", stored, got)
			}
			otherAfter := getState(t, s, "KG")
			check.Equal(t, "other state", otherAfter, otherBefore)
		})
	}
}

func testUpdateStateConcurrent(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	const code, n = "KG", 20
	before, got := updateConcurrently(t, s, n, "UpdateState",
		func() (directory.State, error) { return s.GetState(ctx, code) },
		func(st directory.State) int64 { return st.Version },
		func(i int) error {
			_, err := s.UpdateState(ctx, code, func(st *directory.State) (trail.Event, error) {
				st.TrustedIssuers = append(st.TrustedIssuers, fmt.Sprintf("https://issuer-%d.example/", i))
				return newEvent("states/"+code, code), nil
			})
			return err
		})
	if len(got.TrustedIssuers) != len(before.TrustedIssuers)+n {
		t.Errorf("%d issuers after %d appends to %d: updates were lost", len(got.TrustedIssuers), n, len(before.TrustedIssuers))
	}
	for i := range n {
		if iss := fmt.Sprintf("https://issuer-%d.example/", i); !slices.Contains(got.TrustedIssuers, iss) {
			t.Errorf("issuer %q was lost", iss)
		}
	}
}

func testImport(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	untouched := getAgency(t, s, "uz-gpo")
	untouchedState := getState(t, s, "UZ")

	later := t0.Add(24 * time.Hour)
	kz := directory.State{
		Code: "KZ", DisplayNames: map[string]string{"en": "Kazakhstan"},
		OfficialLanguages: []string{"kk"}, AcceptedLanguages: []string{"kk", "ru", "en"},
		TimeZone: "Asia/Almaty", TrustedIssuers: []string{"https://idp.gov.kz/"}, UpdateTime: later,
	}
	az := directory.State{Code: "AZ", DisplayNames: map[string]string{"en": "Azerbaijan"}, TimeZone: "Asia/Baku", UpdateTime: later}
	kzGPO := directory.Agency{
		ID: "kz-gpo", State: "KZ", Kind: directory.CentralAuthority,
		DisplayNames:      map[string]string{"en": "Prosecutor General's Office"},
		Receives:          []cooperation.RequestType{cooperation.SubscriberInformation},
		AcceptedLanguages: []string{"kk"},
		// Replaces the two seeded contact points: import replaces, never merges.
		ContactPoints: []directory.ContactPoint{{Role: "desk", Phone: "+7 717 000 0000"}},
		Active:        false,
		UpdateTime:    later,
	}
	kzNew := directory.Agency{ID: "kz-academy", State: "KZ", Kind: directory.TrainingInstitution, Active: true, UpdateTime: later}
	azGPO := directory.Agency{ID: "az-gpo", State: "AZ", Kind: directory.CentralAuthority, Active: true, UpdateTime: later}

	if err := s.Import(ctx, []directory.State{kz, az}, []directory.Agency{kzGPO, kzNew, azGPO}, nil, nil); err != nil {
		t.Fatalf("Import: %v", err)
	}

	for _, tc := range []struct {
		want directory.State
	}{{wantState(kz, 2)}, {wantState(az, 1)}, {untouchedState}} {
		got, err := s.GetState(ctx, tc.want.Code)
		if err != nil {
			t.Fatalf("GetState(%s): %v", tc.want.Code, err)
		}
		check.Equal(t, "state "+tc.want.Code+" after Import", got, tc.want)
	}
	for _, want := range []directory.Agency{wantAgency(kzGPO, 2), wantAgency(kzNew, 1), wantAgency(azGPO, 1), untouched} {
		got, err := s.GetAgency(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetAgency(%s): %v", want.ID, err)
		}
		check.Equal(t, "agency "+want.ID+" after Import", got, want)
	}
	if n := len(allAgencies(t, s)); n != 22 {
		t.Errorf("%d agencies after Import; want 22", n)
	}

	// Importing again replaces again.
	if err := s.Import(ctx, []directory.State{kz}, []directory.Agency{kzGPO}, nil, nil); err != nil {
		t.Fatalf("second Import: %v", err)
	}
	if got, err := s.GetAgency(ctx, "kz-gpo"); err != nil || got.Version != 3 {
		t.Errorf("kz-gpo after second Import: version %d, %v; want 3", got.Version, err)
	}
	if got, err := s.GetState(ctx, "KZ"); err != nil || got.Version != 3 {
		t.Errorf("KZ after second Import: version %d, %v; want 3", got.Version, err)
	}

	// Import also fills an empty store.
	empty := newStore(t)
	if err := empty.Import(ctx, []directory.State{az}, []directory.Agency{azGPO}, nil, nil); err != nil {
		t.Fatalf("Import into empty store: %v", err)
	}
	if got, err := empty.GetAgency(ctx, "az-gpo"); err != nil {
		t.Errorf("GetAgency after Import into empty store: %v", err)
	} else {
		check.Equal(t, "az-gpo imported into empty store", got, wantAgency(azGPO, 1))
	}
}

func testImportUnknownState(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	wantStates, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAgencies := allAgencies(t, s)

	az := directory.State{Code: "AZ", TimeZone: "Asia/Baku"}
	kz := getState(t, s, "KZ")
	kz.TimeZone = "UTC"
	err = s.Import(ctx, []directory.State{az, kz}, []directory.Agency{
		{ID: "az-gpo", State: "AZ", Kind: directory.CentralAuthority},
		{ID: "xx-gpo", State: "XX", Kind: directory.CentralAuthority},
	}, nil, nil)
	check.Code(t, "Import with an agency of an unknown state", err, errs.ErrFailedPrecondition)
	if err != nil && !strings.Contains(err.Error(), "XX") {
		t.Errorf("error %q does not name state XX", err)
	}
	gotStates, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check.Equal(t, "states after failed Import (one transaction)", gotStates, wantStates)
	check.Equal(t, "agencies after failed Import (one transaction)", allAgencies(t, s), wantAgencies)
}

// testImportKeep checks the keep hook of Import: called with the stored
// version of each state already stored, and only those; what it changes is
// stored; a change of code is refused and nothing is stored.
func testImportKeep(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	stored := getState(t, s, "KZ")
	kz := stored
	kz.TimeZone, kz.TrustedIssuers = "Asia/Aqtobe", nil
	az := directory.State{Code: "AZ", DisplayNames: map[string]string{"en": "Azerbaijan"}, TimeZone: "Asia/Baku"}
	var seen []directory.State
	err := s.Import(ctx, []directory.State{kz, az}, nil, func(old directory.State, imported *directory.State) {
		seen = append(seen, old)
		imported.TrustedIssuers = []string{"urn:kept"}
	}, nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	check.Equal(t, "states keep was called with", seen, []directory.State{stored})
	got := getState(t, s, "KZ")
	if got.TimeZone != "Asia/Aqtobe" || !slices.Equal(got.TrustedIssuers, []string{"urn:kept"}) {
		t.Errorf("KZ after Import: time zone %q, issuers %q; want the import's zone and keep's issuers", got.TimeZone, got.TrustedIssuers)
	}
	if got, err := s.GetState(ctx, "AZ"); err != nil || len(got.TrustedIssuers) != 0 {
		t.Errorf("AZ after Import: %+v, %v; want stored as imported (keep is not called for a new state)", got, err)
	}

	before, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uz := before[len(before)-1]
	uz.TimeZone = "UTC"
	err = s.Import(ctx, []directory.State{uz}, nil, func(_ directory.State, imported *directory.State) { imported.Code = "TM" }, nil)
	check.Code(t, "Import whose keep changes the code", err, errs.ErrInvalid)
	after, err := s.ListStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check.Equal(t, "states after the refused Import", after, before)
}

// testImportKeepsIssuers checks directory.Import on the store: a state the
// snapshot lists with no trusted issuer keeps the ones it has, and the report
// names it; issuers the snapshot names replace the stored ones.
func testImportKeepsIssuers(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := seeded(t, newStore)
	states, _ := fixtures()
	byCode := map[string]directory.State{}
	for _, st := range states {
		byCode[st.Code] = st
	}
	kz, uz, tm := byCode["KZ"], byCode["UZ"], byCode["TM"]
	kz.TrustedIssuers, kz.TimeZone = nil, "Asia/Aqtobe"
	uz.TrustedIssuers = []string{"https://idp.new.uz.example/"}
	az := directory.State{Code: "AZ", DisplayNames: map[string]string{"en": "Azerbaijan"}, TimeZone: "Asia/Baku"}
	report, err := directory.Import(ctx, s, []directory.State{kz, uz, tm, az}, nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	check.Equal(t, "report", report, directory.ImportReport{KeptIssuers: []string{"KZ"}, NoIssuer: []string{"TM", "AZ"}})
	for _, tc := range []struct {
		code, zone string
		issuers    []string
	}{
		{"KZ", "Asia/Aqtobe", []string{"https://idp.kz.example/"}},
		{"UZ", uz.TimeZone, []string{"https://idp.new.uz.example/"}},
		{"TM", tm.TimeZone, nil},
		{"AZ", "Asia/Baku", nil},
	} {
		got, err := s.GetState(ctx, tc.code)
		if err != nil {
			t.Fatalf("GetState(%s): %v", tc.code, err)
		}
		if got.TimeZone != tc.zone || !slices.Equal(got.TrustedIssuers, tc.issuers) {
			t.Errorf("%s after Import: time zone %q, issuers %q; want %q, %q", tc.code, got.TimeZone, got.TrustedIssuers, tc.zone, tc.issuers)
		}
	}
}
