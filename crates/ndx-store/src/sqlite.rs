//! The embedded SQLite backend: one file in the data directory, WAL journal with
//! `synchronous=FULL` so that a committed batch survives a crash of the process or the machine.
//! One writer connection (checked out for a whole batch) and a small pool of readers.
//!
//! The audit log lives in a second file beside the store (`<stem>-audit.db`) with its own
//! migrations, its own writer and its own readers: an audited read appends its event without
//! waiting for a long ingest batch that holds the data writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params, types::Value as SqlValue};

mod catalog;

use crate::{
    AuditAppend, AuditEntry, Backend, BatchBackend, BatchMeta, FieldFilter, RecordVersion, Result,
    StoreError, StoredBatch, StoredHead, WriteOp, WriteOutcome, loaded_bytes, loaded_index,
    stored_index, stored_limit, stored_range,
};

/// Numbered migrations; applied in order at open, never edited once released.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_live_count.sql")),
    (3, include_str!("../migrations/sqlite/0003_catalog.sql")),
];

/// Numbered migrations of the audit file, versioned by that file's own `user_version`.
const AUDIT_MIGRATIONS: &[(i64, &str)] =
    &[(1, include_str!("../migrations/sqlite-audit/0001_audit.sql"))];

/// Idle reader connections kept open. Opening one costs more than most reads (PRAGMAs, schema
/// parse), so the pool covers the concurrency an HTTP server sees; readers keep a small page
/// cache of their own and share pages through the OS cache.
const READER_POOL: usize = 64;

/// Idle reader connections of the audit file kept open: audit reads (proofs, heads, the data
/// tracker) are far rarer than data reads.
const AUDIT_READER_POOL: usize = 8;

pub(crate) struct SqliteBackend {
    path: std::path::PathBuf,
    writer: Arc<WriterSlot>,
    readers: Mutex<Vec<Connection>>,
    audit: AuditFile,
}

/// The single writer connection, checked out for a whole batch.
struct WriterSlot {
    conn: Mutex<Option<Connection>>,
    free: Condvar,
}

impl WriterSlot {
    fn checkout(&self) -> Connection {
        let mut slot = self.conn.lock().expect("writer slot poisoned");
        loop {
            if let Some(c) = slot.take() {
                return c;
            }
            slot = self.free.wait(slot).expect("writer slot poisoned");
        }
    }

    fn checkin(&self, conn: Connection) {
        *self.conn.lock().expect("writer slot poisoned") = Some(conn);
        self.free.notify_one();
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(m: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(m).single().unwrap_or_default()
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = open_file(path)?;
    conn.execute_batch(
        // 16 KiB pages: fewer b-tree levels and splits for bulk loads (measured in
        // BENCHMARKS.md); it only takes effect when the file is created.
        "PRAGMA page_size=16384;
         PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         PRAGMA temp_store=MEMORY;
         PRAGMA cache_size=-65536;",
    )?;
    Ok(conn)
}

/// Opens a database file with the busy timeout every connection uses.
fn open_file(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Backend(format!("cannot open store {}: {e}", path.display())))?;
    // Another process's writer (or a checkpoint) holds the file only briefly.
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(conn)
}

/// Opens a connection to the audit file: durable like the store (WAL, `synchronous=FULL`), with
/// SQLite's default page size (its rows are small; bigger pages only pay off for bulk loads).
fn open_audit_connection(path: &Path) -> Result<Connection> {
    let conn = open_file(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA temp_store=MEMORY;",
    )?;
    Ok(conn)
}

/// The audit file of the store at `store`: `<dir>/<stem>-audit.db` for `<dir>/<stem>.db`, and
/// the store's file name followed by `-audit.db` otherwise (so that two stores in one
/// directory never share an audit file).
fn audit_path(store: &Path) -> PathBuf {
    let name = store.file_name().unwrap_or_default().to_string_lossy();
    let audit = match name.strip_suffix(".db") {
        Some(stem) if !stem.is_empty() => format!("{stem}-audit.db"),
        _ => format!("{name}-audit.db"),
    };
    store.with_file_name(audit)
}

/// Creates the database file readable by its owner only (it holds personal data); SQLite gives
/// the WAL and shared-memory files the same permissions.
fn create_private(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create store {}: {e}",
            path.display()
        ))),
    }
}

/// Applies the `migrations` a file lacks (its `user_version` says which it has); `what` names
/// the file in the message that refuses one newer than this binary.
fn migrate(conn: &mut Connection, migrations: &[(i64, &str)], what: &str) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = migrations.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::Incompatible(format!(
            "{what} has schema version {current}, newer than this binary knows ({known}): \
             upgrade ndx"
        )));
    }
    for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

