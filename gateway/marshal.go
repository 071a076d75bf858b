package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
)

// jsonMarshaler is grpc-gateway's JSON marshaler, with decoding errors that
// say they are about the request body (the decoder's own message, "unexpected
// EOF", does not tell a user what is wrong), and two shortcuts that give the
// same results at less cost:
//
//   - A body is decoded with protojson straight into the message it is for.
//     grpc-gateway first has encoding/json copy the body's JSON value out of
//     the stream, and for a `body: "field"` mapping it goes through its
//     generic decodeNonProtoField path, allocating twice what protojson
//     does. A body the shortcut does not take whole (no body, bad JSON, an
//     unknown field, more than one JSON value) is decoded again the
//     grpc-gateway way, so that its answer, error text included, is exactly
//     grpc-gateway's.
//   - A message is encoded into a reused buffer and copied out once, instead
//     of in a buffer grown from nothing and then copied into another.
type jsonMarshaler struct{ *runtime.JSONPb }

// Marshal encodes v as JSONPb.Marshal does.
func (m jsonMarshaler) Marshal(v any) ([]byte, error) {
	p, ok := v.(proto.Message)
	if !ok {
		return m.JSONPb.Marshal(v)
	}
	bp := encodeBufs.Get().(*[]byte)
	b, err := m.MarshalOptions.MarshalAppend((*bp)[:0], p)
	var out []byte
	if err == nil {
		out = make([]byte, len(b))
		copy(out, b)
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		encodeBufs.Put(bp)
	}
	return out, err
}

// bodyDecodeError begins the decoder's errors, by which the error handler
// knows them (grpc-gateway keeps only their text).
const bodyDecodeError = "request body is not valid JSON for this call"

// NewDecoder returns a decoder of the request body r.
func (m jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	var rest runtime.Decoder // decodes what follows the first value
	return runtime.DecoderFunc(func(v any) error {
		var err error
		if rest == nil {
			rest, err = m.decodeFirst(r, v)
		} else {
			err = rest.Decode(v)
		}
		if err == nil || errors.Is(err, io.EOF) {
			// io.EOF is an empty body, which the generated handlers accept.
			return err
		}
		return fmt.Errorf("%s: %w", bodyDecodeError, err)
	})
}

// decodeFirst decodes the first JSON value of r into v and returns a
// decoder of the rest of r.
func (m jsonMarshaler) decodeFirst(r io.Reader, v any) (runtime.Decoder, error) {
	msg := bodyMessage(v)
	if msg == nil {
		d := m.JSONPb.NewDecoder(r)
		return d, d.Decode(v)
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	// The gateway's bodies are in memory already (limitBody), so this
	// reads the whole body, bounded, in one copy.
	_, rerr := io.Copy(buf, r)
	// grpc-gateway's decoder takes the body's first JSON value as
	// encoding/json reads it, then protojson decodes that. A body that is
	// one JSON value, valid for encoding/json, is that value, and the result
	// is what protojson makes of the body. (protojson alone is not enough:
	// it takes some numbers that encoding/json refuses, such as 0e.)
	if rerr == nil && m.UnmarshalOptions.Unmarshal(buf.Bytes(), msg) == nil && json.Valid(buf.Bytes()) {
		if buf.Cap() <= maxPooledBuf {
			bodyBufs.Put(buf)
		}
		return m.JSONPb.NewDecoder(bytes.NewReader(nil)), nil
	}
	// Otherwise the body is decoded again, as it was read (read error
	// included), into a message emptied of what the failed attempt
	// decoded. buf stays with that decoder.
	proto.Reset(msg)
	var body io.Reader = bytes.NewReader(buf.Bytes())
	if rerr != nil {
		body = io.MultiReader(body, errReader{rerr})
	}
	d := m.JSONPb.NewDecoder(body)
	if err := d.Decode(v); err != nil {
		return d, err
	}
	// grpc-gateway's decoder would leave what follows the value unread:
	// `{…} junk` is not a body to act on.
	if rerr == nil && !json.Valid(buf.Bytes()) {
		return d, errors.New("something follows the JSON value")
	}
	return d, nil
}

// bodyMessage returns the message a generated handler decodes a body into:
// v itself (`body: "*"`), or the message v points to (`body: "field"`),
// allocated as grpc-gateway would. It returns nil for any other v (a scalar,
// list or map field), which is left to grpc-gateway's decoder.
func bodyMessage(v any) proto.Message {
	if p, ok := v.(proto.Message); ok {
		return p
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil
	}
	field := rv.Elem()
	if field.Kind() != reflect.Pointer || !field.Type().Implements(messageType) {
		return nil
	}
	if field.IsNil() {
		field.Set(reflect.New(field.Type().Elem()))
	}
	return field.Interface().(proto.Message)
}

var messageType = reflect.TypeFor[proto.Message]()

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// maxPooledBuf bounds the buffers kept for reuse: a rare large body or
// answer should not stay in memory.
const maxPooledBuf = 64 << 10

var (
	encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
	bodyBufs   = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4<<10)) }}
)
