package console

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/comity-mla/comity/services/trail"
)

// withReadPurpose returns ctx, an outgoing context of the console's gRPC
// calls (outgoing), also carrying purpose as the reader's declared purpose
// (x-comity-purpose), which the request service puts on the audit event of
// a read of content (DESIGN §10). purpose is one of trail.Purposes; ""
// declares none, and the event then says "undeclared". A value that is not
// a category is refused by the service (INVALID_ARGUMENT naming
// X-Comity-Purpose), so a form's choice is to be checked with
// trail.ParsePurpose first.
func withReadPurpose(ctx context.Context, purpose string) context.Context {
	if purpose == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, trail.PurposeHeader, purpose)
}

// purposeID is the message id of a purpose category (or "undeclared"):
// message ids use underscores where the categories use hyphens.
func purposeID(purpose string) string {
	return "purpose." + strings.ReplaceAll(purpose, "-", "_")
}

// purposeName is how a page names a purpose category, or "undeclared"; a
// value no message names (which no service writes) is shown as it is.
func purposeName(pg page, purpose string) string {
	if t := pg.T(purposeID(purpose)); t != purposeID(purpose) {
		return t
	}
	return purpose
}

// purposeChoices are the categories a reader may declare, as a form's
// choices, in trail.Purposes' order.
func purposeChoices(pg page) []option {
	out := make([]option, len(trail.Purposes))
	for i, p := range trail.Purposes {
		out[i] = option{Value: p, Label: purposeName(pg, p)}
	}
	return out
}
