-- The purpose a reader declared, copied from the event of a read of
-- content (DESIGN §10) for the filter purpose = "…"; '' on every other
-- event. The entries indexed before it are of events logged before any
-- event had a purpose: '' is what their leaves say.

ALTER TABLE entries ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
