-- Release 1: the orders table.
-- +migrate Up
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  item text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- +migrate Down
DROP TABLE orders;
