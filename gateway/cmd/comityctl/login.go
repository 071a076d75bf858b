package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/comity-mla/comity/gateway/cliauth"
)

// refreshMargin is how long before its expiry a saved token is renewed:
// a command must not start with a token that lapses during its call.
const refreshMargin = time.Minute

func newLoginCmd(g *globals) *cobra.Command {
	var issuer, clientID string
	var idToken bool
	c := &cobra.Command{
		Use:   "login",
		Short: "Sign in at your state's identity provider and keep the token in the config file",
		Long: `Sign in by the OAuth 2.0 device authorization grant (RFC 8628): comityctl prints an address
and a code; open the address in any browser, check that it shows the same code, sign in there
and approve. The token (and a refresh token, which renews it when it nears its expiry) is saved
in the config file, and every later command uses it.

Locally, the provider is the DEVELOPMENT-ONLY one comity-local serves at ` + cliauth.DevIssuer + `,
client ` + cliauth.DefaultClientID + `. In a deployment, give your identity provider and the public client
registered there for comityctl; they are remembered for the next login. The provider must offer
the device grant; if it does not, pass a token with --token or COMITY_TOKEN instead.`,
		Example: "  comityctl login\n" +
			"  comityctl login --issuer https://idp.example.kz --client-id comityctl\n" +
			"  comityctl whoami",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, cfg, err := g.loadConfigFile()
			if err != nil {
				return err
			}
			o := cliauth.Options{Issuer: issuer, ClientID: clientID, IDTokenBearer: idToken, Out: g.stderr}
			if o.Issuer == "" {
				o.Issuer = cmp.Or(cfg.Issuer, cliauth.DevIssuer)
			}
			if o.ClientID == "" {
				o.ClientID = cmp.Or(cfg.ClientID, cliauth.DefaultClientID)
			}
			tok, err := cliauth.Login(c.Context(), o)
			if err != nil {
				return fmt.Errorf("signing in at %s: %w", o.Issuer, err)
			}
			cfg.Token, cfg.RefreshToken = tok.Token, tok.RefreshToken
			cfg.TokenExpiry = ""
			if !tok.Expiry.IsZero() {
				cfg.TokenExpiry = tok.Expiry.UTC().Format(time.RFC3339)
			}
			cfg.Issuer, cfg.ClientID = o.Issuer, o.ClientID
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Signed in at %s; the token is saved in %s", o.Issuer, path)
			if !tok.Expiry.IsZero() {
				fmt.Fprintf(g.stdout, " (valid until %s", tok.Expiry.Local().Format(time.RFC3339))
				if tok.RefreshToken != "" {
					fmt.Fprint(g.stdout, ", renewed as needed")
				}
				fmt.Fprint(g.stdout, ")")
			}
			fmt.Fprintln(g.stdout, ".")
			// Whether the services accept it is what the user needs to
			// know now, not at their first real command.
			return g.whoami(c.Context())
		},
	}
	c.Flags().StringVar(&issuer, "issuer", "", "the identity provider's issuer URL (default: the last login's, else "+cliauth.DevIssuer+")")
	c.Flags().StringVar(&clientID, "client-id", "", "the public client registered at the provider for comityctl (default: the last login's, else "+cliauth.DefaultClientID+")")
	c.Flags().BoolVar(&idToken, "id-token", false, "present the ID token rather than the access token (for a provider whose access tokens carry no user claims, as the console's bearer=id_token)")
	return c
}

func newLogoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Forget the token saved by 'comityctl login'",
		Long:    "Remove the token and its refresh token from the config file; the gateway, issuer and client stay for the next login.",
		Example: "  comityctl logout",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, cfg, err := g.loadConfigFile()
			if err != nil {
				return err
			}
			if cfg.Token == "" && cfg.RefreshToken == "" {
				_, err := fmt.Fprintf(g.stdout, "No token is saved in %s.\n", path)
				return err
			}
			cfg.Token, cfg.TokenExpiry, cfg.RefreshToken = "", "", ""
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "The token is removed from %s.\n", path)
			return err
		},
	}
}

func newWhoamiCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show who the services take you for: agency, state and the roles that count",
		Example: "  comityctl whoami\n  comityctl whoami --output json",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.whoami(c.Context())
		},
	}
}

// whoami prints the caller as the services see them (GET /v1/caller).
func (g *globals) whoami(ctx context.Context) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	data, err := cl.callRaw(ctx, "GET", "/v1/caller", nil)
	if err != nil {
		return err
	}
	return g.print(data, objectView{})
}

// refreshSaved renews the config file's token with its refresh token when
// it has expired or is about to, saves the new one and returns it. It
// returns the saved token unchanged when there is nothing to renew with.
func refreshSaved(ctx context.Context, path string, cfg cliConfig) (cliConfig, error) {
	if cfg.TokenExpiry == "" || cfg.RefreshToken == "" || cfg.Issuer == "" || cfg.ClientID == "" {
		return cfg, nil
	}
	exp, err := time.Parse(time.RFC3339, cfg.TokenExpiry)
	if err != nil || time.Until(exp) > refreshMargin {
		return cfg, nil
	}
	tok, err := cliauth.Refresh(ctx, cliauth.Options{Issuer: cfg.Issuer, ClientID: cfg.ClientID}, cfg.RefreshToken)
	if errors.Is(err, cliauth.ErrRefreshRefused) {
		// Another comityctl may have renewed it a moment ago, spending
		// the refresh token this one read: its token is in the file now.
		if fresh, ferr := loadConfig(path); ferr == nil && fresh.Token != cfg.Token && fresh.TokenExpiry != "" {
			if exp, perr := time.Parse(time.RFC3339, fresh.TokenExpiry); perr == nil && time.Until(exp) > refreshMargin {
				return fresh, nil
			}
		}
		return cfg, fmt.Errorf("the session at %s has ended (the refresh token was refused): run 'comityctl login' again", cfg.Issuer)
	}
	if err != nil {
		return cfg, fmt.Errorf("renewing the token saved in %s: %w (run 'comityctl login' again, or pass --token)", path, err)
	}
	cfg.Token = tok.Token
	if tok.RefreshToken != "" {
		cfg.RefreshToken = tok.RefreshToken
	}
	cfg.TokenExpiry = ""
	if !tok.Expiry.IsZero() {
		cfg.TokenExpiry = tok.Expiry.UTC().Format(time.RFC3339)
	}
	if err := saveConfig(path, cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}
