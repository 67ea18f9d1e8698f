-- 0012: a sign-in attempt is counted before its password is checked, so parallel guesses cannot
-- all pass the limit; a successful attempt removes its own rows by this id.
ALTER TABLE login_failures ADD COLUMN attempt TEXT;
CREATE INDEX login_failures_attempt ON login_failures (attempt);
