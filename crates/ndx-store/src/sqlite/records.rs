//! Record reads on SQLite: the current version of a key through `current`, history and as-of
//! by walking the `prev` chain of `records`, list pages in key order from `current`, the
//! count from `datasets.live`, stored batch reports, and snapshots in rowid order.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params, types::Value as SqlValue};

use super::SqliteBackend;
use super::conn::from_micros;
use crate::catalog::sql::GENERATION;
use crate::{
    BatchBackend, BatchMeta, Change, FEED_HEAD_SQL, FieldFilter, LIVE_COUNT_SQL, RecordVersion,
    RecordsBackend, Result, STORED_BATCH_SQL, SnapshotPage, StoreError, StoredBatch,
};

pub(super) const VERSION_COLUMNS: &str = "r.version, b.created_at, b.source_system, b.batch_id, \
                               b.schema_version, r.hash, r.body, r.prev, r.key";

pub(super) fn version_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(RecordVersion, Option<i64>)> {
    let hash: Vec<u8> = r.get(5)?;
    Ok((
        RecordVersion {
            key: r.get(8)?,
            version: r.get::<_, i64>(0)? as u64,
            recorded_at: from_micros(r.get(1)?),
            source_system: r.get(2)?,
            batch_id: r.get(3)?,
            schema_version: r.get(4)?,
            content_hash: hex::encode(hash),
            body: r.get(6)?,
        },
        r.get(7)?,
    ))
}

pub(super) fn version_at(conn: &Connection, rowid: i64) -> Result<(RecordVersion, Option<i64>)> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM records r JOIN batches b ON b.seq = r.batch WHERE r.rowid = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([rowid], version_from_row)?)
}

/// The columns and the join of a key's current version, in one statement.
const CURRENT_VERSION_COLUMNS: &str = "SELECT r.version, b.created_at, b.source_system, \
     b.batch_id, b.schema_version, r.hash, r.body, r.prev, r.key";
const CURRENT_VERSION_FROM: &str = " FROM current c JOIN datasets d ON d.id = c.dataset
     JOIN records r ON r.rowid = c.rec JOIN batches b ON b.seq = r.batch
     WHERE d.name = ?1 AND c.key = ?2";
/// The current version of a key, in one statement.
static CURRENT_VERSION_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{CURRENT_VERSION_COLUMNS}{CURRENT_VERSION_FROM}"));
/// The same with the catalogue generation (the catalogue's own query) as column 9.
static CURRENT_VERSION_WITH_GENERATION_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{CURRENT_VERSION_COLUMNS}, ({GENERATION}){CURRENT_VERSION_FROM}"));

pub(super) fn current_rowid(conn: &Connection, dataset: &str, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT c.rec FROM current c JOIN datasets d ON d.id = c.dataset
             WHERE d.name = ?1 AND c.key = ?2",
        )?
        .query_row(params![dataset, key], |r| r.get(0))
        .optional()?)
}

/// The batch of dataset `?1` holding position `?2`: the last one with versions that starts at
/// or below it (`batches_feed`), with the lineage every version of it shares.
const FEED_BATCH_HOLDING: &str = "SELECT first_position, first_rec, changes, created_at,
     source_system, batch_id, schema_version FROM batches
     WHERE dataset = ?1 AND changes > 0 AND first_position <= ?2
     ORDER BY first_position DESC LIMIT 1";

/// A batch of a feed or snapshot read: where its versions are and their lineage.
struct FeedBatch {
    first_position: i64,
    first_rec: i64,
    changes: i64,
    recorded_at: DateTime<Utc>,
    source_system: String,
    batch_id: String,
    schema_version: String,
}

/// The batch of dataset `id` that starts at or below `position` ([`FEED_BATCH_HOLDING`]);
/// `position` is in it if it is below `first_position + changes`.
fn feed_batch_holding(
    statement: &mut rusqlite::CachedStatement<'_>,
    id: i64,
    position: i64,
) -> Result<Option<FeedBatch>> {
    Ok(statement
        .query_row(params![id, position], |r| {
            Ok(FeedBatch {
                first_position: r.get(0)?,
                first_rec: r.get(1)?,
                changes: r.get(2)?,
                recorded_at: from_micros(r.get(3)?),
                source_system: r.get(4)?,
                batch_id: r.get(5)?,
                schema_version: r.get(6)?,
            })
        })
        .optional()?)
}

/// The versions of rowids `?1..=?2` (one batch's, consecutive), in rowid order.
fn feed_versions_sql() -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM records r JOIN batches b ON b.seq = r.batch
         WHERE r.rowid >= ?1 AND r.rowid <= ?2 ORDER BY r.rowid"
    )
}

