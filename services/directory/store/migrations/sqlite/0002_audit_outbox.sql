-- The audit outbox: the event of each change, written in the transaction of
-- the change and delivered by a relay to the audit service, oldest first.
-- The same shape as the request service's outbox. AUTOINCREMENT keeps a seq
-- from being reused after the newest rows are deleted.

CREATE TABLE audit_outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id     TEXT NOT NULL UNIQUE,
	event        TEXT NOT NULL CHECK (json_type(event) = 'object'),
	created_at   INTEGER NOT NULL,
	delivered_at INTEGER
) STRICT;

CREATE INDEX audit_outbox_pending ON audit_outbox (seq) WHERE delivered_at IS NULL;
