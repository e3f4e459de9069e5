//! The SQLite batch writer, tuned for bulk loads (BENCHMARKS.md): one `BEGIN IMMEDIATE`
//! transaction on the writer connection for the whole batch.
//!
//! A batch on a dataset with no records inserts without looking up; on other datasets it
//! inserts first while most keys are new (an insert into `current` that succeeds is `Created`
//! without a lookup) and looks up first otherwise. After a lookup the outcome is decided by
//! the shared rule (`crate::outcome`). Version rows are appended with predicted rowids (new
//! keys' first versions 32 to a statement) and `current` points at them; a version whose rowid
//! is at or above the batch's first is one this batch wrote. `datasets.live` is kept at commit.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteBackend;
use super::conn::{WriterSlot, conflict_or, micros, roll_back};
use crate::outcome::{self, Found};
use crate::{BatchBackend, BatchMeta, Result, StoreError, WriteOp, WriteOutcome};

impl SqliteBackend {
    pub(super) fn begin(&self, dataset: &str, meta: BatchMeta) -> Result<Box<dyn BatchBackend>> {
        let conn = self.writer.checkout();
        let begun = (|| -> Result<(i64, i64, bool, i64)> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            // A dataset's records begin with its first batch.
            conn.prepare_cached("INSERT OR IGNORE INTO datasets(name) VALUES (?1)")?
                .execute([dataset])?;
            let id = Self::dataset_id(&conn, dataset)?
                .ok_or_else(|| StoreError::Backend(format!("dataset {dataset:?} has no row")))?;
            conn.prepare_cached(
                "INSERT INTO batches(dataset, batch_id, request_hash, source_system,
                                     schema_version, created_at)
                 VALUES (?1, ?2, '', ?3, ?4, ?5)",
            )?
            .execute(params![
                id,
                meta.batch_id,
                meta.source_system,
                meta.schema_version.to_string(),
                micros(meta.at)
            ])
            .map_err(|e| {
                conflict_or(e, || {
                    format!(
                        "batch {:?} was already applied to {dataset:?}",
                        meta.batch_id
                    )
                })
            })?;
            let seq = conn.last_insert_rowid();
            let fresh: bool = conn
                .prepare_cached("SELECT NOT EXISTS(SELECT 1 FROM current WHERE dataset = ?1)")?
                .query_row([id], |r| r.get(0))?;
            let next_rowid: i64 = conn
                .prepare_cached("SELECT coalesce(max(rowid), 0) + 1 FROM records")?
                .query_row([], |r| r.get(0))?;
            Ok((id, seq, fresh, next_rowid))
        })();
        match begun {
            Ok((dataset_id, seq, fresh, next_rowid)) => Ok(Box::new(SqliteBatch {
                slot: self.writer.clone(),
                conn: Some(conn),
                dataset: dataset_id,
                seq,
                fresh,
                next_rowid,
                first_rowid: next_rowid,
                unchanged: std::collections::HashSet::new(),
                upserts: 0,
                new_keys: 0,
                live_change: 0,
            })),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                self.writer.checkin(conn);
                Err(e)
            }
        }
    }
}

pub(super) struct SqliteBatch {
    pub(super) slot: Arc<WriterSlot>,
    pub(super) conn: Option<Connection>,
    pub(super) dataset: i64,
    pub(super) seq: i64,
    /// The dataset had no record when the batch began: every key is new unless this batch
    /// wrote it already, so a write needs no lookup first.
    pub(super) fresh: bool,
    /// Rowid of the next version row (this connection is the only writer).
    pub(super) next_rowid: i64,
    /// Rowid of the first version this batch writes.
    pub(super) first_rowid: i64,
    /// Keys this batch found unchanged: a second occurrence is still a duplicate.
    pub(super) unchanged: std::collections::HashSet<String>,
    /// Upserts seen and how many of them were new keys: while most keys are new, inserting
    /// first (and looking up only on a conflict) saves a lookup per record.
    pub(super) upserts: u64,
    pub(super) new_keys: u64,
    /// Records created minus records deleted so far: added to `datasets.live` at commit.
    pub(super) live_change: i64,
}

impl SqliteBatch {
    pub(super) fn insert_first(&self) -> bool {
        self.fresh || self.upserts < 64 || self.new_keys * 4 >= self.upserts * 3
    }
}

pub(super) struct Current {
    pub(super) version: i64,
    pub(super) hash: Vec<u8>,
    pub(super) deleted: bool,
    pub(super) rec: i64,
}

