// Command comityctl is Comity's command-line tool for operators and
// developers.
//
//	comityctl dev token --agency kz-gpo --role prosecutor [--role …] [--subject S] [--name N] [--ttl 8h] [--data-dir ./var]
//	comityctl directory import FILE [--database sqlite:./var/directory.db]
//	comityctl directory import FILE --gateway URL --token T [--ca FILE]
//	comityctl audit export --token T [--gateway URL] [--filter F] [--since OLD] --out FILE
//	comityctl audit verify [--public-key KEY|FILE] [--since OLD] FILE
//	comityctl audit outbox list --database DB [--limit N]
//	comityctl audit outbox redeliver --database DB (--id ID … | --all)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/platform/mtls"
)

const usage = `comityctl: Comity's command-line tool.

Commands:
  dev token          print a token signed by comity-local's dev issuer
  dev certs          create a development CA and the mTLS certificates of every service
  directory import   load a directory snapshot (states and agencies): into a running
                     directory through the gateway, as a directory_admin (--gateway),
                     or into a database no service is using (--database)
  audit export       save the audit entries an auditor may see, with proofs, to a bundle file
  audit verify       check a bundle offline: signature, inclusion proofs, consistency
  audit outbox list  show the audit events a service set aside (dead letters): refused by the audit service
  audit outbox redeliver
                     put dead-lettered audit events back in the delivery queue, once the cause is fixed

Run 'comityctl COMMAND -h' for a command's flags. Every flag can also be set
with its COMITY_… environment variable (--data-dir is COMITY_DATA_DIR).
`

// errUsage marks an error the user made on the command line (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "comityctl:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) >= 2 {
		switch args[0] + " " + args[1] {
		case "dev token":
			return devToken(args[2:], stdout, stderr)
		case "dev certs":
			return devCerts(args[2:], stdout, stderr)
		case "directory import":
			return directoryImport(ctx, args[2:], stdout, stderr)
		case "audit export":
			return auditExport(ctx, args[2:], stdout, stderr)
		case "audit verify":
			return auditVerify(args[2:], stdout, stderr)
		}
	}
	if len(args) >= 3 && args[0] == "audit" && args[1] == "outbox" {
		switch args[2] {
		case "list":
			return auditOutboxList(ctx, args[3:], stdout, stderr)
		case "redeliver":
			return auditOutboxRedeliver(ctx, args[3:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, usage)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return flag.ErrHelp
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args)
}

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

func devToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("comityctl dev token", flag.ContinueOnError)
	agency := fs.String("agency", "", "agency id the token names, e.g. kz-gpo (required)")
	var roles config.Strings
	fs.Var(&roles, "role", "role: prosecutor, central_authority, liaison_officer, auditor or directory_admin (repeatable, at least one). "+
		"A role counts only at an agency of a kind that may hold it ("+roleKinds()+"): the services refuse (401) a token "+
		"claiming another. Such a token is minted all the same, so that tests can try it")
	subject := fs.String("subject", "", "user subject (default dev:<agency>:<first role>)")
	name := fs.String("name", "", "user display name (default the subject)")
	ttl := fs.Duration("ttl", 8*time.Hour, "how long the token is valid")
	dataDir := fs.String("data-dir", "./var", "comity-local data directory holding the dev issuer key")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	req := identity.TokenRequest{Agency: *agency, Subject: *subject, Name: *name, TTL: *ttl}
	for _, r := range roles {
		role, ok := identity.ParseRole(r)
		if !ok {
			return fmt.Errorf("%w: unknown role %q; roles are %v", errUsage, r, identity.Roles)
		}
		req.Roles = append(req.Roles, role)
	}
	tok, err := identity.MintDevToken(*dataDir, req, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
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

func devCerts(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("comityctl dev certs", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./var", "data directory; the CA and certificates go to its certs/ folder")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	dir := filepath.Join(*dataDir, "certs")
	if err := mtls.EnsureDev(dir); err != nil {
		return err
	}
	for _, name := range mtls.Identities {
		if _, err := mtls.Load(mtls.FilesIn(dir, name)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(stdout, "development CA and certificates for %s in %s\n", strings.Join(mtls.Identities, ", "), dir)
	return err
}
