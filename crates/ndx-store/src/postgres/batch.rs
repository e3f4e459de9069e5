//! The PostgreSQL batch writer, tuned for bulk loads (BENCHMARKS.md).
//!
//! A batch is one transaction that first locks its dataset row (`FOR NO KEY UPDATE`: writers
//! of a dataset are serialised across processes). It decides every outcome on the ndx side
//! with the shared rule (`crate::outcome`), from one primary-key probe per key of each chunk,
//! and sends the versions it decided in groups of up to 8,192 by binary `COPY`, from a thread
//! of its own, while it decides the next group. Writing a version, new key or update alike, is
//! one row and one index entry, so a bulk load costs the server about what a bare `COPY` of
//! the same rows does.
//!
//! Once a batch has more than 1,024 records, on a dataset of at most `preload_keys` (URL
//! parameter, default 10,000) keys it reads their current versions once and remembers a 64-bit
//! hash of every key it writes, so chunks skip the probe (a key whose hash was seen is still
//! probed, after the versions decided so far are sent: the database decides); past 4,000,000
//! written keys it forgets them and probes again, so memory stays bounded.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::PostgresBackend;
use super::conn::{Conn, col, on_code};
use super::pool::Pooled;
use crate::outcome::{self, Found};
use crate::{BatchBackend, BatchMeta, Result, StoreError, WriteOp, WriteOutcome};

impl PostgresBackend {
    pub(super) fn begin(&self, dataset: &str, meta: BatchMeta) -> Result<Box<dyn BatchBackend>> {
        let mut c = self.conn()?;
        // Waiting for the other writers of the dataset has no time limit (as with SQLite's
        // single writer); every later statement of the batch has the usual one. Statements
        // are planned for each chunk: a generic plan cached while the dataset was small would
        // scan the whole table for every chunk of a big load (the tables grow inside this
        // transaction, where no ANALYZE can refresh the plan).
        c.begin(
            "BEGIN; SET LOCAL statement_timeout = 0; \
             SET LOCAL plan_cache_mode = force_custom_plan",
        )?;
        let begun = (|| -> Result<(i32, i64, i64)> {
            // The lock is held to the commit: the batch numbers its versions from this head.
            const LOCK: &str =
                "SELECT id, feed_head FROM datasets WHERE name = $1 FOR NO KEY UPDATE";
            let mut row = c.query_within(None, LOCK, &[&dataset])?.into_iter().next();
            if row.is_none() {
                // A dataset's records begin with its first batch. Inserted only when missing:
                // a conflicting insert would still use up an identity value.
                c.execute(
                    "INSERT INTO datasets(name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                    &[&dataset],
                )?;
                row = c.query_within(None, LOCK, &[&dataset])?.into_iter().next();
            }
            let row =
                row.ok_or_else(|| StoreError::Backend(format!("dataset {dataset:?} has no row")))?;
            let id: i32 = col(&row, 0)?;
            let feed_head: i64 = col(&row, 1)?;
            let timeout = self.pool.settings.statement_timeout.as_millis();
            c.simple(&format!("SET LOCAL statement_timeout = {timeout}"))?;
            let r = c.query(
                "INSERT INTO batches(dataset, batch_id, request_hash, source_system,
                                     schema_version, created_at)
                 VALUES ($1, $2, '', $3, $4, $5) RETURNING seq",
                &[
                    &id,
                    &meta.batch_id,
                    &meta.source_system,
                    &meta.schema_version.to_string(),
                    &meta.at,
                ],
            );
            let rows = on_code(r, &SqlState::UNIQUE_VIOLATION, || {
                StoreError::Conflict(format!(
                    "batch {:?} was already applied to {dataset:?}",
                    meta.batch_id
                ))
            })?;
            let seq = match rows.first() {
                Some(row) => col(row, 0)?,
                None => return Err(StoreError::Backend("no batch sequence returned".into())),
            };
            Ok((id, seq, feed_head))
        })();
        match begun {
            Ok((dataset, seq, feed_head)) => Ok(Box::new(PgBatch {
                link: Link::Ready(Box::new(c)),
                dataset,
                seq,
                feed_head,
                live_change: 0,
                unchanged: HashSet::new(),
                preload_keys: self.pool.settings.preload_keys,
                ops_seen: 0,
                known: None,
                pending: Vec::new(),
                pending_bytes: 0,
                failed: false,
            })),
            Err(e) => {
                c.rollback();
                Err(e)
            }
        }
    }
}

