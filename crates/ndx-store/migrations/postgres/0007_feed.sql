-- ndx PostgreSQL store, schema version 7: the change feed. Never edit once released: add a new
-- migration. Every version a batch writes has a position in a gap-free sequence per dataset:
-- `datasets.feed_head` is the last position given. A batch holds its dataset's row lock from
-- its start to its commit, so it numbers its versions from the head it read there and moves
-- the head at commit: batches of one dataset never interleave, and a reader that sees a
-- position sees every position below it.
ALTER TABLE datasets ADD COLUMN feed_head bigint NOT NULL DEFAULT 0;
ALTER TABLE versions ADD COLUMN position bigint;
-- Existing versions are numbered in batch order, then key and version order within a batch.
UPDATE versions v SET position = n.position
  FROM (SELECT dataset, key, version,
               row_number() OVER (PARTITION BY dataset ORDER BY batch, key, version) AS position
          FROM versions) n
 WHERE v.dataset = n.dataset AND v.key = n.key AND v.version = n.version;
ALTER TABLE versions ALTER COLUMN position SET NOT NULL;
ALTER TABLE versions ADD CONSTRAINT versions_position_positive CHECK (position > 0);
CREATE UNIQUE INDEX versions_feed ON versions(dataset, position);
UPDATE datasets d SET feed_head =
  coalesce((SELECT max(position) FROM versions v WHERE v.dataset = d.id), 0);
