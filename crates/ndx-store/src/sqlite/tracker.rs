//! The data tracker on SQLite, an LSM (audit schema version 2): the appender writes a group's
//! rows in log order (`subject_log`), and a folder sorts them into runs keyed by run, subject
//! and entry (`subject_accesses`, listed in `subject_runs`), merging `fanout` runs of a level
//! into one of the next. Every write is an append to the end of a tree, where one index
//! ordered by keyed hash made every extract page rewrite thousands of pages scattered over it.
//!
//! A row is visible in exactly one place: in the log at or after the largest `end_idx` of a
//! live run ("the log's tail"), or in a live run. A run is built under state `building`
//! (invisible), in chunks that each take the writer for a moment, and switched live in one
//! transaction that also retires its sources (the log's rows by moving the tail, merged runs
//! by state `dead`); retired rows are deleted afterwards, a chunk at a time. That transaction
//! checks that its sources are still what it read, so two processes folding the same file
//! cannot both publish the same rows: the later one abandons its run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::AuditFile;
use crate::audit::{loaded_bytes, loaded_index, stored_index};
use crate::{FoldLimits, FoldReport, Result, StoreError, SubjectAccess};

/// The first entry of the log's tail: entries below it are in live runs.
const TAIL: &str = "(SELECT coalesce(max(end_idx), 0) FROM subject_runs WHERE state = 'live')";

/// Stores a group's tracker rows at the end of the log (a repeated row is stored once).
pub(super) fn append(c: &Connection, subjects: &[SubjectAccess]) -> Result<()> {
    let mut insert =
        c.prepare_cached("INSERT OR IGNORE INTO subject_log(idx, subject) VALUES (?1, ?2)")?;
    for access in subjects {
        insert.execute(params![stored_index(access.index)?, access.subject])?;
    }
    Ok(())
}

/// Indexes `<= last` of the entries touching `subject`, newest first, at most `limit`: the
/// log's tail scanned (it is small: the folder keeps it under a flush), one seek per live run.
pub(super) fn accesses(
    c: &Connection,
    subject: &[u8; 32],
    last: i64,
    limit: i64,
) -> Result<Vec<u64>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT idx FROM subject_log WHERE idx >= {TAIL} AND subject = ?1 AND idx <= ?2
         UNION ALL
         SELECT a.idx FROM subject_runs r CROSS JOIN subject_accesses a ON a.run = r.run
          WHERE r.state = 'live' AND a.subject = ?1 AND a.idx <= ?2
         ORDER BY 1 DESC LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![subject, last, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(loaded_index(row.get(0)?)?);
    }
    Ok(out)
}

/// The number of tracker rows of the entries below `end`, counted row by row (the anchor's
/// check must see deleted rows, so no stored count stands in for them).
pub(super) fn count(c: &Connection, end: i64) -> Result<u64> {
    let n: i64 = c
        .prepare_cached(&format!(
            "SELECT (SELECT count(*) FROM subject_log WHERE idx >= {TAIL} AND idx < ?1)
                  + (SELECT count(*) FROM subject_runs r CROSS JOIN subject_accesses a ON a.run = r.run
                      WHERE r.state = 'live' AND a.idx < ?1)"
        ))?
        .query_row([end], |r| r.get(0))?;
    loaded_index(n)
}

/// Rows after (`subject`, `index`) in (subject, index) order, at most `limit`, in one read
/// transaction: the log's tail and each live run read from the cursor on in that order and
/// merged, each stepped only as far as the page needs.
pub(super) fn rows(
    c: &Connection,
    subject: &[u8],
    index: i64,
    limit: i64,
) -> Result<Vec<SubjectAccess>> {
    in_snapshot(c, || rows_in_snapshot(c, subject, index, limit))
}

/// Runs `f`'s reads on `c` in one read transaction, so that they see one state of the file.
fn in_snapshot<T>(c: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    c.execute_batch("BEGIN")?;
    let out = f();
    c.execute_batch("COMMIT")?;
    out
}

