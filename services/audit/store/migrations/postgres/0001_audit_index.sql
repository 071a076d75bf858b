-- The index of the audit log. leaf holds the logged bytes, from which every
-- read decodes the event; the other columns of entries are copies of its
-- fields for filtering (the names audit.EntrySchema uses), and entry_states
-- lists the states each event involves, for an auditor's scope.
--
-- Text columns are '' rather than NULL when the event leaves the field out,
-- so that a filter such as actor = "" finds unauthenticated calls. They use
-- the "C" collation so that range filters compare bytes, as on SQLite,
-- whatever the database's locale. The filter indexes end in idx so that a
-- filtered list pages in log order without sorting.

CREATE TABLE entries (
	idx           bigint PRIMARY KEY CHECK (idx >= 0),
	event_id      text COLLATE "C" NOT NULL UNIQUE,
	event_time    timestamptz NOT NULL,
	service       text COLLATE "C" NOT NULL,
	action        text COLLATE "C" NOT NULL,
	resource      text COLLATE "C" NOT NULL,
	actor_subject text COLLATE "C" NOT NULL,
	actor_agency  text COLLATE "C" NOT NULL,
	outcome       text COLLATE "C" NOT NULL,
	leaf          bytea NOT NULL
);

CREATE INDEX entries_resource ON entries (resource, idx);
CREATE INDEX entries_actor_subject ON entries (actor_subject, idx);
CREATE INDEX entries_actor_agency ON entries (actor_agency, idx);
CREATE INDEX entries_event_time ON entries (event_time, idx);

CREATE TABLE entry_states (
	idx   bigint NOT NULL REFERENCES entries (idx),
	state text COLLATE "C" NOT NULL,
	PRIMARY KEY (state, idx)
);
