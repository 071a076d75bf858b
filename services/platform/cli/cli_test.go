package cli

import (
	"flag"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/trail"
)

// TestPositiveFlags: the audit flags that take a positive figure read it
// from the flag or the environment (the flag wins), refuse zero, negative
// and malformed values saying why, and default when unset.
func TestPositiveFlags(t *testing.T) {
	// A flag: how it is registered, and its value once parsed.
	type positiveFlag struct {
		register func(*Common, *flag.FlagSet)
		read     func(Common) any
	}
	alarm := positiveFlag{(*Common).RegisterAuditBacklogAlarm, func(c Common) any { return c.AuditBacklogAlarm }}
	clients := positiveFlag{(*Common).RegisterAuditAnonymousClients, func(c Common) any { return c.AuditAnonymousClients }}
	tests := []struct {
		name    string
		flag    positiveFlag
		args    []string
		env     map[string]string
		want    any
		wantErr string
	}{
		{name: "alarm default", flag: alarm, want: 5 * time.Minute},
		{name: "alarm flag", flag: alarm, args: []string{"--audit-backlog-alarm", "90s"}, want: 90 * time.Second},
		{name: "alarm environment", flag: alarm, env: map[string]string{"COMITY_AUDIT_BACKLOG_ALARM": "1h"}, want: time.Hour},
		{name: "alarm flag wins", flag: alarm, args: []string{"--audit-backlog-alarm=2m"}, env: map[string]string{"COMITY_AUDIT_BACKLOG_ALARM": "1h"}, want: 2 * time.Minute},
		{name: "alarm zero", flag: alarm, args: []string{"--audit-backlog-alarm", "0s"}, wantErr: "must be more than zero"},
		{name: "alarm negative", flag: alarm, args: []string{"--audit-backlog-alarm", "-5m"}, wantErr: "must be more than zero"},
		{name: "alarm no unit", flag: alarm, args: []string{"--audit-backlog-alarm", "300"}, wantErr: "not a duration"},
		{name: "alarm bad environment", flag: alarm, env: map[string]string{"COMITY_AUDIT_BACKLOG_ALARM": "soon"}, wantErr: "COMITY_AUDIT_BACKLOG_ALARM"},
		{name: "clients default", flag: clients, want: 100},
		{name: "clients flag", flag: clients, args: []string{"--audit-anonymous-clients", "20"}, want: 20},
		{name: "clients environment", flag: clients, env: map[string]string{"COMITY_AUDIT_ANONYMOUS_CLIENTS": "500"}, want: 500},
		{name: "clients flag wins", flag: clients, args: []string{"--audit-anonymous-clients=30"}, env: map[string]string{"COMITY_AUDIT_ANONYMOUS_CLIENTS": "500"}, want: 30},
		{name: "clients zero", flag: clients, args: []string{"--audit-anonymous-clients", "0"}, wantErr: "must be more than zero"},
		{name: "clients negative", flag: clients, args: []string{"--audit-anonymous-clients", "-1"}, wantErr: "must be more than zero"},
		{name: "clients not a number", flag: clients, args: []string{"--audit-anonymous-clients", "lots"}, wantErr: "not a whole number"},
		{name: "clients bad environment", flag: clients, env: map[string]string{"COMITY_AUDIT_ANONYMOUS_CLIENTS": "1e3"}, wantErr: "COMITY_AUDIT_ANONYMOUS_CLIENTS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCommon(tc.flag.register, tc.args, tc.env)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v; want one saying %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr == "" && tc.flag.read(c) != tc.want:
				t.Errorf("value %v; want %v", tc.flag.read(c), tc.want)
			}
		})
	}
}

// TestLoadService: a service binary loads its digest key first, then its
// issuers and mTLS identity; a producer that delivers to an audit service
// loads its service credentials too, one that keeps its events in the
// outbox (empty --audit-addr) and comity-audit do not. Each failure names
// what is wrong.
func TestLoadService(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "digest.key")
	if _, err := trail.EnsureDigestKey(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.EnsureServiceIssuer(dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		producer  bool
		args      []string
		wantCreds bool
		wantErr   string
	}{
		{name: "producer", producer: true, args: []string{"--service-key-dir", dir}, wantCreds: true},
		{name: "producer keeping its events", producer: true, args: []string{"--audit-addr="}},
		{name: "audit service", args: nil},
		{name: "no digest key", args: []string{"--audit-digest-key="}, wantErr: "--audit-digest-key"},
		{name: "bad issuer", args: []string{"--issuer", "nokeys"}, wantErr: `--issuer "nokeys"`},
		{name: "no certificates", args: []string{"--plaintext=false", "--cert-dir", filepath.Join(dir, "none")}, wantErr: "comityctl dev certs"},
		{name: "no service key", producer: true, args: []string{"--service-key-dir", filepath.Join(dir, "none")}, wantErr: "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, c := ServiceFlags("comity-x", ":0")
			fs.SetOutput(io.Discard)
			if tc.producer {
				c.RegisterProducer(fs)
			} else {
				c.RegisterDigestKey(fs, "its own events")
			}
			args := append([]string{"--audit-digest-key", keyFile, "--plaintext", "--issuer", "iss=" + filepath.Join(dir, "jwks.json")}, tc.args...)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			svc, err := c.LoadService("request", "comity-request")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(svc.DigestKey) != trail.DigestKeySize || svc.TLS != nil ||
				!reflect.DeepEqual(svc.Issuers, []identity.Issuer{{ID: "iss", JWKS: filepath.Join(dir, "jwks.json")}}) {
				t.Errorf("loaded %+v; want the key, the issuer and no TLS (--plaintext)", svc)
			}
			if (svc.Credentials != nil) != tc.wantCreds {
				t.Errorf("credentials %v; want them: %v", svc.Credentials, tc.wantCreds)
			}
		})
	}
}

// parseCommon registers one group of Common's flags, as a binary does, and
// reads args, then the environment env, as config.ApplyEnv does at start.
func parseCommon(register func(*Common, *flag.FlagSet), args []string, env map[string]string) (Common, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Common
	register(&c, fs)
	err := fs.Parse(args)
	if err == nil {
		err = config.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	return c, err
}

// TestHelp: -h of a binary shows each common flag with its type as the
// argument name (a back-quoted word in a usage would take its place:
// "-cert-dir comityctl dev certs") and the usage in full.
func TestHelp(t *testing.T) {
	var c Common
	fs := flag.NewFlagSet("comity-x", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	c.Register(fs, "json", ":9110")
	c.RegisterIssuers(fs)
	c.RegisterTLS(fs, "./var/certs")
	c.RegisterAuditBacklogAlarm(fs)
	c.RegisterAuditAnonymousClients(fs)
	c.RegisterHTTP(fs)
	c.RegisterInternalReserve(fs)
	if err := fs.Parse([]string{"-h"}); err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
	help := out.String()
	for _, want := range []string{
		"  -cert-dir string\n",
		`ca.pem, NAME.pem and NAME-key.pem ("comityctl dev certs" creates them)`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("-h does not show %q:\n%s", want, help)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if strings.Contains(f.Usage, "`") {
			name, _ := flag.UnquoteUsage(f)
			t.Errorf("-%s: its usage has a back quote, shown as the argument name %q", f.Name, name)
		}
	})
}
