-- A request_id (AIP-155) belongs to the user who sent it, and a user is an
-- issuer's subject acting for an agency: a `sub` is unique only at its
-- issuer, so a key scoped by subject alone let a user of another state, whose
-- issuer gave them the same `sub`, replay a key and read the request it made.
-- body_sha256 is the SHA-256 of the create's body, so that a key reused for a
-- different request is refused instead of answered with the first request.
--
-- The key is inserted before its request, so that a concurrent Create with
-- the same key waits on it; the foreign key is therefore checked at commit.
CREATE TABLE create_keys (
	issuer      text COLLATE "C" NOT NULL,
	subject     text COLLATE "C" NOT NULL,
	agency      text COLLATE "C" NOT NULL,
	key         text COLLATE "C" NOT NULL,
	body_sha256 text COLLATE "C" NOT NULL,
	request_id  text COLLATE "C" NOT NULL REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,
	PRIMARY KEY (issuer, subject, agency, key)
);

-- Keys kept before this migration knew only the owner's subject. They are
-- carried over with the agency of the request they made, an empty issuer
-- (unknown) and an empty digest (unknown), so that a retry that spans the
-- upgrade still finds its request. The store matches such a key for any
-- issuer, but only for that subject at that agency, whose prosecutors may
-- read the request anyway, and every replay is checked for visibility.
INSERT INTO create_keys (issuer, subject, agency, key, body_sha256, request_id)
	SELECT '', k.owner, r.requesting_agency, k.key, '', k.request_id
	FROM idempotency_keys k JOIN requests r ON r.id = k.request_id;

DROP TABLE idempotency_keys;
