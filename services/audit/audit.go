package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/comity-mla/comity/services/query"
)

// OutboxEntry is an event waiting in a producing service's outbox, with its
// position there.
type OutboxEntry struct {
	Seq   int64
	Event Event
}

// DeadLetter is an event of an outbox that the audit service refused as
// invalid, set aside so that the events behind it keep flowing. It stays in
// the outbox, never deleted, until an operator puts it back in the queue
// (Outbox.Redeliver) once the cause is fixed.
type DeadLetter struct {
	OutboxEntry
	// Time is when it was set aside, in UTC.
	Time time.Time
	// Reason is why: the audit service's refusal, as its status said it.
	Reason string
}

// OutboxStats is the state of an outbox's queue, for metrics and health.
type OutboxStats struct {
	// Backlog is how many events wait for delivery, dead letters not
	// counted.
	Backlog int64
	// Oldest is when the oldest of them was written to the outbox, in UTC;
	// zero when Backlog is 0.
	Oldest time.Time
	// DeadLetters is how many events are set aside.
	DeadLetters int64
}

// Outbox is a producing service's side of delivery: the events written with
// its changes, not yet acknowledged by the audit service. An event is
// pending, delivered or dead-lettered; only pending events are sent.
type Outbox interface {
	// PendingEvents returns up to limit (0 or less: all) undelivered events
	// that are not dead-lettered, oldest first. It returns only errors of
	// the database.
	PendingEvents(ctx context.Context, limit int) ([]OutboxEntry, error)
	// MarkDelivered records that the events at seqs are in the log, dead
	// letters among them too (they are no longer set aside: another relay
	// got them in). Unknown or already delivered seqs are ignored; it
	// returns only errors of the database.
	MarkDelivered(ctx context.Context, seqs []int64) error
	// DeadLetter sets the pending event at seq aside with reason, now. An
	// unknown, delivered or already dead-lettered seq is left as it is and
	// reported as errs.ErrNotFound (another relay got to it first); an
	// empty reason is refused with a plain error, since a dead letter must
	// say why; other errors are the database's.
	DeadLetter(ctx context.Context, seq int64, reason string) error
	// DeadLetters returns up to limit (0 or less: all) dead-lettered events,
	// in outbox order. It returns only errors of the database.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Redeliver puts the dead-lettered events with the given event ids back
	// in the queue, in their original place (PendingEvents returns them
	// again), and returns the ids it put back, in outbox order. Ids that
	// are not dead-lettered events of this outbox are left out of the
	// answer, not an error; it returns only errors of the database. It is
	// one statement, safe while a relay runs.
	Redeliver(ctx context.Context, ids []string) ([]string, error)
	// RedeliverAll puts every dead-lettered event back in the queue and
	// returns how many. It returns only errors of the database.
	RedeliverAll(ctx context.Context) (int64, error)
	// Stats returns the size and age of the queue and the number of dead
	// letters. It returns only errors of the database.
	Stats(ctx context.Context) (OutboxStats, error)
}

// DeliveryHealthService is the grpc.health.v1 service name under which a
// producing service reports its audit delivery: SERVING while its oldest
// undelivered event is younger than the alarm bound, NOT_SERVING when it is
// older. It is kept apart from the service's own health (the empty name),
// because a service whose events wait still serves its users (DESIGN §6).
const DeliveryHealthService = "comity.audit.v1.Delivery"

// Leaf is the bytes an event is logged as: its JSON encoding, which is
// deterministic for an Event (struct fields in declaration order, no maps).
// Anyone holding a leaf can decode the event from it and check its
// inclusion in the log.
func Leaf(e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit leaf: %w", err)
	}
	return b, nil
}

// ParseLeaf decodes the event a leaf holds.
func ParseLeaf(leaf []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(leaf, &e); err != nil {
		return Event{}, fmt.Errorf("audit leaf: %w", err)
	}
	return e, nil
}

// Entry is an event at its place in the log.
type Entry struct {
	Index uint64
	Event Event
	// Leaf is the logged bytes (Leaf(Event)).
	Leaf []byte
}

// EntrySchema declares what Index.List (and ListEntries) can filter on, with the index
// columns.
var EntrySchema = query.Schema{
	// resource:"requests/X" selects a request and everything under it
	// (its attachments' events); the columns use a bytewise collation.
	{Name: "resource", Kind: query.String, Column: "resource", Path: true},
	{Name: "actor", Kind: query.String, Column: "actor_subject"},
	{Name: "agency", Kind: query.String, Column: "actor_agency"},
	{Name: "action", Kind: query.String, Column: "action"},
	{Name: "outcome", Kind: query.String, Column: "outcome"},
	{Name: "service", Kind: query.String, Column: "service"},
	{Name: "time", Kind: query.Timestamp, Column: "event_time"},
}

// FromStart is the AfterIndex of a query from the first entry.
const FromStart = -1

// EntryQuery selects entries from the index, in log order.
type EntryQuery struct {
	// State, when not empty, keeps only events involving that state (an
	// auditor's scope).
	State string
	// Filter is on EntrySchema's fields; nil for all.
	Filter query.Expr
	// AfterIndex keeps entries with a greater index; FromStart (-1) for
	// all. Beware: the zero value skips entry 0.
	AfterIndex int64
	// Limit is the most entries returned; 0 means no limit.
	Limit int
	// Descending lists the newest entries first (greatest index first).
	Descending bool
	// BeforeIndex, when not 0, keeps entries with a smaller index: the
	// next page of a descending list. (No entry is below 0, so a bound of
	// 0 would select nothing and is never asked for.)
	BeforeIndex uint64
}

// Index is the audit service's own database of what the log holds, for
// queries and for idempotent appends. It is derived data: the log is the
// truth, and the index can be rebuilt from it.
type Index interface {
	// Lookup returns the log index of each event id already indexed.
	Lookup(ctx context.Context, ids []string) (map[string]uint64, error)
	// Put records entries; an entry already recorded (same index and event
	// id) is not an error. A different event at a recorded index, or a
	// recorded event id at another index, is errs.ErrConflict.
	Put(ctx context.Context, entries []Entry) error
	// Get returns the entry at index, or errs.ErrNotFound.
	Get(ctx context.Context, index uint64) (Entry, error)
	// List returns the entries matching q, in index order (descending when
	// q.Descending).
	List(ctx context.Context, q EntryQuery) ([]Entry, error)
	// Size returns one more than the highest index recorded (0 if none).
	Size(ctx context.Context) (uint64, error)
	// Count returns how many entries are recorded. Count < Size means the
	// index has holes (a crash between logging and indexing) to rebuild.
	Count(ctx context.Context) (uint64, error)
}
