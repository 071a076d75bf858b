-- DESIGN §10: retention and erasure, obligations under use conditions, and
-- data subjects' requests.
--
-- retention_from is request.Request.RetentionStart: when the retention
-- period of a request's personal data runs from (its close, or its last
-- change while never transmitted); NULL while nothing is due (an open case,
-- a legal hold, an erased request). The retention sweep selects on it. The
-- requests stored before it get it here from what they are: a closed one
-- from its last change, one never transmitted likewise.
ALTER TABLE requests ADD COLUMN retention_from timestamptz;
UPDATE requests SET retention_from = update_time WHERE status = 'CLOSED' OR NOT transmitted;
CREATE INDEX requests_retention_from ON requests (retention_from) WHERE retention_from IS NOT NULL;

-- When the evidence falls due for erasure under a DELETE_BY or RETURN
-- condition; NULL for none and once erased.
ALTER TABLE requests ADD COLUMN evidence_erase_by timestamptz;
CREATE INDEX requests_evidence_erase_by ON requests (evidence_erase_by) WHERE evidence_erase_by IS NOT NULL;

-- The earliest open obligation of the requesting side (a report of use, a
-- legal hold's review), for the overdue filter; NULL for none.
ALTER TABLE requests ADD COLUMN obligation_due_by timestamptz;

-- Whether an erasure began and may have left attachment content in the
-- blob store (a crash between the two): the sweep finishes it.
ALTER TABLE requests ADD COLUMN erasure_pending boolean NOT NULL DEFAULT false;
CREATE INDEX requests_erasure_pending ON requests (id) WHERE erasure_pending;

-- When an attachment's content was erased; NULL while it is kept.
ALTER TABLE attachments ADD COLUMN erase_time timestamptz;

-- A person's request for access to, correction or erasure of their data,
-- recorded by a central authority of state. doc holds the whole record
-- (request.DataSubjectRequest as JSON); review_by is its ReviewBy, for the
-- overdue filter.
CREATE TABLE data_subject_requests (
	id           text COLLATE "C" PRIMARY KEY,
	state        text COLLATE "C" NOT NULL,
	receive_time timestamptz NOT NULL,
	review_by    timestamptz,
	create_time  timestamptz NOT NULL,
	update_time  timestamptz NOT NULL,
	version      bigint NOT NULL,
	doc          jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object')
);

CREATE INDEX data_subject_requests_state ON data_subject_requests (state, receive_time DESC, id DESC);
