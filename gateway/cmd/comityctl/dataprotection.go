package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/trail"
)

// This file holds the commands of DESIGN §10, data protection: the use
// conditions that bind the requesting side and its ledger (consents, onward
// transfers, reports of use), the legal hold, data subjects' requests, a
// state's retention, and the purpose every read declares.

// purposeHeader carries the purpose of a read to the gateway.
const purposeHeader = "X-Comity-Purpose"

// readPurposes are the purpose categories a reader may declare (DESIGN §10;
// audit.v1.Event.purpose lists them).
var readPurposes = trail.Purposes

// readPurpose checks a --purpose or COMITY_PURPOSE value: one of
// readPurposes, in any case; empty is none.
func readPurpose(source, v string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(v))
	if p == "" || slices.Contains(readPurposes, p) {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s %q is not a purpose: want one of %s", errUsage, source, v, strings.Join(readPurposes, ", "))
}

// preparePurpose settles the purpose of the command's reads: the global
// --purpose, else COMITY_PURPOSE. On a command whose own --purpose means
// something else (a draft's or a consent's purpose) the global flag is
// hidden, and only the environment gives it.
func (g *globals) preparePurpose(fs *pflag.FlagSet, global *pflag.FlagSet) error {
	source := "--purpose"
	if f := fs.Lookup("purpose"); f != global.Lookup("purpose") || g.envSet["purpose"] {
		source = config.EnvName("purpose")
		if f != global.Lookup("purpose") {
			g.purpose = ""
			if v, ok := g.lookupEnv(source); ok {
				g.purpose = v
			}
		}
	}
	p, err := readPurpose(source, g.purpose)
	if err != nil {
		return err
	}
	g.purpose = p
	return nil
}

// useConditionsFlag registers --use-condition, repeatable, on :accept.
func useConditionsFlag(c *cobra.Command, p *[]string) {
	c.Flags().StringArrayVar(p, "use-condition", nil, "a condition on the use of what is provided, KIND[:DUE]=TEXT, KIND one of "+
		strings.Join(enumNames(requestv1.Condition_Kind(0).Descriptor()), ", ")+" (repeatable)")
}

// useConditions reads the --use-condition values.
func useConditions(vals []string) ([]*requestv1.Condition, error) {
	var out []*requestv1.Condition
	for _, s := range vals {
		cd, err := parseConditionFlag("use-condition", s)
		if err != nil {
			return nil, err
		}
		out = append(out, cd)
	}
	return out, nil
}

// consentNumber checks a --consent value: a consent's number on the
// request, from 1 (0 allowed where it is optional).
func consentNumber(n int32, required bool) error {
	switch {
	case n < 0, n == 0 && required:
		return fmt.Errorf("%w: --consent %d: give the consent's number on the request (1 for the first; 'requests get' lists them under consents)", errUsage, n)
	}
	return nil
}

// required refuses an empty value of a flag, saying what it is.
func required(flag, v, what string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: --%s is required: %s", errUsage, flag, what)
	}
	return nil
}

// futureTime reads a time flag that must lie ahead.
func futureTime(flag, v string) (*timestamppb.Timestamp, error) {
	ts, err := parseTime(flag, strings.TrimSpace(v))
	if err != nil {
		return nil, err
	}
	if !ts.AsTime().After(time.Now()) {
		return nil, fmt.Errorf("%w: --%s %s is not in the future", errUsage, flag, v)
	}
	return ts, nil
}

