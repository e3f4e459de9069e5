-- ndx PostgreSQL store, schema version 6: catalogue generations. Never edit once released: add
-- a new migration. Every catalogue write of a watched kind raises its kind's generation in the
-- same transaction, so that a process (or several sharing the store) can keep catalogue objects
-- in memory and know with one small read whether any of them changed. A kind without a row
-- has generation 0.
CREATE TABLE catalog_generations (
  kind       text PRIMARY KEY,
  generation bigint NOT NULL CHECK (generation > 0)
);
