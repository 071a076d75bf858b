// Package seed reads directory snapshots: the seed loaded into an empty
// directory on first start, and the files `comityctl directory import`
// takes. A snapshot is JSON in the REST API's shape (comity.directory.v1.Snapshot).
package seed

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"slices"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/encoding/protojson"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/grpcapi"
	"github.com/comity-mla/comity/services/errs"
)

//go:embed default.json
var defaultSnapshot []byte

// maxSnapshotBytes bounds an import file; the whole directory of five states
// is a few tens of kilobytes.
const maxSnapshotBytes = 16 << 20

// Default returns the seed of DESIGN §4: for each of KZ, KG, TJ, TM and UZ,
// the state and its XX-gpo, XX-police-cyber, XX-247, XX-oversight and
// XX-city-prosecutor agencies. Each state also trusts extraIssuers (the
// local deployment passes its dev issuer).
func Default(extraIssuers ...string) ([]directory.State, []directory.Agency, error) {
	states, agencies, err := Load(bytes.NewReader(defaultSnapshot))
	if err != nil {
		return nil, nil, fmt.Errorf("default seed: %w", err)
	}
	for i := range states {
		for _, iss := range extraIssuers {
			if !slices.Contains(states[i].TrustedIssuers, iss) {
				states[i].TrustedIssuers = append(states[i].TrustedIssuers, iss)
			}
		}
	}
	return states, agencies, nil
}

// DefaultInstruments returns the default seed's treaty profiles (DESIGN
// §5.6): the instrument profiles, and each state's instrument entries by
// state code, for Store.SeedInstruments, which loads them into a directory
// that lacks them (one made before they existed) without overwriting what
// its administrators have set.
func DefaultInstruments() ([]directory.Instrument, map[string][]directory.StateInstrument, error) {
	states, _, profiles, err := load(bytes.NewReader(defaultSnapshot))
	if err != nil {
		return nil, nil, fmt.Errorf("default seed: %w", err)
	}
	entries := map[string][]directory.StateInstrument{}
	for _, st := range states {
		entries[st.Code] = st.Instruments
	}
	return profiles, entries, nil
}

// Load reads a snapshot, checks every state and agency against the API's
// rules and that each agency names a state of the snapshot, and returns them.
// Errors are errs.Invalid and name the offending entry. The snapshot's
// instrument profiles are checked too (see DefaultInstruments).
func Load(r io.Reader) ([]directory.State, []directory.Agency, error) {
	states, agencies, _, err := load(r)
	return states, agencies, err
}

func load(r io.Reader) ([]directory.State, []directory.Agency, []directory.Instrument, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSnapshotBytes+1))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read snapshot: %w", err)
	}
	if len(data) > maxSnapshotBytes {
		return nil, nil, nil, errs.New(errs.Invalid, "snapshot is larger than %d bytes", maxSnapshotBytes)
	}
	var snap directoryv1.Snapshot
	if err := protojson.Unmarshal(data, &snap); err != nil {
		return nil, nil, nil, errs.New(errs.Invalid, "snapshot is not valid JSON of comity.directory.v1.Snapshot: %v", err)
	}
	if err := protovalidate.Validate(&snap); err != nil {
		return nil, nil, nil, errs.New(errs.Invalid, "snapshot: %v", err)
	}
	var vs errs.Violations
	known := map[string]bool{}
	var states []directory.State
	for i, s := range snap.GetStates() {
		st := grpcapi.StateFromProto(s)
		if len(st.Code) != 2 {
			vs.Add(fmt.Sprintf("states[%d].name", i), "must be states/XX with an ISO 3166-1 alpha-2 code")
			continue
		}
		if err := directory.CheckImportedState(st); err != nil {
			vs.Add(fmt.Sprintf("states[%d]", i), "%v", err)
			continue
		}
		known[st.Code] = true
		states = append(states, st)
	}
	var agencies []directory.Agency
	for i, a := range snap.GetAgencies() {
		ag := grpcapi.AgencyFromProto(a)
		if err := directory.CheckImported(ag); err != nil {
			vs.Add(fmt.Sprintf("agencies[%d]", i), "%v", err)
			continue
		}
		if !known[ag.State] {
			vs.Add(fmt.Sprintf("agencies[%d].state", i), "%q is not a state of the snapshot", ag.State)
			continue
		}
		agencies = append(agencies, ag)
	}
	var profiles []directory.Instrument
	seen := map[string]bool{}
	for i, in := range snap.GetInstruments() {
		p := grpcapi.InstrumentFromProto(in)
		at := fmt.Sprintf("instruments[%d].", i)
		vs = append(vs, directory.CheckInstrument(p, at)...)
		if seen[p.LegalBasis] {
			vs.Add(at+"legal_basis", "%s has another profile above", p.LegalBasis)
		}
		seen[p.LegalBasis] = true
		profiles = append(profiles, p)
	}
	if err := vs.Err(errs.Invalid, "invalid snapshot"); err != nil {
		return nil, nil, nil, err
	}
	return states, agencies, profiles, nil
}
