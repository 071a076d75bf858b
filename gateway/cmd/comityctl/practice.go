package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// This file holds the commands of the actions of DESIGN §5.1–§5.5
// (preservation, execution item by item, postponement and conditions,
// urgent requests by phone, confidentiality, ownership) and the flags of
// the contents §5.5 adds to a draft.

var (
	// agencyPattern is an agency's name, as the API takes it.
	agencyPattern = regexp.MustCompile(`^agencies/[a-z0-9][a-z0-9-]{0,62}$`)
	// estimatePattern is a cost estimate, as the API takes it.
	estimatePattern = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,2})?$`)
)

// contentFlags are the fields of a draft that DESIGN §5.1, §5.4 and §5.5
// add: who holds the data, the follow-up intended, confidentiality, the
// investigating authority, purpose, requested procedure and contact.
type contentFlags struct {
	custodianProvider, custodianCountry, custodianService, custodianAccount string
	followUpIntended                                                        bool
	followUpType                                                            string
	confidentialRequest, confidentialObtained                               bool
	confidentialityReason                                                   string
	authorityName, authorityCase, purpose                                   string
	procedureFormat, procedureCertification                                 string
	contactName, contactPhone, contactEmail, contactHours, contactTimeZone  string
}

func (d *contentFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&d.custodianProvider, "custodian-provider", "", "the provider holding the data, e.g. 'Example Telecom LLP' (required to submit a preservation)")
	f.StringVar(&d.custodianCountry, "custodian-country", "", "ISO code of the state where the provider holds the data, e.g. UZ")
	f.StringVar(&d.custodianService, "custodian-service", "", "the provider's service concerned, e.g. 'mobile internet'")
	f.StringVar(&d.custodianAccount, "custodian-account", "", "the account or subscription at the provider")
	f.BoolVar(&d.followUpIntended, "follow-up-intended", false, "a request for the preserved data will follow (required to submit a preservation)")
	enumFlag(c, &d.followUpType, "follow-up-type", "the type of the request that will follow a preservation", directoryv1.RequestType(0).Descriptor())
	f.BoolVar(&d.confidentialRequest, "confidential-request", false, "the request itself (its existence and content) must stay confidential")
	f.BoolVar(&d.confidentialObtained, "confidential-obtained", false, "the information obtained must stay confidential")
	f.StringVar(&d.confidentialityReason, "confidentiality-reason", "", "why confidentiality is needed")
	f.StringVar(&d.authorityName, "investigating-authority", "", "the authority conducting the investigation")
	f.StringVar(&d.authorityCase, "investigating-case-number", "", "the investigating authority's case number")
	f.StringVar(&d.purpose, "purpose", "", "the purpose of the request")
	f.StringVar(&d.procedureFormat, "procedure-format", "", "the form in which the data is wanted, e.g. 'CSV export with provider certificate'")
	f.StringVar(&d.procedureCertification, "procedure-certification", "", "the certification needed, e.g. 'certified by the provider's custodian of records'")
	f.StringVar(&d.contactName, "contact-name", "", "whom the requested side can contact: full name")
	f.StringVar(&d.contactPhone, "contact-phone", "", "the contact's telephone, in international format")
	f.StringVar(&d.contactEmail, "contact-email", "", "the contact's e-mail")
	f.StringVar(&d.contactHours, "contact-hours", "", "the contact's working hours, e.g. '09:00–18:00 Mon–Fri'")
	f.StringVar(&d.contactTimeZone, "contact-time-zone", "", "the contact's IANA time zone, e.g. Asia/Almaty")
}

// apply sets on r the fields whose flags were given and returns their
// update-mask paths (JSON names).
func (d *contentFlags) apply(c *cobra.Command, r *requestv1.Request) ([]string, error) {
	var mask []string
	changed := func(name, path string) bool {
		if c.Flags().Changed(name) {
			mask = append(mask, path)
			return true
		}
		return false
	}
	custodian := func() *requestv1.Custodian {
		if r.Custodian == nil {
			r.Custodian = &requestv1.Custodian{}
		}
		return r.Custodian
	}
	followUp := func() *requestv1.FollowUpIntended {
		if r.FollowUpIntended == nil {
			r.FollowUpIntended = &requestv1.FollowUpIntended{}
		}
		return r.FollowUpIntended
	}
	conf := func() *requestv1.Confidentiality {
		if r.Confidentiality == nil {
			r.Confidentiality = &requestv1.Confidentiality{}
		}
		return r.Confidentiality
	}
	authority := func() *requestv1.InvestigatingAuthority {
		if r.InvestigatingAuthority == nil {
			r.InvestigatingAuthority = &requestv1.InvestigatingAuthority{}
		}
		return r.InvestigatingAuthority
	}
	procedure := func() *requestv1.RequestedProcedure {
		if r.RequestedProcedure == nil {
			r.RequestedProcedure = &requestv1.RequestedProcedure{}
		}
		return r.RequestedProcedure
	}
	contact := func() *requestv1.Contact {
		if r.Contact == nil {
			r.Contact = &requestv1.Contact{}
		}
		return r.Contact
	}
	if changed("custodian-country", "custodian.country") {
		if v := strings.TrimSpace(d.custodianCountry); v != "" && !statePattern.MatchString(strings.ToUpper(v)) {
			return nil, fmt.Errorf("%w: --custodian-country %q: want a state's two-letter ISO code, e.g. UZ", errUsage, d.custodianCountry)
		}
		custodian().Country = strings.ToUpper(strings.TrimSpace(d.custodianCountry))
	}
	if changed("follow-up-type", "followUpIntended.productionType") {
		n, err := enumValue("follow-up-type", d.followUpType, directoryv1.RequestType(0).Descriptor())
		if err != nil {
			return nil, err
		}
		followUp().ProductionType = directoryv1.RequestType(n)
	}
	if changed("follow-up-intended", "followUpIntended.intended") {
		followUp().Intended = d.followUpIntended
	}
	if changed("confidential-request", "confidentiality.request") {
		conf().Request = d.confidentialRequest
	}
	if changed("confidential-obtained", "confidentiality.obtainedInformation") {
		conf().ObtainedInformation = d.confidentialObtained
	}
	for _, s := range []struct {
		flag, path string
		dst        func() *string
		v          string
	}{
		{"custodian-provider", "custodian.provider", func() *string { return &custodian().Provider }, d.custodianProvider},
		{"custodian-service", "custodian.service", func() *string { return &custodian().Service }, d.custodianService},
		{"custodian-account", "custodian.accountReference", func() *string { return &custodian().AccountReference }, d.custodianAccount},
		{"confidentiality-reason", "confidentiality.reason", func() *string { return &conf().Reason }, d.confidentialityReason},
		{"investigating-authority", "investigatingAuthority.name", func() *string { return &authority().Name }, d.authorityName},
		{"investigating-case-number", "investigatingAuthority.caseNumber", func() *string { return &authority().CaseNumber }, d.authorityCase},
		{"purpose", "purpose", func() *string { return &r.Purpose }, d.purpose},
		{"procedure-format", "requestedProcedure.format", func() *string { return &procedure().Format }, d.procedureFormat},
		{"procedure-certification", "requestedProcedure.certification", func() *string { return &procedure().Certification }, d.procedureCertification},
		{"contact-name", "contact.fullName", func() *string { return &contact().FullName }, d.contactName},
		{"contact-phone", "contact.phone", func() *string { return &contact().Phone }, d.contactPhone},
		{"contact-email", "contact.email", func() *string { return &contact().Email }, d.contactEmail},
		{"contact-hours", "contact.hours", func() *string { return &contact().Hours }, d.contactHours},
		{"contact-time-zone", "contact.timeZone", func() *string { return &contact().TimeZone }, d.contactTimeZone},
	} {
		if changed(s.flag, s.path) {
			*s.dst() = s.v
		}
	}
	return mask, nil
}

// personKeys are the keys a --person value may give after its name and
// role.
var personKeys = []string{"kind", "date-of-birth", "nationality", "place-of-birth", "residence", "occupation",
	"registered-address", "registration-number", "representative"}

// parsePerson reads a --person value: 'FULL NAME[:ROLE][;KEY=VALUE…]'. A
// representative is 'representative=NAME[/CAPACITY[/ADDRESS]]', and may be
// given more than once.
func parsePerson(s string) (*requestv1.Person, error) {
	parts := strings.Split(s, ";")
	name, role, _ := strings.Cut(parts[0], ":")
	p := &requestv1.Person{FullName: strings.TrimSpace(name), Role: strings.TrimSpace(role)}
	if p.FullName == "" {
		return nil, fmt.Errorf("%w: --person %q: the person's full name comes first, e.g. 'Unknown person:suspect'", errUsage, s)
	}
	for _, kv := range parts[1:] {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return nil, fmt.Errorf("%w: --person %q: %q is not KEY=VALUE (KEY one of %s)", errUsage, s, kv, strings.Join(personKeys, ", "))
		}
		switch k {
		case "kind":
			n, err := enumValue("person "+strconv.Quote(s)+" kind", v, requestv1.Person_Kind(0).Descriptor())
			if err != nil {
				return nil, err
			}
			p.Kind = requestv1.Person_Kind(n)
		case "date-of-birth":
			p.DateOfBirth = v
		case "nationality":
			p.Nationality = strings.ToUpper(v)
		case "place-of-birth":
			p.PlaceOfBirth = v
		case "residence":
			p.Residence = v
		case "occupation":
			p.Occupation = v
		case "registered-address":
			p.RegisteredAddress = v
		case "registration-number":
			p.RegistrationNumber = v
		case "representative":
			rn, rest, _ := strings.Cut(v, "/")
			capacity, address, _ := strings.Cut(rest, "/")
			if strings.TrimSpace(rn) == "" {
				return nil, fmt.Errorf("%w: --person %q: a representative is NAME[/CAPACITY[/ADDRESS]]", errUsage, s)
			}
			p.Representatives = append(p.Representatives, &requestv1.Representative{FullName: strings.TrimSpace(rn),
				Capacity: strings.TrimSpace(capacity), Address: strings.TrimSpace(address)})
		default:
			return nil, fmt.Errorf("%w: --person %q: unknown key %q (KEY one of %s)", errUsage, s, k, strings.Join(personKeys, ", "))
		}
	}
	return p, nil
}

// parseCondition reads a --condition value: KIND[:DUE][=TEXT], DUE a date
// or an RFC 3339 time, e.g. DELETE_BY:2026-12-31=Delete the logs once the
// trial ends.
func parseCondition(s string) (*requestv1.Condition, error) {
	return parseConditionFlag("condition", s)
}

// parseConditionFlag reads a condition given to flag (condition, or
// use-condition at :accept), naming that flag when it is wrong.
func parseConditionFlag(flag, s string) (*requestv1.Condition, error) {
	head, text, _ := strings.Cut(s, "=")
	kind, due, hasDue := strings.Cut(head, ":")
	n, err := enumValue(flag, kind, requestv1.Condition_Kind(0).Descriptor())
	if err != nil {
		return nil, fmt.Errorf("%w (want KIND[:DUE]=TEXT, e.g. DELETE_BY:2026-12-31='Delete once the trial ends')", err)
	}
	c := &requestv1.Condition{Kind: requestv1.Condition_Kind(n), Text: strings.TrimSpace(text)}
	if hasDue {
		ts, err := parseTime(flag, strings.TrimSpace(due))
		if err != nil {
			return nil, fmt.Errorf("%w (in %q: KIND[:DUE]=TEXT)", err, s)
		}
		c.DueTime = ts
	}
	return c, nil
}

// parseItem reads an --item value: IDX/CATEGORY=OUTCOME[:REASON], IDX the
// identifier's index in the request (from 0), CATEGORY one of its data
// categories, e.g. '1/connection logs=NOT_RETAINED:Kept for 6 months only'.
func parseItem(s string) (*requestv1.ExecutionItem, error) {
	const want = "want IDX/CATEGORY=OUTCOME[:REASON], e.g. '0/connection logs=PROVIDED'"
	idx, rest, ok := strings.Cut(s, "/")
	if !ok {
		return nil, fmt.Errorf("%w: --item %q: %s", errUsage, s, want)
	}
	i, err := strconv.ParseInt(strings.TrimSpace(idx), 10, 32)
	if err != nil || i < 0 || i >= 500 {
		return nil, fmt.Errorf("%w: --item %q: %q is not an identifier's index (0 for the first, up to 499): %s", errUsage, s, idx, want)
	}
	category, outcome, ok := strings.Cut(rest, "=")
	if !ok || strings.TrimSpace(category) == "" {
		return nil, fmt.Errorf("%w: --item %q: %s", errUsage, s, want)
	}
	name, reason, _ := strings.Cut(outcome, ":")
	n, err := enumValue("item", name, requestv1.ExecutionItem_Outcome(0).Descriptor())
	if err != nil {
		return nil, fmt.Errorf("%w (in %q: %s)", err, s, want)
	}
	return &requestv1.ExecutionItem{IdentifierIndex: int32(i), DataCategory: strings.TrimSpace(category),
		Outcome: requestv1.ExecutionItem_Outcome(n), Reason: strings.TrimSpace(reason)}, nil
}

// itemAttachments adds --item-attachment values, IDX/CATEGORY=ATTACHMENT,
// to the items they name.
func itemAttachments(request string, items []*requestv1.ExecutionItem, vals []string) error {
	for _, v := range vals {
		key, att, ok := strings.Cut(v, "=")
		idx, category, ok2 := strings.Cut(key, "/")
		if !ok || !ok2 {
			return fmt.Errorf("%w: --item-attachment %q: want IDX/CATEGORY=ATTACHMENT, the item as --item gives it", errUsage, v)
		}
		names, err := attachmentNames(request, []string{strings.TrimSpace(att)})
		if err != nil {
			return fmt.Errorf("--item-attachment %q: %w", v, err)
		}
		found := false
		for _, it := range items {
			if strconv.Itoa(int(it.IdentifierIndex)) == strings.TrimSpace(idx) && it.DataCategory == strings.TrimSpace(category) {
				it.Attachments, found = append(it.Attachments, names...), true
			}
		}
		if !found {
			return fmt.Errorf("%w: --item-attachment %q: no --item %s/%s to attach it to", errUsage, v, strings.TrimSpace(idx), strings.TrimSpace(category))
		}
	}
	return nil
}

// practiceActions are the custom methods of DESIGN §5.1–§5.5 that take a
// request: each a command of the same form as submit or refuse.
func practiceActions() []requestAction {
	var (
		reason, explanation, provider, country, kind, expected, until string
		typ, requestedState, requestID, owner                         string
		costKind, costEstimate, costCurrency, costBearer              string
		days                                                          int32
		conditions                                                    []string
	)
	reasonFlag := func(what string) func(c *cobra.Command) {
		return func(c *cobra.Command) { c.Flags().StringVar(&reason, "reason", "", what) }
	}
	explanationFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&explanation, "explanation", "", "the explanation (required)")
	}
	return []requestAction{
		// §5.1 Preservation.
		{use: "request-extension", verb: "requestExtension", short: "Ask the requested side to extend an executed preservation (the requesting side)",
			long:    "The preservation must be PRESERVED. --days is at most the policy's period (90 days by default).",
			example: "  comityctl requests request-extension KZ-2026-000002 --days 60 --reason 'The production request is being translated.'",
			flags: func(c *cobra.Command) {
				c.Flags().Int32Var(&days, "days", 0, "how many days more (required)")
				c.Flags().StringVar(&reason, "reason", "", "why (required)")
			},
			body: func(c *cobra.Command, _ string) (proto.Message, error) {
				if !c.Flags().Changed("days") || days < 1 {
					return nil, fmt.Errorf("%w: --days %d: give how many days more, 1 or more", errUsage, days)
				}
				return &requestv1.RequestExtensionRequest{Days: days, Reason: reason}, nil
			}},
		{use: "grant-extension", verb: "grantExtension", short: "Grant the extension of a preservation the requesting side asked for (the requested side)",
			long:    "The days asked for are added to the preservation's expiry.",
			example: "  comityctl requests grant-extension KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.GrantExtensionRequest{}, nil
			}},
		{use: "decline-extension", verb: "declineExtension", short: "Decline the extension of a preservation the requesting side asked for (the requested side)",
			example: "  comityctl requests decline-extension KZ-2026-000002 --reason 'The provider deletes the logs by law after 180 days.'",
			flags:   reasonFlag("why (required)"),
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.DeclineExtensionRequest{Reason: reason}, nil
			}},
		{use: "release-preservation", verb: "releasePreservation", short: "Release a preservation you no longer need (the requesting side)",
			long:    "The preservation becomes RELEASED and the requested side is told.",
			example: "  comityctl requests release-preservation KZ-2026-000002 --reason 'The data was obtained otherwise.'",
			flags:   reasonFlag("why (required)"),
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.ReleasePreservationRequest{Reason: reason}, nil
			}},
		{use: "disclose-chain", verb: "discloseChain", short: "Record that the preserved data shows another provider in another state (the requested side)",
			long:    "Budapest Art 30: the requesting side sees it and can draft a preservation to that state ('requests draft-follow-up').",
			example: "  comityctl requests disclose-chain KZ-2026-000002 --provider 'Pamir Telecom' --country TJ --explanation 'The traffic came through its network.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&provider, "provider", "", "the other provider (required)")
				c.Flags().StringVar(&country, "country", "", "ISO code of the other provider's state, e.g. TJ (required)")
				explanationFlag(c)
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				cc := strings.ToUpper(strings.TrimSpace(country))
				if !statePattern.MatchString(cc) {
					return nil, fmt.Errorf("%w: --country %q: want a state's two-letter ISO code, e.g. TJ", errUsage, country)
				}
				return &requestv1.DiscloseChainRequest{Provider: provider, Country: cc, Explanation: explanation}, nil
			}},
		{use: "draft-follow-up", verb: "draftFollowUp", short: "Draft a new request from this one: a production after a preservation, or a preservation in the next provider's state",
			long: "The new DRAFT copies the case's fields and is related to this request: FOLLOW_UP_OF (a production\n" +
				"after a preservation) or SPAWNED_BY (a preservation in another state after a chain disclosure).\n" +
				"--request-id makes it safe to retry. The answer is the new draft.",
			example: "  comityctl requests draft-follow-up KZ-2026-000002 --type TRAFFIC_DATA\n" +
				"  comityctl requests draft-follow-up KZ-2026-000002 --type DATA_PRESERVATION --requested-state TJ",
			flags: func(c *cobra.Command) {
				enumFlag(c, &typ, "type", "the new request's type (required)", directoryv1.RequestType(0).Descriptor())
				c.Flags().StringVar(&requestedState, "requested-state", "", "ISO code of the new request's requested state (default: this request's)")
				c.Flags().StringVar(&requestID, "request-id", "", "idempotency key: retrying with it returns the same draft")
			},
			body: func(c *cobra.Command, _ string) (proto.Message, error) {
				if !c.Flags().Changed("type") {
					return nil, fmt.Errorf("%w: --type is required: the new request's type, one of %s", errUsage, strings.Join(enumNames(directoryv1.RequestType(0).Descriptor()), ", "))
				}
				n, err := enumValue("type", typ, directoryv1.RequestType(0).Descriptor())
				if err != nil {
					return nil, err
				}
				st := strings.ToUpper(strings.TrimSpace(requestedState))
				if st != "" && !statePattern.MatchString(st) {
					return nil, fmt.Errorf("%w: --requested-state %q: want a state's two-letter ISO code, e.g. TJ", errUsage, requestedState)
				}
				return &requestv1.DraftFollowUpRequest{Type: directoryv1.RequestType(n), RequestedState: st, RequestId: requestID}, nil
			}},
		// §5.2 Execution, postponement, conditions.
		{use: "notify-impediment", verb: "notifyImpediment", short: "Tell the requesting side what impedes execution (the requested side)",
			long:    "Recorded and shown to both sides; the status does not change.",
			example: "  comityctl requests notify-impediment KZ-2026-000002 --kind SIGNIFICANT_DELAY --explanation 'The provider answers in 30 days.' --expected 2026-04-30",
			flags: func(c *cobra.Command) {
				enumFlag(c, &kind, "kind", "what impedes execution (required)", requestv1.Impediment_Kind(0).Descriptor())
				explanationFlag(c)
				c.Flags().StringVar(&expected, "expected", "", "when execution is now expected (2026-04-30 or RFC 3339)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				n, err := enumValue("kind", kind, requestv1.Impediment_Kind(0).Descriptor())
				if err != nil {
					return nil, err
				}
				m := &requestv1.NotifyImpedimentRequest{Kind: requestv1.Impediment_Kind(n), Explanation: explanation}
				if expected != "" {
					if m.ExpectedTime, err = parseTime("expected", expected); err != nil {
						return nil, err
					}
				}
				return m, nil
			}},
		{use: "postpone", verb: "postpone", short: "Postpone execution until a date (the requested side)",
			long:    "Budapest Art 27(5): the answer clock pauses until 'requests resume'.",
			example: "  comityctl requests postpone KZ-2026-000002 --until 2026-05-01 --reason 'Execution would prejudice a domestic investigation.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&until, "until", "", "until when (2026-05-01 or RFC 3339; required)")
				c.Flags().StringVar(&reason, "reason", "", "why (required)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if until == "" {
					return nil, fmt.Errorf("%w: --until is required: the date until which execution is postponed", errUsage)
				}
				ts, err := parseTime("until", until)
				if err != nil {
					return nil, err
				}
				return &requestv1.PostponeRequestRequest{Until: ts, Reason: reason}, nil
			}},
		{use: "resume", verb: "resume", short: "Resume a postponed request (the requested side)",
			long:    "It returns to the status it had before the postponement; the answer clock runs again.",
			example: "  comityctl requests resume KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.ResumeRequestRequest{}, nil
			}},
		{use: "propose-conditions", verb: "proposeConditions", short: "Propose conditions and costs the requesting side must accept (the requested side)",
			long: "--condition is KIND[:DUE]=TEXT, KIND one of " + strings.Join(enumNames(requestv1.Condition_Kind(0).Descriptor()), ", ") +
				",\nDUE a date or an RFC 3339 time (for DELETE_BY and RETURN).",
			example: "  comityctl requests propose-conditions KZ-2026-000002 --condition USE_ONLY_STATED_PROCEEDINGS='For case 1187 only' \\\n" +
				"    --condition DELETE_BY:2027-01-31='Delete after the trial' --cost-kind EXTRAORDINARY --cost-estimate 1500.00 --cost-currency UZS --cost-bearer 'requesting state'",
			flags: func(c *cobra.Command) {
				c.Flags().StringArrayVar(&conditions, "condition", nil, "a condition, KIND[:DUE]=TEXT (repeatable)")
				enumFlag(c, &costKind, "cost-kind", "the cost: ordinary or extraordinary", requestv1.Cost_Kind(0).Descriptor())
				c.Flags().StringVar(&costEstimate, "cost-estimate", "", "the estimated cost, a decimal, e.g. 1500.00")
				c.Flags().StringVar(&costCurrency, "cost-currency", "", "ISO 4217 code of the estimate's currency, e.g. UZS")
				c.Flags().StringVar(&costBearer, "cost-bearer", "", "who bears the cost, e.g. 'requesting state'")
			},
			body: func(c *cobra.Command, _ string) (proto.Message, error) {
				m := &requestv1.ProposeConditionsRequest{}
				for _, s := range conditions {
					cd, err := parseCondition(s)
					if err != nil {
						return nil, err
					}
					m.Conditions = append(m.Conditions, cd)
				}
				if c.Flags().Changed("cost-kind") || costEstimate != "" || costCurrency != "" || costBearer != "" {
					m.Cost = &requestv1.Cost{Estimate: costEstimate, Currency: strings.ToUpper(costCurrency), Bearer: costBearer}
					if c.Flags().Changed("cost-kind") {
						n, err := enumValue("cost-kind", costKind, requestv1.Cost_Kind(0).Descriptor())
						if err != nil {
							return nil, err
						}
						m.Cost.Kind = requestv1.Cost_Kind(n)
					}
					if costEstimate != "" && !estimatePattern.MatchString(costEstimate) {
						return nil, fmt.Errorf("%w: --cost-estimate %q: want a decimal amount, e.g. 1500.00", errUsage, costEstimate)
					}
				}
				return m, nil
			}},
		{use: "accept-conditions", verb: "acceptConditions", short: "Accept the conditions the requested side proposed (the requesting side)",
			long:    "The conditions bind, and the request is ACCEPTED.",
			example: "  comityctl requests accept-conditions KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.AcceptConditionsRequest{}, nil
			}},
		{use: "reject-conditions", verb: "rejectConditions", short: "Reject the conditions the requested side proposed (the requesting side)",
			long:    "The request returns to ACKNOWLEDGED.",
			example: "  comityctl requests reject-conditions KZ-2026-000002 --reason 'Our law requires the data to be kept with the case file.'",
			flags:   reasonFlag("why (required)"),
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.RejectConditionsRequest{Reason: reason}, nil
			}},
		// §5.4 Confidentiality.
		{use: "declare-confidentiality-impossible", verb: "declareConfidentialityImpossible",
			short:   "Declare that the request cannot be kept confidential (the requested side)",
			long:    "Budapest Art 27(8): the request waits for the requesting side to proceed or withdraw.",
			example: "  comityctl requests declare-confidentiality-impossible KZ-2026-000002 --explanation 'The provider must notify its customer by law.'",
			flags:   explanationFlag,
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.DeclareConfidentialityImpossibleRequest{Explanation: explanation}, nil
			}},
		{use: "proceed", verb: "proceed", short: "Proceed although the requested side cannot keep the request confidential (the requesting side)",
			long:    "The request returns to the status it had before the declaration.",
			example: "  comityctl requests proceed KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.ProceedRequestRequest{}, nil
			}},
		// §5.5 Ownership.
		{use: "transfer-ownership", verb: "transferOwnership", short: "Hand a request to another prosecutor of the requesting agency (the requesting side)",
			example: "  comityctl requests transfer-ownership KZ-2026-000002 --owner dev:kz-gpo:prosecutor-2 --reason 'Reassigned during leave.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&owner, "owner", "", "the new owner's subject (required)")
				c.Flags().StringVar(&reason, "reason", "", "why")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if strings.TrimSpace(owner) == "" {
					return nil, fmt.Errorf("%w: --owner is required: the subject of the prosecutor who takes the request over", errUsage)
				}
				return &requestv1.TransferOwnershipRequest{Owner: owner, Reason: reason}, nil
			}},
	}
}

// newRequestsRecordOralCmd records an urgent request received by phone or
// another channel, on behalf of the requesting agency (DESIGN §5.3).
func newRequestsRecordOralCmd(g *globals) *cobra.Command {
	var (
		d                                         draftFlags
		file, rid, agency, channel, received, who string
	)
	c := &cobra.Command{
		Use:   "record-oral",
		Short: "Record an urgent request received by phone or another channel (the requested side's 24/7 point or central authority)",
		Long: `Record an urgent request received by telephone, e-mail, INTERPOL or another channel, on behalf of
