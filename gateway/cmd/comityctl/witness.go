package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/audit/bundle"
)

// This file holds the commands of DESIGN §6.1 that concern the states'
// witnesses: setting a state's witness in the directory (states update
// --witness-url/--witness-key/--clear-witness, for a directory_admin of its
// oversight agency) and deriving the witness policy an auditor keeps
// (audit policy).

// witnessFlags are the flags of states update that set or clear the state's
// witness.
type witnessFlags struct {
	url, key string
	clear    bool
}

func (w *witnessFlags) register(f *pflag.FlagSet) {
	f.StringVar(&w.url, "witness-url", "", "the base URL of the state's witness (https; http only on a loopback host); with --witness-key")
	f.StringVar(&w.key, "witness-key", "", "the witness's cosignature/v1 public key, or a file holding it (comity-witness's witness.pub); with --witness-url")
	f.BoolVar(&w.clear, "clear-witness", false, "remove the state's witness")
}

// given says whether the command changes the witness.
func (w *witnessFlags) given(f *pflag.FlagSet) bool {
	return f.Changed("witness-url") || f.Changed("witness-key") || f.Changed("clear-witness")
}

// apply puts the witness the flags give in patch (none for
// --clear-witness), or says which flag is missing.
func (w *witnessFlags) apply(f *pflag.FlagSet, patch *directoryv1.State) error {
	setting := f.Changed("witness-url") || f.Changed("witness-key")
	switch {
	case w.clear && setting:
		return fmt.Errorf("%w: --clear-witness removes the witness: give it without --witness-url and --witness-key", errUsage)
	case w.clear:
		return nil
	case !f.Changed("witness-url") || !f.Changed("witness-key"):
		return fmt.Errorf("%w: give both --witness-url and --witness-key (a witness is reached at its URL and checked with its key)", errUsage)
	}
	patch.Witness = &directoryv1.StateWitness{Url: strings.TrimSpace(w.url), PublicKey: valueOrFile(w.key)}
	return nil
}

func newAuditPolicyCmd(g *globals) *cobra.Command {
	var out, publicKey string
	c := &cobra.Command{
		Use:   "policy [--out FILE]",
		Short: "Derive the witness policy from the states' witnesses in the directory, for you to keep",
		Long: `Read every state's witness (URL and key) from the directory and the audit log's public key, and
write the witness policy (C2SP policy text, DESIGN §6.1): a checkpoint is witnessed when more than
half of the states' witnesses cosigned it. Keep the file and verify bundles with it
('comityctl audit verify --policy FILE'), rather than with a policy the operator hands you when you
verify. States that record no witness are listed; they are not part of the policy.
Without --public-key the log's key is the one the gateway names: compare it once with the one the
operator publishes (var/audit/public.key for comity-local).`,
		Example: `  comityctl audit policy --out witness-policy
  comityctl audit policy --public-key audit.key --out witness-policy`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			var states directoryv1.ListStatesResponse
			if err := cl.call(ctx, http.MethodGet, "/v1/states", nil, &states); err != nil {
				return err
			}
			var cp auditv1.GetCheckpointResponse
			if err := cl.call(ctx, http.MethodGet, "/v1/audit/checkpoint", nil, &cp); err != nil {
				return err
			}
			logKey := cp.GetPublicKey()
			if pub := valueOrFile(publicKey); pub != "" {
				if pub != logKey {
					return fmt.Errorf("the gateway names the log's key %s, not the one you gave (%s): do not use this policy; ask the operator", logKey, pub)
				}
			}
			var ws []bundle.PolicyWitness
			var missing []string
			for _, st := range states.GetStates() {
				if w := st.GetWitness(); w.GetUrl() != "" || w.GetPublicKey() != "" {
					ws = append(ws, bundle.PolicyWitness{Name: st.GetCode(), PublicKey: w.GetPublicKey(), URL: w.GetUrl()})
				} else {
					missing = append(missing, st.GetCode())
				}
			}
			noWitness := ""
			if len(missing) > 0 {
				noWitness = fmt.Sprintf("states with no witness in the directory (not in the policy): %s\n", strings.Join(missing, ", "))
			}
			policy, err := bundle.WitnessPolicy(logKey, ws)
			if err != nil {
				fmt.Fprint(g.stderr, noWitness)
				return fmt.Errorf("no witness policy: %w", err)
			}
			if len(missing) > 0 {
				// The quorum is a majority of the witnesses recorded, not
				// of the states: with some missing, fewer witnesses than
				// a majority of the states can make a checkpoint
				// witnessed.
				fmt.Fprintf(g.stderr, "warning: only %d of the %d states record a witness: the quorum, %d of %d, is a majority of those only, "+
					"not of the states; once %s record theirs, derive the policy again\n",
					len(ws), len(ws)+len(missing), len(ws)/2+1, len(ws), strings.Join(missing, ", "))
			}
			if published := cp.GetWitnessPolicy(); published != "" && !samePolicy(published, string(policy)) {
				fmt.Fprintf(g.stderr, "warning: the policy the audit log publishes differs from the one the directory's witnesses give; "+
					"tell the states' oversight bodies\n")
			}
			if out == "" {
				if _, err := g.stdout.Write(policy); err != nil {
					return err
				}
				_, err := fmt.Fprint(g.stderr, noWitness)
				return err
			}
			if err := writeFileAtomic(out, policy, 0o644); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "wrote the witness policy of %d witnesses (a quorum of %d) to %s\n%s", len(ws), len(ws)/2+1, out, noWitness)
			return err
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the policy to FILE (default: standard output)")
	c.Flags().StringVar(&publicKey, "public-key", "", "the log's public key you keep, or a file holding it: refuse if the gateway names another")
	return c
}

// samePolicy says whether two policy texts say the same, comments and
// blank lines aside.
func samePolicy(a, b string) bool {
	lines := func(s string) []byte {
		var out bytes.Buffer
		for _, l := range strings.Split(s, "\n") {
			if i := strings.Index(l, "#"); i >= 0 {
				l = l[:i]
			}
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				out.WriteString(l + "\n")
			}
		}
		return out.Bytes()
	}
	return bytes.Equal(lines(a), lines(b))
}

// valueOrFile returns s trimmed, or, when s names a file, that file's
// content trimmed: a key is given as itself or as the file holding it.
func valueOrFile(s string) string {
	s = strings.TrimSpace(s)
	if data, err := os.ReadFile(s); s != "" && err == nil {
		return strings.TrimSpace(string(data))
	}
	return s
}

// writeFileAtomic writes data to path with mode perm: a temporary file in
// the same directory renamed over it, so that a crash leaves the old file
// or the new one, never half of either.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