// dataProtectionActions are the custom methods of DESIGN §10 that take a
// request.
func dataProtectionActions() []requestAction {
	var (
		kind, purpose, recipient, keepUntil, terms, reason string
		authorisation, text, textFile, review              string
		consent                                            int32
	)
	consentFlag := func(c *cobra.Command, what string) {
		c.Flags().Int32Var(&consent, "consent", 0, what)
	}
	return []requestAction{
		{use: "acknowledge-conditions", verb: "acknowledgeConditions", view: ledgerView{},
			short: "Acknowledge the use conditions that bind you (the requesting side)",
			long: "The binding conditions are those the requested side imposed at :accept (use conditions) and\n" +
				"those of an accepted proposal; 'requests get' shows them under bindingConditions. Until every\n" +
				"one is acknowledged, the requesting side cannot download the request's EVIDENCE attachments.\n" +
				"A condition added later needs a new acknowledgement (DESIGN §10).",
			example: "  comityctl requests acknowledge-conditions KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.AcknowledgeConditionsRequest{}, nil
			}},
		{use: "request-consent", verb: "requestConsent", view: ledgerView{},
			short: "Ask the requested side's consent to another use, an onward transfer or longer retention (the requesting side)",
			long: "--kind is OTHER_USE (a use beyond the proceedings stated in the request), ONWARD_TRANSFER\n" +
				"(passing what was received to --recipient) or RETENTION (keeping the evidence past a DELETE_BY\n" +
				"or RETURN condition, until --keep-until). The requested state's central authority answers with\n" +
				"'requests grant-consent' or 'requests refuse-consent', naming the consent by its number.",
			example: "  comityctl requests request-consent KZ-2026-000002 --kind ONWARD_TRANSFER --recipient 'Financial Monitoring Agency of Kazakhstan' \\\n" +
				"    --purpose 'Tracing the proceeds of the fraud in case 2026-1187'\n" +
				"  comityctl requests request-consent KZ-2026-000002 --kind RETENTION --keep-until 2027-06-30 --purpose 'The appeal is pending.'",
			flags: func(c *cobra.Command) {
				enumFlag(c, &kind, "kind", "what is asked (required)", requestv1.Consent_Kind(0).Descriptor())
				c.Flags().StringVar(&purpose, "purpose", "", "for what purpose (required)")
				c.Flags().StringVar(&recipient, "recipient", "", "the authority it would be passed on to (required for ONWARD_TRANSFER)")
				c.Flags().StringVar(&keepUntil, "keep-until", "", "until when the evidence would be kept (2027-06-30 or RFC 3339; required for RETENTION)")
			},
			body: func(c *cobra.Command, _ string) (proto.Message, error) {
				if !c.Flags().Changed("kind") {
					return nil, fmt.Errorf("%w: --kind is required: what is asked, one of %s", errUsage, strings.Join(enumNames(requestv1.Consent_Kind(0).Descriptor()), ", "))
				}
				n, err := enumValue("kind", kind, requestv1.Consent_Kind(0).Descriptor())
				if err != nil {
					return nil, err
				}
				if err := required("purpose", purpose, "for what purpose the consent is asked"); err != nil {
					return nil, err
				}
				m := &requestv1.RequestConsentRequest{Kind: requestv1.Consent_Kind(n), Purpose: purpose, Recipient: strings.TrimSpace(recipient)}
				if m.Kind == requestv1.Consent_ONWARD_TRANSFER && m.Recipient == "" {
					return nil, fmt.Errorf("%w: --recipient is required with --kind ONWARD_TRANSFER: the authority it would be passed on to", errUsage)
				}
				if m.Kind == requestv1.Consent_RETENTION && keepUntil == "" {
					return nil, fmt.Errorf("%w: --keep-until is required with --kind RETENTION: until when the evidence would be kept", errUsage)
				}
				if keepUntil != "" {
					if m.KeepUntil, err = parseTime("keep-until", strings.TrimSpace(keepUntil)); err != nil {
						return nil, err
					}
				}
				return m, nil
			}},
		{use: "grant-consent", verb: "grantConsent", view: ledgerView{},
			short:   "Grant a consent the requesting side asked for (the requested state's central authority)",
			long:    "--consent is the consent's number on the request ('requests get' lists them under consents).",
			example: "  comityctl requests grant-consent KZ-2026-000002 --consent 1 --terms 'For the financial investigation only.'",
			flags: func(c *cobra.Command) {
				consentFlag(c, "the consent's number on the request (required)")
				c.Flags().StringVar(&terms, "terms", "", "the terms of the grant, if any")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if err := consentNumber(consent, true); err != nil {
					return nil, err
				}
				return &requestv1.GrantConsentRequest{Consent: consent, Terms: terms}, nil
			}},
		{use: "refuse-consent", verb: "refuseConsent", view: ledgerView{},
			short:   "Refuse a consent the requesting side asked for, with reasons (the requested state's central authority)",
			example: "  comityctl requests refuse-consent KZ-2026-000002 --consent 1 --reason 'The recipient is not a judicial authority.'",
			flags: func(c *cobra.Command) {
				consentFlag(c, "the consent's number on the request (required)")
				c.Flags().StringVar(&reason, "reason", "", "why (required)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if err := consentNumber(consent, true); err != nil {
					return nil, err
				}
				if err := required("reason", reason, "why the consent is refused"); err != nil {
					return nil, err
				}
				return &requestv1.RefuseConsentRequest{Consent: consent, Reason: reason}, nil
			}},
		{use: "record-onward-transfer", verb: "recordOnwardTransfer", view: ledgerView{},
			short: "Record that what was received was passed on to another authority (the requesting side)",
			long: "Under a NO_ONWARD_TRANSFER condition it is refused unless --consent names a granted ONWARD_TRANSFER\n" +
				"consent ('requests request-consent').",
			example: "  comityctl requests record-onward-transfer KZ-2026-000002 --recipient 'Financial Monitoring Agency of Kazakhstan' \\\n" +
				"    --authorisation 'Consent 1 of the requested state' --consent 1",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&recipient, "recipient", "", "to whom (required)")
				c.Flags().StringVar(&authorisation, "authorisation", "", "what authorised it, e.g. a court order or the granted consent (required)")
				consentFlag(c, "the number of the granted consent it relies on (required under NO_ONWARD_TRANSFER)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if err := required("recipient", recipient, "the authority it was passed on to"); err != nil {
					return nil, err
				}
				if err := required("authorisation", authorisation, "what authorised it, e.g. a court order or the granted consent"); err != nil {
					return nil, err
				}
				if err := consentNumber(consent, false); err != nil {
					return nil, err
				}
				return &requestv1.RecordOnwardTransferRequest{Recipient: strings.TrimSpace(recipient), Authorisation: authorisation, Consent: consent}, nil
			}},
		{use: "report-use", verb: "reportUse", view: ledgerView{},
			short: "Report how what was received was used, where a REPORT_USE condition asks for it (the requesting side)",
			long: "The report is --text, or the file --text-file (- for standard input). The REPORT_USE\n" +
				"condition's due time is a deadline until a report is made.",
			example: "  comityctl requests report-use KZ-2026-000002 --text 'The logs identified the suspect; the indictment cites them.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&text, "text", "", "how it was used")
				c.Flags().StringVar(&textFile, "text-file", "", "a UTF-8 text file with the report (- for standard input), instead of --text")
			},
			body: func(c *cobra.Command, _ string) (proto.Message, error) {
				if textFile != "" {
					if text != "" {
						return nil, fmt.Errorf("%w: --text and --text-file: give the report once", errUsage)
					}
					data, err := readInput(textFile, c.InOrStdin())
					if err != nil {
						return nil, fmt.Errorf("%w: --text-file: %v", errUsage, err)
					}
					text = string(data)
				}
				if err := required("text", text, "how what was received was used (or --text-file)"); err != nil {
					return nil, err
				}
				return &requestv1.ReportUseRequest{Text: text}, nil
			}},
		{use: "set-legal-hold", verb: "setLegalHold", view: ledgerView{},
			short: "Set a legal hold, which stops the erasure of the request's content (the requesting state's central authority)",
			long: "While the hold is set, the request's personal data and content are kept after its retention\n" +
				"runs out (DESIGN §10). --review is when the hold is to be reviewed: past it the request is overdue.",
			example: "  comityctl requests set-legal-hold KZ-2026-000002 --reason 'Appeal pending before the Supreme Court.' --review 2027-03-31",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&reason, "reason", "", "why the content must be kept (required)")
				c.Flags().StringVar(&review, "review", "", "when the hold is to be reviewed (2027-03-31 or RFC 3339, in the future; required)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if err := required("reason", reason, "why the content must be kept"); err != nil {
					return nil, err
				}
				if err := required("review", review, "when the hold is to be reviewed (a date in the future)"); err != nil {
					return nil, err
				}
				ts, err := futureTime("review", review)
				if err != nil {
					return nil, err
				}
				return &requestv1.SetLegalHoldRequest{Reason: reason, ReviewTime: ts}, nil
			}},
		{use: "lift-legal-hold", verb: "liftLegalHold", view: ledgerView{},
			short: "Lift the legal hold (the requesting state's central authority)",
			long: "The request's retention runs again: if it has run out, the next retention sweep erases its\n" +
				"personal data and content.",
			example: "  comityctl requests lift-legal-hold KZ-2026-000002 --reason 'The appeal was decided.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&reason, "reason", "", "why it is lifted (required)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				if err := required("reason", reason, "why the hold is lifted"); err != nil {
					return nil, err
				}
				return &requestv1.LiftLegalHoldRequest{Reason: reason}, nil
			}},
	}
}

