-- ndx embedded store, schema version 1. Never edit once released: add a new migration.
CREATE TABLE members (
  code TEXT PRIMARY KEY,
  body TEXT NOT NULL
);
CREATE TABLE systems (
  code   TEXT PRIMARY KEY,
  member TEXT NOT NULL REFERENCES members(code),
  body   TEXT NOT NULL
);
CREATE TABLE api_keys (
  id       TEXT PRIMARY KEY,
  system   TEXT NOT NULL REFERENCES systems(code),
  key_hash TEXT NOT NULL UNIQUE,
  body     TEXT NOT NULL
);
CREATE INDEX api_keys_system ON api_keys(system);
CREATE TABLE elements (
  id         TEXT PRIMARY KEY,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE code_lists (
  id         TEXT NOT NULL,
  version    INTEGER NOT NULL,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE TABLE schemas (
  dataset    TEXT NOT NULL,
  major      INTEGER NOT NULL,
  minor      INTEGER NOT NULL,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (dataset, major, minor)
);
-- Small integer ids keep the record tables compact.
CREATE TABLE datasets (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
-- One row per applied batch: the lineage every record version points to, and the stored
-- report that makes resubmission idempotent. report IS NULL only inside the open transaction.
CREATE TABLE batches (
  seq            INTEGER PRIMARY KEY,
  dataset        INTEGER NOT NULL REFERENCES datasets(id),
  batch_id       TEXT NOT NULL,
  request_hash   TEXT NOT NULL,
  source_system  TEXT NOT NULL,
  schema_version TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  report         TEXT,
  UNIQUE (dataset, batch_id)
);
-- Every version of every record, append-only; prev links a version to the one before it.
-- body IS NULL marks a tombstone.
CREATE TABLE records (
  dataset INTEGER NOT NULL,
  key     TEXT NOT NULL,
  version INTEGER NOT NULL,
  batch   INTEGER NOT NULL,
  hash    BLOB NOT NULL,
  body    TEXT,
  prev    INTEGER
);
-- The current version of each key: rec points into records (which holds version, hash and
-- batch; keeping this index small keeps bulk loads fast).
CREATE TABLE current (
  dataset INTEGER NOT NULL,
  key     TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  rec     INTEGER NOT NULL,
  PRIMARY KEY (dataset, key)
) WITHOUT ROWID;
