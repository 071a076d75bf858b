package console

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// The actions and content of DESIGN §10 (data protection): use conditions
// that bind the requesting side and its acknowledgement, consents, onward
// transfers, reports of use, the legal hold and what was erased. The
// actions use the central authority's action pages (authority.go), each
// offered from the statuses of its row of the lifecycle table, to the side
// and roles that row names; the service still decides.

// statusesUnderConditions are the statuses in which use conditions bind
// (the lifecycle's underConditions).
var statusesUnderConditions = []requestv1.Request_Status{
	requestv1.Request_ACCEPTED, requestv1.Request_PARTIALLY_EXECUTED, requestv1.Request_EXECUTED, requestv1.Request_POSTPONED,
	requestv1.Request_AWAITING_REQUESTER_DECISION, requestv1.Request_WITHDRAWN, requestv1.Request_CLOSED,
}

// statusesAll are every status: a legal hold may be set at any.
var statusesAll = func() []requestv1.Request_Status {
	var out []requestv1.Request_Status
	for n := int32(1); n < int32(len(requestv1.Request_Status_name)); n++ {
		out = append(out, requestv1.Request_Status(n))
	}
	return out
}()

// unacknowledged is how many of the binding conditions the requesting side
// has not acknowledged yet.
func unacknowledged(req *requestv1.Request) int {
	return max(0, len(req.GetBindingConditions())-int(req.GetConditionsAcknowledgement().GetConditions()))
}

// binds says whether a condition of the kind binds the request.
func binds(req *requestv1.Request, kind requestv1.Condition_Kind) bool {
	for _, c := range req.GetBindingConditions() {
		if c.GetKind() == kind {
			return true
		}
	}
	return false
}

// consentsIn are the request's consents whose decision is d (and, when
// kind is set, whose kind is kind).
func consentsIn(req *requestv1.Request, d requestv1.Consent_Decision, kind requestv1.Consent_Kind) []*requestv1.Consent {
	var out []*requestv1.Consent
	for _, c := range req.GetConsents() {
		if c.GetDecision() == d && (kind == 0 || c.GetKind() == kind) {
			out = append(out, c)
		}
	}
	return out
}

// contentErased says whether the request's content was erased.
func contentErased(req *requestv1.Request) bool {
	for _, e := range req.GetErasures() {
		if e.GetScope() == requestv1.Erasure_CONTENT {
			return true
		}
	}
	return false
}

// holds says whether a legal hold is set and not lifted.
func holds(req *requestv1.Request) bool {
	h := req.GetLegalHold()
	return h != nil && h.GetSetTime() != nil && h.GetLiftTime() == nil
}

// notErased is the Show of the actions on what was received: none is left
// to act on once the content was erased.
func notErased(req *requestv1.Request) bool { return !contentErased(req) }

