package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// requestColumns are the columns of a list of requests.
var requestColumns = []column{
	{header: "NAME", path: "name"}, {header: "REFERENCE", path: "reference"}, {header: "STATUS", path: "status"},
	{header: "TYPE", path: "type"}, {header: "PRIORITY", path: "priority"}, {header: "FROM", path: "requestingAgency"},
	{header: "TO", path: "requestedAgency"}, {header: "OVERDUE", path: "overdue"}, {header: "UPDATED", path: "updateTime"},
}

// requestSummary shows the request an action returns in one row.
var requestSummary = listOfOne{columns: []column{
	{header: "NAME", path: "name"}, {header: "REFERENCE", path: "reference"}, {header: "STATUS", path: "status"},
	{header: "ETAG", path: "etag"}, {header: "UPDATED", path: "updateTime"},
}}

// listOfOne shows one object as a one-row table.
type listOfOne struct{ columns []column }

func (l listOfOne) table(w io.Writer, v any) error {
	return listView{key: "item", columns: l.columns}.table(w, map[string]any{"item": []any{v}})
}

// idPattern is what a request's or an attachment's id may hold: it goes
// into a URL path, so nothing else passes.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// referencePattern is a request's human reference, e.g. KZ-2026-000002.
var referencePattern = regexp.MustCompile(`^[A-Z]{2}-[0-9]{4}-[0-9]+$`)

// requestName reads a request given as requests/ID, ID or a reference
// (which the gateway resolves) and returns it as requests/….
func requestName(arg string) (string, error) {
	id := strings.TrimPrefix(strings.TrimSpace(arg), "requests/")
	if !idPattern.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not a request: give its name (requests/ID), its id or its reference (e.g. KZ-2026-000002)", errUsage, arg)
	}
	return "requests/" + id, nil
}

// resolveRequest is the request's name for a call that changes it: a
// reference is looked up first, since only reads take one in the path.
func resolveRequest(ctx context.Context, c *restClient, arg string) (string, error) {
	name, err := requestName(arg)
	if err != nil || !referencePattern.MatchString(strings.TrimPrefix(name, "requests/")) {
		return name, err
	}
	var r requestv1.Request
	if err := c.call(ctx, http.MethodGet, "/v1/"+name, nil, &r); err != nil {
		return "", fmt.Errorf("look up %s: %w", arg, err)
	}
	return r.GetName(), nil
}

func newRequestsCmd(g *globals) *cobra.Command {
	c := group("requests", "Cooperation requests: draft, send, answer, follow",
		`  comityctl requests create --from-file draft.yaml --request-id case-1187
  comityctl requests list --filter 'status = TRANSMITTED AND overdue = true'
  comityctl requests submit KZ-2026-000002
  comityctl requests watch`)
	c.Aliases = []string{"request", "req"}
	c.AddCommand(newRequestsCreateCmd(g), newRequestsGetCmd(g), newRequestsListCmd(g), newRequestsUpdateCmd(g),
		newRequestsHistoryCmd(g), newRequestsWatchCmd(g), newRequestsRecordOralCmd(g), newRequestsConfirmCmd(g))
	for _, a := range slices.Concat(requestActions(), practiceActions(), dataProtectionActions()) {
		c.AddCommand(newRequestActionCmd(g, a))
	}
	return c
}

func newRequestsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get REQUEST",
		Short: "Show a request: by name (requests/ID), id or reference (KZ-2026-000002)",
		Long: `Show a request in full. REQUEST is its name (requests/ID), its id, or its reference
(KZ-2026-000002). The read is audited, as every read of a request's content is.`,
		Example: "  comityctl requests get KZ-2026-000002\n  comityctl requests get requests/0192f0c4-… --output yaml",
		Args:    args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := requestName(a[0])
			if err != nil {
				return err
			}
			return g.show(c.Context(), name)
		},
	}
}

// listFlags are the flags of a list: AIP-132 paging, AIP-160 filter and
// order.
type listFlags struct {
	filter, orderBy, pageToken string
	pageSize                   int
	all                        bool
}

func (l *listFlags) register(c *cobra.Command, filter, orderBy bool) {
	f := c.Flags()
	if filter {
		f.StringVar(&l.filter, "filter", "", "AIP-160 filter, e.g. 'status = TRANSMITTED'")
	}
	if orderBy {
		f.StringVar(&l.orderBy, "order-by", "", "order, e.g. 'createTime desc'")
	}
	f.IntVar(&l.pageSize, "page-size", 0, "items per page (0: the server's default)")
	f.StringVar(&l.pageToken, "page-token", "", "the page to show, from a previous list's next page token")
	f.BoolVar(&l.all, "all", false, "every page, one after the other")
}

