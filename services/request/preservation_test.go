package request_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// The tests of the preservation lifecycle (DESIGN §5.1), on the fakes with
// the fixed clock. Periods are DESIGN's written out: a preservation holds
// 90 days, the requesting side is to ask for more 10 days before, and a
// preservation whose hold ends holds 30 days more.

var (
	kgProsecutor = user("p-kg", "kg-gpo", identity.Prosecutor)
	kzLiaison    = user("lo-kz", "kz-gpo", identity.LiaisonOfficer)
)

// wantRefused fails t unless err has code and exactly the violations'
// fields want, and its words contain each of says.
func wantRefused(t *testing.T, what string, err error, code errs.Code, want []string, says ...string) {
	t.Helper()
	got, vs := refusal(err)
	var fields []string
	for _, v := range vs {
		fields = append(fields, v.field)
	}
	if got != code || !slices.Equal(fields, want) {
		t.Errorf("%s = %v %v (%v); want %v on %v", what, got, fields, err, code, want)
		return
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) && !strings.Contains(describe(err), s) {
			t.Errorf("%s = %v; want it to say %q", what, err, s)
		}
	}
}

// describe is every violation's description of err.
func describe(err error) string {
	var e *errs.Error
	if !errors.As(err, &e) {
		return ""
	}
	var b strings.Builder
	for _, v := range e.Violations {
		b.WriteString(v.Field + ": " + v.Description + "\n")
	}
	return b.String()
}

// stored is request id as the store has it.
func (dm domain) stored(t *testing.T, id string) request.Request {
	t.Helper()
	r, err := dm.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lastHistory is the latest history entry of request id.
func (dm domain) lastHistory(t *testing.T, id string) request.HistoryEntry {
	t.Helper()
	h, err := dm.store.History(ctx, id)
	if err != nil || len(h) == 0 {
		t.Fatalf("history of %s: %v, %v", id, h, err)
	}
	return h[len(h)-1]
}

// wantPreserved fails t unless v's preservation is state with expiry
// (zero: none), mirrored by its deadlines, extension_request_by 10 days
// before it.
func wantPreserved(t *testing.T, v request.Request, state request.PreservationState, expiry time.Time) {
	t.Helper()
	pr := v.Preservation
	if pr == nil || pr.State != state || !pr.ExpiresAt.Equal(expiry) {
		t.Fatalf("preservation %+v; want %s until %v", pr, state, expiry)
	}
	wantNotice := time.Time{}
	if !expiry.IsZero() {
		wantNotice = expiry.Add(-10 * day)
	}
	if !v.Deadlines.PreservationExpiresAt.Equal(expiry) || !v.Deadlines.ExtensionRequestBy.Equal(wantNotice) {
		t.Errorf("deadlines %+v; want preservation_expires_at %v and extension_request_by %v", v.Deadlines, expiry, wantNotice)
	}
}

// TestPreservationAtExecution: executing a preservation makes it PRESERVED
// for 90 days, with extension_request_by 10 days before the expiry; from
// its expiry on it reads EXPIRED, which nothing writes.
func TestPreservationAtExecution(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v, executed := dm.executedPreservation(t)
	expiry := executed.Add(90 * day)
	wantPreserved(t, v.Request, request.Preserved, expiry)

	dm.clock.set(expiry.Add(-time.Microsecond))
	if got := ok(t)(dm.svc.Get(ctx, kzProsecutor, v.ID)); got.Preservation.State != request.Preserved {
		t.Errorf("just before its expiry the preservation is %s, want PRESERVED", got.Preservation.State)
	}
	dm.clock.set(expiry)
	got := ok(t)(dm.svc.Get(ctx, uzCA, v.ID))
	if got.Preservation.State != request.Expired || !got.Preservation.ExpiresAt.Equal(expiry) {
		t.Errorf("at its expiry the preservation is %+v, want EXPIRED at %v", got.Preservation, expiry)
	}
	if st := dm.stored(t, v.ID); st.Preservation.State != request.Preserved || st.Version != v.Version {
		t.Errorf("a read wrote the preservation: stored %s version %d, was version %d", st.Preservation.State, st.Version, v.Version)
	}

	traffic := dm.transmitted(t, timed(completeDraft(), cooperation.TrafficData))
	ok(t)(dm.svc.Acknowledge(ctx, uzCA, traffic.ID, ""))
	ok(t)(dm.svc.Accept(ctx, uzCA, traffic.ID, "", request.Acceptance{DualCriminality: "MET"}, true))
	if got := ok(t)(dm.svc.Execute(ctx, uzCA, traffic.ID, "", request.Execution{ResponseSummary: "Logs.", Items: provided(traffic.Request)}, nil)); got.Preservation != nil ||
		!got.Deadlines.PreservationExpiresAt.IsZero() {
		t.Errorf("an executed traffic-data request has preservation %+v, deadlines %+v; want none", got.Preservation, got.Deadlines)
	}
}

// timed is d of type typ, each identifier with a time range.
func timed(d request.Request, typ cooperation.RequestType) request.Request {
	d.Type = typ
	d.Identifiers = slices.Clone(d.Identifiers)
	for i := range d.Identifiers {
		d.Identifiers[i].StartTime, d.Identifiers[i].EndTime = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
	}
	return d
}

// TestExtendPreservationRecordsTheExtension: the requested side's own
// extension adds 90 days and is recorded as an extension it granted; it is
// refused for a preservation released, held or lapsed.
func TestExtendPreservationRecordsTheExtension(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v, executed := dm.executedPreservation(t)
	at := dm.clock.advance(5 * day)
	v = ok(t)(dm.svc.ExtendPreservation(ctx, uzCA, v.ID, ""))
	wantPreserved(t, v.Request, request.Preserved, executed.Add(180*day))
	want := []request.PreservationExtension{{RequestedBy: request.Actor{Subject: "ca-uz", Agency: "uz-247"}, Days: 90,
		Decision: "GRANTED", DecidedBy: request.Actor{Subject: "ca-uz", Agency: "uz-247"}, RequestTime: at, DecideTime: at}}
	if !slices.Equal(v.Preservation.Extensions, want) {
		t.Errorf("extensions %+v; want %+v", v.Preservation.Extensions, want)
	}

	for _, tc := range []struct {
		name  string
		state request.Preservation
		field string
	}{
		{"released", request.Preservation{State: request.Released, ReleaseReason: "Not needed."}, "preservation.state"},
		{"held", request.Preservation{State: request.HeldPendingFollowUp, HeldBy: "req-follow-up"}, "preservation.state"},
		{"lapsed", request.Preservation{State: request.Preserved, ExpiresAt: t0.Add(-time.Second)}, "deadlines.preservation_expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm, r := seedPreservation(t, tc.state)
			_, err := dm.svc.ExtendPreservation(ctx, uzCA, r.ID, "")
			wantRefused(t, "extend", err, errs.FailedPrecondition, []string{tc.field})
			if st := dm.stored(t, r.ID); st.Version != 1 {
				t.Errorf("a refused extension changed the request to version %d", st.Version)
			}
		})
	}
}

