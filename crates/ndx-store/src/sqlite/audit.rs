//! The audit log on SQLite: a file of its own beside the store (`<stem>-audit.db`) with its own
//! migrations, writer and readers, so that an audited read appends its event without waiting
//! for a long ingest batch that holds the data writer. One append is one `BEGIN IMMEDIATE`
//! transaction (the file's write lock serialises appenders across processes) that checks the
//! log size before it inserts.
//!
//! The audit anchor (`audit_anchor`, migration 0004 of the store file) is the other direction:
//! the store file keeps the latest signed head of the audit file it has seen. It is moved by a
//! connection of its own with no busy wait (`busy_timeout = 0`): while a batch holds the store's
//! write lock the appender skips the anchor and tries again on its next tick, so an audited
//! read never waits behind a long batch. Its commits are not fsynced (`synchronous=NORMAL`): a
//! lost anchor update only leaves the anchor older, which the invariant "anchor ≤ log" allows;
//! nor does it checkpoint the WAL (`wal_autocheckpoint=0`): the data writer does that.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteBackend;
use super::conn::{conflict_or, create_private, open_file, open_read_only};
use super::migrate::{AUDIT_MIGRATIONS, check_version, migrate};
use super::tracker;
use crate::audit::{AUDIT_ENTRIES_SQL, AUDIT_SIZE_SQL, loaded_bytes, loaded_index, stored_index};
use crate::{
    AuditAnchor, AuditAppend, AuditBackend, AuditEntry, FoldLimits, FoldReport, Result, StoreError,
    StoredHead, SubjectAccess,
};

/// Idle reader connections of the audit file kept open: audit reads (proofs, heads, the data
/// tracker) are far rarer than data reads.
pub(super) const AUDIT_READER_POOL: usize = 8;

/// Page cache of the audit log's single writer, KiB.
const AUDIT_WRITER_CACHE_KIB: u32 = 32 * 1024;

/// Opens a connection to the audit file: durable like the store (WAL, `synchronous=FULL`), with
/// SQLite's default page size (its rows are small; bigger pages only pay off for bulk loads).
pub(super) fn open_audit_connection(path: &Path) -> Result<Connection> {
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
pub(super) fn audit_path(store: &Path) -> PathBuf {
    let name = store.file_name().unwrap_or_default().to_string_lossy();
    let audit = match name.strip_suffix(".db") {
        Some(stem) if !stem.is_empty() => format!("{stem}-audit.db"),
        _ => format!("{name}-audit.db"),
    };
    store.with_file_name(audit)
}

/// The audit log's file, with a writer and readers of its own.
pub(super) struct AuditFile {
    pub(super) path: PathBuf,
    /// Held for one append (or head) at a time, never across calls: a plain mutex suffices.
    pub(super) writer: Mutex<Connection>,
    pub(super) readers: Mutex<Vec<Connection>>,
    /// Its own connection for checkpoints, so that one runs beside the writer's commits
    /// instead of waiting for (and holding up) the writer's mutex. Opened on first use.
    checkpointer: Mutex<Option<Connection>>,
    /// Held by the tracker's folder for a whole call: one folds at a time in a process.
    fold: Mutex<tracker::FoldState>,
    read_only: bool,
}

impl AuditFile {
    /// Opens an existing audit file without changing it (`ndx audit verify`).
    pub(super) fn open_read_only(path: &Path) -> Result<AuditFile> {
        let writer = open_read_only(path)?;
        check_version(
            &writer,
            AUDIT_MIGRATIONS,
            &format!("the audit log {}", path.display()),
        )?;
        Ok(AuditFile {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            checkpointer: Mutex::new(None),
            fold: Mutex::default(),
            read_only: true,
        })
    }

    pub(super) fn open(path: &Path) -> Result<AuditFile> {
        create_private(path)?;
        let mut writer = open_audit_connection(path)?;
        // The data tracker's index takes each subject at a place given by its keyed hash, so
        // the appender's inserts land all over it: with SQLite's default 2 MB cache they read
        // most of their pages back from the file (a quarter of a bulk extract's time, profiled
        // in BENCHMARKS.md). 32 MiB holds the index of millions of entries.
        //
        // No checkpoint inside a commit (`wal_autocheckpoint=0`): the appender has them run
        // on a thread and connection of their own ([`AuditBackend::audit_checkpoint`]), so no
        // waiter waits for a checkpoint's page writes and fsync. Other processes' connections
        // (the CLI) keep SQLite's default and checkpoint at their commits.
        writer.execute_batch(&format!(
            "PRAGMA cache_size=-{AUDIT_WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint=0;"
        ))?;
        migrate(
            &mut writer,
            AUDIT_MIGRATIONS,
            &format!("the audit log {}", path.display()),
        )?;
        Ok(AuditFile {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            checkpointer: Mutex::new(None),
            fold: Mutex::default(),
            read_only: false,
        })
    }

    pub(super) fn pool(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The pool is a plain list: a panic elsewhere cannot leave it inconsistent.
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.pool().pop() {
            Some(c) => c,
            None if self.read_only => open_read_only(&self.path)?,
            None => open_audit_connection(&self.path)?,
        };
        let out = f(&conn);
        let mut pool = self.pool();
        if pool.len() < AUDIT_READER_POOL {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction of the writer (see [`in_transaction`]).
    pub(super) fn transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        in_transaction(&conn, f)
    }

    /// [`AuditFile::transaction`] without an fsync of its own (`synchronous=NORMAL` for its
    /// commit): for the tracker's folder, whose writes are only published by a later switch
    /// and are made durable by the next append's fsync of the same write-ahead log.
    pub(super) fn unsynced<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        let out = in_transaction(&conn, f);
        conn.execute_batch("PRAGMA synchronous=FULL")?;
        out
    }

    /// The folder's state, held for one call.
    pub(super) fn fold_state(&self) -> MutexGuard<'_, tracker::FoldState> {
        self.fold.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer `conn`, which takes the file's
/// write lock first (appenders in other processes wait for it, within the busy timeout), and
/// commits it if `f` succeeds.
fn in_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    // A panic while the lock was held leaves at worst an open transaction, undone below:
    // refusing every later append instead would stop the whole service.
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let out = f(conn).and_then(|v| {
        conn.execute_batch("COMMIT")?;
        Ok(v)
    });
    if out.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    out
}

/// The log size: one past the largest leaf index (a backward step on the primary key).
pub(super) fn audit_size(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(AUDIT_SIZE_SQL)?
        .query_row([], |r| r.get(0))?)
}