func (l *listFlags) query() (url.Values, error) {
	q := url.Values{}
	if l.pageSize < 0 {
		return nil, fmt.Errorf("%w: --page-size %d: must be 0 (the default) or more", errUsage, l.pageSize)
	}
	if l.all && l.pageToken != "" {
		return nil, fmt.Errorf("%w: --all starts from the first page; it goes without --page-token", errUsage)
	}
	if l.filter != "" {
		q.Set("filter", l.filter)
	}
	if l.orderBy != "" {
		q.Set("orderBy", l.orderBy)
	}
	if l.pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(l.pageSize))
	}
	if l.pageToken != "" {
		q.Set("pageToken", l.pageToken)
	}
	return q, nil
}

// list fetches a list, or with --all every page of it, and returns one
// JSON object with the items under key.
func (l *listFlags) list(ctx context.Context, c *restClient, path, key string) ([]byte, error) {
	q, err := l.query()
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	var first map[string]json.RawMessage
	for page := 0; ; page++ {
		u := path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		data, err := c.callRaw(ctx, http.MethodGet, u, nil)
		if err != nil {
			if page > 0 {
				return nil, fmt.Errorf("page %d: %w", page+1, err)
			}
			return nil, err
		}
		if !l.all {
			return data, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("the answer is not a list: %w", err)
		}
		if first == nil {
			first = m
		}
		var pageItems []json.RawMessage
		if raw, ok := m[key]; ok {
			if err := json.Unmarshal(raw, &pageItems); err != nil {
				return nil, fmt.Errorf("the answer is not a list of %s: %w", key, err)
			}
		}
		items = append(items, pageItems...)
		var next string
		if raw, ok := m["nextPageToken"]; ok {
			_ = json.Unmarshal(raw, &next)
		}
		if next == "" {
			break
		}
		q.Set("pageToken", next)
	}
	out := map[string]any{key: items}
	if items == nil {
		out[key] = []json.RawMessage{}
	}
	if ts, ok := first["totalSize"]; ok {
		out["totalSize"] = ts
	}
	return json.Marshal(out)
}

