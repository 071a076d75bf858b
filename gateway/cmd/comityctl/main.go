// Command comityctl is Comity's command-line tool: every task of the API's
// users (requests, messages, attachments, the directory, statistics, the
// audit trail) from a terminal or a script, plus the operators' and
// developers' tools (dev tokens and certificates, directory import, the
// audit outbox).
//
//	comityctl requests create --from-file draft.yaml --request-id case-1187
//	comityctl requests submit KZ-2026-000001
//	comityctl attachments upload requests/ID confirmation.pdf --kind EVIDENCE
//	comityctl audit export --filter 'resource = "requests/ID"' --out case.bundle
//	comityctl audit verify --public-key var/audit/public.key case.bundle
//
// `comityctl help` and `comityctl COMMAND -h` describe every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/comity-mla/comity/services/platform/config"
)

// errUsage marks an error the user made on the command line (exit code 2).
var errUsage = errors.New("usage")

// errNoCommand is a command group run without a subcommand: its help is
// printed, and the exit code says that nothing was done (2).
var errNoCommand = errors.New("no command given")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode reports err on stderr and returns the process's exit code: 0
// for success, 2 for a usage error, 1 for anything else (a call that
// failed).
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errNoCommand):
		return 2
	}
	fmt.Fprintln(stderr, "comityctl:", describe(err))
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run executes the command line args, writing to stdout and stderr. The
// process's exit code is exitCode(run(…)).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr, os.LookupEnv)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// envAnnotation marks a command whose every flag may also come from its
// COMITY_… environment variable, as the flags of the commands that came
// before cobra did. The other commands read only the global flags from the
// environment: a stray COMITY_FORCE or COMITY_ALL must not change what
// `attachments download` or `requests list` does.
const envAnnotation = "comity-env"

// noEnvAnnotation marks a flag that never comes from the environment
// (--insecure-bundle-key: a setting that weakens a check must be typed).
const noEnvAnnotation = "comity-no-env"

// globals are the settings every command shares, and what the command line
// gave.
type globals struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	output     string
	gateway    string
	token      string
	caFile     string
	configPath string
	// purpose is the purpose of the reads, sent as X-Comity-Purpose
	// (DESIGN §10).
	purpose string

	// given are the flags given on the command line itself (not from the
	// environment), by name.
	given map[string]bool
	// envSet are the flags set from their environment variable.
	envSet map[string]bool
}

