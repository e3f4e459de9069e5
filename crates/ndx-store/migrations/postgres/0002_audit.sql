-- ndx PostgreSQL store, schema version 2: the audit log. Never edit once released: add a new
-- migration. Rows are only ever inserted, by Store::audit_append (entries, nodes, subjects:
-- one transaction per group, under the audit advisory lock) and Store::audit_put_head.
--
-- Leaf index -> the entry's canonical bytes.
CREATE TABLE audit_entries (
  idx   bigint PRIMARY KEY CHECK (idx >= 0),
  bytes bytea NOT NULL
);
-- Hash of every complete subtree (level 0 = leaf hashes): proofs read these instead of
-- rehashing the log.
CREATE TABLE audit_nodes (
  level integer NOT NULL CHECK (level >= 0),
  idx   bigint NOT NULL CHECK (idx >= 0),
  hash  bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
-- Every signed tree head, keyed by the size it covers (times are whole milliseconds: what
-- the signature covers).
CREATE TABLE audit_heads (
  tree_size  bigint PRIMARY KEY CHECK (tree_size >= 0),
  signed_at  timestamptz NOT NULL,
  root       bytea NOT NULL CHECK (length(root) = 32),
  signature  bytea NOT NULL CHECK (length(signature) = 64)
);
-- The data tracker: keyed hash of a data subject -> the entries that touch it.
CREATE TABLE subject_accesses (
  subject bytea NOT NULL CHECK (length(subject) = 32),
  idx     bigint NOT NULL CHECK (idx >= 0),
  PRIMARY KEY (subject, idx)
);
