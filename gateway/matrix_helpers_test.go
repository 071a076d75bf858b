package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/trail"
)

// This file is the machinery of TestAccessMatrix: parsing the table,
// building the requests it is tried on, and calling each method.

// stage is where the request a cell is tried on stands: a lifecycle status,
// or one of the pseudo-stages below.
type stage string

const (
	draft          stage = "DRAFT"
	submitted      stage = "SUBMITTED"
	withdrawnDraft stage = "WITHDRAWN_DRAFT" // withdrawn while a draft, never transmitted
	closedDraft    stage = "CLOSED_DRAFT"    // closed after withdrawnDraft
	transmitted    stage = "TRANSMITTED"
	acknowledged   stage = "ACKNOWLEDGED"
	clarification  stage = "CLARIFICATION_REQUESTED"
	accepted       stage = "ACCEPTED"
	refused        stage = "REFUSED"
	executed       stage = "EXECUTED"
	withdrawn      stage = "WITHDRAWN"
	closed         stage = "CLOSED"
	// The statuses of DESIGN §5.5a.
	partiallyExecuted stage = "PARTIALLY_EXECUTED"
	postponed         stage = "POSTPONED"
	conditions        stage = "CONDITIONS_PROPOSED"
	awaitingDecision  stage = "AWAITING_REQUESTER_DECISION"
	// oral is a request the requested agency's central authority recorded
	// from a call on behalf of kz-gpo (§5.3): ACKNOWLEDGED, with no owner
	// until a prosecutor of kz-gpo confirms it in writing. Only the
	// confirmation is tried on it: a request drafted in Comity has nothing
	// to confirm.
	oral stage = "ORAL"

	// anyStage: the call involves no request.
	anyStage stage = "any"
	// entryOfKZ and entryOfKZUZ: GetEntry of an audit entry involving KZ
	// only (a draft's creation), and KZ and UZ (a transmission).
	entryOfKZ   stage = "KZ_ENTRY"
	entryOfKZUZ stage = "KZ_UZ_ENTRY"
	// witnessOfKZ: UpdateState of KZ's witness (update mask witness,
	// DESIGN §6.1), rather than of its time zone.
	witnessOfKZ stage = "KZ_WITNESS"
)

var (
	preStages   = []stage{draft, submitted, withdrawnDraft, closedDraft}
	openStages  = []stage{transmitted, acknowledged, clarification, accepted, partiallyExecuted, postponed, conditions, awaitingDecision}
	endedStages = []stage{refused, executed, withdrawn, closed}
	postStages  = slices.Concat(openStages, endedStages)
	allStages   = slices.Concat(preStages, postStages)

	// boundStages are the statuses at which use conditions can bind
	// (DESIGN §10): accepted, and every status after.
	boundStages = []stage{accepted, partiallyExecuted, executed, postponed, awaitingDecision, withdrawn, closed}

	stageGroups = map[string][]stage{
		"pre": preStages, "post": postStages, "open": openStages, "ended": endedStages, "bound": boundStages,
		"any": {anyStage}, string(entryOfKZ): {entryOfKZ}, string(entryOfKZUZ): {entryOfKZUZ}, string(oral): {oral},
		string(witnessOfKZ): {witnessOfKZ},
	}
	// requestStages are the stages of a request a cell may be tried on.
	requestStages = append(slices.Clone(allStages), oral)
)

// status is the request status of a lifecycle stage.
func (st stage) status() requestv1.Request_Status {
	switch st {
	case withdrawnDraft:
		return requestv1.Request_WITHDRAWN
	case closedDraft:
		return requestv1.Request_CLOSED
	case oral:
		return requestv1.Request_ACKNOWLEDGED
	}
	return requestv1.Request_Status(requestv1.Request_Status_value[string(st)])
}

const notTried = "-"

// matrixRow is one line of the access matrix.
type matrixRow struct {
	line   int
	method string
	on     []stage
	cells  []string // one per matrixCallers
}

// matrixCaller is one column of the access matrix.
type matrixCaller struct {
	group   string // relation of the caller's agency to the request
	label   string // the column's header
	agency  string
	role    identity.Role
	subject string // empty: the dev token's default
	service string // a service identity instead of a user
	// routedTo is the requested agency of the requests the caller's cells
	// are tried on: matrixGPO for the column of the requested agency's
	// prosecutor, empty for the others' (uz-247).
	routedTo string
}

// key names the caller in subtests and tokens, e.g. requestedAgency.CA.
func (c matrixCaller) key() string { return c.group + "." + c.label }

// about describes the caller in failures.
func (c matrixCaller) about() string {
	switch {
	case c.service != "":
		return "service identity " + c.service
	case c.agency == "":
		return "no token"
	case c.subject != "":
		return fmt.Sprintf("%s %s of %s", c.subject, c.role, c.agency)
	}
	return fmt.Sprintf("%s of %s", c.role, c.agency)
}

func (c matrixCaller) state() string {
	if len(c.agency) < 2 {
		return ""
	}
	return strings.ToUpper(c.agency[:2])
}

func matrixCallerOf(key string) matrixCaller {
	for _, c := range matrixCallers {
		if c.key() == key {
			return c
		}
	}
	panic("no caller " + key)
}