func newRequestsListCmd(g *globals) *cobra.Command {
	var l listFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the requests you may see (metadata only)",
		Long: `List the requests you may see, as metadata (parties, type, status, dates): 'requests get'
shows one in full. --filter takes status, type, priority, requestingState, requestedState,
requestingAgency, requestedAgency, overdue and createTime; --order-by createTime (the default,
newest first with 'createTime desc'), updateTime, reference or status.`,
		Example: `  comityctl requests list --filter 'status = TRANSMITTED AND overdue = true'
  comityctl requests list --filter 'requestedState = "UZ"' --order-by 'updateTime desc' --all --output json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := l.list(c.Context(), cl, "/v1/requests", "requests")
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "requests", columns: requestColumns})
		},
	}
	l.register(c, true, true)
	return c
}

// readInput reads a file, or standard input for "-".
func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(stdin, maxAnswerBytes))
	}
	return os.ReadFile(path)
}

// readBody reads a JSON or YAML file (- for standard input) into msg, as
// the API's JSON names the fields, and returns the top-level fields it
// sets (their JSON names, for an update mask).
func readBody(path string, stdin io.Reader, msg proto.Message) ([]string, error) {
	data, err := readInput(path, stdin)
	if err != nil {
		return nil, fmt.Errorf("%w: --from-file: %v", errUsage, err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: --from-file %s is neither JSON nor YAML: %v", errUsage, path, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, fmt.Errorf("%w: --from-file %s: want an object with the fields of a %s: %v", errUsage, path, msg.ProtoReflect().Descriptor().Name(), err)
	}
	if err := protojson.Unmarshal(js, msg); err != nil {
		return nil, fmt.Errorf("%w: --from-file %s is not a %s: %v", errUsage, path, msg.ProtoReflect().Descriptor().Name(), err)
	}
	var fields []string
	for k := range top {
		fields = append(fields, k)
	}
	return fields, nil
}

// enumValue reads an enum flag, in any case, refusing the zero value and
// naming the valid ones.
func enumValue(flag, value string, ed protoreflect.EnumDescriptor) (protoreflect.EnumNumber, error) {
	var valid []string
	vals := ed.Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		if v.Number() == 0 {
			continue
		}
		if strings.EqualFold(string(v.Name()), strings.TrimSpace(value)) {
			return v.Number(), nil
		}
		valid = append(valid, string(v.Name()))
	}
	return 0, fmt.Errorf("%w: --%s %q is not one of %s", errUsage, flag, value, strings.Join(valid, ", "))
}

// enumNames are the values of an enum flag, for its help and completion.
func enumNames(ed protoreflect.EnumDescriptor) []string {
	var out []string
	vals := ed.Values()
	for i := range vals.Len() {
		if v := vals.Get(i); v.Number() != 0 {
			out = append(out, string(v.Name()))
		}
	}
	return out
}

// enumFlag registers an enum flag with its values in the help and in
// completion.
func enumFlag(c *cobra.Command, p *string, name, usage string, ed protoreflect.EnumDescriptor) {
	c.Flags().StringVar(p, name, "", usage+": "+strings.Join(enumNames(ed), ", "))
	_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(enumNames(ed), cobra.ShellCompDirectiveNoFileComp))
}

// parseTime reads an RFC 3339 time or a date (midnight UTC).
func parseTime(flag, value string) (*timestamppb.Timestamp, error) {
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return timestamppb.New(t), nil
	}
	if t, err := time.Parse(time.DateOnly, value); err == nil {
		return timestamppb.New(t), nil
	}
	return nil, fmt.Errorf("%w: --%s %q: want a date (2026-03-31) or an RFC 3339 time (2026-03-31T18:00:00+05:00)", errUsage, flag, value)
}

// draftFlags are the fields of a draft request that flags set.
type draftFlags struct {
	typ, priority, requestedState, requestedAgency, legalBasis                   string
	treatyCitation, caseReference, factsSummary, necessity, language, responseBy string
	emergencyReason, judicialAuthorisation, useLimitations                       string
	offenceDescription, offenceQualification, offenceStatute                     string
	offenceMaxPenalty                                                            int32
	confidential                                                                 bool
	identifiers, dataCategories, persons, related                                []string
	content                                                                      contentFlags
}

func (d *draftFlags) register(c *cobra.Command) {
	f := c.Flags()
	enumFlag(c, &d.typ, "type", "what is asked for", directoryv1.RequestType(0).Descriptor())
	enumFlag(c, &d.priority, "priority", "how fast", directoryv1.Priority(0).Descriptor())
	enumFlag(c, &d.legalBasis, "legal-basis", "the treaty or principle relied on", requestv1.Request_LegalBasis(0).Descriptor())
	f.StringVar(&d.requestedState, "requested-state", "", "ISO code of the requested state, e.g. UZ")
	f.StringVar(&d.requestedAgency, "requested-agency", "", "the requested agency, e.g. uz-247 (default: the directory's route)")
	f.StringVar(&d.treatyCitation, "treaty-citation", "", "the bilateral treaty (for BILATERAL_TREATY)")
	f.StringVar(&d.caseReference, "case-reference", "", "your case's reference")
	f.StringVar(&d.factsSummary, "facts-summary", "", "summary of the facts")
	f.StringVar(&d.necessity, "necessity", "", "why the measure is necessary and proportionate (at least 100 characters to submit)")
	f.StringVar(&d.language, "language", "", "language of the request (BCP-47), e.g. ru")
	f.StringVar(&d.responseBy, "response-by", "", "date by which you need the answer (2026-03-31 or RFC 3339)")
	f.StringVar(&d.emergencyReason, "emergency-reason", "", "why this is an emergency (for EMERGENCY)")
	f.StringVar(&d.judicialAuthorisation, "judicial-authorisation", "", "reference of the court order (for CONTENT_DATA)")
	f.StringVar(&d.useLimitations, "use-limitations", "", "limits on the use of what is received")
	f.StringVar(&d.offenceDescription, "offence-description", "", "the offence: what happened")
	f.StringVar(&d.offenceQualification, "offence-qualification", "", "the offence's legal qualification, e.g. 'Article 205 of the Criminal Code'")
	f.StringVar(&d.offenceStatute, "offence-statute", "", "the text of the statute")
	f.Int32Var(&d.offenceMaxPenalty, "offence-max-penalty-years", 0, "maximum penalty, in years of imprisonment")
	f.BoolVar(&d.confidential, "confidential", false, "the request itself is confidential")
	f.StringArrayVar(&d.identifiers, "identifier", nil, "KIND=VALUE for which data is sought, e.g. IP_ADDRESS=203.0.113.7:443 (repeatable; replaces the list)")
	f.StringArrayVar(&d.dataCategories, "data-category", nil, "a category of data sought, e.g. 'connection logs' (repeatable; replaces the list)")
	f.StringArrayVar(&d.persons, "person", nil, "a person concerned, 'FULL NAME[:ROLE][;KEY=VALUE…]', KEY one of "+strings.Join(personKeys, ", ")+
		", e.g. 'Example LLP:suspect;kind=LEGAL;registration-number=123456' (repeatable; replaces the list)")
	d.content.register(c)
	f.StringArrayVar(&d.related, "related-request", nil, "a related request as [KIND:]REQUEST, KIND one of FOLLOW_UP_OF, EXTENSION_OF, SUPERSEDES, SPAWNED_BY, RELATED (the default) (repeatable; replaces the list)")
}

// apply sets on r the fields whose flags were given and returns their
// update-mask paths (JSON names).
func (d *draftFlags) apply(c *cobra.Command, r *requestv1.Request) ([]string, error) {
	var mask []string
	changed := func(name, path string) bool {
		if c.Flags().Changed(name) {
			mask = append(mask, path)
			return true
		}
		return false
	}
	offence := func() *requestv1.Offence {
		if r.Offence == nil {
			r.Offence = &requestv1.Offence{}
		}
		return r.Offence
	}
	if changed("type", "type") {
		n, err := enumValue("type", d.typ, directoryv1.RequestType(0).Descriptor())
		if err != nil {
			return nil, err
		}
		r.Type = directoryv1.RequestType(n)
	}
	if changed("priority", "priority") {
		n, err := enumValue("priority", d.priority, directoryv1.Priority(0).Descriptor())
		if err != nil {
			return nil, err
		}
		r.Priority = directoryv1.Priority(n)
	}
	if changed("legal-basis", "legalBasis") {
		n, err := enumValue("legal-basis", d.legalBasis, requestv1.Request_LegalBasis(0).Descriptor())
		if err != nil {
			return nil, err
		}
		r.LegalBasis = requestv1.Request_LegalBasis(n)
	}
	if changed("requested-state", "requestedState") {
		r.RequestedState = strings.ToUpper(d.requestedState)
	}
	if changed("requested-agency", "requestedAgency") {
		r.RequestedAgency = "agencies/" + strings.TrimPrefix(d.requestedAgency, "agencies/")
		if d.requestedAgency == "" {
			r.RequestedAgency = ""
		}
	}
	for _, s := range []struct {
		flag, path string
		dst        *string
		v          string
	}{
		{"treaty-citation", "treatyCitation", &r.TreatyCitation, d.treatyCitation},
		{"case-reference", "caseReference", &r.CaseReference, d.caseReference},
		{"facts-summary", "factsSummary", &r.FactsSummary, d.factsSummary},
		{"necessity", "necessityAndProportionality", &r.NecessityAndProportionality, d.necessity},
		{"language", "language", &r.Language, d.language},
		{"emergency-reason", "emergencyReason", &r.EmergencyReason, d.emergencyReason},
		{"judicial-authorisation", "judicialAuthorisationReference", &r.JudicialAuthorisationReference, d.judicialAuthorisation},
		{"use-limitations", "useLimitations", &r.UseLimitations, d.useLimitations},
	} {
		if changed(s.flag, s.path) {
			*s.dst = s.v
		}
	}
	if changed("offence-description", "offence.description") {
		offence().Description = d.offenceDescription
	}
	if changed("offence-qualification", "offence.legalQualification") {
		offence().LegalQualification = d.offenceQualification
	}
	if changed("offence-statute", "offence.statuteText") {
		offence().StatuteText = d.offenceStatute
	}
	if changed("offence-max-penalty-years", "offence.maximumPenaltyYears") {
		offence().MaximumPenaltyYears = d.offenceMaxPenalty
	}
	if changed("confidential", "confidential") {
		r.Confidential = d.confidential
	}
	if changed("response-by", "requestedResponseTime") {
		ts, err := parseTime("response-by", d.responseBy)
		if err != nil {
			return nil, err
		}
		r.RequestedResponseTime = ts
	}
	if changed("identifier", "identifiers") {
		r.Identifiers = nil
		for _, s := range d.identifiers {
			kind, value, ok := strings.Cut(s, "=")
			if !ok || value == "" {
				return nil, fmt.Errorf("%w: --identifier %q: want KIND=VALUE, e.g. IP_ADDRESS=203.0.113.7:443", errUsage, s)
			}
			n, err := enumValue("identifier", kind, requestv1.Identifier_Kind(0).Descriptor())
			if err != nil {
				return nil, err
			}
			r.Identifiers = append(r.Identifiers, &requestv1.Identifier{Kind: requestv1.Identifier_Kind(n), Value: value})
		}
	}
	if changed("data-category", "dataCategories") {
		r.DataCategories = d.dataCategories
	}
	if changed("person", "persons") {
		r.Persons = nil
		for _, s := range d.persons {
			p, err := parsePerson(s)
			if err != nil {
				return nil, err
			}
			r.Persons = append(r.Persons, p)
		}
	}
	contentMask, err := d.content.apply(c, r)
	if err != nil {
		return nil, err
	}
	mask = append(mask, contentMask...)
	if changed("related-request", "relatedRequests") {
		r.RelatedRequests = nil
		for _, s := range d.related {
			rr, err := relatedRequest(s)
			if err != nil {
				return nil, err
			}
			r.RelatedRequests = append(r.RelatedRequests, rr)
		}
	}
	return mask, nil
}

func newRequestsCreateCmd(g *globals) *cobra.Command {
	var (
		d         draftFlags
		file, rid string
	)
	c := &cobra.Command{
		Use:   "create",
		Short: "Draft a request (a prosecutor)",
		Long: `Draft a request, from a JSON or YAML file (--from-file, - for standard input) whose fields are
the API's (camelCase, as 'requests get --output yaml' shows them), from flags, or both (the flags
win). --request-id makes the create safe to retry: the same id and body give the same request.`,
		Example: `  comityctl requests create --from-file draft.yaml --request-id case-1187
  comityctl requests create --type DATA_PRESERVATION --priority URGENT --requested-state UZ \
    --legal-basis CIS_IT_CRIME_AGREEMENT_2018 --identifier IP_ADDRESS=203.0.113.7:443 --language ru`,
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
			cl, err := g.client()
			if err != nil {
				return err
			}
			path := "/v1/requests"
			if rid != "" {
				path += "?requestId=" + url.QueryEscape(rid)
			}
			data, err := cl.callRaw(c.Context(), http.MethodPost, path, r)
			if err != nil {
				return err
			}
			return g.print(data, requestSummary)
		},
	}
	d.register(c)
	c.Flags().StringVarP(&file, "from-file", "f", "", "JSON or YAML file with the request's fields (- for standard input)")
	c.Flags().StringVar(&rid, "request-id", "", "idempotency key: retrying with it returns the same request")
	return c
}

func newRequestsUpdateCmd(g *globals) *cobra.Command {
	var (
		d          draftFlags
		file, etag string
	)
	c := &cobra.Command{
		Use:   "update REQUEST",
		Short: "Change a draft: the fields the file and the flags give, and only those",
		Long: `Change a draft. The fields given (the top-level fields of --from-file, and each flag) are
