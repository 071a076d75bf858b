package seed

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/grpcapi"
	"github.com/comity-mla/comity/services/errs"
)

// snapshot is the API form of what Load returned, as an export would write
// it.
func snapshot(states []directory.State, agencies []directory.Agency) *directoryv1.Snapshot {
	snap := &directoryv1.Snapshot{}
	for _, s := range states {
		snap.States = append(snap.States, grpcapi.StateToProto(s))
	}
	for _, a := range agencies {
		snap.Agencies = append(snap.Agencies, grpcapi.AgencyToProto(a))
	}
	return snap
}

// FuzzLoad feeds Load arbitrary snapshot files, as `comityctl directory
// import FILE` reads them. A file is either refused as errs.Invalid with a
// message, or gives states and agencies of those states that, written back
// as a snapshot, load again to the same directory.
func FuzzLoad(f *testing.F) {
	f.Add(defaultSnapshot)
	for _, seed := range []string{
		`{}`,
		`{"states":[{"name":"states/KZ","timeZone":"Asia/Almaty","acceptedLanguages":["ru"]}]}`,
		`{"states":[{"name":"states/kz","timeZone":"Asia/Almaty"}],"agencies":[{"name":"agencies/kz-gpo","state":"kz","kind":"CENTRAL_AUTHORITY","displayNames":{"en":"GPO"}}]}`,
		`{"agencies":[{"name":"agencies/kz-gpo","state":"KZ","kind":"CENTRAL_AUTHORITY"}]}`,
		`{"states":[{"name":"states/KZ","timeZone":"Mars/Olympus"}]}`,
		`{"states":[{"name":"states/KZ"},{"name":"states/KZ"}]}`,
		`{"states":[{"code":"KZX"}]}`,
		`{"states":[{"name":"states/"}]}`,
		`{"agencies":[{"name":"agencies/../x","contactPoints":[{"email":"not an email"}]}]}`,
		`{"agencies":[{"name":"agencies/x","kind":99,"receives":[0,1,999]}]}`,
		`{"states":[{"name":"states/KZ","etag":"x","updateTime":"2026-01-01T00:00:00Z"}]}`,
		`{"colour":"red"}`,
		`[]`,
		`null`,
		"{\"states\":[{\"name\":\"states/\xff\"}]}",
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		states, agencies, err := Load(bytes.NewReader(data))
		if err != nil {
			if errs.CodeOf(err) != errs.Invalid || err.Error() == "" {
				t.Fatalf("Load(%q): %v (%v); want errs.Invalid", data, err, errs.CodeOf(err))
			}
			return
		}
		known := map[string]bool{}
		for _, s := range states {
			if len(s.Code) != 2 {
				t.Fatalf("Load(%q) gave state code %q", data, s.Code)
			}
			known[s.Code] = true
		}
		for _, a := range agencies {
			if !known[a.State] {
				t.Fatalf("Load(%q) gave agency %q of state %q, which is not in the snapshot", data, a.ID, a.State)
			}
		}
		// What was imported exports to a snapshot that imports the same.
		snap := snapshot(states, agencies)
		out, err := protojson.Marshal(snap)
		if err != nil {
			t.Fatalf("Load(%q): the result does not marshal: %v", data, err)
		}
		states2, agencies2, err := Load(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("Load(%q) accepted, but its export %s is refused: %v", data, out, err)
		}
		if again := snapshot(states2, agencies2); !proto.Equal(again, snap) {
			t.Fatalf("Load(%q) = %v, but its export loads as %v", data, snap, again)
		}
	})
}
