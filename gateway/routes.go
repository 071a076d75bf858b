package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// route is one REST route: its HTTP method and path template, and what the
// RPC's request message takes from the query. Everything here is read from
// the proto descriptors (the google.api.http annotations and the request
// messages), so that a field added to a request is accepted at once and a
// parameter no field takes is refused, with no list kept by hand.
type route struct {
	httpMethod string
	// template is the path template as the annotation writes it.
	template string
	// key is the template as runtime.Pattern.String() writes it, which is
	// how a request that grpc-gateway routed finds its route.
	key string
	// segs are the template's path segments without the verb: literals,
	// "*" or "**".
	segs []string
	verb string
	// vars are the fields the path binds, as proto paths (`agency.name`).
	vars []string
	// body is the field the body binds: "", "*" or a proto path.
	body string
	rpc  protoreflect.MethodDescriptor
	// in is the message whose fields the query sets: the RPC's request
	// message, unless a hand-written handler says otherwise.
	in protoreflect.MessageDescriptor
	// query is the proto path of every field a query parameter may set.
	query map[string]protoreflect.FieldDescriptor
	// listed is the resource of a list (a call that takes a filter), whose
	// fields a mistaken parameter may name.
	listed protoreflect.MessageDescriptor
}

// routeTable knows every REST route of the gateway.
type routeTable struct {
	routes []*route
	byKey  map[string]*route
	mux    *runtime.ServeMux
	log    *zap.Logger
	missed sync.Map
}

type routeKey struct{}

// routeOf returns the route a call came by, when the gateway knows it.
func routeOf(ctx context.Context) *route {
	rt, _ := ctx.Value(routeKey{}).(*route)
	return rt
}

// newRouteTable reads the routes of services from their http annotations,
// plus extra routes served by hand (the file transfers grpc-gateway cannot
// map).
func newRouteTable(services []protoreflect.ServiceDescriptor, extra []*route) (*routeTable, error) {
	t := &routeTable{byKey: map[string]*route{}}
	add := func(rt *route) error {
		if err := rt.parse(); err != nil {
			return err
		}
		t.routes = append(t.routes, rt)
		t.byKey[rt.httpMethod+" "+rt.key] = rt
		return nil
	}
	for _, sd := range services {
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue
			}
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				method, tmpl := httpPattern(r)
				if method == "" {
					continue
				}
				if err := add(&route{httpMethod: method, template: tmpl, body: r.GetBody(), rpc: md}); err != nil {
					return nil, fmt.Errorf("%s: %w", md.FullName(), err)
				}
			}
		}
	}
	for _, rt := range extra {
		if err := add(rt); err != nil {
			return nil, fmt.Errorf("%s: %w", rt.rpc.FullName(), err)
		}
	}
	return t, nil
}

func httpPattern(r *annotations.HttpRule) (method, template string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
}

// parse reads the template and the request message.
func (rt *route) parse() error {
	tmpl := strings.TrimPrefix(rt.template, "/")
	// The verb follows the last colon outside the variables.
	if i := strings.LastIndex(tmpl, ":"); i > strings.LastIndex(tmpl, "}") {
		tmpl, rt.verb = tmpl[:i], tmpl[i+1:]
	}
	var key []string
	for tmpl != "" {
		if !strings.HasPrefix(tmpl, "{") {
			var lit string
			lit, tmpl, _ = strings.Cut(tmpl, "/")
			rt.segs = append(rt.segs, lit)
			key = append(key, lit)
			continue
		}
		end := strings.Index(tmpl, "}")
		if end < 0 {
			return fmt.Errorf("path template %q: unclosed {", rt.template)
		}
		v, sub, ok := strings.Cut(tmpl[1:end], "=")
		if !ok {
			sub = "*"
		}
		rt.vars = append(rt.vars, v)
		rt.segs = append(rt.segs, strings.Split(sub, "/")...)
		key = append(key, "{"+v+"="+sub+"}")
		tmpl = strings.TrimPrefix(tmpl[end+1:], "/")
	}
	rt.key = "/" + strings.Join(key, "/")
	if rt.verb != "" {
		rt.key += ":" + rt.verb
	}
	if rt.in == nil {
		rt.in = rt.rpc.Input()
	}
	if rt.query != nil {
		return nil // set by the route's hand-written handler
	}
	rt.query = map[string]protoreflect.FieldDescriptor{}
	if rt.body != "*" {
		bound := append(slices.Clone(rt.vars), rt.body)
		queryFields(rt.in, "", bound, rt.query, 0)
	}
	if _, ok := rt.query["filter"]; ok {
		out := rt.rpc.Output().Fields()
		for i := range out.Len() {
			if f := out.Get(i); f.IsList() && f.Message() != nil {
				rt.listed = f.Message()
				break
			}
		}
	}
	return nil
}

