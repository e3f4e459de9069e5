-- ndx audit log, schema version 2: the data tracker written in log order and indexed in sorted
-- runs (an LSM), so that an append never scatters rows over one index ordered by keyed hash.
--
-- subject_log: what the appender writes, in log order (a group's rows land on a few pages at
-- the end of the tree). subject_accesses: sorted runs, each the rows of a range of entries in
-- (subject, idx) order under its own run number, so that a run is written as an append too.
-- subject_runs: the runs. A row of the tracker is in exactly one of two places: in
-- subject_log with idx >= the largest end_idx of a live run, or in a live run. Building and
-- dead runs are invisible to readers (their rows are being written or deleted).

CREATE TABLE subject_log (
  idx     INTEGER NOT NULL CHECK (idx >= 0),
  subject BLOB NOT NULL CHECK (length(subject) = 32),
  PRIMARY KEY (idx, subject)
) WITHOUT ROWID;

CREATE TABLE subject_runs (
  run       INTEGER PRIMARY KEY,
  level     INTEGER NOT NULL CHECK (level >= 1),
  first_idx INTEGER NOT NULL CHECK (first_idx >= 0),
  end_idx   INTEGER NOT NULL CHECK (end_idx >= first_idx),
  rows      INTEGER NOT NULL CHECK (rows >= 0),
  state     TEXT NOT NULL CHECK (state IN ('building', 'live', 'dead'))
);

CREATE TABLE subject_run_rows (
  run     INTEGER NOT NULL,
  subject BLOB NOT NULL CHECK (length(subject) = 32),
  idx     INTEGER NOT NULL CHECK (idx >= 0),
  PRIMARY KEY (run, subject, idx)
) WITHOUT ROWID;

-- The rows of version 1 go to the log; the folder sorts them into runs in bounded steps.
INSERT INTO subject_log(idx, subject) SELECT idx, subject FROM subject_accesses ORDER BY idx, subject;
DROP TABLE subject_accesses;
ALTER TABLE subject_run_rows RENAME TO subject_accesses;
