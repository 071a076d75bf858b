-- Claim mappings of a state's trusted issuers (DESIGN §3): for each issuer
-- that does not emit Comity's own claims, where its tokens carry the agency,
-- the roles and the name, and how its values translate into Comity's. A JSON
-- array of objects; an issuer it does not list has the default mapping, so
-- existing states keep verifying tokens as before.

ALTER TABLE states ADD COLUMN claim_mappings jsonb NOT NULL DEFAULT '[]'
	CHECK (jsonb_typeof(claim_mappings) = 'array');
