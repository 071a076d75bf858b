package cliauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/comity-mla/comity/gateway/cliauth"
)

// The body of comityctl login: sign in at the development provider
// (locally; --issuer and --client-id otherwise) and keep what later
// commands need in the config file.
func ExampleLogin() {
	ctx := context.Background()
	o := cliauth.Options{Issuer: cliauth.DevIssuer, ClientID: cliauth.DefaultClientID, Out: os.Stderr}
	tok, err := cliauth.Login(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "comityctl login:", err)
		os.Exit(1)
	}
	config, _ := json.Marshal(map[string]any{
		"token": tok.Token, "tokenExpiry": tok.Expiry, "refreshToken": tok.RefreshToken,
		"issuer": o.Issuer, "clientId": o.ClientID,
	})
	_ = os.WriteFile("config.json", config, 0o600)
}

// A later command renews a token about to expire; a refused refresh
// token means signing in again.
func ExampleRefresh() {
	ctx := context.Background()
	o := cliauth.Options{Issuer: cliauth.DevIssuer, ClientID: cliauth.DefaultClientID}
	saved := cliauth.Token{Expiry: time.Now().Add(10 * time.Second), RefreshToken: "…"}
	if time.Until(saved.Expiry) < time.Minute {
		renewed, err := cliauth.Refresh(ctx, o, saved.RefreshToken)
		switch {
		case errors.Is(err, cliauth.ErrRefreshRefused):
			fmt.Fprintln(os.Stderr, "the session ended: run comityctl login")
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
		default:
			saved = renewed // its refresh token replaces the spent one
		}
	}
}
