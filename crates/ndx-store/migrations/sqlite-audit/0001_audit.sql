-- ndx audit log (the `<store>-audit.db` file beside the store), schema version 1. Never edit
-- once released: add a new migration. Rows are only ever inserted, by Store::audit_append
-- (entries, nodes, subjects: one transaction per group) and Store::audit_put_head.
--
-- Leaf index -> the entry's canonical bytes.
CREATE TABLE audit_entries (
  idx   INTEGER PRIMARY KEY CHECK (idx >= 0),
  bytes BLOB NOT NULL
);
-- Hash of every complete subtree (level 0 = leaf hashes): proofs read these instead of
-- rehashing the log.
CREATE TABLE audit_nodes (
  level INTEGER NOT NULL CHECK (level >= 0),
  idx   INTEGER NOT NULL CHECK (idx >= 0),
  hash  BLOB NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
-- Every signed tree head, keyed by the size it covers; at_ms is milliseconds since the epoch
-- (what the signature covers).
CREATE TABLE audit_heads (
  tree_size INTEGER PRIMARY KEY CHECK (tree_size >= 0),
  at_ms     INTEGER NOT NULL,
  root      BLOB NOT NULL CHECK (length(root) = 32),
  signature BLOB NOT NULL CHECK (length(signature) = 64)
);
-- The data tracker: keyed hash of a data subject -> the entries that touch it.
CREATE TABLE subject_accesses (
  subject BLOB NOT NULL CHECK (length(subject) = 32),
  idx     INTEGER NOT NULL CHECK (idx >= 0),
  PRIMARY KEY (subject, idx)
) WITHOUT ROWID;
