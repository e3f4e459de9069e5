-- ndx PostgreSQL store, schema version 3: the versions of records in one table.
--
-- `records` (every version, with a record id and a `prev` link) and `current` (the latest
-- version of each key) become `versions`, keyed by (dataset, key, version): the current version
-- of a key is its highest, the first entry of its key in the index. Writing a version is
-- then one row and one index entry, where it was two of each plus an upsert.
CREATE TABLE versions (
  dataset integer NOT NULL,
  key     text COLLATE "C" NOT NULL,
  version bigint NOT NULL CHECK (version > 0),
  batch   bigint NOT NULL,
  -- SHA-256 of the canonical body; empty for a tombstone (body IS NULL).
  hash    bytea NOT NULL,
  body    text
);
INSERT INTO versions(dataset, key, version, batch, hash, body)
  SELECT dataset, key, version, batch, hash, body FROM records;
-- Newest version first within a key: the current version is the first entry of its key, and a
-- page of current records (DISTINCT ON (key) … ORDER BY key, version DESC) is one forward scan.
-- (A primary key cannot order a column descending; this unique index plays its part, also as
-- the replica identity for logical replication.)
CREATE UNIQUE INDEX versions_key ON versions(dataset, key, version DESC);
ALTER TABLE versions REPLICA IDENTITY USING INDEX versions_key;

-- The number of non-deleted records of each dataset, kept by every batch's commit.
ALTER TABLE datasets ADD COLUMN live bigint NOT NULL DEFAULT 0;
UPDATE datasets d SET live = (SELECT count(*) FROM current c
                               WHERE c.dataset = d.id AND NOT c.deleted);
ALTER TABLE datasets DROP COLUMN next_rec;

DROP TABLE current;
DROP TABLE records;
