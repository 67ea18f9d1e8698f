-- 0001: snowsim's base schema. The record store arrives with the Table API.
CREATE TABLE sim_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