/// One open batch: a pooled connection inside its transaction, holding the dataset lock.
pub(super) struct PgBatch {
    pub(super) link: Link,
    pub(super) dataset: i32,
    pub(super) seq: i64,
    /// The last position of the dataset's change feed: the dataset's head when the batch
    /// began (read under its lock), plus the versions this batch decided since.
    pub(super) feed_head: i64,
    /// Records created minus records deleted so far: added to `datasets.live` at commit.
    pub(super) live_change: i64,
    /// Keys this batch found unchanged: a second occurrence is still a duplicate.
    pub(super) unchanged: HashSet<String>,
    /// Datasets of at most this many keys are read up front by a big batch.
    pub(super) preload_keys: i64,
    /// Records handed to this batch so far.
    pub(super) ops_seen: usize,
    /// Once the batch has proved big (more than [`READ_UP_FRONT_AFTER`] records), on a dataset
    /// of at most `preload_keys` keys: the current version of every key, read once (this batch
    /// is the only writer: it holds the dataset lock). Chunks then skip the lookup (a quarter of
    /// the database's time in bulk loads, BENCHMARKS.md).
    pub(super) known: Option<Known>,
    /// Versions decided and not yet sent (`send_now`, `send_behind`), with the bytes of their
    /// keys and bodies.
    pub(super) pending: Vec<PendingVersion>,
    pub(super) pending_bytes: usize,
    /// A write failed: the transaction is aborted and must not be committed.
    pub(super) failed: bool,
}

/// What a batch on a small dataset knows without asking the database.
pub(super) struct Known {
    /// The dataset's current versions when they were read.
    pub(super) existing: HashMap<String, Current>,
    /// Hashes of the keys this batch has written since (16 bytes or so a key, whatever its
    /// length): a key whose hash is here may have been written, and is looked up in the
    /// database, which knows for sure.
    pub(super) written: HashSet<u64>,
}

/// Past this many keys written, a batch stops remembering them and looks keys up instead
/// (memory stays bounded whatever the size of the batch).
pub(super) const MAX_REMEMBERED_KEYS: usize = 4_000_000;

pub(super) fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// A batch of more records than this reads a small dataset's current versions once (a smaller
/// one looks its keys up: reading thousands of rows for a write of a few would cost more).
pub(super) const READ_UP_FRONT_AFTER: usize = 1_024;

/// Versions a key may have on average for its dataset to be read up front (the read is bounded
/// by rows, not keys).
pub(super) const VERSIONS_PER_KEY: i64 = 4;

/// The current version of a key as a chunk sees it.
#[derive(Clone)]
pub(super) struct Current {
    pub(super) version: i64,
    pub(super) hash: Vec<u8>,
    pub(super) batch: i64,
    pub(super) deleted: bool,
}

impl Current {
    /// From a row of `key, version, hash, batch, deleted` (the key is column 0).
    pub(super) fn from_row(row: &Row) -> Result<Current> {
        Ok(Current {
            version: col(row, 1)?,
            hash: col(row, 2)?,
            batch: col(row, 3)?,
            deleted: col(row, 4)?,
        })
    }
}

