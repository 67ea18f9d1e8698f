-- 0002: the record store. Each row is one record of one table, its fields as a JSON object
-- of strings, exactly as the Table API shows them. seq keeps insertion order.
CREATE TABLE records (
    tbl TEXT NOT NULL,
    sys_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tbl, sys_id)
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