fn conflict_or(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(what())
        }
        other => other.into(),
    }
}

impl SqliteBackend {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        create_private(path)?;
        let mut writer = open_connection(path)?;

        migrate(&mut writer, MIGRATIONS, "the store")?;
        let audit = AuditFile::open(&audit_path(path))?;
        Ok(SqliteBackend {
            path: path.to_owned(),
            writer: Arc::new(WriterSlot {
                conn: Mutex::new(Some(writer)),
                free: Condvar::new(),
            }),
            readers: Mutex::new(Vec::new()),
            audit,
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().expect("reader pool poisoned").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = open_connection(&self.path)?;
                c.execute_batch("PRAGMA cache_size=-8192;")?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().expect("reader pool poisoned");
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.writer.checkout();
        let out = f(&conn);
        self.writer.checkin(conn);
        out
    }

    fn dataset_id(conn: &Connection, dataset: &str) -> Result<Option<i64>> {
        Ok(conn
            .prepare_cached("SELECT id FROM datasets WHERE name = ?1")?
            .query_row([dataset], |r| r.get(0))
            .optional()?)
    }
}

/// The audit log's file, with a writer and readers of its own.
struct AuditFile {
    path: PathBuf,
    /// Held for one append (or head) at a time, never across calls: a plain mutex suffices.
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl AuditFile {
    fn open(path: &Path) -> Result<AuditFile> {
        create_private(path)?;
        let mut writer = open_audit_connection(path)?;
        migrate(
            &mut writer,
            AUDIT_MIGRATIONS,
            &format!("the audit log {}", path.display()),
        )?;
        Ok(AuditFile {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The pool is a plain list: a panic elsewhere cannot leave it inconsistent.
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.pool().pop() {
            Some(c) => c,
            None => open_audit_connection(&self.path)?,
        };
        let out = f(&conn);
        let mut pool = self.pool();
        if pool.len() < AUDIT_READER_POOL {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, which takes the file's write lock first
    /// (appenders in other processes wait for it, within the busy timeout), and commits it if
    /// `f` succeeds.
    fn transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // A panic while the lock was held leaves at worst an open transaction, undone below:
        // refusing every later append instead would stop the whole service.
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")?;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let out = f(&conn).and_then(|v| {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        });
        if out.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        out
    }
}

/// The log size: one past the largest leaf index (a backward step on the primary key).
fn audit_size(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries")?
        .query_row([], |r| r.get(0))?)
}

const HEAD_COLUMNS: &str = "tree_size, at_ms, root, signature";

fn head_from_row(r: &rusqlite::Row<'_>) -> Result<StoredHead> {
    let at_ms: i64 = r.get(1)?;
    Ok(StoredHead {
        tree_size: loaded_index(r.get(0)?)?,
        timestamp: Utc.timestamp_millis_opt(at_ms).single().ok_or_else(|| {
            StoreError::Backend(format!("stored tree head time {at_ms} is out of range"))
        })?,
        root_hash: loaded_bytes(&r.get::<_, Vec<u8>>(2)?, "root hash")?,
        signature: loaded_bytes(&r.get::<_, Vec<u8>>(3)?, "signature")?,
    })
}

fn heads(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<StoredHead>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(head_from_row(row)?);
    }
    Ok(out)
}

const VERSION_COLUMNS: &str = "r.version, b.created_at, b.source_system, b.batch_id, \
                               b.schema_version, r.hash, r.body, r.prev, r.key";

fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(RecordVersion, Option<i64>)> {
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

fn version_at(conn: &Connection, rowid: i64) -> Result<(RecordVersion, Option<i64>)> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM records r JOIN batches b ON b.seq = r.batch WHERE r.rowid = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([rowid], version_from_row)?)
}

fn current_rowid(conn: &Connection, dataset: &str, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT c.rec FROM current c JOIN datasets d ON d.id = c.dataset
             WHERE d.name = ?1 AND c.key = ?2",
        )?
        .query_row(params![dataset, key], |r| r.get(0))
        .optional()?)
}

impl Backend for SqliteBackend {
    fn begin_batch(&self, dataset: &str, meta: BatchMeta) -> Result<Box<dyn BatchBackend>> {
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

    fn batch(&self, dataset: &str, batch_id: &str) -> Result<Option<StoredBatch>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT b.batch_id, b.request_hash, b.report FROM batches b
                 JOIN datasets d ON d.id = b.dataset
                 WHERE d.name = ?1 AND b.batch_id = ?2 AND b.report IS NOT NULL",
            )?
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

