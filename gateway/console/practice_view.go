package console

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// practiceView is what the forms of issue 14 show besides their inputs.
type practiceView struct {
	// About is what the user decides on, shown above the form: the
	// extension asked for, the conditions proposed, the declaration.
	About []field
	// Options of the forms' selects, translated.
	Types, States, ImpedimentKinds, ConditionKinds, CostKinds, Outcomes, Identifiers []option
	// Items are the execution's rows, Conditions the proposal's.
	Items      []itemRow
	Conditions []conditionRow
	// UseConditions are the acceptance's use conditions (DESIGN §10).
	UseConditions []conditionRow
	// ConsentKinds and Consents are the choices of the forms of DESIGN
	// §10: what consent to ask, which consent a form answers or relies on.
	ConsentKinds, Consents []option
	// Key is the follow-up draft's idempotency key.
	Key string
}

// itemRow is one row of the execution's items as the form holds it.
type itemRow struct {
	IdentifierIndex, DataCategory, Outcome, Reason string
}

// conditionRow is one row of the proposed conditions as the form holds it.
type conditionRow struct {
	Kind, Text, DueTime string
}

// emptyConditionRows is how many conditions the proposal's form offers at
// first; the API takes up to maxConditionRows.
const emptyConditionRows = 3

// maxPrefilledItems bounds the execution's rows made from the request's
// identifiers and data categories.
const maxPrefilledItems = 60

// loadPractice fills in what the action's form needs of the request as it
// is now, and the user's input when the form comes back refused.
func (c *Console) loadPractice(ctx context.Context, pg page, z zones, v *authorityActionView, req *requestv1.Request, in url.Values) error {
	pv := &v.Practice
	from, to := req.GetRequestingState(), req.GetRequestedState()
	when := func(m moment) string {
		if !m.Set {
			return ""
		}
		parts := []string{m.UTC}
		for _, zt := range m.Zones {
			parts = append(parts, zt.Time+" "+zt.Zone)
		}
		return strings.Join(parts, " · ")
	}
	about := func(label, value string) {
		if value != "" {
			pv.About = append(pv.About, field{Label: pg.T(label), Value: value})
		}
	}
	switch v.Action.ID {
	case "grant_extension", "decline_extension":
		if e := pendingExtension(req); e != nil {
			about("practice.extension.days", strconv.Itoa(int(e.GetDays())))
			about("practice.extension.reason", e.GetReason())
			about("practice.extension.requested_by", actorText(e.GetRequestedBy()))
			about("practice.extension.request_time", when(z.at(e.GetRequestTime(), from, to)))
		}
	case "accept_conditions", "reject_conditions":
		cp := req.GetConditionsProposal()
		for _, cd := range cp.GetConditions() {
			about("practice.condition", conditionText(pg, z, cd, from, to))
		}
		about("practice.cost", costText(pg, cp.GetCost()))
	case "proceed":
		d := req.GetConfidentialityDeclaration()
		about("practice.declaration.explanation", d.GetExplanation())
		about("practice.declaration.declared_by", actorText(d.GetDeclaredBy()))
	case "release_preservation", "request_extension":
		about("practice.preservation.state", pg.T("preservation.state."+req.GetPreservation().GetState().String()))
	case "draft_follow_up":
		pv.Key = in.Get("request_id")
		if pv.Key == "" {
			pv.Key = newRequestID()
		}
		pv.Types = enumOptions(pg, "type.", directoryv1.RequestType_name)
		states, err := c.be.Directory.ListStates(ctx, &directoryv1.ListStatesRequest{})
		if err != nil {
			return err
		}
		for _, st := range states.GetStates() {
			if st.GetCode() != from {
				pv.States = append(pv.States, option{Value: st.GetCode(), Label: pg.T("state."+st.GetCode()) + " (" + st.GetCode() + ")"})
			}
		}
		for _, d := range req.GetChainDisclosures() {
			about("practice.chain", d.GetProvider()+" ("+d.GetCountry()+"): "+d.GetExplanation())
		}
		if !in.Has("type") {
			// The production announced, else a preservation where a
			// chain disclosure points to.
			in = cloneValues(in)
			if t := req.GetFollowUpIntended().GetProductionType(); t != 0 {
				in.Set("type", t.String())
			}
			in.Set("requested_state", to)
			if ds := req.GetChainDisclosures(); len(ds) > 0 {
				in.Set("type", directoryv1.RequestType_DATA_PRESERVATION.String())
				in.Set("requested_state", strings.ToUpper(ds[len(ds)-1].GetCountry()))
			}
			v.In = in
		}
	case "notify_impediment":
		pv.ImpedimentKinds = enumOptions(pg, "impediment.kind.", requestv1.Impediment_Kind_name)
	case "propose_conditions":
		pv.ConditionKinds = enumOptions(pg, "condition.kind.", requestv1.Condition_Kind_name)
		pv.CostKinds = enumOptions(pg, "cost.kind.", requestv1.Cost_Kind_name)
		n := rowCount(in, "conditions")
		if n == 0 {
			n = emptyConditionRows
		}
		for i := range n {
			k := func(s string) string { return in.Get(fmt.Sprintf("conditions[%d].%s", i, s)) }
			pv.Conditions = append(pv.Conditions, conditionRow{Kind: k("kind"), Text: k("text"), DueTime: k("due_time")})
		}
	case "execute":
		pv.Outcomes = enumOptions(pg, "outcome.", requestv1.ExecutionItem_Outcome_name)
		for i, id := range req.GetIdentifiers() {
			pv.Identifiers = append(pv.Identifiers, option{Value: strconv.Itoa(i),
				Label: fmt.Sprintf("%d. %s: %s", i+1, pg.T("field.identifier_kind."+id.GetKind().String()), id.GetValue())})
		}
		if n := rowCount(in, "items"); n > 0 {
			for i := range n {
				k := func(s string) string { return in.Get(fmt.Sprintf("items[%d].%s", i, s)) }
				pv.Items = append(pv.Items, itemRow{IdentifierIndex: k("identifier_index"), DataCategory: k("data_category"),
					Outcome: k("outcome"), Reason: k("reason")})
			}
			break
		}
		// One row for each identifier and data category asked for: the
		// requested side says what came of each.
		cats := req.GetDataCategories()
		if len(cats) == 0 {
			cats = []string{""}
		}
		for i := range req.GetIdentifiers() {
			for _, cat := range cats {
				if len(pv.Items) < maxPrefilledItems {
					pv.Items = append(pv.Items, itemRow{IdentifierIndex: strconv.Itoa(i), DataCategory: cat})
				}
			}
		}
		pv.Items = append(pv.Items, itemRow{})
	}
	return nil
}

