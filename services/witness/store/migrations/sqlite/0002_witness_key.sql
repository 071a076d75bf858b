-- The witness's cosignature/v1 verifier key, recorded on its first start
-- (one row): a witness started on this database with another key, or with
-- none while the database holds state, refuses to start rather than cosign
-- with a key no witness policy holds.
CREATE TABLE witness_key (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	vkey TEXT NOT NULL
) STRICT;
