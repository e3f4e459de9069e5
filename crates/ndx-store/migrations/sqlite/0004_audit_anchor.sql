-- ndx SQLite store, schema version 4: the audit anchor. Never edit once released: add a new
-- migration. The latest signed tree head of the audit log (a file of its own) that the data
-- store has seen: `ndx audit verify` and the server's start check the log against it, so that
-- deleting, truncating or rewriting the audit file is found without remembered state. One row,
-- present from this migration on (a missing row is tampering); `tree_size = 0` with NULL head
-- columns until the first head is anchored. Only ever moved forward (`WHERE tree_size < new`).
-- `subjects` counts the data-tracker rows of the entries the head covers, so that deleted
-- tracker rows are found at start without reading every entry.
CREATE TABLE audit_anchor (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
  at_ms     INTEGER,
  root      BLOB CHECK (root IS NULL OR length(root) = 32),
  signature BLOB CHECK (signature IS NULL OR length(signature) = 64),
  subjects  INTEGER NOT NULL DEFAULT 0 CHECK (subjects >= 0)
);
INSERT INTO audit_anchor(id, tree_size) VALUES (1, 0);
