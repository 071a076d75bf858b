-- Identifiers use the "C" collation so that ordering by them is byte order,
-- as on SQLite, whatever the database's locale: a page boundary must not move
-- between backends. JSON columns hold arrays and objects, never NULL.

CREATE TABLE states (
	code               text COLLATE "C" PRIMARY KEY,
	display_names      jsonb NOT NULL CHECK (jsonb_typeof(display_names) = 'object'),
	official_languages jsonb NOT NULL CHECK (jsonb_typeof(official_languages) = 'array'),
	accepted_languages jsonb NOT NULL CHECK (jsonb_typeof(accepted_languages) = 'array'),
	time_zone          text NOT NULL,
	trusted_issuers    jsonb NOT NULL CHECK (jsonb_typeof(trusted_issuers) = 'array'),
	version            bigint NOT NULL,
	update_time        timestamptz NOT NULL
);

CREATE TABLE agencies (
	id                 text COLLATE "C" PRIMARY KEY,
	state              text COLLATE "C" NOT NULL REFERENCES states (code),
	kind               text COLLATE "C" NOT NULL,
	display_names      jsonb NOT NULL CHECK (jsonb_typeof(display_names) = 'object'),
	receives           jsonb NOT NULL CHECK (jsonb_typeof(receives) = 'array'),
	accepted_languages jsonb NOT NULL CHECK (jsonb_typeof(accepted_languages) = 'array'),
	contact_points     jsonb NOT NULL CHECK (jsonb_typeof(contact_points) = 'array'),
	active             boolean NOT NULL,
	version            bigint NOT NULL,
	update_time        timestamptz NOT NULL
);

CREATE INDEX agencies_state ON agencies (state);
CREATE INDEX agencies_kind ON agencies (kind);
