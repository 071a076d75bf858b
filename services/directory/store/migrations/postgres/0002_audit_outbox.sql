-- The audit outbox: the event of each change, written in the transaction of
-- the change and delivered by a relay to the audit service, oldest first.
-- The same shape as the request service's outbox.

CREATE TABLE audit_outbox (
	seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id     text COLLATE "C" NOT NULL UNIQUE,
	event        jsonb NOT NULL CHECK (jsonb_typeof(event) = 'object'),
	created_at   timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz
);

CREATE INDEX audit_outbox_pending ON audit_outbox (seq) WHERE delivered_at IS NULL;
