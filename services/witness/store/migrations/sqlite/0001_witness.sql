-- The witness's state (package witness/store). latest holds, per log
-- origin, the last checkpoint the witness cosigned, with the log's
-- signature and the witness's cosignature, as the library stores it: the
-- one every later checkpoint of that log must be consistent with.
-- checkpoint is NULL only in the row an Update inserts to lock the origin
-- before the first checkpoint, which it either fills or rolls back; no
-- committed row has it NULL.
CREATE TABLE latest (
	origin     TEXT PRIMARY KEY,
	checkpoint BLOB
) STRICT;

-- history keeps every checkpoint the witness cosigned, in the order it
-- did, so that its oversight body can see what it signed. size and
-- root_hash are copies of the checkpoint's for reading without parsing
-- it. Times are INTEGER microseconds since the Unix epoch, UTC.
CREATE TABLE history (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	origin      TEXT NOT NULL,
	size        INTEGER NOT NULL CHECK (size >= 0),
	root_hash   BLOB NOT NULL,
	checkpoint  BLOB NOT NULL,
	cosigned_at INTEGER NOT NULL
) STRICT;

CREATE INDEX history_origin ON history (origin, seq);