fn rows_in_snapshot(
    c: &Connection,
    subject: &[u8],
    index: i64,
    limit: i64,
) -> Result<Vec<SubjectAccess>> {
    let runs: Vec<i64> = c
        .prepare_cached("SELECT run FROM subject_runs WHERE state = 'live' ORDER BY run")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // Every read binds (run, subject, entry, limit); the log's leaves `?1` (no run) unused.
    let mut statements = vec![(
        c.prepare_cached(&format!(
            "SELECT subject, idx FROM subject_log
              WHERE idx >= {TAIL} AND (subject, idx) > (?2, ?3)
              ORDER BY subject, idx LIMIT ?4"
        ))?,
        None,
    )];
    for run in runs {
        statements.push((c.prepare_cached(RUN_PAGE_SQL)?, Some(run)));
    }
    let mut sources = Vec::with_capacity(statements.len());
    for (stmt, run) in &mut statements {
        sources.push(stmt.query(params![*run, subject, index, limit])?);
    }
    let mut heads = MergeHeads::new(sources.len(), |i| next_row(&mut sources[i]))?;
    let mut out = Vec::new();
    while out.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
        let Some((subject, idx)) = heads.pop(|i| next_row(&mut sources[i]))? else {
            break;
        };
        out.push(SubjectAccess {
            subject,
            index: loaded_index(idx)?,
        });
    }
    Ok(out)
}

/// The heads of a k-way merge of sorted sources: the next row of each source not yet taken,
/// smallest first. `next(i)` reads source `i`'s next row.
struct MergeHeads(BinaryHeap<Reverse<(Row, usize)>>);

impl MergeHeads {
    fn new(
        sources: usize,
        mut next: impl FnMut(usize) -> Result<Option<Row>>,
    ) -> Result<MergeHeads> {
        let mut heap = BinaryHeap::with_capacity(sources);
        for i in 0..sources {
            if let Some(row) = next(i)? {
                heap.push(Reverse((row, i)));
            }
        }
        Ok(MergeHeads(heap))
    }

    /// Takes the smallest row and puts its source's next one in its place.
    fn pop(&mut self, mut next: impl FnMut(usize) -> Result<Option<Row>>) -> Result<Option<Row>> {
        let Some(Reverse((row, i))) = self.0.pop() else {
            return Ok(None);
        };
        if let Some(following) = next(i)? {
            self.0.push(Reverse((following, i)));
        }
        Ok(Some(row))
    }
}

/// A run's rows after (`?2` subject, `?3` entry) in that order, at most `?4`.
const RUN_PAGE_SQL: &str = "SELECT subject, idx FROM subject_accesses
      WHERE run = ?1 AND (subject, idx) > (?2, ?3)
      ORDER BY subject, idx LIMIT ?4";

/// The next (subject, entry) row of a read.
fn next_row(rows: &mut rusqlite::Rows<'_>) -> Result<Option<Row>> {
    Ok(match rows.next()? {
        Some(row) => Some((
            loaded_bytes(&row.get::<_, Vec<u8>>(0)?, "subject hash")?,
            row.get(1)?,
        )),
        None => None,
    })
}

/// What the folder keeps between calls.
#[derive(Debug, Default)]
pub(super) struct FoldState {
    /// Runs left `building` by an earlier process were retired by this one.
    swept: bool,
}

/// A tracker row as the folder moves it: (subject hash, entry index as stored).
type Row = ([u8; 32], i64);

/// A live run as the folder reads it.
#[derive(Debug, Clone, Copy)]
struct Run {
    run: i64,
    level: i64,
    first: i64,
    end: i64,
    rows: i64,
}

/// Where a run's rows come from, checked again when it goes live.
enum Sources {
    /// The log's tail from this entry on (the tail must still start there).
    Log { first: i64 },
    /// These live runs (all must still be live; they die with the switch).
    Runs(Vec<i64>),
}

