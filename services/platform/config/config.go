// Package config binds command-line flags to COMITY_… environment variables,
// so that every binary takes each setting either way: a flag --grpc-addr is
// also COMITY_GRPC_ADDR. A flag given on the command line wins.
package config

import (
	"flag"
	"fmt"
	"strings"
)

// EnvName returns the environment variable of a flag: COMITY_ and the flag
// name in upper case with hyphens as underscores.
func EnvName(flagName string) string {
	return "COMITY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// its environment variable, read through lookup (os.LookupEnv in main). Call
// it after fs.Parse.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
			}
		}
	})
	return err
}

// Strings is a repeatable string flag (--issuer a --issuer b); from the
// environment it takes a comma-separated list.
type Strings []string

func (s *Strings) String() string { return strings.Join(*s, ",") }

// Set appends value, splitting it on commas.
func (s *Strings) Set(value string) error {
	for _, v := range strings.Split(value, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*s = append(*s, v)
		}
	}
	return nil
}
