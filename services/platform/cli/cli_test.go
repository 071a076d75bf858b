package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/platform/config"
)

func TestAuditBacklogAlarm(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr string
	}{
		{name: "default", want: 5 * time.Minute},
		{name: "flag", args: []string{"--audit-backlog-alarm", "90s"}, want: 90 * time.Second},
		{name: "environment", env: map[string]string{"COMITY_AUDIT_BACKLOG_ALARM": "1h"}, want: time.Hour},
		{name: "flag wins", args: []string{"--audit-backlog-alarm=2m"}, env: map[string]string{"COMITY_AUDIT_BACKLOG_ALARM": "1h"}, want: 2 * time.Minute},
		{name: "zero", args: []string{"--audit-backlog-alarm", "0s"}, wantErr: "must be more than zero"},
		{name: "negative", args: []string{"--audit-backlog-alarm", "-5m"}, wantErr: "must be more than zero"},
		{name: "no unit", args: []string{"--audit-backlog-alarm", "300"}, wantErr: "not a duration"},
		{name: "bad environment", env: map[string]string{"COMITY_AUDIT_BACKLOG_ALARM": "soon"}, wantErr: "COMITY_AUDIT_BACKLOG_ALARM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCommon((*Common).RegisterAuditBacklogAlarm, tc.args, tc.env)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v; want one saying %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr == "" && c.AuditBacklogAlarm != tc.want:
				t.Errorf("alarm %v; want %v", c.AuditBacklogAlarm, tc.want)
			}
		})
	}
}

func TestAuditAnonymousClients(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    int
		wantErr string
	}{
		{name: "default", want: 100},
		{name: "flag", args: []string{"--audit-anonymous-clients", "20"}, want: 20},
		{name: "environment", env: map[string]string{"COMITY_AUDIT_ANONYMOUS_CLIENTS": "500"}, want: 500},
		{name: "flag wins", args: []string{"--audit-anonymous-clients=30"}, env: map[string]string{"COMITY_AUDIT_ANONYMOUS_CLIENTS": "500"}, want: 30},
		{name: "zero", args: []string{"--audit-anonymous-clients", "0"}, wantErr: "must be more than zero"},
		{name: "negative", args: []string{"--audit-anonymous-clients", "-1"}, wantErr: "must be more than zero"},
		{name: "not a number", args: []string{"--audit-anonymous-clients", "lots"}, wantErr: "not a whole number"},
		{name: "bad environment", env: map[string]string{"COMITY_AUDIT_ANONYMOUS_CLIENTS": "1e3"}, wantErr: "COMITY_AUDIT_ANONYMOUS_CLIENTS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCommon((*Common).RegisterAuditAnonymousClients, tc.args, tc.env)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v; want one saying %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr == "" && c.AuditAnonymousClients != tc.want:
				t.Errorf("clients %d; want %d", c.AuditAnonymousClients, tc.want)
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
