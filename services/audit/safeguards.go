package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/comity-mla/comity/services/trail"
)

// The request service's methods whose events carry the outcomes of
// safeguards (DESIGN §6.1): the checks of a request before it leaves
// (submitMethod, transmitMethod, confirmMethod) and the requested side's
// decision (acceptMethod, refuseMethod).
const (
	requestService = "/comity.request.v1.RequestService/"
	submitMethod   = requestService + "SubmitRequest"
	transmitMethod = requestService + "TransmitRequest"
	confirmMethod  = requestService + "ConfirmInWriting"
	acceptMethod   = requestService + "AcceptRequest"
	refuseMethod   = requestService + "RefuseRequest"
)

// acceptance are the assessments an :accept records and the outcomes that
// let a request be executed: a missing one, or another outcome, is a
// problem.
var acceptance = []struct {
	check    string
	outcomes []string
}{
	{"DUAL_CRIMINALITY", []string{"MET", "NOT_REQUIRED"}},
	{"HUMAN_RIGHTS_REVIEW", []string{"NO_CONCERNS", "CONCERNS_NOTED"}},
	{"DEATH_PENALTY_ASSURANCE", []string{"PRESENT", "NOT_APPLICABLE"}},
}

// RequestSafeguards is what a bundle shows of one request's checks: its
// events of :submit, :transmit, :confirmInWriting, :accept and :refuse (in
// log order, refused calls included), the problems found, and notes of
// what the bundle does not hold.
type RequestSafeguards struct {
	// Resource is the request's name, requests/….
	Resource string
	Entries  []Entry
	// Problems say how an accepted request is not shown to have passed its
	// checks; none for a request that is.
	Problems []string
	// Notes say what is not in the bundle to judge by: its filter may have
	// left out events that exist.
	Notes []string
}

// SafeguardReport reads the outcomes of the safeguards in entries (a
// bundle's, verified) by request, in the order each request first appears.
// For each accepted request (an OK :accept) it is a problem that the
// :accept lacks one of its three assessments or records one that does not
// let the request be executed, or that the latest OK event that checked
// the request's safeguards before it (:transmit, :confirmInWriting, else
// :submit) carries no outcomes or a FAILED one. When no such event is in
// the bundle, that is a note, not a problem: the bundle holds what its
// filter selected. So is an :accept that carries no outcomes at all, logged
// before events recorded them (only a FAILED outcome of the check before it
// is then a problem).
func SafeguardReport(entries []Entry) []RequestSafeguards {
	var out []RequestSafeguards
	at := map[string]int{}
	for _, e := range entries {
		ev := e.Event
		if !strings.HasPrefix(ev.Resource, "requests/") || strings.Count(ev.Resource, "/") != 1 ||
			!slices.Contains([]string{submitMethod, transmitMethod, confirmMethod, acceptMethod, refuseMethod}, ev.Action) {
			continue
		}
		i, ok := at[ev.Resource]
		if !ok {
			i = len(out)
			at[ev.Resource] = i
			out = append(out, RequestSafeguards{Resource: ev.Resource})
		}
		out[i].Entries = append(out[i].Entries, e)
	}
	for i := range out {
		r := &out[i]
		slices.SortStableFunc(r.Entries, func(a, b Entry) int { return cmp.Compare(a.Index, b.Index) })
		for j, e := range r.Entries {
			if e.Event.Action != acceptMethod || e.Event.Outcome != "OK" {
				continue
			}
			// An :accept with no outcomes at all was logged before
			// events carried them: there is nothing to judge its
			// assessments by (a note), nor a missing outcome of the check
			// before it, but a FAILED one is still a problem.
			old := len(e.Event.Safeguards) == 0
			if old {
				r.Notes = append(r.Notes, fmt.Sprintf("accepted at index %d by an event that carries no safeguard outcomes "+
					"(logged before events recorded them): its assessments cannot be judged from the audit trail", e.Index))
			} else {
				r.Problems = append(r.Problems, acceptanceProblems(e)...)
			}
			checks := -1
			for k := j - 1; k >= 0 && checks < 0; k-- {
				if isCheck(r.Entries[k]) {
					checks = k
				}
			}
			if checks < 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("accepted at index %d: the :transmit (or :submit) before it is not in this bundle", e.Index))
				continue
			}
			if c := r.Entries[checks]; !old || len(c.Event.Safeguards) > 0 {
				r.Problems = append(r.Problems, checkProblems(c, e.Index)...)
			}
		}
	}
	return out
}

// isCheck reports whether e is the event of a successful check of a
// request's safeguards before it leaves.
func isCheck(e Entry) bool {
	return e.Event.Outcome == "OK" && slices.Contains([]string{submitMethod, transmitMethod, confirmMethod}, e.Event.Action)
}

// acceptanceProblems are what the :accept e lacks of its assessments.
func acceptanceProblems(e Entry) []string {
	var out []string
	for _, a := range acceptance {
		got, ok := outcomeOf(e.Event.Safeguards, a.check)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("accepted at index %d without %s", e.Index, a.check))
		case !slices.Contains(a.outcomes, got):
			out = append(out, fmt.Sprintf("accepted at index %d with %s %s (want %s)", e.Index, a.check, got, strings.Join(a.outcomes, " or ")))
		}
	}
	return out
}

// checkProblems are what the check c of a request accepted at index lacks:
// outcomes at all, or a check that did not fail.
func checkProblems(c Entry, accepted uint64) []string {
	what := methodOf(c.Event.Action)
	if len(c.Event.Safeguards) == 0 {
		return []string{fmt.Sprintf("accepted at index %d after a %s (index %d) that carries no safeguard outcomes", accepted, what, c.Index)}
	}
	var out []string
	for _, g := range c.Event.Safeguards {
		if g.Outcome == "FAILED" {
			out = append(out, fmt.Sprintf("accepted at index %d after a %s (index %d) with %s FAILED", accepted, what, c.Index, g.Check))
		}
	}
	return out
}

// outcomeOf returns the outcome of check in sg.
func outcomeOf(sg []trail.Safeguard, check string) (string, bool) {
	i := slices.IndexFunc(sg, func(g trail.Safeguard) bool { return g.Check == check })
	if i < 0 {
		return "", false
	}
	return sg[i].Outcome, true
}

// methodOf is the method of a full gRPC method name (SubmitRequest).
func methodOf(action string) string {
	return action[strings.LastIndexByte(action, '/')+1:]
}
