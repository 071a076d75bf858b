-- DESIGN §6.1: the witness each state's oversight body runs, its base URL
-- and its cosignature/v1 public key; both NULL for a state that records
-- none, as every state stored before this migration reads. Never one
-- without the other: half a witness makes no policy.
ALTER TABLE states ADD COLUMN witness_url text;
ALTER TABLE states ADD COLUMN witness_public_key text;
ALTER TABLE states ADD CONSTRAINT states_witness_whole
	CHECK ((witness_url IS NULL) = (witness_public_key IS NULL));
