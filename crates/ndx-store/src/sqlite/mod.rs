//! The embedded SQLite backend: one file in the data directory, WAL journal with
//! `synchronous=FULL` so that a committed batch survives a crash of the process or the machine.
//! One writer connection (checked out for a whole batch) and a small pool of readers.
//!
//! Layout (`migrations/sqlite/`): `records` is append-only (one row per version, rowid order,
//! `prev` links a version to the one before, `body IS NULL` is a tombstone, the content hash
//! lives here); `current` (WITHOUT ROWID, keyed by dataset and key) points at the current
//! version; `batches` holds the lineage every version refers to (batch id, source system,
//! schema version, time) and the stored report. History and as-of reads walk the `prev` chain;
//! `superseded` (migration 0007) holds the same links forward, keyed by the replaced version,
//! so that a snapshot read in rowid order knows which versions were replaced, and when.
//! `datasets.live` (migration 0002) counts the non-deleted records, kept by each batch's
//! commit, so `count` reads one row. 16 KiB pages (fewer b-tree levels and splits for bulk
//! loads, measured in BENCHMARKS.md).
//!
//! The audit log lives in a second file beside the store (`<stem>-audit.db`) with its own
//! migrations, its own writer and its own readers: an audited read appends its event without
//! waiting for a long ingest batch that holds the data writer.
//!
//! Modules by concern: `conn` (opening connections, the writer slot), `migrate`, `catalog`
//! (the catalogue's SQL primitives), `records` (reads), `batch` (the tuned batch writer), `audit`
//! (the audit file), `tracker` (the data tracker in it: a log folded into sorted runs).

mod audit;
mod batch;
mod blobs;
mod catalog;
mod conn;
mod migrate;
mod records;
mod tracker;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, OptionalExtension};

use self::audit::{AuditFile, audit_path};
use self::conn::{WriterSlot, create_private, open_connection, open_read_only};
use self::migrate::{MIGRATIONS, check_version, migrate};
use crate::{OpenMode, Result, StoreError};

/// Idle reader connections kept open. Opening one costs more than most reads (PRAGMAs, schema
/// parse), so the pool covers the concurrency an HTTP server sees; readers keep a small page
/// cache of their own and share pages through the OS cache.
const READER_POOL: usize = 64;

pub(crate) struct SqliteBackend {
    path: std::path::PathBuf,
    writer: Arc<WriterSlot>,
    readers: Mutex<Vec<Connection>>,
    /// Opened with [`OpenMode::ReadOnly`]: every connection is read-only.
    read_only: bool,
    audit: AuditFile,
    /// The connection that moves the audit anchor (see `audit.rs`), opened on first use.
    anchor: Mutex<Option<Connection>>,
}

/// Refuses an audit file that is missing or empty beside the store at `store` (which anchors
/// `anchored` entries, when known).
fn audit_file_present(audit: &Path, store: &Path, anchored: Option<i64>) -> Result<()> {
    let why = anchored.map_or_else(String::new, |n| {
        format!(" although the data store anchors a signed head of {n} entries")
    });
    match std::fs::metadata(audit) {
        Ok(m) if m.len() > 0 => Ok(()),
        Ok(_) => Err(StoreError::Incompatible(format!(
            "the audit log {} beside the store {} is empty (0 bytes){why}: it was truncated",
            audit.display(),
            store.display()
        ))),
        Err(_) => Err(StoreError::Incompatible(format!(
            "the audit log {} beside the store {} is missing{why}: it was deleted or moved",
            audit.display(),
            store.display()
        ))),
    }
}

impl SqliteBackend {
    pub(crate) fn open(path: &Path, mode: OpenMode) -> Result<Self> {
        let audit_file = audit_path(path);
        let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        if mode != OpenMode::Create && !exists {
            return Err(StoreError::NotFound(format!(
                "no ndx store at {}: check --data-dir or --store (only `ndx serve` and `ndx \
                 demo` create a store)",
                path.display()
            )));
        }
        let read_only = mode == OpenMode::ReadOnly;
        let writer = if read_only {
            // Verification reads what is there: a missing or emptied audit file is an error.
            audit_file_present(&audit_file, path, None)?;
            let conn = open_read_only(path)?;
            check_version(&conn, MIGRATIONS, "the store")?;
            conn
        } else {
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
            // Once the data store anchors a head, its audit file must be there: a missing or
            // emptied one was deleted or truncated, and a new log beside the data would hide it.
            let anchored: i64 = writer.query_row(
                "SELECT coalesce((SELECT tree_size FROM audit_anchor WHERE id = 1), 0)",
                [],
                |r| r.get(0),
            )?;
            if anchored > 0 {
                audit_file_present(&audit_file, path, Some(anchored))?;
            }
            writer
        };
        let audit = if read_only {
            AuditFile::open_read_only(&audit_file)?
        } else {
            AuditFile::open(&audit_file)?
        };
        Ok(SqliteBackend {
            path: path.to_owned(),
            writer: Arc::new(WriterSlot {
                conn: Mutex::new(Some(writer)),
                free: Condvar::new(),
            }),
            readers: Mutex::new(Vec::new()),
            read_only,
            audit,
            anchor: Mutex::new(None),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().expect("reader pool poisoned").pop();
        let conn = match conn {
            Some(c) => c,
            None if self.read_only => open_read_only(&self.path)?,
            None => {
                let c = open_connection(&self.path)?;
                c.execute_batch("PRAGMA cache_size=-2048;")?;
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
