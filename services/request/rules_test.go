package request_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/fsblob"
)

// The tests of this file check the rules where they live, in the domain,
// on hand-written fakes: memStore for the Store and agencies (watch_test.go)
// for the Directory. Expected deadlines are the DESIGN §5 table written
// out, not DefaultPolicy read back.

const day = 24 * time.Hour

// clock is the domain's clock in these tests, in Unix microseconds; it
// moves only when told.
type clock struct{ micros atomic.Int64 }

func (c *clock) now() time.Time { return time.UnixMicro(c.micros.Load()).UTC() }

func (c *clock) set(t time.Time) { c.micros.Store(t.UnixMicro()) }

func (c *clock) advance(d time.Duration) time.Time {
	return time.UnixMicro(c.micros.Add(d.Microseconds())).UTC()
}

// domain is a Service on the fakes, with its clock at t0.
type domain struct {
	svc   *request.Service
	store *memStore
	dir   *agencies
	clock *clock
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newDomain(t *testing.T, policy request.Policy) domain {
	t.Helper()
	blobs, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := domain{store: newMemStore(), dir: &agencies{}, clock: &clock{}}
	d.clock.set(t0)
	d.svc, err = request.NewService(request.Config{Store: d.store, Blobs: blobs, Directory: d.dir, Trust: d.dir,
		Policy: policy, Now: d.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	ctx       = context.Background()
	kzCA      = user("ca-kz", "kz-gpo", identity.CentralAuthority)
	uzCA      = user("ca-uz", "uz-247", identity.CentralAuthority)
	kzOtherPr = user("p-kz-2", "kz-gpo", identity.Prosecutor)
)

// ok returns a function that fails t on an error and returns the view:
// ok(t)(svc.Submit(…)).
func ok(t *testing.T) func(request.View, error) request.View {
	return func(v request.View, err error) request.View {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// violation is one field violation as a test expects it.
type violation struct{ field, reason string }

// refusal returns err's code and violations.
func refusal(err error) (errs.Code, []violation) {
	var e *errs.Error
	if !errors.As(err, &e) {
		return errs.CodeOf(err), nil
	}
	var vs []violation
	for _, v := range e.Violations {
		vs = append(vs, violation{v.Field, v.Reason})
	}
	return e.Code, vs
}

// transmitted creates d, submits it, transmits it an hour later and returns
// it as transmitted.
func (dm domain) transmitted(t *testing.T, d request.Request) request.View {
	t.Helper()
	v := ok(t)(dm.svc.Create(ctx, kzProsecutor, d, ""))
	ok(t)(dm.svc.Submit(ctx, kzProsecutor, v.ID, "", false))
	dm.clock.advance(time.Hour)
	return ok(t)(dm.svc.Transmit(ctx, kzCA, v.ID, "", false))
}

// TestDeadlines: every row of the deadline table, computed by the lifecycle
// as a request goes through it: acknowledge within 8 h, 24 h or 5 days of
// transmission; answer within 8 h, 10 days or 90 days of acknowledgement,
// or by the requested response date if that is earlier.
func TestDeadlines(t *testing.T) {
	// The periods to acknowledge and to answer, by priority.
	table := map[cooperation.Priority][2]time.Duration{
		cooperation.Emergency: {8 * time.Hour, 8 * time.Hour},
		cooperation.Urgent:    {24 * time.Hour, 10 * day},
		cooperation.Routine:   {5 * day, 90 * day},
	}
	for priority, periods := range table {
		tc := struct {
			priority    cooperation.Priority
			ack, answer time.Duration
		}{priority, periods[0], periods[1]}
		for _, requested := range []struct {
			name string
			// after is how long after acknowledgement the requested
			// response date is; 0 is none.
			after time.Duration
		}{{"no requested date", 0}, {"requested date earlier", tc.answer / 2}, {"requested date later", tc.answer + time.Hour}} {
			t.Run(string(tc.priority)+"/"+requested.name, func(t *testing.T) {
				dm := newDomain(t, request.Policy{})
				d := completeDraft()
				d.Priority, d.EmergencyReason = tc.priority, "A child is missing."
				ackTime := t0.Add(3 * time.Hour)
				if requested.after != 0 {
					d.RequestedResponseTime = ackTime.Add(requested.after)
				}
				v := dm.transmitted(t, d)
				if want := t0.Add(time.Hour).Add(tc.ack); !v.Deadlines.AcknowledgeBy.Equal(want) || !v.TransmitTime.Equal(t0.Add(time.Hour)) {
					t.Errorf("acknowledge by %v (transmitted %v), want %v", v.Deadlines.AcknowledgeBy, v.TransmitTime, want)
				}
				if !v.Deadlines.AnswerBy.IsZero() {
					t.Errorf("answer by %v before acknowledgement, want none", v.Deadlines.AnswerBy)
				}
				dm.clock.advance(2 * time.Hour)
				v = ok(t)(dm.svc.Acknowledge(ctx, uzCA, v.ID, ""))
				want := ackTime.Add(tc.answer)
				if requested.after != 0 && requested.after < tc.answer {
					want = d.RequestedResponseTime
				}
				if !v.Deadlines.AnswerBy.Equal(want) {
					t.Errorf("answer by %v, want %v", v.Deadlines.AnswerBy, want)
				}
				if v.Deadlines.AcknowledgeBy != t0.Add(time.Hour).Add(tc.ack) || !v.Deadlines.PreservationExpiresAt.IsZero() {
					t.Errorf("deadlines after acknowledgement %+v: acknowledge by changed or a preservation expiry set", v.Deadlines)
				}
			})
		}
	}
}

// executedPreservation takes a routine preservation to EXECUTED, executed
// at the returned time.
func (dm domain) executedPreservation(t *testing.T) (request.View, time.Time) {
	t.Helper()
	v := dm.transmitted(t, completeDraft())
	ok(t)(dm.svc.Acknowledge(ctx, uzCA, v.ID, ""))
	ok(t)(dm.svc.Accept(ctx, uzCA, v.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true))
	executed := dm.clock.advance(day)
	return ok(t)(dm.svc.Execute(ctx, uzCA, v.ID, "", request.Execution{ResponseSummary: "Preserved."}, nil)), executed
}

// TestPreservationDeadlines: a preservation holds 90 days from execution;
// each extension adds 90 days to the expiry (not to the time of the
// extension); a lapsed preservation, or a request of another type, cannot
// be extended.
func TestPreservationDeadlines(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v, executed := dm.executedPreservation(t)
	if want := executed.Add(90 * day); !v.Deadlines.PreservationExpiresAt.Equal(want) {
		t.Fatalf("preservation expires at %v, want %v", v.Deadlines.PreservationExpiresAt, want)
	}
	for i, at := range []time.Duration{10 * day, 150 * day} {
		dm.clock.advance(at - 10*day*time.Duration(i))
		v = ok(t)(dm.svc.ExtendPreservation(ctx, uzCA, v.ID, ""))
		if want := executed.Add(time.Duration(i+2) * 90 * day); !v.Deadlines.PreservationExpiresAt.Equal(want) {
			t.Errorf("after extension %d the preservation expires at %v, want %v", i+1, v.Deadlines.PreservationExpiresAt, want)
		}
		if v.Status != request.Executed {
			t.Errorf("after extension %d the status is %s, want EXECUTED", i+1, v.Status)
		}
	}
	// Extensions add up to at most ten years from now.
	var err error
	for range 50 {
		var next request.View
		if next, err = dm.svc.ExtendPreservation(ctx, uzCA, v.ID, ""); err != nil {
			break
		}
		v = next
	}
	if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"deadlines.preservation_expires_at", ""}}) {
		t.Errorf("extending a preservation past ten years: %v %v, want FAILED_PRECONDITION on deadlines.preservation_expires_at", code, vs)
	}
	if limit := dm.clock.now().Add(request.MaxPeriod); v.Deadlines.PreservationExpiresAt.After(limit) ||
		v.Deadlines.PreservationExpiresAt.Add(90*day).Before(limit) {
		t.Errorf("extensions stopped at %v, want the last one within 90 days of %v", v.Deadlines.PreservationExpiresAt, limit)
	}
	dm.clock.set(v.Deadlines.PreservationExpiresAt.Add(time.Second))
	_, err = dm.svc.ExtendPreservation(ctx, uzCA, v.ID, "")
	if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"deadlines.preservation_expires_at", ""}}) {
		t.Errorf("extending a lapsed preservation: %v %v, want FAILED_PRECONDITION on deadlines.preservation_expires_at", code, vs)
	}

	traffic := seeded(request.Executed)
	traffic.Type = cooperation.TrafficData
	dm.store.put(traffic)
	_, err = dm.svc.ExtendPreservation(ctx, uzCA, traffic.ID, "")
	if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"type", ""}}) {
		t.Errorf("extending a traffic-data request: %v %v, want FAILED_PRECONDITION on type", code, vs)
	}
}

