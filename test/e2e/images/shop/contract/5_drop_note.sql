-- Release 5's contract step: release 5 no longer reads or writes orders.note,
-- but release 4 does, on every request. Dropped while a pod of release 4 still
-- serves, its next request fails with `column "note" does not exist`.
-- +migrate Up
ALTER TABLE orders DROP COLUMN note;

-- +migrate Down
ALTER TABLE orders ADD COLUMN note text;
