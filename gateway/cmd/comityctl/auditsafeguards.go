package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/comity-mla/comity/services/audit"
)

// safeguardsKeyHelp says why audit safeguards needs the log's key: unlike
// audit verify, it has no --insecure-bundle-key, since a report on a bundle
// checked against its own key would prove nothing.
const safeguardsKeyHelp = `the log's published public key, from a source you trust (for comity-local,
audit/public.key in its data directory, e.g. var/audit/public.key): a bundle's own key proves nothing`

func newAuditSafeguardsCmd(g *globals) *cobra.Command {
	var key, policy string
	c := &cobra.Command{
		Use:   "safeguards FILE",
		Short: "Check a bundle offline, then show each request's safeguard outcomes and any acceptance without them",
		Long: `Check a bundle offline exactly as 'comityctl audit verify' does, then show, for each request in it,
the outcomes its :submit, :transmit, :confirmInWriting, :accept and :refuse events record (which
checks ran and what they found, never the request's content), and the problems: a request accepted
without its three assessments (dual criminality, human-rights review, death-penalty assurance), or
after a transmission whose checks are missing or failed. A transmission the bundle does not hold
(its filter left it out) is noted, not a problem. Exits non-zero when the bundle does not verify or
a problem is found. --public-key is required: ` + safeguardsKeyHelp + `.`,
		Example:     `  comityctl audit safeguards --public-key var/audit/public.key --policy var/audit/witness-policy case.bundle`,
		Args:        args(1, "exactly one bundle FILE"),
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, a []string) error {
			return auditSafeguards(a[0], key, policy, g.stdout)
		},
	}
	c.Flags().StringVar(&key, "public-key", "", "the log's published public key, or a file holding it (e.g. var/audit/public.key)")
	c.Flags().StringVar(&policy, "policy", "", "a witness policy file you keep (e.g. a copy of var/audit/witness-policy); the checkpoint's cosignatures must satisfy it")
	return c
}

func auditSafeguards(file, key, policy string, stdout io.Writer) error {
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("%w: --public-key is required: %s", errUsage, safeguardsKeyHelp)
	}
	b, err := verifiedBundle(file, key, "", policy, false, stdout)
	if err != nil {
		return err
	}
	// verifiedBundle has checked that each entry's event is its leaf's.
	entries := make([]audit.Entry, 0, len(b.GetEntries()))
	for _, pe := range b.GetEntries() {
		ev, err := audit.ParseLeaf(pe.GetEntry().GetLeaf())
		if err != nil {
			return err
		}
		entries = append(entries, audit.Entry{Index: pe.GetEntry().GetIndex(), Event: ev, Leaf: pe.GetEntry().GetLeaf()})
	}
	report := audit.SafeguardReport(entries)
	if len(report) == 0 {
		_, err := fmt.Fprintln(stdout, "no :submit, :transmit, :confirmInWriting, :accept or :refuse events in this bundle")
		return err
	}
	var problems, notes int
	w := &errWriter{w: stdout}
	for _, r := range report {
		w.printf("\n%s\n", r.Resource)
		for _, e := range r.Entries {
			ev := e.Event
			var outcomes []string
			for _, g := range ev.Safeguards {
				outcomes = append(outcomes, g.Check+"="+g.Outcome)
			}
			if len(outcomes) == 0 {
				outcomes = []string{"(no outcomes recorded)"}
			}
			w.printf("  %-8d %s  %-16s %-19s %s\n", e.Index, ev.Time.UTC().Format(time.RFC3339), ev.Action[strings.LastIndexByte(ev.Action, '/')+1:],
				ev.Outcome, strings.Join(outcomes, " "))
		}
		for _, n := range r.Notes {
			w.printf("  note: %s\n", n)
		}
		for _, p := range r.Problems {
			w.printf("  PROBLEM: %s\n", p)
		}
		problems += len(r.Problems)
		notes += len(r.Notes)
	}
	if w.err != nil {
		return w.err
	}
	if problems > 0 {
		return fmt.Errorf("%s: %d problems with the safeguards of accepted requests (listed above)", file, problems)
	}
	if notes > 0 {
		_, err = fmt.Fprintf(stdout, "\nno problems in %d requests; %d acceptances are not proven here (see the notes): export their requests' whole trail\n", len(report), notes)
		return err
	}
	_, err = fmt.Fprintf(stdout, "\nevery accepted request in the bundle shows its checks passed (%d requests)\n", len(report))
	return err
}

// errWriter writes formatted lines until the first error, which it keeps.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
