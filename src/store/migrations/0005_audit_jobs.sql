-- 0005: the append-only, hash-chained audit log, and the durable job queue.

-- Each entry's hash covers the previous entry's hash, so editing or deleting an entry breaks
-- the chain from there on (snowgate audit verify). seq is assigned by the writer, in the same
-- transaction as the change it records.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- Every background step is a job. A job is claimed with a lease; a crashed worker's lease
-- expires and another takes the job over. dedup_key makes enqueueing idempotent.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    lease_owner TEXT,
    lease_until INTEGER,
    dedup_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (state, run_at);
