package trail

import (
	"context"
	"fmt"
	"strings"

	"github.com/comity-mla/comity/services/errs"
)

// PurposeHeader is the HTTP header (X-Comity-Purpose) and the gRPC metadata
// key in which a reader declares why they read a request's content (DESIGN
// §10). The gateway forwards the header as this metadata; the gRPC server
// checks it on every call and puts it in the context (WithPurpose).
const PurposeHeader = "x-comity-purpose"

// The purpose categories a reader may declare. The list is closed, so that
// an auditor can count the reads of each purpose and a typo is refused
// rather than logged as a purpose of its own.
const (
	// PurposeStatedProceedings is investigation or prosecution in the
	// proceedings the request states.
	PurposeStatedProceedings = "stated-proceedings"
	// PurposeExecution is executing or answering the request.
	PurposeExecution = "execution"
	// PurposeReview is a central authority's or a legal review.
	PurposeReview = "review"
	// PurposeTranslation is translating the request or its attachments.
	PurposeTranslation = "translation"
	// PurposeConsentedUse is a use the requested side consented to.
	PurposeConsentedUse = "consented-use"
	// PurposeDataSubjectRequest is answering a person's request about
	// their data.
	PurposeDataSubjectRequest = "data-subject-request"
)

// PurposeUndeclared is what the event of a read says when the reader
// declared no purpose. It is not itself a purpose one may declare.
const PurposeUndeclared = "undeclared"

// Purposes are the categories a reader may declare, in the order forms and
// messages list them.
var Purposes = []string{
	PurposeStatedProceedings, PurposeExecution, PurposeReview, PurposeTranslation,
	PurposeConsentedUse, PurposeDataSubjectRequest,
}

// ParsePurpose returns the purpose category a declared value names: one of
// Purposes, in any case and with surrounding spaces, or "" for an empty
// value (no purpose declared). Any other value is errs.Invalid, with a
// violation on the X-Comity-Purpose header that lists the categories.
func ParsePurpose(value string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(value))
	if v == "" {
		return "", nil
	}
	for _, p := range Purposes {
		if v == p {
			return p, nil
		}
	}
	categories := strings.Join(Purposes, ", ")
	var vs errs.Violations
	vs.Add("X-Comity-Purpose", "%q is not a purpose category: declare one of %s, or send no header", Cut(value, 60), categories)
	return "", vs.Err(errs.Invalid, fmt.Sprintf("the X-Comity-Purpose header %q is not a purpose category: declare one of %s, or send no header",
		Cut(value, 60), categories))
}

type purposeKey struct{}

// WithPurpose returns ctx carrying the purpose the caller declared, one of
// Purposes (ParsePurpose); "" leaves ctx as it is.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	if purpose == "" {
		return ctx
	}
	return context.WithValue(ctx, purposeKey{}, purpose)
}

// PurposeFrom returns the purpose the caller of ctx declared, or "" when
// they declared none.
func PurposeFrom(ctx context.Context) string {
	p, _ := ctx.Value(purposeKey{}).(string)
	return p
}

// ReadPurpose returns what the event of a read of content in ctx says of
// its purpose: the declared one, or PurposeUndeclared.
func ReadPurpose(ctx context.Context) string {
	if p := PurposeFrom(ctx); p != "" {
		return p
	}
	return PurposeUndeclared
}
