-- ndx embedded store, schema version 2: the number of non-deleted records of each dataset,
-- kept by every batch's commit, so that counting a dataset reads one row instead of scanning
-- its current keys.
ALTER TABLE datasets ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
UPDATE datasets SET live = (SELECT count(*) FROM current c
                             WHERE c.dataset = datasets.id AND c.deleted = 0);
