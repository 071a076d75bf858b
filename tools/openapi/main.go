// Command openapi completes the OpenAPI document protoc-gen-openapiv2 writes
// from the protos into the one the gateway serves, in Swagger 2.0 and, by
// kin-openapi's openapi2conv, OpenAPI 3. `make generate` runs it.
//
// What the protos' annotations cannot say is said here: the release version
// (VERSION, its only place), the routes the gateway serves by hand (the
// upload and download of files, the health checks; gateway/streams.go),
// the watch's newline-delimited stream, and parameter names a generated
// client reads well (`agency`, not the generator's `agencie`; `body` for
// every body). It then checks what a client generator relies on: unique
// operation ids, and every operation but the anonymous ones under the
// bearer token.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// routes are the paths the gateway serves outside grpc-gateway's mapping,
// with their tag and definitions.
//
//go:embed routes.json
var routes []byte

// anonymous are the operations anyone may call without a token: the
// directory's ListTrustedIssuers (its AnonymousReads, for the console's
// sign-in page) and the health checks. Every other one needs the bearer
// token.
var anonymous = []string{"ListTrustedIssuers", "Healthz", "Readyz"}

func main() {
	in := flag.String("in", "build/openapi/comity.swagger.json", "the document protoc-gen-openapiv2 wrote")
	versionFile := flag.String("version-file", "VERSION", "file holding the release version")
	out := flag.String("out", "gateway/openapi", "directory to write openapi.json (Swagger 2.0) and openapi.v3.json into")
	flag.Parse()
	if err := run(*in, *versionFile, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(in, versionFile, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc openapi2.T
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	v, err := os.ReadFile(versionFile)
	if err != nil {
		return err
	}
	doc.Info.Version = strings.TrimSpace(string(v))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(doc.Info.Version) {
		return fmt.Errorf("%s: %q is not a version such as 1.2.3", versionFile, doc.Info.Version)
	}
	if err := addRoutes(&doc); err != nil {
		return err
	}
	for path, item := range doc.Paths {
		newPath := path
		for _, op := range item.Operations() {
			newPath = nameParameters(path, op)
		}
		if newPath != path {
			delete(doc.Paths, path)
			doc.Paths[newPath] = item
		}
	}
	if err := describeWatch(&doc); err != nil {
		return err
	}
	if err := declarePurpose(&doc); err != nil {
		return err
	}
	requiredWithoutDefault(&doc)
	omitUnset(&doc)
	pruneDefinitions(&doc)
	if err := check(&doc); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "openapi.json"), doc); err != nil {
		return err
	}
	v3, err := toV3(&doc)
	if err != nil {
		return err
	}
	return write(filepath.Join(out, "openapi.v3.json"), v3)
}

func addRoutes(doc *openapi2.T) error {
	var extra struct {
		Paths       map[string]*openapi2.PathItem  `json:"paths"`
		Definitions map[string]*openapi2.SchemaRef `json:"definitions"`
		Tags        openapi3.Tags                  `json:"tags"`
	}
	if err := json.Unmarshal(routes, &extra); err != nil {
		return fmt.Errorf("routes.json: %w", err)
	}
	for path, item := range extra.Paths {
		if _, dup := doc.Paths[path]; dup {
			return fmt.Errorf("routes.json: %s is already generated from the protos", path)
		}
		doc.Paths[path] = item
	}
	doc.Tags = append(doc.Tags, extra.Tags...)
	for name, def := range extra.Definitions {
		if _, dup := doc.Definitions[name]; dup {
			return fmt.Errorf("routes.json: definition %s is already generated from the protos", name)
		}
		doc.Definitions[name] = def
	}
	return nil
}

var pathParam = regexp.MustCompile(`([^/{}]+)/\{([^}]+)\}`)