// parseMatrix reads the table: comments and blank lines aside, each line is
// a method, a stage expression and one outcome per caller; the header line
// must name the callers in the order of matrixCallers.
func parseMatrix(text string) ([]matrixRow, error) {
	var rows []matrixRow
	header := false
	for n, line := range strings.Split(text, "\n") {
		fields := slices.DeleteFunc(strings.Fields(line), func(f string) bool { return f == "|" })
		if len(fields) >= 3 && fields[0] == "#" && fields[1] == "method" {
			var labels []string
			for _, c := range matrixCallers {
				labels = append(labels, c.label)
			}
			if !slices.Equal(fields[3:], labels) {
				return nil, fmt.Errorf("line %d: the header names %v, the callers are %v", n, fields[3:], labels)
			}
			header = true
			continue
		}
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if !header {
			return nil, fmt.Errorf("line %d: a row before the header", n)
		}
		if len(fields) != 2+len(matrixCallers) {
			return nil, fmt.Errorf("line %d: %d outcomes for %d callers: %q", n, len(fields)-2, len(matrixCallers), line)
		}
		on, err := parseStages(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		for _, o := range fields[2:] {
			if !slices.Contains([]string{"OK", "MD", "NF", "PD", "FP", "UA", notTried}, o) {
				return nil, fmt.Errorf("line %d: unknown outcome %q", n, o)
			}
		}
		rows = append(rows, matrixRow{line: n, method: fields[0], on: on, cells: fields[2:]})
	}
	return rows, nil
}

// parseStages reads "a,b" (both) and "a-b" (a without b), where each name is
// a stage or a group of stageGroups.
func parseStages(expr string) ([]stage, error) {
	named := func(name string) ([]stage, error) {
		if g, ok := stageGroups[name]; ok {
			return g, nil
		}
		if slices.Contains(allStages, stage(name)) {
			return []stage{stage(name)}, nil
		}
		return nil, fmt.Errorf("unknown stage %q", name)
	}
	var out []stage
	for _, term := range strings.Split(expr, ",") {
		parts := strings.Split(term, "-")
		base, err := named(parts[0])
		if err != nil {
			return nil, err
		}
		base = slices.Clone(base)
		for _, p := range parts[1:] {
			drop, err := named(p)
			if err != nil {
				return nil, err
			}
			base = slices.DeleteFunc(base, func(st stage) bool { return slices.Contains(drop, st) })
		}
		out = append(out, base...)
	}
	return out, nil
}

// matrixFixture is a request brought to a stage.
type matrixFixture struct {
	name string // requests/{id}
	// attachment is an attachment the owner uploaded while it was a draft.
	attachment string
}

// matrixAcademy is a KZ TRAINING_INSTITUTION agency newMatrixEnv creates.
const matrixAcademy = "kz-matrix-academy"

// matrixEnv is the suite, a token per caller, and the shared fixtures.
type matrixEnv struct {
	req requestv1.RequestServiceClient
	dir directoryv1.DirectoryServiceClient
	aud auditv1.AuditServiceClient
	// appender reaches the audit service over the request service's mTLS
	// identity, the only kind of peer it takes Append from: the cells of
	// Append are then about the token alone.
	appender auditv1.AuditServiceClient
	tokens   map[string]string

	// shared are the shared fixtures by where they are routed (a
	// matrixCaller's routedTo) and stage.
	shared   map[string]map[stage]*matrixFixture
	entries  map[stage]uint64 // audit entry index for entryOfKZ, entryOfKZUZ
	kzState  *directoryv1.State
	kzPolice *directoryv1.Agency
	// kzWrite serialises the cells that read the etag of KZ or of
	// kz-police-cyber and write with it. The callers of a method run in
	// parallel: the two administrators allowed to write would otherwise
	// race for the etag, and one of them get a conflict, which is not what
	// the cell is about.
	kzWrite sync.Mutex

	watchers    map[string]*matrixWatcher
	stopWatch   context.CancelFunc
	settleWatch sync.Once

	seq atomic.Int64
}

func newMatrixEnv(t *testing.T) *matrixEnv {
	s := startSuite(t, suiteOptions{quiet: true})
	e := &matrixEnv{
		tokens: map[string]string{}, shared: map[string]map[stage]*matrixFixture{"": {}, matrixGPO: {}}, entries: map[stage]uint64{},
		req:      requestv1.NewRequestServiceClient(s.grpcConn("request")),
		dir:      directoryv1.NewDirectoryServiceClient(s.grpcConn("directory")),
		aud:      auditv1.NewAuditServiceClient(s.grpcConn("audit")),
		appender: auditv1.NewAuditServiceClient(s.grpcConnAs("audit", mtls.Request)),
	}
	for _, c := range matrixCallers {
		switch {
		case c.service != "":
			creds, err := identity.NewServiceCredentials(s.dataDir, c.service)
			if err != nil {
				t.Fatal(err)
			}
			if e.tokens[c.key()], err = creds.Token(); err != nil {
				t.Fatal(err)
			}
		case c.agency != "":
			e.tokens[c.key()] = s.tokenFor(c.subject, c.agency, c.role)
		}
	}
	// The training institution whose central_authority tokens the matrix
	// expects refused: a kind of agency the seed does not have.
	_, err := e.dir.CreateAgency(e.ctx(t, requestingAdmin), &directoryv1.CreateAgencyRequest{
		AgencyId: matrixAcademy,
		Agency: &directoryv1.Agency{State: "KZ", Kind: directoryv1.Agency_TRAINING_INSTITUTION,
			DisplayNames: map[string]string{"en": "Access matrix training institution"}},
	})
	must(t, err, "create "+matrixAcademy)
	e.startWatchers(t)
	for route, fixtures := range e.shared {
		for _, st := range requestStages {
			fixtures[st] = e.build(t, st, true, route)
		}
	}
	e.findAuditEntries(t)
	ctx := e.ctx(t, requestingCA)
	st, err := e.dir.GetState(ctx, &directoryv1.GetStateRequest{Name: "states/KZ"})
	must(t, err, "get states/KZ")
	e.kzState = st.GetState()
	ag, err := e.dir.GetAgency(ctx, &directoryv1.GetAgencyRequest{Name: "agencies/kz-police-cyber"})
	must(t, err, "get agencies/kz-police-cyber")
	e.kzPolice = ag.GetAgency()
	return e
}

// ctx is a call context with the caller's token.
func (e *matrixEnv) ctx(t *testing.T, c matrixCaller) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	if tok := e.tokens[c.key()]; tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	return ctx
}

