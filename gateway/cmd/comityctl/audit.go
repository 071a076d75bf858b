package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	"github.com/comity-mla/comity/services/audit"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/grpcapi"
)

// maxBundleBytes bounds a bundle file read by verify.
const maxBundleBytes = 1 << 30

func newAuditCmd(g *globals) *cobra.Command {
	c := group("audit", "The audit trail: entries with proofs, bundles checked offline, the services' outboxes",
		`  comityctl audit list --filter 'resource:"requests/…"'
  comityctl audit export --filter 'resource = "requests/…"' --out case.bundle
  comityctl audit verify --public-key var/audit/public.key case.bundle`,
		newAuditListCmd(g), newAuditGetCmd(g), newAuditCheckpointCmd(g), newAuditExportCmd(g), newAuditVerifyCmd(g), newAuditSafeguardsCmd(g),
		newAuditPolicyCmd(g),
		newAuditOutboxCmd(g))
	return c
}

var auditColumns = []column{
	{header: "INDEX", path: "index"}, {header: "TIME", path: "event.time"}, {header: "ACTOR", path: "event.actor.subject"},
	{header: "AGENCY", path: "event.actor.agency"}, {header: "ACTION", path: "event.action", width: 60},
	{header: "RESOURCE", path: "event.resource", width: 70}, {header: "OUTCOME", path: "event.outcome"},
}

func newAuditListCmd(g *globals) *cobra.Command {
	var l listFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the audit entries you may see (an auditor)",
		Long: `List the audit entries that involve your state, in log order (--order-by 'index desc' for the
newest first). Filter on the event's fields, e.g. resource, action, outcome, time.`,
		Example: "  comityctl audit list --filter 'resource = \"requests/…\"'\n  comityctl audit list --order-by 'index desc' --page-size 20",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := l.list(c.Context(), cl, "/v1/audit/entries", "entries")
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "entries", columns: auditColumns})
		},
	}
	l.register(c, true, true)
	return c
}

func newAuditGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get INDEX",
		Short:   "Show an audit entry with its inclusion proof",
		Example: "  comityctl audit get 42",
		Args:    args(1, "one INDEX"),
		RunE: func(c *cobra.Command, a []string) error {
			if _, err := strconv.ParseUint(a[0], 10, 64); err != nil {
				return fmt.Errorf("%w: %q is not an entry's index (a number, as 'comityctl audit list' shows)", errUsage, a[0])
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/audit/entries/"+a[0], nil)
			if err != nil {
				return err
			}
			return g.print(data, objectView{skip: []string{"inclusionProof"}})
		},
	}
}

func newAuditCheckpointCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Show the log's latest signed checkpoint and the public key it is signed with",
		Long: `Show the log's latest signed checkpoint and the public key the gateway says it is signed with.
To verify bundles, compare that key once with the one the operator publishes (for comity-local,
var/audit/public.key) and keep it: a key is worth only as much as where it comes from.`,
		Example: "  comityctl audit checkpoint\n  comityctl audit checkpoint -o json | jq -r .publicKey > audit.key",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/audit/checkpoint", nil)
			if err != nil {
				return err
			}
			return g.print(data, objectView{})
		},
	}
}

func newAuditExportCmd(g *globals) *cobra.Command {
	var filter, out, since string
	c := &cobra.Command{
		Use:   "export",
		Short: "Save the audit entries an auditor may see, with proofs, to a bundle file",
		Long: `Save the audit entries you may see (all, or those --filter selects) with their inclusion proofs
under one signed checkpoint, to a bundle file that 'comityctl audit verify' checks offline.
--since an earlier bundle or checkpoint file adds the proof that the log only grew since.`,
		Example: `  comityctl audit export --filter 'resource = "requests/…"' --out case.bundle
  comityctl audit export --since case.bundle --out later.bundle`,
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("%w: --out is required", errUsage)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			return auditExport(c.Context(), cl, filter, since, out, g.stdout)
		},
	}
	f := c.Flags()
	f.StringVar(&filter, "filter", "", `AIP-160 filter, e.g. resource = "requests/…"`)
	f.StringVar(&out, "out", "", "file to write the bundle to (required)")
	f.StringVar(&since, "since", "", "an earlier bundle or checkpoint file: the bundle then proves the log only grew since")
	return c
}