/// The current versions of a chunk's keys: one probe of `versions_key` per key.
/// (`key = ANY($2)` is planned from statistics, and a dataset that grows inside the batch's
/// transaction has none yet: PostgreSQL then reads the whole dataset for every chunk. A probe
/// inside a LATERAL subquery that cannot be flattened is planned the same way whatever the
/// stats.)
pub(super) const LOOKUP: &str = "SELECT k.key, c.version, c.hash, c.batch, c.deleted
     FROM unnest($2::text[]) AS k(key)
     CROSS JOIN LATERAL (
       SELECT version, hash, batch, body IS NULL AS deleted FROM versions
        WHERE dataset = $1 AND versions.key = k.key ORDER BY version DESC LIMIT 1
     ) c";

/// Every version of a dataset (`$1`), newest first within a key, in the order of
/// `versions_key`, at most `$2` rows: one range scan of the index that stops at the limit.
pub(super) const READ_UP_FRONT: &str = "SELECT key, version, hash, batch, body IS NULL
     FROM versions WHERE dataset = $1 ORDER BY key, version DESC LIMIT $2";

/// Versions go in by binary COPY: PostgreSQL inserts them many to a page, as a bare COPY does.
/// The batch holds its dataset's lock and numbered each version from what it read, so no
/// conflict is possible (one that happened anyway would fail the batch on `versions_key`).
pub(super) const COPY_VERSIONS: &str =
    "COPY versions(dataset, key, version, batch, hash, body, position) FROM STDIN (FORMAT binary)";
pub(super) const VERSION_TYPES: [Type; 7] = [
    Type::INT4,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::BYTEA,
    Type::TEXT,
    Type::INT8,
];

/// Decided versions are sent once this many have gathered (or this many bytes of keys and
/// bodies), before the batch next looks keys up, and at commit: fewer, larger COPYs.
pub(super) const FLUSH_VERSIONS: usize = 8_192;
pub(super) const FLUSH_BYTES: usize = 8 << 20;

/// A version decided by the batch and not yet sent to the server.
pub(super) struct PendingVersion {
    pub(super) key: String,
    pub(super) version: i64,
    /// Empty for a tombstone.
    pub(super) hash: Vec<u8>,
    pub(super) body: Option<String>,
    /// Its position in the dataset's change feed.
    pub(super) position: i64,
}

/// A batch's connection: between calls, or lent to the thread sending a group of versions
/// while the batch decides the next ones (the server inserts one group while ndx validates
/// and decides the next: neither waits for the other).
pub(super) enum Link {
    Ready(Box<Pooled>),
    Sending(std::thread::JoinHandle<(Box<Pooled>, Result<()>)>),
    /// Committed, or the sending thread died.
    Gone,
}

pub(super) fn no_connection() -> StoreError {
    StoreError::Backend("the batch has no connection any more".into())
}

/// Sends a group of versions.
pub(super) fn send_versions(
    conn: &mut Conn,
    dataset: i32,
    seq: i64,
    group: &[PendingVersion],
) -> Result<()> {
    conn.copy_in(COPY_VERSIONS, &VERSION_TYPES, group.len(), |i| {
        let v = &group[i];
        [
            &dataset,
            &v.key,
            &v.version,
            &seq,
            &v.hash,
            &v.body,
            &v.position,
        ]
    })?;
    Ok(())
}

