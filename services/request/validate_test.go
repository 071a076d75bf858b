package request_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/cooperation"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// completeDraft returns a draft to UZ that meets every safeguard.
func completeDraft() request.Request {
	d := draftToUZ()
	d.LegalBasis, d.Language = "CHISINAU_CONVENTION_2002", "ru"
	d.Offence = request.Offence{Description: "Intrusion into a bank's systems", LegalQualification: "Article 205", MaximumPenaltyYears: 5}
	d.FactsSummary = "Accounts were emptied through a compromised server."
	d.Identifiers = []request.Identifier{{Kind: "IP_ADDRESS", Value: "192.0.2.10"}}
	d.NecessityAndProportionality = strings.Repeat("The logs are the only record of who reached the server, and they are overwritten weekly. ", 2)
	// A preservation names who holds the data and the request that will
	// follow (Budapest 29(2)(d), (f)).
	d.Custodian = &request.Custodian{Provider: "Example Telecom LLC", Country: "UZ"}
	d.FollowUpIntended = &request.FollowUpIntended{Intended: true, ProductionType: cooperation.TrafficData}
	return d
}

// trace is what a validate-only call must leave as it found it.
type trace struct {
	req     request.Request
	history int
	outbox  int
}

func traceOf(t *testing.T, store *countingStore, id string) trace {
	t.Helper()
	ctx := context.Background()
	r, err := store.Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h, err := store.Store.HistoryAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	o, err := store.Store.(trail.Outbox).PendingEvents(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return trace{req: r, history: len(h), outbox: len(o)}
}

func (tr trace) same(t *testing.T, now trace) {
	t.Helper()
	if now.req.Status != tr.req.Status || now.req.Etag() != tr.req.Etag() || now.req.Deadlines != tr.req.Deadlines ||
		!now.req.TransmitTime.Equal(tr.req.TransmitTime) {
		t.Errorf("the request changed: %s etag %s deadlines %+v; was %s etag %s deadlines %+v",
			now.req.Status, now.req.Etag(), now.req.Deadlines, tr.req.Status, tr.req.Etag(), tr.req.Deadlines)
	}
	if now.history != tr.history {
		t.Errorf("history entries %d; was %d", now.history, tr.history)
	}
	if now.outbox != tr.outbox {
		t.Errorf("audit events in the outbox %d; was %d", now.outbox, tr.outbox)
	}
}

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

// TestValidateOnly: a validate-only submit or transmit runs every check the
// real one runs, refuses exactly as it would, and changes nothing; the real
// call then succeeds.
func TestValidateOnly(t *testing.T) {
	svc, store, dir := newService(t, request.WatchLimits{})
	ctx := context.Background()
	ca := user("ca-kz", "kz-gpo", identity.CentralAuthority)
	thin := completeDraft()
	thin.NecessityAndProportionality = "Needed."
	thin.Identifiers = nil
	v, err := svc.Create(ctx, kzProsecutor, thin, "")
	if err != nil {
		t.Fatal(err)
	}
	before := traceOf(t, store, v.ID)

	for _, tc := range []struct {
		name   string
		p      identity.Principal
		etag   string
		code   errs.Code
		fields []string
	}{
		{"every unmet safeguard at once", kzProsecutor, "", errs.FailedPrecondition, []string{"identifiers", "necessity_and_proportionality"}},
		{"a TJ prosecutor cannot see it", user("p-tj", "tj-gpo", identity.Prosecutor), "", errs.NotFound, nil},
		{"another prosecutor of the agency", user("p-kz-2", "kz-gpo", identity.Prosecutor), "", errs.PermissionDenied, nil},
		{"a central authority may not submit", ca, "", errs.PermissionDenied, nil},
		{"a stale etag", kzProsecutor, `"stale"`, errs.Conflict, nil},
	} {
		t.Run("submit/"+tc.name, func(t *testing.T) {
			_, err := svc.Submit(ctx, tc.p, v.ID, tc.etag, true)
			if errs.CodeOf(err) != tc.code {
				t.Fatalf("validate-only submit = %v; want %s", err, tc.code)
			}
			if tc.fields != nil {
				got := violationFields(err)
				slices.Sort(got)
				if !slices.Equal(got, tc.fields) {
					t.Errorf("violations %v; want %v", got, tc.fields)
				}
			}
			before.same(t, traceOf(t, store, v.ID))
		})
	}

	fixed, err := svc.Update(ctx, kzProsecutor, v.ID, "", func(r *request.Request) {
		c := completeDraft()
		r.NecessityAndProportionality, r.Identifiers = c.NecessityAndProportionality, c.Identifiers
	}, []string{"necessity_and_proportionality", "identifiers"})
	if err != nil {
		t.Fatal(err)
	}
	before = traceOf(t, store, v.ID)
	got, err := svc.Submit(ctx, kzProsecutor, v.ID, fixed.Etag(), true)
	if err != nil {
		t.Fatalf("validate-only submit of a complete draft = %v", err)
	}
	if got.Status != request.Draft || got.Etag() != fixed.Etag() {
		t.Errorf("validate-only submit answered %s etag %s; want the draft as it is (DRAFT, %s)", got.Status, got.Etag(), fixed.Etag())
	}
	// No audit event, so no content: the answer is the metadata, as in a list.
	if !got.MetadataOnly || got.NecessityAndProportionality != "" || got.FactsSummary != "" || len(got.Identifiers) != 0 {
		t.Errorf("validate-only submit answered content (metadata only %v, facts %q); want metadata only", got.MetadataOnly, got.FactsSummary)
	}
	before.same(t, traceOf(t, store, v.ID))
	if _, err := svc.Transmit(ctx, ca, v.ID, "", true); errs.CodeOf(err) != errs.FailedPrecondition || !slices.Contains(violationFields(err), "status") {
		t.Errorf("validate-only transmit of a draft = %v; want FAILED_PRECONDITION naming the status", err)
	}

	submitted, err := svc.Submit(ctx, kzProsecutor, v.ID, fixed.Etag(), false)
	if err != nil || submitted.Status != request.Submitted {
		t.Fatalf("real submit = %v, %v; want SUBMITTED", submitted.Status, err)
	}
	if _, err := svc.Submit(ctx, kzProsecutor, v.ID, "", true); errs.CodeOf(err) != errs.FailedPrecondition || !slices.Contains(violationFields(err), "status") {
		t.Errorf("validate-only submit of a submitted request = %v; want FAILED_PRECONDITION naming the status", err)
	}

	before = traceOf(t, store, v.ID)
	dir.inactive.Store("uz-247")
	if _, err := svc.Transmit(ctx, ca, v.ID, "", true); errs.CodeOf(err) != errs.FailedPrecondition || !slices.Contains(violationFields(err), "requested_agency") {
		t.Errorf("validate-only transmit to a deactivated agency = %v; want FAILED_PRECONDITION naming requested_agency", err)
	}
	before.same(t, traceOf(t, store, v.ID))
	dir.inactive.Store("")
	if _, err := svc.Transmit(ctx, kzProsecutor, v.ID, "", true); errs.CodeOf(err) != errs.PermissionDenied {
		t.Errorf("validate-only transmit by the prosecutor = %v; want PERMISSION_DENIED", err)
	}
	got, err = svc.Transmit(ctx, ca, v.ID, submitted.Etag(), true)
	if err != nil || got.Status != request.Submitted || !got.Deadlines.AcknowledgeBy.IsZero() {
		t.Fatalf("validate-only transmit = %s ack by %v, %v; want SUBMITTED with no deadline", got.Status, got.Deadlines.AcknowledgeBy, err)
	}
	before.same(t, traceOf(t, store, v.ID))
	transmitted, err := svc.Transmit(ctx, ca, v.ID, submitted.Etag(), false)
	if err != nil || transmitted.Status != request.Transmitted || transmitted.Deadlines.AcknowledgeBy.IsZero() {
		t.Fatalf("real transmit = %s, %v; want TRANSMITTED with its deadline", transmitted.Status, err)
	}
}
