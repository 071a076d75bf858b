package console

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/witness/witnesskey"
)

// The auditor's pages: the trail of their state with filters, a request's
// events, the signed checkpoint, and the export of a bundle to verify
// offline. They call the audit service only: its events carry metadata
// (who did what to which resource, when, with what outcome), never a
// request's content, and these pages never ask the request service for
// any. The audit service decides what an auditor sees (the events that
// involve their state) and records each read on the trail itself.

// auditPageSize is how many entries a page of the trail shows.
const auditPageSize = 50

// maxBundleBytes bounds the bundle the console receives from the audit
// service: the 10,000 entries of the largest export, each with its leaf
// and proof (about 1.5 KB), fit well within it, where gRPC's default of
// 4 MiB would refuse a few thousand.
const maxBundleBytes = 64 << 20

// bundleFileName is the name of an exported bundle: always the same for a
// state, so that the page can show the exact command to verify it. A
// state that is not a code of two letters (the sign-in says what it is)
// is left out of the name, which goes into a header.
func bundleFileName(state string) string {
	if !stateCodePattern.MatchString(state) {
		return "comity-audit.bundle"
	}
	return "comity-audit-" + strings.ToLower(state) + ".bundle"
}

// auditOutcomes are the outcomes the trail's filter offers besides "any":
// "OK", every failure at once ("!OK"), and the gRPC codes a call of the
// suite ends with most.
var auditOutcomes = []string{"OK", "!OK", "PERMISSION_DENIED", "UNAUTHENTICATED", "NOT_FOUND", "INVALID_ARGUMENT",
	"FAILED_PRECONDITION", "ABORTED", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"}

// auditActions are the gRPC methods of the suite, for the filter's list:
// the value is the full method name, which the events' action holds; the
// label the service's and the method's names, e.g. "RequestService ·
// CreateRequest".
func auditActions() []option {
	var out []option
	for _, sd := range []grpc.ServiceDesc{requestv1.RequestService_ServiceDesc, directoryv1.DirectoryService_ServiceDesc,
		auditv1.AuditService_ServiceDesc} {
		service := sd.ServiceName[strings.LastIndex(sd.ServiceName, ".")+1:]
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range sd.Streams {
			names = append(names, st.StreamName)
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, option{Value: "/" + sd.ServiceName + "/" + n, Label: service + " · " + n})
		}
	}
	return out
}

// auditFilter is the trail's filter as the form holds it.
type auditFilter struct {
	From, To, Action, Resource, Agency, Actor, Outcome string
}

// auditFilterFields are the form's field names, in order; they are also
// the keys of the query string.
var auditFilterFields = []string{"from", "to", "action", "resource", "agency", "actor", "outcome"}

// readAuditFilter reads the filter from a form or a query string, trimmed.
func readAuditFilter(get func(string) string) auditFilter {
	t := func(k string) string { return strings.TrimSpace(get(k)) }
	return auditFilter{From: t("from"), To: t("to"), Action: t("action"), Resource: t("resource"),
		Agency: t("agency"), Actor: t("actor"), Outcome: t("outcome")}
}

// values are the filter as a query string's values, without the empty ones.
func (f auditFilter) values() url.Values {
	q := url.Values{}
	for i, v := range []string{f.From, f.To, f.Action, f.Resource, f.Agency, f.Actor, f.Outcome} {
		if v != "" {
			q.Set(auditFilterFields[i], v)
		}
	}
	return q
}

// Empty says that the filter selects every entry.
func (f auditFilter) Empty() bool { return len(f.values()) == 0 }

// aip is the filter in the audit service's AIP-160 syntax, or the fields
// whose value is not a moment (as message ids by field), which the form
// shows next to them. A resource selects itself and everything under it,
// by the service's has operator: a request's events and its attachments'
// (requests/X/attachments/Y), not requests/X2's.
func (f auditFilter) aip() (string, map[string]string) {
	var terms []string
	bad := map[string]string{}
	moment := func(field, v, op string, shift time.Duration) {
		if v == "" {
			return
		}
		t, err := time.Parse(formTimeLayout, v)
		if err != nil {
			// Browsers without a datetime-local input send what was
			// typed; seconds are allowed as well.
			if t, err = time.Parse(formTimeLayout+":05", v); err != nil {
				bad[field] = "audit.bad_time"
				return
			}
		}
		terms = append(terms, "time "+op+" "+strconv.Quote(t.Add(shift).UTC().Format(time.RFC3339)))
	}
	moment("from", f.From, ">=", 0)
	// The upper bound includes its whole minute.
	moment("to", f.To, "<", time.Minute)
	eq := func(field, v string) {
		if v != "" {
			terms = append(terms, field+" = "+strconv.Quote(v))
		}
	}
	eq("action", f.Action)
	eq("agency", strings.TrimPrefix(f.Agency, "agencies/"))
	eq("actor", f.Actor)
	switch f.Outcome {
	case "":
	case "!OK":
		terms = append(terms, `outcome != "OK"`)
	default:
		eq("outcome", f.Outcome)
	}
	if r := strings.TrimRight(f.Resource, "/"); r != "" {
		terms = append(terms, "resource:"+strconv.Quote(r))
	}
	return strings.Join(terms, " AND "), bad
}