// ledgerView shows the request an action of DESIGN §10 returns: its
// summary row, then what binds the requesting side and what was recorded
// under it, and the deadlines of data protection.
type ledgerView struct{}

func (ledgerView) table(w io.Writer, v any) error {
	if err := requestSummary.table(w, v); err != nil {
		return err
	}
	return writeLedger(w, v)
}

// writeLedger writes the data-protection fields of a request, those it
// has, each as a small table under its title.
func writeLedger(w io.Writer, r any) error {
	m, _ := r.(map[string]any)
	section := func(title string, rows [][]string) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, row := range rows {
			cells := make([]string, len(row))
			for i, c := range row {
				cells[i] = printable(c, 80)
			}
			fmt.Fprintln(tw, "  "+strings.Join(cells, "\t"))
		}
		_ = tw.Flush()
	}
	items := func(key string, cols ...string) [][]string {
		list, _ := m[key].([]any)
		var rows [][]string
		for i, it := range list {
			row := []string{strconv.Itoa(i + 1)}
			for _, c := range cols {
				row = append(row, lookup(it, c))
			}
			rows = append(rows, row)
		}
		return rows
	}
	section("BINDING CONDITIONS (# KIND DUE TEXT)", items("bindingConditions", "kind", "dueTime", "text"))
	if ack, ok := m["conditionsAcknowledgement"].(map[string]any); ok && !empty(ack) {
		section("ACKNOWLEDGED", [][]string{{lookup(ack, "conditions") + " conditions", "by " + lookup(ack, "acknowledgedBy.subject"),
			"at " + lookup(ack, "acknowledgeTime")}})
	}
	var consents [][]string
	list, _ := m["consents"].([]any)
	for _, it := range list {
		consents = append(consents, []string{lookup(it, "number"), lookup(it, "kind"), lookup(it, "decision"),
			lookup(it, "purpose"), lookup(it, "recipient"), lookup(it, "keepUntil"), lookup(it, "answer")})
	}
	section("CONSENTS (NUMBER KIND DECISION PURPOSE RECIPIENT KEEP-UNTIL ANSWER)", consents)
	section("ONWARD TRANSFERS (# RECIPIENT AUTHORISATION CONSENT TIME)", items("onwardTransfers", "recipient", "authorisation", "consent", "recordTime"))
	section("REPORTS OF USE (# TIME TEXT)", items("useReports", "reportTime", "text"))
	if h, ok := m["legalHold"].(map[string]any); ok && !empty(h) {
		row := []string{"set " + lookup(h, "setTime"), "review " + lookup(h, "reviewTime"), lookup(h, "reason")}
		if lift := lookup(h, "liftTime"); lift != "" {
			row = append(row, "lifted "+lift+": "+lookup(h, "liftReason"))
		}
		section("LEGAL HOLD", [][]string{row})
	}
	section("ERASURES (# SCOPE CAUSE TIME COMPLETE)", items("erasures", "scope", "cause", "eraseTime", "completeTime"))
	var deadlines [][]string
	for _, d := range []struct{ key, label string }{
		{"eraseBy", "personal data and content erased by"}, {"evidenceEraseBy", "evidence erased by"},
		{"reportUseBy", "report of use due by"}, {"legalHoldReviewBy", "legal hold to be reviewed by"},
	} {
		if t := lookup(m, "deadlines."+d.key); t != "" {
			deadlines = append(deadlines, []string{d.label, t})
		}
	}
	section("DEADLINES", deadlines)
	return nil
}

