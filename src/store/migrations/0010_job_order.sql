-- 0010: jobs that must run one after another. Jobs sharing a `serial` (the ServiceNow updates
-- of one request) run in `serial_seq` order, never two at once, however many workers claim.

ALTER TABLE jobs ADD COLUMN serial TEXT;
ALTER TABLE jobs ADD COLUMN serial_seq INTEGER;
CREATE INDEX jobs_serial ON jobs (serial, state);
