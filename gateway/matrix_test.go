package gateway_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/identity"
)

// The access matrix: who may call which method of which service, on a
// request at which stage, and what everyone else gets. The expectations
// come from DESIGN, not from the code:
//   - §3 Identity and access: who may see a request (need to know; anything
//     else is NOT_FOUND), auditors see metadata only, Append is for service
//     identities only, no token is UNAUTHENTICATED;
//   - §4: the directory is readable by every authenticated user and
//     writable only by a directory_admin of the same state;
//   - §5 Lifecycle: who may take each action from which status; "an action
//     not allowed from the current status → FAILED_PRECONDITION; by the
//     wrong role or agency → PERMISSION_DENIED (or NOT_FOUND where the
//     caller may not see it)";
//   - §6: the audit API is for auditors, scoped to events involving their
//     state.
//
// How to read it. Each line is a method, the stages of a request it is
// tried on, and one outcome per caller, in the column order of the header.
// The request is always KZ→UZ: an URGENT preservation filed by a kz-gpo
// prosecutor, which the directory routes to uz-247 (but for the uz-gpo
// column, below). The callers are a user
// of each role (Pr prosecutor, CA central_authority, LO liaison_officer, Au
// auditor, Ad directory_admin) at
//
//	the requesting agency      kz-gpo, plus Ow: the prosecutor who owns the request;
//	                           Au at kz-oversight (no auditor at a central authority)
//	another agency of KZ       kz-city-prosecutor (Pr), kz-police-cyber (LO), kz-247 (CA),
//	                           kz-oversight (Au, Ad)
//	the requested agency       uz-247 (CA, LO); the roles a 24/7 contact point may not
//	                           hold at UZ agencies that may: uz-city-prosecutor (Pr),
//	                           uz-oversight (Au, Ad)
//	the requested agency       uz-gpo (Pr), on requests of its own: a prosecutor may not
//	  uz-gpo                   count at uz-247, so this column's cells are tried on the
//	                           same request made ROUTINE, which the directory routes to
//	                           uz-gpo (built the same way, with uz-gpo's central
//	                           authority acting for the requested agency): §3's "users
//	                           of the requested agency … once it is transmitted" for a
//	                           prosecutor
//	another agency of UZ       uz-gpo (Pr, CA, LO, Ad), uz-oversight (Au)
//	an agency of TJ            tj-gpo (Pr, CA, LO, Ad), tj-oversight (Au)
//
// since a role counts only at an agency of a kind that may hold it (§3's
// table). Tokens claiming a role their agency may not hold are refused
// (UNAUTHENTICATED) by every service, whatever the method: gAu an auditor
// of kz-gpo, pPr a prosecutor of kz-police-cyber, oCA a central authority
// of kz-oversight, tCA one of a KZ training institution (matrixAcademy),
// and a prosecutor, an auditor and a directory_admin of uz-247 (2Pr, 2Au,
// 2Ad). Then "no", a call without a token, and "sv", the comity-request
// service identity. matrixCallers has them as code; a cell's subtest is named
// method/stage/group.role, e.g. AcknowledgeRequest/TRANSMITTED/requestedAgency.CA.
//
// The stages are the statuses of the lifecycle, plus WITHDRAWN_DRAFT and
// CLOSED_DRAFT: a request withdrawn (and closed) before it was ever
// transmitted, which the requested side must never see. Stage groups:
//
//	pre    DRAFT SUBMITTED WITHDRAWN_DRAFT CLOSED_DRAFT (never transmitted)
//	post   open and ended
//	open   TRANSMITTED ACKNOWLEDGED CLARIFICATION_REQUESTED ACCEPTED, and the
//	       statuses of DESIGN §5.5a: PARTIALLY_EXECUTED POSTPONED
//	       CONDITIONS_PROPOSED AWAITING_REQUESTER_DECISION
//	ended  REFUSED EXECUTED WITHDRAWN CLOSED
//	any    no request involved
//	ORAL   a request recorded from a call (§5.3), not yet confirmed: only
//	       ConfirmInWriting is tried on it
//
// Every request is a preservation: an EXECUTED one is PRESERVED (§5.1).
//
// "a,b" is both, "a-b" is a without b. Outcomes:
//
//	OK  the call succeeds (GetRequest, GetRequestHistory, WatchRequests: with
//	    the full content; ListRequests, WatchRequests: the request is in
//	    the answer; GetStatistics: see its row)
//	MD  the call succeeds with metadata only: no narrative, no reasons
//	NF  NOT_FOUND (ListRequests, WatchRequests, GetStatistics: the call
//	    succeeds but the request, or the KZ→UZ pair, is not in the answer)
//	PD  PERMISSION_DENIED
//	FP  FAILED_PRECONDITION
//	UA  UNAUTHENTICATED
//	-   not tried
//
// Where a caller is both the wrong person and at the wrong status, the
// matrix wants PERMISSION_DENIED: DESIGN does not order the two checks, and
// answering "wrong status" to someone who may not act would tell them about
// the workflow of a case that is not theirs.
//
// Cells of the lifecycle actions that are expected to succeed run on a
// fresh request brought to the stage; every other cell runs on one shared
// request per stage. A refused action must change nothing, and each such
// cell checks that the shared request's etag is the same after it as
// before, so the next cell finds it as a fresh request at that stage would
// be; a request that did change is replaced (and the cell fails).
const accessMatrix = `
#                                                  requesting        | requesting     | requested      | requested     | requested      | uninvolved     | a role its agency may not |
#                                                  agency kz-gpo     | state KZ       | agency uz-247  | agency uz-gpo | state UZ       | state TJ       | hold (§3): refused        |
# method             on                            Ow Pr CA LO Au Ad | Pr CA LO Au Ad | Pr CA LO Au Ad | Pr            | Pr CA LO Au Ad | Pr CA LO Au Ad | gAu pPr oCA tCA 2Pr 2Au 2Ad | no sv

# comity.request.v1: reading a request (§3 need to know).
# Ad: §3 says "users of the requesting agency" (and "of the requested
#   agency"), but a directory_admin has no case role and no need to know: the
#   matrix takes need to know. An auditor, even of the requesting agency,
#   sees metadata only.
# Au of UZ: §3 says "auditors of either state"; for the requested state it
#   is read with "never a draft": its auditors see the request once
#   transmitted.
GetRequest           pre                           OK OK OK OK MD NF | NF OK OK MD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GetRequest           post                          OK OK OK OK MD NF | NF OK OK MD NF | NF OK OK MD NF | OK            | NF NF OK MD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListRequests         pre                           OK OK OK OK OK NF | NF OK OK OK NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListRequests         post                          OK OK OK OK OK NF | NF OK OK OK NF | NF OK OK OK NF | OK            | NF NF OK OK NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GetRequestHistory    pre                           OK OK OK OK MD NF | NF OK OK MD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GetRequestHistory    post-TRANSMITTED-ACKNOWLEDGED OK OK OK OK MD NF | NF OK OK MD NF | NF OK OK MD NF | OK            | NF NF OK MD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# The only reason of a TRANSMITTED or ACKNOWLEDGED request is the requesting
#   side's return before transmission, its own business (issue 10): the
#   requested side reads that history without reasons, as metadata does.
GetRequestHistory    TRANSMITTED,ACKNOWLEDGED      OK OK OK OK MD NF | NF OK OK MD NF | NF MD MD MD NF | MD            | NF NF MD MD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
WatchRequests        pre                           OK OK OK OK MD NF | NF OK OK MD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
WatchRequests        post                          OK OK OK OK MD NF | NF OK OK MD NF | NF OK OK MD NF | OK            | NF NF OK MD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# Correspondence and evidence: not for auditors (§3), who know the
# request exists, hence PERMISSION_DENIED. ListMessages also checks that
# OWN_AGENCY notes reach only the author's agency (§5). DESIGN is silent
# on a closed request: a message may still be added (a closing note),
# evidence may not.
CreateMessage        pre                           OK OK OK OK PD NF | NF OK OK PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
CreateMessage        post                          OK OK OK OK PD NF | NF OK OK PD NF | NF OK OK PD NF | OK            | NF NF OK PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListMessages         pre                           OK OK OK OK PD NF | NF OK OK PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListMessages         post                          OK OK OK OK PD NF | NF OK OK PD NF | NF OK OK PD NF | OK            | NF NF OK PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
UploadAttachment     pre-CLOSED_DRAFT              OK OK OK OK PD NF | NF OK OK PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
UploadAttachment     CLOSED_DRAFT                  FP FP FP FP PD NF | NF FP FP PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
UploadAttachment     post-CLOSED                   OK OK OK OK PD NF | NF OK OK PD NF | NF OK OK PD NF | OK            | NF NF OK PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
UploadAttachment     CLOSED                        FP FP FP FP PD NF | NF FP FP PD NF | NF FP FP PD NF | FP            | NF NF FP PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListAttachments      pre                           OK OK OK OK PD NF | NF OK OK PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListAttachments      post                          OK OK OK OK PD NF | NF OK OK PD NF | NF OK OK PD NF | OK            | NF NF OK PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DownloadAttachment   pre                           OK OK OK OK PD NF | NF OK OK PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DownloadAttachment   post                          OK OK OK OK PD NF | NF OK OK PD NF | NF OK OK PD NF | OK            | NF NF OK PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -

# Create: "prosecutor (own agency)": any prosecutor, filing for their own
# agency, to another state (UZ callers file UZ→KZ, the others to UZ).
CreateRequest        any                           OK OK PD PD PD PD | OK PD PD PD PD | OK PD PD PD PD | OK            | OK PD PD PD PD | OK PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
# Aggregates only (§5), for every user, on the pairs of their own state;
# OK: the KZ→UZ pair counts by status exactly the requests the caller's
# state may know of (§3: the requested state only once transmitted), as its
# liaison officer lists them, drafts aside.
GetStatistics        any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -

# The lifecycle (§5). The owning prosecutor: Update, submit,
# provideClarification, withdraw.
UpdateRequest        DRAFT                         OK PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
UpdateRequest        pre-DRAFT                     FP PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
UpdateRequest        post                          FP PD PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
SubmitRequest        DRAFT                         OK PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
SubmitRequest        pre-DRAFT                     FP PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
SubmitRequest        post                          FP PD PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProvideClarification pre                           FP PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProvideClarification CLARIFICATION_REQUESTED       OK PD PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProvideClarification post-CLARIFICATION_REQUESTED  FP PD PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
WithdrawRequest      DRAFT,SUBMITTED               OK PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
WithdrawRequest      WITHDRAWN_DRAFT,CLOSED_DRAFT  FP PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
WithdrawRequest      open                          OK PD PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
WithdrawRequest      ended                         FP PD PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# The requesting state's central authority: return, transmit. Any
# central_authority of KZ, also the one at kz-247: §1 says a central
# authority is "usually a prosecutor general's office, or a 24/7 contact
# point".
ReturnRequest        SUBMITTED                     PD PD OK PD PD NF | NF OK PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReturnRequest        pre-SUBMITTED                 PD PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReturnRequest        post                          PD PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
TransmitRequest      SUBMITTED                     PD PD OK PD PD NF | NF OK PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
TransmitRequest      pre-SUBMITTED                 PD PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
TransmitRequest      post                          PD PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# The requested agency's central authority (uz-247, not uz-gpo):
# acknowledge, requestClarification, accept, refuse, execute,
# extendPreservation.
AcknowledgeRequest   pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcknowledgeRequest   TRANSMITTED                   PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcknowledgeRequest   post-TRANSMITTED              PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestClarification pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestClarification ACKNOWLEDGED                  PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestClarification post-ACKNOWLEDGED             PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcceptRequest        pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcceptRequest        ACKNOWLEDGED                  PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcceptRequest        post-ACKNOWLEDGED             PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RefuseRequest        pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RefuseRequest        ACKNOWLEDGED                  PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RefuseRequest        post-ACKNOWLEDGED             PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ExecuteRequest       pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ExecuteRequest       ACCEPTED,PARTIALLY_EXECUTED   PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ExecuteRequest       post-ACCEPTED-PARTIALLY_EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ExtendPreservation   pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ExtendPreservation   EXECUTED                      PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ExtendPreservation   post-EXECUTED                 PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# Close: the requesting state's central authority or the owning
# prosecutor, once executed, refused or withdrawn.
CloseRequest         WITHDRAWN_DRAFT               OK PD OK PD PD NF | NF OK PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
CloseRequest         DRAFT,SUBMITTED,CLOSED_DRAFT  FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
CloseRequest         ended-CLOSED                  OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
CloseRequest         open,CLOSED                   FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -

# DESIGN §5.1 Preservation. The requesting side (the owning prosecutor or a
# central authority of KZ, as for close) asks for an extension of an
# executed preservation and releases it; the requested agency's central
# authority grants or declines the extension and discloses the chain.
RequestExtension     pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestExtension     EXECUTED                      OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestExtension     post-EXECUTED                 FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GrantExtension       pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GrantExtension       EXECUTED                      PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GrantExtension       post-EXECUTED                 PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DeclineExtension     pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DeclineExtension     EXECUTED                      PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DeclineExtension     post-EXECUTED                 PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReleasePreservation  pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReleasePreservation  EXECUTED                      OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReleasePreservation  post-EXECUTED                 FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DiscloseChain        pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DiscloseChain        ACCEPTED,PARTIALLY_EXECUTED,EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DiscloseChain        post-ACCEPTED-PARTIALLY_EXECUTED-EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# A follow-up is drafted by a prosecutor of the requesting agency, who owns
# the new draft, once the request is transmitted (and whatever came of it).
DraftFollowUp        pre                           FP FP PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DraftFollowUp        post                          OK OK PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# §5.2 Execution, postponement, conditions: the requested agency's central
# authority; the requesting side answers the conditions.
NotifyImpediment     pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
NotifyImpediment     ACKNOWLEDGED,ACCEPTED,PARTIALLY_EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
NotifyImpediment     post-ACKNOWLEDGED-ACCEPTED-PARTIALLY_EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
PostponeRequest      pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
PostponeRequest      ACKNOWLEDGED,ACCEPTED         PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
PostponeRequest      post-ACKNOWLEDGED-ACCEPTED    PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ResumeRequest        pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ResumeRequest        POSTPONED                     PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ResumeRequest        post-POSTPONED                PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProposeConditions    pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProposeConditions    ACKNOWLEDGED                  PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProposeConditions    post-ACKNOWLEDGED             PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcceptConditions     pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcceptConditions     CONDITIONS_PROPOSED           OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcceptConditions     post-CONDITIONS_PROPOSED      FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RejectConditions     pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RejectConditions     CONDITIONS_PROPOSED           OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RejectConditions     post-CONDITIONS_PROPOSED      FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# §5.3 Requests received by phone: recorded by a central authority (a 24/7
# contact point is one), of the state that then is the requested state, on
# behalf of an agency of another state (kz-gpo, or uz-gpo for a KZ caller);
# confirmed in writing by a prosecutor of the requesting agency, who becomes
# its owner. A request drafted in Comity has nothing to confirm.
RecordOralRequest    any                           PD PD OK PD PD PD | PD OK PD PD PD | PD OK PD PD PD | PD            | PD OK PD PD PD | PD OK PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
ConfirmInWriting     pre                           FP FP PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ConfirmInWriting     post                          FP FP PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ConfirmInWriting     ORAL                          OK OK PD PD PD NF | NF PD PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# §5.4 Confidentiality: declared impossible by the requested agency's
# central authority; the requesting side proceeds (or withdraws).
DeclareConfidentialityImpossible pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DeclareConfidentialityImpossible ACKNOWLEDGED,ACCEPTED,PARTIALLY_EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DeclareConfidentialityImpossible post-ACKNOWLEDGED-ACCEPTED-PARTIALLY_EXECUTED PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProceedRequest       pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProceedRequest       AWAITING_REQUESTER_DECISION   OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ProceedRequest       post-AWAITING_REQUESTER_DECISION FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# §5.5 Ownership: the requesting side hands a request to another prosecutor
# of kz-gpo at any stage but closed.
TransferOwnership    pre-CLOSED_DRAFT              OK PD OK PD PD NF | NF OK PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
TransferOwnership    CLOSED_DRAFT                  FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
TransferOwnership    post-CLOSED                   OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
TransferOwnership    CLOSED                        FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -

# §10 Data protection. The requesting side (the owning prosecutor or a
# central authority of KZ) acknowledges the use conditions that bind it, asks
# for consent, records onward transfers and reports of use, once conditions
# can bind (accepted, and every status after: "bound"); the requested
# agency's central authority answers a consent. A cell expected to succeed
# runs on a request accepted with use conditions (USE_ONLY_STATED_PROCEEDINGS
# and REPORT_USE), POSTPONED, AWAITING_REQUESTER_DECISION and WITHDRAWN after
# that acceptance. A request never accepted has nothing to acknowledge,
# hence FAILED_PRECONDITION on the stages before "bound" and on drafts.
AcknowledgeConditions pre                          FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcknowledgeConditions bound                        OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
AcknowledgeConditions post-bound                   FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestConsent       pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestConsent       bound                         OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RequestConsent       post-bound                    FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GrantConsent         pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GrantConsent         bound                         PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
GrantConsent         post-bound                    PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RefuseConsent        pre                           PD PD PD PD PD NF | NF PD PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RefuseConsent        bound                         PD PD PD PD PD NF | NF PD PD PD NF | NF OK PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RefuseConsent        post-bound                    PD PD PD PD PD NF | NF PD PD PD NF | NF FP PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RecordOnwardTransfer pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RecordOnwardTransfer bound                         OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RecordOnwardTransfer post-bound                    FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReportUse            pre                           FP PD FP PD PD NF | NF FP PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReportUse            bound                         OK PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ReportUse            post-bound                    FP PD FP PD PD NF | NF FP PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# The legal hold is the requesting state's decision, its central
# authority's (any of KZ's, as for return and transmit), at any status.
SetLegalHold         pre                           PD PD OK PD PD NF | NF OK PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
SetLegalHold         post                          PD PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
LiftLegalHold        pre                           PD PD OK PD PD NF | NF OK PD PD NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
LiftLegalHold        post                          PD PD OK PD PD NF | NF OK PD PD NF | NF PD PD PD NF | PD            | NF NF PD PD NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
# Data subjects' requests: recorded by any central authority, for its own
# state; read, listed and decided only by the central authorities of the
# state that recorded it (here one recorded by kz-gpo's), NOT_FOUND to
# anyone else. ListDataSubjectRequests: OK when the KZ one is listed, NF
# when it is not (the call succeeds with the caller's state's, or none).
CreateDataSubjectRequest any                       PD PD OK PD PD PD | PD OK PD PD PD | PD OK PD PD PD | PD            | PD OK PD PD PD | PD OK PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
GetDataSubjectRequest any                          NF NF OK NF NF NF | NF OK NF NF NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
ListDataSubjectRequests any                        NF NF OK NF NF NF | NF OK NF NF NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
DecideDataSubjectRequest any                       NF NF OK NF NF NF | NF OK NF NF NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -
RecordDataSubjectInforming any                     NF NF OK NF NF NF | NF OK NF NF NF | NF NF NF NF NF | NF            | NF NF NF NF NF | NF NF NF NF NF | UA  UA  UA  UA  UA  UA  UA | UA -

# comity.directory.v1 (§4): reads for every authenticated user; writes
# (here on KZ: its state, a new agency, kz-police-cyber, a throwaway
# agency) only for a directory_admin of KZ, whatever their agency.
ListStates           any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
GetState             any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
ListAgencies         any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
GetAgency            any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
ResolveRoute         any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
# Treaty profiles (§5.6): read by every authenticated user.
ListInstruments      any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
ListApplicableInstruments any                       OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
# Who the caller is, as the services see them: every authenticated user,
# their own agency and roles.
GetCaller            any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | UA  UA  UA  UA  UA  UA  UA | UA -
# The issuers each state trusts: public (the console's sign-in page reads
# it before anyone signs in), so any token, or none, is not looked at.
ListTrustedIssuers   any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | OK  OK  OK  OK  OK  OK  OK  | OK -
ListRetentions       any                           OK OK OK OK OK OK | OK OK OK OK OK | OK OK OK OK OK | OK            | OK OK OK OK OK | OK OK OK OK OK | OK  OK  OK  OK  OK  OK  OK  | OK -
UpdateState          any                           PD PD PD PD PD OK | PD PD PD PD OK | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
# A state's witness (§6.1): only a directory_admin of its OVERSIGHT agency
# (kz-oversight), not kz-gpo's, nor uz-oversight's.
UpdateState          KZ_WITNESS                    PD PD PD PD PD PD | PD PD PD PD OK | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
CreateAgency         any                           PD PD PD PD PD OK | PD PD PD PD OK | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
UpdateAgency         any                           PD PD PD PD PD OK | PD PD PD PD OK | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
DeactivateAgency     any                           PD PD PD PD PD OK | PD PD PD PD OK | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -
ActivateAgency       any                           PD PD PD PD PD OK | PD PD PD PD OK | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA -

# comity.audit.v1 (§3, §6): Append only for service identities (here
# comity-request, with a service-issuer token as the relay presents it;
# every Append cell is called over comity-request's mTLS certificate, so
# that the token alone decides — TestServiceIdentitiesCallOnlyWhatTheyNeed
# shows the gateway's certificate may not append at all);
# the rest for auditors, scoped to their state: an entry of another
# state is NOT_FOUND, and lists and bundles hold only their state's.
Append               any                           PD PD PD PD PD PD | PD PD PD PD PD | PD PD PD PD PD | PD            | PD PD PD PD PD | PD PD PD PD PD | UA  UA  UA  UA  UA  UA  UA | UA OK
GetCheckpoint        any                           PD PD PD PD OK PD | PD PD PD OK PD | PD PD PD OK PD | PD            | PD PD PD OK PD | PD PD PD OK PD | UA  UA  UA  UA  UA  UA  UA | UA PD
ListEntries          any                           PD PD PD PD OK PD | PD PD PD OK PD | PD PD PD OK PD | PD            | PD PD PD OK PD | PD PD PD OK PD | UA  UA  UA  UA  UA  UA  UA | UA PD
GetEntry             KZ_ENTRY                      PD PD PD PD OK PD | PD PD PD OK PD | PD PD PD NF PD | PD            | PD PD PD NF PD | PD PD PD NF PD | UA  UA  UA  UA  UA  UA  UA | UA PD
GetEntry             KZ_UZ_ENTRY                   PD PD PD PD OK PD | PD PD PD OK PD | PD PD PD OK PD | PD            | PD PD PD OK PD | PD PD PD NF PD | UA  UA  UA  UA  UA  UA  UA | UA PD
GetConsistencyProof  any                           PD PD PD PD OK PD | PD PD PD OK PD | PD PD PD OK PD | PD            | PD PD PD OK PD | PD PD PD OK PD | UA  UA  UA  UA  UA  UA  UA | UA PD
ExportBundle         any                           PD PD PD PD OK PD | PD PD PD OK PD | PD PD PD OK PD | PD            | PD PD PD OK PD | PD PD PD OK PD | UA  UA  UA  UA  UA  UA  UA | UA PD
`

