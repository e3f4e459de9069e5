-- ndx SQLite store, schema version 7: which version replaced which. Never edit once released:
-- add a new migration. A row per version that a later one replaced (an update or a deletion):
-- `rec` the replaced version's rowid, `by` its successor's. Read by rowid range beside the
-- records themselves, it tells a snapshot (the dataset as it stood at a feed position) which
-- versions were still current there without a lookup per record in `current`.
CREATE TABLE superseded (
  rec INTEGER PRIMARY KEY,
  by  INTEGER NOT NULL
);
INSERT INTO superseded(rec, by) SELECT prev, rowid FROM records WHERE prev IS NOT NULL;