// seedPreservation is a domain holding seeded(EXECUTED) with preservation
// pr (its deadlines mirroring it), the clock at t0.
func seedPreservation(t *testing.T, pr request.Preservation) (domain, request.Request) {
	t.Helper()
	dm := newDomain(t, request.Policy{})
	r := seeded(request.Executed)
	r.Preservation = &pr
	r.Deadlines.PreservationExpiresAt = pr.ExpiresAt
	dm.store.put(r)
	return dm, r
}

// TestExtensionAskedGrantedDeclined: the requesting side asks for 1 to 90
// days while PRESERVED, one request at a time; the requested side grants
// (the days are added) or declines (the expiry stays).
func TestExtensionAskedGrantedDeclined(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	v, executed := dm.executedPreservation(t)
	expiry := executed.Add(90 * day)

	for _, days := range []int32{0, -1, 91} {
		_, err := dm.svc.RequestExtension(ctx, kzProsecutor, v.ID, "", "The analysis takes longer.", days)
		wantRefused(t, "ask for days", err, errs.Invalid, []string{"days"}, "1 to 90")
	}
	_, err := dm.svc.RequestExtension(ctx, kzProsecutor, v.ID, "", " ", 30)
	wantRefused(t, "ask without a reason", err, errs.Invalid, []string{"reason"})
	_, err = dm.svc.RequestExtension(ctx, uzCA, v.ID, "", "Ours.", 30)
	wantRefused(t, "the requested side asks", err, errs.PermissionDenied, nil)
	_, err = dm.svc.GrantExtension(ctx, uzCA, v.ID, "")
	wantRefused(t, "grant with none pending", err, errs.FailedPrecondition, []string{"preservation.extensions"}, "no extension")
	_, err = dm.svc.DeclineExtension(ctx, uzCA, v.ID, "", "No.")
	wantRefused(t, "decline with none pending", err, errs.FailedPrecondition, []string{"preservation.extensions"}, "no extension")

	asked := dm.clock.advance(day)
	v = ok(t)(dm.svc.RequestExtension(ctx, kzProsecutor, v.ID, "", "The analysis takes longer.", 30))
	if e := v.Preservation.Extensions; len(e) != 1 || e[0].Decision != "PENDING" || e[0].Days != 30 || e[0].RequestedBy.Subject != "p-kz" ||
		!e[0].RequestTime.Equal(asked) || e[0].Reason != "The analysis takes longer." {
		t.Errorf("extensions after asking %+v; want one PENDING of 30 days by p-kz at %v", e, asked)
	}
	wantPreserved(t, v.Request, request.Preserved, expiry)
	_, err = dm.svc.RequestExtension(ctx, kzCA, v.ID, "", "Again.", 10)
	wantRefused(t, "ask twice", err, errs.FailedPrecondition, []string{"preservation.extensions"}, "still pending")
	_, err = dm.svc.GrantExtension(ctx, kzCA, v.ID, "")
	wantRefused(t, "the requesting side grants", err, errs.PermissionDenied, nil)

	granted := dm.clock.advance(time.Hour)
	v = ok(t)(dm.svc.GrantExtension(ctx, uzCA, v.ID, ""))
	expiry = expiry.Add(30 * day)
	wantPreserved(t, v.Request, request.Preserved, expiry)
	if e := v.Preservation.Extensions[0]; e.Decision != "GRANTED" || e.DecidedBy.Subject != "ca-uz" || !e.DecideTime.Equal(granted) {
		t.Errorf("granted extension %+v; want GRANTED by ca-uz at %v", e, granted)
	}

	// The requesting CA asks too; the requested side declines.
	v = ok(t)(dm.svc.RequestExtension(ctx, kzCA, v.ID, "", "Still analysing.", 90))
	v = ok(t)(dm.svc.DeclineExtension(ctx, uzCA, v.ID, "", "The provider cannot keep it longer."))
	wantPreserved(t, v.Request, request.Preserved, expiry)
	if e := v.Preservation.Extensions; len(e) != 2 || e[1].Decision != "DECLINED" || e[1].DeclineReason != "The provider cannot keep it longer." {
		t.Errorf("extensions after declining %+v; want the second DECLINED with its reason", e)
	}
	if h := dm.lastHistory(t, v.ID); h.Action != "declineExtension" || h.Reason != "The provider cannot keep it longer." || h.From != request.Executed || h.To != request.Executed {
		t.Errorf("history %+v; want declineExtension EXECUTED→EXECUTED with the reason", h)
	}

	// Once lapsed, nothing more can be asked.
	dm.clock.set(expiry)
	_, err = dm.svc.RequestExtension(ctx, kzProsecutor, v.ID, "", "Late.", 10)
	wantRefused(t, "ask once lapsed", err, errs.FailedPrecondition, []string{"deadlines.preservation_expires_at"})

	// A request not executed: the lifecycle refuses it by its status.
	dm2, r := seed(t, request.Accepted)
	_, err = dm2.svc.RequestExtension(ctx, kzProsecutor, r.ID, "", "Early.", 10)
	wantRefused(t, "ask before execution", err, errs.FailedPrecondition, []string{"status"})
}

// TestGrantNeverBeyondTenYears: a grant that would take the expiry past ten
// years from now is refused and the extension stays pending.
func TestGrantNeverBeyondTenYears(t *testing.T) {
	far := t0.Add(request.MaxPeriod - 10*day)
	dm, r := seedPreservation(t, request.Preservation{State: request.Preserved, ExpiresAt: far,
		Extensions: []request.PreservationExtension{{Days: 30, Decision: "PENDING", RequestTime: t0}}})
	_, err := dm.svc.GrantExtension(ctx, uzCA, r.ID, "")
	wantRefused(t, "grant past ten years", err, errs.FailedPrecondition, []string{"deadlines.preservation_expires_at"}, "ten years")
	if st := dm.stored(t, r.ID); st.Version != 1 || st.Preservation.Extensions[0].Decision != "PENDING" {
		t.Errorf("a refused grant changed the request: version %d, %+v", st.Version, st.Preservation.Extensions)
	}
}

