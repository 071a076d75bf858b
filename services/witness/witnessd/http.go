package witnessd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/witness/witness"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"
)

// MaxBodyBytes bounds the body of POST /add-checkpoint, as the witness
// library's own handler does: a checkpoint and a proof of at most 63
// hashes are far smaller.
const MaxBodyBytes = 16 << 10

// maxProofLines is C2SP tlog-witness's bound on the proof's lines.
const maxProofLines = 63

// contentTypeSize is the Content-Type of a 409 carrying the witness's size
// (C2SP tlog-witness); Tessera matches it exactly, without parameters.
const contentTypeSize = "text/x.tlog.size"

// handler routes the witness's endpoints.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", s.addCheckpoint)
	mux.HandleFunc("GET /checkpoint", s.checkpoint)
	mux.HandleFunc("GET /public-key", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, s.vkey+"\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// A fault is why a checkpoint is refused: the HTTP status C2SP
// tlog-witness gives it, the reason counted in comity_witness_refused_total,
// and the words of the response body.
type fault struct {
	status int
	reason string
	msg    string
	// fork marks the refusals that mean the log showed the witness a
	// history other than the one it cosigned: logged at ERROR.
	fork bool
	// size, for a stale old size, is the size the witness cosigned last,
	// the body of its 409 (text/x.tlog.size).
	size *uint64
}

func refuse(status int, reason, format string, args ...any) *fault {
	return &fault{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// request is a parsed POST /add-checkpoint body.
type request struct {
	oldSize uint64
	proof   [][]byte
	raw     []byte // the signed checkpoint
	cp      *log.Checkpoint
}

// addCheckpoint is C2SP tlog-witness's add-checkpoint. It checks what the
// library leaves to its HTTP handler or answers without words (the body's
// form, the log's signature, a size-0 checkpoint's root, the old size of a
// log never cosigned), lets the library decide consistency and cosign, and
// answers every refusal with its status and a sentence.
func (s *server) addCheckpoint(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.refuse(w, nil, refuse(http.StatusRequestEntityTooLarge, "too_large", "the request body is over %d bytes", MaxBodyBytes))
			return
		}
		s.refuse(w, nil, refuse(http.StatusBadRequest, "malformed", "could not read the request body: %v", err))
		return
	}
	req, f := s.parse(body)
	if f == nil {
		f = s.precheck(r.Context(), req)
	}
	if f != nil {
		s.refuse(w, req, f)
		return
	}
	sigs, size, err := s.w.Update(r.Context(), req.oldSize, req.raw, req.proof)
	if err != nil {
		f := s.classify(req, size, err)
		if f == nil {
			s.log.Error("add-checkpoint failed", zap.String("origin", req.cp.Origin), zap.Uint64("size", req.cp.Size), zap.Error(err))
			status := http.StatusInternalServerError
			if r.Context().Err() != nil {
				status = http.StatusServiceUnavailable
			}
			text(w, status, "the witness could not record the checkpoint; try again (its log says why)\n")
			return
		}
		s.refuse(w, req, f)
		return
	}
	s.log.Info("cosigned", zap.String("origin", req.cp.Origin), zap.Uint64("size", req.cp.Size), zap.Uint64("old_size", req.oldSize))
	text(w, http.StatusOK, string(sigs))
}

// parse reads an add-checkpoint body: "old N", the proof's lines (base64
// hashes), an empty line, and the checkpoint signed by its log.
func (s *server) parse(body []byte) (*request, *fault) {
	b := bufio.NewReader(bytes.NewReader(body))
	line := func() (string, bool) {
		l, err := b.ReadString('\n')
		return strings.TrimSuffix(l, "\n"), err == nil
	}
	first, ok := line()
	num, found := strings.CutPrefix(first, "old ")
	if !ok || !found {
		return nil, refuse(http.StatusBadRequest, "malformed", `the body must start with the line "old N" (N the size the witness cosigned last, 0 if none), then the proof's lines, an empty line and the checkpoint`)
	}
	req := &request{}
	var err error
	if req.oldSize, err = strconv.ParseUint(num, 10, 64); err != nil || (len(num) > 1 && num[0] == '0') {
		return nil, refuse(http.StatusBadRequest, "malformed", "the old size %q is not a whole number in decimal", truncate(num))
	}
	for {
		l, ok := line()
		if !ok {
			return nil, refuse(http.StatusBadRequest, "malformed", "the body has no empty line between the proof and the checkpoint")
		}
		if l == "" {
			break
		}
		if len(req.proof) == maxProofLines {
			return nil, refuse(http.StatusBadRequest, "malformed", "the proof has more than %d lines", maxProofLines)
		}
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != rfc6962.DefaultHasher.Size() {
			return nil, refuse(http.StatusBadRequest, "malformed", "proof line %d is not a base64 SHA-256 hash", len(req.proof)+1)
		}
		req.proof = append(req.proof, h)
	}
	req.raw, _ = io.ReadAll(b)
	cp, f := s.open(req.raw)
	if f != nil {
		return nil, f
	}
	req.cp = cp
	return req, nil
}

// open verifies a checkpoint's log signature and parses it. The library
// does both again, but tells neither a malformed note from a bad signature
// nor says what is wrong.
func (s *server) open(raw []byte) (*log.Checkpoint, *fault) {
	origin, _, found := bytes.Cut(raw, []byte("\n"))
	if !found || len(origin) == 0 {
		return nil, refuse(http.StatusBadRequest, "malformed", "the checkpoint is missing: after the empty line comes a checkpoint, its first line the log's origin")
	}
	v, ok := s.logs[string(origin)]
	if !ok {
		return nil, refuse(http.StatusNotFound, "unknown_origin", "this witness does not witness the log %q; it witnesses %s", truncate(string(origin)), strings.Join(quoteAll(s.origins), ", "))
	}
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, refuse(http.StatusForbidden, "bad_signature", "the checkpoint has no signature of the log's key %s", v.Name())
		case errors.As(err, &invalid):
			return nil, refuse(http.StatusForbidden, "bad_signature", "the checkpoint's signature by the log's key %s does not verify", v.Name())
		}
		return nil, refuse(http.StatusBadRequest, "malformed", "the checkpoint is not a signed note (its text, an empty line, then signature lines): %v", err)
	}
	cp := &log.Checkpoint{}
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed", "the checkpoint's text is not origin, size and root hash lines: %v", err)
	}
	if len(cp.Hash) != rfc6962.DefaultHasher.Size() {
		return nil, refuse(http.StatusBadRequest, "malformed", "the checkpoint's root hash is %d bytes, not a SHA-256 hash", len(cp.Hash))
	}
	if cp.Size > math.MaxInt64 {
		return nil, refuse(http.StatusBadRequest, "malformed", "the checkpoint's size %d is beyond what any log can reach", cp.Size)
	}
	return cp, nil
}