changed, and only those: a list given replaces the list. The update is made against the etag
you give (--etag), else the request's current one, so that a change made meanwhile by someone
else is not overwritten without notice.`,
		Example: `  comityctl requests update KZ-2026-000002 --facts-summary 'Between 3 and 5 March…'
  comityctl requests get KZ-2026-000002 -o yaml > draft.yaml; $EDITOR draft.yaml
  comityctl requests update KZ-2026-000002 --from-file draft.yaml`,
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
			if len(mask) == 0 {
				return fmt.Errorf("%w: nothing to change: give --from-file or a field's flag (see 'comityctl requests update -h')", errUsage)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			name, err := resolveRequest(ctx, cl, a[0])
			if err != nil {
				return err
			}
			if etag == "" {
				var cur requestv1.Request
				if err := cl.call(ctx, http.MethodGet, "/v1/"+name, nil, &cur); err != nil {
					return err
				}
				etag = cur.GetEtag()
			}
			r.Name, r.Etag = name, etag
			data, err := cl.callRaw(ctx, http.MethodPatch, "/v1/"+name+"?updateMask="+url.QueryEscape(strings.Join(dedupe(mask), ",")), r)
			if err != nil {
				return conflict(ctx, cl, name, etag, err)
			}
			return g.print(data, requestSummary)
		},
	}
	d.register(c)
	c.Flags().StringVarP(&file, "from-file", "f", "", "JSON or YAML file with the fields to change (- for standard input)")
	c.Flags().StringVar(&etag, "etag", "", "the etag you read (default: the request's current one)")
	return c
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// conflict turns a 409 on a request into words: someone changed it since
// the etag was read. It shows the request's status now.
func conflict(ctx context.Context, c *restClient, name, etag string, err error) error {
	var api *apiError
	if !errors.As(err, &api) || api.status != http.StatusConflict {
		return err
	}
	sent := "you sent " + etag
	if etag == "" {
		sent = "it changed while your call was made"
	}
	var cur requestv1.Request
	if gerr := c.call(ctx, http.MethodGet, "/v1/"+name, nil, &cur); gerr != nil {
		return fmt.Errorf("%s changed since you read it (%s): nothing was done. Read it again ('comityctl requests get %s') and retry. (%v)", name, sent, name, err)
	}
	return fmt.Errorf("%s (%s) changed since you read it: it is now %s, etag %s (%s). Nothing was done: read it again ('comityctl requests get %s') and retry with its new --etag. (%v)",
		name, cur.GetReference(), cur.GetStatus(), cur.GetEtag(), sent, name, err)
}

// requestAction is a custom method on a request (AIP-136).
type requestAction struct {
	use, verb, short, long, example string
	// flags registers the action's own flags; body builds its request
	// message from them.
	flags func(c *cobra.Command)
	body  func(c *cobra.Command, name string) (proto.Message, error)
	// view shows the request the action returns (requestSummary when nil).
	view tableView
}

func newRequestActionCmd(g *globals, a requestAction) *cobra.Command {
	var etag string
	c := &cobra.Command{
		Use:     a.use + " REQUEST",
		Short:   a.short,
		Long:    a.short + ".\n\n" + a.long + "\n\nREQUEST is the request's name (requests/ID), id or reference. With --etag, the action is refused\nwhen the request changed since you read it; without, it applies to the request as it is now.",
		Example: a.example,
		Args:    args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			name, err := resolveRequest(ctx, cl, args[0])
			if err != nil {
				return err
			}
			body, err := a.body(c, name)
			if err != nil {
				return err
			}
			if etag != "" {
				fd := body.ProtoReflect().Descriptor().Fields().ByName("etag")
				body.ProtoReflect().Set(fd, protoreflect.ValueOfString(etag))
			}
			data, err := cl.callRaw(ctx, http.MethodPost, "/v1/"+name+":"+a.verb, body)
			if err != nil {
				return conflict(ctx, cl, name, etag, err)
			}
			view := a.view
			if view == nil {
				view = requestSummary
			}
			return g.print(data, view)
		},
	}
	c.Flags().StringVar(&etag, "etag", "", "the etag you read: refuse the action if the request changed since")
	if a.flags != nil {
		a.flags(c)
	}
	return c
}

// attachmentNames reads --attachment values: names, or ids of
// attachments of the request.
func attachmentNames(request string, vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		if idPattern.MatchString(v) {
			out = append(out, request+"/attachments/"+v)
			continue
		}
		if _, err := attachmentName(v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func requestActions() []requestAction {
	var (
		validateOnly                                bool
		reason, questions, answers, summary         string
		explanation, dualCriminality, hrNote, conds string
		consultationNote, consultationTime          string
		hrConcerns, partial                         bool
		attachments, grounds, items, itemAtts       []string
		useConds                                    []string
	)
	validateFlag := func(c *cobra.Command) {
		c.Flags().BoolVar(&validateOnly, "validate-only", false, "check every safeguard and change nothing")
	}
	reasonFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&reason, "reason", "", "why (required)")
	}
	attachmentFlag := func(c *cobra.Command, what string) {
		c.Flags().StringArrayVar(&attachments, "attachment", nil, what+": an uploaded attachment's name or id (repeatable)")
	}
	return []requestAction{
		{use: "submit", verb: "submit", short: "Submit a draft to your central authority (a prosecutor)",
			long:    "Every safeguard is checked, and all failures are reported at once, each naming its field.",
			example: "  comityctl requests submit KZ-2026-000002 --validate-only\n  comityctl requests submit KZ-2026-000002",
			flags:   validateFlag,
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.SubmitRequestRequest{ValidateOnly: validateOnly}, nil
			}},
		{use: "return", verb: "return", short: "Send a submitted request back to its prosecutor (the central authority)",
			long:    "The prosecutor can then change the draft and submit it again.",
			example: "  comityctl requests return KZ-2026-000002 --reason 'The necessity statement names no period.'",
			flags:   reasonFlag,
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.ReturnRequestRequest{Reason: reason}, nil
			}},
		{use: "transmit", verb: "transmit", short: "Transmit a submitted request to the requested agency (the central authority)",
			long:    "Every safeguard is checked again.",
			example: "  comityctl requests transmit KZ-2026-000002",
			flags:   validateFlag,
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.TransmitRequestRequest{ValidateOnly: validateOnly}, nil
			}},
		{use: "acknowledge", verb: "acknowledge", short: "Acknowledge receipt of a transmitted request (the requested side)",
			long:    "Acknowledgement starts the deadline for the answer.",
			example: "  comityctl requests acknowledge KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.AcknowledgeRequestRequest{}, nil
			}},
		{use: "clarify", verb: "requestClarification", short: "Ask the requesting side questions (the requested side)",
			long:    "The request waits for the answers ('requests answer').",
			example: "  comityctl requests clarify KZ-2026-000002 --questions 'Please provide the translation into Uzbek.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&questions, "questions", "", "the questions (required)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.RequestClarificationRequest{Questions: questions}, nil
			}},
		{use: "answer", verb: "provideClarification", short: "Answer the requested side's questions (the requesting side)",
			long:    "Attachments uploaded before ('attachments upload') may go with the answers.",
			example: "  comityctl requests answer KZ-2026-000002 --answers 'Translation attached.' --attachment requests/…/attachments/…",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&answers, "answers", "", "the answers (required)")
				attachmentFlag(c, "an attachment that goes with the answers")
			},
			body: func(_ *cobra.Command, name string) (proto.Message, error) {
				atts, err := attachmentNames(name, attachments)
				return &requestv1.ProvideClarificationRequest{Answers: answers, Attachments: atts}, err
			}},
		{use: "accept", verb: "accept", short: "Accept to execute a request (the requested side)",
			long: "Give the dual criminality assessment and the human-rights review (--human-rights-concerns,\n" +
				"with a --human-rights-note when there are concerns). --use-condition imposes a condition on the\n" +
				"use of what is provided (DESIGN §10), KIND[:DUE]=TEXT as 'requests propose-conditions' takes it: the\n" +
				"requesting side must acknowledge it before it can download the evidence, and it binds them.",
			example: "  comityctl requests accept KZ-2026-000002 --dual-criminality NOT_REQUIRED --human-rights-concerns=false --human-rights-note 'No concerns.'\n" +
				"  comityctl requests accept KZ-2026-000002 --dual-criminality NOT_REQUIRED --human-rights-concerns=false \\\n" +
				"    --use-condition NO_ONWARD_TRANSFER='Not to be passed on without consent' --use-condition DELETE_BY:2027-12-31='Delete after the trial'",
			flags: func(c *cobra.Command) {
				enumFlag(c, &dualCriminality, "dual-criminality", "dual criminality assessment", requestv1.Acceptance_DualCriminality(0).Descriptor())
				c.Flags().BoolVar(&hrConcerns, "human-rights-concerns", false, "the human-rights review found concerns (give it, true or false: the review is part of the decision)")
				c.Flags().StringVar(&hrNote, "human-rights-note", "", "the human-rights review's note (required with concerns)")
				c.Flags().StringVar(&conds, "conditions", "", "conditions attached to execution")
				useConditionsFlag(c, &useConds)
			},
			body: func(c *cobra.Command, _ string) (proto.Message, error) {
				m := &requestv1.AcceptRequestRequest{Conditions: conds}
				var err error
				if m.UseConditions, err = useConditions(useConds); err != nil {
					return nil, err
				}
				if c.Flags().Changed("dual-criminality") {
					n, err := enumValue("dual-criminality", dualCriminality, requestv1.Acceptance_DualCriminality(0).Descriptor())
					if err != nil {
						return nil, err
					}
					m.DualCriminality = requestv1.Acceptance_DualCriminality(n)
				}
				// The review is sent only when the user gave it: an absent
				// review must stay absent, not become "no concerns".
				if c.Flags().Changed("human-rights-concerns") || c.Flags().Changed("human-rights-note") {
					m.HumanRightsReview = &requestv1.HumanRightsReview{Concerns: hrConcerns, Note: hrNote}
				}
				return m, nil
			}},
		{use: "refuse", verb: "refuse", short: "Refuse a request, on one or more grounds (the requested side)",
			example: "  comityctl requests refuse KZ-2026-000003 --ground DUAL_CRIMINALITY_NOT_MET --explanation 'The conduct is not an offence in Uzbekistan.'",
			flags: func(c *cobra.Command) {
				c.Flags().StringArrayVar(&grounds, "ground", nil, "a ground (repeatable): "+strings.Join(enumNames(requestv1.Refusal_Ground(0).Descriptor()), ", "))
				_ = c.RegisterFlagCompletionFunc("ground", cobra.FixedCompletions(enumNames(requestv1.Refusal_Ground(0).Descriptor()), cobra.ShellCompDirectiveNoFileComp))
				c.Flags().StringVar(&explanation, "explanation", "", "the explanation")
				c.Flags().StringVar(&consultationNote, "consultation-note", "", "what was considered before refusing (granting in part or under conditions) and with whom: required unless the request is a preservation")
				c.Flags().StringVar(&consultationTime, "consultation-time", "", "when the consultation took place (2026-03-31 or RFC 3339)")
			},
			body: func(*cobra.Command, string) (proto.Message, error) {
				m := &requestv1.RefuseRequestRequest{Explanation: explanation}
				if consultationNote != "" || consultationTime != "" {
					m.Consultation = &requestv1.Consultation{Note: consultationNote}
					if consultationTime != "" {
						ts, err := parseTime("consultation-time", consultationTime)
						if err != nil {
							return nil, err
						}
						m.Consultation.Time = ts
					}
				}
				for _, gr := range grounds {
					n, err := enumValue("ground", gr, requestv1.Refusal_Ground(0).Descriptor())
					if err != nil {
						return nil, err
					}
					m.Grounds = append(m.Grounds, requestv1.Refusal_Ground(n))
				}
				return m, nil
			}},
		{use: "execute", verb: "execute", short: "Record the execution of an accepted request (the requested side)",
			long: "Attachments uploaded before ('attachments upload') carry the response. --item gives the outcome\n" +
				"for one identifier and data category, IDX/CATEGORY=OUTCOME[:REASON] (IDX the identifier's index, from 0;\n" +
				"OUTCOME one of " + strings.Join(enumNames(requestv1.ExecutionItem_Outcome(0).Descriptor()), ", ") + "), and\n" +
				"--item-attachment IDX/CATEGORY=ATTACHMENT an attachment carrying that item's data. With --partial\n" +
				"the request becomes PARTIALLY_EXECUTED, and more deliveries may follow.",
			example: "  comityctl requests execute KZ-2026-000002 --summary 'Logs preserved.' --attachment requests/…/attachments/…\n" +
				"  comityctl requests execute KZ-2026-000005 --summary 'Subscriber data; no logs.' --item '0/subscriber data=PROVIDED' \\\n" +
				"    --item-attachment '0/subscriber data=0192f0c4-…' --item '0/connection logs=NOT_RETAINED:Kept 6 months only'",
			flags: func(c *cobra.Command) {
				c.Flags().StringVar(&summary, "summary", "", "summary of the response (required)")
				c.Flags().BoolVar(&partial, "partial", false, "only part of the request was executed: more deliveries will follow")
				attachmentFlag(c, "an attachment that carries the response")
				c.Flags().StringArrayVar(&items, "item", nil, "the outcome for one identifier and data category, IDX/CATEGORY=OUTCOME[:REASON] (repeatable)")
				c.Flags().StringArrayVar(&itemAtts, "item-attachment", nil, "an attachment of one item, IDX/CATEGORY=ATTACHMENT (name or id; repeatable)")
			},
			body: func(_ *cobra.Command, name string) (proto.Message, error) {
				atts, err := attachmentNames(name, attachments)
				if err != nil {
					return nil, err
				}
				m := &requestv1.ExecuteRequestRequest{ResponseSummary: summary, Partial: partial, Attachments: atts}
				for _, s := range items {
					it, err := parseItem(s)
					if err != nil {
						return nil, err
					}
					m.Items = append(m.Items, it)
				}
				return m, itemAttachments(name, m.Items, itemAtts)
			}},
		{use: "extend", verb: "extendPreservation", short: "Extend an executed preservation by another period (the requested side)",
			example: "  comityctl requests extend KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.ExtendPreservationRequest{}, nil
			}},
		{use: "withdraw", verb: "withdraw", short: "Withdraw a request (the requesting side)",
			example: "  comityctl requests withdraw KZ-2026-000004 --reason 'The suspect was identified otherwise.'",
			flags:   reasonFlag,
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.WithdrawRequestRequest{Reason: reason}, nil
			}},
		{use: "close", verb: "close", short: "Close the case (the requesting side)",
			example: "  comityctl requests close KZ-2026-000002",
			body: func(*cobra.Command, string) (proto.Message, error) {
				return &requestv1.CloseRequestRequest{}, nil
			}},
	}
}

func newRequestsHistoryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "history REQUEST",
		Short:   "Show a request's status changes, oldest first",
		Example: "  comityctl requests history KZ-2026-000002",
		Args:    args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := requestName(a[0])
			if err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/"+name+"/history", nil)
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "changes", columns: []column{
				{header: "TIME", path: "time"}, {header: "ACTION", path: "action"}, {header: "FROM", path: "fromStatus"},
				{header: "TO", path: "toStatus"}, {header: "BY", path: "actor.subject"}, {header: "AGENCY", path: "actor.agency"},
				{header: "REASON", path: "reason", width: 60},
			}})
		},
	}
}

func newRequestsWatchCmd(g *globals) *cobra.Command {
	var filter string
	c := &cobra.Command{
		Use:   "watch",
		Short: "Print the status changes you may see as they happen, until interrupted",
		Long: `Print the status changes of the requests you may see as they happen, one per line (in JSON
or YAML, one object each), until interrupted (Ctrl-C, exit 0). The stream ends, with an error,
when the token expires.`,
		Example: "  comityctl requests watch\n  comityctl requests watch --filter 'requestedState = \"UZ\"' --output json | jq .",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			return g.watch(c.Context(), cl, filter)
		},
	}
	c.Flags().StringVar(&filter, "filter", "", "AIP-160 filter on the requests, as 'requests list' takes")
	return c
}

// watch prints the events of GET /v1/requests:watch until ctx ends (which
// is a success: the user stopped it) or the stream does.
func (g *globals) watch(ctx context.Context, c *restClient, filter string) error {
	path := "/v1/requests:watch"
	if filter != "" {
		path += "?filter=" + url.QueryEscape(filter)
	}
	resp, err := c.stream(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"application/x-ndjson"}})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	format := g.format()
	if format == "table" {
		fmt.Fprintln(g.stderr, "watching; Ctrl-C to stop")
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var ev struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("the watch sent something that is not an event: %w", err)
		}
		if len(ev.Error) > 0 {
			msg, vs := parseStatus(ev.Error)
			return fmt.Errorf("the watch ended: %s", strings.Join(append([]string{msg}, vs...), "; "))
		}
		if err := g.printEvent(format, ev.Result); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the watch ended: %w", err)
	}
	return errors.New("the watch ended: the gateway closed the stream")
}

func (g *globals) printEvent(format string, raw json.RawMessage) error {
	switch format {
	case "json":
		_, err := fmt.Fprintf(g.stdout, "%s\n", compact(raw))
		return err
	case "yaml":
		out, err := yaml.JSONToYAML(raw)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.stdout, "---\n%s", out)
		return err
	}
	var m any
	_ = json.Unmarshal(raw, &m)
	line := fmt.Sprintf("%s  %s  %s  %s  %s → %s  by %s (%s)", lookup(m, "change.time"), lookup(m, "reference"), lookup(m, "request"),
		lookup(m, "change.action"), lookup(m, "change.fromStatus"), lookup(m, "change.toStatus"),
		lookup(m, "change.actor.subject"), lookup(m, "change.actor.agency"))
	_, err := fmt.Fprintln(g.stdout, printable(line, 0))
	return err
}

func compact(raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// relatedRequest parses a --related-request value, [KIND:]REQUEST.
func relatedRequest(s string) (*requestv1.RelatedRequest, error) {
	kind, ref := "RELATED", s
	if k, r, ok := strings.Cut(s, ":"); ok && !strings.Contains(k, "/") {
		kind, ref = strings.ToUpper(k), r
	}
	k, ok := requestv1.RelatedRequest_Kind_value[kind]
	if !ok || k == 0 {
		return nil, fmt.Errorf("--related-request %q: the relation %q is none of FOLLOW_UP_OF, EXTENSION_OF, SUPERSEDES, SPAWNED_BY, RELATED", s, kind)
	}
	name, err := requestName(ref)
	if err != nil {
		return nil, err
	}
	return &requestv1.RelatedRequest{Kind: requestv1.RelatedRequest_Kind(k), Request: name}, nil
}