pub(super) const HEAD_COLUMNS: &str = "tree_size, at_ms, root, signature";

pub(super) fn head_from_row(r: &rusqlite::Row<'_>) -> Result<StoredHead> {
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

pub(super) fn heads(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredHead>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(head_from_row(row)?);
    }
    Ok(out)
}

impl AuditBackend for SqliteBackend {
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
            tracker::append(c, append.subjects)
        })
    }

    fn audit_size(&self) -> Result<u64> {
        self.audit.read(|c| loaded_index(audit_size(c)?))
    }

    fn audit_entries(&self, first: i64, last: i64) -> Result<Vec<AuditEntry>> {
        self.audit.read(|c| {
            let mut stmt = c.prepare_cached(AUDIT_ENTRIES_SQL)?;
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

    fn audit_heads(&self, from: i64, limit: i64) -> Result<Vec<StoredHead>> {
        self.audit.read(|c| {
            heads(
                c,
                &format!(
                    "SELECT {HEAD_COLUMNS} FROM audit_heads WHERE tree_size >= ?1
                     ORDER BY tree_size LIMIT ?2"
                ),
                [from, limit],
            )
        })
    }

    fn subject_rows(&self, subject: &[u8], index: i64, limit: i64) -> Result<Vec<SubjectAccess>> {
        self.audit.read(|c| tracker::rows(c, subject, index, limit))
    }

    fn audit_anchor(&self) -> Result<AuditAnchor> {
        self.read(|c| {
            type Row = (i64, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>, i64);
            let row: Option<Row> = c
                .prepare_cached(
                    "SELECT tree_size, at_ms, root, signature, subjects FROM audit_anchor
                      WHERE id = 1",
                )?
                .query_row([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            Ok(match row {
                None => AuditAnchor::Missing,
                Some((size, Some(at_ms), Some(root), Some(signature), subjects)) if size > 0 => {
                    AuditAnchor::Head {
                        subjects: loaded_index(subjects)?,
                        head: StoredHead {
                            tree_size: loaded_index(size)?,
                            timestamp: Utc.timestamp_millis_opt(at_ms).single().ok_or_else(
                                || {
                                    StoreError::Backend(format!(
                                        "stored anchor time {at_ms} is out of range"
                                    ))
                                },
                            )?,
                            root_hash: loaded_bytes(&root, "anchor root hash")?,
                            signature: loaded_bytes(&signature, "anchor signature")?,
                        },
                    }
                }
                Some(_) => AuditAnchor::Unset,
            })
        })
    }

    fn subject_count(&self, end: i64) -> Result<u64> {
        self.audit.read(|c| tracker::count(c, end))
    }

    fn audit_put_anchor(&self, head: &StoredHead, subjects: i64, wait: bool) -> Result<bool> {
        let mut slot = self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match slot.as_mut() {
            Some(c) => c,
            None => {
                let c = open_file(&self.path)?;
                // Never checkpoint from here: after a big batch that could take seconds on
                // the appender's thread (the data writer checkpoints at its commits).
                c.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;")?;
                slot.insert(c)
            }
        };
        conn.busy_timeout(if wait {
            std::time::Duration::from_secs(30)
        } else {
            std::time::Duration::ZERO
        })?;
        let size = stored_index(head.tree_size)?;
        let r = conn
            .prepare_cached(
                "UPDATE audit_anchor SET tree_size = ?1, at_ms = ?2, root = ?3, signature = ?4,
                        subjects = ?5
                 WHERE id = 1 AND tree_size < ?1",
            )?
            .execute(params![
                size,
                head.timestamp.timestamp_millis(),
                head.root_hash,
                head.signature,
                subjects
            ]);
        match r {
            Ok(_) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if !wait
                    && matches!(
                        f.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn audit_checkpoint(&self) -> Result<()> {
        if self.audit.read_only {
            return Ok(());
        }
        let mut slot = self
            .audit
            .checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(open_audit_connection(&self.audit.path)?),
        };
        // PASSIVE: copies what no reader still needs and returns, without taking the write
        // lock (the appender commits meanwhile); what is left goes on the next call.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn subject_accesses(&self, subject: &[u8; 32], last: i64, limit: i64) -> Result<Vec<u64>> {
        self.audit
            .read(|c| tracker::accesses(c, subject, last, limit))
    }

    fn audit_fold_tracker(&self, limits: &FoldLimits) -> Result<FoldReport> {
        if self.audit.read_only {
            return Ok(FoldReport::default());
        }
        tracker::fold(&self.audit, limits)
    }
}
