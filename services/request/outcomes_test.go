package request_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// call is ctx as the gRPC server gives it to the domain for method of
// RequestService, so that events name their action.
func call(method string) context.Context {
	return trail.WithCall(context.Background(), trail.Call{Service: "comity-request", Action: "/comity.request.v1.RequestService/" + method})
}

// outcomesOf returns the outcomes of ev by check; a check given twice (a
// GROUND) keeps its outcomes joined with ",".
func outcomesOf(sg []trail.Safeguard) map[string]string {
	m := map[string]string{}
	for _, g := range sg {
		m[g.Check] = strings.TrimPrefix(m[g.Check]+","+g.Outcome, ",")
	}
	return m
}

// wantOutcomes fails t unless got has each outcome of want.
func wantOutcomes(t *testing.T, what string, got []trail.Safeguard, want map[string]string) {
	t.Helper()
	m := outcomesOf(got)
	for check, outcome := range want {
		if m[check] != outcome {
			t.Errorf("%s: %s is %q; want %q (all: %v)", what, check, m[check], outcome, got)
		}
	}
}

// noContent fails t if the leaf of ev holds any of the request's values.
func noContent(t *testing.T, ev trail.Event, values []string) {
	t.Helper()
	// The audit service logs an event as its JSON encoding (audit.Leaf).
	leaf, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if strings.Contains(string(leaf), v) {
			t.Errorf("the event of %s holds %q of the request: %s", ev.Action, v, leaf)
		}
	}
}

