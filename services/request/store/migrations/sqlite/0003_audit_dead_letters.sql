-- Dead letters of the audit outbox: an event the audit service refuses as
-- invalid is set aside, with when and why, so that the events behind it keep
-- flowing (DESIGN §6). It stays here, never deleted, until an operator puts
-- it back in the queue (comityctl audit outbox redeliver).

ALTER TABLE audit_outbox ADD COLUMN dead_letter_time INTEGER;
ALTER TABLE audit_outbox ADD COLUMN dead_letter_reason TEXT;

-- The queue is what is neither delivered nor set aside.
DROP INDEX audit_outbox_pending;
CREATE INDEX audit_outbox_pending ON audit_outbox (seq) WHERE delivered_at IS NULL AND dead_letter_time IS NULL;
CREATE INDEX audit_outbox_dead_letters ON audit_outbox (seq) WHERE dead_letter_time IS NOT NULL;