// TestReleasePreservation: the requesting side releases a PRESERVED
// preservation with a reason, which the requested side reads in the
// history; a held one is refused naming its follow-up, and a released or
// lapsed one has nothing to release.
func TestReleasePreservation(t *testing.T) {
	dm, r := seedPreservation(t, request.Preservation{State: request.Preserved, ExpiresAt: t0.Add(30 * day)})
	_, err := dm.svc.ReleasePreservation(ctx, uzCA, r.ID, "", "Ours.")
	wantRefused(t, "the requested side releases", err, errs.PermissionDenied, nil)
	_, err = dm.svc.ReleasePreservation(ctx, kzProsecutor, r.ID, "", "")
	wantRefused(t, "release without a reason", err, errs.Invalid, []string{"reason"})

	v := ok(t)(dm.svc.ReleasePreservation(ctx, kzCA, r.ID, "", "The suspect confessed; the data is not needed."))
	if v.Status != request.Executed || v.Preservation.State != request.Released || v.Preservation.ReleaseReason != "The suspect confessed; the data is not needed." {
		t.Errorf("released: %s %+v; want EXECUTED, RELEASED with the reason", v.Status, v.Preservation)
	}
	if !v.Deadlines.PreservationExpiresAt.IsZero() || !v.Deadlines.ExtensionRequestBy.IsZero() {
		t.Errorf("a released preservation keeps deadlines %+v; want none", v.Deadlines)
	}
	// The release's event, before the read of the history leaves its own.
	if ev := dm.store.events[len(dm.store.events)-1]; ev.Resource != "requests/"+r.ID || !slices.Equal(ev.States, []string{"KZ", "UZ"}) {
		t.Errorf("release event %+v; want one on the request that both states' auditors see", ev)
	}
	h, err := dm.svc.History(ctx, uzCA, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := h[len(h)-1]; last.Action != "releasePreservation" || last.Reason != "The suspect confessed; the data is not needed." {
		t.Errorf("the requested side reads %+v; want releasePreservation with the reason", last)
	}
	_, err = dm.svc.ReleasePreservation(ctx, kzProsecutor, r.ID, "", "Again.")
	wantRefused(t, "release twice", err, errs.FailedPrecondition, []string{"preservation.state"})

	dm, r = seedPreservation(t, request.Preservation{State: request.HeldPendingFollowUp, HeldBy: "req-follow-up"})
	_, err = dm.svc.ReleasePreservation(ctx, kzProsecutor, r.ID, "", "Not needed.")
	wantRefused(t, "release a held one", err, errs.FailedPrecondition, []string{"preservation.held_by"}, "requests/req-follow-up", "withdraw")

	dm, r = seedPreservation(t, request.Preservation{State: request.Preserved, ExpiresAt: t0})
	_, err = dm.svc.ReleasePreservation(ctx, kzProsecutor, r.ID, "", "Not needed.")
	wantRefused(t, "release a lapsed one", err, errs.FailedPrecondition, []string{"deadlines.preservation_expires_at"})
}

// TestDiscloseChain: the requested CA records another provider in another
// state; the requesting side sees it.
func TestDiscloseChain(t *testing.T) {
	dm, r := seed(t, request.Executed)
	disclosed := dm.clock.advance(time.Hour)
	c := request.ChainDisclosure{Provider: "Example Hosting LLC", Country: "kg", Explanation: "The IP address is a VPN exit node hosted in Bishkek."}
	ok(t)(dm.svc.DiscloseChain(ctx, uzCA, r.ID, "", c))
	v := ok(t)(dm.svc.Get(ctx, kzProsecutor, r.ID))
	want := []request.ChainDisclosure{{Provider: "Example Hosting LLC", Country: "KG", Explanation: c.Explanation,
		DisclosedBy: request.Actor{Subject: "ca-uz", Agency: "uz-247"}, DiscloseTime: disclosed}}
	if !slices.Equal(v.ChainDisclosures, want) || v.Status != request.Executed {
		t.Errorf("the requesting side sees %+v (%s); want %+v, EXECUTED", v.ChainDisclosures, v.Status, want)
	}
	for _, tc := range []struct {
		name  string
		c     request.ChainDisclosure
		code  errs.Code
		field string
	}{
		{"no provider", request.ChainDisclosure{Country: "KG", Explanation: "x"}, errs.Invalid, "provider"},
		{"no country", request.ChainDisclosure{Provider: "x", Country: "Kyrgyzstan", Explanation: "x"}, errs.Invalid, "country"},
		{"no explanation", request.ChainDisclosure{Provider: "x", Country: "KG"}, errs.Invalid, "explanation"},
		{"the requested state", request.ChainDisclosure{Provider: "x", Country: "UZ", Explanation: "x"}, errs.FailedPrecondition, "country"},
	} {
		_, err := dm.svc.DiscloseChain(ctx, uzCA, r.ID, "", tc.c)
		wantRefused(t, tc.name, err, tc.code, []string{tc.field})
	}
	_, err := dm.svc.DiscloseChain(ctx, kzCA, r.ID, "", c)
	wantRefused(t, "the requesting side discloses", err, errs.PermissionDenied, nil)
}

// TestDraftFollowUp: a prosecutor of the requesting agency drafts a
// production after a preservation (FOLLOW_UP_OF), or a preservation in the
// state a chain disclosure names (SPAWNED_BY, its custodian from the
// disclosure), with the case's fields copied and nothing of the
// lifecycle; a retry with the same request_id gives the same draft; who may
// not see the request gets NOT_FOUND.
func TestDraftFollowUp(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	src := completeDraft()
	src.CaseReference, src.Purpose = "KZ-CASE-7", "To identify who emptied the accounts."
	src.Persons = []request.Person{{FullName: "A. B.", Role: "SUSPECT"}}
	src.InvestigatingAuthority = &request.InvestigatingAuthority{Name: "KNB cyber unit", CaseNumber: "77/2026"}
	src.Contact = &request.Contact{FullName: "A. Prosecutor", Phone: "+77172000000"}
	v := dm.transmitted(t, src)
	ok(t)(dm.svc.Acknowledge(ctx, uzCA, v.ID, ""))

	events := len(dm.store.events)
	f := ok(t)(dm.svc.DraftFollowUp(ctx, kzOtherPr, v.ID, request.FollowUp{Type: cooperation.TrafficData}, "follow-1"))
	var on []string
	for _, ev := range dm.store.events[events:] {
		on = append(on, ev.Resource)
	}
	if want := []string{"requests/" + f.ID, "requests/" + v.ID}; !slices.Equal(on, want) {
		t.Errorf("drafting a follow-up left events on %v; want the draft's creation and the read of the source %v", on, want)
	}
	if f.ID == v.ID || f.Status != request.Draft || f.Owner != "p-kz-2" || f.RequestedState != "UZ" || f.RequestedAgency != "uz-247" || f.Type != cooperation.TrafficData {
		t.Errorf("follow-up %s %s owned by %s to %s/%s of type %s; want a new DRAFT of p-kz-2 to UZ/uz-247, TRAFFIC_DATA",
			f.ID, f.Status, f.Owner, f.RequestedState, f.RequestedAgency, f.Type)
	}
	if !slices.Equal(f.RelatedRequests, []request.RelatedRequest{{Kind: request.FollowUpOf, Request: v.ID}}) {
		t.Errorf("related %+v; want FOLLOW_UP_OF %s", f.RelatedRequests, v.ID)
	}
	if f.Offence != src.Offence || f.FactsSummary != src.FactsSummary || f.LegalBasis != src.LegalBasis || f.CaseReference != "KZ-CASE-7" ||
		f.NecessityAndProportionality != src.NecessityAndProportionality || f.Language != "ru" || f.Purpose != src.Purpose ||
		!reflect.DeepEqual(f.Persons, src.Persons) || !slices.Equal(f.Identifiers, src.Identifiers) ||
		*f.InvestigatingAuthority != *src.InvestigatingAuthority || *f.Contact != *src.Contact {
		t.Errorf("the case's fields were not copied: %+v", f.Request)
	}
	// Its one deadline is its own: a draft never transmitted is erased
	// when the retention after its last change runs out (DESIGN §10).
	if !f.TransmitTime.IsZero() || f.Deadlines != (request.Deadlines{EraseBy: f.UpdateTime.Add(request.DefaultRetention)}) || f.Acceptance != nil || f.Preservation != nil {
		t.Errorf("the follow-up carries the lifecycle of the original: transmitted %v, deadlines %+v", f.TransmitTime, f.Deadlines)
	}
	if h := dm.lastHistory(t, f.ID); h.Action != "create" || h.To != request.Draft {
		t.Errorf("the follow-up's history ends with %+v; want its create", h)
	}
	again := ok(t)(dm.svc.DraftFollowUp(ctx, kzOtherPr, v.ID, request.FollowUp{Type: cooperation.TrafficData}, "follow-1"))
	if again.ID != f.ID {
		t.Errorf("a retry made %s; want the same draft %s", again.ID, f.ID)
	}

	// After a chain disclosure naming Kyrgyzstan: a preservation there.
	ok(t)(dm.svc.Accept(ctx, uzCA, v.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true))
	ok(t)(dm.svc.DiscloseChain(ctx, uzCA, v.ID, "", request.ChainDisclosure{Provider: "Example Hosting LLC", Country: "KG", Explanation: "VPN exit node."}))
	s := ok(t)(dm.svc.DraftFollowUp(ctx, kzProsecutor, v.ID, request.FollowUp{Type: cooperation.DataPreservation, RequestedState: "kg"}, ""))
	if s.RequestedState != "KG" || s.RequestedAgency != "kg-247" || !slices.Equal(s.RelatedRequests, []request.RelatedRequest{{Kind: request.SpawnedBy, Request: v.ID}}) {
		t.Errorf("spawned %s/%s related %+v; want KG/kg-247 SPAWNED_BY %s", s.RequestedState, s.RequestedAgency, s.RelatedRequests, v.ID)
	}
	if s.Custodian == nil || *s.Custodian != (request.Custodian{Provider: "Example Hosting LLC", Country: "KG"}) || s.FollowUpIntended == nil || !s.FollowUpIntended.Intended {
		t.Errorf("spawned custodian %+v, follow-up %+v; want the disclosed provider in KG and the intended follow-up", s.Custodian, s.FollowUpIntended)
	}

	for _, tc := range []struct {
		name  string
		f     request.FollowUp
		field string
	}{
		{"no type", request.FollowUp{}, "type"},
		{"a preservation in the same state", request.FollowUp{Type: cooperation.DataPreservation}, "requested_state"},
		{"a production elsewhere", request.FollowUp{Type: cooperation.ContentData, RequestedState: "KG"}, "requested_state"},
	} {
		_, err := dm.svc.DraftFollowUp(ctx, kzProsecutor, v.ID, tc.f, "")
		wantRefused(t, tc.name, err, errs.FailedPrecondition, []string{tc.field})
	}
	// A production follows up a preservation, not another production.
	_, err := dm.svc.DraftFollowUp(ctx, kzProsecutor, f.ID, request.FollowUp{Type: cooperation.ContentData}, "")
	wantRefused(t, "follow up a draft", err, errs.FailedPrecondition, []string{"status"})

	// A preservation withdrawn before it was transmitted: the requested
	// side never had it, whatever its status says.
	w := ok(t)(dm.svc.Create(ctx, kzProsecutor, completeDraft(), ""))
	ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, w.ID, "", "Not needed after all."))
	_, err = dm.svc.DraftFollowUp(ctx, kzProsecutor, w.ID, request.FollowUp{Type: cooperation.TrafficData}, "")
	wantRefused(t, "follow up a request never transmitted", err, errs.FailedPrecondition, []string{"status"}, "never transmitted")

	_, err = dm.svc.DraftFollowUp(ctx, kgProsecutor, v.ID, request.FollowUp{Type: cooperation.TrafficData}, "")
	wantRefused(t, "a prosecutor who may not see it", err, errs.NotFound, nil)
	for _, p := range []identity.Principal{kzCA, uzCA, kzLiaison} {
		_, err = dm.svc.DraftFollowUp(ctx, p, v.ID, request.FollowUp{Type: cooperation.TrafficData}, "")
		wantRefused(t, "drafted by "+p.Subject, err, errs.PermissionDenied, nil)
	}
}

