package trail

import (
	"context"
	"time"
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
