package gateway_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
)

// Issue 10, item 1: one unauthenticated call with a long name used to stop
// all audit delivery of the request service. Its denied-call event was
// refused by AuditService.Append, retried for ever, and every later event
// waited behind it, while /readyz said all was well.

// TestHostileAuditDeliveryAfterLongNameProbe is the exact attack: an
// anonymous :submit of a 300-character name, then a normal create, whose
// event must reach the log within seconds; and the same against the
// directory (an anonymous :deactivate of a 400-character agency name, then
// a real deactivation). The probe itself is on the log too, in the
// aggregate event of the client's unauthenticated calls (a window of a
// second here), with the name cut and marked, and nothing is set aside.
func TestHostileAuditDeliveryAfterLongNameProbe(t *testing.T) {
	tests := []struct {
		name  string
		probe string
		// change makes a change as a legitimate user and returns the
		// resource and action of its event.
		change func(s *suite) (resource, action string)
	}{
		{
			name:  "request service",
			probe: "/v1/requests/" + strings.Repeat("A", 300) + ":submit",
			change: func(s *suite) (string, string) {
				created := s.mustDo("POST", "/v1/requests", s.token("kz-gpo", identity.Prosecutor), preservation(), 200)
				return created.body["name"].(string), requestService + "CreateRequest"
			},
		},
		{
			name:  "directory",
			probe: "/v1/agencies/" + strings.Repeat("A", 400) + ":deactivate",
			change: func(s *suite) (string, string) {
				admin := s.token("kz-gpo", identity.DirectoryAdmin)
				s.mustDo("POST", "/v1/agencies/kz-police-cyber:deactivate", admin, s.withEtag("kz-police-cyber", admin, nil), 200)
				return "agencies/kz-police-cyber", "/comity.directory.v1.DirectoryService/DeactivateAgency"
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := startSuite(t, suiteOptions{metrics: reg, anonymousWindow: time.Second})
			if r := s.do("POST", tc.probe, "", map[string]any{}); r.status != 401 {
				t.Fatalf("anonymous POST %s = %d %s; want 401", tc.probe, r.status, r.raw)
			}
			resource, action := tc.change(s)
			auditor := s.token("kz-oversight", identity.Auditor)
			s.awaitEntries(auditor, resourceFilter(resource), 15*time.Second, func(es []auditEntry) bool {
				return slices.ContainsFunc(es, func(e auditEntry) bool { return e.Event.Action == action && e.Event.Outcome == "OK" })
			})

			// The aggregate event of the probe, on no state's trail: read
			// as the operator would.
			probed := strings.TrimPrefix(tc.probe[:strings.LastIndexByte(tc.probe, ':')], "/v1/")
			cut := trail.Bounded(trail.Event{Resource: probed}).Resource
			if cut == probed || !strings.Contains(cut, "[cut sha256:") {
				t.Fatalf("Bounded left the probed name as it is: %q", cut)
			}
			s.awaitTrail("the aggregate event of the probe", func(e trail.Event) bool {
				return e.Action == trail.UnauthenticatedCallsAction
			}, func(es []trail.Event) bool {
				return slices.ContainsFunc(es, func(e trail.Event) bool { return e.Resource == cut && e.Count == 1 })
			})
			for _, service := range []string{"request", "directory"} {
				if n := outboxMetric(t, reg, "comity_audit_outbox_dead_lettered_total", service); n != 0 {
					t.Errorf("the %s service set %v audit events aside; want none", service, n)
				}
				if n := outboxMetric(t, reg, "comity_audit_outbox_dead_letters", service); n != 0 {
					t.Errorf("the %s service's outbox holds %v dead letters; want none", service, n)
				}
			}
		})
	}
}

