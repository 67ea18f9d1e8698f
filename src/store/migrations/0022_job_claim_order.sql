-- 0022: a claim walks the queued jobs in the order it takes them (run_at, created_at) and stops
-- at the first it may run, instead of reading every due job and sorting them; and a queued
-- job of a kind and payload is found without a scan (a re-read of a request already waiting
-- to run absorbs a second one, see sg_jobs_enqueue_coalesced).
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (state, run_at, created_at);
-- run_at in it too: with it, SQLite's planner (no statistics) prefers this index to
-- jobs_ready for that lookup, which would read every queued job.
CREATE INDEX jobs_queued_payload ON jobs (kind, payload, run_at) WHERE state = 'queued';