// TestPreservationSafeguards: a preservation names its custodian (provider
// and country) and the production intended to follow, and every related
// request says how it relates and names a request the caller may see,
// other than itself, once: at submission and again at transmission.
func TestPreservationSafeguards(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *request.Request)
		want   []string
	}{
		{"complete", func(*request.Request) {}, nil},
		{"no custodian", func(r *request.Request) { r.Custodian = nil }, []string{"custodian.provider", "custodian.country"}},
		{"country not a code", func(r *request.Request) { r.Custodian.Country = "Uzbekistan" }, []string{"custodian.country"}},
		{"only service and account", func(r *request.Request) {
			r.Custodian = &request.Custodian{Service: "mobile internet", AccountReference: "+998900000000"}
		}, []string{"custodian.provider", "custodian.country"}},
		{"no follow-up", func(r *request.Request) { r.FollowUpIntended = nil }, []string{"follow_up_intended.intended", "follow_up_intended.production_type"}},
		{"follow-up not intended", func(r *request.Request) { r.FollowUpIntended.Intended = false }, []string{"follow_up_intended.intended"}},
		{"follow-up a preservation", func(r *request.Request) { r.FollowUpIntended.ProductionType = cooperation.DataPreservation },
			[]string{"follow_up_intended.production_type"}},
		{"production needs neither", func(r *request.Request) {
			*r = timed(*r, cooperation.SubscriberInformation)
			r.Custodian, r.FollowUpIntended = nil, nil
		}, nil},
		{"related, typed and visible", func(r *request.Request) {
			r.RelatedRequests = []request.RelatedRequest{{Kind: request.Supersedes, Request: "req-other"}}
		}, nil},
		{"related without kind", func(r *request.Request) {
			r.RelatedRequests = []request.RelatedRequest{{Kind: request.Related, Request: "req-other"}}
		}, []string{"related_requests[0].kind"}},
		{"related unknown", func(r *request.Request) {
			r.RelatedRequests = []request.RelatedRequest{{Kind: request.FollowUpOf, Request: "req-other"}, {Kind: request.FollowUpOf, Request: "req-nowhere"}}
		}, []string{"related_requests[1]"}},
		{"related not visible", func(r *request.Request) {
			r.RelatedRequests = []request.RelatedRequest{{Kind: request.Supersedes, Request: "req-kg"}}
		}, []string{"related_requests[0]"}},
		{"related to itself", func(r *request.Request) {
			r.RelatedRequests = []request.RelatedRequest{{Kind: request.Supersedes, Request: r.ID}}
		}, []string{"related_requests[0]"}},
		{"related twice", func(r *request.Request) {
			r.RelatedRequests = []request.RelatedRequest{{Kind: request.Supersedes, Request: "req-other"}, {Kind: request.FollowUpOf, Request: "req-other"}}
		}, []string{"related_requests[1]"}},
	} {
		for _, at := range []request.Status{request.Draft, request.Submitted} {
			t.Run(tc.name+"/"+string(at), func(t *testing.T) {
				dm := newDomain(t, request.Policy{})
				other := seeded(request.Executed)
				other.ID = "req-other"
				kg := seeded(request.Draft)
				kg.ID, kg.RequestingAgency, kg.RequestingState, kg.Owner, kg.RequestedState = "req-kg", "kg-gpo", "KG", "p-kg", "UZ"
				r := seeded(at)
				tc.change(&r)
				for _, x := range []request.Request{other, kg, r} {
					dm.store.put(x)
				}
				var err error
				if at == request.Draft {
					_, err = dm.svc.Submit(ctx, kzProsecutor, r.ID, "", false)
				} else {
					_, err = dm.svc.Transmit(ctx, kzCA, r.ID, "", false)
				}
				if tc.want == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				wantRefused(t, string(at), err, errs.FailedPrecondition, tc.want)
				if st := dm.stored(t, r.ID); st.Status != at || st.Version != 1 {
					t.Errorf("a refused request changed: %s version %d", st.Status, st.Version)
				}
			})
		}
	}
}