impl RecordsBackend for SqliteBackend {
    fn begin_batch(&self, dataset: &str, meta: BatchMeta) -> Result<Box<dyn BatchBackend>> {
        self.begin(dataset, meta)
    }

    fn batch(&self, dataset: &str, batch_id: &str) -> Result<Option<StoredBatch>> {
        self.read(|c| {
            Ok(c.prepare_cached(STORED_BATCH_SQL)?
                .query_row(params![dataset, batch_id], |r| {
                    Ok(StoredBatch {
                        batch_id: r.get(0)?,
                        request_hash: r.get(1)?,
                        report: r.get(2)?,
                    })
                })
                .optional()?)
        })
    }

    fn record(
        &self,
        dataset: &str,
        key: &str,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<RecordVersion>> {
        self.read(|c| {
            if as_of.is_none() {
                // The hot path of every point read and governed lookup: one statement, so one
                // read transaction instead of two.
                return Ok(c
                    .prepare_cached(&CURRENT_VERSION_SQL)?
                    .query_row(params![dataset, key], version_from_row)
                    .optional()?
                    .map(|(v, _)| v));
            }
            let mut next = current_rowid(c, dataset, key)?;
            while let Some(rowid) = next {
                let (v, prev) = version_at(c, rowid)?;
                match as_of {
                    Some(t) if v.recorded_at > t => next = prev,
                    _ => return Ok(Some(v)),
                }
            }
            Ok(None)
        })
    }

    fn current_with_generation(
        &self,
        dataset: &str,
        key: &str,
    ) -> Result<Option<(RecordVersion, u64)>> {
        self.read(|c| {
            Ok(c.prepare_cached(&CURRENT_VERSION_WITH_GENERATION_SQL)?
                .query_row(params![dataset, key], |r| {
                    let (version, _) = version_from_row(r)?;
                    let generation: i64 = r.get(9)?;
                    Ok((version, generation.max(0) as u64))
                })
                .optional()?)
        })
    }

    fn history(&self, dataset: &str, key: &str) -> Result<Vec<RecordVersion>> {
        self.read(|c| {
            let mut out = Vec::new();
            let mut next = current_rowid(c, dataset, key)?;
            while let Some(rowid) = next {
                let (v, prev) = version_at(c, rowid)?;
                out.push(v);
                next = prev;
            }
            Ok(out)
        })
    }

    fn list(
        &self,
        dataset: &str,
        filters: &[FieldFilter],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordVersion>> {
        self.read(|c| {
            let Some(id) = Self::dataset_id(c, dataset)? else {
                return Ok(Vec::new());
            };
            let mut sql = format!(
                "SELECT {VERSION_COLUMNS} FROM current c
                 JOIN records r ON r.rowid = c.rec JOIN batches b ON b.seq = r.batch
                 WHERE c.dataset = ?1 AND c.deleted = 0 AND c.key > ?2"
            );
            let mut args: Vec<SqlValue> = vec![
                SqlValue::Integer(id),
                SqlValue::Text(after.unwrap_or("").to_owned()),
            ];
            for f in filters {
                // The path is bound as a parameter: field names never reach the SQL text.
                sql.push_str(&format!(
                    " AND json_extract(r.body, ?{}) = ?{}",
                    args.len() + 1,
                    args.len() + 2
                ));
                args.push(SqlValue::Text(format!(
                    "$.\"{}\"",
                    f.field.replace('"', "")
                )));
                args.push(match &f.value {
                    serde_json::Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => SqlValue::Integer(i),
                        None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
                    },
                    serde_json::Value::String(s) => SqlValue::Text(s.clone()),
                    other => SqlValue::Text(other.to_string()),
                });
            }
            sql.push_str(&format!(" ORDER BY c.key LIMIT ?{}", args.len() + 1));
            args.push(SqlValue::Integer(limit as i64));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), version_from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?.0);
            }
            Ok(out)
        })
    }

    fn changes(&self, dataset: &str, after: i64, limit: i64) -> Result<Vec<Change>> {
        self.read(|c| {
            let Some(id) = Self::dataset_id(c, dataset)? else {
                return Ok(Vec::new());
            };
            let mut batch = c.prepare_cached(FEED_BATCH_HOLDING)?;
            let mut versions = c.prepare_cached(&feed_versions_sql())?;
            let mut out: Vec<Change> = Vec::new();
            // Batch by batch: each holds consecutive positions over consecutive rowids.
            let mut next = after.saturating_add(1);
            while (out.len() as i64) < limit {
                let Some(FeedBatch {
                    first_position,
                    first_rec,
                    changes,
                    ..
                }) = feed_batch_holding(&mut batch, id, next)?
                else {
                    break;
                };
                if next >= first_position + changes {
                    break; // past the feed head
                }
                let from = first_rec + (next - first_position);
                let wanted = (limit - out.len() as i64).min(first_position + changes - next);
                let mut rows = versions.query(params![from, from + wanted - 1])?;
                let mut position = next;
                while let Some(row) = rows.next()? {
                    out.push(Change {
                        position: position as u64,
                        record: version_from_row(row)?.0,
                    });
                    position += 1;
                }
                if position != next + wanted {
                    return Err(StoreError::Backend(format!(
                        "the change feed of {dataset:?} misses versions at position {position}"
                    )));
                }
                next = position;
            }
            Ok(out)
        })
    }

    fn snapshot(&self, dataset: &str, at: i64, after: i64, limit: i64) -> Result<SnapshotPage> {
        self.read(|c| {
            let Some(id) = Self::dataset_id(c, dataset)? else {
                return Ok(SnapshotPage {
                    versions: Vec::new(),
                    reached: at as u64,
                });
            };
            let mut batch = c.prepare_cached(FEED_BATCH_HOLDING)?;
            let holding = |batch: &mut rusqlite::CachedStatement<'_>, position: i64| {
                feed_batch_holding(batch, id, position)?
                    .filter(|b| position < b.first_position + b.changes)
                    .ok_or_else(|| {
                        StoreError::Backend(format!(
                            "the change feed of {dataset:?} misses position {position}"
                        ))
                    })
            };
            // The rowid of position `at`: versions above it were written after the snapshot.
            let mark = {
                let b = holding(&mut batch, at)?;
                b.first_rec + (at - b.first_position)
            };
            let mut versions = c.prepare_cached(
                "SELECT rowid, key, version, hash, body FROM records
                 WHERE rowid >= ?1 AND rowid <= ?2 ORDER BY rowid",
            )?;
            let mut superseded =
                c.prepare_cached("SELECT rec, by FROM superseded WHERE rec >= ?1 AND rec <= ?2")?;
            let budget = limit.saturating_mul(crate::SNAPSHOT_EXAMINED_PER_VERSION);
            let mut out = Vec::new();
            let mut next = after + 1;
            while next <= at && (out.len() as i64) < limit && next - after <= budget {
                let b = holding(&mut batch, next)?;
                // A batch's versions are consecutive rowids; a chunk never holds more
                // versions than the page has room for.
                let wanted = (b.first_position + b.changes - next)
                    .min(at - next + 1)
                    .min(limit - out.len() as i64)
                    .min(budget - (next - after - 1));
                let from = b.first_rec + (next - b.first_position);
                let mut chunk: Vec<(i64, RecordVersion)> = Vec::new();
                let mut rows = versions.query(params![from, from + wanted - 1])?;
                let mut read = 0;
                while let Some(r) = rows.next()? {
                    read += 1;
                    let body: Option<String> = r.get(4)?;
                    if body.is_none() {
                        continue; // a deletion is never part of a snapshot
                    }
                    let hash: Vec<u8> = r.get(3)?;
                    chunk.push((
                        r.get(0)?,
                        RecordVersion {
                            key: r.get(1)?,
                            version: r.get::<_, i64>(2)? as u64,
                            recorded_at: b.recorded_at,
                            source_system: b.source_system.clone(),
                            batch_id: b.batch_id.clone(),
                            schema_version: b.schema_version.clone(),
                            content_hash: hex::encode(hash),
                            body,
                        },
                    ));
                }
                drop(rows);
                if read != wanted {
                    return Err(StoreError::Backend(format!(
                        "the change feed of {dataset:?} misses versions after position {next}"
                    )));
                }
                // A version is in the snapshot unless its successor is at or below the mark:
                // the replaced versions of the same rowid range, usually few.
                let replaced: std::collections::HashMap<i64, i64> = superseded
                    .query_map(params![from, from + wanted - 1], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                out.extend(
                    chunk
                        .into_iter()
                        .filter_map(|(rowid, v)| match replaced.get(&rowid) {
                            Some(&by) if by <= mark => None,
                            _ => Some(v),
                        }),
                );
                next += wanted;
            }
            Ok(SnapshotPage {
                versions: out,
                reached: (next - 1) as u64,
            })
        })
    }

    fn feed_head(&self, dataset: &str) -> Result<u64> {
        self.read(|c| {
            let head: Option<i64> = c
                .prepare_cached(FEED_HEAD_SQL)?
                .query_row([dataset], |r| r.get(0))
                .optional()?;
            Ok(head.unwrap_or(0) as u64)
        })
    }

    fn count(&self, dataset: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.prepare_cached(LIVE_COUNT_SQL)?
                .query_row([dataset], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0) as u64)
        })
    }
}
