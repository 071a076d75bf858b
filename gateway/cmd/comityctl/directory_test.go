package main

import (
	"encoding/base64"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Flags may follow the snapshot FILE, as the README writes the command, or
// precede it; "--" ends the flags.
func TestDirectoryImportFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		database string
		files    []string
	}{
		{"flags after FILE", []string{"snap.json", "--database", "sqlite:x.db"}, "sqlite:x.db", []string{"snap.json"}},
		{"flags before FILE", []string{"--database", "sqlite:x.db", "snap.json"}, "sqlite:x.db", []string{"snap.json"}},
		{"flags around two FILEs", []string{"a.json", "--database=sqlite:x.db", "b.json"}, "sqlite:x.db", []string{"a.json", "b.json"}},
		{"after --", []string{"--", "--database", "x"}, "default", []string{"--database", "x"}},
		{"no flag", []string{"snap.json"}, "default", []string{"snap.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCmd(io.Discard, io.Discard, func(string) (string, bool) { return "", false })
			imp, _, err := root.Find([]string{"directory", "import"})
			if err != nil {
				t.Fatal(err)
			}
			var (
				files    []string
				database = "default"
				given    bool
			)
			// Only the parsing is under test: the command's own run is
			// replaced by one that records what it was given.
			imp.Args = cobra.ArbitraryArgs
			imp.RunE = func(c *cobra.Command, a []string) error {
				files, given = a, c.Flags().Changed("database")
				if given {
					database, _ = c.Flags().GetString("database")
				}
				return nil
			}
			root.SetArgs(append([]string{"directory", "import"}, tc.args...))
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if database != tc.database || !slices.Equal(files, tc.files) {
				t.Errorf("database %q, files %q; want %q, %q", database, files, tc.database, tc.files)
			}
			if given != (tc.database != "default") {
				t.Errorf("given = %v", given)
			}
		})
	}
}

// Wrong uses of `directory import` are refused before anything is read or
// written, with a message saying what to do.
func TestDirectoryImportRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "directory.db")
	notAdmin := "x." + base64.RawURLEncoding.EncodeToString([]byte(`{"agency":"kz-gpo","roles":["prosecutor"]}`)) + ".y"
	snapshot := filepath.Join("..", "..", "..", "services", "directory", "seed", "default.json")
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"no FILE", []string{"--database", db}, "want exactly one snapshot FILE", true},
		{"two FILEs", []string{"a.json", "b.json"}, "want exactly one snapshot FILE", true},
		{"gateway and database", []string{snapshot, "--gateway", "http://127.0.0.1:1", "--database", db}, "--gateway and --database exclude each other", true},
		{"token without gateway", []string{snapshot, "--token", "t"}, "--token and --ca go with --gateway", true},
		{"gateway without token", []string{snapshot, "--gateway", "http://127.0.0.1:1"}, "--gateway needs --token", true},
		{"token of no directory_admin", []string{snapshot, "--gateway", "http://127.0.0.1:1", "--token", notAdmin}, "not a directory_admin's", true},
		{"missing FILE", []string{filepath.Join(dir, "missing.json"), "--database", db}, "missing.json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COMITY_TOKEN", "")
			err := run(t.Context(), append([]string{"directory", "import"}, tc.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errUsage) != tc.usage {
				t.Errorf("got %v; want an error saying %q (usage error: %v)", err, tc.want, tc.usage)
			}
		})
	}
}