// followUp drafts, submits and returns (not yet transmitted) a traffic-data
// follow-up of preservation id.
func (dm domain) followUp(t *testing.T, id string) request.View {
	t.Helper()
	f := ok(t)(dm.svc.DraftFollowUp(ctx, kzProsecutor, id, request.FollowUp{Type: cooperation.TrafficData}, ""))
	ok(t)(dm.svc.Update(ctx, kzProsecutor, f.ID, "", func(r *request.Request) { *r = timed(*r, cooperation.TrafficData) }, []string{"identifiers"}))
	return ok(t)(dm.svc.Submit(ctx, kzProsecutor, f.ID, "", false))
}

// TestHoldPendingFollowUp: transmitting a follow-up holds the preservation
// it follows (HELD_PENDING_FOLLOW_UP, held by the follow-up, no expiry),
// each request with its own history entry and event in one change; when
// the follow-up is executed, refused or withdrawn the preservation holds
// again for 30 days and the requesting side is asked to release it. A
// partial execution does not end the hold.
func TestHoldPendingFollowUp(t *testing.T) {
	for _, end := range []struct {
		name string
		// do ends the follow-up's hold, from ACKNOWLEDGED.
		do   func(t *testing.T, dm domain, id string) (request.View, error)
		what string
	}{
		{"executed", func(t *testing.T, dm domain, id string) (request.View, error) {
			ok(t)(dm.svc.Accept(ctx, uzCA, id, "", request.Acceptance{DualCriminality: "MET"}, true))
			f := dm.stored(t, id)
			return dm.svc.Execute(ctx, uzCA, id, "", request.Execution{ResponseSummary: "Logs delivered.", Items: provided(f)}, nil)
		}, "executed"},
		{"refused", func(t *testing.T, dm domain, id string) (request.View, error) {
			return dm.svc.Refuse(ctx, uzCA, id, "", request.Refusal{Grounds: []string{"ESSENTIAL_INTERESTS"}, Explanation: "Security.",
				Consultation: &request.Consultation{Note: "Partial execution was discussed with the KZ GPO and is not possible."}})
		}, "refused"},
		{"withdrawn", func(t *testing.T, dm domain, id string) (request.View, error) {
			return dm.svc.Withdraw(ctx, kzProsecutor, id, "", "The suspect confessed.")
		}, "withdrawn"},
	} {
		t.Run(end.name, func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			p, _ := dm.executedPreservation(t)
			f := dm.followUp(t, p.ID)
			dm.clock.advance(day)
			events := len(dm.store.events)
			transmitted := ok(t)(dm.svc.Transmit(ctx, kzCA, f.ID, "", false))
			evs := slices.Clone(dm.store.events[events:])
			if transmitted.Status != request.Transmitted {
				t.Fatalf("follow-up %s; want TRANSMITTED", transmitted.Status)
			}
			held := ok(t)(dm.svc.Get(ctx, uzCA, p.ID))
			wantPreserved(t, held.Request, request.HeldPendingFollowUp, time.Time{})
			if held.Preservation.HeldBy != f.ID || held.Status != request.Executed {
				t.Errorf("held by %q (%s); want %s, EXECUTED", held.Preservation.HeldBy, held.Status, f.ID)
			}
			h := dm.lastHistory(t, p.ID)
			if h.Action != "holdPreservation" || h.From != request.Executed || h.To != request.Executed || h.Actor.Subject != "ca-kz" ||
				!strings.Contains(h.Reason, f.Reference) || !strings.Contains(h.Reason, "29(7)") {
				t.Errorf("preservation's history %+v; want holdPreservation by ca-kz naming %s", h, f.Reference)
			}
			// The transmission's event, then the hold's: one change.
			if len(evs) != 2 || evs[0].Resource != "requests/"+f.ID || evs[1].Resource != "requests/"+p.ID ||
				!strings.HasSuffix(evs[1].Action, "holdPreservation") {
				t.Errorf("events %+v; want the follow-up's and the preservation's holdPreservation", evs)
			}
			// Held, it neither lapses nor can be released.
			dm.clock.advance(200 * day)
			if got := ok(t)(dm.svc.Get(ctx, kzProsecutor, p.ID)); got.Preservation.State != request.HeldPendingFollowUp {
				t.Errorf("held past its old expiry: %s; want HELD_PENDING_FOLLOW_UP", got.Preservation.State)
			}
			_, err := dm.svc.ReleasePreservation(ctx, kzProsecutor, p.ID, "", "Not needed.")
			wantRefused(t, "release while held", err, errs.FailedPrecondition, []string{"preservation.held_by"}, f.ID)
			_, err = dm.svc.RequestExtension(ctx, kzProsecutor, p.ID, "", "More.", 10)
			wantRefused(t, "ask to extend while held", err, errs.FailedPrecondition, []string{"preservation.state"})

			ok(t)(dm.svc.Acknowledge(ctx, uzCA, f.ID, ""))
			ended := dm.clock.advance(time.Hour)
			ok(t)(end.do(t, dm, f.ID))
			back := ok(t)(dm.svc.Get(ctx, kzProsecutor, p.ID))
			wantPreserved(t, back.Request, request.Preserved, ended.Add(30*day))
			if back.Preservation.HeldBy != "" {
				t.Errorf("held by %q after the hold ended; want none", back.Preservation.HeldBy)
			}
			h = dm.lastHistory(t, p.ID)
			if h.Action != "releaseHold" || !strings.Contains(h.Reason, end.what) || !strings.Contains(h.Reason, "releasePreservation") {
				t.Errorf("preservation's history %+v; want releaseHold saying the follow-up was %s and asking to release", h, end.what)
			}
			ok(t)(dm.svc.ReleasePreservation(ctx, kzProsecutor, p.ID, "", "Data received."))
		})
	}

	t.Run("not held", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		p, executed := dm.executedPreservation(t)
		f := dm.followUp(t, p.ID)
		// A lapsed preservation is not held again.
		dm.clock.set(executed.Add(90 * day))
		ok(t)(dm.svc.Transmit(ctx, kzCA, f.ID, "", false))
		if got := dm.stored(t, p.ID); got.Preservation.State != request.Preserved || got.Version != p.Version {
			t.Errorf("a lapsed preservation was changed by its follow-up: %+v version %d", got.Preservation, got.Version)
		}
		if h := dm.lastHistory(t, p.ID); h.Action == "holdPreservation" {
			t.Errorf("a lapsed preservation got %+v", h)
		}
	})

	t.Run("another agency's follow-up", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		p, _ := dm.executedPreservation(t)
		f := timed(seeded(request.Submitted), cooperation.TrafficData)
		f.ID, f.Reference, f.RequestingAgency, f.Owner = "req-mvd", "KZ-2026-000009", "kz-mvd", "p-mvd"
		f.Custodian, f.FollowUpIntended = nil, nil
		f.RelatedRequests = []request.RelatedRequest{{Kind: request.FollowUpOf, Request: p.ID}}
		dm.store.put(f)
		ok(t)(dm.svc.Transmit(ctx, kzCA, f.ID, "", false))
		if got := dm.stored(t, p.ID); got.Preservation.State != request.Preserved || got.Version != p.Version {
			t.Errorf("another agency's follow-up held the preservation: %+v version %d", got.Preservation, got.Version)
		}
	})

	t.Run("a draft withdrawn", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		p, _ := dm.executedPreservation(t)
		f := ok(t)(dm.svc.DraftFollowUp(ctx, kzProsecutor, p.ID, request.FollowUp{Type: cooperation.TrafficData}, ""))
		ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, f.ID, "", "Drafted by mistake."))
		if got := dm.stored(t, p.ID); got.Version != p.Version {
			t.Errorf("withdrawing a draft follow-up changed the preservation to version %d", got.Version)
		}
	})
}

