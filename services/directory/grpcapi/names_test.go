package grpcapi_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/directory"
)

// enumNames are the value names of an enum but its zero value.
func enumNames(d protoreflect.EnumDescriptor) []string {
	var out []string
	for i := 1; i < d.Values().Len(); i++ {
		out = append(out, string(d.Values().Get(i).Name()))
	}
	return out
}

// TestNamesAreTheRequestProtos: the directory cannot import the request
// proto, so it keeps the legal bases and refusal grounds as strings; they
// are the request proto's value names, all of them, so that a profile
// names what a request carries.
func TestNamesAreTheRequestProtos(t *testing.T) {
	if want := enumNames(requestv1.Request_LegalBasis(0).Descriptor()); !slices.Equal(directory.LegalBases, want) {
		t.Errorf("directory.LegalBases = %v, the proto's %v", directory.LegalBases, want)
	}
	if want := enumNames(requestv1.Refusal_Ground(0).Descriptor()); !slices.Equal(directory.RefusalGrounds, want) {
		t.Errorf("directory.RefusalGrounds = %v, the proto's %v", directory.RefusalGrounds, want)
	}
}