func newRootCmd(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	root := &cobra.Command{
		Use:   "comityctl",
		Short: "Comity's command-line tool",
		Long: `comityctl is Comity's command-line tool: every task of a prosecutor, a central authority,
a liaison officer, an auditor or a directory administrator, through a comity-gateway's REST API,
and the operators' tools.

The gateway is --gateway, else COMITY_GATEWAY, else the config file's "gateway", else
http://127.0.0.1:8080. The token is --token, else COMITY_TOKEN, else the config file's (which
'comityctl login' writes). The config file is --config, else COMITY_CONFIG, else
` + "`" + `comity/config.json` + "`" + ` in the user's configuration directory.

The operators' commands (dev, directory import, audit export, verify and outbox) also read each
flag from its COMITY_… environment variable (--data-dir is COMITY_DATA_DIR).

Every read of a request's content, its messages or an attachment is audited with the purpose you
declare, --purpose or COMITY_PURPOSE (DESIGN §10): one of ` + strings.Join(readPurposes, ", ") + `.
Without, the audit event says "undeclared". On the commands whose own --purpose is something else
(a draft's purpose, a consent's), the read purpose comes from COMITY_PURPOSE.

Exit codes: 0 success, 1 a call that failed, 2 a command line that is wrong.`,
		Example: `  comityctl config set gateway https://comity.example.kz
  TOKEN=$(comityctl dev token --agency kz-gpo --role prosecutor)
  comityctl requests list --token "$TOKEN" --filter 'status = DRAFT'
  comityctl requests get KZ-2026-000002 --output yaml`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		PersistentPreRunE: g.prepare,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v (see '%s -h')", errUsage, err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&g.output, "output", "o", "", "output format: table, json or yaml (default table on a terminal, json otherwise)")
	pf.StringVar(&g.gateway, "gateway", "", "URL of comity-gateway (or COMITY_GATEWAY, or the config file; default http://127.0.0.1:8080)")
	pf.StringVar(&g.token, "token", "", "bearer token (or COMITY_TOKEN, or the config file's, which 'comityctl login' writes)")
	pf.StringVar(&g.caFile, "ca", "", "PEM file of the CA that signed an https gateway's certificate, when the system does not trust it (e.g. var/certs/ca.pem)")
	pf.StringVar(&g.configPath, "config", "", "config file (or COMITY_CONFIG; default "+defaultConfigHint()+")")
	pf.StringVar(&g.purpose, "purpose", "", "why you read case content, recorded in the audit trail (or COMITY_PURPOSE): "+strings.Join(readPurposes, ", "))
	_ = root.RegisterFlagCompletionFunc("purpose", cobra.FixedCompletions(readPurposes, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(
		newRequestsCmd(g), newMessagesCmd(g), newAttachmentsCmd(g), newDataSubjectRequestsCmd(g),
		newAgenciesCmd(g), newStatesCmd(g), newRoutesCmd(g), newInstrumentsCmd(g), newStatisticsCmd(g),
		newAuditCmd(g), newDirectoryCmd(g), newDevCmd(g), newConfigCmd(g), newLoginCmd(g), newLogoutCmd(g), newWhoamiCmd(g),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Example = "  source <(comityctl completion bash)\n  comityctl completion zsh > \"${fpath[1]}/_comityctl\""
		}
	}
	return root
}

// groupRunE runs a command that only groups others: without arguments it
// prints the help and exits 2; with an unknown one it says so and suggests
// the nearest command.
func groupRunE(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		c.SetOut(c.ErrOrStderr())
		_ = c.Help()
		return errNoCommand
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's own default, set only where cobra looks itself
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return fmt.Errorf("%w: %s\nRun '%s --help' for its commands", errUsage, msg, c.CommandPath())
}

// group makes a command that only holds others.
func group(use, short, example string, cmds ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Example: example, Args: cobra.ArbitraryArgs, RunE: groupRunE}
	c.AddCommand(cmds...)
	return c
}

// prepare records which flags the command line gave, then sets those it
// did not give from the environment.
func (g *globals) prepare(c *cobra.Command, _ []string) error {
	g.given, g.envSet = map[string]bool{}, map[string]bool{}
	fs := c.Flags()
	fs.Visit(func(f *pflag.Flag) { g.given[f.Name] = true })
	allFlags := c.Annotations[envAnnotation] != ""
	global := c.Root().PersistentFlags()
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || g.given[f.Name] || f.Annotations[noEnvAnnotation] != nil {
			return
		}
		// A command's own flag that has a global flag's name (a draft's
		// --purpose) is not the global flag: its variable is not read from
		// the environment unless the command's every flag is.
		if !allFlags && global.Lookup(f.Name) != f {
			return
		}
		if v, ok := g.lookupEnv(config.EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, config.EnvName(f.Name), v, e)
			}
			g.envSet[f.Name] = true
		}
	})
	if err != nil {
		return err
	}
	if err := g.preparePurpose(fs, global); err != nil {
		return err
	}
	switch g.output {
	case "", "table", "json", "yaml":
	default:
		return fmt.Errorf("%w: --output %q: want table, json or yaml", errUsage, g.output)
	}
	return nil
}

// noEnv marks the flag name of c as one never read from the environment.
func noEnv(c *cobra.Command, name string) {
	_ = c.Flags().SetAnnotation(name, noEnvAnnotation, []string{"true"})
}

// args returns a positional-argument check that names what is expected and
// counts as a usage error.
func args(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if len(a) != n {
			return fmt.Errorf("%w: %s: want %s, got %d arguments %q (see '%s -h')", errUsage, c.CommandPath(), what, len(a), a, c.CommandPath())
		}
		return nil
	}
}

// noArgs refuses positional arguments.
func noArgs(c *cobra.Command, a []string) error {
	if len(a) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q (see '%s -h')", errUsage, a, c.CommandPath())
	}
	return nil
}
