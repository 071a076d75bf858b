package directoryclient_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/directoryclient"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcserver/healthtest"
	"github.com/comity-mla/comity/services/trail"
)

// env is a real directory server on a loopback port and a connection to it
// that counts the directory calls made over it.
type env struct {
	t       *testing.T
	dataDir string
	devID   string
	conn    *grpc.ClientConn
	calls   atomic.Int64
	stop    func()
}

func startDirectory(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dataDir: t.TempDir()}
	dev, err := identity.EnsureDevIssuer(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	e.devID = dev.ID
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- directoryd.Run(ctx, directoryd.Config{
			Listener: lis, Database: "sqlite:" + filepath.Join(e.dataDir, "directory.db"),
			Issuers: []identity.Issuer{dev}, SeedTrustedIssuers: []string{dev.ID},
			Producer: relay.Producer{AuditDigestKey: make(trail.DigestKey, trail.DigestKeySize)}, Logger: zaptest.NewLogger(t),
		})
	}()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("directory stopped with an error: %v", err)
		}
	}
	t.Cleanup(e.stop)

	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasPrefix(method, "/comity.directory.v1.DirectoryService/") {
			e.calls.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	e.conn, err = grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(count))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close() })
	e.waitReady()
	return e
}

// waitReady polls the gRPC health check with backoff until the directory
// serves.
func (e *env) waitReady() {
	e.t.Helper()
	healthtest.WaitServing(e.t, e.conn, 20*time.Second, nil)
}

// token returns a dev-issuer bearer token of a user of agency.
func (e *env) token(agency string, roles ...identity.Role) string {
	e.t.Helper()
	tok, err := identity.MintDevToken(e.dataDir, identity.TokenRequest{Agency: agency, Roles: roles}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return "Bearer " + tok
}

// as returns the context of an incoming call that carries authorization.
func as(authorization string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", authorization))
}

// callsDuring returns how many directory calls f made.
func (e *env) callsDuring(f func()) int64 {
	before := e.calls.Load()
	f()
	return e.calls.Load() - before
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", code)
	}
	if got := errs.CodeOf(err); got != code {
		t.Fatalf("err = %v (%v), want %v", err, got, code)
	}
}

