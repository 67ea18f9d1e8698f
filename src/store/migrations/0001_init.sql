-- 0001: the base schema. Later issues add their tables in new numbered files.
-- Portable SQL only: it runs on SQLite and PostgreSQL alike.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
