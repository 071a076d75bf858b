package request_test

import (
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/request"
)

// TestNothingReceivedNothingToUse: a request withdrawn or closed as a draft
// is in a status where use conditions may bind, but was never transmitted:
// consent to use it and an onward transfer of it are refused, naming its
// status, and change nothing (found by the access matrix's
// WITHDRAWN_DRAFT and CLOSED_DRAFT cells).
func TestNothingReceivedNothingToUse(t *testing.T) {
	for _, st := range []request.Status{request.Withdrawn, request.Closed} {
		t.Run(string(st), func(t *testing.T) {
			dm := newDomain(t, request.Policy{})
			r := seeded(st)
			r.TransmitTime = time.Time{}
			dm.store.put(r)
			_, err := dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", request.Consent{Kind: request.ConsentOtherUse, Purpose: "A tax case."})
			wantRefused(t, "consent on an untransmitted request", err, errs.FailedPrecondition, []string{"status"}, "never transmitted")
			_, err = dm.svc.RecordOnwardTransfer(ctx, kzCA, r.ID, "", request.OnwardTransfer{Recipient: "KG GPO", Authorisation: "A court order."})
			wantRefused(t, "an onward transfer of an untransmitted request", err, errs.FailedPrecondition, []string{"status"}, "never transmitted")
			got, err := dm.store.Get(ctx, r.ID)
			if err != nil || got.Version != r.Version || len(got.Consents)+len(got.OnwardTransfers) != 0 {
				t.Errorf("after the refusals the request is version %d with %d consents and %d transfers (%v); want it unchanged",
					got.Version, len(got.Consents), len(got.OnwardTransfers), err)
			}
			// Transmitted, the same calls are recorded.
			r = seeded(st)
			r.ID = r.ID + "-sent"
			dm.store.put(r)
			ok(t)(dm.svc.RequestConsent(ctx, kzProsecutor, r.ID, "", request.Consent{Kind: request.ConsentOtherUse, Purpose: "A tax case."}))
			ok(t)(dm.svc.RecordOnwardTransfer(ctx, kzCA, r.ID, "", request.OnwardTransfer{Recipient: "KG GPO", Authorisation: "A court order."}))
		})
	}
}
