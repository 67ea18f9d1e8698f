-- 0018: when a job was queued, in unix milliseconds, so that the worker can tell how long it
-- waited before it ran (snowgate_job_wait_seconds, and the per-hop debug log of a decision).
-- NULL for jobs queued before this migration.
ALTER TABLE jobs ADD COLUMN queued_ms INTEGER;
