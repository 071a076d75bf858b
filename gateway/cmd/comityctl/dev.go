package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/mtls"
)

func newDevCmd(g *globals) *cobra.Command {
	return group("dev", "Development helpers: tokens from comity-local's dev issuer, development certificates",
		"  comityctl dev token --agency kz-gpo --role prosecutor\n  comityctl dev certs --data-dir ./var",
		newDevTokenCmd(g), newDevCertsCmd(g))
}

func newDevTokenCmd(g *globals) *cobra.Command {
	var (
		agency, subject, name, dataDir string
		roles                          []string
		ttl                            time.Duration
	)
	c := &cobra.Command{
		Use:   "token",
		Short: "Print a token signed by comity-local's dev issuer",
		Long: `Print a token signed by comity-local's development issuer (its key is under DATA-DIR/dev-issuer).
Only for development and tests: a deployment trusts its states' own identity providers.`,
		Example:     "  TOKEN=$(comityctl dev token --agency kz-gpo --role prosecutor)\n  comityctl dev token --agency uz-247 --role central_authority --ttl 1h --data-dir ./var",
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, _ []string) error {
			req := identity.TokenRequest{Agency: agency, Subject: subject, Name: name, TTL: ttl}
			for _, r := range roles {
				role, ok := identity.ParseRole(r)
				if !ok {
					return fmt.Errorf("%w: unknown role %q; roles are %v", errUsage, r, identity.Roles)
				}
				req.Roles = append(req.Roles, role)
			}
			tok, err := identity.MintDevToken(dataDir, req, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(g.stdout, tok)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&agency, "agency", "", "agency id the token names, e.g. kz-gpo (required)")
	f.StringSliceVar(&roles, "role", nil, "role: prosecutor, central_authority, liaison_officer, auditor or directory_admin (repeatable, at least one). "+
		"A role counts only at an agency of a kind that may hold it ("+roleKinds()+"): the services refuse (401) a token "+
		"claiming another. Such a token is minted all the same, so that tests can try it")
	f.StringVar(&subject, "subject", "", "user subject (default dev:<agency>:<first role>)")
	f.StringVar(&name, "name", "", "user display name (default the subject)")
	f.DurationVar(&ttl, "ttl", 8*time.Hour, "how long the token is valid")
	f.StringVar(&dataDir, "data-dir", "./var", "comity-local data directory holding the dev issuer key")
	_ = c.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, r := range identity.Roles {
			out = append(out, string(r))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// roleKinds says, for the help text, at which agency kinds each role
// counts: the verifier's table, not a copy of it.
func roleKinds() string {
	var parts []string
	for _, r := range identity.Roles {
		parts = append(parts, string(r)+" at "+strings.Join(identity.RoleKinds(r), " or "))
	}
	return strings.Join(parts, "; ")
}

func newDevCertsCmd(g *globals) *cobra.Command {
	var dataDir string
	c := &cobra.Command{
		Use:         "certs",
		Short:       "Create a development CA and the mTLS certificates of every service",
		Example:     "  comityctl dev certs --data-dir ./var   # the CA and certificates go to ./var/certs",
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, _ []string) error {
			dir := filepath.Join(dataDir, "certs")
			if err := mtls.EnsureDev(dir); err != nil {
				return err
			}
			for _, name := range mtls.Identities {
				if _, err := mtls.Load(mtls.FilesIn(dir, name)); err != nil {
					return err
				}
			}
			_, err := fmt.Fprintf(g.stdout, "development CA and certificates for %s in %s\n", strings.Join(mtls.Identities, ", "), dir)
			return err
		},
	}
	c.Flags().StringVar(&dataDir, "data-dir", "./var", "data directory; the CA and certificates go to its certs/ folder")
	return c
}