// matrixCallers are the columns of accessMatrix, in order.
var matrixCallers = []matrixCaller{
	{group: "requestingAgency", label: "Ow", agency: "kz-gpo", role: identity.Prosecutor, subject: "kz-gpo-owner"},
	{group: "requestingAgency", label: "Pr", agency: "kz-gpo", role: identity.Prosecutor, subject: "kz-gpo-colleague"},
	{group: "requestingAgency", label: "CA", agency: "kz-gpo", role: identity.CentralAuthority},
	{group: "requestingAgency", label: "LO", agency: "kz-gpo", role: identity.LiaisonOfficer},
	{group: "requestingAgency", label: "Au", agency: "kz-oversight", role: identity.Auditor, subject: "kz-oversight-auditor"},
	{group: "requestingAgency", label: "Ad", agency: "kz-gpo", role: identity.DirectoryAdmin},
	{group: "requestingState", label: "Pr", agency: "kz-city-prosecutor", role: identity.Prosecutor},
	{group: "requestingState", label: "CA", agency: "kz-247", role: identity.CentralAuthority},
	{group: "requestingState", label: "LO", agency: "kz-police-cyber", role: identity.LiaisonOfficer},
	{group: "requestingState", label: "Au", agency: "kz-oversight", role: identity.Auditor},
	{group: "requestingState", label: "Ad", agency: "kz-oversight", role: identity.DirectoryAdmin},
	{group: "requestedAgency", label: "Pr", agency: "uz-city-prosecutor", role: identity.Prosecutor},
	{group: "requestedAgency", label: "CA", agency: "uz-247", role: identity.CentralAuthority},
	{group: "requestedAgency", label: "LO", agency: "uz-247", role: identity.LiaisonOfficer},
	{group: "requestedAgency", label: "Au", agency: "uz-oversight", role: identity.Auditor, subject: "uz-oversight-auditor"},
	{group: "requestedAgency", label: "Ad", agency: "uz-oversight", role: identity.DirectoryAdmin},
	{group: "requestedGPO", label: "Pr", agency: matrixGPO, role: identity.Prosecutor, subject: "uz-gpo-prosecutor", routedTo: matrixGPO},
	{group: "requestedState", label: "Pr", agency: "uz-gpo", role: identity.Prosecutor},
	{group: "requestedState", label: "CA", agency: "uz-gpo", role: identity.CentralAuthority},
	{group: "requestedState", label: "LO", agency: "uz-gpo", role: identity.LiaisonOfficer},
	{group: "requestedState", label: "Au", agency: "uz-oversight", role: identity.Auditor},
	{group: "requestedState", label: "Ad", agency: "uz-gpo", role: identity.DirectoryAdmin},
	{group: "uninvolved", label: "Pr", agency: "tj-gpo", role: identity.Prosecutor},
	{group: "uninvolved", label: "CA", agency: "tj-gpo", role: identity.CentralAuthority},
	{group: "uninvolved", label: "LO", agency: "tj-gpo", role: identity.LiaisonOfficer},
	{group: "uninvolved", label: "Au", agency: "tj-oversight", role: identity.Auditor},
	{group: "uninvolved", label: "Ad", agency: "tj-gpo", role: identity.DirectoryAdmin},
	{group: "refused", label: "gAu", agency: "kz-gpo", role: identity.Auditor},
	{group: "refused", label: "pPr", agency: "kz-police-cyber", role: identity.Prosecutor},
	{group: "refused", label: "oCA", agency: "kz-oversight", role: identity.CentralAuthority},
	{group: "refused", label: "tCA", agency: matrixAcademy, role: identity.CentralAuthority},
	{group: "refused", label: "2Pr", agency: "uz-247", role: identity.Prosecutor},
	{group: "refused", label: "2Au", agency: "uz-247", role: identity.Auditor},
	{group: "refused", label: "2Ad", agency: "uz-247", role: identity.DirectoryAdmin},
	{group: "noToken", label: "no"},
	{group: "service", label: "sv", service: "comity-request"},
}

