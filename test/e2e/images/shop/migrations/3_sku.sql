-- Release 4, the fix of release 3: the column, and an index that allows the
-- duplicates. It replaces 3_unique_item.sql, which never committed.
-- +migrate Up
ALTER TABLE orders ADD COLUMN sku text;
CREATE INDEX orders_item_idx ON orders (item);

-- +migrate Down
DROP INDEX orders_item_idx;
ALTER TABLE orders DROP COLUMN sku;
