package gateway_test

import (
	"net/http"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/comity-mla/comity/services/identity"
)

// Every log line of a call, the gateway's and the services', carries the
// trace id the caller got back in X-Trace-Id, whatever the outcome.
func TestEveryLogLineOfACallCarriesItsTraceID(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := startSuite(t, suiteOptions{logger: zap.New(core)})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	calls := []struct {
		path, token string
		want        int
	}{
		{"/v1/agencies/uz-247", prosecutor, http.StatusOK},
		{"/v1/requests/0190c3f5-0000-7000-8000-000000000000", prosecutor, http.StatusNotFound},
		{"/v1/requests?filter=" + "status%20%3D%3D%3D", prosecutor, http.StatusBadRequest},
		{"/v1/agencies/uz-247", "not-a-token", http.StatusUnauthorized},
	}
	var ids []string
	for _, c := range calls {
		r := s.mustDo("GET", c.path, c.token, nil, c.want)
		id := r.header.Get("X-Trace-Id")
		if id == "" {
			t.Fatalf("GET %s: no X-Trace-Id", c.path)
		}
		ids = append(ids, id)
	}
	s.stop()

	byTrace := map[string][]string{}
	for _, e := range logs.All() {
		fields := e.ContextMap()
		id, _ := fields["trace_id"].(string)
		if e.Message == "call" || e.Message == "http request" {
			if id == "" {
				t.Errorf("log line %q without a trace id: %v", e.Message, fields)
			}
		}
		if id != "" {
			byTrace[id] = append(byTrace[id], e.Message)
		}
	}
	for i, id := range ids {
		var gatewayLine, serviceLine bool
		for _, m := range byTrace[id] {
			gatewayLine = gatewayLine || m == "http request"
			serviceLine = serviceLine || m == "call"
		}
		if !gatewayLine || !serviceLine {
			t.Errorf("GET %s (trace %s): lines %v, want the gateway's \"http request\" and the service's \"call\"", calls[i].path, id, byTrace[id])
		}
	}
}