/// Folds for at most `limits.budget`: flushes the log's tail into a run when it holds
/// `log_flush_rows` rows, merges `fanout` runs of a level when there are that many, and
/// deletes what moved. Serialised within the process; across processes the switch's checks
/// keep it correct.
pub(super) fn fold(file: &AuditFile, limits: &FoldLimits) -> Result<FoldReport> {
    let mut state = file.fold_state();
    let mut report = FoldReport::default();
    let started = Instant::now();
    if !state.swept {
        // Runs left building by a crash (or by a process folding now, which then abandons).
        file.unsynced(|c| {
            c.execute(
                "UPDATE subject_runs SET state = 'dead' WHERE state = 'building'",
                [],
            )?;
            Ok(())
        })?;
        state.swept = true;
    }
    let mut folded = false;
    while started.elapsed() < limits.budget {
        if let Some(done) = flush(file, limits)? {
            tally(&mut report, done, |r| &mut r.flushed);
        } else if let Some(done) = merge(file, limits)? {
            tally(&mut report, done, |r| &mut r.merged);
        } else {
            folded = true;
            break;
        }
    }
    let mut purged = false;
    while folded && started.elapsed() < limits.budget {
        let n = purge(file, limits.chunk)?;
        if n == 0 {
            purged = true;
            break;
        }
        report.purged += n;
    }
    report.pending = !purged;
    Ok(report)
}

/// Adds a built run's rows to the report, or counts it abandoned.
fn tally(report: &mut FoldReport, done: Option<u64>, field: fn(&mut FoldReport) -> &mut u64) {
    match done {
        Some(n) => *field(report) += n,
        None => report.abandoned += 1,
    }
}

/// Sorts the oldest entries of the log's tail into a run of level 1 when the tail holds
/// `log_flush_rows` rows. `None`: nothing to flush; `Some(None)`: abandoned.
fn flush(file: &AuditFile, limits: &FoldLimits) -> Result<Option<Option<u64>>> {
    let threshold = stored_index(limits.log_flush_rows as u64)?;
    // A run from the log holds whole entries and about four flushes at most (a tail that
    // grew while the folder was busy is sorted in several runs, each in memory).
    let most = limits.log_flush_rows.saturating_mul(4);
    let taken = file.read(|c| {
        in_snapshot(c, || -> Result<Option<(i64, i64, Vec<Row>)>> {
            let first: i64 = c.query_row(&format!("SELECT {TAIL}"), [], |r| r.get(0))?;
            let tail: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM (SELECT 1 FROM subject_log WHERE idx >= ?1 LIMIT ?2)",
                )?
                .query_row(params![first, threshold], |r| r.get(0))?;
            if tail < threshold {
                return Ok(None);
            }
            let mut rows = read_log(
                c,
                "idx >= ?1 ORDER BY idx, subject LIMIT ?2",
                first,
                most + 1,
            )?;
            let end = if rows.len() > most {
                let cut = rows[most].1;
                rows.retain(|r| r.1 < cut);
                if rows.is_empty() {
                    // One entry names more subjects than a run takes: it goes alone.
                    rows = read_log(c, "idx = ?1 LIMIT ?2", cut, usize::MAX)?;
                    cut + 1
                } else {
                    cut
                }
            } else {
                rows.last().map_or(first, |r| r.1 + 1)
            };
            Ok(Some((first, end, rows)))
        })
    })?;
    let Some((first, end, mut rows)) = taken else {
        return Ok(None);
    };
    rows.sort_unstable();
    let total = rows.len();
    let chunks = rows.chunks(limits.chunk).map(|c| Ok(c.to_vec()));
    let run = Run {
        run: 0,
        level: 1,
        first,
        end,
        rows: i64::try_from(total).unwrap_or(i64::MAX),
    };
    build(file, run, chunks, Sources::Log { first }).map(Some)
}

/// Rows of the log matching `filter` (with `?1` and `?2` bound to `a` and `b`).
fn read_log(c: &Connection, filter: &str, a: i64, b: usize) -> Result<Vec<Row>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT subject, idx FROM subject_log WHERE {filter}"
    ))?;
    let mut rows = stmt.query(params![a, i64::try_from(b).unwrap_or(i64::MAX)])?;
    let mut out = Vec::new();
    while let Some(row) = next_row(&mut rows)? {
        out.push(row);
    }
    Ok(out)
}

