package console

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// The actions of issue 14 (DESIGN §5.1–§5.5): the preservation's
// extensions, release and chain disclosures, execution item by item,
// impediments, postponement, conditions, confidentiality that cannot be
// kept, follow-up drafts and transfers of ownership. They use the central
// authority's action pages (authority.go); those of the requesting side
// name their roles. Each is offered from the statuses of its row of the
// lifecycle table (services/request/lifecycle.go), to the side and roles
// that row names; the service still decides.

// requestingRoles are who speaks for the requesting state: the owning
// prosecutor or the requesting state's central authority.
var requestingRoles = []string{"prosecutor", "central_authority"}

// Statuses of the lifecycle table's rows, as the console offers them.
var (
	statusesPending = []requestv1.Request_Status{
		requestv1.Request_ACKNOWLEDGED, requestv1.Request_CLARIFICATION_REQUESTED, requestv1.Request_CONDITIONS_PROPOSED,
		requestv1.Request_POSTPONED, requestv1.Request_AWAITING_REQUESTER_DECISION, requestv1.Request_ACCEPTED,
		requestv1.Request_PARTIALLY_EXECUTED,
	}
	statusesAfterTransmission = append(slices.Clone(statusesPending), requestv1.Request_TRANSMITTED,
		requestv1.Request_EXECUTED, requestv1.Request_REFUSED, requestv1.Request_WITHDRAWN, requestv1.Request_CLOSED)
	statusesTransferable = append(slices.Clone(statusesPending), requestv1.Request_DRAFT, requestv1.Request_SUBMITTED,
		requestv1.Request_TRANSMITTED, requestv1.Request_EXECUTED, requestv1.Request_REFUSED, requestv1.Request_WITHDRAWN)
	preservationOnly = []directoryv1.RequestType{directoryv1.RequestType_DATA_PRESERVATION}
	// preservationGrounds are the grounds on which a preservation may be
	// refused: DUAL_CRIMINALITY_NOT_MET only where the requested state
	// made the reservation of Budapest 29(4).
	preservationGrounds = []string{requestv1.Refusal_POLITICAL_OFFENCE.String(), requestv1.Refusal_ESSENTIAL_INTERESTS.String(),
		requestv1.Refusal_DUAL_CRIMINALITY_NOT_MET.String()}
)

// pendingExtension is the extension the requesting side asked for that
// the requested side has not decided yet, if any.
func pendingExtension(req *requestv1.Request) *requestv1.PreservationExtension {
	for _, e := range req.GetPreservation().GetExtensions() {
		if e.GetDecision() == requestv1.PreservationExtension_PENDING {
			return e
		}
	}
	return nil
}

// preservationIn says whether the request's preservation is in one of the
// states.
func preservationIn(states ...requestv1.Preservation_State) func(*requestv1.Request) bool {
	return func(req *requestv1.Request) bool {
		return slices.Contains(states, req.GetPreservation().GetState())
	}
}

// unconfirmed says whether the request was recorded from a call and not
// yet confirmed in writing.
func unconfirmed(req *requestv1.Request) bool {
	ch := req.GetIntake().GetChannel()
	return ch != requestv1.Intake_CHANNEL_UNSPECIFIED && ch != requestv1.Intake_PORTAL && req.GetIntake().GetConfirmTime() == nil
}

