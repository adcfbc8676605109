-- A contract step that fails: the column is not there.
-- +migrate Up
ALTER TABLE orders DROP COLUMN no_such_column;

-- +migrate Down
SELECT 1;
