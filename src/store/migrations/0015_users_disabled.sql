-- 0015: a user can be disabled (governance/users.c): while disabled_at is set, their API tokens
-- and sessions are refused and they cannot sign in. disabled_by names who did it.
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN disabled_by TEXT;