func TestClient(t *testing.T) {
	e := startDirectory(t)
	prosecutor := as(e.token("kz-gpo", identity.Prosecutor))

	t.Run("agency trust", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		got, err := c.AgencyTrust(prosecutor, "kz-gpo")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != "KZ" || !got.Active || !slices.Contains(got.TrustedIssuers, e.devID) {
			t.Errorf("AgencyTrust(kz-gpo) = %+v, want state KZ, active, trusting %q", got, e.devID)
		}
	})

	t.Run("agency and state", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		a, err := c.Agency(prosecutor, "uz-gpo")
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != "uz-gpo" || a.State != "UZ" || a.Kind != directory.CentralAuthority || !a.Active ||
			!slices.Equal(a.AcceptedLanguages, []string{"ru", "uz"}) || !slices.Contains(a.Receives, cooperation.ContentData) {
			t.Errorf("Agency(uz-gpo) = %+v", a)
		}
		st, err := c.State(prosecutor, "uz")
		if err != nil {
			t.Fatal(err)
		}
		if st.Code != "UZ" || st.TimeZone != "Asia/Tashkent" {
			t.Errorf("State(uz) = %+v, want UZ in Asia/Tashkent", st)
		}
	})

	t.Run("instruments", func(t *testing.T) {
		// Through a real directory seeded with the default seed: the
		// profiles and both states' entries, asked once and then cached.
		c := directoryclient.New(e.conn)
		var tr directory.Treaties
		calls := e.callsDuring(func() {
			var err error
			if tr, err = c.Instruments(prosecutor, "kz", "UZ"); err != nil {
				t.Fatal(err)
			}
		})
		if len(tr.Profiles) != len(directory.ProfiledBases) || tr.Requesting.Code != "KZ" || tr.Requested.Code != "UZ" ||
			tr.Requested.StatusOf(directory.BudapestConvention) != directory.NotInForce || calls != 3 {
			t.Errorf("Instruments(KZ, UZ) = %d profiles, %s→%s, UZ Budapest %s, in %d calls; want %d profiles, KZ→UZ, NOT_IN_FORCE, 3 calls",
				len(tr.Profiles), tr.Requesting.Code, tr.Requested.Code, tr.Requested.StatusOf(directory.BudapestConvention), calls, len(directory.ProfiledBases))
		}
		if p, ok := tr.Profile(directory.MinskConvention1993); !ok || !slices.Contains(p.Languages, "ru") {
			t.Errorf("Minsk profile %+v; want Russian accepted", p)
		}
		tr.Profiles[0].RequiredFields = append(tr.Profiles[0].RequiredFields, "mine")
		if again := e.callsDuring(func() {
			got, err := c.Instruments(prosecutor, "KZ", "UZ")
			if err != nil || slices.Contains(got.Profiles[0].RequiredFields, "mine") {
				t.Errorf("cached answer %v, %v: shared with the caller that changed it", got.Profiles[0].RequiredFields, err)
			}
		}); again != 0 {
			t.Errorf("a second Instruments made %d calls, want 0 (cached)", again)
		}
		reserved, err := c.PreservationDualCriminalityReservation(prosecutor, "UZ")
		if err != nil || reserved {
			t.Errorf("PreservationDualCriminalityReservation(UZ) = %v, %v; the seed records no reservation", reserved, err)
		}
		_, err = c.Instruments(prosecutor, "KZ", "XX")
		wantCode(t, err, errs.NotFound)
	})

	t.Run("route under a legal basis", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		a, err := c.ResolveRouteUnder(prosecutor, "UZ", cooperation.DataPreservation, cooperation.Urgent, "UNTOC_2000")
		if err != nil || a.ID != "uz-247" {
			t.Errorf("ResolveRouteUnder(UZ, urgent preservation, UNTOC) = %s, %v; want uz-247 (none designated: the usual rule)", a.ID, err)
		}
		_, err = c.ResolveRouteUnder(prosecutor, "UZ", cooperation.DataPreservation, cooperation.Urgent, "HAGUE")
		wantCode(t, err, errs.Invalid)
	})

	t.Run("routes", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		for _, tc := range []struct {
			name     string
			state    string
			typ      cooperation.RequestType
			priority cooperation.Priority
			want     string
		}{
			{"urgent preservation goes to 24/7", "UZ", cooperation.DataPreservation, cooperation.Urgent, "uz-247"},
			{"emergency preservation goes to 24/7", "uz", cooperation.DataPreservation, cooperation.Emergency, "uz-247"},
			{"routine preservation goes to the central authority", "UZ", cooperation.DataPreservation, cooperation.Routine, "uz-gpo"},
			{"urgent content goes to the central authority", "UZ", cooperation.ContentData, cooperation.Urgent, "uz-gpo"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a, err := c.ResolveRoute(prosecutor, tc.state, tc.typ, tc.priority)
				if err != nil {
					t.Fatal(err)
				}
				if a.ID != tc.want {
					t.Errorf("ResolveRoute(%s, %s, %s) = %s, want %s", tc.state, tc.typ, tc.priority, a.ID, tc.want)
				}
			})
		}
	})

	t.Run("unknown state is invalid", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		_, err := c.ResolveRoute(prosecutor, "XX", cooperation.DataPreservation, cooperation.Routine)
		wantCode(t, err, errs.Invalid)
		var de *errs.Error
		if !errors.As(err, &de) || len(de.Violations) != 1 || de.Violations[0].Field != "requested_state" ||
			!strings.Contains(err.Error(), "XX is not a participating state") {
			t.Errorf("err = %v, want the violation of requested_state", err)
		}
	})

	t.Run("unknown agency is not found and cached", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		n := e.callsDuring(func() {
			_, err := c.AgencyTrust(prosecutor, "zz-nowhere")
			if !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("AgencyTrust(zz-nowhere) = %v, want not found", err)
			}
		})
		if n != 1 {
			t.Errorf("first lookup made %d calls, want 1", n)
		}
		n = e.callsDuring(func() {
			_, err := c.Agency(prosecutor, "zz-nowhere")
			wantCode(t, err, errs.NotFound)
			_, err = c.AgencyTrust(prosecutor, "zz-nowhere")
			wantCode(t, err, errs.NotFound)
		})
		if n != 0 {
			t.Errorf("cached not-found answers made %d calls, want 0", n)
		}
	})

	t.Run("malformed agency id", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		_, err := c.Agency(prosecutor, "KZ GPO")
		wantCode(t, err, errs.Invalid)
		// For a token naming it, no such agency exists.
		_, err = c.AgencyTrust(prosecutor, "KZ GPO")
		wantCode(t, err, errs.NotFound)
	})

	t.Run("no receiving agency is a failed precondition, not cached", func(t *testing.T) {
		// An administrator of tm-oversight: one of tm-gpo may not
		// deactivate their own agency.
		admin := metadata.AppendToOutgoingContext(context.Background(), "authorization", e.token("tm-oversight", identity.DirectoryAdmin))
		api := directoryv1.NewDirectoryServiceClient(e.conn)
		gpo, err := api.GetAgency(admin, &directoryv1.GetAgencyRequest{Name: "agencies/tm-gpo"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.DeactivateAgency(admin,
			&directoryv1.DeactivateAgencyRequest{Name: "agencies/tm-gpo", Etag: gpo.GetAgency().GetEtag()}); err != nil {
			t.Fatal(err)
		}
		c := directoryclient.New(e.conn)
		for range 2 {
			n := e.callsDuring(func() {
				_, err := c.ResolveRoute(prosecutor, "TM", cooperation.SubscriberInformation, cooperation.Routine)
				wantCode(t, err, errs.FailedPrecondition)
				if want := "TM has no active agency that receives SUBSCRIBER_INFORMATION requests"; err.Error() != want {
					t.Errorf("err = %q, want %q", err, want)
				}
			})
			if n != 1 {
				t.Errorf("ResolveRoute made %d calls, want 1: errors are not cached", n)
			}
		}
	})

	t.Run("no authorization", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		if _, err := c.AgencyTrust(prosecutor, "kz-gpo"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			ctx  context.Context
		}{
			{"no metadata", context.Background()},
			{"empty authorization", as("")},
			// Outgoing metadata is not the caller's credential.
			{"outgoing only", metadata.AppendToOutgoingContext(context.Background(), "authorization", e.token("kz-gpo", identity.Prosecutor))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := e.callsDuring(func() {
					// kz-gpo and KZ are cached: the cache must not answer.
					_, err := c.AgencyTrust(tc.ctx, "kz-gpo")
					wantCode(t, err, errs.Unauthenticated)
					_, err = c.State(tc.ctx, "KZ")
					wantCode(t, err, errs.Unauthenticated)
					_, err = c.ResolveRoute(tc.ctx, "UZ", cooperation.DataPreservation, cooperation.Urgent)
					wantCode(t, err, errs.Unauthenticated)
				})
				if n != 0 {
					t.Errorf("made %d calls without credentials, want 0", n)
				}
			})
		}
	})

	t.Run("bad token", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		for _, auth := range []string{"Bearer not-a-jwt", "Basic a2F6OnB3"} {
			_, err := c.Agency(as(auth), "kg-gpo")
			wantCode(t, err, errs.Unauthenticated)
		}
		// The refusal was not cached as the answer.
		if _, err := c.Agency(prosecutor, "kg-gpo"); err != nil {
			t.Errorf("Agency with a good token after a bad one: %v", err)
		}
	})

	t.Run("cache hits make no call", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		if n := e.callsDuring(func() {
			if _, err := c.AgencyTrust(prosecutor, "kz-gpo"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ResolveRoute(prosecutor, "UZ", cooperation.DataPreservation, cooperation.Urgent); err != nil {
				t.Fatal(err)
			}
		}); n != 3 {
			t.Errorf("cold lookups made %d calls, want 3 (agency, state, route)", n)
		}
		// Another user, of another state, shares the cache.
		other := as(e.token("kg-police-cyber", identity.LiaisonOfficer))
		if n := e.callsDuring(func() {
			for _, ctx := range []context.Context{prosecutor, other} {
				trust, err := c.AgencyTrust(ctx, "kz-gpo")
				if err != nil || trust.State != "KZ" {
					t.Fatalf("AgencyTrust(kz-gpo) = %+v, %v", trust, err)
				}
				a, err := c.Agency(ctx, "kz-gpo")
				if err != nil || a.ID != "kz-gpo" {
					t.Fatalf("Agency(kz-gpo) = %+v, %v", a, err)
				}
				st, err := c.State(ctx, "kz")
				if err != nil || st.TimeZone != "Asia/Almaty" {
					t.Fatalf("State(kz) = %+v, %v", st, err)
				}
				r, err := c.ResolveRoute(ctx, "uz", cooperation.DataPreservation, cooperation.Urgent)
				if err != nil || r.ID != "uz-247" {
					t.Fatalf("ResolveRoute = %+v, %v", r, err)
				}
			}
		}); n != 0 {
			t.Errorf("cached lookups made %d calls, want 0", n)
		}
	})

	t.Run("callers get their own copy", func(t *testing.T) {
		c := directoryclient.New(e.conn)
		// The first answer comes from the call, the others from the cache.
		for range 2 {
			a, err := c.Agency(prosecutor, "kz-gpo")
			if err != nil {
				t.Fatal(err)
			}
			a.AcceptedLanguages[0] = "xx"
			a.DisplayNames["en"] = "changed"
		}
		b, err := c.Agency(prosecutor, "kz-gpo")
		if err != nil {
			t.Fatal(err)
		}
		if b.AcceptedLanguages[0] != "ru" || b.DisplayNames["en"] == "changed" {
			t.Errorf("a caller's change reached the cache: %+v", b)
		}
	})

	t.Run("cache disabled", func(t *testing.T) {
		c := directoryclient.New(e.conn, directoryclient.WithCacheTTL(0))
		if n := e.callsDuring(func() {
			for range 2 {
				if _, err := c.State(prosecutor, "KZ"); err != nil {
					t.Fatal(err)
				}
			}
		}); n != 2 {
			t.Errorf("two lookups without a cache made %d calls, want 2", n)
		}
	})
}

