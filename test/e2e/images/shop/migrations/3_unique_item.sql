-- Release 3, broken: the first statement works, the second fails on the rows
-- already there (the load test writes the same items again and again), so
-- the whole migration rolls back in its transaction.
-- +migrate Up
ALTER TABLE orders ADD COLUMN sku text;
CREATE UNIQUE INDEX orders_item_key ON orders (item);

-- +migrate Down
DROP INDEX orders_item_key;
ALTER TABLE orders DROP COLUMN sku;
