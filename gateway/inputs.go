package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// enumValues are the names a caller may give an enum, in the order the
// proto declares them, without the zero value (UNSPECIFIED), which no
// input may take.
func enumValues(ed protoreflect.EnumDescriptor) []string {
	var out []string
	for i := range ed.Values().Len() {
		if v := ed.Values().Get(i); v.Number() != 0 {
			out = append(out, string(v.Name()))
		}
	}
	return out
}

// notOneOf says that v is not a value of the enum, listing those that are
// (and the one meant, when only its case is wrong: values are
// case-sensitive, as protojson reads them).
func notOneOf(ed protoreflect.EnumDescriptor, v string) string {
	values := enumValues(ed)
	d := fmt.Sprintf("%q is not one of %s", v, strings.Join(values, ", "))
	for _, n := range values {
		if strings.EqualFold(n, v) {
			d += fmt.Sprintf(" (values are case-sensitive: write %s)", n)
		}
	}
	return d
}

// checkText says what is wrong with v as the text of field f, as a query
// parameter or a path segment gives it; "" when grpc-gateway can read it.
func checkText(f protoreflect.FieldDescriptor, v string) string {
	bits := 64
	switch f.Kind() {
	case protoreflect.EnumKind:
		if f.Enum().Values().ByName(protoreflect.Name(v)) != nil {
			return ""
		}
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && f.Enum().Values().ByNumber(protoreflect.EnumNumber(n)) != nil {
			return ""
		}
		return notOneOf(f.Enum(), v)
	case protoreflect.BoolKind:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Sprintf("%q is not true or false", v)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		bits = 32
		fallthrough
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if _, err := strconv.ParseInt(v, 10, bits); err != nil {
			return fmt.Sprintf("%q is not a whole number of at most %d bits", v, bits)
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		bits = 32
		fallthrough
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if _, err := strconv.ParseUint(v, 10, bits); err != nil {
			return fmt.Sprintf("%q is not a whole number of 0 or more (at most %d bits)", v, bits)
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Sprintf("%q is not a number", v)
		}
	case protoreflect.MessageKind:
		switch f.Message().FullName() {
		case "google.protobuf.Timestamp":
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return fmt.Sprintf("%q is not a time in RFC 3339 form, e.g. 2026-03-01T09:00:00Z", v)
			}
		case "google.protobuf.Duration":
			if s, ok := strings.CutSuffix(v, "s"); !ok || !isNumber(s) {
				return fmt.Sprintf("%q is not a duration in seconds, e.g. 3600s", v)
			}
		}
	}
	return ""
}

func isNumber(s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// checkMediaType refuses a body sent as a form (415): the API takes JSON.
// `curl -d '{…}'` without a Content-Type sends JSON labelled as a form;
// a body that is JSON is taken as what it is, so that this common command
// works, and any other form body is refused with the header to send.
func checkMediaType(r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		return unsupportedMedia("this call takes a JSON body (Content-Type: application/json), not a multipart form (curl -F): send the fields as a JSON object, e.g. curl -H 'Content-Type: application/json' -d '{…}'")
	case "application/x-www-form-urlencoded":
		body, _ := bodyOf(r)
		if len(bytes.TrimSpace(body)) == 0 || json.Valid(body) {
			return nil
		}
		return unsupportedMedia("this call takes a JSON body (Content-Type: application/json), not a form (name=value&…): send the fields as a JSON object, e.g. curl -H 'Content-Type: application/json' -d '{…}'")
	}
	return nil
}

func unsupportedMedia(msg string) error {
	return &runtime.HTTPStatusError{HTTPStatus: http.StatusUnsupportedMediaType,
		Err: refusal(msg, &errdetails.BadRequest_FieldViolation{Field: "Content-Type", Description: msg, Reason: "UNSUPPORTED_MEDIA_TYPE"})}
}

type bodyKey struct{}

// bodyOf returns the request body limitBody kept, without consuming it.
func bodyOf(r *http.Request) ([]byte, bool) {
	b, ok := r.Context().Value(bodyKey{}).([]byte)
	return b, ok
}

// bodyError explains why body cannot be the request message of rt: where
// the JSON breaks (line and column), or which field is unknown or holds a
// value of the wrong kind, named by its path as the services name fields
// (`request.identifiers[0].kind`). It returns nil when it finds nothing
// wrong (the decoder's own message then stands).
func bodyError(rt *route, body []byte) error {
	field, md := "", rt.rpc.Input()
	if rt.body != "*" && rt.body != "" {
		f := fieldAt(md, rt.body)
		if f == nil || f.Message() == nil {
			return nil
		}
		field, md = rt.body, f.Message()
	}
	at := field
	if at == "" {
		at = "body"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			line, col := lineCol(body, se.Offset-1)
			return notJSON(at, fmt.Sprintf("not valid JSON at line %d, column %d: %s", line, col, se))
		case errors.Is(err, io.EOF):
			return nil // an empty body is no body
		}
		line, col := lineCol(body, int64(len(body)))
		return notJSON(at, fmt.Sprintf("not valid JSON: it ends at line %d, column %d, before its JSON value does", line, col))
	}
	// (Not dec.More, which at the top level takes a stray } or ] for the end.)
	if rest := body[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		off := dec.InputOffset() + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
		line, col := lineCol(body, off)
		return notJSON(at, fmt.Sprintf("not valid JSON: something follows the JSON value at line %d, column %d", line, col))
	}
	if p, d := checkJSON(v, md, field); d != "" {
		if p == "" {
			p = at
		}
		return invalidBody(p, d)
	}
	return nil
}