// queryFields adds to out every field of md that grpc-gateway sets from a
// query parameter: scalars, enums, lists of them, maps, well-known types
// written as one string, and the fields of other singular messages, except
// the fields bound by the path or the body (and those that contain one).
func queryFields(md protoreflect.MessageDescriptor, prefix string, bound []string, out map[string]protoreflect.FieldDescriptor, depth int) {
	if depth > 4 {
		return
	}
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		p := prefix + string(f.Name())
		if slices.Contains(bound, p) {
			continue
		}
		contains := slices.ContainsFunc(bound, func(b string) bool { return strings.HasPrefix(b, p+".") })
		switch {
		case f.Message() == nil || f.IsMap() || scalarMessage(f.Message()):
			if !contains {
				out[p] = f
			}
		case !f.IsList():
			queryFields(f.Message(), p+".", bound, out, depth+1)
		}
	}
}

// scalarMessage reports whether a message type is written as one JSON
// value (a well-known type), not as an object of fields.
func scalarMessage(md protoreflect.MessageDescriptor) bool {
	name := string(md.FullName())
	return strings.HasPrefix(name, "google.protobuf.") &&
		(strings.HasSuffix(name, "Value") || name == "google.protobuf.Timestamp" ||
			name == "google.protobuf.Duration" || name == "google.protobuf.FieldMask" ||
			name == "google.protobuf.Struct" || name == "google.protobuf.ListValue")
}

// matches reports whether segs (a path without its verb) fit the
// template's segments.
func (rt *route) matches(segs []string) bool {
	for i, s := range rt.segs {
		if s == "**" {
			return len(segs) >= i
		}
		if i >= len(segs) || segs[i] == "" || (s != "*" && s != segs[i]) {
			return false
		}
	}
	return len(segs) == len(rt.segs)
}

// jsonPath writes a proto field path as the API's JSON names (`page_size`
// is `pageSize`).
func jsonPath(md protoreflect.MessageDescriptor, path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if md == nil {
			break
		}
		f := md.Fields().ByName(protoreflect.Name(p))
		if f == nil {
			break
		}
		parts[i] = f.JSONName()
		md = f.Message()
	}
	return strings.Join(parts, ".")
}

// params are the parameters a route takes from the query, as the API's
// JSON names, sorted.
func (rt *route) params() []string {
	var out []string
	for p := range rt.query {
		out = append(out, jsonPath(rt.in, p))
	}
	sort.Strings(out)
	return out
}

var mapKeyParam = regexp.MustCompile(`^(.*)\[(.*)\]$`)

// resolve finds the field a query parameter names, as grpc-gateway does:
// each part of a dotted name by its proto name or its JSON name. It returns
// the field's proto path, or "" when no field the route takes is named.
func (rt *route) resolve(param string) (string, protoreflect.FieldDescriptor) {
	name, isMapKey := param, false
	if m := mapKeyParam.FindStringSubmatch(param); m != nil {
		name, isMapKey = m[1], true
	}
	md := rt.in
	var path []string
	for _, part := range strings.Split(name, ".") {
		if md == nil {
			return "", nil
		}
		f := md.Fields().ByTextName(part)
		if f == nil {
			f = md.Fields().ByJSONName(part)
		}
		if f == nil {
			return "", nil
		}
		path = append(path, string(f.Name()))
		md = f.Message()
	}
	p := strings.Join(path, ".")
	f, ok := rt.query[p]
	if !ok || isMapKey != f.IsMap() {
		return "", nil
	}
	return p, f
}