// auditEntryView is an entry of the trail as the page shows it.
type auditEntryView struct {
	Index      uint64
	At         moment
	Action     string // the method's name, e.g. SubmitRequest
	FullAction string
	Service    string
	Resource   string
	// ResourceHref leads to the events of the request the resource is or
	// belongs to; empty for other resources.
	ResourceHref string
	Subject      string
	Agency       string
	Roles        string
	Address      string
	Outcome      string
	OK           bool
	Transition   string
	States       string
	// Count is the number of calls an aggregate event stands for (0: one).
	Count uint64
	// Purpose is the purpose the reader declared, on a read of content
	// ("undeclared" when none), and PurposeName how the page names it;
	// both empty on other events.
	Purpose, PurposeName string
	// Safeguards are the outcomes of the checks a :submit, :transmit,
	// :accept or :refuse made (DESIGN §6.1), as the event names them.
	Safeguards []*auditv1.Safeguard
}

// auditView is what the trail's page shows.
type auditView struct {
	Filter  auditFilter
	Actions []option
	// Outcomes are the outcome filter's choices, with their labels.
	Outcomes []option
	Entries  []auditEntryView
	// Request is the request whose events the page shows, when the
	// filter is on one.
	Request string
	// Next is the address of the next page; empty on the last.
	Next string
	// First is the address of the first page, when this is a later one.
	First string
	// Export leads to the export form with this filter.
	Export string
	Errors *formErrors
	// Bad are the form's fields whose value is not understood, with the
	// message saying why.
	Bad map[string]string
}

// outcomeChoices are the outcome filter's options.
func outcomeChoices(pg page) []option {
	out := []option{{"", pg.T("audit.outcome_any")}}
	for _, o := range auditOutcomes {
		label := o
		switch o {
		case "OK":
			label = pg.T("audit.outcome_ok")
		case "!OK":
			label = pg.T("audit.outcome_failed")
		}
		out = append(out, option{o, label})
	}
	return out
}

// requestOf is the request a resource is or belongs to ("requests/X" of
// "requests/X/attachments/Y"), or "".
func requestOf(resource string) string {
	rest, ok := strings.CutPrefix(resource, "requests/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if !requestIDPattern.MatchString(id) {
		return ""
	}
	return "requests/" + id
}

// entryOf converts an entry of the trail for the page; state is the
// auditor's, in whose time zone times are shown beside UTC.
func entryOf(pg page, z zones, state string, e *auditv1.Entry) auditEntryView {
	ev := e.GetEvent()
	full := ev.GetAction()
	v := auditEntryView{
		Index: e.GetIndex(), At: z.at(ev.GetTime(), state),
		Action: full[strings.LastIndex(full, "/")+1:], FullAction: full, Service: ev.GetService(),
		Resource: ev.GetResource(),
		Subject:  ev.GetActor().GetSubject(), Agency: ev.GetActor().GetAgency(),
		Address: ev.GetActor().GetAddress(),
		Outcome: ev.GetOutcome(), OK: ev.GetOutcome() == "OK",
		States: strings.Join(ev.GetStates(), ", "), Count: ev.GetCount(), Safeguards: ev.GetSafeguards(),
	}
	if v.Purpose = ev.GetPurpose(); v.Purpose != "" {
		v.PurposeName = purposeName(pg, v.Purpose)
	}
	if req := requestOf(v.Resource); req != "" {
		v.ResourceHref = "/audit?" + url.Values{"resource": {req}}.Encode()
	}
	if roles := ev.GetActor().GetRoles(); len(roles) > 0 {
		v.Roles = roleNames(pg, roles)
	}
	if t := ev.GetTransition(); t != nil {
		v.Transition = statusName(pg, t.GetFrom()) + " → " + statusName(pg, t.GetTo())
	}
	return v
}

// statusName is a request status in the user's language, or as the event
// holds it when the catalog does not know it.
func statusName(pg page, s string) string {
	if s == "" {
		return "—"
	}
	if t := pg.T("status." + s); t != "status."+s {
		return t
	}
	return s
}

