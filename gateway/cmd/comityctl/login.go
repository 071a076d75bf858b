package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newLoginCmd is the place of 'comityctl login' (RFC 8628 device
// authorization grant against the deployment's identity provider, which
// writes the token into the config file with saveConfig). Until it is
// wired, it says how to pass a token instead.
func newLoginCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Sign in at your state's identity provider and keep the token in the config file",
		Example: "  comityctl login\n" +
			"  comityctl requests list --token \"$TOKEN\"   # meanwhile",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return fmt.Errorf("'comityctl login' is not available in this version: pass --token TOKEN or set COMITY_TOKEN " +
				"(locally: TOKEN=$(comityctl dev token --agency kz-gpo --role prosecutor))")
		},
	}
}