// TestHoldEventNamesItsAction: the preservation's event of a hold names the
// hold after the call's method.
func TestHoldEventNamesItsAction(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	p, _ := dm.executedPreservation(t)
	f := dm.followUp(t, p.ID)
	call := trail.WithCall(ctx, trail.Call{Service: "comity-request", Action: "/comity.request.v1.RequestService/TransmitRequest"})
	ok(t)(dm.svc.Transmit(call, kzCA, f.ID, "", false))
	ev := dm.store.events[len(dm.store.events)-1]
	if ev.Action != "/comity.request.v1.RequestService/TransmitRequest#holdPreservation" || ev.Resource != "requests/"+p.ID {
		t.Errorf("hold event %s on %s; want TransmitRequest#holdPreservation on requests/%s", ev.Action, ev.Resource, p.ID)
	}
}

// TestPolicyFilePreservationKeys: extension_notice and hold_return are
// read from the policy file and are the periods the lifecycle then uses; a
// notice not shorter than the preservation period is refused.
func TestPolicyFilePreservationKeys(t *testing.T) {
	policy, err := request.ParsePolicy([]byte(`{"preservation": "60d", "extension_notice": "5d", "hold_return": "14d"}`))
	if err != nil {
		t.Fatal(err)
	}
	if policy.ExtensionNotice != 5*day || policy.HoldReturn != 14*day {
		t.Fatalf("policy %+v; want a notice of 5 days and a hold return of 14", policy)
	}
	dm := newDomain(t, policy)
	v, executed := dm.executedPreservation(t)
	if want := executed.Add(55 * day); !v.Deadlines.ExtensionRequestBy.Equal(want) {
		t.Errorf("extension_request_by %v; want %v", v.Deadlines.ExtensionRequestBy, want)
	}
	_, err = dm.svc.RequestExtension(ctx, kzProsecutor, v.ID, "", "More.", 61)
	wantRefused(t, "ask past the policy's period", err, errs.Invalid, []string{"days"}, "1 to 60")
	f := dm.followUp(t, v.ID)
	ok(t)(dm.svc.Transmit(ctx, kzCA, f.ID, "", false))
	ended := dm.clock.advance(time.Hour)
	ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, f.ID, "", "Not needed."))
	if got := dm.stored(t, v.ID); !got.Preservation.ExpiresAt.Equal(ended.Add(14 * day)) {
		t.Errorf("after the hold the preservation expires at %v; want %v", got.Preservation.ExpiresAt, ended.Add(14*day))
	}

	for _, tc := range []struct{ file, says string }{
		{`{"extension_notice": "90d"}`, "extension_notice"},
		{`{"preservation": "5d"}`, "extension_notice"},
		{`{"hold_return": "0d"}`, "hold_return"},
		{`{"hold_return": "3651d"}`, "hold_return"},
	} {
		if _, err := request.ParsePolicy([]byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParsePolicy(%s) = %v; want an error naming %s", tc.file, err, tc.says)
		}
	}
}

