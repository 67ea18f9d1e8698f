-- 0004: how the integration obtains tokens, when the refresh token runs out, and the last
-- known number of linked ServiceNow requests.
ALTER TABLE integrations ADD COLUMN grant_type TEXT;
ALTER TABLE integrations ADD COLUMN refresh_expires INTEGER;
ALTER TABLE integrations ADD COLUMN linked_count INTEGER;