// subjectRequestPattern is a data subject's request's id.
var subjectRequestPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// subjectRequestName reads a data subject's request given as
// dataSubjectRequests/ID or ID.
func subjectRequestName(arg string) (string, error) {
	id := strings.TrimPrefix(strings.TrimSpace(arg), "dataSubjectRequests/")
	if !subjectRequestPattern.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not a data subject's request: give its name (dataSubjectRequests/ID) or its id", errUsage, arg)
	}
	return "dataSubjectRequests/" + id, nil
}

// subjectRequestColumns are the columns of a list of data subjects'
// requests, and of the one an action returns.
var subjectRequestColumns = []column{
	{header: "NAME", path: "name"}, {header: "PERSON", path: "person.fullName", width: 40}, {header: "RIGHT", path: "right"},
	{header: "RECEIVED", path: "receiveTime"}, {header: "DECISION", path: "decision.decision"}, {header: "REVIEW BY", path: "decision.reviewTime"},
	{header: "INFORMED", path: "informing.status"}, {header: "OVERDUE", path: "overdue"}, {header: "ETAG", path: "etag"},
}

func newDataSubjectRequestsCmd(g *globals) *cobra.Command {
	c := group("data-subject-requests", "Data subjects' requests: a person asks for access to, correction or erasure of their data",
		`  comityctl data-subject-requests create --person-name 'Ivan Petrov' --right ACCESS --request KZ-2026-000002
  comityctl data-subject-requests decide dataSubjectRequests/0192f0c4-… --decision DEFERRED --reasons '…' --review 2027-01-31
  comityctl data-subject-requests list`,
		newSubjectCreateCmd(g), newSubjectGetCmd(g), newSubjectListCmd(g), newSubjectDecideCmd(g), newSubjectInformCmd(g))
	c.Aliases = []string{"data-subject-request", "dsr"}
	c.Long = `A person's request for access to, correction or erasure of their data, recorded by a central
authority of their state, and what was decided (DESIGN §10; e-Evidence Art 13, Convention 108+
Art 9): GRANTED, DEFERRED with reasons and a review date (past it the request is overdue),
RESTRICTED or REFUSED with reasons. Informing the person of a measure concerning them is
recorded as done or deferred with reasons. Only the central authorities of the recording state
see them; every decision is audited.`
	return c
}