// auditPage shows a page of the trail of the auditor's state, newest
// first.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	q := r.URL.Query()
	f := readAuditFilter(q.Get)
	v := auditView{Filter: f, Actions: auditActions(), Outcomes: outcomeChoices(pg), Request: requestOf(f.Resource)}
	if v.Request != f.Resource {
		v.Request = ""
	}
	v.Export = "/audit/export"
	if !f.Empty() {
		v.Export += "?" + f.values().Encode()
	}
	pg.Title = pg.T("audit.title")
	filter, bad := f.aip()
	if len(bad) > 0 {
		v.Bad = bad
		c.render(w, r, http.StatusBadRequest, AuditPage(pg, v))
		return
	}
	ctx := outgoing(r.Context(), r, s)
	z, err := c.zones(ctx)
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	token := q.Get("page")
	resp, err := c.be.Audit.ListEntries(ctx, &auditv1.ListEntriesRequest{PageSize: auditPageSize, PageToken: token,
		Filter: filter, OrderBy: "index desc"})
	if err != nil {
		fe, isForm := formError(pg, err)
		if !isForm {
			c.serviceError(w, r, pg, err)
			return
		}
		v.Errors = fe
		c.render(w, r, http.StatusBadRequest, AuditPage(pg, v))
		return
	}
	for _, e := range resp.GetEntries() {
		v.Entries = append(v.Entries, entryOf(pg, z, s.State, e))
	}
	if next := resp.GetNextPageToken(); next != "" {
		nq := f.values()
		nq.Set("page", next)
		v.Next = "/audit?" + nq.Encode()
	}
	if token != "" {
		v.First = "/audit"
		if !f.Empty() {
			v.First += "?" + f.values().Encode()
		}
	}
	c.render(w, r, http.StatusOK, AuditPage(pg, v))
}

// checkpointView is what the checkpoint's page shows.
type checkpointView struct {
	// Gateway is the console's origin, where comityctl reaches the API.
	Gateway   string
	Origin    string
	Size      uint64
	RootHex   string
	RootB64   string
	Note      string
	PublicKey string
	// Policy is the witness policy in force (DESIGN §6.1), "" when the
	// log's checkpoints are not witnessed.
	Policy string
	// Witnesses are the policy's witnesses with their cosignatures on
	// this checkpoint; Quorum says what the policy needs, QuorumMet
	// whether the cosignatures satisfy it, and Problem why not (the
	// verifier's words).
	Witnesses []cosignView
	Quorum    string
	QuorumMet bool
	Problem   string
}

// cosignView is one witness of the policy and its cosignature on the
// checkpoint shown; At is unset when it has none.
type cosignView struct {
	Name, URL string
	At        moment
}

// cosignatures checks the checkpoint's cosignatures against the policy in
// force, with the checks an auditor's comityctl makes (bundle.ParsePolicy,
// Policy.Verify), and the time each witness says it cosigned.
func cosignatures(v *checkpointView, z zones, state string) {
	p, err := bundle.ParsePolicy([]byte(v.Policy))
	if err != nil {
		v.Problem = err.Error()
		return
	}
	report, err := p.Verify([]byte(v.Note))
	v.Quorum, v.QuorumMet = report.Quorum, err == nil
	if err != nil {
		v.Problem = err.Error()
	}
	for _, w := range p.Witnesses() {
		cv := cosignView{Name: w.Name, URL: w.URL}
		if slices.Contains(report.Cosigned, w.Name) {
			if verifier, err := witnesskey.Parse(w.PublicKey); err == nil {
				if n, err := note.Open([]byte(v.Note), note.VerifierList(verifier)); err == nil && len(n.Sigs) > 0 {
					if t, err := fnote.CoSigV1Timestamp(n.Sigs[0]); err == nil {
						cv.At = z.at(timestamppb.New(t), state)
					}
				}
			}
		}
		v.Witnesses = append(v.Witnesses, cv)
	}
}

// checkpointPage shows the log's latest signed checkpoint and how to verify
// it.
func (c *Console) checkpointPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	resp, err := c.be.Audit.GetCheckpoint(outgoing(r.Context(), r, s), &auditv1.GetCheckpointRequest{})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return
	}
	cp := resp.GetCheckpoint()
	v := checkpointView{Gateway: strings.TrimSuffix(c.cfg.PublicURL, "/"), Origin: cp.GetOrigin(), Size: cp.GetSize(), RootHex: hex.EncodeToString(cp.GetRootHash()),
		RootB64: base64.StdEncoding.EncodeToString(cp.GetRootHash()), Note: cp.GetNote(), PublicKey: resp.GetPublicKey(),
		Policy: resp.GetWitnessPolicy()}
	if v.Policy != "" {
		z, err := c.zones(outgoing(r.Context(), r, s))
		if err != nil {
			c.serviceError(w, r, pg, err)
			return
		}
		cosignatures(&v, z, s.State)
	}
	pg.Title = pg.T("audit.checkpoint.title")
	c.render(w, r, http.StatusOK, CheckpointPage(pg, v))
}

