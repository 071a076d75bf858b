package tlog

import "context"

// NextIndex is the index the next appended leaf will get: every leaf below
// it is sequenced, though perhaps not yet integrated into a checkpoint. The
// audit service waits for a tree of this size before rebuilding its
// index, so that nothing sequenced before a crash is missed.
func (l *Log) NextIndex(ctx context.Context) (uint64, error) {
	return l.reader.NextIndex(ctx)
}