func newSubjectCreateCmd(g *globals) *cobra.Command {
	var (
		name, birth, contact, right, received, description string
		requests                                           []string
	)
	c := &cobra.Command{
		Use:   "create",
		Short: "Record that a person asked for access to, correction or erasure of their data (a central authority)",
		Long: `Record that a person asked for access to, correction or erasure of their data (--right). The
requests concerned are --request, each a request's name, id or reference (repeatable). The
answer is the data subject's request; its name is what 'decide' and 'inform' take.`,
		Example: `  comityctl data-subject-requests create --person-name 'Ivan Petrov' --date-of-birth 1990-01-02 \
    --contact 'ivan.petrov@example.kz' --right ACCESS --request KZ-2026-000002 --received 2026-11-30 \
    --description 'Asks what data about him was sent to Uzbekistan.'`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := required("person-name", name, "the full name of the person who asks"); err != nil {
				return err
			}
			if !c.Flags().Changed("right") {
				return fmt.Errorf("%w: --right is required: what the person asks for, one of %s", errUsage,
					strings.Join(enumNames(requestv1.DataSubjectRequest_Right(0).Descriptor()), ", "))
			}
			n, err := enumValue("right", right, requestv1.DataSubjectRequest_Right(0).Descriptor())
			if err != nil {
				return err
			}
			birth = strings.TrimSpace(birth)
			if birth != "" {
				if _, err := time.Parse(time.DateOnly, birth); err != nil {
					return fmt.Errorf("%w: --date-of-birth %q: want a date, YYYY-MM-DD", errUsage, birth)
				}
			}
			d := &requestv1.DataSubjectRequest{
				Person: &requestv1.DataSubject{FullName: strings.TrimSpace(name), DateOfBirth: birth, Contact: contact},
				Right:  requestv1.DataSubjectRequest_Right(n), Description: description,
			}
			if received == "" {
				d.ReceiveTime = timestamppb.Now()
			} else if d.ReceiveTime, err = parseTime("received", strings.TrimSpace(received)); err != nil {
				return err
			}
			for _, r := range requests {
				if _, err := requestName(r); err != nil {
					return fmt.Errorf("--request: %w", err)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			for _, r := range requests {
				rn, err := resolveRequest(ctx, cl, r)
				if err != nil {
					return fmt.Errorf("--request %s: %w", r, err)
				}
				d.Requests = append(d.Requests, rn)
			}
			data, err := cl.callRaw(ctx, http.MethodPost, "/v1/dataSubjectRequests", d)
			if err != nil {
				return err
			}
			return g.print(data, listOfOne{columns: subjectRequestColumns})
		},
	}
	f := c.Flags()
	f.StringVar(&name, "person-name", "", "the full name of the person who asks (required)")
	f.StringVar(&birth, "date-of-birth", "", "their date of birth, YYYY-MM-DD")
	f.StringVar(&contact, "contact", "", "how to reach them or their representative")
	enumFlag(c, &right, "right", "what they ask for (required)", requestv1.DataSubjectRequest_Right(0).Descriptor())
	f.StringArrayVar(&requests, "request", nil, "a request concerned: its name, id or reference (repeatable)")
	f.StringVar(&received, "received", "", "when the person's request was received (2026-11-30 or RFC 3339; default: now)")
	f.StringVar(&description, "description", "", "what the person asked, in their words or summarised")
	return c
}

func newSubjectGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a data subject's request, with every decision and the last record of informing the person",
		Example: "  comityctl data-subject-requests get dataSubjectRequests/0192f0c4-…",
		Args:    args(1, "one NAME (dataSubjectRequests/ID or ID)"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := subjectRequestName(a[0])
			if err != nil {
				return err
			}
			return g.show(c.Context(), name)
		},
	}
}

