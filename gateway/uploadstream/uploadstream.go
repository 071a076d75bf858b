// Package uploadstream sends a file to the request service's
// UploadAttachment stream: the metadata first, then the content in chunks,
// as the REST upload and the console's upload both do, so that a file
// passes through the gateway without ever being held whole.
package uploadstream

import (
	"errors"
	"io"

	"google.golang.org/grpc"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// ChunkSize is how much of a file travels in one gRPC message: large
// enough that the per-message cost is small, far below gRPC's 4 MiB
// message limit.
const ChunkSize = 256 << 10

// ReadError is a failure to read the file being sent (the browser or the
// client stopped sending, or the body went over its limit), as opposed to
// the service's refusal. The stream is left open: cancelling the call's
// context ends it, so that the service sees a cancelled upload rather than
// a short file.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "reading the upload: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// Stream is the client side of UploadAttachment.
type Stream = grpc.ClientStreamingClient[requestv1.UploadAttachmentRequest, requestv1.UploadAttachmentResponse]

// Send streams meta, then body in chunks of ChunkSize, and returns the
// service's answer. When the service ends the stream early (a refusal),
// its status is what Send returns; a failure to read body is a *ReadError.
func Send(stream Stream, meta *requestv1.AttachmentUpload, body io.Reader) (*requestv1.UploadAttachmentResponse, error) {
	send := func(m *requestv1.UploadAttachmentRequest) error {
		err := stream.Send(m)
		if errors.Is(err, io.EOF) {
			// The service ended the stream: its status says why.
			_, err = stream.CloseAndRecv()
		}
		return err
	}
	if err := send(&requestv1.UploadAttachmentRequest{Part: &requestv1.UploadAttachmentRequest_Metadata{Metadata: meta}}); err != nil {
		return nil, err
	}
	buf := make([]byte, ChunkSize)
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			// Send marshals the message before it returns: buf is free
			// again for the next chunk.
			if err := send(&requestv1.UploadAttachmentRequest{Part: &requestv1.UploadAttachmentRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				return nil, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, &ReadError{Err: rerr}
		}
	}
	return stream.CloseAndRecv()
}
