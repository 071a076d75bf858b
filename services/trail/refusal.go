package trail

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/internal/enum"
)

// ActorOf returns the caller p as events name it.
func ActorOf(p identity.Principal) Actor {
	return Actor{Subject: p.Subject, Agency: p.Agency, Roles: enum.Strings(p.Roles), Issuer: p.Issuer}
}

// Refusal is an error a domain refused a call with, carrying what only the
// domain knows of the call and its trail needs: the states the call
// concerned (the parties of the request it named, the state whose directory
// entry it would change), whose auditors see every attempt, and the
// canonical name of a resource the call named another way (a request by its
// reference). The gRPC server records every refused call from the error the
// call ended with (RefusalEvents); a refusal that carries no Refusal is on
// the trail of the caller's state only. Safeguards, when the call was
// refused on its safeguards or assessments, are the outcome of each, for
// its event (Event.Safeguards).
type Refusal struct {
	Err        error
	States     []string
	Resource   string
	Safeguards []Safeguard
}

func (r *Refusal) Error() string { return r.Err.Error() }

// Unwrap returns the error refused with, so that its code (errs.CodeOf, a
// gRPC status) is the refusal's.
func (r *Refusal) Unwrap() error { return r.Err }

// Concerning returns err as a Refusal of a call that concerned states, nil
// for nil. resource, when not empty, is the canonical name of what the call
// named; empty states (not known) are left out. An err that is a Refusal
// already is returned as it is: the refusal closest to the decision knows
// best what the call concerned.
func Concerning(err error, resource string, states ...string) error {
	if err == nil {
		return nil
	}
	if _, ok := RefusalOf(err); ok {
		return err
	}
	states = slices.DeleteFunc(slices.Clone(states), func(s string) bool { return s == "" })
	if len(states) == 0 && resource == "" {
		return err
	}
	return &Refusal{Err: err, States: states, Resource: resource}
}

// RefusalOf returns the Refusal err carries.
func RefusalOf(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// RefusalEvents returns the events of the call of ctx refused with err, whose
// outcome is the gRPC code name outcome (PERMISSION_DENIED), by caller (nil
// when the caller is not known), with the states and resource the refusal
// carries (Refusal).
//
// A call of a known caller refused as NOT_FOUND names something the caller
// may not know exists, and is recorded as two events whether it exists or
// not, so that neither what the caller's auditors see nor the size of the
// log tells the two apart: the caller's view, on their state's trail with
// only what the caller sent (their state, the name asked for), and the
// resource's view, on the trail of the states the refusal names (the
// caller's among them when it is a party: then its auditors see that trail
// anyway) under the resource's canonical name, or, for a name that names
// nothing, a stand-in with no state, which no auditor's view shows. Other
// refusals name something the caller could see, and one event carries the
// caller's state and the refusal's (DESIGN §6).
func RefusalEvents(ctx context.Context, now time.Time, caller *identity.Principal, outcome string, err error) []Event {
	var actor Actor
	var callerState []string
	if caller != nil {
		actor = ActorOf(*caller)
		if caller.State != "" {
			callerState = []string{caller.State}
		}
	}
	var on Refusal
	if r, ok := RefusalOf(err); ok {
		on = *r
	}
	if outcome == "NOT_FOUND" && caller != nil {
		return []Event{
			NewEvent(ctx, now, actor, outcome, Details{States: callerState}),
			NewEvent(ctx, now, actor, outcome, Details{Resource: on.Resource, States: on.States}),
		}
	}
	return []Event{NewEvent(ctx, now, actor, outcome, Details{States: append(slices.Clone(on.States), callerState...), Safeguards: on.Safeguards})}
}