// dataProtectionActions are the actions of DESIGN §10, in the order the
// request's page lists them after issue 14's.
var dataProtectionActions = []authorityAction{
	{
		requestAction: requestAction{ID: "acknowledge_conditions", Label: "action.acknowledge_conditions.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: statusesUnderConditions,
			Show: func(req *requestv1.Request) bool { return unacknowledged(req) > 0 }},
		Deadlines: []string{"deadline.evidence_erase_by", "deadline.report_use_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.AcknowledgeConditions(ctx, &requestv1.AcknowledgeConditionsRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "request_consent", Label: "action.request_consent.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: statusesUnderConditions, Show: notErased},
		Fields:    []string{"kind", "purpose", "recipient", "keep_until"},
		Deadlines: []string{"deadline.evidence_erase_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			keep, err := formOptionalTimestamp("keep_until", in.Get("keep_until"))
			if err != nil {
				return "", err
			}
			_, err = rs.RequestConsent(ctx, &requestv1.RequestConsentRequest{Name: name, Etag: etag,
				Kind:    requestv1.Consent_Kind(requestv1.Consent_Kind_value[in.Get("kind")]),
				Purpose: in.Get("purpose"), Recipient: strings.TrimSpace(in.Get("recipient")), KeepUntil: keep})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "grant_consent", Label: "action.grant_consent.link", Side: requestedSide,
			Statuses: statusesUnderConditions,
			Show:     func(req *requestv1.Request) bool { return len(consentsIn(req, requestv1.Consent_PENDING, 0)) > 0 }},
		Fields: []string{"consent", "terms"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			n, err := formConsent(in)
			if err != nil {
				return "", err
			}
			_, err = rs.GrantConsent(ctx, &requestv1.GrantConsentRequest{Name: name, Etag: etag, Consent: n, Terms: in.Get("terms")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "refuse_consent", Label: "action.refuse_consent.link", Side: requestedSide, Danger: true,
			Statuses: statusesUnderConditions,
			Show:     func(req *requestv1.Request) bool { return len(consentsIn(req, requestv1.Consent_PENDING, 0)) > 0 }},
		Fields: []string{"consent", "reason"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			n, err := formConsent(in)
			if err != nil {
				return "", err
			}
			_, err = rs.RefuseConsent(ctx, &requestv1.RefuseConsentRequest{Name: name, Etag: etag, Consent: n, Reason: in.Get("reason")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "record_onward_transfer", Label: "action.record_onward_transfer.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: statusesUnderConditions, Show: notErased},
		Fields: []string{"recipient", "authorisation", "consent"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			n, err := formInt("consent", in.Get("consent"))
			if err != nil {
				return "", err
			}
			_, err = rs.RecordOnwardTransfer(ctx, &requestv1.RecordOnwardTransferRequest{Name: name, Etag: etag,
				Recipient: strings.TrimSpace(in.Get("recipient")), Authorisation: in.Get("authorisation"), Consent: n})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "report_use", Label: "action.report_use.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: statusesUnderConditions,
			Show: func(req *requestv1.Request) bool { return binds(req, requestv1.Condition_REPORT_USE) }},
		Fields:    []string{"text"},
		Deadlines: []string{"deadline.report_use_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.ReportUse(ctx, &requestv1.ReportUseRequest{Name: name, Etag: etag, Text: in.Get("text")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "set_legal_hold", Label: "action.set_legal_hold.link", Side: requestingSide,
			Statuses: statusesAll, Show: notErased},
		Fields:    []string{"reason", "review_time"},
		Deadlines: []string{"deadline.erase_by", "deadline.legal_hold_review_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			review, err := formOptionalTimestamp("review_time", in.Get("review_time"))
			if err != nil {
				return "", err
			}
			_, err = rs.SetLegalHold(ctx, &requestv1.SetLegalHoldRequest{Name: name, Etag: etag, Reason: in.Get("reason"), ReviewTime: review})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "lift_legal_hold", Label: "action.lift_legal_hold.link", Side: requestingSide, Danger: true,
			Statuses: statusesAll, Show: holds},
		Fields:    []string{"reason"},
		Deadlines: []string{"deadline.legal_hold_review_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.LiftLegalHold(ctx, &requestv1.LiftLegalHoldRequest{Name: name, Etag: etag, Reason: in.Get("reason")})
			return "", err
		},
	},
}

// formConsent is the consent the form names, by its number; none chosen is
// refused next to the field, as the service would.
func formConsent(in url.Values) (int32, error) {
	if strings.TrimSpace(in.Get("consent")) == "" {
		return 0, formRefusal("consent", "FORM_CONSENT", "choose the consent you answer")
	}
	return formInt("consent", in.Get("consent"))
}

// formOptionalTimestamp is formTimestamp for a field that may be left
// empty (nil then, for the service to say whether it is needed).
func formOptionalTimestamp(field, s string) (*timestamppb.Timestamp, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return formTimestamp(field, s)
}

// useConditionFilled says whether the accept form's use condition row i
// was filled in.
func useConditionFilled(in url.Values, i int) bool {
	return in.Get(fmt.Sprintf("use_conditions[%d].kind", i)) != "" ||
		strings.TrimSpace(in.Get(fmt.Sprintf("use_conditions[%d].text", i))) != ""
}

// useConditions are the use conditions the accept form's filled rows
// impose.
func useConditions(in url.Values) ([]*requestv1.Condition, error) {
	var out []*requestv1.Condition
	for _, i := range filledRows(in, "use_conditions", useConditionFilled) {
		k := func(s string) string { return in.Get(fmt.Sprintf("use_conditions[%d].%s", i, s)) }
		due, err := formOptionalTimestamp(fmt.Sprintf("use_conditions[%d].due_time", i), k("due_time"))
		if err != nil {
			return nil, err
		}
		out = append(out, &requestv1.Condition{Kind: requestv1.Condition_Kind(requestv1.Condition_Kind_value[k("kind")]),
			Text: k("text"), DueTime: due})
	}
	return out, nil
}

// dataProtectionView is what a request's page shows of DESIGN §10.
type dataProtectionView struct {
	// Conditions are the binding conditions, each with whether the
	// requesting side acknowledged it.
	Conditions []boundCondition
	// Acknowledgement says who acknowledged them and when; Pending how many
	// are not acknowledged yet.
	Acknowledgement string
	Pending         int
	Consents        []consentView
	Transfers       []transferView
	Reports         []reportView
	// Hold is the legal hold, nil when none was ever set; Held says it
	// holds now.
	Hold []field
	Held bool
	// Erasures are what was erased, in words.
	Erasures []erasureView
	// ContentErased says that only the request's metadata remain.
	ContentErased bool
}

// Any says whether the section has anything to show.
func (v dataProtectionView) Any() bool {
	return len(v.Conditions) > 0 || len(v.Consents) > 0 || len(v.Transfers) > 0 || len(v.Reports) > 0 || len(v.Hold) > 0
}

type boundCondition struct {
	Text         string
	Acknowledged bool
	KindCode     string
}

type consentView struct {
	Number                   int
	Kind, KindCode, Purpose  string
	Recipient, KeepUntil     string
	Decision, DecisionCode   string
	RequestedBy, RequestAt   string
	DecidedBy, DecideAt, Ans string
}

type transferView struct {
	Recipient, Authorisation, Consent, By, At string
}

type reportView struct {
	Text, By, At string
}

type erasureView struct {
	// Text says what was erased, when and why.
	Text, ScopeCode string
	// Finishing says that the files are not all gone yet.
	Finishing bool
}

// dataProtectionOf is the content of DESIGN §10 of req as its page shows
// it.
func dataProtectionOf(pg page, z zones, req *requestv1.Request) dataProtectionView {
	from, to := req.GetRequestingState(), req.GetRequestedState()
	at := func(ts *timestamppb.Timestamp) string {
		m := z.at(ts, from, to)
		if !m.Set {
			return ""
		}
		parts := []string{m.UTC}
		for _, zt := range m.Zones {
			parts = append(parts, zt.Time+" "+zt.Zone)
		}
		return strings.Join(parts, " · ")
	}
	var v dataProtectionView
	ack := req.GetConditionsAcknowledgement()
	for i, c := range req.GetBindingConditions() {
		v.Conditions = append(v.Conditions, boundCondition{Text: conditionText(pg, z, c, from, to),
			Acknowledged: i < int(ack.GetConditions()), KindCode: c.GetKind().String()})
	}
	v.Pending = unacknowledged(req)
	if ack.GetAcknowledgeTime() != nil {
		v.Acknowledgement = pg.T("dataprotection.acknowledged_by", map[string]any{"By": actorText(ack.GetAcknowledgedBy()),
			"At": at(ack.GetAcknowledgeTime()), "Count": int(ack.GetConditions())})
	}
	for _, c := range req.GetConsents() {
		v.Consents = append(v.Consents, consentView{Number: int(c.GetNumber()),
			Kind: pg.T("consent.kind." + c.GetKind().String()), KindCode: c.GetKind().String(), Purpose: c.GetPurpose(),
			Recipient: c.GetRecipient(), KeepUntil: at(c.GetKeepUntil()),
			Decision: pg.T("consent.decision." + c.GetDecision().String()), DecisionCode: strings.ToLower(c.GetDecision().String()),
			RequestedBy: actorText(c.GetRequestedBy()), RequestAt: at(c.GetRequestTime()),
			DecidedBy: actorText(c.GetDecidedBy()), DecideAt: at(c.GetDecideTime()), Ans: c.GetAnswer()})
	}
	for _, t := range req.GetOnwardTransfers() {
		consent := ""
		if t.GetConsent() > 0 {
			consent = pg.T("dataprotection.transfer.consent", map[string]any{"Number": int(t.GetConsent())})
		}
		v.Transfers = append(v.Transfers, transferView{Recipient: t.GetRecipient(), Authorisation: t.GetAuthorisation(),
			Consent: consent, By: actorText(t.GetRecordedBy()), At: at(t.GetRecordTime())})
	}
	for _, r := range req.GetUseReports() {
		v.Reports = append(v.Reports, reportView{Text: r.GetText(), By: actorText(r.GetReportedBy()), At: at(r.GetReportTime())})
	}
	if h := req.GetLegalHold(); h != nil && h.GetSetTime() != nil {
		v.Held = holds(req)
		for _, f := range []field{
			{"dataprotection.hold.state", map[bool]string{true: pg.T("dataprotection.hold.holds"), false: pg.T("dataprotection.hold.lifted")}[v.Held]},
			{"dataprotection.hold.reason", h.GetReason()},
			{"dataprotection.hold.set_by", actorText(h.GetSetBy())},
			{"dataprotection.hold.set_time", at(h.GetSetTime())},
			{"dataprotection.hold.review_time", at(h.GetReviewTime())},
			{"dataprotection.hold.lifted_by", actorText(h.GetLiftedBy())},
			{"dataprotection.hold.lift_time", at(h.GetLiftTime())},
			{"dataprotection.hold.lift_reason", h.GetLiftReason()},
		} {
			if f.Value != "" {
				v.Hold = append(v.Hold, field{Label: pg.T(f.Label), Value: f.Value})
			}
		}
	}
	for _, e := range req.GetErasures() {
		ev := erasureView{ScopeCode: strings.ToLower(e.GetScope().String()), Finishing: e.GetCompleteTime() == nil}
		data := map[string]any{"At": at(e.GetEraseTime()), "Cause": pg.T("erasure.cause." + e.GetCause().String()),
			"Count": len(e.GetAttachments())}
		ev.Text = pg.T("erasure.scope."+e.GetScope().String(), data)
		if e.GetScope() == requestv1.Erasure_CONTENT {
			v.ContentErased = true
		}
		v.Erasures = append(v.Erasures, ev)
	}
	return v
}

// consentOptions are the consents a form may answer or rely on, as a
// select offers them.
func consentOptions(pg page, cs []*requestv1.Consent) []option {
	var out []option
	for _, c := range cs {
		label := pg.T("dataprotection.consent.option", map[string]any{"Number": int(c.GetNumber()),
			"Kind": pg.T("consent.kind." + c.GetKind().String()), "Purpose": c.GetPurpose()})
		if c.GetRecipient() != "" {
			label += " → " + c.GetRecipient()
		}
		out = append(out, option{Value: strconv.Itoa(int(c.GetNumber())), Label: label})
	}
	return out
}

// loadDataProtection fills in what the forms of DESIGN §10 need of the
// request as it is now.
func loadDataProtection(pg page, z zones, v *authorityActionView, req *requestv1.Request) {
	pv := &v.Practice
	from, to := req.GetRequestingState(), req.GetRequestedState()
	about := func(label, value string) {
		if value != "" {
			pv.About = append(pv.About, field{Label: pg.T(label), Value: value})
		}
	}
	switch v.Action.ID {
	case "acknowledge_conditions":
		for _, cd := range req.GetBindingConditions()[len(req.GetBindingConditions())-unacknowledged(req):] {
			about("practice.condition", conditionText(pg, z, cd, from, to))
		}
	case "request_consent":
		for _, cd := range req.GetBindingConditions() {
			about("practice.condition", conditionText(pg, z, cd, from, to))
		}
		pv.ConsentKinds = enumOptions(pg, "consent.kind.", requestv1.Consent_Kind_name)
	case "grant_consent", "refuse_consent":
		pv.Consents = consentOptions(pg, consentsIn(req, requestv1.Consent_PENDING, 0))
		for _, c := range consentsIn(req, requestv1.Consent_PENDING, 0) {
			about("dataprotection.consent", consentOptions(pg, []*requestv1.Consent{c})[0].Label)
		}
		if len(pv.Consents) == 1 && !v.In.Has("consent") {
			in := cloneValues(v.In)
			in.Set("consent", pv.Consents[0].Value)
			v.In = in
		}
	case "record_onward_transfer":
		for _, cd := range req.GetBindingConditions() {
			about("practice.condition", conditionText(pg, z, cd, from, to))
		}
		pv.Consents = consentOptions(pg, consentsIn(req, requestv1.Consent_GRANTED, requestv1.Consent_ONWARD_TRANSFER))
	case "report_use":
		for _, cd := range req.GetBindingConditions() {
			if cd.GetKind() == requestv1.Condition_REPORT_USE {
				about("practice.condition", conditionText(pg, z, cd, from, to))
			}
		}
	case "set_legal_hold", "lift_legal_hold":
		if h := req.GetLegalHold(); holds(req) {
			about("dataprotection.hold.reason", h.GetReason())
			about("dataprotection.hold.review_time", z.at(h.GetReviewTime(), from, to).UTC)
		}
	}
}
