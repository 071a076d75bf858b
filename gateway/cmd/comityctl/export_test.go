package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `audit export --ca` names the file at fault before anything is fetched.
func TestAuditExportRefusesABadCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bundle.json")
	for _, c := range []struct {
		ca, want string
		usage    bool
	}{
		{notPEM, "--ca " + notPEM + " holds no PEM certificate", true},
		{filepath.Join(dir, "missing.pem"), "missing.pem", false},
	} {
		err := run(t.Context(), []string{"audit", "export", "--gateway", "https://127.0.0.1:1", "--token", "t", "--out", out, "--ca", c.ca}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, errUsage) != c.usage {
			t.Errorf("--ca %s: got %v, want an error naming %q (usage error: %v)", c.ca, err, c.want, c.usage)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("--ca %s: a bundle file was written", c.ca)
		}
	}
}
