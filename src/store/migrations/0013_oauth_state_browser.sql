-- 0013: a pending ServiceNow account link is bound to the browser that started it. The browser
-- keeps a random nonce in an HttpOnly cookie; only its SHA-256 (hex) is stored here, and the
-- callback refuses a browser whose cookie does not hash to it. Rows from before this column
-- have no hash and can only be refused (they expire within minutes anyway).

ALTER TABLE oauth_states ADD COLUMN browser_hash TEXT;