    fn count(&self, dataset: &str) -> Result<u64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT live FROM datasets WHERE name = ?1")?
                    .query_row([dataset], |r| r.get::<_, i64>(0))
                    .optional()?
                    .unwrap_or(0) as u64,
            )
        })
    }

    fn audit_append(&self, append: &AuditAppend<'_>) -> Result<()> {
        let Some(first) = append.entries.first() else {
            return Ok(());
        };
        let first = stored_index(first.index)?;
        self.audit.transaction(|c| {
            let size = audit_size(c)?;
            if size != first {
                return Err(StoreError::Conflict(format!(
                    "audit entries start at index {first} but the log holds {size}"
                )));
            }
            let mut insert =
                c.prepare_cached("INSERT INTO audit_entries(idx, bytes) VALUES (?1, ?2)")?;
            for entry in append.entries {
                insert.execute(params![stored_index(entry.index)?, entry.bytes])?;
            }
            let mut insert =
                c.prepare_cached("INSERT INTO audit_nodes(level, idx, hash) VALUES (?1, ?2, ?3)")?;
            for node in append.nodes {
                insert
                    .execute(params![node.level, stored_index(node.index)?, node.hash])
                    .map_err(|e| {
                        conflict_or(e, || "a node of the audit group is already stored".into())
                    })?;
            }
            // A subject named twice for one entry is one row of the tracker.
            let mut insert = c.prepare_cached(
                "INSERT OR IGNORE INTO subject_accesses(subject, idx) VALUES (?1, ?2)",
            )?;
            for access in append.subjects {
                insert.execute(params![access.subject, stored_index(access.index)?])?;
            }
            Ok(())
        })
    }

    fn audit_size(&self) -> Result<u64> {
        self.audit.read(|c| loaded_index(audit_size(c)?))
    }

    fn audit_entries(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>> {
        let Some((first, last)) = stored_range(start, end) else {
            return Ok(Vec::new());
        };
        self.audit.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx, bytes FROM audit_entries WHERE idx >= ?1 AND idx <= ?2 ORDER BY idx",
            )?;
            let mut rows = stmt.query([first, last])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(AuditEntry {
                    index: loaded_index(row.get(0)?)?,
                    bytes: row.get(1)?,
                });
            }
            Ok(out)
        })
    }

    fn audit_nodes(&self, addresses: &[(u32, u64)]) -> Result<Vec<Option<[u8; 32]>>> {
        // One prepared probe per address: in-process, a loop costs no round trips. Nodes are
        // never changed once written, so the probes need no common snapshot.
        self.audit.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")?;
            let mut out = Vec::with_capacity(addresses.len());
            for &(level, index) in addresses {
                let Ok(index) = i64::try_from(index) else {
                    out.push(None);
                    continue;
                };
                let hash: Option<Vec<u8>> = stmt
                    .query_row(params![level, index], |r| r.get(0))
                    .optional()?;
                out.push(hash.map(|h| loaded_bytes(&h, "node hash")).transpose()?);
            }
            Ok(out)
        })
    }

    fn audit_put_head(&self, head: &StoredHead) -> Result<()> {
        let size = stored_index(head.tree_size)?;
        self.audit.transaction(|c| {
            let stored = heads(
                c,
                &format!("SELECT {HEAD_COLUMNS} FROM audit_heads WHERE tree_size = ?1"),
                [size],
            )?;
            match stored.first() {
                Some(same) if same == head => Ok(()),
                Some(_) => Err(StoreError::Conflict(format!(
                    "another tree head is stored for size {size}"
                ))),
                None => {
                    c.prepare_cached(
                        "INSERT INTO audit_heads(tree_size, at_ms, root, signature)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        size,
                        head.timestamp.timestamp_millis(),
                        head.root_hash,
                        head.signature
                    ])?;
                    Ok(())
                }
            }
        })
    }

    fn audit_latest_head(&self) -> Result<Option<StoredHead>> {
        self.audit.read(|c| {
            Ok(heads(
                c,
                &format!("SELECT {HEAD_COLUMNS} FROM audit_heads ORDER BY tree_size DESC LIMIT 1"),
                [],
            )?
            .pop())
        })
    }

    fn audit_heads(&self, from_size: u64, limit: usize) -> Result<Vec<StoredHead>> {
        let Ok(from) = i64::try_from(from_size) else {
            return Ok(Vec::new());
        };
        self.audit.read(|c| {
            heads(
                c,
                &format!(
                    "SELECT {HEAD_COLUMNS} FROM audit_heads WHERE tree_size >= ?1
                     ORDER BY tree_size LIMIT ?2"
                ),
                [from, stored_limit(limit)],
            )
        })
    }

    fn subject_accesses(
        &self,
        subject: &[u8; 32],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let last = crate::last_before(before);
        self.audit.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT idx FROM subject_accesses WHERE subject = ?1 AND idx <= ?2
                 ORDER BY idx DESC LIMIT ?3",
            )?;
            let mut rows = stmt.query(params![subject, last, stored_limit(limit)])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(loaded_index(row.get(0)?)?);
            }
            Ok(out)
        })
    }
}