// precheck refuses, before the library, what it would cosign or answer
// wrongly: a size-0 checkpoint whose root is not the empty tree's (the
// library's error is the one of a fork), and, for a log the witness never
// cosigned, an old size other than 0 or a proof from size 0 (the library
// takes the first checkpoint whatever they say). Stored state only ever
// appears, never goes, so a check against its absence holds.
func (s *server) precheck(ctx context.Context, req *request) *fault {
	if req.cp.Size == 0 && !bytes.Equal(req.cp.Hash, rfc6962.DefaultHasher.EmptyRoot()) {
		return refuse(http.StatusUnprocessableEntity, "bad_empty_root", "a checkpoint of size 0 must have the root hash of the empty tree")
	}
	prev, err := s.store.Latest(ctx, req.cp.Origin)
	if err != nil || prev != nil {
		return nil // the library reads it again (and reports the error)
	}
	switch {
	case req.oldSize > req.cp.Size:
		return refuse(http.StatusBadRequest, "bad_old_size", "the old size %d is larger than the checkpoint's size %d", req.oldSize, req.cp.Size)
	case req.oldSize != 0:
		zero := uint64(0)
		return &fault{status: http.StatusConflict, reason: "stale_old_size", size: &zero,
			msg: fmt.Sprintf("the witness has cosigned no checkpoint of %q: the old size is 0, not %d", req.cp.Origin, req.oldSize)}
	case len(req.proof) > 0:
		return refuse(http.StatusUnprocessableEntity, "invalid_proof", "the proof must be empty when the old size is 0")
	}
	return nil
}

