-- ndx PostgreSQL store, schema version 1. Never edit once released: add a new migration.
-- Applied inside one transaction holding the migration advisory lock; the version is recorded
-- in ndx_schema_version by the code that applies it.
--
-- Every ordered text key uses the "C" collation: byte order, the same as SQLite's BINARY and
-- Rust's string order, whatever the database's locale (cursor pagination depends on it).
CREATE TABLE members (
  code text COLLATE "C" PRIMARY KEY,
  body text NOT NULL
);
CREATE TABLE systems (
  code   text COLLATE "C" PRIMARY KEY,
  member text COLLATE "C" NOT NULL REFERENCES members(code),
  body   text NOT NULL
);
CREATE TABLE api_keys (
  id       text COLLATE "C" PRIMARY KEY,
  system   text COLLATE "C" NOT NULL REFERENCES systems(code),
  key_hash text NOT NULL UNIQUE,
  body     text NOT NULL
);
CREATE INDEX api_keys_system ON api_keys(system);
CREATE TABLE elements (
  id         text COLLATE "C" PRIMARY KEY,
  body       text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE code_lists (
  id         text COLLATE "C" NOT NULL,
  version    bigint NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE TABLE schemas (
  dataset    text COLLATE "C" NOT NULL,
  major      bigint NOT NULL,
  minor      bigint NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (dataset, major, minor)
);
-- Small integer ids keep the record tables compact. A batch locks its dataset's row
-- (FOR NO KEY UPDATE) for its whole transaction: writers of one dataset are serialized, and
-- the lock holder allocates record ids from next_rec (stored back at commit).
CREATE TABLE datasets (
  id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name     text COLLATE "C" NOT NULL UNIQUE,
  next_rec bigint NOT NULL DEFAULT 1
);
-- One row per applied batch: the lineage every record version points to, and the stored
-- report that makes resubmission idempotent. report IS NULL only inside the open transaction.
CREATE TABLE batches (
  seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dataset        integer NOT NULL REFERENCES datasets(id),
  batch_id       text NOT NULL,
  request_hash   text NOT NULL,
  source_system  text NOT NULL,
  schema_version text NOT NULL,
  created_at     timestamptz NOT NULL,
  report         text,
  UNIQUE (dataset, batch_id)
);
-- Every version of every record, append-only; prev links a version to the one before it
-- (same dataset). body IS NULL marks a tombstone (its hash is empty).
CREATE TABLE records (
  dataset integer NOT NULL,
  id      bigint NOT NULL,
  key     text COLLATE "C" NOT NULL,
  version bigint NOT NULL,
  batch   bigint NOT NULL,
  hash    bytea NOT NULL,
  body    text,
  prev    bigint,
  PRIMARY KEY (dataset, id)
);
-- The current version of each key. It carries the content hash so that a chunk of writes
-- decides its outcomes from one lookup of this table alone.
CREATE TABLE current (
  dataset integer NOT NULL,
  key     text COLLATE "C" NOT NULL,
  version bigint NOT NULL,
  batch   bigint NOT NULL,
  deleted boolean NOT NULL,
  hash    bytea NOT NULL,
  rec     bigint NOT NULL,
  PRIMARY KEY (dataset, key)
);