// exportView is what the export's page shows.
type exportView struct {
	Filter                      auditFilter
	Actions                     []option
	Outcomes                    []option
	MaxEntries, ConsistencyFrom string
	PublicKey                   string
	FileName                    string
	// Command is the exact command that verifies the downloaded bundle.
	Command string
	Errors  *formErrors
	Bad     map[string]string
}

// tooLarge says that err is gRPC's refusal of an answer larger than the
// client may receive (4 MiB), which a big bundle meets.
func tooLarge(err error) bool {
	st := status.Convert(err)
	return err != nil && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// numberMax is the max attribute of a number input, none when maxValue
// is "".
func numberMax(maxValue string) templ.Attributes {
	if maxValue == "" {
		return nil
	}
	return templ.Attributes{"max": maxValue}
}

// verifyCommand is the command that verifies file against the log's key.
func verifyCommand(publicKey, file string) string {
	return "comityctl audit verify --public-key '" + publicKey + "' " + file
}

// exportPage shows the export form, filled with the filter of the trail's
// page it was opened from, and the command to verify what it downloads.
func (c *Console) exportPage(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	v, ok := c.exportView(w, r, pg, s, readAuditFilter(r.URL.Query().Get))
	if !ok {
		return
	}
	pg.Title = pg.T("audit.export.title")
	c.render(w, r, http.StatusOK, ExportPage(pg, v))
}

// exportView reads the log's public key for the export page.
func (c *Console) exportView(w http.ResponseWriter, r *http.Request, pg page, s *session, f auditFilter) (exportView, bool) {
	resp, err := c.be.Audit.GetCheckpoint(outgoing(r.Context(), r, s), &auditv1.GetCheckpointRequest{})
	if err != nil {
		c.serviceError(w, r, pg, err)
		return exportView{}, false
	}
	file := bundleFileName(s.State)
	return exportView{Filter: f, Actions: auditActions(), Outcomes: outcomeChoices(pg),
		PublicKey: resp.GetPublicKey(), FileName: file, Command: verifyCommand(resp.GetPublicKey(), file)}, true
}

// export answers the export form with the bundle as a file download, in
// the format `comityctl audit export` writes and `comityctl audit verify`
// reads. A form the service refuses is shown again with its complaints.
func (c *Console) export(w http.ResponseWriter, r *http.Request) {
	s, ok := c.signedIn(w, r)
	if !ok {
		return
	}
	pg := c.page(w, r, s)
	f := readAuditFilter(r.PostFormValue)
	maxEntries := strings.TrimSpace(r.PostFormValue("max_entries"))
	since := strings.TrimSpace(r.PostFormValue("consistency_from"))
	filter, bad := f.aip()
	req := &auditv1.ExportBundleRequest{Filter: filter}
	if maxEntries != "" {
		n, err := strconv.ParseInt(maxEntries, 10, 32)
		if err != nil || n < 1 {
			bad["max_entries"] = "audit.bad_number"
		}
		req.MaxEntries = int32(n)
	}
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil || n < 1 {
			bad["consistency_from"] = "audit.bad_number"
		}
		req.ConsistencyFrom = n
	}
	var resp *auditv1.ExportBundleResponse
	var err error
	if len(bad) == 0 {
		resp, err = c.be.Audit.ExportBundle(outgoing(r.Context(), r, s), req, grpc.MaxCallRecvMsgSize(maxBundleBytes))
	}
	if len(bad) > 0 || err != nil {
		var fe *formErrors
		if tooLarge(err) {
			// The bundle exceeds what one gRPC message may carry: the
			// user can ask for fewer entries.
			bad["max_entries"], err = "audit.export.too_large", nil
		}
		if err != nil {
			var isForm bool
			if fe, isForm = formError(pg, err, "max_entries", "consistency_from"); !isForm {
				c.serviceError(w, r, pg, err)
				return
			}
		}
		v, ok := c.exportView(w, r, pg, s, f)
		if !ok {
			return
		}
		v.MaxEntries, v.ConsistencyFrom, v.Errors, v.Bad = maxEntries, since, fe, bad
		pg.Title = pg.T("audit.export.title")
		c.render(w, r, http.StatusBadRequest, ExportPage(pg, v))
		return
	}
	data, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp.GetBundle())
	if err != nil {
		c.fail(w, r, pg, fmt.Errorf("encode the audit bundle: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="`+bundleFileName(s.State)+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(http.StatusOK)
	w.Write(append(data, '\n'))
}