// TestPolicyFileSetsTheDeadlines: a policy file's periods are the deadlines
// a request then gets; the entries it does not name keep the defaults.
func TestPolicyFileSetsTheDeadlines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(`{"acknowledge": {"ROUTINE": "36h"}, "answer": {"ROUTINE": "30d"}, "preservation": "60d"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := request.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if policy.Acknowledge[cooperation.Urgent] != 24*time.Hour || policy.Answer[cooperation.Emergency] != 8*time.Hour {
		t.Errorf("entries the file does not name: %+v, want the defaults", policy)
	}
	dm := newDomain(t, policy)
	v, executed := dm.executedPreservation(t)
	transmit := t0.Add(time.Hour)
	if want := transmit.Add(36 * time.Hour); !v.Deadlines.AcknowledgeBy.Equal(want) {
		t.Errorf("acknowledge by %v, want %v (36h of transmission)", v.Deadlines.AcknowledgeBy, want)
	}
	if want := v.AcknowledgeTime.Add(30 * day); !v.Deadlines.AnswerBy.Equal(want) {
		t.Errorf("answer by %v, want %v (30 days of acknowledgement)", v.Deadlines.AnswerBy, want)
	}
	if want := executed.Add(60 * day); !v.Deadlines.PreservationExpiresAt.Equal(want) {
		t.Errorf("preservation expires at %v, want %v (60 days of execution)", v.Deadlines.PreservationExpiresAt, want)
	}
	v = ok(t)(dm.svc.ExtendPreservation(ctx, uzCA, v.ID, ""))
	if want := executed.Add(120 * day); !v.Deadlines.PreservationExpiresAt.Equal(want) {
		t.Errorf("extended preservation expires at %v, want %v", v.Deadlines.PreservationExpiresAt, want)
	}
}

// seeded is a request KZ's prosecutor p-kz owns, to UZ's 24/7 contact
// point, that meets every safeguard, put in status st as its lifecycle
// would have left it: transmitted unless a draft or submitted, and if
// executed, a preservation that holds for another 30 days.
func seeded(st request.Status) request.Request {
	r := completeDraft()
	r.ID, r.Reference, r.Version = "req-"+strings.ToLower(string(st)), "KZ-2026-000001", 1
	r.RequestingAgency, r.RequestingState, r.Owner, r.RequestedAgency = "kz-gpo", "KZ", "p-kz", "uz-247"
	r.Status, r.CreateTime, r.UpdateTime = st, t0, t0
	if st != request.Draft && st != request.Submitted {
		r.TransmitTime = t0
	}
	r.Deadlines.PreservationExpiresAt = t0.Add(30 * day)
	switch st {
	case request.Postponed:
		// As :postpone of an accepted request leaves it.
		r.Postponement = &request.Postponement{Until: t0.Add(10 * day), Reason: "A domestic investigation.", ResumeStatus: request.Accepted, PostponeTime: t0}
	case request.ConditionsProposed:
		r.ConditionsProposal = &request.ConditionsProposal{Conditions: []request.Condition{{Kind: "CONFIDENTIAL"}}, ProposeTime: t0, Decision: "PENDING"}
	case request.AwaitingRequesterDecision:
		// Only a declaration leads there; :proceed returns to its status.
		r.ConfidentialityDeclaration = &request.ConfidentialityDeclaration{Explanation: "Notification is mandatory.",
			ResumeStatus: request.Accepted, DeclaredBy: request.Actor{Subject: "ca-uz", Agency: "uz-247"}, DeclareTime: t0}
	}
	return r
}

// seed is a domain holding seeded(st).
func seed(t *testing.T, st request.Status) (domain, request.Request) {
	t.Helper()
	dm := newDomain(t, request.Policy{})
	r := seeded(st)
	dm.store.put(r)
	return dm, r
}

// TestLifecycle: every row of the lifecycle table. From each status, the
// allowed actor's action succeeds with the row's new status where the
// table allows it, and elsewhere is refused FAILED_PRECONDITION naming the
// status (NOT_FOUND where the actor may not yet see the request); callers
// who see the request but are not the row's actor are refused
// PERMISSION_DENIED.
func TestLifecycle(t *testing.T) {
	do := map[string]func(svc *request.Service, p identity.Principal, id string) (request.View, error){
		"update": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Update(ctx, p, id, "", func(r *request.Request) { r.CaseReference = "KZ-CASE-2" }, []string{"case_reference"})
		},
		"submit": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Submit(ctx, p, id, "", false)
		},
		"return": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Return(ctx, p, id, "", "Cite the statute.")
		},
		"transmit": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Transmit(ctx, p, id, "", false)
		},
		"acknowledge": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Acknowledge(ctx, p, id, "")
		},
		"requestClarification": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.RequestClarification(ctx, p, id, "", "Which server?")
		},
		"provideClarification": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.ProvideClarification(ctx, p, id, "", "The one at 192.0.2.10.", nil)
		},
		"accept": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Accept(ctx, p, id, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true)
		},
		"refuse": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Refuse(ctx, p, id, "", request.Refusal{Grounds: []string{"ESSENTIAL_INTERESTS"}, Explanation: "Security."})
		},
		"execute": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Execute(ctx, p, id, "", request.Execution{ResponseSummary: "Preserved."}, nil)
		},
		"executePartially": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Execute(ctx, p, id, "", request.Execution{ResponseSummary: "Part preserved.", Partial: true}, nil)
		},
		"notifyImpediment": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.NotifyImpediment(ctx, p, id, "", request.Impediment{Kind: "SIGNIFICANT_DELAY", Explanation: "The provider is slow."})
		},
		"postpone": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Postpone(ctx, p, id, "", t0.Add(30*day), "A domestic investigation would be prejudiced.")
		},
		"resume": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Resume(ctx, p, id, "")
		},
		"proposeConditions": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.ProposeConditions(ctx, p, id, "", []request.Condition{{Kind: "CONFIDENTIAL"}}, nil)
		},
		"acceptConditions": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.AcceptConditions(ctx, p, id, "")
		},
		"rejectConditions": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.RejectConditions(ctx, p, id, "", "We cannot keep it confidential.")
		},
		"extendPreservation": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.ExtendPreservation(ctx, p, id, "")
		},
		"withdraw": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Withdraw(ctx, p, id, "", "No longer needed.")
		},
		"close": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Close(ctx, p, id, "")
		},
		"declareConfidentialityImpossible": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.DeclareConfidentialityImpossible(ctx, p, id, "", "Notification is mandatory.")
		},
		"proceed": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.Proceed(ctx, p, id, "")
		},
		"transferOwnership": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.TransferOwnership(ctx, p, id, "", "p-kz-3", "Reassigned.")
		},
		"requestExtension": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.RequestExtension(ctx, p, id, "", "The analysis takes longer.", 30)
		},
		"grantExtension": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.GrantExtension(ctx, p, id, "")
		},
		"declineExtension": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.DeclineExtension(ctx, p, id, "", "The provider cannot keep it longer.")
		},
		"releasePreservation": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.ReleasePreservation(ctx, p, id, "", "Not needed any more.")
		},
		"discloseChain": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.DiscloseChain(ctx, p, id, "", request.ChainDisclosure{Provider: "Example Hosting LLC", Country: "KG", Explanation: "A VPN exit node."})
		},
		"draftFollowUp": func(svc *request.Service, p identity.Principal, id string) (request.View, error) {
			return svc.DraftFollowUp(ctx, p, id, request.FollowUp{Type: cooperation.TrafficData}, "")
		},
	}
	// seeds changes the seeded request before an action: a decision on
	// an extension needs one asked for.
	pending := func(r *request.Request) {
		r.Preservation = &request.Preservation{State: request.Preserved, ExpiresAt: r.Deadlines.PreservationExpiresAt,
			Extensions: []request.PreservationExtension{{Days: 30, Decision: "PENDING", RequestTime: t0}}}
	}
	seeds := map[string]func(r *request.Request){"grantExtension": pending, "declineExtension": pending}
	// drafts are the actions that make a new DRAFT and leave the request
	// as it was.
	drafts := map[string]bool{"draftFollowUp": true}
	afterTransmission := []request.Status{request.Transmitted, request.Acknowledged, request.ClarificationRequested,
		request.ConditionsProposed, request.Postponed, request.AwaitingRequesterDecision, request.Accepted, request.PartiallyExecuted,
		request.Refused, request.Executed, request.Withdrawn, request.Closed}
	S := request.Statuses
	for _, row := range []struct {
		action string
		from   []request.Status
		// to is the new status; "" leaves it unchanged.
		to     request.Status
		who    []identity.Principal
		others []identity.Principal
	}{
		{"update", S[0:1], "", []identity.Principal{kzProsecutor}, []identity.Principal{kzOtherPr, kzCA}},
		{"submit", S[0:1], request.Submitted, []identity.Principal{kzProsecutor}, []identity.Principal{kzOtherPr, kzCA}},
		{"return", S[1:2], request.Draft, []identity.Principal{kzCA}, []identity.Principal{kzProsecutor}},
		{"transmit", S[1:2], request.Transmitted, []identity.Principal{kzCA}, []identity.Principal{kzProsecutor}},
		{"acknowledge", S[2:3], request.Acknowledged, []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"requestClarification", S[3:4], request.ClarificationRequested, []identity.Principal{uzCA}, []identity.Principal{kzCA}},
		{"provideClarification", S[4:5], request.Acknowledged, []identity.Principal{kzProsecutor}, []identity.Principal{kzOtherPr, kzCA, uzCA}},
		{"accept", S[3:4], request.Accepted, []identity.Principal{uzCA}, []identity.Principal{kzCA}},
		{"refuse", S[3:4], request.Refused, []identity.Principal{uzCA}, []identity.Principal{kzCA}},
		{"execute", []request.Status{request.Accepted, request.PartiallyExecuted}, request.Executed, []identity.Principal{uzCA}, []identity.Principal{kzCA}},
		{"executePartially", []request.Status{request.Accepted, request.PartiallyExecuted}, request.PartiallyExecuted, []identity.Principal{uzCA}, []identity.Principal{kzCA}},
		{"notifyImpediment", []request.Status{request.Acknowledged, request.Accepted, request.PartiallyExecuted}, "", []identity.Principal{uzCA},
			[]identity.Principal{kzCA, kzProsecutor}},
		{"postpone", []request.Status{request.Acknowledged, request.Accepted}, request.Postponed, []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		// seeded postponed an ACCEPTED request.
		{"resume", []request.Status{request.Postponed}, request.Accepted, []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"proposeConditions", []request.Status{request.Acknowledged}, request.ConditionsProposed, []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"acceptConditions", []request.Status{request.ConditionsProposed}, request.Accepted, []identity.Principal{kzProsecutor, kzCA},
			[]identity.Principal{kzOtherPr, uzCA}},
		{"rejectConditions", []request.Status{request.ConditionsProposed}, request.Acknowledged, []identity.Principal{kzProsecutor, kzCA},
			[]identity.Principal{kzOtherPr, uzCA}},
		{"extendPreservation", []request.Status{request.Executed}, "", []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"withdraw", []request.Status{request.Draft, request.Submitted, request.Transmitted, request.Acknowledged, request.ClarificationRequested,
			request.ConditionsProposed, request.Postponed, request.AwaitingRequesterDecision, request.Accepted, request.PartiallyExecuted},
			request.Withdrawn, []identity.Principal{kzProsecutor}, []identity.Principal{kzOtherPr, kzCA, uzCA}},
		{"close", []request.Status{request.Executed, request.Refused, request.Withdrawn}, request.Closed,
			[]identity.Principal{kzCA, kzProsecutor}, []identity.Principal{kzOtherPr, uzCA}},
		{"declareConfidentialityImpossible", []request.Status{request.Acknowledged, request.Accepted, request.PartiallyExecuted},
			request.AwaitingRequesterDecision, []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"proceed", []request.Status{request.AwaitingRequesterDecision}, request.Accepted,
			[]identity.Principal{kzProsecutor, kzCA}, []identity.Principal{kzOtherPr, uzCA}},
		{"transferOwnership", []request.Status{request.Draft, request.Submitted, request.Transmitted, request.Acknowledged,
			request.ClarificationRequested, request.ConditionsProposed, request.Postponed, request.AwaitingRequesterDecision,
			request.Accepted, request.PartiallyExecuted, request.Executed, request.Refused, request.Withdrawn}, "",
			[]identity.Principal{kzProsecutor, kzCA}, []identity.Principal{kzOtherPr, uzCA}},
		{"requestExtension", []request.Status{request.Executed}, "", []identity.Principal{kzProsecutor, kzCA}, []identity.Principal{kzOtherPr, uzCA}},
		{"grantExtension", []request.Status{request.Executed}, "", []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"declineExtension", []request.Status{request.Executed}, "", []identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"releasePreservation", []request.Status{request.Executed}, "", []identity.Principal{kzProsecutor, kzCA}, []identity.Principal{kzOtherPr, uzCA}},
		{"discloseChain", []request.Status{request.Accepted, request.PartiallyExecuted, request.Executed}, "",
			[]identity.Principal{uzCA}, []identity.Principal{kzCA, kzProsecutor}},
		{"draftFollowUp", afterTransmission, "", []identity.Principal{kzProsecutor, kzOtherPr}, []identity.Principal{kzCA, uzCA}},
	} {
		for _, st := range request.Statuses {
			for _, p := range row.who {
				t.Run(row.action+"/"+string(st)+"/"+p.Subject, func(t *testing.T) {
					dm, r := seedFor(t, st, seeds[row.action])
					v, err := do[row.action](dm.svc, p, r.ID)
					code, vs := refusal(err)
					switch {
					case slices.Contains(row.from, st) && drafts[row.action]:
						if err != nil || v.Status != request.Draft || v.ID == r.ID || v.Owner != p.Subject {
							t.Fatalf("= %s %s of %s, %v; want a new DRAFT of %s", v.ID, v.Status, v.Owner, err, p.Subject)
						}
						if got, _ := dm.store.Get(ctx, r.ID); got.Status != st || got.Version != 1 {
							t.Errorf("the request drafted from is %s version %d, want %s version 1", got.Status, got.Version, st)
						}
					case slices.Contains(row.from, st):
						want := cmpOr(row.to, st)
						if err != nil || v.Status != want {
							t.Fatalf("= %s, %v; want %s", v.Status, err, want)
						}
						got, _ := dm.store.Get(ctx, r.ID)
						if got.Status != want || got.Version != 2 {
							t.Errorf("stored as %s version %d, want %s version 2", got.Status, got.Version, want)
						}
					case r.TransmitTime.IsZero() && p.Agency == "uz-247":
						if code != errs.NotFound {
							t.Errorf("= %v; want NOT_FOUND: the requested side may not see a request not transmitted", err)
						}
					default:
						if code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"status", ""}}) || !strings.Contains(err.Error(), string(st)) {
							t.Errorf("= %v %v (%v); want FAILED_PRECONDITION on status naming %s", code, vs, err, st)
						}
					}
				})
			}
		}
		// The last status a row allows is one where every wrong actor
		// sees the request.
		last := row.from[len(row.from)-1]
		for _, p := range row.others {
			t.Run(row.action+"/"+string(last)+"/wrong actor "+p.Subject, func(t *testing.T) {
				dm, r := seedFor(t, last, seeds[row.action])
				_, err := do[row.action](dm.svc, p, r.ID)
				if code, _ := refusal(err); code != errs.PermissionDenied {
					t.Errorf("= %v; want PERMISSION_DENIED", err)
				}
				if got, _ := dm.store.Get(ctx, r.ID); got.Status != r.Status || got.Version != 1 {
					t.Errorf("a refused %s changed the request: %s version %d", row.action, got.Status, got.Version)
				}
			})
		}
	}
}

// seedFor is seed with change (if any) made to the request first.
func seedFor(t *testing.T, st request.Status, change func(r *request.Request)) (domain, request.Request) {
	t.Helper()
	if change == nil {
		return seed(t, st)
	}
	dm := newDomain(t, request.Policy{})
	r := seeded(st)
	change(&r)
	dm.store.put(r)
	return dm, r
}

func cmpOr(to, st request.Status) request.Status {
	if to == "" {
		return st
	}
	return to
}

// TestCreateIsTheFirstRow: a prosecutor creates a DRAFT of their own
// agency, numbered per state and year; no one else creates.
func TestCreateIsTheFirstRow(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	for i, want := range []string{"KZ-2026-000001", "KZ-2026-000002"} {
		v := ok(t)(dm.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
		if v.Status != request.Draft || v.Reference != want || v.Owner != "p-kz" || v.RequestingAgency != "kz-gpo" || v.RequestedAgency != "uz-247" {
			t.Errorf("create %d: %s %s owner %s from %s to %s; want DRAFT %s of p-kz from kz-gpo to uz-247",
				i+1, v.Status, v.Reference, v.Owner, v.RequestingAgency, v.RequestedAgency, want)
		}
	}
	for _, p := range []identity.Principal{kzCA, user("lo-kz", "kz-gpo", identity.LiaisonOfficer)} {
		if _, err := dm.svc.Create(ctx, p, completeDraft(), ""); errs.CodeOf(err) != errs.PermissionDenied {
			t.Errorf("create by %s = %v; want PERMISSION_DENIED", p.Subject, err)
		}
	}
}

// TestSafeguards: every safeguard of safeguards.go, each on its own, refuses
// the submission (and the transmission) FAILED_PRECONDITION with exactly its
// field and reason code, and leaves the request as it was.
func TestSafeguards(t *testing.T) {
	timed := func(r *request.Request) {
		for i := range r.Identifiers {
			r.Identifiers[i].StartTime, r.Identifiers[i].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
		}
	}
	for _, tc := range []struct {
		name   string
		change func(r *request.Request)
		// translation attaches a translation into this language.
		translation string
		inactive    bool
		want        []violation
	}{
		{"complete", func(*request.Request) {}, "", false, nil},
		{"no legal basis", func(r *request.Request) { r.LegalBasis = "" }, "", false, []violation{{"legal_basis", "LEGAL_BASIS_REQUIRED"}}},
		{"bilateral treaty not cited", func(r *request.Request) { r.LegalBasis = "BILATERAL_TREATY" }, "", false,
			[]violation{{"treaty_citation", "TREATY_CITATION_REQUIRED"}}},
		{"bilateral treaty cited", func(r *request.Request) { r.LegalBasis, r.TreatyCitation = "BILATERAL_TREATY", "KZ-UZ 1998 art. 3" }, "", false, nil},
		{"no offence description", func(r *request.Request) { r.Offence.Description = " " }, "", false,
			[]violation{{"offence.description", "OFFENCE_DESCRIPTION_REQUIRED"}}},
		{"no legal qualification", func(r *request.Request) { r.Offence.LegalQualification = "" }, "", false,
			[]violation{{"offence.legal_qualification", "LEGAL_QUALIFICATION_REQUIRED"}}},
		{"no maximum penalty", func(r *request.Request) { r.Offence.MaximumPenaltyYears = 0 }, "", false,
			[]violation{{"offence.maximum_penalty_years", "MAXIMUM_PENALTY_REQUIRED"}}},
		{"no facts", func(r *request.Request) { r.FactsSummary = "" }, "", false, []violation{{"facts_summary", "FACTS_SUMMARY_REQUIRED"}}},
		{"no identifier", func(r *request.Request) { r.Identifiers = nil }, "", false, []violation{{"identifiers", "IDENTIFIER_REQUIRED"}}},
		{"identifier not of its kind", func(r *request.Request) { r.Identifiers[0].Kind = request.Email }, "", false,
			[]violation{{"identifiers[0].value", "IDENTIFIER_INVALID"}}},
		{"identifier without kind", func(r *request.Request) { r.Identifiers[0].Kind = "" }, "", false,
			[]violation{{"identifiers[0].value", "IDENTIFIER_KIND_REQUIRED"}}},
		{"identifier without value", func(r *request.Request) { r.Identifiers[0].Value = " " }, "", false,
			[]violation{{"identifiers[0].value", "IDENTIFIER_VALUE_REQUIRED"}}},
		{"traffic data without time range", func(r *request.Request) { r.Type = cooperation.TrafficData }, "", false,
			[]violation{{"identifiers[0].start_time", "TIME_RANGE_REQUIRED"}}},
		{"traffic data with time range", func(r *request.Request) { r.Type = cooperation.TrafficData; timed(r) }, "", false, nil},
		{"time range inverted", func(r *request.Request) {
			r.Identifiers[0].StartTime, r.Identifiers[0].EndTime = t0.Add(-time.Hour), t0.Add(-2*time.Hour)
		}, "", false, []violation{{"identifiers[0].end_time", "TIME_RANGE_INVERTED"}}},
		{"necessity too short", func(r *request.Request) {
			r.NecessityAndProportionality = strings.Repeat("x", request.MinNecessityLength-1)
		}, "", false,
			[]violation{{"necessity_and_proportionality", "NECESSITY_TOO_SHORT"}}},
		{"necessity just long enough", func(r *request.Request) {
			r.NecessityAndProportionality = strings.Repeat("я", request.MinNecessityLength)
		}, "", false, nil},
		{"content data without judicial authorisation", func(r *request.Request) { r.Type = cooperation.ContentData; timed(r) }, "", false,
			[]violation{{"judicial_authorisation_reference", "JUDICIAL_AUTHORISATION_REQUIRED"}}},
		{"content data with judicial authorisation", func(r *request.Request) {
			r.Type, r.JudicialAuthorisationReference = cooperation.ContentData, "Court order 12/2026"
			timed(r)
		}, "", false, nil},
		{"death penalty without assurance", func(r *request.Request) { r.Offence.DeathPenaltyPossible = true }, "", false,
			[]violation{{"offence.death_penalty_assurance", "DEATH_PENALTY_ASSURANCE_REQUIRED"}}},
		{"emergency without reason", func(r *request.Request) { r.Priority = cooperation.Emergency }, "", false,
			[]violation{{"emergency_reason", "EMERGENCY_REASON_REQUIRED"}}},
		{"no language", func(r *request.Request) { r.Language = "" }, "", false, []violation{{"language", "LANGUAGE_REQUIRED"}}},
		{"language not accepted", func(r *request.Request) { r.Language = "en" }, "", false, []violation{{"language", "LANGUAGE_NOT_ACCEPTED"}}},
		{"language not accepted, translation attached", func(r *request.Request) { r.Language = "en" }, "ru-RU", false, nil},
		{"language not accepted, other translation", func(r *request.Request) { r.Language = "en" }, "de", false,
			[]violation{{"language", "LANGUAGE_NOT_ACCEPTED"}}},
		{"requested agency deactivated", func(*request.Request) {}, "", true, []violation{{"requested_agency", ""}}},
	} {
		for _, at := range []request.Status{request.Draft, request.Submitted} {
			t.Run(tc.name+"/"+string(at), func(t *testing.T) {
				dm := newDomain(t, request.Policy{})
				r := seeded(at)
				tc.change(&r)
				dm.store.put(r)
				if tc.translation != "" {
					dm.store.attachments = append(dm.store.attachments, request.Attachment{ID: "att-1", RequestID: r.ID, Kind: "TRANSLATION", Language: tc.translation})
				}
				if tc.inactive {
					dm.dir.inactive.Store("uz-247")
				}
				var err error
				if at == request.Draft {
					_, err = dm.svc.Submit(ctx, kzProsecutor, r.ID, "", false)
				} else {
					_, err = dm.svc.Transmit(ctx, kzCA, r.ID, "", false)
				}
				code, vs := refusal(err)
				if tc.want == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if code != errs.FailedPrecondition || !slices.Equal(vs, tc.want) {
					t.Errorf("= %v %v (%v); want FAILED_PRECONDITION %v", code, vs, err, tc.want)
				}
				if got, _ := dm.store.Get(ctx, r.ID); got.Status != at || got.Version != 1 {
					t.Errorf("a refused request changed: %s version %d", got.Status, got.Version)
				}
			})
		}
	}
}

// TestRequestedResponseTimeAtSubmission: a requested response time that
// has passed refuses the submission; the transmission does not look at it
// again (the requesting CA cannot change the date).
func TestRequestedResponseTimeAtSubmission(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	for _, st := range []request.Status{request.Draft, request.Submitted} {
		r := seeded(st)
		r.RequestedResponseTime = t0.Add(-time.Minute)
		dm.store.put(r)
	}
	_, err := dm.svc.Submit(ctx, kzProsecutor, seeded(request.Draft).ID, "", false)
	if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, []violation{{"requested_response_time", request.ResponseTimePast}}) {
		t.Errorf("submit = %v %v; want FAILED_PRECONDITION on requested_response_time, %s", code, vs, request.ResponseTimePast)
	}
	ok(t)(dm.svc.Transmit(ctx, kzCA, seeded(request.Submitted).ID, "", false))
}

// TestAcceptanceAndRefusalSafeguards: the assessments :accept records and
// the grounds :refuse gives.
func TestAcceptanceAndRefusalSafeguards(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  cooperation.RequestType
		a    request.Acceptance
		// reviewed says that a human-rights review was given.
		reviewed bool
		want     []violation
	}{
		{"met, no concerns", cooperation.TrafficData, request.Acceptance{DualCriminality: "MET"}, true, nil},
		{"not required for preservation", cooperation.DataPreservation, request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true, nil},
		{"not required for production", cooperation.TrafficData, request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true, []violation{{"dual_criminality", ""}}},
		{"no assessment", cooperation.DataPreservation, request.Acceptance{}, true, []violation{{"dual_criminality", ""}}},
		{"no review", cooperation.DataPreservation, request.Acceptance{DualCriminality: "MET"}, false, []violation{{"human_rights_review", ""}}},
		{"concerns without note", cooperation.DataPreservation, request.Acceptance{DualCriminality: "MET", HumanRightsConcerns: true, HumanRightsNote: " "}, true,
			[]violation{{"human_rights_review.note", ""}}},
		{"concerns with note", cooperation.DataPreservation, request.Acceptance{DualCriminality: "MET", HumanRightsConcerns: true, HumanRightsNote: "Detention conditions; assurance received."}, true, nil},
		{"nothing", cooperation.TrafficData, request.Acceptance{}, false, []violation{{"dual_criminality", ""}, {"human_rights_review", ""}}},
	} {
		t.Run("accept/"+tc.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := seeded(request.Acknowledged)
			r.Type = tc.typ
			dm.store.put(r)
			v, err := dm.svc.Accept(ctx, uzCA, r.ID, "", tc.a, tc.reviewed)
			if tc.want == nil {
				if err != nil || v.Status != request.Accepted || v.Acceptance == nil || !reflect.DeepEqual(*v.Acceptance, tc.a) {
					t.Errorf("= %s %+v, %v; want ACCEPTED with %+v", v.Status, v.Acceptance, err, tc.a)
				}
				return
			}
			if code, vs := refusal(err); code != errs.FailedPrecondition || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want FAILED_PRECONDITION %v", code, vs, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		f    request.Refusal
		// code is the refusal's code; unused when want is nil.
		code errs.Code
		want []violation
	}{
		{"every ground", request.Refusal{Grounds: request.RefusalGrounds, Explanation: "All of them.",
			Consultation: &request.Consultation{Note: "Granting in part was discussed with KZ.", Time: t0}}, errs.Internal, nil},
		{"unset ground", request.Refusal{Grounds: []string{"OTHER", "GROUND_UNSPECIFIED"}, Explanation: "x"}, errs.Invalid, []violation{{"grounds[1]", ""}}},
		{"unknown ground, no explanation", request.Refusal{Grounds: []string{"BORED"}}, errs.Invalid, []violation{{"grounds[0]", ""}}},
		{"no ground", request.Refusal{Explanation: "x"}, errs.FailedPrecondition, []violation{{"grounds", ""}}},
		{"no explanation", request.Refusal{Grounds: []string{"OTHER"}, Explanation: "  "}, errs.FailedPrecondition, []violation{{"explanation", ""}}},
		{"neither", request.Refusal{}, errs.FailedPrecondition, []violation{{"grounds", ""}, {"explanation", ""}}},
	} {
		t.Run("refuse/"+tc.name, func(t *testing.T) {
			// A production request: a preservation may be refused on
			// two grounds only (TestRefusalConsultation).
			dm := newDomain(t, request.Policy{})
			r := seeded(request.Acknowledged)
			r.Type = cooperation.TrafficData
			dm.store.put(r)
			v, err := dm.svc.Refuse(ctx, uzCA, r.ID, "", tc.f)
			if tc.want == nil {
				if err != nil || v.Status != request.Refused || v.Refusal == nil || !slices.Equal(v.Refusal.Grounds, tc.f.Grounds) || !v.AnswerTime.Equal(t0) {
					t.Errorf("= %s %+v answered %v, %v; want REFUSED with %+v at %v", v.Status, v.Refusal, v.AnswerTime, err, tc.f, t0)
				}
				return
			}
			if code, vs := refusal(err); code != tc.code || !slices.Equal(vs, tc.want) {
				t.Errorf("= %v %v; want %v %v", code, vs, tc.code, tc.want)
			}
			if got, _ := dm.store.Get(ctx, r.ID); got.Status != request.Acknowledged || got.Version != 1 {
				t.Errorf("a refused refusal changed the request: %s version %d", got.Status, got.Version)
			}
		})
	}
}

// provided is a delivery's items when everything sought in r was provided:
// an item per identifier (and data category, where r lists them), as a
// production request's final delivery must account for each.
func provided(r request.Request) []request.ExecutionItem {
	var items []request.ExecutionItem
	cats := r.DataCategories
	if len(cats) == 0 {
		cats = []string{""}
	}
	for i := range r.Identifiers {
		for _, c := range cats {
			items = append(items, request.ExecutionItem{IdentifierIndex: int32(i), DataCategory: c, Outcome: "PROVIDED"})
		}
	}
	return items
}
