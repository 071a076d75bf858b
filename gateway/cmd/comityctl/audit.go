package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/grpcapi"
)

// maxBundleBytes bounds a bundle file read by verify.
const maxBundleBytes = 1 << 30

func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("comityctl audit export", flag.ContinueOnError)
	gateway := fs.String("gateway", "http://127.0.0.1:8080", "URL of comity-gateway")
	token := fs.String("token", "", "an auditor's bearer token (or COMITY_TOKEN)")
	filter := fs.String("filter", "", `AIP-160 filter, e.g. resource = "requests/…"`)
	out := fs.String("out", "", "file to write the bundle to (required)")
	since := fs.String("since", "", "an earlier bundle or checkpoint file: the bundle then proves the log only grew since")
	caFile := fs.String("ca", "", "PEM file of the CA that signed an https --gateway's certificate, when the system does not trust it (e.g. var/certs/ca.pem)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	client := http.DefaultClient
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: --ca %s holds no PEM certificate", errUsage, *caFile)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	}
	if *out == "" || *token == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --out and --token are required", errUsage)
	}
	q := url.Values{}
	if *filter != "" {
		q.Set("filter", *filter)
	}
	if *since != "" {
		old, err := readCheckpointFile(*since)
		if err != nil {
			return err
		}
		size, err := noteSize(old)
		if err != nil {
			return fmt.Errorf("%s: %w", *since, err)
		}
		q.Set("consistencyFrom", strconv.FormatUint(size, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(*gateway, "/")+"/v1/audit/entries:export?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("export: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var b auditv1.Bundle
	if err := protojson.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("export: the answer is not a bundle: %w", err)
	}
	data, err := protojson.MarshalOptions{Multiline: true}.Marshal(&b)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(data, '\n'), 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "exported %d entries under checkpoint %d of %s to %s\n",
		len(b.GetEntries()), b.GetCheckpoint().GetSize(), b.GetCheckpoint().GetOrigin(), *out)
	return err
}

func auditVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("comityctl audit verify", flag.ContinueOnError)
	key := fs.String("public-key", "", "the log's published public key, or a file holding it (e.g. var/audit/public.key); without it the key inside the bundle is used")
	since := fs.String("since", "", "an earlier bundle or checkpoint file; the bundle must prove the log only grew since")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want exactly one bundle FILE", errUsage)
	}
	b, err := readBundle(fs.Arg(0))
	if err != nil {
		return err
	}
	pub := strings.TrimSpace(*key)
	if data, err := os.ReadFile(pub); err == nil {
		pub = strings.TrimSpace(string(data))
	}
	if pub == "" {
		fmt.Fprintln(stderr, "comityctl: warning: no --public-key given; trusting the key inside the bundle")
		pub = b.GetPublicKey()
	}
	var old []byte
	if *since != "" {
		if old, err = readCheckpointFile(*since); err != nil {
			return err
		}
	}
	n, err := verifyBundle(b, pub, old)
	if err != nil {
		return fmt.Errorf("%s: NOT VERIFIED: %w", fs.Arg(0), err)
	}
	_, err = fmt.Fprintf(stdout, "verified: %d entries included in checkpoint %d of %s\n", n, b.GetCheckpoint().GetSize(), b.GetCheckpoint().GetOrigin())
	return err
}

// verifyBundle checks everything in b against publicKey and returns the
// number of entries: the checkpoint's signature, that its fields match the
// signed note, every entry's inclusion proof, that each event is exactly the
// one its logged leaf holds, and, given an earlier checkpoint note, that the
// bundle proves the log only grew since.
func verifyBundle(b *auditv1.Bundle, publicKey string, since []byte) (int, error) {
	if b.GetPublicKey() != publicKey {
		return 0, errors.New("the bundle is signed for another key than the one given")
	}
	cp, err := bundle.VerifyCheckpoint([]byte(b.GetCheckpoint().GetNote()), publicKey)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.Size != b.GetCheckpoint().GetSize() || !bytes.Equal(cp.RootHash, b.GetCheckpoint().GetRootHash()) || cp.Origin != b.GetCheckpoint().GetOrigin() {
		return 0, errors.New("checkpoint: its fields differ from the signed note")
	}
	for i, pe := range b.GetEntries() {
		e := pe.GetEntry()
		if err := bundle.VerifyInclusion(e.GetLeaf(), e.GetIndex(), pe.GetInclusionProof(), cp); err != nil {
			return 0, fmt.Errorf("entry %d (index %d): %w", i, e.GetIndex(), err)
		}
		logged, err := audit.ParseLeaf(e.GetLeaf())
		if err != nil {
			return 0, fmt.Errorf("entry %d (index %d): %w", i, e.GetIndex(), err)
		}
		if !proto.Equal(grpcapi.EventToProto(logged), e.GetEvent()) {
			return 0, fmt.Errorf("entry %d (index %d): the event differs from the logged leaf", i, e.GetIndex())
		}
	}
	if since != nil {
		old, err := bundle.VerifyCheckpoint(since, publicKey)
		if err != nil {
			return 0, fmt.Errorf("earlier checkpoint: %w", err)
		}
		switch {
		case old.Size > cp.Size:
			return 0, fmt.Errorf("the earlier checkpoint (%d entries) is larger than the bundle's (%d)", old.Size, cp.Size)
		case old.Size == cp.Size:
			if !bytes.Equal(old.RootHash, cp.RootHash) {
				return 0, errors.New("the earlier checkpoint has the same size but another root: the log was rewritten")
			}
		case b.GetConsistencyFrom() != old.Size:
			return 0, fmt.Errorf("the bundle has no consistency proof from %d entries (export it with --since)", old.Size)
		default:
			if err := bundle.VerifyConsistency(old, cp, b.GetConsistencyProof()); err != nil {
				return 0, fmt.Errorf("the earlier checkpoint is not a prefix of the bundle's: %w", err)
			}
		}
	}
	return len(b.GetEntries()), nil
}

func readBundle(path string) (*auditv1.Bundle, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	var b auditv1.Bundle
	if err := protojson.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: not a bundle: %w", path, err)
	}
	return &b, nil
}

// readCheckpointFile returns the checkpoint note of a bundle file or of a
// file holding just a checkpoint note.
func readCheckpointFile(path string) ([]byte, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	var b auditv1.Bundle
	if err := protojson.Unmarshal(data, &b); err == nil && b.GetCheckpoint().GetNote() != "" {
		return []byte(b.GetCheckpoint().GetNote()), nil
	}
	return data, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBundleBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBundleBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxBundleBytes)
	}
	return data, nil
}

// noteSize reads the tree size of a checkpoint note without verifying it
// (the service is told which size to prove from; verify checks signatures).
func noteSize(note []byte) (uint64, error) {
	lines := strings.SplitN(string(note), "\n", 3)
	if len(lines) < 3 {
		return 0, errors.New("not a checkpoint note")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, errors.New("not a checkpoint note")
	}
	return size, nil
}