// classify turns an error of witness.Update into its refusal; nil for an
// error that is the witness's own (its database), not the checkpoint's.
// size is what Update returned with it: the size cosigned last.
func (s *server) classify(req *request, size uint64, err error) *fault {
	switch {
	case errors.Is(err, witness.ErrCheckpointStale):
		return &fault{status: http.StatusConflict, reason: "stale_old_size", size: &size,
			msg: fmt.Sprintf("the witness cosigned size %d last, not %d", size, req.oldSize)}
	case errors.Is(err, witness.ErrOldSizeInvalid) && req.cp.Size < size:
		// An old checkpoint shown again, or the log went back: either way
		// never cosigned, and worth an operator's look.
		f := refuse(http.StatusBadRequest, "smaller_than_cosigned", "the checkpoint's size %d is smaller than the size %d the witness cosigned", req.cp.Size, size)
		f.fork = true
		return f
	case errors.Is(err, witness.ErrOldSizeInvalid):
		return refuse(http.StatusBadRequest, "bad_old_size", "the old size %d is larger than the checkpoint's size %d", req.oldSize, req.cp.Size)
	case errors.Is(err, witness.ErrRootMismatch):
		f := refuse(http.StatusConflict, "root_mismatch", "the witness cosigned another root hash for size %d: this checkpoint is not consistent with it", req.cp.Size)
		f.fork = true
		return f
	case errors.Is(err, witness.ErrInvalidProof) && req.oldSize == 0:
		return refuse(http.StatusUnprocessableEntity, "invalid_proof", "the proof must be empty when the old size is 0")
	case errors.Is(err, witness.ErrInvalidProof):
		f := refuse(http.StatusUnprocessableEntity, "invalid_proof", "the proof does not show size %d consistent with the size %d the witness cosigned", req.cp.Size, req.oldSize)
		f.fork = true
		return f
	case errors.Is(err, witness.ErrUnknownLog):
		return refuse(http.StatusNotFound, "unknown_origin", "this witness does not witness the log %q", truncate(req.cp.Origin))
	case errors.Is(err, witness.ErrNoValidSignature):
		return refuse(http.StatusForbidden, "bad_signature", "the checkpoint has no valid signature of the log's key")
	case errors.Is(err, witness.ErrPushback):
		return refuse(http.StatusTooManyRequests, "pushback", "the witness is busy; try again shortly")
	}
	return nil
}

// refuse answers a refused checkpoint, logs it (a fork at ERROR) and counts
// it. req is nil when the body did not parse.
func (s *server) refuse(w http.ResponseWriter, req *request, f *fault) {
	s.refused.WithLabelValues(f.reason).Inc()
	fields := []zap.Field{zap.String("reason", f.reason), zap.Int("status", f.status), zap.String("why", f.msg)}
	if req != nil {
		fields = append(fields, zap.String("origin", req.cp.Origin), zap.Uint64("size", req.cp.Size), zap.Uint64("old_size", req.oldSize))
	}
	if f.fork {
		s.log.Error("checkpoint refused: it is not consistent with what the witness cosigned (a fork of the log)", fields...)
	} else {
		s.log.Warn("checkpoint refused", fields...)
	}
	if f.size != nil {
		w.Header().Set("Content-Type", contentTypeSize)
		w.WriteHeader(f.status)
		fmt.Fprintf(w, "%d\n", *f.size)
		return
	}
	text(w, f.status, f.msg+"\n")
}

// checkpoint answers GET /checkpoint?origin=O: the latest checkpoint the
// witness cosigned of O, as stored (the log's signed note with the
// witness's cosignature). origin may be left out when the witness
// witnesses one log.
func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	origin := r.URL.Query().Get("origin")
	if origin == "" {
		if len(s.origins) != 1 {
			text(w, http.StatusBadRequest, fmt.Sprintf("give the log's origin, ?origin=…: this witness witnesses %s\n", strings.Join(quoteAll(s.origins), ", ")))
			return
		}
		origin = s.origins[0]
	}
	if _, ok := s.logs[origin]; !ok {
		text(w, http.StatusNotFound, fmt.Sprintf("this witness does not witness the log %q; it witnesses %s\n", truncate(origin), strings.Join(quoteAll(s.origins), ", ")))
		return
	}
	cp, err := s.store.Latest(r.Context(), origin)
	switch {
	case err != nil:
		s.log.Error("reading the latest checkpoint", zap.String("origin", origin), zap.Error(err))
		text(w, http.StatusInternalServerError, "the witness could not read its state; try again (its log says why)\n")
	case cp == nil:
		text(w, http.StatusNotFound, fmt.Sprintf("the witness has cosigned no checkpoint of %q yet\n", origin))
	default:
		w.Header().Set("Cache-Control", "no-store")
		text(w, http.StatusOK, string(cp))
	}
}

// readyz answers 200 when the witness's database answers, 503 otherwise.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "database": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// truncate shortens what a client sent for a message or a log line.
func truncate(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
