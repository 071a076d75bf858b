package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/trail"
)

// Leaf is the bytes an event is logged as: its JSON encoding, which is
// deterministic for an Event (struct fields in declaration order, no maps).
// Anyone holding a leaf can decode the event from it and check its
// inclusion in the log.
func Leaf(e trail.Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit leaf: %w", err)
	}
	return b, nil
}

// ParseLeaf decodes the event a leaf holds.
func ParseLeaf(leaf []byte) (trail.Event, error) {
	var e trail.Event
	if err := json.Unmarshal(leaf, &e); err != nil {
		return trail.Event{}, fmt.Errorf("audit leaf: %w", err)
	}
	return e, nil
}

// Entry is an event at its place in the log.
type Entry struct {
	Index uint64
	Event trail.Event
	// Leaf is the logged bytes (Leaf(Event)).
	Leaf []byte
}

// EntrySchema declares what Index.List (and ListEntries) can filter on, in
// the domain's names; the index store maps them to its columns.
var EntrySchema = query.Schema{
	// resource:"requests/X" selects a request and everything under it
	// (its attachments' events).
	{Name: "resource", Kind: query.String, Path: true},
	{Name: "actor", Kind: query.String},
	{Name: "agency", Kind: query.String},
	{Name: "action", Kind: query.String},
	{Name: "outcome", Kind: query.String},
	{Name: "service", Kind: query.String},
	// purpose:"undeclared" finds the reads of content whose reader
	// declared no purpose (DESIGN §10); purpose = "" the other events.
	{Name: "purpose", Kind: query.String},
	{Name: "time", Kind: query.Timestamp},
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
