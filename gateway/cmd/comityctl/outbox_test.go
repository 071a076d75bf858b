package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/platform/pgdb/pgtest"
	"github.com/comity-mla/comity/services/request/requestd"
	"github.com/comity-mla/comity/services/trail"
)

// An operator lists the events a running service set aside and puts them
// back in the queue, on SQLite and on PostgreSQL.
func TestAuditOutboxListAndRedeliver(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			database := "sqlite:" + filepath.Join(t.TempDir(), "request.db")
			if engine == "postgres" {
				database = pgtest.NewDatabase(t)
			}
			ctx := t.Context()
			store, closeStore, err := requestd.OpenStore(ctx, database)
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			var events []trail.Event
			for i, resource := range []string{"requests/ok", "requests/" + strings.Repeat("A", 400), "requests/\x1b[2Jcleared\u202egpj.exe"} {
				ev := trail.Event{ID: trail.NewID(), Time: time.Date(2026, 3, 1, 10, i, 0, 0, time.UTC), Service: "comity-request",
					Action: "/comity.request.v1.RequestService/SubmitRequest", Resource: resource, Outcome: "UNAUTHENTICATED"}
				if err := store.RecordEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
				events = append(events, ev)
			}
			pending, err := store.PendingEvents(ctx, 0)
			if err != nil || len(pending) != 3 {
				t.Fatalf("pending %v, %v", pending, err)
			}
			reason := "InvalidArgument: invalid request: events[0].resource: value length must be at most 300 characters"
			for _, e := range pending[1:] {
				if err := store.DeadLetter(ctx, e.Seq, reason); err != nil {
					t.Fatal(err)
				}
			}
			ctl := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := run(ctx, append([]string{"audit", "outbox"}, args...), &out, io.Discard)
				return out.String(), err
			}

			out, err := ctl("list", "--database", database)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			for _, want := range []string{events[1].ID, events[2].ID, "2026-03-01T10:01:00Z", "SubmitRequest", reason,
				"requests/AAAA", "…", `\x1b[2Jcleared\u202egpj.exe`, "2 dead-lettered events", "1 waiting for delivery", "redeliver"} {
				if !strings.Contains(out, want) {
					t.Errorf("list output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, events[0].ID) || strings.ContainsAny(out, "\x1b\u202e") {
				t.Errorf("list shows a pending event, or a raw control character:\n%q", out)
			}

			out, err = ctl("redeliver", "--database", database, "--id", events[1].ID)
			if err != nil || !strings.Contains(out, "put back in the queue: "+events[1].ID) {
				t.Fatalf("redeliver --id = %q, %v", out, err)
			}
			if got, _ := store.PendingEvents(ctx, 0); len(got) != 2 || got[1].Event.ID != events[1].ID {
				t.Errorf("pending after redeliver: %v; want the event back in its place", got)
			}
			_, err = ctl("redeliver", "--database", database, "--id", events[1].ID, "--id", "no-such-event")
			if err == nil || !strings.Contains(err.Error(), "no-such-event") || !strings.Contains(err.Error(), events[1].ID) {
				t.Errorf("redeliver of events that are not dead letters: %v; want an error naming them", err)
			}
			out, err = ctl("redeliver", "--database", database, "--all")
			if err != nil || !strings.Contains(out, "put 1 dead-lettered events back") {
				t.Errorf("redeliver --all = %q, %v", out, err)
			}
			out, err = ctl("list", "--database", database)
			if err != nil || !strings.Contains(out, "0 dead-lettered events; 3 waiting for delivery") {
				t.Errorf("list after redelivering all = %q, %v", out, err)
			}
		})
	}
}

func TestAuditOutboxRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	notOutbox := filepath.Join(dir, "other.db")
	if err := os.WriteFile(notOutbox, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"no database", []string{"list"}, "--database is required", true},
		{"not a database URL", []string{"list", "--database", "mysql://x"}, "want postgres://", true},
		{"a file that does not exist", []string{"list", "--database", "sqlite:" + missing}, "missing.db", false},
		{"a database without outbox", []string{"list", "--database", "sqlite:" + notOutbox}, "holds no audit outbox", false},
		{"negative limit", []string{"list", "--database", "sqlite:" + notOutbox, "--limit", "-1"}, "--limit -1", true},
		{"neither --id nor --all", []string{"redeliver", "--database", "sqlite:" + notOutbox}, "either --id", true},
		{"both --id and --all", []string{"redeliver", "--database", "sqlite:" + notOutbox, "--id", "x", "--all"}, "either --id", true},
		{"unknown subcommand", []string{"purge"}, "unknown command", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"audit", "outbox"}, tc.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errUsage) != tc.usage {
				t.Errorf("got %v; want an error containing %q (usage error: %v)", err, tc.want, tc.usage)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("listing a database that does not exist created it")
	}
}
