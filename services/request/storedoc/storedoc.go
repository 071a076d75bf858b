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
	// r is a copy, but its pointers and slices are the caller's: normalize
	// copies those it changes.
	normalize(reflect.ValueOf(&r).Elem(), StoredTime, false, true)
	return Encode(r)
}

// DecodeRequest returns nil for every empty list: callers see one
// representation of "none", whichever backend and whatever was written.
func DecodeRequest(s string) (request.Request, error) {
	var r request.Request
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return request.Request{}, err
	}
	normalize(reflect.ValueOf(&r).Elem(), ReadTime, true, false)
	return r, nil
}

var timeType = reflect.TypeFor[time.Time]()

// normalize passes every time in v, a settable domain value, through conv
// and, when emptyNil, makes every empty list nil. With copyShared it first
// copies each pointer and each list of structs it goes into, so that what
// v shares with another value is left unchanged.
func normalize(v reflect.Value, conv func(time.Time) time.Time, emptyNil, copyShared bool) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Addr().Interface().(*time.Time)
			*t = conv(*t)
			return
		}
		for i := range v.NumField() {
			normalize(v.Field(i), conv, emptyNil, copyShared)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if copyShared {
			c := reflect.New(v.Type().Elem())
			c.Elem().Set(v.Elem())
			v.Set(c)
		}
		normalize(v.Elem(), conv, emptyNil, copyShared)
	case reflect.Slice:
		switch {
		case v.Len() == 0 && emptyNil:
			v.SetZero()
		case v.Type().Elem().Kind() != reflect.Struct:
			// A list of names holds no time.
		default:
			if copyShared {
				c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
				reflect.Copy(c, v)
				v.Set(c)
			}
			for i := range v.Len() {
				normalize(v.Index(i), conv, emptyNil, copyShared)
			}
		}
	}
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
