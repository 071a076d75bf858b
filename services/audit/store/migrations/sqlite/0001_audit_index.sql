-- The index of the audit log. leaf holds the logged bytes, from which every
-- read decodes the event; the other columns of entries are copies of its
-- fields for filtering (the names audit.EntrySchema uses), and entry_states
-- lists the states each event involves, for an auditor's scope.
--
-- Text columns are '' rather than NULL when the event leaves the field out,
-- so that a filter such as actor = "" finds unauthenticated calls. Times are
-- INTEGER microseconds since the Unix epoch, UTC: the unit in which sqlitedb
-- binds a time.Time, so that filters on them compare in time order.
--
-- idx is the rowid, which every other index of entries carries implicitly:
-- a filter on resource, actor or agency pages in log order from its index
-- without sorting.

CREATE TABLE entries (
	idx           INTEGER PRIMARY KEY CHECK (idx >= 0),
	event_id      TEXT NOT NULL UNIQUE,
	event_time    INTEGER NOT NULL,
	service       TEXT NOT NULL,
	action        TEXT NOT NULL,
	resource      TEXT NOT NULL,
	actor_subject TEXT NOT NULL,
	actor_agency  TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	leaf          BLOB NOT NULL
) STRICT;

CREATE INDEX entries_resource ON entries (resource);
CREATE INDEX entries_actor_subject ON entries (actor_subject);
CREATE INDEX entries_actor_agency ON entries (actor_agency);
CREATE INDEX entries_event_time ON entries (event_time);

CREATE TABLE entry_states (
	idx   INTEGER NOT NULL REFERENCES entries (idx),
	state TEXT NOT NULL,
	PRIMARY KEY (state, idx)
) STRICT, WITHOUT ROWID;