// cloneValues copies form values, so that defaults set on them do not
// change the caller's.
func cloneValues(in url.Values) url.Values {
	out := url.Values{}
	for k, vs := range in {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// actorText is who did something: their name and agency.
func actorText(a *requestv1.Actor) string {
	name := firstNonEmpty(a.GetDisplayName(), a.GetSubject())
	if ag := strings.TrimPrefix(a.GetAgency(), "agencies/"); ag != "" {
		if name == "" {
			return ag
		}
		return name + " (" + ag + ")"
	}
	return name
}

// conditionText is a condition in words: its kind, text and due date.
func conditionText(pg page, z zones, cd *requestv1.Condition, states ...string) string {
	parts := []string{pg.T("condition.kind." + cd.GetKind().String())}
	if t := cd.GetText(); t != "" {
		parts = append(parts, t)
	}
	if m := z.at(cd.GetDueTime(), states...); m.Set {
		parts = append(parts, pg.T("practice.condition.due", map[string]any{"Time": m.UTC}))
	}
	return strings.Join(parts, " — ")
}

// costText is a cost in words, "" when none was given.
func costText(pg page, c *requestv1.Cost) string {
	if c == nil || (c.GetKind() == 0 && c.GetEstimate() == "" && c.GetBearer() == "") {
		return ""
	}
	var parts []string
	if c.GetKind() != 0 {
		parts = append(parts, pg.T("cost.kind."+c.GetKind().String()))
	}
	if c.GetEstimate() != "" {
		parts = append(parts, strings.TrimSpace(c.GetEstimate()+" "+c.GetCurrency()))
	}
	if c.GetBearer() != "" {
		parts = append(parts, pg.T("practice.cost.bearer", map[string]any{"Bearer": c.GetBearer()}))
	}
	return strings.Join(parts, " — ")
}
