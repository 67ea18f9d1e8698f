-- 0020: connections of kind mysql (MariaDB and MySQL; config: {"dsn"} with the password sealed
-- in `secret`), beside postgres, webhook and manual.
-- @sqlite
-- SQLite cannot change a CHECK in place, and rebuilding the table would trip the assets'
-- foreign key inside the migration's transaction. So kind is made again as a new column (its
-- CHECK and NOT NULL go with the old column; the DEFAULT is only there because SQLite adds a
-- NOT NULL column with one, and every insert names the kind), and takes the old one's name.
ALTER TABLE connections ADD COLUMN kind_new TEXT NOT NULL DEFAULT 'manual'
    CHECK (kind_new IN ('postgres', 'mysql', 'webhook', 'manual'));
UPDATE connections SET kind_new = kind;
ALTER TABLE connections DROP COLUMN kind;
ALTER TABLE connections RENAME COLUMN kind_new TO kind;
-- @postgres
ALTER TABLE connections DROP CONSTRAINT connections_kind_check;
ALTER TABLE connections ADD CONSTRAINT connections_kind_check
    CHECK (kind IN ('postgres', 'mysql', 'webhook', 'manual'));