// TestHoldOnTheRealStores: the hold and its end through the Service on
// both engines: the follow-up's change and the preservation's commit
// together, each with its history entry, and the requested side reads both.
func TestHoldOnTheRealStores(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, _, _ := newServiceOn(t, engine, request.WatchLimits{})
			p := ok(t)(svc.Create(ctx, kzProsecutor, completeDraft(), ""))
			ok(t)(svc.Submit(ctx, kzProsecutor, p.ID, "", false))
			ok(t)(svc.Transmit(ctx, kzCA, p.ID, "", false))
			ok(t)(svc.Acknowledge(ctx, uzCA, p.ID, ""))
			ok(t)(svc.Accept(ctx, uzCA, p.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true))
			ok(t)(svc.Execute(ctx, uzCA, p.ID, "", request.Execution{ResponseSummary: "Preserved."}, nil))

			f := ok(t)(svc.DraftFollowUp(ctx, kzProsecutor, p.ID, request.FollowUp{Type: cooperation.TrafficData}, "follow-up"))
			ok(t)(svc.Update(ctx, kzProsecutor, f.ID, "", func(r *request.Request) { *r = timed(*r, cooperation.TrafficData) }, []string{"identifiers"}))
			ok(t)(svc.Submit(ctx, kzProsecutor, f.ID, "", false))
			ok(t)(svc.Transmit(ctx, kzCA, f.ID, "", false))
			held := ok(t)(svc.Get(ctx, uzCA, p.ID))
			if held.Preservation.State != request.HeldPendingFollowUp || held.Preservation.HeldBy != f.ID || !held.Deadlines.PreservationExpiresAt.IsZero() {
				t.Fatalf("after the follow-up's transmission: %+v, deadlines %+v; want held by %s, no expiry", held.Preservation, held.Deadlines, f.ID)
			}
			before := time.Now()
			ok(t)(svc.Withdraw(ctx, kzProsecutor, f.ID, "", "The suspect confessed."))
			back := ok(t)(svc.Get(ctx, uzCA, p.ID))
			if back.Preservation.State != request.Preserved || back.Preservation.ExpiresAt.Before(before.Add(30*day-time.Second)) ||
				!back.Deadlines.PreservationExpiresAt.Equal(back.Preservation.ExpiresAt) {
				t.Errorf("after the withdrawal: %+v, deadlines %+v; want PRESERVED for 30 days", back.Preservation, back.Deadlines)
			}
			h, err := svc.History(ctx, uzCA, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range h {
				actions = append(actions, e.Action)
			}
			if want := []string{"create", "submit", "transmit", "acknowledge", "accept", "execute", "holdPreservation", "releaseHold"}; !slices.Equal(actions, want) {
				t.Errorf("the preservation's history %v; want %v", actions, want)
			}
		})
	}
}

// TestHoldByTwoFollowUps: a preservation followed up by two production
// requests (traffic data, then content) stays held until both are answered
// or withdrawn (Budapest 29(7)): the end of the first hands the hold to the
// second, a withdrawal of the second while the first holds leaves the hold
// with the first, and only the last one's end lets the clock run again.
func TestHoldByTwoFollowUps(t *testing.T) {
	t.Run("the holder ends first", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		p, _ := dm.executedPreservation(t)
		f1, f2 := dm.followUp(t, p.ID), dm.followUp(t, p.ID)
		ok(t)(dm.svc.Transmit(ctx, kzCA, f1.ID, "", false))
		ok(t)(dm.svc.Transmit(ctx, kzCA, f2.ID, "", false))
		_, err := dm.svc.ReleasePreservation(ctx, kzProsecutor, p.ID, "", "Not needed.")
		wantRefused(t, "release while held by two", err, errs.FailedPrecondition, []string{"preservation.held_by"}, f1.ID, f2.ID)
		ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, f1.ID, "", "The suspect confessed to this part."))
		got := ok(t)(dm.svc.Get(ctx, uzCA, p.ID))
		wantPreserved(t, got.Request, request.HeldPendingFollowUp, time.Time{})
		if got.Preservation.HeldBy != f2.ID {
			t.Errorf("held by %q after the first follow-up was withdrawn; want the second, %s, still pending", got.Preservation.HeldBy, f2.ID)
		}
		// Past the old expiry and the 30 days a returned hold gives, the
		// second follow-up is still owed its data.
		dm.clock.advance(200 * day)
		if got := ok(t)(dm.svc.Get(ctx, kzProsecutor, p.ID)); got.Preservation.State != request.HeldPendingFollowUp {
			t.Errorf("preservation %s while its second follow-up is pending; want HELD_PENDING_FOLLOW_UP", got.Preservation.State)
		}
		ended := dm.clock.advance(time.Hour)
		ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, f2.ID, "", "Not needed any more."))
		back := ok(t)(dm.svc.Get(ctx, kzProsecutor, p.ID))
		wantPreserved(t, back.Request, request.Preserved, ended.Add(30*day))
		if h := dm.lastHistory(t, p.ID); h.Action != "releaseHold" || !strings.Contains(h.Reason, f2.Reference) {
			t.Errorf("preservation's history %+v; want releaseHold naming %s", h, f2.Reference)
		}
	})

	t.Run("the second ends first", func(t *testing.T) {
		dm := newDomain(t, request.Policy{})
		p, _ := dm.executedPreservation(t)
		f1, f2 := dm.followUp(t, p.ID), dm.followUp(t, p.ID)
		ok(t)(dm.svc.Transmit(ctx, kzCA, f1.ID, "", false))
		ok(t)(dm.svc.Transmit(ctx, kzCA, f2.ID, "", false))
		ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, f2.ID, "", "Drafted twice."))
		if got := dm.stored(t, p.ID); got.Preservation.State != request.HeldPendingFollowUp || got.Preservation.HeldBy != f1.ID {
			t.Errorf("after the second follow-up's withdrawal: %+v; want still held by %s", got.Preservation, f1.ID)
		}
		ended := dm.clock.advance(time.Hour)
		ok(t)(dm.svc.Withdraw(ctx, kzProsecutor, f1.ID, "", "Not needed any more."))
		back := ok(t)(dm.svc.Get(ctx, kzProsecutor, p.ID))
		wantPreserved(t, back.Request, request.Preserved, ended.Add(30*day))
	})
}

