-- 0002: users with API tokens, the ServiceNow integration, and received webhook events.
-- Ids are text (random hex) so the same schema runs on SQLite and PostgreSQL.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'steward', 'member')),
    email TEXT,
    created_at TEXT NOT NULL
);

-- API tokens are 256-bit random values; only their SHA-256 is stored.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);

-- One row per integration (name 'servicenow'). Secrets are AES-256-GCM under the master key,
-- base64, bound to "integrations:<name>:<column>".
CREATE TABLE integrations (
    name TEXT PRIMARY KEY,
    instance_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    refresh_token TEXT,
    refresh_expires_at TEXT,
    sn_user TEXT,
    sn_user_id TEXT,
    status TEXT NOT NULL,
    status_reason TEXT,
    last_test TEXT,
    updated_at TEXT NOT NULL
);

-- Every accepted webhook, stored before the 2xx; the id (webhook-id) deduplicates.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    processed_at TEXT
);