func newSubjectListCmd(g *globals) *cobra.Command {
	var l listFlags
	c := &cobra.Command{
		Use:     "list",
		Short:   "List the data subjects' requests of your state, newest first",
		Example: "  comityctl data-subject-requests list --all",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := l.list(c.Context(), cl, "/v1/dataSubjectRequests", "dataSubjectRequests")
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "dataSubjectRequests", columns: subjectRequestColumns})
		},
	}
	l.register(c, false, false)
	return c
}

// subjectAction is a command that posts body to a data subject's request's
// custom method verb and prints the answer.
func subjectAction(g *globals, c *cobra.Command, arg, verb string, body proto.Message) error {
	name, err := subjectRequestName(arg)
	if err != nil {
		return err
	}
	cl, err := g.client()
	if err != nil {
		return err
	}
	data, err := cl.callRaw(c.Context(), http.MethodPost, "/v1/"+name+":"+verb, body)
	if err != nil {
		return err
	}
	return g.print(data, listOfOne{columns: subjectRequestColumns})
}

func newSubjectDecideCmd(g *globals) *cobra.Command {
	var decision, reasons, review, etag string
	c := &cobra.Command{
		Use:   "decide NAME",
		Short: "Record the decision on a data subject's request (a central authority of its state)",
		Long: `Record the decision: GRANTED; DEFERRED with --reasons and a --review date (e.g. not to prejudice
an investigation; past the date the request is overdue); RESTRICTED (granted in part) or REFUSED,
with --reasons. A deferral is decided again later: every decision is kept.`,
		Example: `  comityctl data-subject-requests decide dataSubjectRequests/0192f0c4-… --decision DEFERRED \
    --reasons 'Disclosure would prejudice the investigation.' --review 2027-01-31
  comityctl data-subject-requests decide dataSubjectRequests/0192f0c4-… --decision GRANTED`,
		Args: args(1, "one NAME (dataSubjectRequests/ID or ID)"),
		RunE: func(c *cobra.Command, a []string) error {
			if !c.Flags().Changed("decision") {
				return fmt.Errorf("%w: --decision is required: one of %s", errUsage, strings.Join(enumNames(requestv1.DataSubjectDecision_Decision(0).Descriptor()), ", "))
			}
			n, err := enumValue("decision", decision, requestv1.DataSubjectDecision_Decision(0).Descriptor())
			if err != nil {
				return err
			}
			d := &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_Decision(n), Reasons: reasons}
			if d.Decision != requestv1.DataSubjectDecision_GRANTED {
				if err := required("reasons", reasons, "why it is "+strings.ToLower(d.Decision.String())+" (required but for GRANTED)"); err != nil {
					return err
				}
			}
			if d.Decision == requestv1.DataSubjectDecision_DEFERRED && review == "" {
				return fmt.Errorf("%w: --review is required with --decision DEFERRED: when the deferral is to be reviewed", errUsage)
			}
			if review != "" {
				if d.ReviewTime, err = parseTime("review", strings.TrimSpace(review)); err != nil {
					return err
				}
			}
			return subjectAction(g, c, a[0], "decide", &requestv1.DecideDataSubjectRequestRequest{Etag: etag, Decision: d})
		},
	}
	enumFlag(c, &decision, "decision", "the decision (required)", requestv1.DataSubjectDecision_Decision(0).Descriptor())
	c.Flags().StringVar(&reasons, "reasons", "", "why (required but for GRANTED)")
	c.Flags().StringVar(&review, "review", "", "when a deferral is to be reviewed (2027-01-31 or RFC 3339; required for DEFERRED)")
	c.Flags().StringVar(&etag, "etag", "", "the etag you read: refuse the decision if the request changed since")
	return c
}

