// Package pgtest gives each PostgreSQL test a database of its own, so that
// tests run in parallel and leave nothing behind (DESIGN §7).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by NewDatabase. Only tests read the environment
// here; production code gets its configuration from main.
const (
	// EnvURL names the server to test against: a postgres:// URL of any
	// database the user may run CREATE DATABASE from.
	EnvURL = "COMITY_TEST_POSTGRES"
	// EnvRequired set to 1 turns a missing EnvURL into a failure, so that CI
	// cannot pass by skipping every PostgreSQL test.
	EnvRequired = "COMITY_TEST_POSTGRES_REQUIRED"
)

// NewDatabase creates an empty database with a random name on the server of
// COMITY_TEST_POSTGRES, drops it when the test ends, and returns its URL.
// Without COMITY_TEST_POSTGRES it skips the test, or fails it when
// COMITY_TEST_POSTGRES_REQUIRED=1.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv(EnvRequired) == "1" {
			t.Fatalf("%s not set and %s=1", EnvURL, EnvRequired)
		}
		t.Skip("COMITY_TEST_POSTGRES not set: skipping PostgreSQL test")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvURL)
	}

	var b [8]byte
	rand.Read(b[:])
	name := "comity_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer admin.Close(ctx)
	// The name is ours and safe: hex digits only, so no quoting is needed.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	// t.Context is already cancelled when cleanups run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		// FORCE: a pool the test forgot to close must not leave it behind.
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}
