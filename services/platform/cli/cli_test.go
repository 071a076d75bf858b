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
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var c Common
			c.RegisterAuditBacklogAlarm(fs)
			err := fs.Parse(tc.args)
			if err == nil {
				err = config.ApplyEnv(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			}
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