func newSubjectInformCmd(g *globals) *cobra.Command {
	var status, reasons, review, etag string
	c := &cobra.Command{
		Use:   "inform NAME",
		Short: "Record that the person was informed of a measure concerning them, or that informing them is deferred",
		Long: `Record that the person was informed (--status DONE), or that informing them is deferred
(--status DEFERRED) with --reasons and, optionally, a --review date (e-Evidence Art 13).`,
		Example: `  comityctl data-subject-requests inform dataSubjectRequests/0192f0c4-… --status DEFERRED \
    --reasons 'The investigation is covert until March.' --review 2027-03-31
  comityctl data-subject-requests inform dataSubjectRequests/0192f0c4-… --status DONE`,
		Args: args(1, "one NAME (dataSubjectRequests/ID or ID)"),
		RunE: func(c *cobra.Command, a []string) error {
			if !c.Flags().Changed("status") {
				return fmt.Errorf("%w: --status is required: one of %s", errUsage, strings.Join(enumNames(requestv1.DataSubjectInforming_Status(0).Descriptor()), ", "))
			}
			n, err := enumValue("status", status, requestv1.DataSubjectInforming_Status(0).Descriptor())
			if err != nil {
				return err
			}
			in := &requestv1.DataSubjectInforming{Status: requestv1.DataSubjectInforming_Status(n), Reasons: reasons}
			if in.Status == requestv1.DataSubjectInforming_DEFERRED {
				if err := required("reasons", reasons, "why informing the person is deferred"); err != nil {
					return err
				}
			}
			if review != "" {
				if in.ReviewTime, err = parseTime("review", strings.TrimSpace(review)); err != nil {
					return err
				}
			}
			return subjectAction(g, c, a[0], "recordInforming", &requestv1.RecordDataSubjectInformingRequest{Etag: etag, Informing: in})
		},
	}
	enumFlag(c, &status, "status", "done or deferred (required)", requestv1.DataSubjectInforming_Status(0).Descriptor())
	c.Flags().StringVar(&reasons, "reasons", "", "why informing is deferred (required for DEFERRED)")
	c.Flags().StringVar(&review, "review", "", "when a deferral is to be reviewed (2027-03-31 or RFC 3339)")
	c.Flags().StringVar(&etag, "etag", "", "the etag you read: refuse the record if the request changed since")
	return c
}

// retentionLimits are what directory.v1.State.retention_after_close
// allows.
const (
	minRetention = 24 * time.Hour
	maxRetention = 100 * 365 * 24 * time.Hour
)