// checkQuery refuses a query parameter the route does not take, and a
// value its field cannot hold, naming each parameter at fault.
func (rt *route) checkQuery(q url.Values) error {
	var names []string
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var vs []*errdetails.BadRequest_FieldViolation
	var unknown []string
	seen := map[string]string{}
	for _, k := range names {
		p, f := rt.resolve(k)
		if f != nil && !f.IsMap() {
			// page_size and pageSize are one field.
			if other, dup := seen[p]; dup {
				vs = append(vs, &errdetails.BadRequest_FieldViolation{Field: k, Description: "names the same field as " + other + "; give it once"})
				continue
			}
			seen[p] = k
		}
		if f == nil {
			unknown = append(unknown, k)
			vs = append(vs, &errdetails.BadRequest_FieldViolation{Field: k, Description: rt.unknownParam(k, q[k]),
				Reason: "UNKNOWN_QUERY_PARAMETER"})
			continue
		}
		if len(q[k]) > 1 && !f.IsList() {
			vs = append(vs, &errdetails.BadRequest_FieldViolation{Field: k, Description: "is given more than once; it takes one value"})
			continue
		}
		if f.IsMap() {
			continue
		}
		for _, v := range q[k] {
			if d := checkText(f, v); d != "" {
				vs = append(vs, &errdetails.BadRequest_FieldViolation{Field: jsonPath(rt.in, p), Description: d})
				break
			}
		}
	}
	if len(vs) == 0 {
		return nil
	}
	msg := "invalid query parameter"
	if len(unknown) > 0 {
		msg = "unknown query parameter"
	}
	return badRequest(msg, vs)
}

// unknownParam says what is wrong with a parameter the route does not take,
// and, on a list, how to filter by a field of what it lists.
func (rt *route) unknownParam(name string, values []string) string {
	takes := "takes no query parameters"
	if ps := rt.params(); len(ps) > 0 {
		takes = "takes " + strings.Join(ps, ", ")
	}
	desc := fmt.Sprintf("not a parameter of %s, which %s", rt.rpc.Name(), takes)
	if rt.listed == nil {
		return desc
	}
	first, _, _ := strings.Cut(name, ".")
	f := rt.listed.Fields().ByJSONName(first)
	if f == nil {
		f = rt.listed.Fields().ByTextName(first)
	}
	if f == nil {
		return desc
	}
	v := ""
	if len(values) > 0 {
		v = values[0]
	}
	switch f.Kind() {
	case protoreflect.BoolKind, protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind,
		protoreflect.Uint64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind, protoreflect.DoubleKind,
		protoreflect.FloatKind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind, protoreflect.Sfixed32Kind,
		protoreflect.Sfixed64Kind:
	default:
		v = fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%s; to list those whose %s is %s, write filter=%s=%s", desc, f.JSONName(), v, f.JSONName(), v)
}

// badRequest is an INVALID_ARGUMENT status naming the fields at fault.
func badRequest(message string, vs []*errdetails.BadRequest_FieldViolation) error {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, v.GetField()+": "+v.GetDescription())
	}
	return refusal(message+": "+strings.Join(parts, "; "), vs...)
}

// refusal is an INVALID_ARGUMENT error with message and a BadRequest
// detail holding vs: how every refusal of the gateway names its fields.
func refusal(message string, vs ...*errdetails.BadRequest_FieldViolation) error {
	st := status.New(codes.InvalidArgument, message)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: vs}); err == nil {
		st = d
	}
	return st.Err()
}

// find returns the route of an HTTP method and a path template.
func (t *routeTable) find(method, template string) *route {
	for _, rt := range t.routes {
		if rt.httpMethod == method && rt.template == template {
			return rt
		}
	}
	return nil
}

// lookup finds the route grpc-gateway chose for r.
func (t *routeTable) lookup(r *http.Request) *route {
	pat, ok := runtime.HTTPPattern(r.Context())
	if !ok {
		return nil
	}
	key := pat.String()
	if rt := t.byKey[r.Method+" "+key]; rt != nil {
		return rt
	}
	// A POST form that grpc-gateway serves as the GET of the same path
	// (its path-length fallback).
	if rt := t.byKey[http.MethodGet+" "+key]; rt != nil {
		return rt
	}
	if _, seen := t.missed.LoadOrStore(key, true); !seen && t.log != nil {
		t.log.Warn("gateway route without a known request message: its query is not checked", zap.String("pattern", key))
	}
	return nil
}