// The callers the fixtures and checks act as.
var (
	owner             = matrixCallerOf("requestingAgency.Ow")
	requestingCA      = matrixCallerOf("requestingAgency.CA")
	requestingLiaison = matrixCallerOf("requestingAgency.LO")
	requestingAuditor = matrixCallerOf("requestingAgency.Au")
	requestingAdmin   = matrixCallerOf("requestingAgency.Ad")
	requestedCA       = matrixCallerOf("requestedAgency.CA")
	requestedLiaison  = matrixCallerOf("requestedState.LO")
)

// TestAccessMatrix runs every cell of accessMatrix against the whole suite,
// over gRPC, each cell as the subtest method/stage/caller.
func TestAccessMatrix(t *testing.T) {
	rows, err := parseMatrix(accessMatrix)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every method has rows", func(t *testing.T) {
		checkMatrixCoverage(t, rows, []grpc.ServiceDesc{
			requestv1.RequestService_ServiceDesc, directoryv1.DirectoryService_ServiceDesc, auditv1.AuditService_ServiceDesc,
		})
	})
	if t.Failed() {
		return
	}
	start := time.Now()
	e := newMatrixEnv(t)
	t.Logf("suite and fixtures ready in %v", time.Since(start).Round(time.Millisecond))
	var methods []string
	for _, row := range rows {
		if !slices.Contains(methods, row.method) {
			methods = append(methods, row.method)
		}
	}
	for _, method := range methods {
		t.Run(method, func(t *testing.T) {
			for _, row := range rows {
				if row.method != method {
					continue
				}
				for _, st := range row.on {
					t.Run(string(st), func(t *testing.T) {
						for i, c := range matrixCallers {
							if row.cells[i] != notTried {
								t.Run(c.key(), func(t *testing.T) {
									if matrixMethods[method].kind == reads {
										t.Parallel() // with the other callers of this method and stage
									}
									e.runCell(t, method, st, c, row.cells[i])
								})
							}
						}
					})
				}
			}
		})
		if method == "WatchRequests" {
			e.stopWatchers()
		}
	}
	t.Logf("matrix ran in %v", time.Since(start).Round(time.Millisecond))
}

