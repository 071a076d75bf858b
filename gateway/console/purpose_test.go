package console

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/comity-mla/comity/services/trail"
)

// Every purpose category, and "undeclared", has its name in every
// language: the audit page composes their message ids, which
// TestCatalogComplete's scan of literal ids cannot see.
func TestPurposeNamesInEveryLanguage(t *testing.T) {
	c := mustCatalog(t)
	for _, l := range Languages {
		pg := page{T: c.localizer(l.Tag)}
		for _, p := range append(slices.Clone(trail.Purposes), trail.PurposeUndeclared) {
			if got := purposeName(pg, p); got == p || got == purposeID(p) || got == "" {
				t.Errorf("%s names purpose %s %q", l.Tag, p, got)
			}
		}
		if got := len(purposeChoices(pg)); got != len(trail.Purposes) {
			t.Errorf("%s offers %d purposes; want %d", l.Tag, got, len(trail.Purposes))
		}
	}
}

// withReadPurpose adds the purpose to the metadata the console's calls
// already carry (the user's token), and declares nothing for "".
func TestWithReadPurpose(t *testing.T) {
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs("authorization", "Bearer t"))
	md, _ := metadata.FromOutgoingContext(withReadPurpose(ctx, trail.PurposeExecution))
	if got := md.Get(trail.PurposeHeader); !slices.Equal(got, []string{"execution"}) || len(md.Get("authorization")) != 1 {
		t.Errorf("the call carries %v; want the token and purpose execution", md)
	}
	md, _ = metadata.FromOutgoingContext(withReadPurpose(ctx, ""))
	if got := md.Get(trail.PurposeHeader); len(got) != 0 {
		t.Errorf("a call declaring no purpose carries %q", got)
	}
}
