-- DESIGN §10: how long the personal data and content of a state's requests
-- are kept after they are closed, in nanoseconds (time.Duration); NULL for
-- a state that sets none (the deployment's default), as every state stored
-- before this migration reads.
ALTER TABLE states ADD COLUMN retention_after_close_ns INTEGER
	CHECK (retention_after_close_ns IS NULL OR retention_after_close_ns > 0);
