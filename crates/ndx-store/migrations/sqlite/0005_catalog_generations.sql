-- ndx SQLite store, schema version 5: catalogue generations. Never edit once released: add a
-- new migration. Every catalogue write of a watched kind raises its kind's generation in the
-- same transaction, so that a process (or several sharing the store) can keep catalogue objects
-- in memory and know with one small read whether any of them changed. A kind without a row
-- has generation 0.
CREATE TABLE catalog_generations (
  kind       TEXT PRIMARY KEY,
  generation INTEGER NOT NULL CHECK (generation > 0)
) WITHOUT ROWID;
