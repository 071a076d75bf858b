package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/comity-mla/comity/services/platform/dburl"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/platform/sqldb"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/trail"
)

// databaseHelp is the --database flag of the outbox commands: the producing
// service's own database, since each keeps its outbox there.
const databaseHelp = "database of the service whose audit outbox to read: comity-request's or comity-directory's, " +
	"sqlite:PATH (e.g. sqlite:./var/request.db) or a postgres:// URL (required)"

// openOutbox opens the audit outbox in the database named by database,
// without migrating anything: the tool runs beside the service that owns
// the database. It checks that the outbox is there, with dead letters.
func openOutbox(ctx context.Context, database string) (trail.Outbox, func(), error) {
	if database == "" {
		return nil, nil, fmt.Errorf("%w: --database is required: %s", errUsage, databaseHelp)
	}
	engine, dsn, err := dburl.Parse(database)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --database: %v", errUsage, err)
	}
	var (
		o       trail.Outbox
		closeDB func()
	)
	switch engine {
	case dburl.SQLite:
		// Opening an SQLite path creates the file: a typo must not make an
		// empty database that then "has no dead letters".
		if _, err := os.Stat(dsn); err != nil {
			return nil, nil, fmt.Errorf("--database %s: %w", database, err)
		}
		db, err := sqlitedb.Open(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		o, closeDB = sqldb.Outbox{DB: sqldb.FromSQLite(db)}, func() { _ = db.Close() }
	default:
		pool, err := pgdb.Open(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		o, closeDB = sqldb.Outbox{DB: sqldb.FromPostgres(pool)}, pool.Close
	}
	if _, err := o.Stats(ctx); err != nil {
		closeDB()
		return nil, nil, fmt.Errorf("--database %s holds no audit outbox with dead letters (is it comity-request's or comity-directory's, "+
			"started at least once by this version?): %w", database, err)
	}
	return o, closeDB, nil
}

func newAuditOutboxCmd(g *globals) *cobra.Command {
	return group("outbox", "The audit events a service set aside (dead letters), and putting them back",
		"  comityctl audit outbox list --database sqlite:./var/request.db\n  comityctl audit outbox redeliver --database sqlite:./var/request.db --all",
		newAuditOutboxListCmd(g), newAuditOutboxRedeliverCmd(g))
}

func newAuditOutboxListCmd(g *globals) *cobra.Command {
	var (
		database string
		limit    int
	)
	c := &cobra.Command{
		Use:         "list",
		Short:       "Show the audit events a service set aside (dead letters): refused by the audit service",
		Example:     "  comityctl audit outbox list --database sqlite:./var/request.db",
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("%w: --limit %d: must be 0 (all) or more", errUsage, limit)
			}
			ctx := c.Context()
			o, closeDB, err := openOutbox(ctx, database)
			if err != nil {
				return err
			}
			defer closeDB()
			dead, err := o.DeadLetters(ctx, limit)
			if err != nil {
				return err
			}
			st, err := o.Stats(ctx)
			if err != nil {
				return err
			}
			return writeDeadLetters(g.stdout, dead, st, time.Now())
		},
	}
	c.Flags().StringVar(&database, "database", "", databaseHelp)
	c.Flags().IntVar(&limit, "limit", 0, "show at most this many dead letters, oldest first (0: all)")
	return c
}

// writeDeadLetters prints the dead letters as a table, then the state of the
// queue. Every field of an event may come from a caller: control and
// invisible characters are escaped, so that none can rewrite the
// operator's terminal.
func writeDeadLetters(w io.Writer, dead []trail.DeadLetter, st trail.OutboxStats, now time.Time) error {
	if len(dead) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT ID\tEVENT TIME\tSET ASIDE\tACTION\tRESOURCE\tREASON")
		for _, d := range dead {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(d.Event.ID, 0),
				d.Event.Time.UTC().Format(time.RFC3339), d.Time.UTC().Format(time.RFC3339),
				printable(d.Event.Action, 0), printable(d.Event.Resource, 60), printable(d.Reason, 0))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("%d dead-lettered events", st.DeadLetters)
	if st.DeadLetters == 1 {
		summary = "1 dead-lettered event"
	}
	if int64(len(dead)) < st.DeadLetters {
		summary += fmt.Sprintf(" (%d shown)", len(dead))
	}
	if st.Backlog == 0 {
		summary += "; no event waiting for delivery"
	} else {
		summary += fmt.Sprintf("; %d waiting for delivery, the oldest for %s", st.Backlog, now.Sub(st.Oldest).Round(time.Second))
	}
	if st.DeadLetters > 0 {
		summary += ". Once the cause is fixed: comityctl audit outbox redeliver --database … --id ID (or --all)"
	}
	_, err := fmt.Fprintln(w, summary+".")
	return err
}

// printable returns s with control and invisible characters escaped (as Go
// escapes them), cut to max runes with "…" when max > 0.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if max > 0 && n == max {
			b.WriteString("…")
			break
		}
		n++
		if r == ' ' || (unicode.IsGraphic(r) && !unicode.Is(unicode.Bidi_Control, r)) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToASCII(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func newAuditOutboxRedeliverCmd(g *globals) *cobra.Command {
	var (
		database string
		ids      []string
		all      bool
	)
	c := &cobra.Command{
		Use:         "redeliver",
		Short:       "Put dead-lettered audit events back in the delivery queue, once the cause is fixed",
		Example:     "  comityctl audit outbox redeliver --database sqlite:./var/request.db --id ID\n  comityctl audit outbox redeliver --database sqlite:./var/request.db --all",
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, _ []string) error {
			if (len(ids) == 0) == !all {
				return fmt.Errorf("%w: give either --id ID (repeatable) or --all", errUsage)
			}
			return auditOutboxRedeliver(c.Context(), database, ids, all, g.stdout)
		},
	}
	c.Flags().StringVar(&database, "database", "", databaseHelp)
	c.Flags().StringSliceVar(&ids, "id", nil, "event id of a dead letter to put back in the queue (repeatable; 'audit outbox list' shows them)")
	c.Flags().BoolVar(&all, "all", false, "put every dead letter back in the queue")
	return c
}

func auditOutboxRedeliver(ctx context.Context, database string, ids []string, all bool, stdout io.Writer) error {
	o, closeDB, err := openOutbox(ctx, database)
	if err != nil {
		return err
	}
	defer closeDB()
	if all {
		n, err := o.RedeliverAll(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "put %d dead-lettered events back in the queue\n", n)
		return err
	}
	back, err := o.Redeliver(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range back {
		if _, err := fmt.Fprintf(stdout, "put back in the queue: %s\n", id); err != nil {
			return err
		}
	}
	var missing []string
	for _, id := range ids {
		if id = printable(id, 80); !slices.Contains(back, id) && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return errors.New("not dead letters of this outbox (delivered, waiting, or unknown; 'audit outbox list' shows the dead letters): " +
			strings.Join(missing, ", "))
	}
	return nil
}
