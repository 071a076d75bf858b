package trail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/trail"
)

func TestParsePurpose(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		bad            bool
	}{
		{name: "none", in: "", want: ""},
		{name: "blank", in: "  ", want: ""},
		{name: "a category", in: "stated-proceedings", want: trail.PurposeStatedProceedings},
		{name: "another case and spaces", in: " Data-Subject-Request ", want: trail.PurposeDataSubjectRequest},
		{name: "a typo", in: "executoin", bad: true},
		{name: "undeclared is no declaration", in: "undeclared", bad: true},
		{name: "free text", in: "to check the suspect's alibi", bad: true},
		{name: "control characters", in: "review\x00\u202e", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trail.ParsePurpose(tc.in)
			if !tc.bad {
				if err != nil || got != tc.want {
					t.Fatalf("ParsePurpose(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 1 {
				t.Fatalf("ParsePurpose(%q) = %q, %v; want an invalid-input error with one violation", tc.in, got, err)
			}
			v := e.Violations[0]
			if v.Field != "X-Comity-Purpose" {
				t.Errorf("the violation names %q; want the header X-Comity-Purpose", v.Field)
			}
			for _, p := range trail.Purposes {
				if !strings.Contains(v.Description, p) || !strings.Contains(e.Message, p) {
					t.Errorf("the error %q / %q does not list the category %s", e.Message, v.Description, p)
				}
			}
			if strings.ContainsAny(e.Message+v.Description, "\x00\u202e") {
				t.Errorf("the error repeats a control character of the value: %q", e.Message)
			}
		})
	}
}

func TestReadPurpose(t *testing.T) {
	ctx := context.Background()
	if got := trail.ReadPurpose(ctx); got != trail.PurposeUndeclared {
		t.Errorf("the purpose of a read without a declaration is %q; want undeclared", got)
	}
	if got := trail.ReadPurpose(trail.WithPurpose(ctx, trail.PurposeReview)); got != trail.PurposeReview {
		t.Errorf("the purpose of a read declared for review is %q", got)
	}
	if got := trail.PurposeFrom(trail.WithPurpose(ctx, "")); got != "" {
		t.Errorf("WithPurpose of no purpose declares %q", got)
	}
}

// NewEvent carries the purpose the recording code gives, and nothing else
// invents one; Bounded keeps an event Append accepts.
func TestEventPurpose(t *testing.T) {
	ctx := trail.WithPurpose(context.Background(), trail.PurposeExecution)
	if e := trail.NewEvent(ctx, time.Now(), trail.Actor{}, "OK", trail.Details{}); e.Purpose != "" {
		t.Errorf("an event whose recorder gave no purpose carries %q", e.Purpose)
	}
	e := trail.NewEvent(ctx, time.Now(), trail.Actor{}, "OK", trail.Details{Purpose: trail.ReadPurpose(ctx)})
	if e.Purpose != trail.PurposeExecution {
		t.Errorf("a read's event carries purpose %q; want execution", e.Purpose)
	}
	if got := trail.Bounded(trail.Event{Purpose: "Not A Category!"}).Purpose; got != trail.PurposeUndeclared {
		t.Errorf("Bounded keeps the purpose %q, which Append refuses; want undeclared", got)
	}
}
