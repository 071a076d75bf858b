-- Treaty profiles (DESIGN §5.6). Per state, the instruments the directory
-- records: a JSON array, NULL while none was ever recorded, so that the
-- seed's entries can be loaded into a directory made before this migration
-- without overwriting what an administrator has since set (even to none).
-- Per instrument, its profile: a JSON object, the same for every state.

ALTER TABLE states ADD COLUMN instruments jsonb
	CHECK (instruments IS NULL OR jsonb_typeof(instruments) = 'array');

CREATE TABLE instruments (
	legal_basis text PRIMARY KEY,
	rank        integer NOT NULL,
	profile     jsonb NOT NULL CHECK (jsonb_typeof(profile) = 'object')
);
