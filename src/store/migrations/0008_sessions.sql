-- 0008: passwords and browser sessions for the web UI, and failed sign-ins for rate limiting.

ALTER TABLE users ADD COLUMN password_hash TEXT;

-- A session is known by the SHA-256 of its cookie value; the CSRF token is sent back in a
-- header on every change.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One row per failed sign-in, by user name and by client address; old rows are pruned.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);
