package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/comity-mla/comity/gateway/cliauth"
	"github.com/spf13/cobra"
)

// cliConfig is comityctl's config file: where the gateway is and the
// token 'comityctl login' obtained. The JSON shape is a contract with the
// login command: keep the field names.
type cliConfig struct {
	// Gateway is the gateway's URL, e.g. https://comity.example.kz.
	Gateway string `json:"gateway,omitempty"`
	// Token is the bearer token (an access token from the identity
	// provider).
	Token string `json:"token,omitempty"`
	// TokenExpiry is when Token expires, RFC 3339.
	TokenExpiry string `json:"tokenExpiry,omitempty"`
	// RefreshToken, Issuer and ClientID let login renew the token.
	RefreshToken string `json:"refreshToken,omitempty"`
	Issuer       string `json:"issuer,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
}

// defaultGateway is the gateway comity-local serves.
const defaultGateway = "http://127.0.0.1:8080"

// defaultConfigPath is comity/config.json in the user's configuration
// directory (e.g. ~/.config/comity/config.json).
func defaultConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory for this user (%w): give --config FILE or COMITY_CONFIG", err)
	}
	return filepath.Join(dir, "comity", "config.json"), nil
}

func defaultConfigHint() string {
	if p, err := defaultConfigPath(); err == nil {
		return p
	}
	return "comity/config.json in the user's config directory"
}

// loadConfig reads the config file at path. A file that does not exist is
// an empty config; one that is not the config's JSON is an error naming
// the file.
func loadConfig(path string) (cliConfig, error) {
	var c cliConfig
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config file %s is not comityctl's config (a JSON object with gateway, token, tokenExpiry, refreshToken, issuer, clientId): %v", path, err)
	}
	if c.TokenExpiry != "" {
		if _, err := time.Parse(time.RFC3339, c.TokenExpiry); err != nil {
			return c, fmt.Errorf("config file %s: tokenExpiry %q is not an RFC 3339 time", path, c.TokenExpiry)
		}
	}
	return c, nil
}

// saveConfig writes c to path, readable by the user only (it holds
// tokens), atomically: a temporary file in the same directory renamed
// over the old one, so that a crash leaves the old file or the new one,
// never half of either.
func saveConfig(path string, c cliConfig) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return nil
}

// configFile is the config file's path: --config, COMITY_CONFIG (applied
// to the flag), or the default.
func (g *globals) configFile() (string, error) {
	if g.configPath != "" {
		return g.configPath, nil
	}
	return defaultConfigPath()
}

// loadConfigFile reads the config file, returning its path too (to save it
// back or to name it in a message).
func (g *globals) loadConfigFile() (string, cliConfig, error) {
	path, err := g.configFile()
	if err != nil {
		return "", cliConfig{}, err
	}
	cfg, err := loadConfig(path)
	return path, cfg, err
}

func newConfigCmd(g *globals) *cobra.Command {
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a value in the config file (keys: gateway)",
		Long: `Set a value in the config file. The only key set this way is gateway, the URL of the
comity-gateway every command talks to; 'comityctl login' writes the token.`,
		Example: "  comityctl config set gateway https://comity.example.kz",
		Args:    args(2, "KEY VALUE"),
		ValidArgsFunction: func(_ *cobra.Command, a []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(a) == 0 {
				return []string{"gateway"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, a []string) error {
			key, value := a[0], a[1]
			if key != "gateway" {
				return fmt.Errorf("%w: unknown key %q: the key set this way is gateway (run 'comityctl login' for a token)", errUsage, key)
			}
			u, err := url.Parse(value)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%w: gateway %q is not an http:// or https:// URL, e.g. https://comity.example.kz", errUsage, value)
			}
			if u.Scheme == "http" && !cliauth.Loopback(u.Hostname()) {
				return fmt.Errorf("%w: gateway %s is plain http: tokens would cross the network unencrypted; give its https:// URL", errUsage, value)
			}
			path, cfg, err := g.loadConfigFile()
			if err != nil {
				return err
			}
			cfg.Gateway = value
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "gateway set to %s in %s\n", value, path)
			return err
		},
	}
	view := &cobra.Command{
		Use:     "view",
		Short:   "Show the config file, the token redacted",
		Example: "  comityctl config view\n  comityctl config view --output json",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, cfg, err := g.loadConfigFile()
			if err != nil {
				return err
			}
			shown := map[string]any{"file": path}
			for k, v := range map[string]string{
				"gateway": cfg.Gateway, "token": redact(cfg.Token), "tokenExpiry": cfg.TokenExpiry,
				"refreshToken": redact(cfg.RefreshToken), "issuer": cfg.Issuer, "clientId": cfg.ClientID,
			} {
				if v != "" {
					shown[k] = v
				}
			}
			data, err := json.Marshal(shown)
			if err != nil {
				return err
			}
			return g.print(data, objectView{})
		},
	}
	return group("config", "Show or change comityctl's config file",
		"  comityctl config set gateway https://comity.example.kz\n  comityctl config view", set, view)
}

// redact hides a secret, saying only whether there is one.
func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "(set, redacted)"
}