func (e *matrixEnv) next() int64 { return e.seq.Add(1) }

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// preservationProto is preservation() as the gRPC API takes it.
func preservationProto(t *testing.T, requestedState string) *requestv1.Request {
	body := preservation()
	body["requestedState"] = requestedState
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var r requestv1.Request
	if err := protojson.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// matrixGPO is the requested agency of the requests of the requested
// agency's prosecutor column: UZ's prosecutor general's office, a central
// authority, which the directory routes a ROUTINE preservation to.
const matrixGPO = "uz-gpo"

// build files a request as the owner and takes it to st through the lifecycle,
// each step by the party DESIGN §5 names. A shared fixture (withContent)
// also gets an attachment, a message for both sides, a note for the own
// agency only, and a return with a reason before it is submitted again, so
// that its history has a reason for metadata-only views to hide. routedTo
// is a matrixCaller's: empty for the URGENT preservation the directory
// routes to uz-247, matrixGPO for the same request made ROUTINE, which it
// routes to uz-gpo (whose central authority then acts for the requested
// agency).
func (e *matrixEnv) build(t *testing.T, st stage, withContent bool, routedTo string) *matrixFixture {
	t.Helper()
	return e.buildWith(t, st, withContent, routedTo, false)
}

// buildWith is build; with bound, the request is accepted with use
// conditions (DESIGN §10) that then bind it, and brought to POSTPONED,
// AWAITING_REQUESTER_DECISION or WITHDRAWN after that acceptance.
func (e *matrixEnv) buildWith(t *testing.T, st stage, withContent bool, routedTo string, bound bool) *matrixFixture {
	t.Helper()
	draftReq, requestedCA, wantAgency := preservationProto(t, "UZ"), requestedCA, "agencies/uz-247"
	if routedTo == matrixGPO {
		draftReq.Priority = directoryv1.Priority_ROUTINE
		requestedCA, wantAgency = matrixCallerOf("requestedState.CA"), "agencies/"+matrixGPO
	}
	if st == oral {
		// Recorded by the requested agency from a kz-gpo prosecutor's call,
		// with every field a written request has: only the confirmation
		// is missing.
		r, err := e.req.RecordOralRequest(e.ctx(t, requestedCA), &requestv1.RecordOralRequestRequest{
			Request: draftReq, RequestingAgency: "agencies/kz-gpo",
			Intake: &requestv1.Intake{Channel: requestv1.Intake_PHONE, Caller: "Duty prosecutor of the KZ GPO", ReceivedTime: timestamppb.Now()}})
		must(t, err, "record a request from a call")
		if got := r.GetRequest().GetRequestedAgency(); got != wantAgency || r.GetRequest().GetStatus() != requestv1.Request_ACKNOWLEDGED {
			t.Fatalf("a request recorded by %s is %s at %q", wantAgency, r.GetRequest().GetStatus(), got)
		}
		return &matrixFixture{name: r.GetRequest().GetName()}
	}
	r, err := e.req.CreateRequest(e.ctx(t, owner), &requestv1.CreateRequestRequest{Request: draftReq})
	must(t, err, "create a request")
	if got := r.GetRequest().GetRequestedAgency(); got != wantAgency {
		t.Fatalf("a request meant for %s was routed to %q", wantAgency, got)
	}
	fx := &matrixFixture{name: r.GetRequest().GetName()}
	do := func(c matrixCaller, method string) {
		t.Helper()
		must(t, lifecycleCalls[method](e.ctx(t, c), e.req, fx.name), fmt.Sprintf("building a %s request: %s by %s", st, method, c.key()))
	}
	if withContent {
		a, err := e.upload(e.ctx(t, owner), fx.name)
		must(t, err, "upload an attachment")
		fx.attachment = a.GetName()
		for _, v := range []requestv1.Message_Visibility{requestv1.Message_OWN_AGENCY, requestv1.Message_BOTH_SIDES} {
			_, err := e.req.CreateMessage(e.ctx(t, owner), &requestv1.CreateMessageRequest{Parent: fx.name,
				Message: &requestv1.Message{Body: "A note of the prosecutor (" + v.String() + ").", Visibility: v}})
			must(t, err, "post a message")
		}
		do(owner, "SubmitRequest")
		do(requestingCA, "ReturnRequest")
	}
	switch st {
	case draft:
		return fx
	case withdrawnDraft, closedDraft:
		do(owner, "WithdrawRequest")
		if st == closedDraft {
			do(requestingCA, "CloseRequest")
		}
		return fx
	}
	do(owner, "SubmitRequest")
	if st == submitted {
		return fx
	}
	do(requestingCA, "TransmitRequest")
	if st == transmitted {
		return fx
	}
	do(requestedCA, "AcknowledgeRequest")
	accept := "AcceptRequest"
	if bound {
		accept = "AcceptWithUseConditions"
		if st == postponed || st == awaitingDecision || st == withdrawn {
			do(requestedCA, accept)
		}
	}
	switch st {
	case clarification:
		do(requestedCA, "RequestClarification")
	case accepted:
		do(requestedCA, accept)
	case partiallyExecuted:
		do(requestedCA, accept)
		must(t, partialExecution(e.ctx(t, requestedCA), e.req, fx.name), "building a PARTIALLY_EXECUTED request: a partial execution")
	case postponed:
		do(requestedCA, "PostponeRequest")
	case conditions:
		do(requestedCA, "ProposeConditions")
	case awaitingDecision:
		do(requestedCA, "DeclareConfidentialityImpossible")
	case refused:
		do(requestedCA, "RefuseRequest")
	case executed, closed:
		do(requestedCA, accept)
		do(requestedCA, "ExecuteRequest")
		if st == closed {
			do(requestingCA, "CloseRequest")
		}
	case withdrawn:
		do(owner, "WithdrawRequest")
	}
	return fx
}

// returnReason is why the requesting central authority returns a shared
// fixture to its prosecutor before transmitting it.
const returnReason = "Please quote the statute in full."

// lifecycleCalls take each lifecycle action on a request with a body that
// is valid, so that only who calls and when decides the outcome.
var lifecycleCalls = map[string]func(ctx context.Context, c requestv1.RequestServiceClient, name string) error{
	"UpdateRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.UpdateRequest(ctx, &requestv1.UpdateRequestRequest{
			Request:    &requestv1.Request{Name: name, CaseReference: "KZ-CASE-2026-1187-B"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"case_reference"}},
		})
		return err
	},
	"SubmitRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.SubmitRequest(ctx, &requestv1.SubmitRequestRequest{Name: name})
		return err
	},
	"ReturnRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ReturnRequest(ctx, &requestv1.ReturnRequestRequest{Name: name, Reason: returnReason})
		return err
	},
	"TransmitRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.TransmitRequest(ctx, &requestv1.TransmitRequestRequest{Name: name})
		return err
	},
	"AcknowledgeRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.AcknowledgeRequest(ctx, &requestv1.AcknowledgeRequestRequest{Name: name})
		return err
	},
	"RequestClarification": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RequestClarification(ctx, &requestv1.RequestClarificationRequest{Name: name, Questions: "Which port range?"})
		return err
	},
	"ProvideClarification": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ProvideClarification(ctx, &requestv1.ProvideClarificationRequest{Name: name, Answers: "Port 443 only."})
		return err
	},
	"AcceptRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.AcceptRequest(ctx, &requestv1.AcceptRequestRequest{Name: name,
			DualCriminality:   requestv1.Acceptance_NOT_REQUIRED,
			HumanRightsReview: &requestv1.HumanRightsReview{Note: "No concerns."}, Conditions: "For these proceedings only."})
		return err
	},
	"RefuseRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RefuseRequest(ctx, &requestv1.RefuseRequestRequest{Name: name,
			Grounds: []requestv1.Refusal_Ground{requestv1.Refusal_ESSENTIAL_INTERESTS}, Explanation: "Preserving these logs would disclose a state secret."})
		return err
	},
	"ExecuteRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ExecuteRequest(ctx, &requestv1.ExecuteRequestRequest{Name: name, ResponseSummary: "Logs preserved."})
		return err
	},
	"ExtendPreservation": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ExtendPreservation(ctx, &requestv1.ExtendPreservationRequest{Name: name})
		return err
	},
	"WithdrawRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.WithdrawRequest(ctx, &requestv1.WithdrawRequestRequest{Name: name, Reason: "The suspect was identified otherwise."})
		return err
	},
	"CloseRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.CloseRequest(ctx, &requestv1.CloseRequestRequest{Name: name})
		return err
	},

	// DESIGN §5.1–§5.5.
	"RequestExtension": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RequestExtension(ctx, &requestv1.RequestExtensionRequest{Name: name, Days: 30, Reason: "The production request is being translated."})
		return err
	},
	"GrantExtension": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.GrantExtension(ctx, &requestv1.GrantExtensionRequest{Name: name})
		return err
	},
	"DeclineExtension": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.DeclineExtension(ctx, &requestv1.DeclineExtensionRequest{Name: name, Reason: "The provider deletes the logs by law."})
		return err
	},
	"ReleasePreservation": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ReleasePreservation(ctx, &requestv1.ReleasePreservationRequest{Name: name, Reason: "The data was obtained otherwise."})
		return err
	},
	"DiscloseChain": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.DiscloseChain(ctx, &requestv1.DiscloseChainRequest{Name: name, Provider: "Pamir Telecom", Country: "TJ",
			Explanation: "The traffic came through its network."})
		return err
	},
	"NotifyImpediment": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.NotifyImpediment(ctx, &requestv1.NotifyImpedimentRequest{Name: name, Kind: requestv1.Impediment_SIGNIFICANT_DELAY,
			Explanation: "The provider answers in 30 days."})
		return err
	},
	"PostponeRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.PostponeRequest(ctx, &requestv1.PostponeRequestRequest{Name: name, Until: timestamppb.New(time.Now().Add(30 * 24 * time.Hour)),
			Reason: "Execution would prejudice a domestic investigation."})
		return err
	},
	"ResumeRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ResumeRequest(ctx, &requestv1.ResumeRequestRequest{Name: name})
		return err
	},
	"ProposeConditions": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ProposeConditions(ctx, &requestv1.ProposeConditionsRequest{Name: name,
			Conditions: []*requestv1.Condition{{Kind: requestv1.Condition_USE_ONLY_STATED_PROCEEDINGS, Text: "For case KZ-CASE-2026-1187 only."}}})
		return err
	},
	"AcceptConditions": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.AcceptConditions(ctx, &requestv1.AcceptConditionsRequest{Name: name})
		return err
	},
	"RejectConditions": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RejectConditions(ctx, &requestv1.RejectConditionsRequest{Name: name, Reason: "Our law keeps the data with the case file."})
		return err
	},
	// DESIGN §10.
	"AcceptWithUseConditions": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.AcceptRequest(ctx, &requestv1.AcceptRequestRequest{Name: name,
			DualCriminality: requestv1.Acceptance_NOT_REQUIRED, HumanRightsReview: &requestv1.HumanRightsReview{Note: "No concerns."},
			UseConditions: []*requestv1.Condition{
				{Kind: requestv1.Condition_USE_ONLY_STATED_PROCEEDINGS, Text: "For case KZ-CASE-2026-1187 only."},
				{Kind: requestv1.Condition_REPORT_USE, Text: "Report how the logs were used.", DueTime: timestamppb.New(time.Now().Add(60 * 24 * time.Hour))},
			}})
		return err
	},
	"AcknowledgeConditions": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.AcknowledgeConditions(ctx, &requestv1.AcknowledgeConditionsRequest{Name: name})
		return err
	},
	"RequestConsent": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RequestConsent(ctx, &requestv1.RequestConsentRequest{Name: name, Kind: requestv1.Consent_OTHER_USE,
			Purpose: "The civil forfeiture of the proceeds."})
		return err
	},
	"GrantConsent": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.GrantConsent(ctx, &requestv1.GrantConsentRequest{Name: name, Consent: 1, Terms: "For the forfeiture only."})
		return err
	},
	"RefuseConsent": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RefuseConsent(ctx, &requestv1.RefuseConsentRequest{Name: name, Consent: 1, Reason: "Forfeiture is not a criminal matter here."})
		return err
	},
	"RecordOnwardTransfer": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.RecordOnwardTransfer(ctx, &requestv1.RecordOnwardTransferRequest{Name: name, Recipient: "Court of Astana",
			Authorisation: "Order of the investigating judge 12/2026."})
		return err
	},
	"ReportUse": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ReportUse(ctx, &requestv1.ReportUseRequest{Name: name, Text: "The logs identified the intruder; the indictment cites them."})
		return err
	},
	"SetLegalHold": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.SetLegalHold(ctx, &requestv1.SetLegalHoldRequest{Name: name, Reason: "Appeal pending before the Supreme Court.",
			ReviewTime: timestamppb.New(time.Now().Add(90 * 24 * time.Hour))})
		return err
	},
	"LiftLegalHold": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.LiftLegalHold(ctx, &requestv1.LiftLegalHoldRequest{Name: name, Reason: "The appeal was decided."})
		return err
	},
	"ConfirmInWriting": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ConfirmInWriting(ctx, &requestv1.ConfirmInWritingRequest{Name: name})
		return err
	},
	"DeclareConfidentialityImpossible": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.DeclareConfidentialityImpossible(ctx, &requestv1.DeclareConfidentialityImpossibleRequest{Name: name,
			Explanation: "The provider must notify its customer by law."})
		return err
	},
	"ProceedRequest": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.ProceedRequest(ctx, &requestv1.ProceedRequestRequest{Name: name})
		return err
	},
	"TransferOwnership": func(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
		_, err := c.TransferOwnership(ctx, &requestv1.TransferOwnershipRequest{Name: name, Owner: matrixCallerOf("requestingAgency.Pr").subject,
			Reason: "Reassigned during leave."})
		return err
	},
}