/// Merges the `fanout` oldest live runs of the lowest level that has that many into one run
/// of the next level. `None`: nothing to merge; `Some(None)`: abandoned.
fn merge(file: &AuditFile, limits: &FoldLimits) -> Result<Option<Option<u64>>> {
    let live: Vec<Run> = file.read(|c| {
        c.prepare_cached(
            "SELECT run, level, first_idx, end_idx, rows FROM subject_runs
              WHERE state = 'live' ORDER BY level, run",
        )?
        .query_map([], |r| {
            Ok(Run {
                run: r.get(0)?,
                level: r.get(1)?,
                first: r.get(2)?,
                end: r.get(3)?,
                rows: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()
        .map_err(Into::into)
    })?;
    let Some(sources) = live
        .chunk_by(|a, b| a.level == b.level)
        .find(|level| level.len() >= limits.fanout)
        .map(|level| &level[..limits.fanout])
    else {
        return Ok(None);
    };
    let run = Run {
        run: 0,
        level: sources[0].level + 1,
        first: sources.iter().map(|r| r.first).min().unwrap_or(0),
        end: sources.iter().map(|r| r.end).max().unwrap_or(0),
        rows: sources.iter().map(|r| r.rows).sum(),
    };
    let ids: Vec<i64> = sources.iter().map(|r| r.run).collect();
    let merged = Merge::new(file, &ids, limits.chunk);
    build(file, run, merged, Sources::Runs(ids)).map(Some)
}

/// A k-way merge of sorted runs, read a page per run at a time, yielding chunks of rows.
struct Merge<'a> {
    file: &'a AuditFile,
    chunk: usize,
    sources: Vec<RunPages>,
    /// Set by the first chunk.
    heads: Option<MergeHeads>,
}

/// One run read a page at a time.
struct RunPages {
    run: i64,
    /// Rows read and not yet merged.
    buffer: VecDeque<Row>,
    /// The last row read: the next page starts after it.
    last: Option<Row>,
    /// The last page was short: the run is read to its end.
    done: bool,
}

impl RunPages {
    /// The next row (reading the next page of `chunk` rows when the buffer is empty).
    fn next(&mut self, file: &AuditFile, chunk: usize) -> Result<Option<Row>> {
        if self.buffer.is_empty() && !self.done {
            let (subject, index) = match &self.last {
                Some((s, i)) => (s.to_vec(), *i),
                None => (Vec::new(), -1),
            };
            let page = file.read(|c| {
                let mut stmt = c.prepare_cached(RUN_PAGE_SQL)?;
                let mut rows = stmt.query(params![
                    self.run,
                    subject,
                    index,
                    i64::try_from(chunk).unwrap_or(i64::MAX)
                ])?;
                let mut out = VecDeque::new();
                while let Some(row) = next_row(&mut rows)? {
                    out.push_back(row);
                }
                Ok(out)
            })?;
            self.done = page.len() < chunk;
            self.last = page.back().copied().or(self.last);
            self.buffer = page;
        }
        Ok(self.buffer.pop_front())
    }
}

impl<'a> Merge<'a> {
    fn new(file: &'a AuditFile, runs: &[i64], chunk: usize) -> Merge<'a> {
        Merge {
            file,
            chunk,
            sources: runs
                .iter()
                .map(|&run| RunPages {
                    run,
                    buffer: VecDeque::new(),
                    last: None,
                    done: false,
                })
                .collect(),
            heads: None,
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<Row>>> {
        let (file, chunk, sources) = (self.file, self.chunk, &mut self.sources);
        let heads = match &mut self.heads {
            Some(heads) => heads,
            None => self.heads.insert(MergeHeads::new(sources.len(), |i| {
                sources[i].next(file, chunk)
            })?),
        };
        let mut out = Vec::with_capacity(chunk);
        while out.len() < chunk {
            let Some(row) = heads.pop(|i| sources[i].next(file, chunk))? else {
                break;
            };
            out.push(row);
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<Vec<Row>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// Builds `run` from sorted `chunks`, invisible until it is complete, then switches it live
/// and retires its sources in one transaction. `Some(rows)`: live; `None`: abandoned (its
/// sources changed meanwhile, or its rows did not add up), its rows left for the purge.
fn build(
    file: &AuditFile,
    run: Run,
    chunks: impl Iterator<Item = Result<Vec<Row>>>,
    sources: Sources,
) -> Result<Option<u64>> {
    let id = file.unsynced(|c| {
        c.prepare_cached(
            "INSERT INTO subject_runs(level, first_idx, end_idx, rows, state)
             VALUES (?1, ?2, ?3, ?4, 'building')",
        )?
        .execute(params![run.level, run.first, run.end, run.rows])?;
        Ok(c.last_insert_rowid())
    })?;
    let written = (|| -> Result<i64> {
        let mut written = 0i64;
        for chunk in chunks {
            let chunk = chunk?;
            file.unsynced(|c| {
                let mut insert = c.prepare_cached(
                    "INSERT INTO subject_accesses(run, subject, idx) VALUES (?1, ?2, ?3)",
                )?;
                for (subject, idx) in &chunk {
                    insert.execute(params![id, subject, idx])?;
                }
                Ok(())
            })?;
            written += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
        }
        Ok(written)
    })();
    let switched = match written {
        Ok(n) if n == run.rows => match file.unsynced(|c| switch(c, id, &sources)) {
            Err(e) if is_abandoned(&e) => Ok(false),
            other => other,
        },
        Ok(_) => Ok(false),
        Err(e) => Err(e),
    };
    match switched {
        Ok(true) => Ok(Some(u64::try_from(run.rows).unwrap_or(0))),
        Ok(false) | Err(_) => {
            file.unsynced(|c| {
                c.execute(
                    "UPDATE subject_runs SET state = 'dead' WHERE run = ?1 AND state = 'building'",
                    [id],
                )?;
                Ok(())
            })?;
            switched.map(|_| None)
        }
    }
}

/// Switches run `id` live and retires its sources, or changes nothing and says `false` when
/// they are no longer what the run was built from.
fn switch(c: &Connection, id: i64, sources: &Sources) -> Result<bool> {
    let still = match sources {
        Sources::Log { first } => {
            let tail: i64 = c.query_row(&format!("SELECT {TAIL}"), [], |r| r.get(0))?;
            tail == *first
        }
        Sources::Runs(runs) => {
            let mut retire = c.prepare_cached(
                "UPDATE subject_runs SET state = 'dead' WHERE run = ?1 AND state = 'live'",
            )?;
            let mut all = true;
            for run in runs {
                all &= retire.execute([run])? == 1;
            }
            all
        }
    };
    let live = still
        && c.execute(
            "UPDATE subject_runs SET state = 'live' WHERE run = ?1 AND state = 'building'",
            [id],
        )? == 1;
    if !live {
        // Undo what this transaction retired: the caller's transaction commits otherwise.
        return Err(StoreError::Conflict(ABANDONED.into()));
    }
    Ok(true)
}

const ABANDONED: &str = "the tracker run's sources changed while it was built";

/// Deletes about `chunk` rows that moved (the log below its tail, then the rows of dead runs,
/// then dead runs without rows), each as one range of its tree. Returns how many rows or
/// runs it deleted.
fn purge(file: &AuditFile, chunk: usize) -> Result<u64> {
    let offset = i64::try_from(chunk - 1).unwrap_or(i64::MAX);
    file.unsynced(|c| {
        // Whole entries up to the chunk's last, never past the tail (at least one row).
        let n = c
            .prepare_cached(&format!(
                "DELETE FROM subject_log WHERE idx <= min({TAIL} - 1,
                   coalesce((SELECT idx FROM subject_log ORDER BY idx LIMIT 1 OFFSET ?1), {TAIL}))"
            ))?
            .execute([offset])?;
        if n > 0 {
            return Ok(n as u64);
        }
        let Some(dead): Option<i64> = c
            .query_row(
                "SELECT run FROM subject_runs WHERE state = 'dead' ORDER BY run LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
        else {
            return Ok(0);
        };
        let bound: Option<(Vec<u8>, i64)> = c
            .prepare_cached(
                "SELECT subject, idx FROM subject_accesses WHERE run = ?1
                  ORDER BY subject, idx LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![dead, offset], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let n = match bound {
            Some((subject, idx)) => c
                .prepare_cached(
                    "DELETE FROM subject_accesses WHERE run = ?1 AND (subject, idx) <= (?2, ?3)",
                )?
                .execute(params![dead, subject, idx])?,
            None => c
                .prepare_cached("DELETE FROM subject_accesses WHERE run = ?1")?
                .execute([dead])?,
        };
        if n == 0 {
            c.execute("DELETE FROM subject_runs WHERE run = ?1", [dead])?;
            return Ok(1);
        }
        Ok(n as u64)
    })
}

/// The abandonment `switch` reports through its transaction (rolled back), told apart from
/// a real failure by `build`.
fn is_abandoned(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(m) if m == ABANDONED)
}
