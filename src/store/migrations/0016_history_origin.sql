-- 0016: where each history entry came from (governance/requests.c), stored rather than guessed
-- from the actor's name: snowgate (a person or job here), servicenow (a decision read from
-- ServiceNow, never written back to it) or expiry (the expiry sweep). The mirror reads it.
-- Older rows are derived once, here, from the names sync gave ServiceNow's actors
-- ("servicenow" or "servicenow:<user_name>"); this is the only place that guess is made.
ALTER TABLE request_history ADD COLUMN origin TEXT NOT NULL DEFAULT 'snowgate'
    CHECK (origin IN ('snowgate', 'servicenow', 'expiry'));
UPDATE request_history SET origin = 'servicenow'
    WHERE actor = 'servicenow' OR actor LIKE 'servicenow:%';
UPDATE request_history SET origin = 'expiry'
    WHERE actor = 'snowgate' AND event = 'transition' AND to_state = 'expired';
