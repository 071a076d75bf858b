package directory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// A token's role counts only at an active agency of a kind that may hold it
// (identity.RoleAllowedAt, DESIGN §3). So an agency's kind and active flag
// decide who can sign in at all, and changing them is how a directory
// administrator could lock a state out: this file holds the rules that
// prevent it, for the API (checkAgencyKept) and for imports (keepAgencies).

// guarded are the roles a state must never lose its last agency for: with no
// agency where directory_admin counts nobody can undo the change, and with
// no agency where auditor counts the state's oversight is silenced.
var guarded = []identity.Role{identity.DirectoryAdmin, identity.Auditor}

// counts reports whether role r counts at a.
func counts(r identity.Role, a Agency) bool {
	return a.Active && identity.RoleAllowedAt(r, string(a.Kind))
}

// countsAtAny reports whether role r counts at any of agencies.
func countsAtAny(r identity.Role, agencies []Agency) bool {
	for _, a := range agencies {
		if counts(r, a) {
			return true
		}
	}
	return false
}

// kindsOf is the kinds at which r counts, for messages: "A or B".
func kindsOf(r identity.Role) string {
	return strings.Join(identity.RoleKinds(r), " or ")
}

// lossOf says, for messages, what an agency where r counts is to its state,
// who would be unable to sign in without one, and what else follows.
func lossOf(r identity.Role) (agency, users, then string) {
	if r == identity.Auditor {
		return "oversight body (" + kindsOf(r) + ")", "auditors", ""
	}
	return "agency where directory_admin counts (" + kindsOf(r) + ")", "directory administrators", ", and nobody could undo it"
}

// checkAgencyKept refuses the change of old into next (its kind or its
// active flag), given the other agencies of its state (peers), if it would:
//   - leave the state (named stateName) with no active agency where
//     directory_admin counts, or none where auditor counts, when it had one;
//   - stop a role the caller p holds at old from counting there (the caller
//     could not undo it).
//
// field is where the request names the change: "agency." for an update
// (the kind), "" for a deactivation (the name).
func checkAgencyKept(stateName string, old, next Agency, peers []Agency, p identity.Principal, prefix string) error {
	field, change := "name", "deactivating it"
	if next.Active && next.Kind != old.Kind {
		field, change = prefix+"kind", "changing its kind to "+string(next.Kind)
	}
	var vs errs.Violations
	for _, r := range guarded {
		if !counts(r, old) || counts(r, next) || countsAtAny(r, peers) {
			continue
		}
		agency, users, then := lossOf(r)
		vs.Add(field, "%s is %s's only active %s: %s would leave %s's %s unable to sign in%s; create another %s agency first",
			old.ID, stateName, agency, change, stateName, users, then, kindsOf(r))
	}
	if p.Agency == old.ID {
		for _, r := range p.Roles {
			if counts(r, old) && !counts(r, next) {
				vs.Add(field, "this change would stop your own role %s from counting at %s (it counts only at an active %s agency); ask another administrator",
					r, old.ID, kindsOf(r))
			}
		}
	}
	return vs.Err(errs.FailedPrecondition, fmt.Sprintf("agency %s was not changed", old.ID))
}

// KeptAgency is an agency an import stored with its current kind and
// active flag rather than the snapshot's, because the snapshot's would have
// left its state with no active agency where Role counts.
type KeptAgency struct {
	ID    string
	State string
	// Kind and Active are what the agency kept; SnapshotKind and
	// SnapshotActive what the snapshot said.
	Kind           Kind
	Active         bool
	SnapshotKind   Kind
	SnapshotActive bool
	Role           identity.Role
}

// keepAgencies is the import's form of checkAgencyKept, consistent with how
// it keeps trusted issuers: where the snapshot's agencies (imported, changed
// in place) would leave a state that has an active agency where a guarded
// role counts with none, each imported agency that gives up that role keeps
// its stored kind and active flag, and is reported. stored is every stored
// agency of the imported agencies' states. An import has no caller whose own
// role could be lost: it is an operator's act on the database.
func keepAgencies(stored, imported []Agency) []KeptAgency {
	byID := map[string]Agency{}
	for _, a := range stored {
		byID[a.ID] = a
	}
	var kept []KeptAgency
	for _, r := range guarded {
		for _, state := range statesOf(imported) {
			var before, after []Agency
			next := map[string]Agency{}
			for _, a := range imported {
				if a.State == state {
					next[a.ID] = a
					after = append(after, a)
				}
			}
			for _, a := range stored {
				if a.State != state {
					continue
				}
				before = append(before, a)
				if _, ok := next[a.ID]; !ok {
					after = append(after, a)
				}
			}
			if !countsAtAny(r, before) || countsAtAny(r, after) {
				continue
			}
			for i, a := range imported {
				old, ok := byID[a.ID]
				if a.State != state || !ok || !counts(r, old) {
					continue
				}
				kept = append(kept, KeptAgency{ID: a.ID, State: a.State, Kind: old.Kind, Active: old.Active,
					SnapshotKind: a.Kind, SnapshotActive: a.Active, Role: r})
				imported[i].Kind, imported[i].Active = old.Kind, old.Active
			}
		}
	}
	return kept
}

// statesOf returns the states of agencies, in order of first appearance.
func statesOf(agencies []Agency) []string {
	var codes []string
	for _, a := range agencies {
		if !slices.Contains(codes, a.State) {
			codes = append(codes, a.State)
		}
	}
	return codes
}