// TestSafeguardOutcomesOnEvents: the events of :submit, :transmit, :accept
// and :refuse, and the refusals of :submit and :refuse on their checks,
// carry the outcome of each safeguard and assessment (DESIGN §6.1), on
// both engines, and nothing of what the request says.
func TestSafeguardOutcomesOnEvents(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, store, _ := newServiceOn(t, engine, request.WatchLimits{})
			outbox := store.Store.(trail.Outbox)
			// eventOf returns the one event of action on id in the outbox.
			eventOf := func(id, method string) trail.Event {
				t.Helper()
				pending, err := outbox.PendingEvents(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				var found []trail.Event
				for _, e := range pending {
					if e.Event.Resource == "requests/"+id && strings.HasSuffix(e.Event.Action, "/"+method) {
						found = append(found, e.Event)
					}
				}
				if len(found) != 1 {
					t.Fatalf("%d events of %s on %s; want 1", len(found), method, id)
				}
				return found[0]
			}
			// through takes d to ACKNOWLEDGED and returns its id.
			through := func(d request.Request) string {
				t.Helper()
				v := ok(t)(svc.Create(call("CreateRequest"), kzProsecutor, d, ""))
				ok(t)(svc.Submit(call("SubmitRequest"), kzProsecutor, v.ID, "", false))
				ok(t)(svc.Transmit(call("TransmitRequest"), kzCA, v.ID, "", false))
				ok(t)(svc.Acknowledge(call("AcknowledgeRequest"), uzCA, v.ID, ""))
				return v.ID
			}
			valuesOf := func(d request.Request) []string {
				vs := []string{d.Offence.Description, d.Offence.LegalQualification, d.FactsSummary, d.NecessityAndProportionality,
					d.JudicialAuthorisationReference, d.Offence.DeathPenaltyAssurance}
				for _, id := range d.Identifiers {
					vs = append(vs, id.Value)
				}
				if d.Custodian != nil {
					vs = append(vs, d.Custodian.Provider)
				}
				return slices.DeleteFunc(vs, func(v string) bool { return strings.TrimSpace(v) == "" })
			}

			t.Run("death penalty case accepted", func(t *testing.T) {
				d := completeDraft()
				d.Type, d.JudicialAuthorisationReference = cooperation.ContentData, "Order 77/2026 of the Astana court"
				d.Custodian, d.FollowUpIntended = nil, nil
				d.Identifiers[0].StartTime, d.Identifiers[0].EndTime = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
				d.Offence.DeathPenaltyPossible, d.Offence.DeathPenaltyAssurance = true, "The death penalty will not be sought or imposed."
				id := through(d)
				note := "The suspect's lawyer reports threats in detention."
				ok(t)(svc.Accept(call("AcceptRequest"), uzCA, id, "", request.Acceptance{DualCriminality: "MET",
					HumanRightsConcerns: true, HumanRightsNote: note}, true))
				values := append(valuesOf(d), note)
				passed := map[string]string{"LEGAL_BASIS": "PASSED", "FACTS_SUMMARY": "PASSED", "IDENTIFIERS": "PASSED",
					"TIME_RANGES": "PASSED", "JUDICIAL_AUTHORISATION": "PASSED", "DEATH_PENALTY_ASSURANCE": "PASSED",
					"CUSTODIAN": "NOT_APPLICABLE", "FOLLOW_UP_INTENDED": "NOT_APPLICABLE", "EMERGENCY_REASON": "NOT_APPLICABLE",
					"TREATY_CITATION": "NOT_APPLICABLE", "RECEIVER_ACTIVE": "PASSED", "RELATED_REQUESTS": "NOT_APPLICABLE"}
				for _, method := range []string{"SubmitRequest", "TransmitRequest"} {
					ev := eventOf(id, method)
					wantOutcomes(t, method, ev.Safeguards, passed)
					for _, g := range ev.Safeguards {
						if g.Outcome == "FAILED" {
							t.Errorf("%s: %s FAILED on a request that passed", method, g.Check)
						}
					}
					noContent(t, ev, values)
				}
				accept := eventOf(id, "AcceptRequest")
				wantOutcomes(t, "AcceptRequest", accept.Safeguards, map[string]string{"DUAL_CRIMINALITY": "MET",
					"HUMAN_RIGHTS_REVIEW": "CONCERNS_NOTED", "DEATH_PENALTY_ASSURANCE": "PRESENT", "USE_CONDITIONS": "NONE"})
				noContent(t, accept, values)
				if ack := eventOf(id, "AcknowledgeRequest"); ack.Safeguards != nil {
					t.Errorf("the event of :acknowledge carries outcomes %v; only the checking actions' do", ack.Safeguards)
				}
			})

			t.Run("preservation accepted", func(t *testing.T) {
				d := completeDraft()
				id := through(d)
				ok(t)(svc.Accept(call("AcceptRequest"), uzCA, id, "", request.Acceptance{DualCriminality: "NOT_REQUIRED",
					UseConditions: []request.Condition{{Kind: request.UseOnlyStatedProceedings}}}, true))
				wantOutcomes(t, "SubmitRequest", eventOf(id, "SubmitRequest").Safeguards, map[string]string{
					"CUSTODIAN": "PASSED", "FOLLOW_UP_INTENDED": "PASSED", "JUDICIAL_AUTHORISATION": "NOT_APPLICABLE",
					"DEATH_PENALTY_ASSURANCE": "NOT_APPLICABLE", "TIME_RANGES": "NOT_APPLICABLE", "RESPONSE_TIME": "NOT_APPLICABLE"})
				accept := eventOf(id, "AcceptRequest")
				wantOutcomes(t, "AcceptRequest", accept.Safeguards, map[string]string{"DUAL_CRIMINALITY": "NOT_REQUIRED",
					"HUMAN_RIGHTS_REVIEW": "NO_CONCERNS", "DEATH_PENALTY_ASSURANCE": "NOT_APPLICABLE", "USE_CONDITIONS": "BINDING"})
				noContent(t, accept, valuesOf(d))
			})

			t.Run("submission refused", func(t *testing.T) {
				d := completeDraft()
				d.FactsSummary, d.Priority = "", cooperation.Emergency
				d.Identifiers = append(d.Identifiers, request.Identifier{Kind: request.Email, Value: "not-an-address.example"})
				v := ok(t)(svc.Create(call("CreateRequest"), kzProsecutor, d, ""))
				ctx := call("SubmitRequest")
				_, err := svc.Submit(ctx, kzProsecutor, v.ID, "", false)
				if errs.CodeOf(err) != errs.FailedPrecondition {
					t.Fatalf("Submit: %v; want FAILED_PRECONDITION", err)
				}
				// The server's event of the refused call (grpcserver's
				// recordRefused).
				evs := trail.RefusalEvents(ctx, time.Now(), &kzProsecutor, "FAILED_PRECONDITION", err)
				if len(evs) != 1 {
					t.Fatalf("%d events of the refusal; want 1", len(evs))
				}
				wantOutcomes(t, "refused SubmitRequest", evs[0].Safeguards, map[string]string{
					"FACTS_SUMMARY": "FAILED", "EMERGENCY_REASON": "FAILED", "IDENTIFIERS": "FAILED",
					"LEGAL_BASIS": "PASSED", "CUSTODIAN": "PASSED", "JUDICIAL_AUTHORISATION": "NOT_APPLICABLE"})
				if got := strings.Join(evs[0].States, ","); got != "KZ" {
					t.Errorf("the refusal's event is on the trail of %s; want KZ", got)
				}
				noContent(t, evs[0], append(valuesOf(d), "not-an-address.example"))
			})

			// A preservation refused on a ground it may not be refused on:
			// the event says which ground was not allowed, and nothing of
			// the consultation, which a preservation does not need.
			t.Run("preservation refused on a ground not allowed", func(t *testing.T) {
				id := through(completeDraft())
				f := request.Refusal{Grounds: []string{"PERSECUTION", "ESSENTIAL_INTERESTS"}, Explanation: "Refused."}
				ctx := call("RefuseRequest")
				_, err := svc.Refuse(ctx, uzCA, id, "", f)
				if errs.CodeOf(err) != errs.FailedPrecondition {
					t.Fatalf("Refuse on PERSECUTION: %v; want FAILED_PRECONDITION", err)
				}
				evs := trail.RefusalEvents(ctx, time.Now(), &uzCA, "FAILED_PRECONDITION", err)
				if len(evs) != 1 {
					t.Fatalf("%d events of the refusal; want 1", len(evs))
				}
				wantOutcomes(t, "refused RefuseRequest", evs[0].Safeguards, map[string]string{
					"GROUND": "NOT_ALLOWED,ESSENTIAL_INTERESTS", "EXPLANATION": "GIVEN", "CONSULTATION": "NOT_REQUIRED", "OTHER": ""})
				for _, g := range evs[0].Safeguards {
					if !trail.ValidSafeguard(g) {
						t.Errorf("outcome %+v is not one AuditService.Append accepts", g)
					}
				}
			})

			t.Run("refusal", func(t *testing.T) {
				d := completeDraft()
				d.Type, d.Custodian, d.FollowUpIntended = cooperation.SubscriberInformation, nil, nil
				d.Identifiers[0].StartTime, d.Identifiers[0].EndTime = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
				id := through(d)
				explanation := "The person would face persecution for their political opinions."
				f := request.Refusal{Grounds: []string{"HUMAN_RIGHTS_CONCERNS", "PERSECUTION", "HUMAN_RIGHTS_CONCERNS"}, Explanation: explanation}
				ctx := call("RefuseRequest")
				_, err := svc.Refuse(ctx, uzCA, id, "", f)
				if errs.CodeOf(err) != errs.FailedPrecondition {
					t.Fatalf("Refuse without consultation: %v; want FAILED_PRECONDITION", err)
				}
				evs := trail.RefusalEvents(ctx, time.Now(), &uzCA, "FAILED_PRECONDITION", err)
				wantOutcomes(t, "refused RefuseRequest", evs[0].Safeguards, map[string]string{
					"GROUND": "HUMAN_RIGHTS_CONCERNS,PERSECUTION", "EXPLANATION": "GIVEN", "CONSULTATION": "FAILED"})
				consultation := "Granting in part was discussed with the requesting authority on the phone."
				f.Consultation = &request.Consultation{Note: consultation}
				ok(t)(svc.Refuse(ctx, uzCA, id, "", f))
				ev := eventOf(id, "RefuseRequest")
				wantOutcomes(t, "RefuseRequest", ev.Safeguards, map[string]string{
					"GROUND": "HUMAN_RIGHTS_CONCERNS,PERSECUTION", "EXPLANATION": "GIVEN", "CONSULTATION": "HELD"})
				noContent(t, ev, append(valuesOf(d), explanation, consultation))
			})
		})
	}
}
