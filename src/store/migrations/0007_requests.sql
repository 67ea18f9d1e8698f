-- 0007: access requests and their history.

-- state: pending -> approved -> fulfilled -> expired | revoked, with rejected, cancelled and
-- failed on the way (governance/requests.c holds the transition table).
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL REFERENCES assets (id),
    action TEXT NOT NULL CHECK (action IN ('grant', 'revoke')),
    privilege TEXT NOT NULL CHECK (privilege IN ('read', 'write')),
    justification TEXT NOT NULL,
    duration TEXT,
    duration_s INTEGER,
    requester TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decision_comment TEXT,
    decided_at TEXT,
    reason TEXT,
    expires_at TEXT,
    sn_sys_id TEXT,
    sn_number TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX requests_state ON requests (state, created_at);
CREATE INDEX requests_beneficiary ON requests (beneficiary, state);

-- event: transition (from_state -> to_state) or conflict (a later decision that was recorded
-- and not applied; to_state is the decision that lost).
CREATE TABLE request_history (
    request_id TEXT NOT NULL REFERENCES requests (id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('transition', 'conflict')),
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);
