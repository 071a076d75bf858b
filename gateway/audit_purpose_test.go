package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/comity-mla/comity/gateway/openapi"
	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/trail"
)

// purposeDo is do with the X-Comity-Purpose header set to purpose (none
// when empty).
func (s *suite) purposeDo(method, path, token, purpose string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.baseURL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if purpose != "" {
		req.Header.Set("X-Comity-Purpose", purpose)
	}
	if method == http.MethodPost {
		req.Body = io.NopCloser(strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasSuffix(path, ":download") {
		// The raw content, not a JSON answer, when it succeeds.
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, raw: string(body)}
	}
	return fromClient(s.client().Send(req))
}

// mustBe fails t unless the call answered want.
func (r response) mustBe(t *testing.T, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("answered %d, want %d: %.300s", r.status, want, r.raw)
	}
}

// Every read of a request's content, through REST or gRPC, leaves an
// audit event carrying the purpose its reader declared, or "undeclared";
// no other event carries one. A purpose that is not a category is refused
// on any call (400 through the gateway, naming the header), and the call
// changes nothing. The audit API shows the purpose, in the event and in
// its leaf.
func TestReadsCarryTheirDeclaredPurpose(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	name := s.fileAndTransmit("kz-gpo", "UZ")
	path := "/v1/" + name
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	uzCA := s.token("uz-247", identity.CentralAuthority)
	att := s.upload(path, prosecutor, "TRANSLATION", "uz", "tarjima-purpose.pdf", []byte("%PDF-1.7 tarjima"), nil)
	if att.status != 200 {
		t.Fatalf("upload = %d %s", att.status, att.raw)
	}
	download := "/v1/" + att.body["name"].(string) + ":download"

	// Refused: a typo, on a read and on a change, through REST and gRPC.
	for _, tc := range []struct{ method, path string }{
		{"GET", path}, {"GET", path + "/messages"}, {"GET", download}, {"POST", path + ":acknowledge"},
	} {
		r := s.purposeDo(tc.method, tc.path, uzCA, "reveiw")
		if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "X-Comity-Purpose") || !strings.Contains(r.raw, "stated-proceedings") {
			t.Errorf("%s %s with X-Comity-Purpose: reveiw = %d %s; want 400 naming the header and the categories", tc.method, tc.path, r.status, r.raw)
		}
		if vs := r.violations(); !strings.HasSuffix(tc.path, ":download") && (len(vs) != 1 || !strings.HasPrefix(vs[0], "X-Comity-Purpose: ")) {
			t.Errorf("%s %s with X-Comity-Purpose: reveiw: violations %q; want one on X-Comity-Purpose", tc.method, tc.path, vs)
		}
	}
	if got := s.mustDo("GET", path, uzCA, nil, 200).body["status"]; got != "TRANSMITTED" {
		t.Errorf("after an acknowledgement refused for its purpose header, the request is %v; want TRANSMITTED", got)
	}

	// Declared and undeclared reads through REST; the header's case does
	// not matter.
	s.purposeDo("GET", path, uzCA, "Review").mustBe(t, 200)
	s.purposeDo("GET", path+"/messages", uzCA, "").mustBe(t, 200)
	s.purposeDo("GET", download, prosecutor, "translation").mustBe(t, 200)
	s.purposeDo("GET", download, prosecutor, "").mustBe(t, 200)

	// And over gRPC, as a service's client declares it.
	client := requestv1.NewRequestServiceClient(s.grpcConn("request"))
	as := func(tok, purpose string) context.Context {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
		if purpose != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, trail.PurposeHeader, purpose)
		}
		return ctx
	}
	if _, err := client.GetRequest(as(uzCA, "execution"), &requestv1.GetRequestRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetRequest(as(uzCA, ""), &requestv1.GetRequestRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ListMessages(as(prosecutor, "stated-proceedings"), &requestv1.ListMessagesRequest{Parent: name}); err != nil {
		t.Fatal(err)
	}
	readAll := func(ctx context.Context) error {
		stream, err := client.DownloadAttachment(ctx, &requestv1.DownloadAttachmentRequest{Name: att.body["name"].(string)})
		if err != nil {
			return err
		}
		for {
			if _, err := stream.Recv(); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	if err := readAll(as(prosecutor, "consented-use")); err != nil {
		t.Fatal(err)
	}
	if err := readAll(as(prosecutor, "for fun")); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "X-Comity-Purpose") {
		t.Errorf("a download over gRPC declaring purpose %q = %v; want INVALID_ARGUMENT naming X-Comity-Purpose", "for fun", err)
	}
	if _, err := client.GetRequest(as(uzCA, "undeclared"), &requestv1.GetRequestRequest{Name: name}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetRequest declaring %q = %v; want INVALID_ARGUMENT: it is what the event says of no declaration, not a purpose", "undeclared", err)
	}

	const (
		get      = requestService + "GetRequest"
		messages = requestService + "ListMessages"
		dl       = requestService + "DownloadAttachment"
	)
	// The reads, in the order made: the mustDo after the refusals reads
	// with no purpose too.
	want := []string{
		get + " undeclared",
		get + " review", messages + " undeclared", dl + " translation", dl + " undeclared",
		get + " execution", get + " undeclared", messages + " stated-proceedings", dl + " consented-use",
	}
	kzAuditor := s.token("kz-oversight", identity.Auditor)
	reads := func(es []auditEntry) []string {
		var out []string
		for _, e := range es {
			if e.Event.Outcome == "OK" && slices.Contains([]string{get, messages, dl}, e.Event.Action) {
				out = append(out, e.Event.Action+" "+e.Event.Purpose)
			}
		}
		return out
	}
	entries := s.awaitEntries(kzAuditor, `resource:"`+name+`"`, 30*time.Second, func(es []auditEntry) bool {
		return len(reads(es)) >= len(want)
	})
	if got := reads(entries); !slices.Equal(got, want) {
		t.Errorf("the reads' events say:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// An auditor finds the reads whose reader declared nothing.
	undeclared, _ := s.auditEntries(kzAuditor, `resource:"`+name+`" AND purpose = "undeclared"`)
	if got := reads(undeclared); len(got) != 4 || len(got) != len(undeclared) {
		t.Errorf("the filter purpose = \"undeclared\" lists:\n%s\nwant the 4 undeclared reads", describe(undeclared))
	}
	for _, e := range entries {
		isRead := e.Event.Outcome == "OK" && slices.Contains([]string{get, messages, dl}, e.Event.Action)
		if !isRead && e.Event.Purpose != "" {
			t.Errorf("#%d %s carries purpose %q; only reads of content do", e.Index, e, e.Event.Purpose)
		}
		logged, err := audit.ParseLeaf(e.Leaf)
		if err != nil {
			t.Fatalf("#%d: %v", e.Index, err)
		}
		if logged.Purpose != e.Event.Purpose {
			t.Errorf("#%d: the leaf says purpose %q, the event %q", e.Index, logged.Purpose, e.Event.Purpose)
		}
	}
}

// The OpenAPI document declares X-Comity-Purpose with the categories the
// services accept, on each read of content.
func TestOpenAPIDeclaresThePurposes(t *testing.T) {
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Swagger2, &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc.Paths
	declared := map[string][]string{}
	for _, item := range paths {
		ops, _ := item.(map[string]any)
		for _, op := range ops {
			o, _ := op.(map[string]any)
			params, _ := o["parameters"].([]any)
			for _, p := range params {
				pm, _ := p.(map[string]any)
				if pm["name"] != "X-Comity-Purpose" || pm["in"] != "header" {
					continue
				}
				var values []string
				for _, v := range pm["enum"].([]any) {
					values = append(values, v.(string))
				}
				declared[o["operationId"].(string)] = values
			}
		}
	}
	for _, id := range []string{"GetRequest", "ListMessages", "DownloadAttachment"} {
		if !slices.Equal(declared[id], trail.Purposes) {
			t.Errorf("%s declares X-Comity-Purpose as %q; want the categories %q", id, declared[id], trail.Purposes)
		}
	}
}

// A browser page of an allowed origin may send X-Comity-Purpose: the
// preflight allows it.
func TestCORSAllowsThePurposeHeader(t *testing.T) {
	s := startSuite(t, suiteOptions{corsOrigins: []string{"https://portal.gpo.kz.example"}})
	req, _ := http.NewRequest("OPTIONS", s.baseURL+"/v1/requests/x", nil)
	req.Header.Set("Origin", "https://portal.gpo.kz.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization,x-comity-purpose")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "x-comity-purpose") {
		t.Errorf("the preflight allows the headers %q; want X-Comity-Purpose among them", got)
	}
}