impl PgBatch {
    /// The connection, once the group being sent (if any) has been received by the server.
    pub(super) fn ready(&mut self) -> Result<&mut Pooled> {
        match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Sending(sending) => {
                let (conn, sent) = sending.join().map_err(|_| {
                    StoreError::Backend("the thread sending a batch's records panicked".into())
                })?;
                self.link = Link::Ready(conn);
                sent?;
            }
            other => self.link = other,
        }
        match &mut self.link {
            Link::Ready(conn) => Ok(conn),
            _ => Err(no_connection()),
        }
    }

    /// Takes the connection out of the batch (to a sending thread, or to commit).
    pub(super) fn take_ready(&mut self) -> Result<Box<Pooled>> {
        self.ready()?;
        match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Ready(conn) => Ok(conn),
            _ => Err(no_connection()),
        }
    }

    /// Sends the pending versions and waits for the server to have them (before a lookup,
    /// and at commit: a thread would only be waited for).
    pub(super) fn send_now(&mut self) -> Result<()> {
        let (dataset, seq) = (self.dataset, self.seq);
        let group = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let conn = self.ready()?;
        if !group.is_empty() {
            send_versions(conn, dataset, seq, &group)?;
        }
        Ok(())
    }

    /// Hands the pending versions to a thread that sends them, after the previous group.
    pub(super) fn send_behind(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut conn = self.take_ready()?;
        let group = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let (dataset, seq) = (self.dataset, self.seq);
        let sending = std::thread::Builder::new()
            .name("ndx-pg-batch".into())
            .spawn(move || {
                let sent = send_versions(&mut conn, dataset, seq, &group);
                (conn, sent)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start a thread: {e}")))?;
        self.link = Link::Sending(sending);
        Ok(())
    }

    /// Reads the current version of every key of a dataset of at most `preload_keys` keys
    /// (the versions this batch decided so far included, sent first); on a bigger dataset the
    /// batch goes on looking keys up.
    pub(super) fn read_up_front(&mut self) -> Result<()> {
        self.send_now()?;
        // Every version, newest first within a key, in the order of `versions_key`: one range
        // scan whatever the statistics (a dataset loaded since the last ANALYZE looks empty to
        // the planner, which then turns a "no newer version" condition into a rescan of the
        // dataset for every row). A dataset with more versions than this is not read.
        let (dataset, row_limit) = (self.dataset, (self.preload_keys + 1) * VERSIONS_PER_KEY);
        let rows = self
            .ready()?
            .query(READ_UP_FRONT, &[&dataset, &row_limit])?;
        if rows.len() as i64 >= row_limit {
            return Ok(());
        }
        let mut existing: HashMap<String, Current> = HashMap::new();
        for row in &rows {
            let key: String = col(row, 0)?;
            if existing.contains_key(&key) {
                continue; // an older version: the newest came first
            }
            existing.insert(key, Current::from_row(row)?);
            if existing.len() as i64 > self.preload_keys {
                return Ok(());
            }
        }
        self.known = Some(Known {
            existing,
            written: HashSet::new(),
        });
        Ok(())
    }

    /// The current versions of `keys` as the database has them (every decided version sent
    /// first).
    pub(super) fn look_up(&mut self, keys: &[&str]) -> Result<Vec<Row>> {
        self.send_now()?;
        let dataset = self.dataset;
        Ok(self.ready()?.query(LOOKUP, &[&dataset, &keys])?)
    }

    pub(super) fn write_chunk(
        &mut self,
        ops: &[WriteOp],
        out: &mut Vec<WriteOutcome>,
    ) -> Result<()> {
        let seen_before = self.ops_seen;
        self.ops_seen += ops.len();
        if seen_before <= READ_UP_FRONT_AFTER
            && self.ops_seen > READ_UP_FRONT_AFTER
            && self.preload_keys > 0
        {
            self.read_up_front()?;
        }
        // 1. The current version of every key of the chunk: from what the batch read up front
        //    where it can, else one lookup.
        let mut state: HashMap<&str, Option<Current>> = HashMap::with_capacity(ops.len());
        for op in ops {
            state.entry(op.key.as_str()).or_insert(None);
        }
        let rows = match &self.known {
            Some(known) => {
                let mut maybe_written = Vec::new();
                for (key, slot) in state.iter_mut() {
                    if known.written.contains(&key_hash(key)) {
                        maybe_written.push(*key);
                    } else {
                        *slot = known.existing.get(*key).cloned();
                    }
                }
                if maybe_written.is_empty() {
                    Vec::new()
                } else {
                    self.look_up(&maybe_written)?
                }
            }
            None => {
                let keys: Vec<&str> = state.keys().copied().collect();
                self.look_up(&keys)?
            }
        };
        for row in &rows {
            let key: &str = col(row, 0)?;
            if let Some(slot) = state.get_mut(key) {
                *slot = Some(Current::from_row(row)?);
            }
        }
        // 2. Outcomes in order, by the rule both engines share.
        let written_before = self.pending.len();
        for op in ops {
            let key = op.key.as_str();
            let cur = state.get(key).and_then(Option::as_ref);
            let outcome = outcome::decide(
                op.body.as_ref().map(|_| &op.hash),
                cur.map(|c| Found {
                    hash: &c.hash,
                    deleted: c.deleted,
                    written_by_this_batch: c.batch == self.seq,
                }),
                || self.unchanged.contains(key),
            );
            if !outcome.writes_version() {
                if outcome == WriteOutcome::Unchanged {
                    self.unchanged.insert(op.key.clone());
                }
                out.push(outcome);
                continue;
            }
            let version = cur.map_or(1, |c| c.version + 1);
            self.feed_head += 1;
            self.live_change += outcome.live_change();
            self.pending_bytes += op.key.len() + op.body.as_ref().map_or(0, String::len);
            self.pending.push(PendingVersion {
                key: op.key.clone(),
                version,
                position: self.feed_head,
                hash: if op.body.is_some() {
                    op.hash.to_vec()
                } else {
                    Vec::new()
                },
                body: op.body.clone(),
            });
            state.insert(
                key,
                Some(Current {
                    version,
                    hash: Vec::new(),
                    batch: self.seq,
                    deleted: op.body.is_none(),
                }),
            );
            out.push(outcome);
        }
        if let Some(known) = &mut self.known {
            let new_keys = &self.pending[written_before..];
            known
                .written
                .extend(new_keys.iter().map(|v| key_hash(&v.key)));
            if known.written.len() > MAX_REMEMBERED_KEYS {
                self.known = None;
            }
        }
        // 3. Enough decided versions go to the server together.
        if self.pending.len() >= FLUSH_VERSIONS || self.pending_bytes >= FLUSH_BYTES {
            self.send_behind()?;
        }
        Ok(())
    }
}

impl Drop for PgBatch {
    /// A batch dropped uncommitted waits for the group being sent, so that its connection is
    /// back in the pool (rolled back, the dataset lock released) when the drop returns.
    fn drop(&mut self) {
        if let Link::Sending(sending) = std::mem::replace(&mut self.link, Link::Gone) {
            drop(sending.join());
        }
    }
}

impl BatchBackend for PgBatch {
    fn write(&mut self, ops: &[WriteOp], out: &mut Vec<WriteOutcome>) -> Result<()> {
        if self.failed {
            return Err(StoreError::Backend(
                "an earlier write of this batch failed: the batch is rolled back".into(),
            ));
        }
        let start = out.len();
        let r = self.write_chunk(ops, out);
        if r.is_err() {
            out.truncate(start);
            self.failed = true;
        }
        r
    }

    fn commit(mut self: Box<Self>, request_hash: &str, report: &str) -> Result<()> {
        if self.failed {
            return Err(StoreError::Backend(
                "an earlier write of this batch failed: the batch is rolled back".into(),
            ));
        }
        self.send_now()?;
        let mut conn = self.take_ready()?;
        // On failure the pooled connection rolls back (or is discarded) when dropped.
        conn.execute(
            "WITH d AS (UPDATE datasets SET live = live + $4, feed_head = $6 WHERE id = $5)
             UPDATE batches SET report = $2, request_hash = $3 WHERE seq = $1",
            &[
                &self.seq,
                &report,
                &request_hash,
                &self.live_change,
                &self.dataset,
                &self.feed_head,
            ],
        )?;
        conn.commit()?;
        Ok(())
    }
}