// Version, content hash and batch live in `records` only: that keeps `current` entries small
// (they are inserted in random key order, the costliest part of a bulk load), and they are
// needed only when a key already exists. A version written by this batch has a rowid at or
// above the batch's first rowid, which is how duplicates within the batch are recognised.
pub(super) const SELECT_CURRENT: &str = "SELECT r.version, r.hash, c.deleted, c.rec
     FROM current c JOIN records r ON r.rowid = c.rec WHERE c.dataset = ?1 AND c.key = ?2";
pub(super) const INSERT_CURRENT: &str = "INSERT INTO current(dataset, key, deleted, rec)
     VALUES (?1, ?2, ?3, ?4)";
pub(super) const UPDATE_CURRENT: &str = "UPDATE current SET deleted = ?3, rec = ?4
     WHERE dataset = ?1 AND key = ?2";
// Rowids are left to SQLite (max + 1: an append without a uniqueness probe) and checked against
// the ones this batch predicted. `OR FAIL` keeps SQLite from journaling each statement so that it
// could undo it alone: any failure aborts the whole batch anyway.
pub(super) const INSERT_RECORD: &str =
    "INSERT OR FAIL INTO records(dataset, key, version, batch, hash, body, prev)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// The version a new one replaces (`superseded`, read by snapshots).
pub(super) const INSERT_SUPERSEDED: &str = "INSERT INTO superseded(rec, by) VALUES (?1, ?2)";

/// Checks that the version just inserted got the rowid the batch predicted (and pointed
/// `current` at).
pub(super) fn check_appended(conn: &Connection, expected: i64) -> Result<()> {
    let got = conn.last_insert_rowid();
    if got == expected {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "a version was stored at rowid {got} where {expected} was expected"
        )))
    }
}

/// New keys' first versions are inserted this many rows per statement (fewer statement runs).
pub(super) const RECORD_ROWS: usize = 32;

/// `INSERT INTO records … VALUES (…), …` for [`RECORD_ROWS`] first versions: `?1` dataset,
/// `?2` batch, then key, hash and body of each row.
pub(super) fn insert_records_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let rows: Vec<String> = (0..RECORD_ROWS)
            .map(|i| {
                let p = 3 + 3 * i;
                format!("(?1, ?{p}, 1, ?2, ?{}, ?{}, NULL)", p + 1, p + 2)
            })
            .collect();
        format!(
            "INSERT OR FAIL INTO records(dataset, key, version, batch, hash, body, prev) VALUES {}",
            rows.join(", ")
        )
    })
}

/// A new key's first version waiting to be inserted: rowid, key, hash, body.
pub(super) type FirstVersion<'a> = (i64, &'a str, &'a [u8], Option<&'a str>);

pub(super) fn flush_first_versions(
    conn: &Connection,
    many: &mut rusqlite::CachedStatement<'_>,
    one: &mut rusqlite::CachedStatement<'_>,
    dataset: i64,
    batch: i64,
    pending: &mut Vec<FirstVersion<'_>>,
) -> Result<()> {
    let mut rows = pending.chunks_exact(RECORD_ROWS);
    for group in rows.by_ref() {
        many.raw_bind_parameter(1, dataset)?;
        many.raw_bind_parameter(2, batch)?;
        for (i, (_, key, hash, body)) in group.iter().enumerate() {
            let p = 3 + 3 * i;
            many.raw_bind_parameter(p, key)?;
            many.raw_bind_parameter(p + 1, hash)?;
            many.raw_bind_parameter(p + 2, body)?;
        }
        many.raw_execute()?;
        check_appended(conn, group[RECORD_ROWS - 1].0)?;
    }
    for (rowid, key, hash, body) in rows.remainder() {
        one.execute(params![
            dataset,
            key,
            1,
            batch,
            hash,
            body,
            Option::<i64>::None
        ])?;
        check_appended(conn, *rowid)?;
    }
    pending.clear();
    Ok(())
}

pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl BatchBackend for SqliteBatch {
    fn write(&mut self, ops: &[WriteOp], out: &mut Vec<WriteOutcome>) -> Result<()> {
        let conn = self
            .conn
            .as_ref()
            .expect("batch connection present until commit");
        let mut select = conn.prepare_cached(SELECT_CURRENT)?;
        let mut insert_current = conn.prepare_cached(INSERT_CURRENT)?;
        let mut update_current = conn.prepare_cached(UPDATE_CURRENT)?;
        let mut insert_record = conn.prepare_cached(INSERT_RECORD)?;
        let mut insert_superseded = conn.prepare_cached(INSERT_SUPERSEDED)?;
        let mut insert_records = conn.prepare_cached(insert_records_sql())?;
        let mut pending: Vec<FirstVersion<'_>> = Vec::with_capacity(ops.len());
        for op in ops {
            let hash: &[u8] = if op.body.is_some() { &op.hash } else { &[] };
            if op.body.is_some() {
                self.upserts += 1;
            }
            if op.body.is_some() && self.insert_first() {
                match insert_current.execute(params![self.dataset, op.key, false, self.next_rowid])
                {
                    Ok(_) => {
                        pending.push((self.next_rowid, &op.key, hash, op.body.as_deref()));
                        self.next_rowid += 1;
                        self.new_keys += 1;
                        self.live_change += WriteOutcome::Created.live_change();
                        out.push(WriteOutcome::Created);
                        continue;
                    }
                    // Only this batch can have written the key of a fresh dataset.
                    Err(e) if is_constraint(&e) && self.fresh => {
                        out.push(WriteOutcome::DuplicateInBatch);
                        continue;
                    }
                    // The key exists: look it up as usual.
                    Err(e) if is_constraint(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // The lookup joins `records`: write the versions still waiting first.
            flush_first_versions(
                conn,
                &mut insert_records,
                &mut insert_record,
                self.dataset,
                self.seq,
                &mut pending,
            )?;
            let cur = select
                .query_row(params![self.dataset, op.key], |r| {
                    Ok(Current {
                        version: r.get(0)?,
                        hash: r.get(1)?,
                        deleted: r.get(2)?,
                        rec: r.get(3)?,
                    })
                })
                .optional()?;
            let outcome = outcome::decide(
                op.body.as_ref().map(|_| &op.hash),
                cur.as_ref().map(|c| Found {
                    hash: &c.hash,
                    deleted: c.deleted,
                    written_by_this_batch: c.rec >= self.first_rowid,
                }),
                || self.unchanged.contains(&op.key),
            );
            if !outcome.writes_version() {
                if outcome == WriteOutcome::Unchanged {
                    self.unchanged.insert(op.key.clone());
                }
                out.push(outcome);
                continue;
            }
            if outcome == WriteOutcome::Created {
                self.new_keys += 1;
            }
            let version = cur.as_ref().map_or(1, |c| c.version + 1);
            insert_record.execute(params![
                self.dataset,
                op.key,
                version,
                self.seq,
                hash,
                op.body,
                cur.as_ref().map(|c| c.rec)
            ])?;
            check_appended(conn, self.next_rowid)?;
            if let Some(c) = &cur {
                insert_superseded.execute(params![c.rec, self.next_rowid])?;
            }
            let row = params![self.dataset, op.key, op.body.is_none(), self.next_rowid];
            if cur.is_some() {
                update_current.execute(row)?;
            } else {
                insert_current.execute(row)?;
            }
            self.next_rowid += 1;
            self.live_change += outcome.live_change();
            out.push(outcome);
        }
        flush_first_versions(
            conn,
            &mut insert_records,
            &mut insert_record,
            self.dataset,
            self.seq,
            &mut pending,
        )
    }

    fn commit(mut self: Box<Self>, request_hash: &str, report: &str) -> Result<()> {
        let conn = self
            .conn
            .take()
            .expect("batch connection present until commit");
        let result = (|| -> Result<()> {
            // The batch's versions take the next positions of the dataset's feed (rowids
            // `first_rowid..next_rowid`, consecutive: each was checked as it was written).
            let changes = self.next_rowid - self.first_rowid;
            let head: i64 = conn
                .prepare_cached(
                    "UPDATE datasets SET live = live + ?2, feed_head = feed_head + ?3
                     WHERE id = ?1 RETURNING feed_head",
                )?
                .query_row(params![self.dataset, self.live_change, changes], |r| {
                    r.get(0)
                })?;
            conn.prepare_cached(
                "UPDATE batches SET report = ?2, request_hash = ?3, first_rec = ?4,
                                    changes = ?5, first_position = ?6
                 WHERE seq = ?1",
            )?
            .execute(params![
                self.seq,
                report,
                request_hash,
                self.first_rowid,
                changes,
                head - changes + 1
            ])?;
            conn.execute_batch("COMMIT")?;
            Ok(())
        })();
        if result.is_err() {
            roll_back(&conn);
        }
        self.slot.checkin(conn);
        result
    }
}

impl Drop for SqliteBatch {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            roll_back(&conn);
            self.slot.checkin(conn);
        }
    }
}