func TestClientDirectoryStopped(t *testing.T) {
	e := startDirectory(t)
	prosecutor := as(e.token("kz-gpo", identity.Prosecutor))
	const timeout = 500 * time.Millisecond
	c := directoryclient.New(e.conn, directoryclient.WithCallTimeout(timeout))
	if _, err := c.AgencyTrust(prosecutor, "kz-gpo"); err != nil {
		t.Fatal(err)
	}
	e.stop()

	start := time.Now()
	_, err := c.Agency(prosecutor, "kg-gpo")
	elapsed := time.Since(start)
	wantCode(t, err, errs.Unavailable)
	if err.Error() != "directory unavailable" {
		t.Errorf("err = %q, want %q", err, "directory unavailable")
	}
	if elapsed > timeout+time.Second {
		t.Errorf("the call took %v, want at most the call timeout %v", elapsed, timeout)
	}
	// What was cached still answers.
	if trust, err := c.AgencyTrust(prosecutor, "kz-gpo"); err != nil || trust.State != "KZ" {
		t.Errorf("cached AgencyTrust(kz-gpo) after the directory stopped = %+v, %v", trust, err)
	}
}

// TestClientDirectoryHangs points the client at a server that accepts
// connections and never answers: the call must end at the call timeout.
func TestClientDirectoryHangs(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		defer close(accepted)
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		for conn := range accepted {
			conn.Close()
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	const timeout = 300 * time.Millisecond
	c := directoryclient.New(conn, directoryclient.WithCallTimeout(timeout))
	start := time.Now()
	_, err = c.State(as("Bearer x"), "KZ")
	elapsed := time.Since(start)
	wantCode(t, err, errs.Unavailable)
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("the call took %v, want about the call timeout %v", elapsed, timeout)
	}
}

