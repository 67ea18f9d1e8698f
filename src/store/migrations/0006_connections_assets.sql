-- 0006: data sources (connections) and the governed assets in them.

-- kind: postgres (config: {"dsn"} with the password sealed in `secret`), webhook (config:
-- {"url"}, signing secret sealed in `secret`), manual (someone fulfils by hand).
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('postgres', 'webhook', 'manual')),
    config TEXT NOT NULL,
    secret TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE assets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    owners TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
);

ALTER TABLE users ADD COLUMN db_role TEXT;