the requesting agency. It starts ACKNOWLEDGED, with no owner until a prosecutor of the requesting
agency confirms it in writing ('requests confirm-in-writing'), by the policy's deadline (72 hours
by default). The fields known so far come from --from-file and the draft's flags, as for
'requests create'.`,
		Example: `  comityctl requests record-oral --requesting-agency kg-gpo --channel PHONE --received 2026-03-04T02:10:00+06:00 \
    --caller 'Duty prosecutor A. Asanov, GPO of Kyrgyzstan' --type DATA_PRESERVATION --priority EMERGENCY \
    --emergency-reason 'Threat to life' --identifier PHONE=+996555123456`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r := &requestv1.Request{}
			if file != "" {
				if _, err := readBody(file, c.InOrStdin(), r); err != nil {
					return err
				}
			}
			if _, err := d.apply(c, r); err != nil {
				return err
			}
			ag := "agencies/" + strings.TrimPrefix(strings.TrimSpace(agency), "agencies/")
			if agency == "" || !agencyPattern.MatchString(ag) {
				return fmt.Errorf("%w: --requesting-agency %q: give the agency on whose behalf the call was made, e.g. kz-gpo", errUsage, agency)
			}
			n, err := enumValue("channel", channel, requestv1.Intake_Channel(0).Descriptor())
			if err != nil {
				return err
			}
			in := &requestv1.Intake{Channel: requestv1.Intake_Channel(n), Caller: who}
			if received != "" {
				if in.ReceivedTime, err = parseTime("received", received); err != nil {
					return err
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodPost, "/v1/requests:recordOral",
				&requestv1.RecordOralRequestRequest{Request: r, RequestingAgency: ag, Intake: in, RequestId: rid})
			if err != nil {
				return err
			}
			return g.print(data, requestSummary)
		},
	}
	d.register(c)
	c.Flags().StringVarP(&file, "from-file", "f", "", "JSON or YAML file with the request's fields known so far (- for standard input)")
	c.Flags().StringVar(&rid, "request-id", "", "idempotency key: retrying with it returns the same request")
	c.Flags().StringVar(&agency, "requesting-agency", "", "the agency on whose behalf the call was made, e.g. kz-gpo (required)")
	enumFlag(c, &channel, "channel", "how the request came (required)", requestv1.Intake_Channel(0).Descriptor())
	c.Flags().StringVar(&received, "received", "", "when it was received (RFC 3339 or a date; default: now)")
	c.Flags().StringVar(&who, "caller", "", "who called or wrote, as they gave their name and office")
	return c
}

// newRequestsConfirmCmd confirms in writing a request recorded from a call,
// completing its fields (DESIGN §5.3): the same fields as 'requests update'.
func newRequestsConfirmCmd(g *globals) *cobra.Command {
	var (
		d          draftFlags
		file, etag string
	)
	c := &cobra.Command{
		Use:   "confirm-in-writing REQUEST",
		Short: "Confirm in writing a request the requested side recorded from a call (a prosecutor of the requesting agency)",
		Long: `Confirm in writing a request the requested side recorded from a call, completing its fields as