// middleware checks, before grpc-gateway's handler runs, what the handler
// would otherwise ignore or refuse in its own words: a custom method typed
// where a name goes, a body that is not JSON, a query parameter the call
// does not take or a value its field cannot hold, a path segment that
// cannot be its field. The handler's error handler finds the route in the
// context, to say where in the body a decoding error is.
func (t *routeTable) middleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		rt := t.lookup(r)
		if rt == nil {
			next(w, r, params)
			return
		}
		fail := func(err error) {
			_, m := runtime.MarshalerForRequest(t.mux, r)
			runtime.HTTPError(r.Context(), t.mux, m, w, r, err)
		}
		// `requests/x:submitt` fits `{name=requests/*}`: the name would be
		// refused for its pattern, when the mistake is the method.
		if rt.verb == "" && strings.Contains(lastSegment(r.URL.Path), ":") {
			if err := t.verbError(w, r, http.StatusNotFound); err != nil {
				fail(err)
				return
			}
		}
		if rt.body != "" {
			if err := checkMediaType(r); err != nil {
				fail(err)
				return
			}
		}
		q := r.URL.Query()
		if r.Method == http.MethodPost && rt.httpMethod == http.MethodGet && r.ParseForm() == nil {
			q = r.Form
		}
		if err := rt.checkQuery(q); err != nil {
			fail(err)
			return
		}
		if err := rt.checkPath(params); err != nil {
			fail(err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)), params)
	}
}

// checkPath refuses a path segment its field cannot hold (a number, say),
// naming the field.
func (rt *route) checkPath(params map[string]string) error {
	var vs []*errdetails.BadRequest_FieldViolation
	for _, v := range rt.vars {
		f := fieldAt(rt.in, v)
		if f == nil {
			continue
		}
		if d := checkText(f, params[v]); d != "" {
			vs = append(vs, &errdetails.BadRequest_FieldViolation{Field: jsonPath(rt.in, v), Description: d})
		}
	}
	if len(vs) == 0 {
		return nil
	}
	return badRequest("invalid path", vs)
}

func fieldAt(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	var f protoreflect.FieldDescriptor
	for _, p := range strings.Split(path, ".") {
		if md == nil {
			return nil
		}
		if f = md.Fields().ByName(protoreflect.Name(p)); f == nil {
			return nil
		}
		md = f.Message()
	}
	return f
}

func lastSegment(path string) string {
	return path[strings.LastIndex(path, "/")+1:]
}

// verbError answers a path that names a custom method (`…:verb`) the
// resource does not have (404), or has for another HTTP method (405, with
// Allow), listing the methods it has; a path without a verb that has
// routes for other methods gets 405 with Allow. It returns nil when it has
// nothing better to say than status.
func (t *routeTable) verbError(w http.ResponseWriter, r *http.Request, httpStatus int) error {
	path := r.URL.Path
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	last := segs[len(segs)-1]
	i := strings.LastIndex(last, ":")
	if i < 0 {
		if httpStatus != http.StatusMethodNotAllowed {
			return nil
		}
		var allow []string
		for _, rt := range t.routes {
			if rt.verb == "" && rt.matches(segs) && !slices.Contains(allow, rt.httpMethod) {
				allow = append(allow, rt.httpMethod)
			}
		}
		if len(allow) == 0 {
			return nil
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: status.Errorf(codes.Unimplemented,
			"%s is not a method of %s: it takes %s", r.Method, path, strings.Join(allow, ", "))}
	}
	verb := last[i+1:]
	segs[len(segs)-1] = last[:i]
	resource := strings.TrimPrefix(strings.Join(segs, "/"), "v1/")
	var verbs, allow []string
	for _, rt := range t.routes {
		if rt.verb == "" || !rt.matches(segs) {
			continue
		}
		if !slices.Contains(verbs, ":"+rt.verb) {
			verbs = append(verbs, ":"+rt.verb)
		}
		if rt.verb == verb && !slices.Contains(allow, rt.httpMethod) {
			allow = append(allow, rt.httpMethod)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: status.Errorf(codes.Unimplemented,
			"%s:%s takes %s, not %s", resource, verb, strings.Join(allow, ", "), r.Method)}
	}
	has := "it has no custom methods"
	if len(verbs) > 0 {
		has = "its methods are " + strings.Join(verbs, ", ")
	}
	return &runtime.HTTPStatusError{HTTPStatus: http.StatusNotFound, Err: status.Errorf(codes.NotFound,
		"method :%s does not exist for %s; %s", verb, resource, has)}
}