// partialExecution delivers part of an accepted request.
func partialExecution(ctx context.Context, c requestv1.RequestServiceClient, name string) error {
	_, err := c.ExecuteRequest(ctx, &requestv1.ExecuteRequestRequest{Name: name, ResponseSummary: "The first logs are preserved.", Partial: true})
	return err
}

// extensionDecision is GrantExtension or DeclineExtension: the cell that is
// to succeed first has the owner ask for an extension, for there to be one
// to decide; the others are tried on the request as it is (whoever may not
// decide is refused before that matters).
func extensionDecision(name string) matrixMethod {
	return matrixMethod{kind: moves, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		if c.want == "OK" {
			must(c.t, lifecycleCalls["RequestExtension"](e.ctx(c.t, owner), e.req, c.fx.name), "ask for an extension")
		}
		return "OK", lifecycleCalls[name](ctx, e.req, c.fx.name)
	}}
}

// boundMethod is a lifecycle action of DESIGN §10 under use conditions:
// the request a cell that is to succeed is tried on was accepted with
// them; first, when set, runs as the caller who makes it possible (a
// consent asked, for a consent to be answered).
func boundMethod(name string, first func(t *testing.T, e *matrixEnv, name string)) matrixMethod {
	return matrixMethod{kind: moves, bound: true, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		if c.want == "OK" && first != nil {
			first(c.t, e, c.fx.name)
		}
		return "OK", lifecycleCalls[name](ctx, e.req, c.fx.name)
	}}
}

// consentAsked has the owner ask for a consent (number 1 of a fresh
// request).
func consentAsked(t *testing.T, e *matrixEnv, name string) {
	must(t, lifecycleCalls["RequestConsent"](e.ctx(t, owner), e.req, name), "ask for consent")
}

// subjectRequest is a data subject's request kz-gpo's central authority
// records: the one a cell reads or decides.
func (e *matrixEnv) subjectRequest(t *testing.T) *requestv1.DataSubjectRequest {
	resp, err := e.req.CreateDataSubjectRequest(e.ctx(t, requestingCA), &requestv1.CreateDataSubjectRequestRequest{
		DataSubjectRequest: subjectRequestProto("Askar Seitkali")})
	must(t, err, "record a data subject's request")
	return resp.GetDataSubjectRequest()
}

func subjectRequestProto(person string) *requestv1.DataSubjectRequest {
	return &requestv1.DataSubjectRequest{Person: &requestv1.DataSubject{FullName: person}, Right: requestv1.DataSubjectRequest_ACCESS,
		ReceiveTime: timestamppb.New(time.Now().Add(-time.Hour)), Description: "Asks what was sent abroad about him."}
}

// upload streams a small attachment to a request.
func (e *matrixEnv) upload(ctx context.Context, parent string) (*requestv1.Attachment, error) {
	content := []byte("%PDF-1.7 matrix evidence")
	sum := sha256.Sum256(content)
	stream, err := e.req.UploadAttachment(ctx)
	if err != nil {
		return nil, err
	}
	// A refused upload ends the stream early; its status comes with
	// CloseAndRecv, so a failed Send is not the answer.
	_ = stream.Send(&requestv1.UploadAttachmentRequest{Part: &requestv1.UploadAttachmentRequest_Metadata{Metadata: &requestv1.AttachmentUpload{
		Parent: parent, Kind: requestv1.Attachment_EVIDENCE, Filename: "evidence.pdf", MediaType: "application/pdf",
		Sha256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(content)),
	}}})
	_ = stream.Send(&requestv1.UploadAttachmentRequest{Part: &requestv1.UploadAttachmentRequest_Chunk{Chunk: content}})
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetAttachment(), nil
}

