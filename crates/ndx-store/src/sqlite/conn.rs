//! Connections to the store's file: how one is opened (pragmas, busy timeout, a file readable
//! by its owner only), the single writer slot, times as stored (microseconds) and the mapping
//! of constraint failures to `Conflict`.

use std::path::Path;
use std::sync::{Condvar, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use crate::{Result, StoreError};

/// The single writer connection, checked out for a whole batch.
pub(super) struct WriterSlot {
    pub(super) conn: Mutex<Option<Connection>>,
    pub(super) free: Condvar,
}

impl WriterSlot {
    pub(super) fn checkout(&self) -> Connection {
        let mut slot = self.conn.lock().expect("writer slot poisoned");
        loop {
            if let Some(c) = slot.take() {
                return c;
            }
            slot = self.free.wait(slot).expect("writer slot poisoned");
        }
    }

    pub(super) fn checkin(&self, conn: Connection) {
        *self.conn.lock().expect("writer slot poisoned") = Some(conn);
        self.free.notify_one();
    }
}

/// The WAL a writer keeps for reuse; past it, the space of a rolled-back batch goes back to the
/// file system at once (and a checkpoint that empties the WAL truncates it to this size).
pub(super) const WAL_KEPT_BYTES: u64 = 64 * 1024 * 1024;

/// Rolls the writer's transaction back and, when the batch spilled more than
/// [`WAL_KEPT_BYTES`] into the WAL, checkpoints and truncates it: a refused 512 MB batch would
/// otherwise leave gigabytes of dead frames until the server stops. (The checkpoint waits for
/// readers like any write would; if one still holds an old snapshot the WAL is left for the
/// next checkpoint.)
pub(super) fn roll_back(conn: &Connection) {
    let _ = conn.execute_batch("ROLLBACK");
    let Some(path) = conn.path().filter(|p| !p.is_empty()) else {
        return;
    };
    let wal = format!("{path}-wal");
    let spilled = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if spilled > WAL_KEPT_BYTES
        && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    {
        tracing::warn!(
            "the WAL of a rolled-back batch ({spilled} bytes) stays until the next checkpoint: {e}"
        );
    }
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(m: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(m).single().unwrap_or_default()
}

pub(super) fn open_connection(path: &Path) -> Result<Connection> {
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
    conn.pragma_update(None, "journal_size_limit", WAL_KEPT_BYTES as i64)?;
    Ok(conn)
}

/// Opens an existing database file read-only (`ndx audit verify`): SQLite neither creates nor
/// changes it, and the connection refuses every write (`query_only`). A file without a WAL
/// beside it is closed (its last connection checkpointed and removed the WAL): it is opened
/// `immutable`, because a read-only connection in WAL mode would otherwise create the WAL and
/// shared-memory files and leave them behind. A file with a WAL (a running or crashed server)
/// is read through it, as any reader would.
pub(super) fn open_read_only(path: &Path) -> Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let immutable = !Path::new(&wal).exists();
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    let conn = Connection::open_with_flags(&uri, flags)
        .map_err(|e| StoreError::Backend(format!("cannot open store {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch("PRAGMA query_only=1;")?;
    Ok(conn)
}

/// Opens a database file with the busy timeout every connection uses.
pub(super) fn open_file(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Backend(format!("cannot open store {}: {e}", path.display())))?;
    // Another process's writer (or a checkpoint) holds the file only briefly.
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(conn)
}

/// Creates the database file readable by its owner only (it holds personal data); SQLite gives
/// the WAL and shared-memory files the same permissions.
pub(super) fn create_private(path: &Path) -> Result<()> {
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

pub(super) fn conflict_or(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(what())
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    /// `.cargo/config.toml` builds SQLite without its process-wide page-cache group and memory
    /// statistics locks (ARCHITECTURE.md): a build that lost the flags fails here.
    #[test]
    fn sqlite_is_built_without_global_locks() {
        let conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
        let mut stmt = conn
            .prepare("PRAGMA compile_options")
            .expect("compile options");
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("compile options")
            .collect::<Result<_, _>>()
            .expect("compile options");
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }
}