struct SqliteBatch {
    slot: Arc<WriterSlot>,
    conn: Option<Connection>,
    dataset: i64,
    seq: i64,
    /// The dataset had no record when the batch began: every key is new unless this batch
    /// wrote it already, so a write needs no lookup first.
    fresh: bool,
    /// Rowid of the next version row (this connection is the only writer).
    next_rowid: i64,
    /// Rowid of the first version this batch writes.
    first_rowid: i64,
    /// Keys this batch found unchanged: a second occurrence is still a duplicate.
    unchanged: std::collections::HashSet<String>,
    /// Upserts seen and how many of them were new keys: while most keys are new, inserting
    /// first (and looking up only on a conflict) saves a lookup per record.
    upserts: u64,
    new_keys: u64,
    /// Records created minus records deleted so far: added to `datasets.live` at commit.
    live_change: i64,
}

impl SqliteBatch {
    fn insert_first(&self) -> bool {
        self.fresh || self.upserts < 64 || self.new_keys * 4 >= self.upserts * 3
    }
}

struct Current {
    version: i64,
    hash: Vec<u8>,
    deleted: bool,
    rec: i64,
}

// Version, content hash and batch live in `records` only: that keeps `current` entries small
// (they are inserted in random key order, the costliest part of a bulk load), and they are
// needed only when a key already exists. A version written by this batch has a rowid at or
// above the batch's first rowid, which is how duplicates within the batch are recognised.
const SELECT_CURRENT: &str = "SELECT r.version, r.hash, c.deleted, c.rec
     FROM current c JOIN records r ON r.rowid = c.rec WHERE c.dataset = ?1 AND c.key = ?2";
const INSERT_CURRENT: &str = "INSERT INTO current(dataset, key, deleted, rec)
     VALUES (?1, ?2, ?3, ?4)";
const UPDATE_CURRENT: &str = "UPDATE current SET deleted = ?3, rec = ?4
     WHERE dataset = ?1 AND key = ?2";
// Rowids are left to SQLite (max + 1: an append without a uniqueness probe) and checked against
// the ones this batch predicted. `OR FAIL` keeps SQLite from journaling each statement so that it
// could undo it alone: any failure aborts the whole batch anyway.
const INSERT_RECORD: &str =
    "INSERT OR FAIL INTO records(dataset, key, version, batch, hash, body, prev)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Checks that the version just inserted got the rowid the batch predicted (and pointed
/// `current` at).
fn check_appended(conn: &Connection, expected: i64) -> Result<()> {
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
const RECORD_ROWS: usize = 32;

/// `INSERT INTO records … VALUES (…), …` for [`RECORD_ROWS`] first versions: `?1` dataset,
/// `?2` batch, then key, hash and body of each row.
fn insert_records_sql() -> &'static str {
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
type FirstVersion<'a> = (i64, &'a str, &'a [u8], Option<&'a str>);

fn flush_first_versions(
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

fn is_constraint(e: &rusqlite::Error) -> bool {
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
            if cur.as_ref().is_some_and(|c| c.rec >= self.first_rowid)
                || self.unchanged.contains(&op.key)
            {
                out.push(WriteOutcome::DuplicateInBatch);
                continue;
            }
            let outcome = match (&op.body, &cur) {
                (None, Some(c)) if !c.deleted => WriteOutcome::Deleted,
                (None, _) => {
                    out.push(WriteOutcome::NotFound);
                    continue;
                }
                (Some(_), Some(c)) if !c.deleted && c.hash == op.hash => {
                    self.unchanged.insert(op.key.clone());
                    out.push(WriteOutcome::Unchanged);
                    continue;
                }
                (Some(_), Some(c)) if !c.deleted => WriteOutcome::Updated,
                (Some(_), _) => {
                    self.new_keys += 1;
                    WriteOutcome::Created
                }
            };
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
            conn.prepare_cached(
                "UPDATE batches SET report = ?2, request_hash = ?3 WHERE seq = ?1",
            )?
            .execute(params![self.seq, report, request_hash])?;
            conn.prepare_cached("UPDATE datasets SET live = live + ?2 WHERE id = ?1")?
                .execute(params![self.dataset, self.live_change])?;
            conn.execute_batch("COMMIT")?;
            Ok(())
        })();
        if result.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.slot.checkin(conn);
        result
    }
}

impl Drop for SqliteBatch {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.execute_batch("ROLLBACK");
            self.slot.checkin(conn);
        }
    }
}