func auditExport(ctx context.Context, c *restClient, filter, since, out string, stdout io.Writer) error {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	if since != "" {
		old, err := readCheckpointFile(since)
		if err != nil {
			return err
		}
		size, err := noteSize(old)
		if err != nil {
			return fmt.Errorf("%s: %w", since, err)
		}
		q.Set("consistencyFrom", strconv.FormatUint(size, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := c.stream(ctx, http.MethodGet, "/v1/audit/entries:export?"+q.Encode(), nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxBundleBytes {
		return fmt.Errorf("export: the bundle is larger than %d bytes: narrow it with --filter", maxBundleBytes)
	}
	var b auditv1.Bundle
	if err := protojson.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("export: the answer is not a bundle: %w", err)
	}
	data, err := protojson.MarshalOptions{Multiline: true}.Marshal(&b)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(data, '\n'), 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "exported %d entries under checkpoint %d of %s to %s\n",
		len(b.GetEntries()), b.GetCheckpoint().GetSize(), b.GetCheckpoint().GetOrigin(), out)
	return err
}

// untrustedKeyHelp says why a bundle's own key proves nothing and where
// the trusted one comes from.
const untrustedKeyHelp = `a bundle carries the public key it was signed with, so whoever made the bundle chose that
key: checked against it alone, a forged bundle verifies too. Give the log's key from a source
you trust with --public-key KEY|FILE: the operator's published key (for comity-local, the file
audit/public.key in its data directory, e.g. var/audit/public.key), or the key
'comityctl audit checkpoint' shows, once compared with the published one. To check only that the
bundle is consistent with its own key, knowing that this proves nothing, add --insecure-bundle-key`

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var key, since, policy string
	var insecure bool
	c := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a bundle offline: signature, inclusion proofs, consistency",
		Long: `Check a bundle offline against the log's public key: the checkpoint's signature, every entry's
inclusion proof, that each event is exactly the logged one, and with --since that the log only
grew since an earlier bundle or checkpoint. --public-key is required: ` + untrustedKeyHelp + `.
With --policy, the checkpoint's witness cosignatures are checked against a witness policy file you
keep yourself (never the one inside the bundle): it must satisfy the policy's quorum.`,
		Example: `  comityctl audit verify --public-key var/audit/public.key --policy var/audit/witness-policy case.bundle
  comityctl audit verify --public-key var/audit/public.key case.bundle
  comityctl audit verify --public-key var/audit/public.key --since case.bundle later.bundle`,
		Args:        args(1, "exactly one bundle FILE"),
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, a []string) error {
			return auditVerify(a[0], key, since, policy, insecure, g.stdout, g.stderr)
		},
	}
	f := c.Flags()
	f.StringVar(&key, "public-key", "", "the log's published public key, or a file holding it (e.g. var/audit/public.key)")
	f.StringVar(&since, "since", "", "an earlier bundle or checkpoint file; the bundle must prove the log only grew since")
	f.StringVar(&policy, "policy", "", "a witness policy file you keep (e.g. a copy of var/audit/witness-policy); the checkpoint's cosignatures must satisfy it")
	f.BoolVar(&insecure, "insecure-bundle-key", false, "without --public-key, check the bundle against the key inside it: this proves nothing about the log")
	noEnv(c, "insecure-bundle-key")
	return c
}

func auditVerify(file, key, since, policyFile string, insecure bool, stdout, stderr io.Writer) error {
	_, err := verifiedBundle(file, key, since, policyFile, insecure, stdout)
	return err
}

// verifiedBundle is audit verify: it checks the bundle file against the
// key given (verifyBundle) and, given a policy file, the checkpoint's
// cosignatures against it, says so on stdout, and returns the bundle.
func verifiedBundle(file, key, since, policyFile string, insecure bool, stdout io.Writer) (*auditv1.Bundle, error) {
	pub := valueOrFile(key)
	if pub == "" && !insecure {
		return nil, fmt.Errorf("%w: --public-key is required: %s", errUsage, untrustedKeyHelp)
	}
	if pub != "" && insecure {
		return nil, fmt.Errorf("%w: --insecure-bundle-key goes without --public-key", errUsage)
	}
	b, err := readBundle(file)
	if err != nil {
		return nil, err
	}
	if pub == "" {
		pub = b.GetPublicKey()
	}
	var old []byte
	if since != "" {
		if old, err = readCheckpointFile(since); err != nil {
			return nil, err
		}
	}
	var policy []byte
	if policyFile != "" {
		if policy, err = readLimited(policyFile); err != nil {
			return nil, err
		}
	}
	n, err := verifyBundle(b, pub, old)
	if err != nil {
		return nil, fmt.Errorf("%s: NOT VERIFIED: %w", file, err)
	}
	witnessed := "witness cosignatures NOT checked (give --policy)"
	if policy != nil {
		rep, err := bundle.VerifyCosignatures([]byte(b.GetCheckpoint().GetNote()), policy)
		if err != nil {
			return nil, fmt.Errorf("%s: NOT VERIFIED: witnesses (policy %s): %w", file, policyFile, err)
		}
		witnessed = fmt.Sprintf("cosigned by %d of %d witnesses of %s (%s), satisfying %s",
			len(rep.Cosigned), rep.Witnesses, policyFile, strings.Join(rep.Cosigned, ", "), rep.Quorum)
	}
	if insecure {
		_, err = fmt.Fprintf(stdout, "consistent with its own key only: %d entries in checkpoint %d of %s. "+
			"This proves NOTHING about the log: anyone can make a bundle with a key of their own. Verify with --public-key.\n",
			n, b.GetCheckpoint().GetSize(), b.GetCheckpoint().GetOrigin())
		return b, err
	}
	_, err = fmt.Fprintf(stdout, "verified: %d entries included in checkpoint %d of %s; %s\n", n, b.GetCheckpoint().GetSize(), b.GetCheckpoint().GetOrigin(), witnessed)
	return b, err
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