// notJSON refuses a body that is not JSON, saying where it breaks.
func notJSON(field, desc string) error {
	return refusal("request body is "+desc, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
}

func invalidBody(field, desc string) error {
	return badRequest("invalid request body", []*errdetails.BadRequest_FieldViolation{{Field: field, Description: desc}})
}

// lineCol is the line and column (in characters, from 1) of byte off of b.
func lineCol(b []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(b))))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// checkJSON checks a decoded JSON value against the message it is to be,
// as protojson reads it, and returns the path and description of the first
// thing wrong.
func checkJSON(v any, md protoreflect.MessageDescriptor, path string) (string, string) {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			return path, fmt.Sprintf("%s is not a time in RFC 3339 form, e.g. \"2026-03-01T09:00:00Z\"", show(v))
		}
		return "", ""
	case "google.protobuf.Duration":
		s, ok := v.(string)
		if n, found := strings.CutSuffix(s, "s"); !ok || !found || !isNumber(n) {
			return path, fmt.Sprintf("%s is not a duration in seconds, e.g. \"3600s\"", show(v))
		}
		return "", ""
	}
	if scalarMessage(md) || md.FullName() == "google.protobuf.Any" || md.FullName() == "google.protobuf.Empty" {
		return "", ""
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return path, fmt.Sprintf("%s is not a JSON object (%s)", show(v), md.Name())
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := md.Fields().ByJSONName(k)
		if f == nil {
			f = md.Fields().ByTextName(k)
		}
		if f == nil {
			return join(path, k), fmt.Sprintf("unknown field: %s has %s", md.Name(), jsonNames(md))
		}
		fv := obj[k]
		if fv == nil {
			continue
		}
		fp := join(path, string(f.Name()))
		switch {
		case f.IsMap():
			m, ok := fv.(map[string]any)
			if !ok {
				return fp, fmt.Sprintf("%s is not a JSON object", show(fv))
			}
			mk := make([]string, 0, len(m))
			for key := range m {
				mk = append(mk, key)
			}
			sort.Strings(mk)
			for _, key := range mk {
				if p, d := checkValue(f.MapValue(), m[key], fmt.Sprintf("%s[%q]", fp, key)); d != "" {
					return p, d
				}
			}
		case f.IsList():
			l, ok := fv.([]any)
			if !ok {
				return fp, fmt.Sprintf("%s is not a JSON array", show(fv))
			}
			for i, e := range l {
				if p, d := checkValue(f, e, fmt.Sprintf("%s[%d]", fp, i)); d != "" {
					return p, d
				}
			}
		default:
			if p, d := checkValue(f, fv, fp); d != "" {
				return p, d
			}
		}
	}
	return "", ""
}

// checkValue checks one value (not a list or a map) of field f.
func checkValue(f protoreflect.FieldDescriptor, v any, path string) (string, string) {
	if v == nil {
		return "", ""
	}
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkJSON(v, f.Message(), path)
	case protoreflect.EnumKind:
		if f.Enum().FullName() == "google.protobuf.NullValue" {
			return "", ""
		}
		switch v := v.(type) {
		case string:
			if f.Enum().Values().ByName(protoreflect.Name(v)) != nil {
				return "", ""
			}
			return path, notOneOf(f.Enum(), v)
		case json.Number:
			if _, err := strconv.ParseInt(string(v), 10, 32); err == nil {
				return "", ""
			}
		}
		return path, fmt.Sprintf("%s is not one of %s", show(v), strings.Join(enumValues(f.Enum()), ", "))
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			return path, fmt.Sprintf("%s is not a string", show(v))
		}
	case protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			return path, fmt.Sprintf("%s is not a string of base64", show(v))
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			return path, fmt.Sprintf("%s is not true or false", show(v))
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		switch v := v.(type) {
		case json.Number:
		case string:
			if v != "NaN" && v != "Infinity" && v != "-Infinity" && !isNumber(v) {
				return path, fmt.Sprintf("%s is not a number", show(v))
			}
		default:
			return path, fmt.Sprintf("%s is not a number", show(v))
		}
	default: // the integer kinds
		var s string
		switch v := v.(type) {
		case json.Number:
			s = string(v)
		case string:
			s = v
		default:
			return path, fmt.Sprintf("%s is not a whole number", show(v))
		}
		if d := checkText(f, s); d != "" {
			// protojson also takes an exponent form of a whole number
			// (1e3); leave those to it.
			if fl, err := strconv.ParseFloat(s, 64); err == nil && fl == math.Trunc(fl) && strings.ContainsAny(s, "eE.") {
				return "", ""
			}
			return path, d
		}
	}
	return "", ""
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// show writes a JSON value shortly, for a message.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if r := []rune(string(b)); len(r) > 40 {
		return string(r[:37]) + "…"
	}
	return string(b)
}

func jsonNames(md protoreflect.MessageDescriptor) string {
	var out []string
	for i := range md.Fields().Len() {
		out = append(out, md.Fields().Get(i).JSONName())
	}
	return strings.Join(out, ", ")
}
