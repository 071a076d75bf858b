package grpcapi

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
	"github.com/comity-mla/comity/services/request"
)

// The domain types name their fields as the API messages do (their json
// tags), so most of a conversion follows from the names: toMessage and
// fromMessage walk a domain struct and the message's fields of the same
// names, an enum being its value name in the domain, a Timestamp a
// time.Time, a nested message a struct (or a pointer to one), a repeated
// field a slice, an Actor an Actor (its display name the domain's name,
// its agency a resource name). What the names do not say (resource names, fields the
// message groups differently) the callers write by hand.

var (
	timeType      = reflect.TypeFor[time.Time]()
	actorType     = reflect.TypeFor[request.Actor]()
	timestampName = (&timestamppb.Timestamp{}).ProtoReflect().Descriptor().FullName()
)

// fieldName is the API name of a domain struct field: its json name.
func fieldName(f reflect.StructField) protoreflect.Name {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return protoreflect.Name(name)
}

// fieldPair is a field of a domain struct, by index, and the message
// field of the same name.
type fieldPair struct {
	index int
	fd    protoreflect.FieldDescriptor
}

// pairsOf is what planOf found for one message: the struct type and its
// pairs.
type pairsOf struct {
	t     reflect.Type
	pairs []fieldPair
}

// plans caches planOf by message descriptor: each message converts from and
// to one domain type, and the pairs of the two never change.
var plans sync.Map // protoreflect.MessageDescriptor → pairsOf

// planOf returns the fields of struct type t that message md has under
// the same name, in t's order.
func planOf(t reflect.Type, md protoreflect.MessageDescriptor) []fieldPair {
	if p, ok := plans.Load(md); ok && p.(pairsOf).t == t {
		return p.(pairsOf).pairs
	}
	var p []fieldPair
	for i := range t.NumField() {
		if fd := md.Fields().ByName(fieldName(t.Field(i))); fd != nil {
			p = append(p, fieldPair{index: i, fd: fd})
		}
	}
	plans.Store(md, pairsOf{t: t, pairs: p})
	return p
}

// toMessage sets in m every field of the domain struct v that has a field
// of the same name in m, except those skip names. A zero value leaves the
// field unset: no empty nested message, no 1970 timestamp.
func toMessage(v reflect.Value, m protoreflect.Message, skip ...protoreflect.Name) {
	for _, f := range planOf(v.Type(), m.Descriptor()) {
		fd := f.fd
		if slices.Contains(skip, fd.Name()) {
			continue
		}
		fv := v.Field(f.index)
		if fd.IsList() {
			if fv.Len() == 0 {
				continue
			}
			l := m.Mutable(fd).List()
			for j := range fv.Len() {
				l.Append(toValue(fv.Index(j), fd, l.NewElement))
			}
			continue
		}
		switch {
		case fv.Kind() == reflect.Pointer && fv.IsNil():
		case fv.Kind() == reflect.Pointer:
			m.Set(fd, toValue(fv.Elem(), fd, func() protoreflect.Value { return m.NewField(fd) }))
		case !fv.IsZero():
			m.Set(fd, toValue(fv, fd, func() protoreflect.Value { return m.NewField(fd) }))
		}
	}
}

// toValue is the API value of the domain value v for a field (or list
// element) described by fd; newMessage makes a message to fill.
func toValue(v reflect.Value, fd protoreflect.FieldDescriptor, newMessage func() protoreflect.Value) protoreflect.Value {
	switch {
	case fd.Kind() == protoreflect.EnumKind:
		// An unknown name is the zero value, as for every enum of the API.
		var n protoreflect.EnumNumber
		if ev := fd.Enum().Values().ByName(protoreflect.Name(v.String())); ev != nil {
			n = ev.Number()
		}
		return protoreflect.ValueOfEnum(n)
	case fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == timestampName:
		return protoreflect.ValueOfMessage(timestamppb.New(v.Interface().(time.Time)).ProtoReflect())
	case v.Type() == actorType:
		return protoreflect.ValueOfMessage(actorToProto(v.Interface().(request.Actor)).ProtoReflect())
	case fd.Kind() == protoreflect.MessageKind:
		mv := newMessage()
		toMessage(v, mv.Message())
		return mv
	case v.Kind() == reflect.String:
		return protoreflect.ValueOfString(v.String())
	}
	return protoreflect.ValueOf(v.Interface())
}

// fromMessage sets in the domain struct v every field that has a field of
// the same name in m, except those skip names; only names selects, when
// not nil, restricts it to those. An enum's zero value becomes "", so that
// the domain reports it missing; an empty list stays nil.
func fromMessage(m protoreflect.Message, v reflect.Value, only []string, skip ...protoreflect.Name) {
	for _, f := range planOf(v.Type(), m.Descriptor()) {
		fd := f.fd
		if slices.Contains(skip, fd.Name()) || only != nil && !slices.Contains(only, string(fd.Name())) {
			continue
		}
		fv := v.Field(f.index)
		if fd.IsList() {
			l := m.Get(fd).List()
			if l.Len() == 0 {
				continue
			}
			s := reflect.MakeSlice(fv.Type(), l.Len(), l.Len())
			for j := range l.Len() {
				fromValue(l.Get(j), fd, s.Index(j))
			}
			fv.Set(s)
			continue
		}
		if fd.Message() != nil && !m.Has(fd) {
			continue
		}
		if fv.Kind() == reflect.Pointer {
			fv.Set(reflect.New(fv.Type().Elem()))
			fv = fv.Elem()
		}
		fromValue(m.Get(fd), fd, fv)
	}
}

// fromValue sets the domain value v from the API value pv of a field (or
// list element) described by fd.
func fromValue(pv protoreflect.Value, fd protoreflect.FieldDescriptor, v reflect.Value) {
	switch {
	case fd.Kind() == protoreflect.EnumKind:
		v.SetString(enumValueName(fd.Enum(), pv.Enum()))
	case fd.Kind() == protoreflect.MessageKind && v.Type() == timeType:
		ts := pv.Message().Interface().(*timestamppb.Timestamp)
		v.Set(reflect.ValueOf(ts.AsTime()))
	case v.Type() == actorType:
		a := pv.Message().Interface().(*requestv1.Actor)
		v.Set(reflect.ValueOf(request.Actor{Subject: a.GetSubject(), Name: a.GetDisplayName(), Agency: strings.TrimPrefix(a.GetAgency(), agencyPrefix)}))
	case fd.Kind() == protoreflect.MessageKind:
		fromMessage(pv.Message(), v, nil)
	default:
		v.Set(reflect.ValueOf(pv.Interface()).Convert(v.Type()))
	}
}

// enumValueName is what enumName is for a generated enum: "" for the zero
// value, the value's name, or the number of a value the API does not know.
func enumValueName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if n == 0 {
		return ""
	}
	if ev := ed.Values().ByNumber(n); ev != nil {
		return string(ev.Name())
	}
	return strconv.Itoa(int(n))
}
