package grpcapi

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/directory"
)

// TestRetentionConversion: a state's retention goes to the API as a
// Duration and back unchanged; none is absent, not zero; a Duration that
// is not one (signs that differ) comes in negative, for validation to
// refuse rather than to read as none.
func TestRetentionConversion(t *testing.T) {
	threeYears := 26298*time.Hour + time.Nanosecond
	out := StateToProto(directory.State{Code: "KZ", RetentionAfterClose: threeYears})
	if got := out.GetRetentionAfterClose().AsDuration(); got != threeYears {
		t.Errorf("to the API: %v; want %v", got, threeYears)
	}
	if back := StateFromProto(out).RetentionAfterClose; back != threeYears {
		t.Errorf("back: %v; want %v", back, threeYears)
	}
	if none := StateToProto(directory.State{Code: "KZ"}); none.RetentionAfterClose != nil {
		t.Errorf("none: %v; want the field absent", none.GetRetentionAfterClose())
	}
	if got := StateFromProto(&directoryv1.State{Name: "states/KZ"}).RetentionAfterClose; got != 0 {
		t.Errorf("absent: %v; want none", got)
	}
	bad := &directoryv1.State{Name: "states/KZ", RetentionAfterClose: &durationpb.Duration{Seconds: 86400 * 400, Nanos: -1}}
	if got := StateFromProto(bad).RetentionAfterClose; got >= 0 {
		t.Errorf("an invalid Duration: %v; want it negative, to be refused", got)
	}
}
