package trail_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependenciesPointOneWay checks that the platform depends on no
// service, and the request service on the audit service only in its daemon
// (which runs the relay to it): the platform and the producers use this
// package, the audit trail's contract, instead (issue 13).
func TestDependenciesPointOneWay(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool on PATH")
	}
	const module = "github.com/comity-mla/comity/services/"
	for _, tc := range []struct {
		packages  string
		except    string
		forbidden []string
	}{
		{packages: "../platform/...", forbidden: []string{"audit", "request", "directory"}},
		{packages: "../request/...", except: module + "request/requestd", forbidden: []string{"audit"}},
	} {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, tc.packages).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tc.packages, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			deps := strings.Fields(line)
			if deps[0] == tc.except {
				continue
			}
			for _, dep := range deps[1:] {
				for _, f := range tc.forbidden {
					if dep == module+f || strings.HasPrefix(dep, module+f+"/") {
						t.Errorf("%s depends on %s", deps[0], dep)
					}
				}
			}
		}
	}
}
