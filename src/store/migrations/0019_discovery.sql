-- 0019: discovery (governance/discovery.c). An asset is active, or gone: discovery no longer
-- finds it in its data source. A gone asset is never deleted (its grants and requests keep
-- pointing at it), new requests for it are refused, and it turns active again when it comes
-- back. discovered says whether discovery created it: discovery never changes the type of
-- an asset an admin registered (discovered = 0), nor its owners or a description it has, and
-- only fills in an empty description.
-- A connection keeps the state of its last discovery run (JSON: state, percent, counts, error,
-- the run's options), when one last finished, and how often to run it (seconds; 0: only when
-- asked).
ALTER TABLE assets ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
ALTER TABLE assets ADD COLUMN discovered INTEGER NOT NULL DEFAULT 0;
CREATE INDEX assets_connection ON assets (connection_id);
ALTER TABLE connections ADD COLUMN discovery TEXT;
ALTER TABLE connections ADD COLUMN discovered_at INTEGER;
ALTER TABLE connections ADD COLUMN discovery_interval INTEGER NOT NULL DEFAULT 0;
