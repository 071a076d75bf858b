-- Identifiers and enum values use the "C" collation so that ordering by them
-- is byte order, as on SQLite, whatever the database's locale: a page
-- boundary must not move between backends. A deadline not yet set is NULL,
-- so that a comparison such as answer_by < $1 never matches it.

-- doc holds the whole request (the form of json.go) and is what reads decode;
-- the other columns are copies of some of its fields, written in the same
-- statement, for filters, ordering and constraints.
CREATE TABLE requests (
	id                text COLLATE "C" PRIMARY KEY,
	reference         text COLLATE "C" NOT NULL UNIQUE,
	type              text COLLATE "C" NOT NULL,
	priority          text COLLATE "C" NOT NULL,
	status            text COLLATE "C" NOT NULL,
	requesting_agency text COLLATE "C" NOT NULL,
	requesting_state  text COLLATE "C" NOT NULL,
	requested_agency  text COLLATE "C" NOT NULL,
	requested_state   text COLLATE "C" NOT NULL,
	owner             text COLLATE "C" NOT NULL,
	transmitted       boolean NOT NULL,
	acknowledge_by    timestamptz,
	answer_by         timestamptz,
	create_time       timestamptz NOT NULL,
	update_time       timestamptz NOT NULL,
	version           bigint NOT NULL,
	doc               jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object')
);

CREATE INDEX requests_requesting_state ON requests (requesting_state);
CREATE INDEX requests_requested_state ON requests (requested_state);
CREATE INDEX requests_status ON requests (status);
CREATE INDEX requests_create_time ON requests (create_time);

-- The last reference number given per requesting state and year. Create
-- increments it with an upsert in the transaction that inserts the request:
-- the row lock makes concurrent creators take turns, and a rollback leaves
-- no gap.
CREATE TABLE reference_counters (
	state text COLLATE "C" NOT NULL,
	year  integer NOT NULL,
	last  bigint NOT NULL,
	PRIMARY KEY (state, year)
);

-- The key is inserted before its request, so that a concurrent Create with
-- the same key waits on it; the foreign key is therefore checked at commit.
CREATE TABLE idempotency_keys (
	owner      text COLLATE "C" NOT NULL,
	key        text COLLATE "C" NOT NULL,
	request_id text COLLATE "C" NOT NULL REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,
	PRIMARY KEY (owner, key)
);

-- Inserts take an advisory lock first (see the store), so that entries
-- commit in seq order and a Watch following seq never skips one.
CREATE TABLE history (
	seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_id        text COLLATE "C" NOT NULL REFERENCES requests (id),
	reference         text COLLATE "C" NOT NULL,
	from_status       text COLLATE "C" NOT NULL,
	to_status         text COLLATE "C" NOT NULL,
	action            text NOT NULL,
	actor_subject     text NOT NULL,
	actor_name        text NOT NULL,
	actor_agency      text NOT NULL,
	time              timestamptz NOT NULL,
	reason            text NOT NULL,
	requesting_agency text COLLATE "C" NOT NULL,
	requesting_state  text COLLATE "C" NOT NULL,
	requested_agency  text COLLATE "C" NOT NULL,
	requested_state   text COLLATE "C" NOT NULL,
	owner             text COLLATE "C" NOT NULL
);

CREATE INDEX history_request ON history (request_id, seq);

-- The audit outbox: events written with the change they record, delivered
-- by a relay, oldest first.
CREATE TABLE audit_outbox (
	seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id     text COLLATE "C" NOT NULL UNIQUE,
	event        jsonb NOT NULL CHECK (jsonb_typeof(event) = 'object'),
	created_at   timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz
);

CREATE INDEX audit_outbox_pending ON audit_outbox (seq) WHERE delivered_at IS NULL;

CREATE TABLE messages (
	id             text COLLATE "C" PRIMARY KEY,
	request_id     text COLLATE "C" NOT NULL REFERENCES requests (id),
	body           text NOT NULL,
	visibility     text COLLATE "C" NOT NULL,
	author_subject text NOT NULL,
	author_name    text NOT NULL,
	author_agency  text NOT NULL,
	create_time    timestamptz NOT NULL
);

CREATE INDEX messages_request ON messages (request_id, create_time, id);

CREATE TABLE attachments (
	id               text COLLATE "C" PRIMARY KEY,
	request_id       text COLLATE "C" NOT NULL REFERENCES requests (id),
	kind             text COLLATE "C" NOT NULL,
	filename         text NOT NULL,
	media_type       text NOT NULL,
	language         text NOT NULL,
	sha256           text NOT NULL,
	size_bytes       bigint NOT NULL,
	blob_key         text NOT NULL,
	uploader_subject text NOT NULL,
	uploader_name    text NOT NULL,
	uploader_agency  text NOT NULL,
	create_time      timestamptz NOT NULL
);

CREATE INDEX attachments_request ON attachments (request_id, create_time, id);