// findAuditEntries finds, as the KZ auditor, an entry involving KZ only (on
// the draft) and one involving KZ and UZ (on the transmitted request), and
// waits until a checkpoint covers them.
func (e *matrixEnv) findAuditEntries(t *testing.T) {
	t.Helper()
	find := func(st stage, want []string) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := e.aud.ListEntries(e.ctx(t, requestingAuditor), &auditv1.ListEntriesRequest{
				Filter: fmt.Sprintf("resource = %q", e.shared[""][st].name), PageSize: 100})
			must(t, err, "list audit entries")
			for _, en := range resp.GetEntries() {
				states := slices.Sorted(slices.Values(en.GetEvent().GetStates()))
				if slices.Equal(states, want) {
					if st == draft {
						e.entries[entryOfKZ] = en.GetIndex()
					} else {
						e.entries[entryOfKZUZ] = en.GetIndex()
					}
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no audit entry of %s involving %v after 30s", e.shared[""][st].name, want)
			}
			time.Sleep(50 * time.Millisecond) // the relay delivers asynchronously
		}
	}
	find(draft, []string{"KZ"})
	find(transmitted, []string{"KZ", "UZ"})
	for _, st := range []stage{entryOfKZ, entryOfKZUZ} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := e.aud.GetEntry(e.ctx(t, requestingAuditor), &auditv1.GetEntryRequest{Index: e.entries[st]})
			if status.Code(err) != codes.Unavailable { // not yet under a checkpoint
				must(t, err, "get audit entry")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit entry %d not under a checkpoint after 30s", e.entries[st])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// matrixWatcher collects what one caller's WatchRequests stream delivers.
type matrixWatcher struct {
	mu      sync.Mutex
	changes map[string][]*requestv1.StatusChange // by request name
	err     error                                // how the stream ended
	ended   chan struct{}
}

// startWatchers opens a watch for every user caller before any fixture
// exists, and waits until each has its starting point.
func (e *matrixEnv) startWatchers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.stopWatch, e.watchers = cancel, map[string]*matrixWatcher{}
	for _, c := range matrixCallers {
		if c.service != "" {
			continue
		}
		w := &matrixWatcher{changes: map[string][]*requestv1.StatusChange{}, ended: make(chan struct{})}
		e.watchers[c.key()] = w
		wctx := ctx
		if tok := e.tokens[c.key()]; tok != "" {
			wctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}
		stream, err := e.req.WatchRequests(wctx, &requestv1.WatchRequestsRequest{})
		if err != nil {
			w.err = err
			close(w.ended)
			continue
		}
		// The server sends the header once it has fixed where the watch
		// starts: every later change reaches the stream.
		_, _ = stream.Header()
		go func() {
			defer close(w.ended)
			for {
				m, err := stream.Recv()
				w.mu.Lock()
				if err != nil {
					w.err = err
					w.mu.Unlock()
					return
				}
				w.changes[m.GetRequest()] = append(w.changes[m.GetRequest()], m.GetChange())
				w.mu.Unlock()
			}
		}()
	}
}

func (e *matrixEnv) stopWatchers() {
	if e.stopWatch != nil {
		e.stopWatch()
	}
}

// settle waits until the watch of the requesting agency's central
// authority, who sees every shared request, has delivered the last change of
// each, and then a little longer: every watch polls the same history, so
// by then the others have had every chance to deliver what they would.
// Only the absence of an event needs this; a presence is waited for.
func (e *matrixEnv) settle(t *testing.T) {
	e.settleWatch.Do(func() {
		w := e.watchers[requestingCA.key()]
		deadline := time.Now().Add(20 * time.Second)
		for {
			w.mu.Lock()
			done := true
			for _, fixtures := range e.shared {
				for _, st := range allStages {
					cs := w.changes[fixtures[st].name]
					if len(cs) == 0 || cs[len(cs)-1].GetToStatus() != st.status() {
						done = false
					}
				}
			}
			w.mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the kz-gpo central authority's watch did not deliver every fixture's changes in 20s")
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second) // five watch polls
	})
}

// watched is what a caller's watch delivered on a request: "NF" nothing,
// "OK" changes with their reasons, "SEEN" changes without reasons (as
// both a full and a metadata-only view may show), or the stream's error.
func (e *matrixEnv) watched(t *testing.T, c matrixCaller, name, want string) (string, error) {
	w := e.watchers[c.key()]
	e.settle(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-w.ended:
			return "", w.err
		case <-time.After(10 * time.Millisecond):
		}
		w.mu.Lock()
		cs := slices.Clone(w.changes[name])
		w.mu.Unlock()
		switch {
		case slices.ContainsFunc(cs, func(c *requestv1.StatusChange) bool { return c.GetReason() != "" }):
			return "OK", nil
		case len(cs) > 0:
			return "SEEN", nil
		case want == "NF" || time.Now().After(deadline):
			return "NF", nil
		}
	}
}

// matrixKind says how a method treats the request a cell is tried on.
type matrixKind int

const (
	// reads leave the request's status as it is: the callers of a stage
	// share its fixture, and run in parallel.
	reads matrixKind = iota
	// moves change the request (its status, or a preservation's term);
	// a cell expected to succeed gets a fresh request.
	moves
)

// matrixCell is one call of the matrix: the method, on a request at a
// stage, by a caller.
type matrixCell struct {
	t      *testing.T
	stage  stage
	fx     *matrixFixture // nil when the call involves no request
	caller matrixCaller
	// want is the outcome expected; only WatchRequests looks at it, to wait
	// for an event that is due rather than conclude from its absence.
	want string
}

// matrixMethod calls a method for a cell and says what came back: an
// outcome of the table when the call succeeds (see accessMatrix), or its
// error.
type matrixMethod struct {
	kind matrixKind
	// bound: a cell expected to succeed runs on a request built with use
	// conditions (buildWith).
	bound bool
	call  func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error)
}

func lifecycleMethod(name string) matrixMethod {
	return matrixMethod{kind: moves, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		return "OK", lifecycleCalls[name](ctx, e.req, c.fx.name)
	}}
}

// otherStatesIn returns the states, other than the caller's, of audit
// entries: an auditor reads only the events involving its state.
func otherStatesIn(c matrixCell, entries []*auditv1.Entry) string {
	for _, en := range entries {
		if !slices.Contains(en.GetEvent().GetStates(), c.caller.state()) {
			return fmt.Sprintf("OK but with entry %d of %v", en.GetIndex(), en.GetEvent().GetStates())
		}
	}
	return "OK"
}

