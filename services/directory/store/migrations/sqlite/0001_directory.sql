-- JSON columns hold arrays and objects, never NULL, so that a reader need not
-- tell a missing list from an empty one. Times are INTEGER microseconds since
-- the Unix epoch, UTC: the unit in which sqlitedb binds a time.Time, so that
-- filters on them compare in time order. Booleans are INTEGER 0/1, the way the
-- driver binds a Go bool. STRICT makes SQLite refuse any other type.

CREATE TABLE states (
	code               TEXT PRIMARY KEY,
	display_names      TEXT NOT NULL CHECK (json_type(display_names) = 'object'),
	official_languages TEXT NOT NULL CHECK (json_type(official_languages) = 'array'),
	accepted_languages TEXT NOT NULL CHECK (json_type(accepted_languages) = 'array'),
	time_zone          TEXT NOT NULL,
	trusted_issuers    TEXT NOT NULL CHECK (json_type(trusted_issuers) = 'array'),
	version            INTEGER NOT NULL,
	update_time        INTEGER NOT NULL
) STRICT;

CREATE TABLE agencies (
	id                 TEXT PRIMARY KEY,
	state              TEXT NOT NULL REFERENCES states (code),
	kind               TEXT NOT NULL,
	display_names      TEXT NOT NULL CHECK (json_type(display_names) = 'object'),
	receives           TEXT NOT NULL CHECK (json_type(receives) = 'array'),
	accepted_languages TEXT NOT NULL CHECK (json_type(accepted_languages) = 'array'),
	contact_points     TEXT NOT NULL CHECK (json_type(contact_points) = 'array'),
	active             INTEGER NOT NULL CHECK (active IN (0, 1)),
	version            INTEGER NOT NULL,
	update_time        INTEGER NOT NULL
) STRICT;

CREATE INDEX agencies_state ON agencies (state);
CREATE INDEX agencies_kind ON agencies (kind);
