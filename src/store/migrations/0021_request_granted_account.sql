-- 0021: the database account a grant was applied to (governance/fulfilment.c). Fulfilment
-- fixes it when it claims the request (approved -> fulfilling, before the connector runs) and
-- keeps it when the request is recorded fulfilled; the expiry and a revoke take the privileges
-- back from this account, not from the person's database role of the moment, which an admin
-- may have changed since. NULL for a grant made without an account (webhook, manual) and for
-- grants fulfilled before this migration: for those, fulfilment falls back to the person's
-- current users.db_role, as it did before.
ALTER TABLE requests ADD COLUMN granted_account TEXT;
