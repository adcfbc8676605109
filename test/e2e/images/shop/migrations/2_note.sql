-- Release 2, an expand step: a nullable column, so release 1 keeps writing
-- rows without it. The sleep stands in for a backfill, so that the old pods
-- serve for a few seconds while the migration runs. It comes first: ALTER
-- TABLE holds its ACCESS EXCLUSIVE lock until the transaction ends, and
-- every request of the old pods would wait behind it.
-- +migrate Up
SELECT pg_sleep(4);
ALTER TABLE orders ADD COLUMN note text;

-- +migrate Down
ALTER TABLE orders DROP COLUMN note;
