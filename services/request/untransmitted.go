package request

import (
	"fmt"

	"github.com/comity-mla/comity/services/errs"
)

// everReceived refuses a use of what the requesting side received (a
// consent to another use or an onward transfer, DESIGN §10) on a request
// that was never transmitted: withdrawn or closed as a draft, it is in a
// status where conditions may bind, but the requested side never saw it
// and nothing was provided to use or pass on.
func everReceived(r Request) error {
	if !r.TransmitTime.IsZero() {
		return nil
	}
	return (errs.Violations{{Field: "status", Description: fmt.Sprintf("request %s is %s and was never transmitted: "+
		"the requested side provided nothing to use or pass on", r.Reference, r.Status)}}).
		Err(errs.FailedPrecondition, "the request was never transmitted")
}
