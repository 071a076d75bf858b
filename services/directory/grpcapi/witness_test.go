package grpcapi

import (
	"testing"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/directory"
)

// TestWitnessConversion: a state's witness goes to the API and back
// unchanged; none is absent, and absent is none (what clears it).
func TestWitnessConversion(t *testing.T) {
	w := directory.StateWitness{URL: "https://witness.kz.example", PublicKey: "witness.kz+01234567+BAAA"}
	out := StateToProto(directory.State{Code: "KZ", Witness: w})
	if out.GetWitness().GetUrl() != w.URL || out.GetWitness().GetPublicKey() != w.PublicKey {
		t.Errorf("to the API: %v; want %+v", out.GetWitness(), w)
	}
	if back := StateFromProto(out).Witness; back != w {
		t.Errorf("back: %+v; want %+v", back, w)
	}
	if none := StateToProto(directory.State{Code: "KZ"}); none.Witness != nil {
		t.Errorf("none: %v; want the field absent", none.GetWitness())
	}
	if got := StateFromProto(&directoryv1.State{Name: "states/KZ"}).Witness; !got.IsZero() {
		t.Errorf("absent: %+v; want none", got)
	}
}
