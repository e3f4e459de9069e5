-- ndx PostgreSQL store, schema version 8: the blob area (open-data release files). Never edit
-- once released: add a new migration. A blob is written once, in one transaction: its size
-- and SHA-256, and its content in chunks of 1 MiB numbered from 0.
CREATE TABLE blobs (
  name   text PRIMARY KEY,
  bytes  bigint NOT NULL CHECK (bytes >= 0),
  sha256 text NOT NULL
);
CREATE TABLE blob_chunks (
  name  text NOT NULL REFERENCES blobs(name) ON DELETE CASCADE,
  seq   integer NOT NULL CHECK (seq >= 0),
  data  bytea NOT NULL,
  PRIMARY KEY (name, seq)
);