// parseRetention reads a --retention-after-close value: a Go duration
// (43800h), a number of days (1825d) or years (5y, of 365 days), or
// "default" for the deployment's default (nil).
func parseRetention(v string) (*durationpb.Duration, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "default" {
		return nil, nil
	}
	const want = "want a duration of at least a day and at most 100 years, e.g. 1825d, 5y or 43800h, or 'default' for the deployment's"
	var d time.Duration
	if num, unit := s[:max(len(s)-1, 0)], s[max(len(s)-1, 0):]; (unit == "d" || unit == "y") && num != "" {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 || n > 100*365 {
			return nil, fmt.Errorf("%w: --retention-after-close %q: %s", errUsage, v, want)
		}
		d = time.Duration(n) * 24 * time.Hour
		if unit == "y" {
			d *= 365
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("%w: --retention-after-close %q: %s", errUsage, v, want)
		}
	}
	if d < minRetention || d > maxRetention {
		return nil, fmt.Errorf("%w: --retention-after-close %q: %s", errUsage, v, want)
	}
	return durationpb.New(d), nil
}

// newStatesUpdateCmd changes a state's entry in the directory: its
// retention (DESIGN §10), the setting its directory_admin keeps by hand
// between snapshots, and its witness (DESIGN §6.1, see witness.go).
func newStatesUpdateCmd(g *globals) *cobra.Command {
	var retention, etag string
	var witness witnessFlags
	c := &cobra.Command{
		Use:   "update STATE [--retention-after-close DURATION] [--witness-url URL --witness-key KEY | --clear-witness]",
		Short: "Change a state's entry in the directory: how long its requests' personal data is kept, its witness",
		Long: `Change how long the personal data and content of the state's requests (it the requesting state)
are kept after they are closed, or after their last change if never transmitted, before they
are erased (DESIGN §10): --retention-after-close, a Go duration (43800h), days (1825d) or years
(5y, of 365 days), at least a day and at most 100 years; 'default' removes the state's value, and
the deployment's default (comity-request --retention-after-close, 5 years) applies. The change
is audited; a request already erased stays erased. A directory_admin of the state changes it.

--witness-url and --witness-key set the witness the state's oversight body runs (DESIGN §6.1): its
base URL (https, or http on a loopback host) and its cosignature/v1 public key (algorithm 0x04, as
comity-witness publishes it in witness.pub), given as the key or a file holding it;
--clear-witness removes it. Only a directory_admin of the state's OVERSIGHT agency may change the
witness. Auditors derive their witness policy from these entries ('comityctl audit policy').`,
		Example: `  comityctl states update KZ --retention-after-close 5y
  comityctl states update KZ --retention-after-close default
  comityctl states update KZ --witness-url https://witness.kz.example --witness-key var/witness/KZ/witness.pub
  comityctl states update KZ --clear-witness`,
		Args: args(1, "one STATE (its ISO code, e.g. KZ)"),
		RunE: func(c *cobra.Command, a []string) error {
			code := strings.ToUpper(strings.TrimPrefix(strings.TrimSpace(a[0]), "states/"))
			if !statePattern.MatchString(code) {
				return fmt.Errorf("%w: %q is not a state: give its ISO code, e.g. KZ", errUsage, a[0])
			}
			patch := &directoryv1.State{Name: "states/" + code}
			var mask []string
			if c.Flags().Changed("retention-after-close") {
				d, err := parseRetention(retention)
				if err != nil {
					return err
				}
				mask, patch.RetentionAfterClose = append(mask, "retentionAfterClose"), d
			}
			if witness.given(c.Flags()) {
				if err := witness.apply(c.Flags(), patch); err != nil {
					return err
				}
				mask = append(mask, "witness")
			}
			if len(mask) == 0 {
				return fmt.Errorf("%w: nothing to change: give --retention-after-close, --witness-url with --witness-key, or --clear-witness", errUsage)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			if etag == "" {
				var cur directoryv1.State
				if err := cl.call(ctx, http.MethodGet, "/v1/states/"+code, nil, &cur); err != nil {
					return err
				}
				etag = cur.GetEtag()
			}
			patch.Etag = etag
			data, err := cl.callRaw(ctx, http.MethodPatch, "/v1/states/"+code+"?updateMask="+strings.Join(mask, ","), patch)
			if err != nil {
				return err
			}
			return g.print(data, objectView{})
		},
	}
	c.Flags().StringVar(&retention, "retention-after-close", "", "how long the state's requests' personal data is kept after close: 1825d, 5y, 43800h, or 'default'")
	c.Flags().StringVar(&etag, "etag", "", "the etag you read: refuse the change if the state changed since (default: its current one)")
	witness.register(c.Flags())
	return c
}