// nameParameters names op's parameters for what they are and returns path
// with its parameters renamed likewise.
//
// expand_slashed_path_patterns turns {name=agencies/*} into
// agencies/{agencie}, taking an "s" off the collection: "agencies" becomes
// "agency" here. Each such parameter is described as the id it is. A body
// is "body" in every operation: generated clients would otherwise have two
// "request" parameters in UpdateRequest, the path's and the body's. A path
// parameter the path does not hold is what is left of a name the path fixes
// ({name=caller} becomes /v1/caller): there is nothing to send.
func nameParameters(path string, op *openapi2.Operation) string {
	renamed := map[string]string{}
	described := map[string]string{}
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		collection, param := m[1], m[2]
		if param != strings.TrimSuffix(collection, "s") {
			continue // a field of the request, e.g. {index}
		}
		singular := param
		if strings.HasSuffix(collection, "ies") {
			singular = strings.TrimSuffix(collection, "ies") + "y"
		}
		renamed[param] = singular
		name := strings.SplitN(path, "{"+param+"}", 2)[0]
		name = name[strings.Index(name, "/v1/")+len("/v1/"):]
		described[singular] = fmt.Sprintf("The %s's id, the last part of its name `%s{%s}`.", singular, name, singular)
	}
	op.Parameters = slices.DeleteFunc(op.Parameters, func(p *openapi2.Parameter) bool {
		return p.In == "path" && !strings.Contains(path, "{"+p.Name+"}")
	})
	for _, p := range op.Parameters {
		switch p.In {
		case "path":
			if to, ok := renamed[p.Name]; ok {
				p.Name = to
			}
			if p.Description == "" {
				p.Description = described[p.Name]
			}
		case "body":
			p.Name = "body"
		}
	}
	for from, to := range renamed {
		path = strings.Replace(path, "{"+from+"}", "{"+to+"}", 1)
	}
	return path
}

// requiredWithoutDefault takes the default off the parameters a call
// requires (ResolveRoute's requestType and priority): the default is the
// enum's UNSPECIFIED, which the services refuse, so it is no value to offer
// either.
func requiredWithoutDefault(doc *openapi2.T) {
	for _, item := range doc.Paths {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if !p.Required || p.Default == nil {
					continue
				}
				if d, ok := p.Default.(string); ok && strings.HasSuffix(d, "_UNSPECIFIED") {
					p.Enum = slices.DeleteFunc(p.Enum, func(v any) bool { return v == d })
				}
				p.Default = nil
			}
		}
	}
}

// omitUnset marks every date-time property x-nullable and every list
// x-omitempty, extensions go-swagger reads, so that what a generated client
// leaves unset it leaves out of what it sends. It would otherwise send
// 0001-01-01T00:00:00Z for a time (an output-only createTime, a
// requestedResponseTime long past) and null for a list, which a PATCH
// takes as "clear this list" (its field mask is inferred from the body's
// keys). In proto3 JSON an absent list and an empty one are the same.
func omitUnset(doc *openapi2.T) {
	var walk func(s *openapi2.SchemaRef)
	walk = func(s *openapi2.SchemaRef) {
		if s == nil || s.Value == nil {
			return
		}
		if s.Value.Extensions == nil {
			s.Value.Extensions = map[string]any{}
		}
		if s.Value.Format == "date-time" {
			s.Value.Extensions["x-nullable"] = true
		}
		if s.Value.Type != nil && s.Value.Type.Is("array") {
			s.Value.Extensions["x-omitempty"] = true
		}
		for _, p := range s.Value.Properties {
			walk(p)
		}
		walk(s.Value.Items)
	}
	for _, d := range doc.Definitions {
		walk(d)
	}
	for _, item := range doc.Paths {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				walk(p.Schema)
			}
		}
	}
}