// TestAgencyTrustPassesOnTheDirectorysRefusal: asked with a genuine token
// the directory refuses (a role its agency may not hold, an unknown
// agency), AgencyTrust says so as the caller's fault, with the state of the
// token's agency when the directory knows it, so that the asking service
// records the refusal for that state's auditors; never as an outage.
func TestAgencyTrustPassesOnTheDirectorysRefusal(t *testing.T) {
	e := startDirectory(t)
	c := directoryclient.New(e.conn)
	tests := []struct {
		name, agency string
		role         identity.Role
		msg, state   string
	}{
		{"central_authority at an oversight agency", "kz-oversight", identity.CentralAuthority,
			`role "central_authority" cannot be held at agency "kz-oversight" (OVERSIGHT)`, "KZ"},
		{"an agency not in the directory", "xx-nowhere", identity.Prosecutor, `agency "xx-nowhere" is not in the directory`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AgencyTrust(as(e.token(tc.agency, tc.role)), tc.agency)
			wantCode(t, err, errs.Unauthenticated)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to say %q", err, tc.msg)
			}
			var r *identity.RefusedError
			switch {
			case tc.state != "" && !errors.As(err, &r):
				t.Errorf("error %v does not say the agency's state", err)
			case tc.state != "" && r.Claimed.State != tc.state:
				t.Errorf("refusal names state %q, want %q", r.Claimed.State, tc.state)
			}
		})
	}
	// The kind is the directory's, for the verifier to decide by.
	got, err := c.AgencyTrust(as(e.token("kz-oversight", identity.Auditor)), "kz-city-prosecutor")
	if err != nil || got.Kind != "PROSECUTION" || got.State != "KZ" {
		t.Errorf("AgencyTrust(kz-city-prosecutor) = %+v, %v; want a PROSECUTION agency of KZ", got, err)
	}
}