// TestHostileAuditDeliveryDeadLetter puts an event that Append refuses (an
// id that is not a UUID, which the relay's bounding of events cannot mend)
// straight into the request service's outbox, as a bug of a future version
// could: the events behind it are delivered, it is
// set aside with the refusal as its reason, the metric counts it, and
// Redeliver puts it back in the queue (where it is refused and set aside
// again, since nothing fixed it). On SQLite and on PostgreSQL.
func TestHostileAuditDeliveryDeadLetter(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := startSuite(t, suiteOptions{postgres: engine == "postgres", metrics: reg})
			ctx := t.Context()
			// The operator's view of the outbox: the store opened beside the
			// running service, as comityctl audit outbox does.
			store, closeStore, err := requestd.OpenStore(ctx, s.databases["request"])
			if err != nil {
				t.Fatalf("open the request database: %v", err)
			}
			defer closeStore()

			before := outboxMetric(t, reg, "comity_audit_outbox_dead_lettered_total", "request")
			bad := trail.Event{
				ID: "bug-" + trail.NewID(), Time: time.Now().UTC(), Service: "comity-request",
				Action:   requestService + "GetRequest",
				Resource: "requests/" + strings.Repeat("B", 400), States: []string{"KZ"}, Outcome: "NOT_FOUND",
			}
			if err := store.RecordEvent(ctx, bad); err != nil {
				t.Fatalf("RecordEvent: %v", err)
			}

			// Behind it, a normal create reaches the log.
			prosecutor := s.token("kz-gpo", identity.Prosecutor)
			auditor := s.token("kz-oversight", identity.Auditor)
			name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
			s.awaitEntries(auditor, resourceFilter(name), 15*time.Second, func(es []auditEntry) bool { return len(es) > 0 })

			dead := awaitDeadLetter(t, store, bad.ID)
			if !strings.Contains(dead.Reason, "InvalidArgument") || !strings.Contains(dead.Reason, "id") {
				t.Errorf("dead letter reason %q; want the audit service's refusal (InvalidArgument, naming the id)", dead.Reason)
			}
			if dead.Event.ID != bad.ID || dead.Event.Resource != bad.Resource || dead.Time.IsZero() {
				t.Errorf("dead letter %+v; want the event as written, with the time it was set aside", dead)
			}
			if pending, err := store.PendingEvents(ctx, 0); err != nil || slices.ContainsFunc(pending, func(e trail.OutboxEntry) bool { return e.Event.ID == bad.ID }) {
				t.Errorf("the dead letter is still pending (%v)", err)
			}
			awaitMetric(t, reg, "comity_audit_outbox_dead_lettered_total", "request", before+1)
			awaitMetric(t, reg, "comity_audit_outbox_dead_letters", "request", 1)
			// The suite stays ready, and its delivery keeps up.
			r := s.do("GET", "/readyz", "", nil)
			if d, _ := r.body["auditDelivery"].(map[string]any); r.status != 200 || d["request"] != "delivering" {
				t.Errorf("/readyz = %d %s; want 200 with the request service delivering", r.status, r.raw)
			}

			// Put back by the operator: it is sent again.
			back, err := store.Redeliver(ctx, []string{bad.ID})
			if err != nil || !slices.Equal(back, []string{bad.ID}) {
				t.Fatalf("Redeliver = %v, %v; want [%s]", back, err, bad.ID)
			}
			awaitMetric(t, reg, "comity_audit_outbox_dead_lettered_total", "request", before+2)
			awaitDeadLetter(t, store, bad.ID)

			// And later events still flow.
			name = s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
			s.awaitEntries(auditor, resourceFilter(name), 15*time.Second, func(es []auditEntry) bool { return len(es) > 0 })
		})
	}
}

// TestHostileAuditDeliveryBacklogAlarm stops the audit service: once the
// request service's oldest undelivered event is older than the alarm bound,
// /readyz says its audit delivery is behind, while the request service
// stays SERVING and keeps taking requests; once the audit service is back
// and the backlog drained, the delivery is reported caught up.
func TestHostileAuditDeliveryBacklogAlarm(t *testing.T) {
	s := startSuite(t, suiteOptions{backlogAlarm: time.Second})
	delivery := func() (string, response) {
		r := s.do("GET", "/readyz", "", nil)
		d, _ := r.body["auditDelivery"].(map[string]any)
		state, _ := d["request"].(string)
		return state, r
	}
	// The request service reports its delivery once it has read its
	// outbox, which may come a moment after it serves (NOT_FOUND until then).
	awaitCondition(t, "/readyz before the outage to report the request service delivering", 15*time.Second, func() bool {
		state, r := delivery()
		return state == "delivering" && r.status == 200
	})
	prosecutor := s.token("kz-gpo", identity.Prosecutor)
	s.stopAudit()
	s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)
	var r response
	awaitCondition(t, "/readyz to report the request service's delivery behind", 30*time.Second, func() bool {
		var state string
		state, r = delivery()
		return strings.HasPrefix(state, "behind")
	})
	if b, _ := r.body["backends"].(map[string]any); b["request"] != "SERVING" {
		t.Errorf("/readyz backends %v; want the request service SERVING: an audit outage must not take it out", r.body["backends"])
	}
	// Still in rotation: it takes requests.
	s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200)

	s.restartAudit()
	awaitCondition(t, "/readyz to report the delivery caught up", 30*time.Second, func() bool {
		state, r := delivery()
		return state == "delivering" && r.status == 200
	})
}

// awaitDeadLetter polls the store's dead letters until id is among them.
func awaitDeadLetter(t *testing.T, store requestd.Store, id string) trail.DeadLetter {
	t.Helper()
	var found trail.DeadLetter
	awaitCondition(t, "event "+id+" to be set aside", 15*time.Second, func() bool {
		dead, err := store.DeadLetters(t.Context(), 0)
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		i := slices.IndexFunc(dead, func(d trail.DeadLetter) bool { return d.Event.ID == id })
		if i >= 0 {
			found = dead[i]
		}
		return i >= 0
	})
	return found
}

// awaitMetric polls reg until the outbox metric of service has value want.
func awaitMetric(t *testing.T, reg *prometheus.Registry, name, service string, want float64) {
	t.Helper()
	awaitCondition(t, name+" to be "+strconv.FormatFloat(want, 'g', -1, 64), 15*time.Second, func() bool {
		return outboxMetric(t, reg, name, service) == want
	})
}

// outboxMetric returns the value of the metric name of service in reg (0
// when not there yet).
func outboxMetric(t *testing.T, reg *prometheus.Registry, name, service string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "service" || l.GetValue() != service {
					continue
				}
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// awaitCondition polls cond with backoff until it holds, or fails the test
// after within.
func awaitCondition(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for backoff := 10 * time.Millisecond; !cond(); backoff = min(2*backoff, 250*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still waiting for %s", within, what)
		}
		time.Sleep(backoff)
	}
}
