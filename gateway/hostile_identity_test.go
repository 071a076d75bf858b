package gateway_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/gateway"
	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/audit"
	auditstore "github.com/comity-mla/comity/services/audit/store"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/trail"
)

// The attacks of issue 10 on identity (items 7, 8 and 11): genuine tokens
// (signed by the dev issuer, which every state trusts) that claim what the
// directory does not back. Each must be refused as the caller's fault
// (401, naming what is wrong), counted by the rate limiter against the
// caller's address, and recorded in the audit trail with the actor the
// token claimed.

// trailEvents returns the events of the audit log's index that match keep,
// read from the audit service's database as the operator could: events of
// an agency that is in no state are in no auditor's scope.
func (s *suite) trailEvents(keep func(trail.Event) bool) []trail.Event {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sqlitedb.Open(ctx, filepath.Join(s.dataDir, "audit.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	idx, err := auditstore.New(ctx, sqldb.FromSQLite(db))
	if err != nil {
		s.t.Fatal(err)
	}
	entries, err := idx.List(ctx, audit.EntryQuery{AfterIndex: audit.FromStart})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []trail.Event
	for _, e := range entries {
		if keep(e.Event) {
			out = append(out, e.Event)
		}
	}
	return out
}

// awaitTrail polls trailEvents until done holds of what keep selects.
func (s *suite) awaitTrail(what string, keep func(trail.Event) bool, done func([]trail.Event) bool) []trail.Event {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := s.trailEvents(keep)
		if done(got) {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after 30s the audit trail holds %d events of %s: %+v", len(got), what, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Item 7: 2,000 calls with genuine tokens naming an agency that is not in
// the directory and one that is deactivated. Today: 2,000 × 503, no 429,
// nothing recorded.
func TestHostileIdentityUnknownAndDeactivatedAgencies(t *testing.T) {
	const perSecond, burst = 5, 40
	s := startSuite(t, suiteOptions{quiet: true, rateLimit: gateway.RateLimit{PerSecond: perSecond, Burst: burst}})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	s.mustDo("POST", "/v1/agencies?agencyId=kz-disbanded-unit", admin, map[string]any{
		"kind": "LAW_ENFORCEMENT", "displayNames": map[string]string{"en": "Disbanded cyber unit"}}, 200)
	s.mustDo("POST", "/v1/agencies/kz-disbanded-unit:deactivate", admin, s.withEtag("kz-disbanded-unit", admin, nil), 200)

	unknown := s.tokenFor("hostile-unknown", "xx-nowhere", identity.Prosecutor)
	deactivated := s.tokenFor("hostile-deactivated", "kz-disbanded-unit", identity.LiaisonOfficer)
	calls := []struct {
		token, want string
		refused     int
	}{
		{token: unknown, want: `agency "xx-nowhere" is not in the directory`},
		{token: deactivated, want: `agency "kz-disbanded-unit" is deactivated`},
	}
	limited, wrong := 0, 0
	start := time.Now()
	for i := range 2000 {
		c := &calls[i%2]
		r := s.do("GET", "/v1/requests", c.token, nil)
		switch {
		case r.status == http.StatusUnauthorized && strings.Contains(r.message(), c.want):
			c.refused++
		case r.status == http.StatusTooManyRequests && strings.Contains(r.message(), "this address"):
			limited++
		default:
			if wrong++; wrong <= 5 {
				t.Errorf("call %d: %d %s; want 401 saying %s, or 429 for this address", i, r.status, r.raw, c.want)
			}
		}
	}
	elapsed := time.Since(start)
	t.Logf("2,000 calls in %v: %d and %d refused (401), %d limited (429)", elapsed.Round(time.Millisecond),
		calls[0].refused, calls[1].refused, limited)
	if calls[0].refused == 0 || calls[1].refused == 0 {
		t.Errorf("refused %d and %d: each token should be refused (401) until the bucket is spent", calls[0].refused, calls[1].refused)
	}
	// The refusals spend the address's bucket: no more got through than
	// it holds plus what it refilled meanwhile.
	if most := burst + int(math.Ceil(elapsed.Seconds()*perSecond)) + 1; calls[0].refused+calls[1].refused > most {
		t.Errorf("%d calls reached the services; the bucket allows at most %d in %v", calls[0].refused+calls[1].refused, most, elapsed)
	}
	if limited == 0 {
		t.Error("no call was limited (429)")
	}
	// Another client is not held back: its agency has a bucket of its own.
	s.mustDo("GET", "/v1/requests", s.token("uz-gpo", identity.Prosecutor), nil, 200)

	// Every refused call that reached the request service is recorded there,
	// with the actor the token claimed; KZ's auditors see those of the KZ
	// agency.
	fromRequest := func(subject string) func(trail.Event) bool {
		return func(e trail.Event) bool {
			return e.Service == "comity-request" && e.Actor.Subject == subject && e.Action == requestService+"ListRequests"
		}
	}
	for i, c := range calls {
		subject := []string{"hostile-unknown", "hostile-deactivated"}[i]
		agency := []string{"xx-nowhere", "kz-disbanded-unit"}[i]
		role := []string{"prosecutor", "liaison_officer"}[i]
		states := [][]string{nil, {"KZ"}}[i]
		evs := s.awaitTrail(subject+"'s refused calls", fromRequest(subject), func(es []trail.Event) bool { return len(es) >= c.refused })
		if len(evs) != c.refused {
			t.Errorf("%d events of %s's calls, want one per refused call: %d", len(evs), subject, c.refused)
		}
		for _, e := range evs {
			if e.Outcome != "UNAUTHENTICATED" || e.Actor.Agency != agency || !slices.Equal(e.Actor.Roles, []string{role}) ||
				e.Actor.Issuer != identity.DevIssuerID || !slices.Equal(e.States, states) {
				t.Errorf("event %+v; want UNAUTHENTICATED by %s (%s) of %s, issuer %s, states %v", e, subject, role, agency, identity.DevIssuerID, states)
				break
			}
		}
	}
	kzAuditor := s.token("kz-oversight", identity.Auditor)
	seen := s.awaitEntries(kzAuditor, `agency = "kz-disbanded-unit" AND outcome = "UNAUTHENTICATED"`, 30*time.Second,
		func(es []auditEntry) bool { return len(es) > 0 })
	if e := seen[0].Event; e.Actor.Subject != "hostile-deactivated" {
		t.Errorf("KZ's auditor sees %v, want the refused call of hostile-deactivated", seen[0])
	}
}

// Item 8: central_authority at an OVERSIGHT and at a TRAINING_INSTITUTION
// agency. Today: both read every KZ request in full and transmit one.
func TestHostileIdentityCentralAuthorityAtTheWrongKindOfAgency(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	admin := s.token("kz-gpo", identity.DirectoryAdmin)
	s.mustDo("POST", "/v1/agencies?agencyId=kz-academy", admin, map[string]any{
		"kind": "TRAINING_INSTITUTION", "displayNames": map[string]string{"en": "Academy of law enforcement"}}, 200)
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
	s.mustDo("POST", "/v1/"+name+":submit", prosecutor, map[string]any{}, 200)
	req := requestv1.NewRequestServiceClient(s.grpcConn("request"))

	for _, tc := range []struct{ subject, agency, kind string }{
		{"rogue-oversight-ca", "kz-oversight", "OVERSIGHT"},
		{"rogue-academy-ca", "kz-academy", "TRAINING_INSTITUTION"},
	} {
		t.Run(tc.agency, func(t *testing.T) {
			tok := s.tokenFor(tc.subject, tc.agency, identity.CentralAuthority)
			want := fmt.Sprintf(`role "central_authority" cannot be held at agency %q (%s)`, tc.agency, tc.kind)
			for _, call := range []struct{ method, path string }{
				{"GET", "/v1/" + name},
				{"GET", "/v1/requests"},
				{"POST", "/v1/" + name + ":transmit"},
			} {
				var body any
				if call.method == "POST" {
					body = map[string]any{}
				}
				if r := s.do(call.method, call.path, tok, body); r.status != http.StatusUnauthorized || r.message() != want {
					t.Errorf("%s %s = %d %s; want 401 %q", call.method, call.path, r.status, r.raw, want)
				}
			}
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
			_, err := req.GetRequest(ctx, &requestv1.GetRequestRequest{Name: name})
			if status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != want {
				t.Errorf("GetRequest over gRPC: %v; want UNAUTHENTICATED %q", err, want)
			}
			_, err = req.TransmitRequest(ctx, &requestv1.TransmitRequestRequest{Name: name})
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("TransmitRequest over gRPC: %v; want UNAUTHENTICATED", err)
			}

			// KZ's auditors see each refused call, by whom, with its role.
			kzAuditor := s.token("kz-oversight", identity.Auditor)
			filter := fmt.Sprintf(`actor = %q AND outcome = "UNAUTHENTICATED"`, tc.subject)
			wantActions := []string{requestService + "GetRequest", requestService + "ListRequests", requestService + "TransmitRequest"}
			es := s.awaitEntries(kzAuditor, filter, 30*time.Second, func(es []auditEntry) bool {
				var got []string
				for _, e := range es {
					if e.Event.Service == "comity-request" {
						got = append(got, e.Event.Action)
					}
				}
				return len(got) >= 5 && !slices.ContainsFunc(wantActions, func(a string) bool { return !slices.Contains(got, a) })
			})
			for _, e := range es {
				if e.Event.Actor.Agency != tc.agency || !slices.Equal(e.Event.Actor.Roles, []string{"central_authority"}) ||
					!slices.Contains(e.Event.States, "KZ") {
					t.Errorf("entry %v (roles %v, states %v); want by central_authority of %s, involving KZ",
						e, e.Event.Actor.Roles, e.Event.States, tc.agency)
				}
			}
		})
	}
	// Nothing happened to the request.
	if r := s.mustDo("GET", "/v1/"+name, prosecutor, nil, 200); r.body["status"] != "SUBMITTED" {
		t.Errorf("the request is %v after the refused calls, want SUBMITTED", r.body["status"])
	}
}

// Item 11: a date as a string, no role, only unknown roles, a role in
// capitals. Each service verifies tokens itself, through the same verifier:
// each must answer the same, through the gateway and over gRPC. Unknown
// role names are ignored (an identity provider may carry roles of other
// systems) and never match a role by case.
func TestHostileIdentityClaimsEveryServiceReadsAlike(t *testing.T) {
	s := startSuite(t, suiteOptions{quiet: true})
	key := devKey(t, s.dataDir)
	dir := directoryv1.NewDirectoryServiceClient(s.grpcConn("directory"))
	req := requestv1.NewRequestServiceClient(s.grpcConn("request"))
	aud := auditv1.NewAuditServiceClient(s.grpcConn("audit"))

	auditorAt := func(roles ...string) func(map[string]any) {
		return func(c map[string]any) { c["roles"] = roles }
	}
	for _, tc := range []struct {
		name   string
		mutate func(map[string]any)
		want   string // the message of the 401; empty: accepted
	}{
		{"exp as a string", func(c map[string]any) { c["exp"] = fmt.Sprint(time.Now().Add(time.Hour).Unix()) }, `claim "exp" is not a date`},
		{"nbf as a string", func(c map[string]any) { c["nbf"] = fmt.Sprint(time.Now().Unix()) }, `claim "nbf" is not a date`},
		{"no roles", auditorAt(), "the token grants no Comity role"},
		{"an unknown role", auditorAt("admin"), "the token grants no Comity role"},
		{"a role in capitals", auditorAt("AUDITOR"), "the token grants no Comity role"},
		{"an unknown role beside a known one: ignored", auditorAt("ADMIN", "auditor"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, key, claims(identity.DevIssuerID, "kz-oversight", func(c map[string]any) {
				c["sub"] = "hostile-claims"
				c["roles"] = []string{"auditor"}
				tc.mutate(c)
			}))
			wantStatus := http.StatusOK
			if tc.want != "" {
				wantStatus = http.StatusUnauthorized
			}
			for _, path := range []string{"/v1/agencies/kz-gpo", "/v1/requests", "/v1/audit/entries"} {
				r := s.do("GET", path, tok, nil)
				if r.status != wantStatus || !strings.Contains(r.message(), tc.want) {
					t.Errorf("GET %s = %d %s; want %d %s", path, r.status, r.raw, wantStatus, tc.want)
				}
			}
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
			answers := map[string]error{}
			_, answers["directory"] = dir.GetAgency(ctx, &directoryv1.GetAgencyRequest{Name: "agencies/kz-gpo"})
			_, answers["request"] = req.ListRequests(ctx, &requestv1.ListRequestsRequest{})
			_, answers["audit"] = aud.ListEntries(ctx, &auditv1.ListEntriesRequest{})
			for svc, err := range answers {
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("the %s service refused the token: %v", svc, err)
				case tc.want != "" && (status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), tc.want)):
					t.Errorf("the %s service answered %v; want UNAUTHENTICATED %q", svc, err, tc.want)
				case tc.want != "" && status.Convert(err).Message() != status.Convert(answers["directory"]).Message():
					t.Errorf("the %s service says %q, the directory %q", svc, status.Convert(err).Message(), status.Convert(answers["directory"]).Message())
				}
			}
		})
	}
}
