package requestd_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/platform/config"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/requestd"
)

// TestRetentionFlags: the defaults (five years, an hour), the flags and
// their COMITY_ variables, and a value under a second or not a duration
// refused naming what is wrong.
func TestRetentionFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want requestd.Retention
		err  string
	}{
		{name: "defaults", want: requestd.Retention{AfterClose: request.DefaultRetention, SweepInterval: time.Hour}},
		{name: "flags", args: []string{"--retention-after-close=720h", "--retention-sweep-interval=30s"},
			want: requestd.Retention{AfterClose: 720 * time.Hour, SweepInterval: 30 * time.Second}},
		{name: "environment", env: map[string]string{"COMITY_RETENTION_AFTER_CLOSE": "2s", "COMITY_RETENTION_SWEEP_INTERVAL": "1s"},
			want: requestd.Retention{AfterClose: 2 * time.Second, SweepInterval: time.Second}},
		{name: "under a second", args: []string{"--retention-after-close=500ms"}, err: "must be at least 1s"},
		{name: "zero interval", env: map[string]string{"COMITY_RETENTION_SWEEP_INTERVAL": "0s"}, err: "must be at least 1s"},
		{name: "not a duration", args: []string{"--retention-after-close=5y"}, err: "not a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("comity-request", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var r requestd.Retention
			requestd.RegisterRetention(fs, &r)
			err := fs.Parse(tc.args)
			if err == nil {
				err = config.ApplyEnv(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("= %v; want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil || r != tc.want {
				t.Fatalf("= %+v, %v; want %+v", r, err, tc.want)
			}
		})
	}
}