'requests update' does (the top-level fields of --from-file, and each flag, and only those). Every
safeguard is checked then, and you become the request's owner.

REQUEST is the request's name (requests/ID), id or reference. With --etag, the confirmation is
refused when the request changed since you read it.`,
		Example: `  comityctl requests confirm-in-writing UZ-2026-000007 --from-file written.yaml
  comityctl requests confirm-in-writing UZ-2026-000007 --legal-basis CIS_IT_CRIME_AGREEMENT_2018 --necessity '…'`,
		Args: args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, a []string) error {
			r := &requestv1.Request{}
			var mask []string
			if file != "" {
				fields, err := readBody(file, c.InOrStdin(), r)
				if err != nil {
					return err
				}
				mask = fields
			}
			flagMask, err := d.apply(c, r)
			if err != nil {
				return err
			}
			mask = append(mask, flagMask...)
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			name, err := resolveRequest(ctx, cl, a[0])
			if err != nil {
				return err
			}
			body := &requestv1.ConfirmInWritingRequest{Etag: etag}
			if len(mask) > 0 {
				body.Request = r
				body.UpdateMask = &fieldmaskpb.FieldMask{}
				for _, p := range dedupe(mask) {
					body.UpdateMask.Paths = append(body.UpdateMask.Paths, snakePath(p))
				}
			}
			path := "/v1/" + name + ":confirmInWriting"
			data, err := cl.callRaw(ctx, http.MethodPost, path, body)
			if err != nil {
				return conflict(ctx, cl, name, etag, err)
			}
			return g.print(data, requestSummary)
		},
	}
	d.register(c)
	c.Flags().StringVarP(&file, "from-file", "f", "", "JSON or YAML file with the fields to complete (- for standard input)")
	c.Flags().StringVar(&etag, "etag", "", "the etag you read: refuse the confirmation if the request changed since")
	return c
}

// snakePath turns an update-mask path of JSON names (offence.legalQualification)
// into the proto names a FieldMask holds (offence.legal_qualification).
func snakePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
