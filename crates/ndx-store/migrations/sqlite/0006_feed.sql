-- ndx SQLite store, schema version 6: the change feed. Never edit once released: add a new
-- migration. Every version a batch writes has a position in a gap-free sequence per dataset,
-- taken at the batch's commit: `datasets.feed_head` is the last position given. A batch's
-- versions occupy consecutive rowids of `records` (the writer predicts and checks each), so a
-- batch row keeps where they start (`first_rec`), how many there are (`changes`) and the
-- position of the first (`first_position`): the feed is read by rowid range, with no index
-- per version.
ALTER TABLE datasets ADD COLUMN feed_head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN first_position INTEGER;
ALTER TABLE batches ADD COLUMN first_rec INTEGER;
ALTER TABLE batches ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;

-- Existing versions are numbered in batch order, then rowid order within a batch.
CREATE TEMP TABLE feed_batches AS
  SELECT batch, min(rowid) AS first_rec, max(rowid) AS last_rec, count(*) AS changes
    FROM records GROUP BY batch;
-- A batch whose versions are not consecutive cannot be read by range: the migration stops
-- (and the store stays at version 5) rather than number them wrongly.
CREATE TEMP TABLE feed_check (consecutive INTEGER NOT NULL CHECK (consecutive));
INSERT INTO feed_check SELECT last_rec - first_rec + 1 = changes FROM feed_batches;
UPDATE batches SET first_rec = f.first_rec, changes = f.changes
  FROM feed_batches f WHERE f.batch = batches.seq;
UPDATE batches SET first_position = p.first_position
  FROM (SELECT seq, sum(changes) OVER (PARTITION BY dataset ORDER BY seq) - changes + 1
                    AS first_position
          FROM batches) p
 WHERE p.seq = batches.seq;
UPDATE datasets SET feed_head =
  coalesce((SELECT sum(changes) FROM batches b WHERE b.dataset = datasets.id), 0);
DROP TABLE feed_batches;
DROP TABLE feed_check;

-- The batch holding a position: the last batch with versions whose first position is at or
-- below it.
CREATE INDEX batches_feed ON batches(dataset, first_position) WHERE changes > 0;
