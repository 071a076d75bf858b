package directory_test

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb/sqldbtest"
	"github.com/comity-mla/comity/services/trail"
)

// witnessKey returns a witness's cosignature/v1 verifier key, made as
// comity-witness makes its own, and the plain Ed25519 key it derives from.
func witnessKey(t *testing.T, name string) (vkey, plain string) {
	t.Helper()
	_, plain, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err = fnote.VKeyToCosignatureV1(plain)
	if err != nil {
		t.Fatal(err)
	}
	return vkey, plain
}

// TestStateWitness, on both engines: only a directory_admin of the state's
// OVERSIGHT agency sets, changes and clears the state's witness (DESIGN
// §6.1); every change is stored with its event and a new etag; every other
// caller is refused with words naming who may, and changes nothing; bad
// values are refused naming witness.url or witness.public_key; an import
// naming no witness keeps the state's.
func TestStateWitness(t *testing.T) {
	for _, engine := range sqldbtest.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			now := time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)
			svc, store := newServiceOn(t, engine.Open(t), now)
			oversight := identity.Principal{Subject: "ov-1", Agency: "kz-oversight", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}}
			vkey, plain := witnessKey(t, "witness.kz.comity.test")
			w := directory.StateWitness{URL: "https://witness.kz.example", PublicKey: vkey}
			set := func(p identity.Principal, w directory.StateWitness) (directory.State, error) {
				st, err := svc.GetState(t.Context(), p, "KZ")
				if err != nil {
					t.Fatal(err)
				}
				return svc.UpdateState(t.Context(), p, "KZ", st.Etag(), directory.StateChange{Witness: &w})
			}
			events := func() int {
				pending, err := store.PendingEvents(t.Context(), 0)
				if err != nil {
					t.Fatal(err)
				}
				return len(pending)
			}

			before, err := svc.GetState(t.Context(), oversight, "KZ")
			if err != nil || !before.Witness.IsZero() {
				t.Fatalf("a seeded state: witness %+v, %v; want none", before.Witness, err)
			}
			got, err := set(oversight, w)
			if err != nil {
				t.Fatalf("the oversight agency's directory_admin sets the witness: %v", err)
			}
			if got.Witness != w || got.Etag() == before.Etag() {
				t.Errorf("set: witness %+v etag %s; want %+v and a new etag", got.Witness, got.Etag(), w)
			}
			if read, _ := svc.GetState(t.Context(), oversight, "KZ"); read.Witness != w {
				t.Errorf("read back %+v; want %+v", read.Witness, w)
			}
			if n := events(); n != 1 {
				t.Errorf("%d events after the change; want 1", n)
			}

			// Everyone else is refused, naming who may, and nothing moves.
			other, _ := witnessKey(t, "witness.elsewhere")
			elsewhere := directory.StateWitness{URL: "https://witness.elsewhere.example", PublicKey: other}
			for _, p := range []identity.Principal{
				{Subject: "ca-1", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}},
				{Subject: "ov-uz", Agency: "uz-oversight", State: "UZ", Roles: []identity.Role{identity.DirectoryAdmin}},
				{Subject: "aud-1", Agency: "kz-oversight", State: "KZ", Roles: []identity.Role{identity.Auditor}},
			} {
				for _, change := range []directory.StateWitness{elsewhere, {}} {
					_, err := set(p, change)
					if errs.CodeOf(err) != errs.PermissionDenied || !strings.Contains(err.Error(), "only a directory_admin of the oversight agency (kind OVERSIGHT) of KZ may change its witness") {
						t.Errorf("%s of %s sets %+v: %v; want PERMISSION_DENIED naming who may", p.Subject, p.Agency, change, err)
					}
					if r, ok := trail.RefusalOf(err); !ok || !slices.Equal(r.States, []string{"KZ"}) {
						t.Errorf("refusal %#v; want one concerning KZ, for its auditors", r)
					}
				}
			}
			if read, _ := svc.GetState(t.Context(), oversight, "KZ"); read.Witness != w || read.Version != got.Version {
				t.Errorf("after the refusals: %+v version %d; want %+v version %d", read.Witness, read.Version, w, got.Version)
			}
			if n := events(); n != 1 {
				t.Errorf("%d events after the refusals; want still 1", n)
			}
			// The central authority's directory_admin may still change the
			// rest of the state, and send back the witness unchanged (a
			// full replacement).
			ca := identity.Principal{Subject: "ca-1", Agency: "kz-gpo", State: "KZ", Roles: []identity.Role{identity.DirectoryAdmin}}
			tz := "Asia/Qostanay"
			cur, _ := svc.GetState(t.Context(), ca, "KZ")
			if _, err := svc.UpdateState(t.Context(), ca, "KZ", cur.Etag(), directory.StateChange{TimeZone: &tz, Witness: &w}); err != nil {
				t.Errorf("the central authority's admin, witness unchanged: %v; want it allowed", err)
			}

			// Bad values, each on its field; nothing changes.
			for _, tc := range []struct {
				w     directory.StateWitness
				field string
				words string
			}{
				{directory.StateWitness{URL: "http://witness.kz.example", PublicKey: vkey}, "state.witness.url", "loopback"},
				{directory.StateWitness{URL: "https://u:p@witness.kz.example", PublicKey: vkey}, "state.witness.url", "password"},
				{directory.StateWitness{URL: "https://witness.kz.example/?x=1", PublicKey: vkey}, "state.witness.url", "query"},
				{directory.StateWitness{URL: "https://witness.kz.example/#f", PublicKey: vkey}, "state.witness.url", "fragment"},
				{directory.StateWitness{URL: "witness.kz.example", PublicKey: vkey}, "state.witness.url", "absolute https URL"},
				{directory.StateWitness{PublicKey: vkey}, "state.witness.url", "required"},
				{directory.StateWitness{URL: "https://witness.kz.example"}, "state.witness.public_key", "required"},
				{directory.StateWitness{URL: "https://witness.kz.example", PublicKey: plain}, "state.witness.public_key", "algorithm 0x01"},
				{directory.StateWitness{URL: "https://witness.kz.example", PublicKey: "witness kz+" + strings.SplitN(vkey, "+", 2)[1]}, "state.witness.public_key", "without spaces"},
				{directory.StateWitness{URL: "https://witness.kz.example", PublicKey: "renamed" + vkey}, "state.witness.public_key", "does not match"},
			} {
				_, err := set(oversight, tc.w)
				if errs.CodeOf(err) != errs.Invalid || !slices.Equal(violationFields(err), []string{tc.field}) || !strings.Contains(err.Error(), tc.words) {
					t.Errorf("%+v: %v (fields %v); want INVALID_ARGUMENT on %s saying %q", tc.w, err, violationFields(err), tc.field, tc.words)
				}
			}
			if read, _ := svc.GetState(t.Context(), oversight, "KZ"); read.Witness != w {
				t.Errorf("after the bad values: %+v; want %+v", read.Witness, w)
			}
			// http on a loopback host is allowed: comity-local's witnesses.
			local := directory.StateWitness{URL: "http://127.0.0.1:9104", PublicKey: vkey}
			if _, err := set(oversight, local); err != nil {
				t.Errorf("loopback http: %v; want it kept", err)
			}

			// An import of a snapshot naming no witness keeps the state's.
			kz, _ := svc.GetState(t.Context(), oversight, "KZ")
			imported := kz
			imported.Witness = directory.StateWitness{}
			if _, err := directory.Import(t.Context(), store, []directory.State{imported}, nil); err != nil {
				t.Fatal(err)
			}
			if read, _ := svc.GetState(t.Context(), oversight, "KZ"); read.Witness != local {
				t.Errorf("after an import naming none: %+v; want the state's %+v", read.Witness, local)
			}

			// Cleared by the oversight agency's admin.
			if got, err := set(oversight, directory.StateWitness{}); err != nil || !got.Witness.IsZero() {
				t.Errorf("clear: %+v, %v; want none", got.Witness, err)
			}
			if read, _ := svc.GetState(t.Context(), oversight, "KZ"); !read.Witness.IsZero() {
				t.Errorf("cleared, read back: %+v; want none", read.Witness)
			}
		})
	}
}
