-- 0009: pages of the request list walk (created_at, id) newest first; and how many requests
-- are in each state, and how many of those are linked to ServiceNow,
-- kept by triggers in the same transaction as every change, so the Overview's counts cost a
-- handful of rows however many requests there are.

CREATE TABLE request_counts (
    state TEXT NOT NULL,
    linked INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (state, linked)
);

INSERT INTO request_counts (state, linked, n)
    SELECT state, CASE WHEN sn_sys_id IS NULL THEN 0 ELSE 1 END, COUNT(*) FROM requests
    GROUP BY 1, 2;

-- @sqlite
CREATE TRIGGER requests_counted_insert AFTER INSERT ON requests BEGIN
    INSERT INTO request_counts (state, linked, n) VALUES (NEW.state, NEW.sn_sys_id IS NOT NULL, 1)
        ON CONFLICT (state, linked) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER requests_counted_update AFTER UPDATE OF state, sn_sys_id ON requests BEGIN
    UPDATE request_counts SET n = n - 1
        WHERE state = OLD.state AND linked = (OLD.sn_sys_id IS NOT NULL);
    INSERT INTO request_counts (state, linked, n) VALUES (NEW.state, NEW.sn_sys_id IS NOT NULL, 1)
        ON CONFLICT (state, linked) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER requests_counted_delete AFTER DELETE ON requests BEGIN
    UPDATE request_counts SET n = n - 1
        WHERE state = OLD.state AND linked = (OLD.sn_sys_id IS NOT NULL);
END;

-- @postgres
-- The same three triggers: one PL/pgSQL function; an UPDATE counts only when the state or
-- the link changed (SQLite's UPDATE OF fires on any assignment, and nets to zero then).
CREATE FUNCTION requests_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE request_counts SET n = n - 1
            WHERE state = OLD.state AND linked = (OLD.sn_sys_id IS NOT NULL)::int;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO request_counts (state, linked, n)
            VALUES (NEW.state, (NEW.sn_sys_id IS NOT NULL)::int, 1)
            ON CONFLICT (state, linked) DO UPDATE SET n = request_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER requests_counted_insert AFTER INSERT ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_counted();
CREATE TRIGGER requests_counted_update AFTER UPDATE OF state, sn_sys_id ON requests
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                       OR (OLD.sn_sys_id IS NULL) <> (NEW.sn_sys_id IS NULL))
    EXECUTE FUNCTION requests_counted();
CREATE TRIGGER requests_counted_delete AFTER DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_counted();

-- @all
CREATE INDEX requests_created ON requests (created_at, id);
CREATE INDEX requests_requester ON requests (requester, created_at);
