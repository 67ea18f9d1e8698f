-- 0017: rotating the ServiceNow webhook signing secret (servicenow/webhook_secret.c).
-- webhook_secret_previous is still accepted until webhook_secret_previous_until (unix seconds),
-- so that events ServiceNow signed before it took the new secret are not lost. It is sealed
-- with the same binding as webhook_secret ("integrations:servicenow:webhook_secret"): the two
-- hold the same kind of secret and trade places in SQL. webhook_secret_rotating is set
-- (unix seconds) while a rotation runs, so that two cannot interleave; a crashed one expires.
ALTER TABLE integrations ADD COLUMN webhook_secret_previous TEXT;
ALTER TABLE integrations ADD COLUMN webhook_secret_previous_until INTEGER;
ALTER TABLE integrations ADD COLUMN webhook_secret_rotated_at TEXT;
ALTER TABLE integrations ADD COLUMN webhook_secret_rotating INTEGER;
