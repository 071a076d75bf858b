// Package storedoc is the JSON form in which the SQLite and the PostgreSQL
// request stores keep a request document, so that both backends store, and
// read back, exactly the same thing. The form is the domain type's own (its
// json tags name the members); testdata holds documents written before it
// was, which must keep reading back the same. Times are UTC RFC 3339 with at
// most microseconds, and absent when zero.
package storedoc

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/comity-mla/comity/services/request"
)

// StoredTime is t as both backends keep it: UTC, truncated (not rounded, as
// PostgreSQL would) to microseconds; the zero time stays zero.
func StoredTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// ReadTime is a decoded time in UTC (zero stays zero).
func ReadTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Encode returns v as JSON text. It cannot fail for the plain structs stored
// here, so a failure is a programming error.
func Encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("request/storedoc: encode %T: %v", v, err))
	}
	return string(b)
}

// EncodeRequest returns the stored form of r: the JSON encoding of the
// domain type, whose tags name each member and omit zero times and empty
// lists, with times as StoredTime keeps them.
func EncodeRequest(r request.Request) string {
	return Encode(normalize(reflect.ValueOf(r), StoredTime, false).Interface())
}

// DecodeRequest returns nil for every empty list: callers see one
// representation of "none", whichever backend and whatever was written.
func DecodeRequest(s string) (request.Request, error) {
	var r request.Request
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return request.Request{}, err
	}
	return normalize(reflect.ValueOf(r), ReadTime, true).Interface().(request.Request), nil
}

var timeType = reflect.TypeFor[time.Time]()

// normalize returns a deep copy of v, a domain value, with every time
// passed through conv and, when emptyNil, every empty list made nil. The
// copy shares no slice or pointer with v.
func normalize(v reflect.Value, conv func(time.Time) time.Time, emptyNil bool) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch {
	case v.Type() == timeType:
		out.Set(reflect.ValueOf(conv(v.Interface().(time.Time))))
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			out.Field(i).Set(normalize(v.Field(i), conv, emptyNil))
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			out.Set(reflect.New(v.Type().Elem()))
			out.Elem().Set(normalize(v.Elem(), conv, emptyNil))
		}
	case v.Kind() == reflect.Slice:
		if v.IsNil() || emptyNil && v.Len() == 0 {
			break
		}
		out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i), conv, emptyNil))
		}
	default:
		out.Set(v)
	}
	return out
}

// Stored returns r as a later read returns it: times in UTC truncated to
// microseconds, empty lists nil, and no slice or pointer shared with r.
func Stored(r request.Request) request.Request {
	out, err := DecodeRequest(EncodeRequest(r))
	if err != nil {
		panic(fmt.Sprintf("request/storedoc: decode what was just encoded: %v", err))
	}
	return out
}