var matrixMethods = map[string]matrixMethod{
	// comity.request.v1
	"CreateRequest": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		to := "UZ"
		if c.caller.state() == "UZ" {
			to = "KZ"
		}
		_, err := e.req.CreateRequest(ctx, &requestv1.CreateRequestRequest{Request: preservationProto(c.t, to)})
		return "OK", err
	}},
	"GetRequest": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.GetRequest(ctx, &requestv1.GetRequestRequest{Name: c.fx.name})
		if err != nil {
			return "", err
		}
		r := resp.GetRequest()
		switch {
		case r.GetMetadataOnly() && r.GetFactsSummary() == "" && len(r.GetIdentifiers()) == 0 && r.GetOffence().GetDescription() == "":
			return "MD", nil
		case !r.GetMetadataOnly() && r.GetFactsSummary() != "":
			return "OK", nil
		}
		return fmt.Sprintf("OK with metadata_only=%v and facts %q", r.GetMetadataOnly(), r.GetFactsSummary()), nil
	}},
	"ListRequests": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.ListRequests(ctx, &requestv1.ListRequestsRequest{PageSize: 500})
		if err != nil {
			return "", err
		}
		if resp.GetNextPageToken() != "" {
			c.t.Fatal("more than 500 requests: page through them")
		}
		for _, r := range resp.GetRequests() {
			if r.GetName() == c.fx.name {
				return "OK", nil
			}
		}
		return "NF", nil
	}},
	"UpdateRequest":        lifecycleMethod("UpdateRequest"),
	"SubmitRequest":        lifecycleMethod("SubmitRequest"),
	"ReturnRequest":        lifecycleMethod("ReturnRequest"),
	"TransmitRequest":      lifecycleMethod("TransmitRequest"),
	"AcknowledgeRequest":   lifecycleMethod("AcknowledgeRequest"),
	"RequestClarification": lifecycleMethod("RequestClarification"),
	"ProvideClarification": lifecycleMethod("ProvideClarification"),
	"AcceptRequest":        lifecycleMethod("AcceptRequest"),
	"RefuseRequest":        lifecycleMethod("RefuseRequest"),
	"ExecuteRequest":       lifecycleMethod("ExecuteRequest"),
	"ExtendPreservation":   lifecycleMethod("ExtendPreservation"),
	"WithdrawRequest":      lifecycleMethod("WithdrawRequest"),
	"CloseRequest":         lifecycleMethod("CloseRequest"),

	// DESIGN §5.1–§5.5.
	"RequestExtension":                 lifecycleMethod("RequestExtension"),
	"GrantExtension":                   extensionDecision("GrantExtension"),
	"DeclineExtension":                 extensionDecision("DeclineExtension"),
	"ReleasePreservation":              lifecycleMethod("ReleasePreservation"),
	"DiscloseChain":                    lifecycleMethod("DiscloseChain"),
	"NotifyImpediment":                 lifecycleMethod("NotifyImpediment"),
	"PostponeRequest":                  lifecycleMethod("PostponeRequest"),
	"ResumeRequest":                    lifecycleMethod("ResumeRequest"),
	"ProposeConditions":                lifecycleMethod("ProposeConditions"),
	"AcceptConditions":                 lifecycleMethod("AcceptConditions"),
	"RejectConditions":                 lifecycleMethod("RejectConditions"),
	"ConfirmInWriting":                 lifecycleMethod("ConfirmInWriting"),
	"DeclareConfidentialityImpossible": lifecycleMethod("DeclareConfidentialityImpossible"),
	"ProceedRequest":                   lifecycleMethod("ProceedRequest"),
	"TransferOwnership":                lifecycleMethod("TransferOwnership"),
	// DESIGN §10.
	"AcknowledgeConditions": boundMethod("AcknowledgeConditions", nil),
	"RequestConsent":        boundMethod("RequestConsent", nil),
	"GrantConsent":          boundMethod("GrantConsent", consentAsked),
	"RefuseConsent":         boundMethod("RefuseConsent", consentAsked),
	"RecordOnwardTransfer":  boundMethod("RecordOnwardTransfer", nil),
	"ReportUse":             boundMethod("ReportUse", nil),
	"SetLegalHold":          lifecycleMethod("SetLegalHold"),
	"LiftLegalHold": {kind: moves, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		if c.want == "OK" {
			must(c.t, lifecycleCalls["SetLegalHold"](e.ctx(c.t, requestingCA), e.req, c.fx.name), "set a legal hold")
		}
		return "OK", lifecycleCalls["LiftLegalHold"](ctx, e.req, c.fx.name)
	}},
	"CreateDataSubjectRequest": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.CreateDataSubjectRequest(ctx, &requestv1.CreateDataSubjectRequestRequest{DataSubjectRequest: subjectRequestProto("Dana Omarova")})
		if err != nil {
			return "", err
		}
		if d := resp.GetDataSubjectRequest(); d.GetState() != c.caller.state() || d.GetAgency() != "agencies/"+c.caller.agency {
			return fmt.Sprintf("OK but recorded for %s at %s", d.GetState(), d.GetAgency()), nil
		}
		return "OK", nil
	}},
	"GetDataSubjectRequest": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		d := e.subjectRequest(c.t)
		resp, err := e.req.GetDataSubjectRequest(ctx, &requestv1.GetDataSubjectRequestRequest{Name: d.GetName()})
		if err != nil {
			return "", err
		}
		if resp.GetDataSubjectRequest().GetPerson().GetFullName() != d.GetPerson().GetFullName() {
			return "OK but without the person", nil
		}
		return "OK", nil
	}},
	"ListDataSubjectRequests": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		d := e.subjectRequest(c.t)
		found := false
		for token := ""; ; {
			resp, err := e.req.ListDataSubjectRequests(ctx, &requestv1.ListDataSubjectRequestsRequest{PageSize: 1000, PageToken: token})
			if err != nil {
				return "", err
			}
			for _, it := range resp.GetDataSubjectRequests() {
				if it.GetState() != c.caller.state() {
					return "OK but with one of " + it.GetState(), nil
				}
				found = found || it.GetName() == d.GetName()
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if found {
			return "OK", nil
		}
		return "NF", nil
	}},
	"DecideDataSubjectRequest": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		d := e.subjectRequest(c.t)
		resp, err := e.req.DecideDataSubjectRequest(ctx, &requestv1.DecideDataSubjectRequestRequest{Name: d.GetName(),
			Decision: &requestv1.DataSubjectDecision{Decision: requestv1.DataSubjectDecision_GRANTED}})
		if err != nil {
			return "", err
		}
		if got := resp.GetDataSubjectRequest().GetDecision(); got.GetDecision() != requestv1.DataSubjectDecision_GRANTED || got.GetDecidedBy().GetAgency() != "agencies/"+c.caller.agency {
			return fmt.Sprintf("OK but the decision is %v", got), nil
		}
		return "OK", nil
	}},
	"RecordDataSubjectInforming": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		d := e.subjectRequest(c.t)
		resp, err := e.req.RecordDataSubjectInforming(ctx, &requestv1.RecordDataSubjectInformingRequest{Name: d.GetName(),
			Informing: &requestv1.DataSubjectInforming{Status: requestv1.DataSubjectInforming_DONE}})
		if err != nil {
			return "", err
		}
		if resp.GetDataSubjectRequest().GetInforming().GetStatus() != requestv1.DataSubjectInforming_DONE {
			return "OK but nothing recorded", nil
		}
		return "OK", nil
	}},
	// A follow-up is a new draft: the request it follows does not change.
	"DraftFollowUp": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.DraftFollowUp(ctx, &requestv1.DraftFollowUpRequest{Name: c.fx.name, Type: directoryv1.RequestType_TRAFFIC_DATA})
		if err != nil {
			return "", err
		}
		r := resp.GetRequest()
		if r.GetStatus() != requestv1.Request_DRAFT || r.GetOwner() != c.caller.subject || !slices.ContainsFunc(r.GetRelatedRequests(), func(rr *requestv1.RelatedRequest) bool {
			return rr.GetKind() == requestv1.RelatedRequest_FOLLOW_UP_OF && rr.GetRequest() == c.fx.name
		}) {
			return fmt.Sprintf("OK but a %s owned by %q related %v", r.GetStatus(), r.GetOwner(), r.GetRelatedRequests()), nil
		}
		return "OK", nil
	}},
	// Recorded on behalf of kz-gpo, or, by a KZ central authority (the
	// requested side of a request from UZ), of uz-gpo.
	"RecordOralRequest": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		from := "agencies/kz-gpo"
		if c.caller.state() == "KZ" {
			from = "agencies/uz-gpo"
		}
		resp, err := e.req.RecordOralRequest(ctx, &requestv1.RecordOralRequestRequest{
			Request:          &requestv1.Request{Type: directoryv1.RequestType_DATA_PRESERVATION, Priority: directoryv1.Priority_EMERGENCY, EmergencyReason: "Threat to life."},
			RequestingAgency: from,
			Intake:           &requestv1.Intake{Channel: requestv1.Intake_PHONE, Caller: "The duty prosecutor", ReceivedTime: timestamppb.Now()}})
		if err != nil {
			return "", err
		}
		if r := resp.GetRequest(); r.GetStatus() != requestv1.Request_ACKNOWLEDGED || r.GetRequestedAgency() != "agencies/"+c.caller.agency ||
			r.GetRequestingAgency() != from || r.GetOwner() != "" {
			return fmt.Sprintf("OK but %s from %s to %s owned by %q", r.GetStatus(), r.GetRequestingAgency(), r.GetRequestedAgency(), r.GetOwner()), nil
		}
		return "OK", nil
	}},
	"GetRequestHistory": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.GetRequestHistory(ctx, &requestv1.GetRequestHistoryRequest{Name: c.fx.name})
		if err != nil {
			return "", err
		}
		// Every shared request was returned once with a reason, before it
		// was transmitted: that reason is the requesting side's own.
		if c.caller.state() != "KZ" && slices.ContainsFunc(resp.GetChanges(), func(ch *requestv1.StatusChange) bool {
			return ch.GetReason() == returnReason
		}) {
			return "OK but reads the requesting side's reason for returning the draft", nil
		}
		if slices.ContainsFunc(resp.GetChanges(), func(ch *requestv1.StatusChange) bool { return ch.GetReason() != "" }) {
			return "OK", nil
		}
		return "MD", nil
	}},
	"CreateMessage": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		_, err := e.req.CreateMessage(ctx, &requestv1.CreateMessageRequest{Parent: c.fx.name,
			Message: &requestv1.Message{Body: "Any news?", Visibility: requestv1.Message_BOTH_SIDES}})
		return "OK", err
	}},
	"ListMessages": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.ListMessages(ctx, &requestv1.ListMessagesRequest{Parent: c.fx.name})
		if err != nil {
			return "", err
		}
		ownNote := false
		for _, m := range resp.GetMessages() {
			if m.GetVisibility() != requestv1.Message_OWN_AGENCY {
				continue
			}
			if m.GetAuthor().GetAgency() != "agencies/"+c.caller.agency {
				return "OK but reads the own-agency note of " + m.GetAuthor().GetAgency(), nil
			}
			ownNote = true
		}
		if c.caller.agency == "kz-gpo" && !ownNote {
			return "OK but misses its own agency's note", nil
		}
		return "OK", nil
	}},
	"UploadAttachment": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		_, err := e.upload(ctx, c.fx.name)
		return "OK", err
	}},
	"ListAttachments": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.ListAttachments(ctx, &requestv1.ListAttachmentsRequest{Parent: c.fx.name})
		if err != nil {
			return "", err
		}
		if !slices.ContainsFunc(resp.GetAttachments(), func(a *requestv1.Attachment) bool { return a.GetName() == c.fx.attachment }) {
			return "OK but without the attachment", nil
		}
		return "OK", nil
	}},
	"DownloadAttachment": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		stream, err := e.req.DownloadAttachment(ctx, &requestv1.DownloadAttachmentRequest{Name: c.fx.attachment})
		if err != nil {
			return "", err
		}
		first, err := stream.Recv()
		if err != nil {
			return "", err
		}
		var content []byte
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return "", err
			}
			content = append(content, m.GetChunk()...)
		}
		sum := sha256.Sum256(content)
		if first.GetAttachment().GetName() != c.fx.attachment || first.GetAttachment().GetSha256() != hex.EncodeToString(sum[:]) {
			return "OK but not the attachment", nil
		}
		return "OK", nil
	}},
	"WatchRequests": {kind: reads, call: func(_ context.Context, e *matrixEnv, c matrixCell) (string, error) {
		return e.watched(c.t, c.caller, c.fx.name, c.want)
	}},
	"GetStatistics": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.req.GetStatistics(ctx, &requestv1.GetStatisticsRequest{})
		if err != nil {
			return "", err
		}
		for _, p := range resp.GetPairs() {
			if p.GetRequestingState() != "KZ" || p.GetRequestedState() != "UZ" {
				continue
			}
			if known := e.knownCounts(c.t, c.caller.state()); !maps.Equal(p.GetByStatus(), known) {
				return fmt.Sprintf("OK but counting %v where %s may know of %v", p.GetByStatus(), c.caller.state(), known), nil
			}
			return "OK", nil
		}
		return "NF", nil
	}},

	// comity.directory.v1
	"ListStates": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.dir.ListStates(ctx, &directoryv1.ListStatesRequest{})
		return "OK", err
	}},
	"GetState": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.dir.GetState(ctx, &directoryv1.GetStateRequest{Name: "states/UZ"})
		return "OK", err
	}},
	"ListAgencies": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.dir.ListAgencies(ctx, &directoryv1.ListAgenciesRequest{Filter: `state = "UZ"`})
		return "OK", err
	}},
	"GetAgency": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.dir.GetAgency(ctx, &directoryv1.GetAgencyRequest{Name: "agencies/uz-247"})
		return "OK", err
	}},
	"ResolveRoute": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.dir.ResolveRoute(ctx, &directoryv1.ResolveRouteRequest{RequestedState: "UZ",
			RequestType: directoryv1.RequestType_DATA_PRESERVATION, Priority: directoryv1.Priority_URGENT})
		return "OK", err
	}},
	"ListInstruments": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		resp, err := e.dir.ListInstruments(ctx, &directoryv1.ListInstrumentsRequest{})
		if err == nil && len(resp.GetInstruments()) == 0 {
			return "OK but no profiles", nil
		}
		return "OK", err
	}},
	"ListApplicableInstruments": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		resp, err := e.dir.ListApplicableInstruments(ctx, &directoryv1.ListApplicableInstrumentsRequest{RequestingState: "KZ", RequestedState: "UZ"})
		if err == nil && len(resp.GetInstruments()) == 0 {
			return "OK but none applicable", nil
		}
		return "OK", err
	}},
	"GetCaller": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.dir.GetCaller(ctx, &directoryv1.GetCallerRequest{Name: "caller"})
		if err != nil {
			return "", err
		}
		if got := resp.GetCaller(); got.GetAgency() != "agencies/"+c.caller.agency || !slices.Equal(got.GetRoles(), []string{string(c.caller.role)}) {
			return fmt.Sprintf("OK but as %s with %v", got.GetAgency(), got.GetRoles()), nil
		}
		return "OK", nil
	}},
	"ListTrustedIssuers": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		resp, err := e.dir.ListTrustedIssuers(ctx, &directoryv1.ListTrustedIssuersRequest{})
		if err != nil {
			return "", err
		}
		for _, st := range resp.GetStates() {
			if st.GetState() == "KZ" && len(st.GetIssuers()) > 0 {
				return "OK", nil
			}
		}
		return "OK but without KZ's issuers", nil
	}},
	"ListRetentions": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		resp, err := e.dir.ListRetentions(ctx, &directoryv1.ListRetentionsRequest{})
		if err != nil {
			return "", err
		}
		for _, st := range resp.GetStates() {
			if st.GetState() == "KZ" {
				return "OK", nil
			}
		}
		return "OK but without KZ", nil
	}},
	// The writes set what is already there, so that a success changes
	// nothing another cell depends on.
	"UpdateState": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		// The etag is required, and each success changes it: read it first
		// (every signed-in caller may).
		e.kzWrite.Lock()
		defer e.kzWrite.Unlock()
		cur, err := e.dir.GetState(ctx, &directoryv1.GetStateRequest{Name: "states/KZ"})
		if err != nil {
			return "OK", err
		}
		if c.stage == witnessOfKZ {
			// The witness it has (none in the seed), written again.
			_, err = e.dir.UpdateState(ctx, &directoryv1.UpdateStateRequest{
				State:      &directoryv1.State{Name: "states/KZ", Witness: cur.GetState().GetWitness(), Etag: cur.GetState().GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"witness"}}})
			return "OK", err
		}
		_, err = e.dir.UpdateState(ctx, &directoryv1.UpdateStateRequest{
			State:      &directoryv1.State{Name: "states/KZ", TimeZone: e.kzState.GetTimeZone(), Etag: cur.GetState().GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"time_zone"}}})
		return "OK", err
	}},
	"CreateAgency": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.dir.CreateAgency(ctx, newMatrixAgency(e))
		return "OK", err
	}},
	"UpdateAgency": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		// With the current etag (required), read by the KZ administrator:
		// earlier cells may have changed the agency.
		e.kzWrite.Lock()
		defer e.kzWrite.Unlock()
		cur, err := e.dir.GetAgency(e.ctx(c.t, requestingAdmin), &directoryv1.GetAgencyRequest{Name: e.kzPolice.GetName()})
		must(c.t, err, "read the agency's etag")
		_, err = e.dir.UpdateAgency(ctx, &directoryv1.UpdateAgencyRequest{
			Agency: &directoryv1.Agency{Name: e.kzPolice.GetName(), DisplayNames: e.kzPolice.GetDisplayNames(),
				Etag: cur.GetAgency().GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_names"}}})
		return "OK", err
	}},
	"DeactivateAgency": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		// A throwaway agency, created by the KZ administrator.
		a, err := e.dir.CreateAgency(e.ctx(c.t, requestingAdmin), newMatrixAgency(e))
		must(c.t, err, "create a throwaway agency")
		_, err = e.dir.DeactivateAgency(ctx, &directoryv1.DeactivateAgencyRequest{Name: a.GetAgency().GetName(), Etag: a.GetAgency().GetEtag()})
		return "OK", err
	}},
	"ActivateAgency": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		// A throwaway agency, created and deactivated by the KZ
		// administrator.
		admin := e.ctx(c.t, requestingAdmin)
		a, err := e.dir.CreateAgency(admin, newMatrixAgency(e))
		must(c.t, err, "create a throwaway agency")
		off, err := e.dir.DeactivateAgency(admin, &directoryv1.DeactivateAgencyRequest{Name: a.GetAgency().GetName(), Etag: a.GetAgency().GetEtag()})
		must(c.t, err, "deactivate the throwaway agency")
		_, err = e.dir.ActivateAgency(ctx, &directoryv1.ActivateAgencyRequest{Name: off.GetAgency().GetName(), Etag: off.GetAgency().GetEtag()})
		return "OK", err
	}},

	// comity.audit.v1
	"Append": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.appender.Append(ctx, &auditv1.AppendRequest{Events: []*auditv1.Event{{
			Id: trail.NewID(), Time: timestamppb.Now(), Service: "comity-request",
			Action: "/comity.request.v1.RequestService/GetRequest", Resource: "requests/access-matrix",
			States: []string{"KZ"}, Outcome: "OK", Actor: &auditv1.Actor{Subject: "access-matrix", Agency: "kz-gpo"},
		}}})
		return "OK", err
	}},
	"GetCheckpoint": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.aud.GetCheckpoint(ctx, &auditv1.GetCheckpointRequest{})
		return "OK", err
	}},
	"ListEntries": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		resp, err := e.aud.ListEntries(ctx, &auditv1.ListEntriesRequest{PageSize: 1000})
		if err != nil {
			return "", err
		}
		return otherStatesIn(c, resp.GetEntries()), nil
	}},
	"GetEntry": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		_, err := e.aud.GetEntry(ctx, &auditv1.GetEntryRequest{Index: e.entries[c.stage]})
		return "OK", err
	}},
	"GetConsistencyProof": {kind: reads, call: func(ctx context.Context, e *matrixEnv, _ matrixCell) (string, error) {
		_, err := e.aud.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{From: 1})
		return "OK", err
	}},
	"ExportBundle": {kind: reads, call: func(ctx context.Context, e *matrixEnv, c matrixCell) (string, error) {
		// The entries of the transmitted request: KZ's and UZ's.
		resp, err := e.aud.ExportBundle(ctx, &auditv1.ExportBundleRequest{
			Filter: fmt.Sprintf("resource = %q", e.shared[""][transmitted].name), MaxEntries: 100})
		if err != nil {
			return "", err
		}
		var entries []*auditv1.Entry
		for _, pe := range resp.GetBundle().GetEntries() {
			entries = append(entries, pe.GetEntry())
		}
		if len(entries) == 0 {
			return "OK but empty", nil
		}
		return otherStatesIn(c, entries), nil
	}},
}