// checkMatrixCoverage fails for a method of the services that has no row
// or no way to call it, and for a row of a method the services do not have.
func checkMatrixCoverage(t *testing.T, rows []matrixRow, services []grpc.ServiceDesc) {
	served := map[string]string{}
	for _, sd := range services {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range sd.Streams {
			names = append(names, s.StreamName)
		}
		for _, n := range names {
			if other, dup := served[n]; dup {
				t.Fatalf("method %s is in both %s and %s: the matrix names methods without their service", n, other, sd.ServiceName)
			}
			served[n] = sd.ServiceName
		}
	}
	stagesOf := map[string][]stage{}
	for _, row := range rows {
		if _, ok := served[row.method]; !ok {
			t.Errorf("line %d: no service has a method %s", row.line, row.method)
		}
		for _, st := range row.on {
			if slices.Contains(stagesOf[row.method], st) {
				t.Errorf("line %d: %s on %s has another row", row.line, row.method, st)
			}
			stagesOf[row.method] = append(stagesOf[row.method], st)
		}
	}
	for n, svc := range served {
		if _, ok := stagesOf[n]; !ok {
			t.Errorf("%s/%s has no row in the access matrix: add one", svc, n)
		}
		if _, ok := matrixMethods[n]; !ok {
			t.Errorf("%s/%s has no entry in matrixMethods: say how to call it", svc, n)
		}
	}
	// A method tried on a request is tried on every stage of one (ORAL
	// aside: a request recorded from a call, only ConfirmInWriting's).
	for n, stages := range stagesOf {
		lifecycle := slices.DeleteFunc(slices.Clone(stages), func(st stage) bool { return !slices.Contains(allStages, st) })
		if len(lifecycle) > 0 && len(lifecycle) != len(allStages) {
			t.Errorf("%s is tried on %v, not on every stage of %v", n, stages, allStages)
		}
	}
	if !slices.Contains(stagesOf["ConfirmInWriting"], oral) {
		t.Error("ConfirmInWriting is not tried on a request recorded from a call (ORAL)")
	}
}