// pruneDefinitions removes the definitions no operation uses: the
// responses of the methods whose HTTP answer is one of their fields
// (response_body), e.g. GetRequestResponse.
func pruneDefinitions(doc *openapi2.T) {
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); ok && k == "$ref" {
					name := strings.TrimPrefix(ref, "#/definitions/")
					if !used[name] {
						used[name] = true
						if def, err := json.Marshal(doc.Definitions[name]); err == nil {
							var m any
							_ = json.Unmarshal(def, &m)
							walk(m)
						}
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	raw, _ := json.Marshal(doc.Paths)
	var paths any
	_ = json.Unmarshal(raw, &paths)
	walk(paths)
	for name := range doc.Definitions {
		if !used[name] {
			delete(doc.Definitions, name)
		}
	}
}

// describeWatch says what the gateway's watch (gateway/watch.go) answers:
// one JSON object a line, sent as each change happens.
func describeWatch(doc *openapi2.T) error {
	item := doc.Paths["/v1/requests:watch"]
	if item == nil || item.Get == nil {
		return errors.New("no GET /v1/requests:watch generated from the protos")
	}
	op := item.Get
	op.Produces = []string{"application/x-ndjson"}
	op.Description = strings.TrimSpace(op.Description + "\n\nThe answer starts (200, its headers sent) as soon as the watch has begun, then " +
		"carries newline-delimited JSON, one `{\"result\": …}` line for each change as it happens, for as long as the " +
		"client reads. An error after the start is a last `{\"error\": …}` line (a google.rpc.Status). A client that " +
		"stops reading is disconnected.")
	ok := op.Responses.Value("200")
	if ok == nil {
		return errors.New("GET /v1/requests:watch has no 200 response")
	}
	ok.Description = "The stream of changes, one JSON object a line."
	return nil
}

// purposeReads are the operations that read a request's content (or a
// data subject's request), whose audit event carries the purpose the
// reader declares in the X-Comity-Purpose header (DESIGN §10).
var purposeReads = []string{"GetRequest", "ListMessages", "DownloadAttachment", "DraftFollowUp", "GetDataSubjectRequest"}

// purposes are the categories a reader may declare: trail.Purposes of the
// services module (this module does not import it; the gateway's
// TestOpenAPIDeclaresThePurposes checks that the two agree).
var purposes = []any{"stated-proceedings", "execution", "review", "translation", "consented-use", "data-subject-request"}

// declarePurpose adds the optional X-Comity-Purpose header to the
// operations that read content. The gateway forwards it on every call and
// the services refuse an unknown value on any call, but only these
// operations' audit events carry it.
func declarePurpose(doc *openapi2.T) error {
	found := map[string]bool{}
	for _, item := range doc.Paths {
		for _, op := range item.Operations() {
			if !slices.Contains(purposeReads, op.OperationID) {
				continue
			}
			found[op.OperationID] = true
			op.Parameters = append(op.Parameters, &openapi2.Parameter{
				In: "header", Name: "X-Comity-Purpose", Type: &openapi3.Types{"string"}, Enum: purposes,
				Description: "The purpose of this read, which its audit event records: stated-proceedings (investigation or " +
					"prosecution in the proceedings the request states), execution (executing or answering the request), " +
					"review (a central authority's or legal review), translation, consented-use (a use the requested side " +
					"consented to) or data-subject-request (answering a person's request about their data). Without it " +
					"the event says `undeclared`; any other value is refused (400, naming the header).",
			})
		}
	}
	for _, id := range purposeReads {
		if !found[id] {
			return fmt.Errorf("no operation %s to declare X-Comity-Purpose on", id)
		}
	}
	return nil
}

// check fails on what would make a poor or wrong client: operation ids
// that repeat, operations without a tag, an operation left anonymous by
// mistake or one that should be but is not.
func check(doc *openapi2.T) error {
	seen := map[string]string{}
	var problems []string
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		for method, op := range doc.Paths[path].Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				problems = append(problems, where+": no operationId")
			} else if other, dup := seen[op.OperationID]; dup {
				problems = append(problems, fmt.Sprintf("%s: operationId %s is also %s's", where, op.OperationID, other))
			}
			seen[op.OperationID] = where
			if len(op.Tags) != 1 {
				problems = append(problems, fmt.Sprintf("%s: %d tags, want one", where, len(op.Tags)))
			}
			open := op.Security != nil && len(*op.Security) == 0
			if want := slices.Contains(anonymous, op.OperationID); open != want {
				problems = append(problems, fmt.Sprintf("%s: anonymous %v, want %v (see anonymous in tools/openapi)", where, open, want))
			}
		}
	}
	if len(doc.Security) != 1 || doc.SecurityDefinitions["bearer"] == nil {
		problems = append(problems, "the document does not require the bearer token by default (proto/comity/api/v1/api.proto)")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// toV3 converts doc and says of its token what OpenAPI 3 can and Swagger
// 2.0 cannot: an HTTP bearer token, a JWT.
func toV3(doc *openapi2.T) (*openapi3.T, error) {
	// Convert a copy: the conversion may share or change doc's parts.
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var copied openapi2.T
	if err := json.Unmarshal(raw, &copied); err != nil {
		return nil, err
	}
	v3, err := openapi2conv.ToV3(&copied)
	if err != nil {
		return nil, fmt.Errorf("converting to OpenAPI 3: %w", err)
	}
	bearer := v3.Components.SecuritySchemes["bearer"]
	if bearer == nil || bearer.Value == nil {
		return nil, errors.New("converting to OpenAPI 3: no bearer security scheme")
	}
	bearer.Value = &openapi3.SecurityScheme{
		Type: "http", Scheme: "bearer", BearerFormat: "JWT",
		Description: strings.Replace(bearer.Value.Description, "sent as `Bearer <token>`", "sent as `Authorization: Bearer <token>`", 1),
	}
	if err := v3.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI 3 document is not valid: %w", err)
	}
	return v3, nil
}

// write writes v as indented JSON, <, > and & as they are (descriptions
// say `Bearer <token>`).
func write(name string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}
