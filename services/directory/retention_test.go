package directory_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// TestStateRetention: a state's directory_admin sets the retention of its
// requests' personal data (DESIGN §10), reads it back, removes it; values
// outside a day to a century are refused naming the field, and change
// nothing; an import that names none keeps it.
func TestStateRetention(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)
	svc, store := newService(t, now)
	admin := identity.Principal{Subject: "admin-1", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}}
	set := func(d time.Duration) (directory.State, error) {
		st, err := svc.GetState(t.Context(), admin, "KZ")
		if err != nil {
			t.Fatal(err)
		}
		return svc.UpdateState(t.Context(), admin, "KZ", st.Etag(), directory.StateChange{RetentionAfterClose: &d})
	}
	if st, err := svc.GetState(t.Context(), admin, "KZ"); err != nil || st.RetentionAfterClose != 0 {
		t.Fatalf("a seeded state: retention %v, %v; want none", st.RetentionAfterClose, err)
	}
	tenYears := 87660 * time.Hour
	if _, err := set(tenYears); err != nil {
		t.Fatal(err)
	}
	if st, err := svc.GetState(t.Context(), admin, "KZ"); err != nil || st.RetentionAfterClose != tenYears {
		t.Errorf("read back: %v, %v; want %v", st.RetentionAfterClose, err, tenYears)
	}
	for _, d := range []time.Duration{time.Hour, 24*time.Hour - time.Nanosecond, -time.Hour, 876600*time.Hour + time.Second} {
		_, err := set(d)
		vs := violationFields(err)
		if errs.CodeOf(err) != errs.Invalid || !slices.Equal(vs, []string{"state.retention_after_close"}) {
			t.Errorf("%v: %v %v; want INVALID_ARGUMENT on state.retention_after_close", d, err, vs)
		}
	}
	for _, d := range []time.Duration{24 * time.Hour, 876600 * time.Hour} {
		if _, err := set(d); err != nil {
			t.Errorf("%v, a bound: %v; want it kept", d, err)
		}
	}
	if st, _ := svc.GetState(t.Context(), admin, "KZ"); st.RetentionAfterClose != 876600*time.Hour {
		t.Errorf("after the refusals and the bounds: %v; want the last kept, 876600h", st.RetentionAfterClose)
	}
	if _, err := set(tenYears); err != nil {
		t.Fatal(err)
	}

	// An import of a snapshot that names no retention keeps the state's.
	kz, err := svc.GetState(t.Context(), admin, "KZ")
	if err != nil {
		t.Fatal(err)
	}
	imported := kz
	imported.RetentionAfterClose = 0
	if _, err := directory.Import(t.Context(), store, []directory.State{imported}, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := svc.GetState(t.Context(), admin, "KZ"); st.RetentionAfterClose != tenYears {
		t.Errorf("after an import naming none: %v; want the state's %v", st.RetentionAfterClose, tenYears)
	}

	if _, err := set(0); err != nil {
		t.Fatal(err)
	}
	if st, _ := svc.GetState(t.Context(), admin, "KZ"); st.RetentionAfterClose != 0 {
		t.Errorf("removed: %v; want none (the deployment's default)", st.RetentionAfterClose)
	}
}

// violationFields are the fields of err's violations.
func violationFields(err error) []string {
	var e *errs.Error
	if !errors.As(err, &e) {
		return nil
	}
	var out []string
	for _, v := range e.Violations {
		out = append(out, v.Field)
	}
	return out
}