// practiceActions are the actions of issue 14, in the order the request's
// page lists them after the central authority's.
var practiceActions = []authorityAction{
	{
		requestAction: requestAction{ID: "request_extension", Label: "action.request_extension.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: []requestv1.Request_Status{requestv1.Request_EXECUTED}, Types: preservationOnly,
			Show: func(req *requestv1.Request) bool {
				return req.GetPreservation().GetState() == requestv1.Preservation_PRESERVED && pendingExtension(req) == nil
			}},
		Fields:    []string{"days", "reason"},
		Deadlines: []string{"deadline.preservation_expires_at", "deadline.extension_request_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			days, err := formInt("days", in.Get("days"))
			if err != nil {
				return "", err
			}
			_, err = rs.RequestExtension(ctx, &requestv1.RequestExtensionRequest{Name: name, Etag: etag, Reason: in.Get("reason"), Days: days})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "grant_extension", Label: "action.grant_extension.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_EXECUTED}, Types: preservationOnly,
			Show: func(req *requestv1.Request) bool { return pendingExtension(req) != nil }},
		Deadlines: []string{"deadline.preservation_expires_at"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.GrantExtension(ctx, &requestv1.GrantExtensionRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "decline_extension", Label: "action.decline_extension.link", Side: requestedSide, Danger: true,
			Statuses: []requestv1.Request_Status{requestv1.Request_EXECUTED}, Types: preservationOnly,
			Show: func(req *requestv1.Request) bool { return pendingExtension(req) != nil }},
		Fields:    []string{"reason"},
		Deadlines: []string{"deadline.preservation_expires_at"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.DeclineExtension(ctx, &requestv1.DeclineExtensionRequest{Name: name, Etag: etag, Reason: in.Get("reason")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "release_preservation", Label: "action.release_preservation.link", Side: requestingSide,
			Roles: requestingRoles, Danger: true, Statuses: []requestv1.Request_Status{requestv1.Request_EXECUTED}, Types: preservationOnly,
			// One held for its follow-up stays until that is decided
			// (Budapest 29(7)): the service refuses its release.
			Show: preservationIn(requestv1.Preservation_PRESERVED)},
		Fields:    []string{"reason"},
		Deadlines: []string{"deadline.preservation_expires_at"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.ReleasePreservation(ctx, &requestv1.ReleasePreservationRequest{Name: name, Etag: etag, Reason: in.Get("reason")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "disclose_chain", Label: "action.disclose_chain.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACCEPTED, requestv1.Request_PARTIALLY_EXECUTED, requestv1.Request_EXECUTED}},
		Fields: []string{"provider", "country", "explanation"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.DiscloseChain(ctx, &requestv1.DiscloseChainRequest{Name: name, Etag: etag,
				Provider: in.Get("provider"), Country: strings.ToUpper(strings.TrimSpace(in.Get("country"))), Explanation: in.Get("explanation")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "draft_follow_up", Label: "action.draft_follow_up.link", Side: requestingSide,
			Roles: []string{"prosecutor"}, Statuses: statusesAfterTransmission},
		Fields: []string{"type", "requested_state"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, _ string, in url.Values) (string, error) {
			resp, err := rs.DraftFollowUp(ctx, &requestv1.DraftFollowUpRequest{Name: name,
				Type:           directoryv1.RequestType(directoryv1.RequestType_value[in.Get("type")]),
				RequestedState: in.Get("requested_state"), RequestId: followUpKey(in.Get("request_id"))})
			return strings.TrimPrefix(resp.GetRequest().GetName(), "requests/"), err
		},
	},
	{
		requestAction: requestAction{ID: "notify_impediment", Label: "action.notify_impediment.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED, requestv1.Request_ACCEPTED, requestv1.Request_PARTIALLY_EXECUTED}},
		Fields:    []string{"kind", "explanation", "expected_time"},
		Deadlines: []string{"deadline.answer_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			expected, err := formTimestamp("expected_time", in.Get("expected_time"))
			if err != nil {
				return "", err
			}
			_, err = rs.NotifyImpediment(ctx, &requestv1.NotifyImpedimentRequest{Name: name, Etag: etag,
				Kind:        requestv1.Impediment_Kind(requestv1.Impediment_Kind_value[in.Get("kind")]),
				Explanation: in.Get("explanation"), ExpectedTime: expected})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "postpone", Label: "action.postpone.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED, requestv1.Request_ACCEPTED}},
		Fields:    []string{"until", "reason"},
		Deadlines: []string{"deadline.answer_by"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			until, err := formTimestamp("until", in.Get("until"))
			if err != nil {
				return "", err
			}
			_, err = rs.PostponeRequest(ctx, &requestv1.PostponeRequestRequest{Name: name, Etag: etag, Until: until, Reason: in.Get("reason")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "resume", Label: "action.resume.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_POSTPONED}},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.ResumeRequest(ctx, &requestv1.ResumeRequestRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "propose_conditions", Label: "action.propose_conditions.link", Side: requestedSide,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED}},
		Fields:    []string{"conditions", "cost.kind", "cost.estimate", "cost.currency", "cost.bearer", "cost"},
		Deadlines: []string{"deadline.answer_by"},
		Renumber:  renumberRows("conditions", "conditions", conditionFilled),
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			req := &requestv1.ProposeConditionsRequest{Name: name, Etag: etag}
			for _, i := range filledRows(in, "conditions", conditionFilled) {
				k := func(s string) string { return in.Get(fmt.Sprintf("conditions[%d].%s", i, s)) }
				due, err := formTimestamp(fmt.Sprintf("conditions[%d].due_time", i), k("due_time"))
				if err != nil {
					return "", err
				}
				req.Conditions = append(req.Conditions, &requestv1.Condition{
					Kind: requestv1.Condition_Kind(requestv1.Condition_Kind_value[k("kind")]), Text: k("text"), DueTime: due})
			}
			cost := &requestv1.Cost{Kind: requestv1.Cost_Kind(requestv1.Cost_Kind_value[in.Get("cost.kind")]),
				Estimate: strings.TrimSpace(in.Get("cost.estimate")), Currency: strings.ToUpper(strings.TrimSpace(in.Get("cost.currency"))),
				Bearer: in.Get("cost.bearer")}
			if cost.Kind != 0 || cost.Estimate != "" || cost.Currency != "" || cost.Bearer != "" {
				req.Cost = cost
			}
			_, err := rs.ProposeConditions(ctx, req)
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "accept_conditions", Label: "action.accept_conditions.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: []requestv1.Request_Status{requestv1.Request_CONDITIONS_PROPOSED}},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.AcceptConditions(ctx, &requestv1.AcceptConditionsRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "reject_conditions", Label: "action.reject_conditions.link", Side: requestingSide,
			Roles: requestingRoles, Danger: true, Statuses: []requestv1.Request_Status{requestv1.Request_CONDITIONS_PROPOSED}},
		Fields: []string{"reason"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.RejectConditions(ctx, &requestv1.RejectConditionsRequest{Name: name, Etag: etag, Reason: in.Get("reason")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "declare_confidentiality_impossible", Label: "action.declare_confidentiality_impossible.link",
			Side: requestedSide, Danger: true,
			Statuses: []requestv1.Request_Status{requestv1.Request_ACKNOWLEDGED, requestv1.Request_ACCEPTED, requestv1.Request_PARTIALLY_EXECUTED}},
		Fields: []string{"explanation"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.DeclareConfidentialityImpossible(ctx, &requestv1.DeclareConfidentialityImpossibleRequest{
				Name: name, Etag: etag, Explanation: in.Get("explanation")})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "proceed", Label: "action.proceed.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: []requestv1.Request_Status{requestv1.Request_AWAITING_REQUESTER_DECISION}},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, _ url.Values) (string, error) {
			_, err := rs.ProceedRequest(ctx, &requestv1.ProceedRequestRequest{Name: name, Etag: etag})
			return "", err
		},
	},
	{
		requestAction: requestAction{ID: "transfer_ownership", Label: "action.transfer_ownership.link", Side: requestingSide,
			Roles: requestingRoles, Statuses: statusesTransferable},
		Fields: []string{"owner", "reason"},
		Perform: func(ctx context.Context, rs requestv1.RequestServiceClient, name, etag string, in url.Values) (string, error) {
			_, err := rs.TransferOwnership(ctx, &requestv1.TransferOwnershipRequest{Name: name, Etag: etag,
				Owner: strings.TrimSpace(in.Get("owner")), Reason: in.Get("reason")})
			return "", err
		},
	},
}

// executeItems are the execution's items the form's filled rows describe
// (a row whose outcome is not chosen is not sent).
func executeItems(in url.Values) ([]*requestv1.ExecutionItem, error) {
	var out []*requestv1.ExecutionItem
	for _, i := range filledRows(in, "items", itemFilled) {
		k := func(s string) string { return in.Get(fmt.Sprintf("items[%d].%s", i, s)) }
		field := fmt.Sprintf("items[%d].identifier_index", i)
		if strings.TrimSpace(k("identifier_index")) == "" {
			// Unchosen is no identifier, not the first one.
			return nil, formRefusal(field, "FORM_IDENTIFIER", "choose the identifier the item is about")
		}
		idx, err := formInt(field, k("identifier_index"))
		if err != nil {
			return nil, err
		}
		out = append(out, &requestv1.ExecutionItem{IdentifierIndex: idx, DataCategory: k("data_category"),
			Outcome: requestv1.ExecutionItem_Outcome(requestv1.ExecutionItem_Outcome_value[k("outcome")]), Reason: k("reason")})
	}
	return out, nil
}

// Bounds of the repeatable rows of the action forms, as the API bounds
// them.
const (
	maxItemRows      = 1000
	maxConditionRows = 20
)

// rowCount is how many rows of a repeatable group the form says it has.
func rowCount(in url.Values, group string) int {
	limit := maxItemRows
	if group == "conditions" || group == "use_conditions" {
		limit = maxConditionRows
	}
	n, err := strconv.Atoi(in.Get(group + "_rows"))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, limit)
}

func itemFilled(in url.Values, i int) bool {
	return in.Get(fmt.Sprintf("items[%d].outcome", i)) != ""
}

func conditionFilled(in url.Values, i int) bool {
	return in.Get(fmt.Sprintf("conditions[%d].kind", i)) != "" || strings.TrimSpace(in.Get(fmt.Sprintf("conditions[%d].text", i))) != ""
}

// filledRows are the form's rows of group that the user filled, in order.
func filledRows(in url.Values, group string, filled func(url.Values, int) bool) []int {
	var out []int
	for i := range rowCount(in, group) {
		if filled(in, i) {
			out = append(out, i)
		}
	}
	return out
}

var rowIndex = regexp.MustCompile(`^([a-z_]+)\[(\d+)\](.*)$`)

// rowFields are the field paths of the form's repeatable rows, most
// specific first, so that a complaint about a row's input lands next to it.
func rowFields(in url.Values) []string {
	var out []string
	for _, g := range []struct {
		group string
		names []string
	}{
		{"items", []string{"identifier_index", "data_category", "outcome", "reason"}},
		{"conditions", []string{"kind", "text", "due_time"}},
		{"use_conditions", []string{"kind", "text", "due_time"}},
	} {
		for i := range rowCount(in, g.group) {
			for _, n := range g.names {
				out = append(out, fmt.Sprintf("%s[%d].%s", g.group, i, n))
			}
			out = append(out, fmt.Sprintf("%s[%d]", g.group, i))
		}
	}
	return out
}

// renumberRows turns the service's "items[k]…" (the k-th row sent) into
// the form's row: the service names the rows it was sent, the form
// numbers all of its rows.
func renumberRows(apiGroup, formGroup string, filled func(url.Values, int) bool) func(url.Values, string) string {
	return func(in url.Values, field string) string {
		m := rowIndex.FindStringSubmatch(field)
		if m == nil || m[1] != apiGroup {
			return field
		}
		k, _ := strconv.Atoi(m[2])
		rows := filledRows(in, formGroup, filled)
		if k >= len(rows) {
			return field
		}
		return fmt.Sprintf("%s[%d]%s", formGroup, rows[k], m[3])
	}
}

// formInt reads a whole number of the form; a text that is none is
// refused next to its field, as the service refuses.
func formInt(field, s string) (int32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, formRefusal(field, "FORM_NUMBER", "enter a whole number")
	}
	return int32(n), nil
}

// formTimestamp reads a datetime-local value of the form as UTC.
func formTimestamp(field, s string) (*timestamppb.Timestamp, error) {
	ts, ok := formTime(s)
	if !ok {
		return nil, formRefusal(field, "FORM_TIME", "enter a date and time, e.g. 2026-03-05 14:30")
	}
	return ts, nil
}

// formRefusal is the console's own refusal of a value it cannot read, as
// the service would refuse it: INVALID_ARGUMENT naming the field, with a
// reason code the catalog words in the user's language.
func formRefusal(field, reason, desc string) error {
	st, err := status.New(codes.InvalidArgument, field+": "+desc).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Reason: reason, Description: desc}},
	})
	if err != nil {
		return status.Error(codes.InvalidArgument, field+": "+desc)
	}
	return st.Err()
}

// followUpKey is the follow-up draft's idempotency key from the form, so
// that a form sent twice makes one draft; a key that is none is replaced.
func followUpKey(k string) string {
	if !idempotencyKeyPattern.MatchString(k) {
		return newRequestID()
	}
	return k
}

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
