-- 0003: users' linked ServiceNow accounts, and pending OAuth authorizations (state + PKCE).

CREATE TABLE account_links (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sn_user_name TEXT NOT NULL,
    sn_user_id TEXT NOT NULL,
    refresh_token TEXT,
    linked_at TEXT NOT NULL
);

-- One row per authorization in progress; the state is single-use and short-lived. The PKCE
-- verifier is sealed like any secret.
CREATE TABLE oauth_states (
    state TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_verifier TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
