-- Times are INTEGER microseconds since the Unix epoch, UTC: the unit in which
-- sqlitedb binds a time.Time, so that filters on them compare in time order.
-- A deadline not yet set is NULL, so that a comparison such as answer_by < ?
-- never matches it. Booleans are INTEGER 0/1, the way the driver binds a Go
-- bool. STRICT makes SQLite refuse any other type.

-- doc holds the whole request (the form of json.go) and is what reads decode;
-- the other columns are copies of some of its fields, written in the same
-- statement, for filters, ordering and constraints.
CREATE TABLE requests (
	id                TEXT PRIMARY KEY,
	reference         TEXT NOT NULL UNIQUE,
	type              TEXT NOT NULL,
	priority          TEXT NOT NULL,
	status            TEXT NOT NULL,
	requesting_agency TEXT NOT NULL,
	requesting_state  TEXT NOT NULL,
	requested_agency  TEXT NOT NULL,
	requested_state   TEXT NOT NULL,
	owner             TEXT NOT NULL,
	transmitted       INTEGER NOT NULL CHECK (transmitted IN (0, 1)),
	acknowledge_by    INTEGER,
	answer_by         INTEGER,
	create_time       INTEGER NOT NULL,
	update_time       INTEGER NOT NULL,
	version           INTEGER NOT NULL,
	doc               TEXT NOT NULL CHECK (json_type(doc) = 'object')
) STRICT;

CREATE INDEX requests_requesting_state ON requests (requesting_state);
CREATE INDEX requests_requested_state ON requests (requested_state);
CREATE INDEX requests_status ON requests (status);
CREATE INDEX requests_create_time ON requests (create_time);

-- The last reference number given per requesting state and year. Incremented
-- in the transaction that inserts the request, so a rollback leaves no gap.
CREATE TABLE reference_counters (
	state TEXT NOT NULL,
	year  INTEGER NOT NULL,
	last  INTEGER NOT NULL,
	PRIMARY KEY (state, year)
) STRICT;

-- The key is inserted before its request, so the foreign key is checked at
-- commit.
CREATE TABLE idempotency_keys (
	owner      TEXT NOT NULL,
	key        TEXT NOT NULL,
	request_id TEXT NOT NULL REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,
	PRIMARY KEY (owner, key)
) STRICT;

-- AUTOINCREMENT: a seq is never reused, even after the last row is deleted,
-- so that a Watch resuming after a seq cannot miss a new entry.
CREATE TABLE history (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	request_id        TEXT NOT NULL REFERENCES requests (id),
	reference         TEXT NOT NULL,
	from_status       TEXT NOT NULL,
	to_status         TEXT NOT NULL,
	action            TEXT NOT NULL,
	actor_subject     TEXT NOT NULL,
	actor_name        TEXT NOT NULL,
	actor_agency      TEXT NOT NULL,
	time              INTEGER NOT NULL,
	reason            TEXT NOT NULL,
	requesting_agency TEXT NOT NULL,
	requesting_state  TEXT NOT NULL,
	requested_agency  TEXT NOT NULL,
	requested_state   TEXT NOT NULL,
	owner             TEXT NOT NULL
) STRICT;

CREATE INDEX history_request ON history (request_id, seq);

-- The audit outbox: events written with the change they record, delivered
-- by a relay, oldest first.
CREATE TABLE audit_outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id     TEXT NOT NULL UNIQUE,
	event        TEXT NOT NULL CHECK (json_type(event) = 'object'),
	created_at   INTEGER NOT NULL,
	delivered_at INTEGER
) STRICT;

CREATE INDEX audit_outbox_pending ON audit_outbox (seq) WHERE delivered_at IS NULL;

CREATE TABLE messages (
	id             TEXT PRIMARY KEY,
	request_id     TEXT NOT NULL REFERENCES requests (id),
	body           TEXT NOT NULL,
	visibility     TEXT NOT NULL,
	author_subject TEXT NOT NULL,
	author_name    TEXT NOT NULL,
	author_agency  TEXT NOT NULL,
	create_time    INTEGER NOT NULL
) STRICT;

CREATE INDEX messages_request ON messages (request_id, create_time, id);

CREATE TABLE attachments (
	id               TEXT PRIMARY KEY,
	request_id       TEXT NOT NULL REFERENCES requests (id),
	kind             TEXT NOT NULL,
	filename         TEXT NOT NULL,
	media_type       TEXT NOT NULL,
	language         TEXT NOT NULL,
	sha256           TEXT NOT NULL,
	size_bytes       INTEGER NOT NULL,
	blob_key         TEXT NOT NULL,
	uploader_subject TEXT NOT NULL,
	uploader_name    TEXT NOT NULL,
	uploader_agency  TEXT NOT NULL,
	create_time      INTEGER NOT NULL
) STRICT;

CREATE INDEX attachments_request ON attachments (request_id, create_time, id);