// knownCounts counts by status the KZ→UZ requests, drafts aside, that a
// state may know of: those its liaison officers see (DESIGN §3: the
// requesting state's at any status, the requested state's once
// transmitted). Statistics may count no more.
func (e *matrixEnv) knownCounts(t *testing.T, state string) map[string]int32 {
	liaison, ok := map[string]matrixCaller{"KZ": requestingLiaison, "UZ": requestedLiaison}[state]
	if !ok {
		t.Fatalf("no liaison officer of %s among the callers", state)
	}
	resp, err := e.req.ListRequests(e.ctx(t, liaison), &requestv1.ListRequestsRequest{
		Filter: `requestingState = "KZ" AND requestedState = "UZ"`, PageSize: 500})
	must(t, err, "list requests as "+liaison.key())
	if resp.GetNextPageToken() != "" {
		t.Fatal("more than 500 requests: page through them")
	}
	counts := map[string]int32{}
	for _, r := range resp.GetRequests() {
		if r.GetStatus() != requestv1.Request_DRAFT {
			counts[r.GetStatus().String()]++
		}
	}
	return counts
}

func newMatrixAgency(e *matrixEnv) *directoryv1.CreateAgencyRequest {
	return &directoryv1.CreateAgencyRequest{
		AgencyId: "kz-matrix-" + strconv.FormatInt(e.next(), 10),
		Agency: &directoryv1.Agency{State: "KZ", Kind: directoryv1.Agency_LAW_ENFORCEMENT,
			DisplayNames: map[string]string{"en": "Access matrix test unit"}},
	}
}