// TestDraftFollowUpKeepsConfidentiality: the follow-up of a preservation
// the requested side was asked to keep confidential (Budapest 27(8),
// 29(6)) is about the same suspect and the same account: its draft asks
// the same confidentiality, and states the same intended use, rather than
// reaching the requested side as a request it may disclose unless the
// prosecutor remembers to mark it again.
func TestDraftFollowUpKeepsConfidentiality(t *testing.T) {
	dm := newDomain(t, request.Policy{})
	src := completeDraft()
	src.Confidentiality = &request.Confidentiality{Request: true, ObtainedInformation: true, Reason: "The suspect must not learn of the investigation."}
	src.Confidential = true
	src.UseLimitations = "Only in criminal case 77/2026."
	v := dm.transmitted(t, src)
	for _, fu := range []request.FollowUp{{Type: cooperation.TrafficData}, {Type: cooperation.DataPreservation, RequestedState: "KG"}} {
		f := ok(t)(dm.svc.DraftFollowUp(ctx, kzProsecutor, v.ID, fu, ""))
		if !f.Confidential || f.Confidentiality == nil || *f.Confidentiality != *src.Confidentiality || f.UseLimitations != src.UseLimitations {
			t.Errorf("%s follow-up: confidential %v, confidentiality %+v, use limitations %q; want those of the preservation",
				fu.Type, f.Confidential, f.Confidentiality, f.UseLimitations)
		}
	}
}

// TestTwoFollowUpsRaceOnTheRealStores: two follow-ups of one preservation
// transmitted at the same moment, each transaction locking its follow-up
// and the preservation, on both engines: neither deadlocks nor is lost;
// the preservation is held by one and also by the other, and stays held
// until both are withdrawn.
func TestTwoFollowUpsRaceOnTheRealStores(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			svc, _, _ := newServiceOn(t, engine, request.WatchLimits{})
			p := ok(t)(svc.Create(ctx, kzProsecutor, completeDraft(), ""))
			ok(t)(svc.Submit(ctx, kzProsecutor, p.ID, "", false))
			ok(t)(svc.Transmit(ctx, kzCA, p.ID, "", false))
			ok(t)(svc.Acknowledge(ctx, uzCA, p.ID, ""))
			ok(t)(svc.Accept(ctx, uzCA, p.ID, "", request.Acceptance{DualCriminality: "NOT_REQUIRED"}, true))
			ok(t)(svc.Execute(ctx, uzCA, p.ID, "", request.Execution{ResponseSummary: "Preserved."}, nil))
			var fs []string
			for _, typ := range []cooperation.RequestType{cooperation.TrafficData, cooperation.SubscriberInformation} {
				f := ok(t)(svc.DraftFollowUp(ctx, kzProsecutor, p.ID, request.FollowUp{Type: typ}, ""))
				ok(t)(svc.Update(ctx, kzProsecutor, f.ID, "", func(r *request.Request) { *r = timed(*r, typ) }, []string{"identifiers"}))
				ok(t)(svc.Submit(ctx, kzProsecutor, f.ID, "", false))
				fs = append(fs, f.ID)
			}
			errc := make(chan error, len(fs))
			for _, id := range fs {
				go func() {
					_, err := svc.Transmit(ctx, kzCA, id, "", false)
					errc <- err
				}()
			}
			for range fs {
				if err := <-errc; err != nil {
					t.Fatalf("a concurrent transmission: %v", err)
				}
			}
			held := ok(t)(svc.Get(ctx, uzCA, p.ID)).Preservation
			holders := append([]string{held.HeldBy}, held.HeldAlsoBy...)
			slices.Sort(holders)
			want := slices.Sorted(slices.Values(fs))
			if held.State != request.HeldPendingFollowUp || !slices.Equal(holders, want) {
				t.Fatalf("after both transmissions: %+v; want held by both of %v", held, fs)
			}
			ok(t)(svc.Withdraw(ctx, kzProsecutor, held.HeldBy, "", "Not needed."))
			if got := ok(t)(svc.Get(ctx, uzCA, p.ID)).Preservation; got.State != request.HeldPendingFollowUp || got.HeldBy != held.HeldAlsoBy[0] {
				t.Errorf("after the first holder's withdrawal: %+v; want held by %s", got, held.HeldAlsoBy[0])
			}
			ok(t)(svc.Withdraw(ctx, kzProsecutor, held.HeldAlsoBy[0], "", "Not needed."))
			if got := ok(t)(svc.Get(ctx, uzCA, p.ID)).Preservation; got.State != request.Preserved || got.ExpiresAt.IsZero() {
				t.Errorf("after both withdrawals: %+v; want PRESERVED with an expiry", got)
			}
		})
	}
}