// outcomeOf names a call's error as the table does.
func outcomeOf(err error) string {
	switch c := status.Code(err); c {
	case codes.NotFound:
		return "NF"
	case codes.PermissionDenied:
		return "PD"
	case codes.FailedPrecondition:
		return "FP"
	case codes.Unauthenticated:
		return "UA"
	default:
		return c.String()
	}
}

// runCell makes the call of one cell and compares its outcome with want.
func (e *matrixEnv) runCell(t *testing.T, method string, st stage, c matrixCaller, want string) {
	m := matrixMethods[method]
	cell := matrixCell{t: t, stage: st, caller: c, want: want}
	shared := false
	if slices.Contains(requestStages, st) {
		if m.kind == moves && want == "OK" {
			cell.fx = e.buildWith(t, st, false, c.routedTo, m.bound)
		} else {
			cell.fx, shared = e.shared[c.routedTo][st], true
		}
	}
	before := ""
	if shared && m.kind == moves {
		before = e.etag(t, cell.fx)
	}
	got, err := m.call(e.ctx(t, c), e, cell)
	detail := ""
	if err != nil {
		got, detail = outcomeOf(err), ": "+status.Convert(err).Message()
	}
	if got != want && !(got == "SEEN" && (want == "OK" || want == "MD")) {
		on := ""
		if cell.fx != nil {
			on = " on the " + string(st) + " request"
		}
		t.Errorf("%s%s by %s (%s) = %s%s; want %s", method, on, c.key(), c.about(), got, detail, want)
	}
	// A refused action must leave the shared request as it was, so that the
	// cells after this one find it as a fresh request at this stage would
	// be. If it changed, say so and replace it.
	if before != "" {
		if after := e.etag(t, cell.fx); after != before {
			if err != nil {
				t.Errorf("%s by %s was refused (%s) but changed the request", method, c.key(), outcomeOf(err))
			}
			e.shared[c.routedTo][st] = e.build(t, st, true, c.routedTo)
		}
	}
}

// etag returns the current etag of a request, read by its owner.
func (e *matrixEnv) etag(t *testing.T, fx *matrixFixture) string {
	resp, err := e.req.GetRequest(e.ctx(t, owner), &requestv1.GetRequestRequest{Name: fx.name})
	must(t, err, "get "+fx.name)
	return resp.GetRequest().GetEtag()
}
