//! The storage seam of ndx. [`Store`] is the one handle every service uses; it wraps a private
//! backend chosen from the store URL (`sqlite://path`, or `postgres://…` with the `postgres`
//! feature, on by default). The store hands out one handle per area. The catalogue of governed
//! objects ([`Store::catalog`]) is written once for every engine over a few SQL primitives
//! (`catalog/`); records (`RecordsBackend`: batches, versions, reads) and the audit log
//! (`AuditBackend`: the log and the data tracker), tuned per engine, are private traits. Every
//! backend passes the same conformance suite (`tests/conformance/`).
//!
//! Each engine is a folder of modules by concern (`sqlite/`, `postgres/`); what does not depend
//! on the engine is written once here: the catalogue, the rule that decides a write's outcome
//! (`outcome.rs`), the audit log's types and stored-integer conversions (`audit.rs`).
#![warn(missing_docs)]

mod audit;
pub mod blobs;
pub mod catalog;
mod keys;
mod outcome;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

pub use audit::{
    AuditAnchor, AuditAppend, AuditEntry, AuditNode, FoldLimits, FoldReport, StoredHead,
    SubjectAccess,
};
use catalog::sql::CatalogEngine;
pub use catalog::{ApiKeyRecord, Catalog, KeyHolder};
pub use keys::MAX_KEY_BYTES;

/// TLS to PostgreSQL with libpq's `sslmode` and `sslrootcert`, for every PostgreSQL client of
/// ndx (the store's connections and the connectors' sources).
pub mod pg_tls {
    pub use crate::postgres::tls::{SslMode, make_connect};
}

use audit::{last_before, stored_index, stored_limit, stored_range};

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ndx_types::dictionary::SchemaVersion;
use serde::Serialize;

/// Result type of storage operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing already exists (a member code, an element id, a schema version…).
    #[error("{0}")]
    Conflict(String),
    /// A referenced thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The store URL is malformed or names an engine not compiled into this binary.
    #[error("{0}")]
    Config(String),
    /// The data on disk is newer than this binary or damaged.
    #[error("{0}")]
    Incompatible(String),
    /// A record key no engine accepts: empty, longer than [`MAX_KEY_BYTES`], or holding a
    /// control character. Checked before any SQL runs, so every engine answers alike.
    #[error("{0}")]
    KeyInvalid(String),
    /// A text holding a NUL character, which no engine is asked to store or look up.
    #[error("{0}")]
    TextInvalid(String),
    /// The backend failed (I/O, database error); details are for logs, not for callers.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(format!("stored JSON unreadable: {e}"))
    }
}

/// Every storage engine ndx knows, compiled in or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Embedded SQLite in the data directory (the default).
    Sqlite,
    /// PostgreSQL (scale-out).
    Postgres,
}

/// A version in its dataset's change feed: every version a batch writes (a tombstone for a
/// deletion) has a position in a gap-free sequence per dataset, in commit order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// 1 for the dataset's first version written, then one more for each.
    pub position: u64,
    /// The version (`body` is `None` for a deletion).
    pub record: RecordVersion,
}

/// A page of a dataset as it stood at a feed position ([`Records::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPage {
    /// The live versions found, in feed position order.
    pub versions: Vec<RecordVersion>,
    /// The last position examined: the next page starts after it (`at` when the snapshot is
    /// read to its end).
    pub reached: u64,
}

/// One version of one record, with its lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordVersion {
    /// The record key.
    pub key: String,
    /// Version number, 1 for the first.
    pub version: u64,
    /// When the version was recorded (the batch time).
    pub recorded_at: DateTime<Utc>,
    /// The system that sent it.
    pub source_system: String,
    /// The batch it came in.
    pub batch_id: String,
    /// The schema version it was validated against.
    pub schema_version: String,
    /// SHA-256 of the canonical content, hex (of the empty string for a tombstone).
    pub content_hash: String,
    /// Canonical JSON content; `None` for a deletion (tombstone).
    pub body: Option<String>,
}

/// What a write inside a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteOutcome {
    /// A new record (version 1, or a new version after a tombstone).
    Created,
    /// A new version of an existing record.
    Updated,
    /// Same content as the current version: no new version.
    Unchanged,
    /// A tombstone was written.
    Deleted,
    /// Deleting a record that does not exist (or is already deleted): nothing written.
    NotFound,
    /// The key was already written earlier in this same batch: refused.
    DuplicateInBatch,
}

/// Metadata of a batch, fixed when it begins.
#[derive(Debug, Clone)]
pub struct BatchMeta {
    /// The caller's batch id (idempotency key) or a generated one.
    pub batch_id: String,
    /// The system that sends it.
    pub source_system: String,
    /// The schema version records are validated against.
    pub schema_version: SchemaVersion,
    /// The batch time: every version written by the batch carries it.
    pub at: DateTime<Utc>,
}

/// A batch already applied, as stored for idempotent replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// The batch id.
    pub batch_id: String,
    /// Hash of the request that created it.
    pub request_hash: String,
    /// The report given the first time, as JSON.
    pub report: String,
}

/// A filter on a record field: equality with a typed JSON value.
#[derive(Debug, Clone)]
pub struct FieldFilter {
    /// Field name (already checked against the schema).
    pub field: String,
    /// Value to compare with.
    pub value: serde_json::Value,
}

/// One write of a batch: an upsert (with the canonical content and its SHA-256) or a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOp {
    /// The record key.
    pub key: String,
    /// Canonical JSON content; `None` deletes the record.
    pub body: Option<String>,
    /// SHA-256 of the content (ignored for deletions).
    pub hash: [u8; 32],
}

/// The backend of a [`BatchWriter`].
trait BatchBackend: Send {
    /// Applies `ops` in order, pushing one outcome per op onto `out`.
    fn write(&mut self, ops: &[WriteOp], out: &mut Vec<WriteOutcome>) -> Result<()>;
    fn commit(self: Box<Self>, request_hash: &str, report: &str) -> Result<()>;
}

/// Writes one batch inside one transaction. Nothing is visible until [`BatchWriter::commit`];
/// dropping the writer without committing rolls everything back.
pub struct BatchWriter {
    inner: Box<dyn BatchBackend>,
}

impl BatchWriter {
    /// Applies a chunk of writes in order (the fast path: backends prepare their statements
    /// once per chunk), pushing one outcome per op onto `out`.
    /// A key that is not a valid record key ([`StoreError::KeyInvalid`]) refuses the chunk
    /// before anything of it is written.
    pub fn write(&mut self, ops: &[WriteOp], out: &mut Vec<WriteOutcome>) -> Result<()> {
        for op in ops {
            keys::record_key(&op.key)?;
        }
        self.inner.write(ops, out)
    }
    /// Inserts or updates a record with its canonical content and content hash.
    pub fn upsert(&mut self, key: &str, canonical: &str, hash: &[u8; 32]) -> Result<WriteOutcome> {
        self.one(WriteOp {
            key: key.to_owned(),
            body: Some(canonical.to_owned()),
            hash: *hash,
        })
    }
    /// Writes a tombstone for the record.
    pub fn delete(&mut self, key: &str) -> Result<WriteOutcome> {
        self.one(WriteOp {
            key: key.to_owned(),
            body: None,
            hash: [0; 32],
        })
    }
    fn one(&mut self, op: WriteOp) -> Result<WriteOutcome> {
        let mut out = Vec::with_capacity(1);
        self.write(std::slice::from_ref(&op), &mut out)?;
        out.pop()
            .ok_or_else(|| StoreError::Backend("backend returned no outcome".into()))
    }
    /// Commits the batch durably with the hash of its request (SHA-256 of body and options,
    /// hex: the same batch id with another request is refused) and its report (stored for
    /// idempotent replies).
    pub fn commit(self, request_hash: &str, report: &str) -> Result<()> {
        self.inner.commit(request_hash, report)
    }
}

/// A batch already applied (`$1` dataset name, `$2` batch id): batch id, request hash and
/// report. Both engines run it as it is.
const STORED_BATCH_SQL: &str = "SELECT b.batch_id, b.request_hash, b.report FROM batches b
     JOIN datasets d ON d.id = b.dataset
     WHERE d.name = $1 AND b.batch_id = $2 AND b.report IS NOT NULL";

/// The number of non-deleted records of dataset `$1`, kept by every batch's commit.
const LIVE_COUNT_SQL: &str = "SELECT live FROM datasets WHERE name = $1";

/// Records: batches that write versions, and the reads of versions. Tuned per engine.
/// Private: callers use [`Store`].
trait RecordsBackend: Send + Sync {
    fn begin_batch(&self, dataset: &str, meta: BatchMeta) -> Result<Box<dyn BatchBackend>>;
    fn batch(&self, dataset: &str, batch_id: &str) -> Result<Option<StoredBatch>>;
    fn record(
        &self,
        dataset: &str,
        key: &str,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<RecordVersion>>;
    fn current_with_generation(
        &self,
        dataset: &str,
        key: &str,
    ) -> Result<Option<(RecordVersion, u64)>>;
    fn history(&self, dataset: &str, key: &str) -> Result<Vec<RecordVersion>>;
    fn list(
        &self,
        dataset: &str,
        filters: &[FieldFilter],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordVersion>>;
    fn count(&self, dataset: &str) -> Result<u64>;
    /// Changes with `position > after`, ascending, at most `limit` (stored integers).
    fn changes(&self, dataset: &str, after: i64, limit: i64) -> Result<Vec<Change>>;
    fn feed_head(&self, dataset: &str) -> Result<u64>;
    /// [`Records::snapshot`], with stored integers (`after < at`, `limit > 0`).
    fn snapshot(&self, dataset: &str, at: i64, after: i64, limit: i64) -> Result<SnapshotPage>;
}

/// The audit log (entries, Merkle nodes, signed heads) and the data tracker. Tuned per engine.
/// Private: callers use [`Store`], which checks what needs no database first.
trait AuditBackend: Send + Sync {
    /// Appends a group whose entries are already known to be contiguous and non-empty: the
    /// backend checks the first index against the log size under its cross-process lock.
    fn audit_append(&self, append: &AuditAppend<'_>) -> Result<()>;
    fn audit_size(&self) -> Result<u64>;
    /// Entries with `first <= index <= last`, ascending (bounds as stored integers).
    fn audit_entries(&self, first: i64, last: i64) -> Result<Vec<AuditEntry>>;
    fn audit_nodes(&self, addresses: &[(u32, u64)]) -> Result<Vec<Option<[u8; 32]>>>;
    /// Stores a head whose timestamp is known to be exact to the millisecond.
    fn audit_put_head(&self, head: &StoredHead) -> Result<()>;
    fn audit_latest_head(&self) -> Result<Option<StoredHead>>;
    /// Heads with `tree_size >= from`, ascending, at most `limit` (stored integers).
    fn audit_heads(&self, from: i64, limit: i64) -> Result<Vec<StoredHead>>;
    /// Indexes `<= last` of the entries touching `subject`, newest first, at most `limit`.
    fn subject_accesses(&self, subject: &[u8; 32], last: i64, limit: i64) -> Result<Vec<u64>>;
    /// Subject-index rows after (`subject`, `index`) in (subject, index) order, at most `limit`.
    fn subject_rows(&self, subject: &[u8], index: i64, limit: i64) -> Result<Vec<SubjectAccess>>;
    /// The anchor kept in the data store.
    fn audit_anchor(&self) -> Result<AuditAnchor>;
    /// Moves the anchor forward to `head` (never back). Without `wait`, gives up at once
    /// (`Ok(false)`) when the data store is busy with another writer.
    fn audit_put_anchor(&self, head: &StoredHead, subjects: i64, wait: bool) -> Result<bool>;
    /// The number of subject-index rows of entries with index `< end`.
    fn subject_count(&self, end: i64) -> Result<u64>;
    /// Moves what the log's own write-ahead log holds into its main file, without waiting for
    /// readers; engines that checkpoint on their own do nothing.
    fn audit_checkpoint(&self) -> Result<()>;
    /// Folds the data tracker's log into sorted runs, for at most `limits.budget`; engines that
    /// index the tracker as they write it do nothing.
    fn audit_fold_tracker(&self, limits: &FoldLimits) -> Result<FoldReport> {
        let _ = limits;
        Ok(FoldReport::default())
    }
}

/// How [`Store::open_with`] treats the store it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Created and migrated if needed (`ndx serve`, `ndx demo`).
    Create,
    /// Must exist already (a missing one is [`StoreError::NotFound`]); migrated if needed.
    Existing,
    /// Must exist and be of this binary's schema version; nothing is created, migrated or
    /// written (SQLite files opened read-only, PostgreSQL sessions read-only).
    ReadOnly,
}

/// The store: registry, dictionary, records and the audit log, on one backend.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    // One engine value behind every area: each reaches it through its own trait.
    catalog: Catalog,
    records: Records,
    audit: AuditStore,
    blobs: blobs::Blobs,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine)
            .finish()
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the store named by `url`:
    /// `sqlite://PATH` (or a bare path) for the embedded store, `postgres://…` for PostgreSQL.
    pub fn open(url: &str) -> Result<Store> {
        Self::open_with(url, OpenMode::Create)
    }

    /// Opens the store named by `url` (as [`Store::open`]) in `mode`.
    pub fn open_with(url: &str, mode: OpenMode) -> Result<Store> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Self::open_sqlite_with(PathBuf::from(path), mode);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(Store::on(
                Engine::Postgres,
                postgres::PostgresBackend::open(url, mode)?,
            ));
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::Config(format!(
                "engine {:?} is not compiled into this binary (store {:?})",
                "postgres",
                redact(url)
            )));
        }
        if url.contains("://") {
            return Err(StoreError::Config(format!(
                "unknown store scheme in {:?}: use sqlite://PATH or postgres://…",
                redact(url)
            )));
        }
        Self::open_sqlite_with(PathBuf::from(url), mode)
    }

    /// Opens the embedded store at `path` (a file inside the data directory).
    pub fn open_sqlite(path: PathBuf) -> Result<Store> {
        Self::open_sqlite_with(path, OpenMode::Create)
    }

    fn open_sqlite_with(path: PathBuf, mode: OpenMode) -> Result<Store> {
        Ok(Store::on(
            Engine::Sqlite,
            sqlite::SqliteBackend::open(&path, mode)?,
        ))
    }

    /// Opens (creating the schema and migrating if needed) the PostgreSQL store at
    /// `postgres://user[:password]@host[:port]/db[?params]`. Besides the standard connection
    /// parameters, `schema=NAME` puts the store in its own schema (created if missing),
    /// `statement_timeout=SECONDS` (default 60) bounds every statement and `pool_size=N`
    /// (default 16) the number of connections. Messages never show the password.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str) -> Result<Store> {
        Ok(Store::on(
            Engine::Postgres,
            postgres::PostgresBackend::open(url, OpenMode::Create)?,
        ))
    }

    /// A store over an engine that implements every area.
    fn on<B>(engine: Engine, backend: B) -> Store
    where
        B: CatalogEngine + RecordsBackend + AuditBackend + blobs::BlobBackend + 'static,
    {
        let backend = Arc::new(backend);
        Store {
            engine,
            catalog: Catalog::new(backend.clone()),
            records: Records {
                backend: backend.clone(),
            },
            audit: AuditStore {
                backend: backend.clone(),
            },
            blobs: blobs::Blobs { backend },
        }
    }

    /// The backend in use.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The catalogue: every governed object (registry, dictionary, and each kind to come).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The records: batches that write versions, and the reads of versions.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// The audit log's storage: entries, Merkle nodes, signed heads, the data tracker.
    pub fn audit(&self) -> &AuditStore {
        &self.audit
    }

    /// The blob area: immutable named files (open-data releases).
    pub fn blobs(&self) -> &blobs::Blobs {
        &self.blobs
    }
}

/// The records area of a store ([`Store::records`]): batches, versions, reads. Tuned per
/// engine.
#[derive(Clone)]
pub struct Records {
    backend: Arc<dyn RecordsBackend>,
}

impl Records {
    /// Begins a batch on a dataset (waits for other writers of this store). The dataset's
    /// schema is the caller's business (the catalogue's); its records start empty.
    pub fn begin_batch(&self, dataset: &str, meta: BatchMeta) -> Result<BatchWriter> {
        keys::text("dataset name", dataset)?;
        keys::text("batch id", &meta.batch_id)?;
        keys::text("source system", &meta.source_system)?;
        Ok(BatchWriter {
            inner: self.backend.begin_batch(dataset, meta)?,
        })
    }
    /// A batch already applied to the dataset.
    pub fn batch(&self, dataset: &str, batch_id: &str) -> Result<Option<StoredBatch>> {
        keys::text("dataset name", dataset)?;
        keys::text("batch id", batch_id)?;
        self.backend.batch(dataset, batch_id)
    }
    /// The current version of a record, or the version current at `as_of`. Tombstones are
    /// returned (with `body: None`) so callers can tell "deleted" from "never existed".
    pub fn record(
        &self,
        dataset: &str,
        key: &str,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<RecordVersion>> {
        keys::text("dataset name", dataset)?;
        keys::record_key(key)?;
        self.backend.record(dataset, key, as_of)
    }
    /// The current version of a record (a tombstone included) with the catalogue's generation
    /// as of the same read — one statement, so one round trip on PostgreSQL and one read
    /// transaction on the embedded store: a governed lookup decides on the catalogue as of it
    /// and answers that version, instead of reading the two apart. `None` when the key has no
    /// version (the generation is then read on its own).
    pub fn current_with_generation(
        &self,
        dataset: &str,
        key: &str,
    ) -> Result<Option<(RecordVersion, u64)>> {
        keys::text("dataset name", dataset)?;
        keys::record_key(key)?;
        self.backend.current_with_generation(dataset, key)
    }
    /// Every version of a record, newest first.
    pub fn history(&self, dataset: &str, key: &str) -> Result<Vec<RecordVersion>> {
        keys::text("dataset name", dataset)?;
        keys::record_key(key)?;
        self.backend.history(dataset, key)
    }
    /// Current (non-deleted) records in key order after `after`, matching all filters.
    pub fn list(
        &self,
        dataset: &str,
        filters: &[FieldFilter],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordVersion>> {
        keys::text("dataset name", dataset)?;
        if let Some(after) = after {
            keys::record_key(after)?;
        }
        for f in filters {
            keys::text("filter field", &f.field)?;
            if let serde_json::Value::String(v) = &f.value {
                keys::text("filter value", v)?;
            }
        }
        self.backend.list(dataset, filters, after, limit)
    }
    /// Number of current (non-deleted) records.
    pub fn count(&self, dataset: &str) -> Result<u64> {
        keys::text("dataset name", dataset)?;
        self.backend.count(dataset)
    }
    /// The dataset's changes after position `after` (0: from the first), in position order,
    /// at most `limit`. Only committed batches have positions, and a reader that sees one
    /// position sees every position below it.
    pub fn changes(&self, dataset: &str, after: u64, limit: usize) -> Result<Vec<Change>> {
        keys::text("dataset name", dataset)?;
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.backend.changes(dataset, after, stored_limit(limit))
    }
    /// The last position of the dataset's change feed (0 before its first version).
    pub fn feed_head(&self, dataset: &str) -> Result<u64> {
        keys::text("dataset name", dataset)?;
        self.backend.feed_head(dataset)
    }
    /// The dataset as it stood at feed position `at`: each key's last version at or below
    /// `at` unless that is a deletion, in feed position order, read from position `after + 1`.
    /// A page holds at most `limit` versions and examines at most
    /// [`SNAPSHOT_EXAMINED_PER_VERSION`] × `limit` positions (versions superseded by `at` are
    /// skipped), so its work is bounded however often the records changed. Versions written
    /// after `at` change nothing: the pages of one snapshot, read at different times, hold every
    /// record live at `at` exactly once. Reading in storage order is what makes a whole-dataset
    /// read sequential instead of a seek per record.
    pub fn snapshot(
        &self,
        dataset: &str,
        at: u64,
        after: u64,
        limit: usize,
    ) -> Result<SnapshotPage> {
        keys::text("dataset name", dataset)?;
        if after >= at || limit == 0 {
            return Ok(SnapshotPage {
                versions: Vec::new(),
                reached: at.max(after),
            });
        }
        let (Ok(at), Ok(after)) = (i64::try_from(at), i64::try_from(after)) else {
            return Err(StoreError::KeyInvalid(format!(
                "snapshot position {at} is beyond any feed"
            )));
        };
        self.backend
            .snapshot(dataset, at, after, stored_limit(limit))
    }
}

/// Positions a snapshot page examines at most per version it may return.
pub const SNAPSHOT_EXAMINED_PER_VERSION: i64 = 4;

/// The feed head of a dataset by name (both engines; a dataset without a row has none).
const FEED_HEAD_SQL: &str = "SELECT feed_head FROM datasets WHERE name = $1";

/// The audit log area of a store ([`Store::audit`]): written only by [`AuditStore::append`],
/// one transaction per group of entries. Tuned per engine.
#[derive(Clone)]
pub struct AuditStore {
    backend: Arc<dyn AuditBackend>,
}

impl AuditStore {
    /// Appends a group durably (committed, fsynced) before returning. The entries' indexes must
    /// be contiguous and the first must equal the current log size (checked INSIDE the
    /// transaction, under a lock that serialises appenders across processes: SQLite BEGIN
    /// IMMEDIATE; PostgreSQL pg_advisory_xact_lock on a fixed key); otherwise
    /// StoreError::Conflict and nothing is written. Empty entries = no-op.
    pub fn append(&self, append: &AuditAppend<'_>) -> Result<()> {
        if append.entries.is_empty() {
            return Ok(());
        }
        // Contiguity needs no database: refuse a malformed group before taking any lock.
        for pair in append.entries.windows(2) {
            if pair[0].index.checked_add(1) != Some(pair[1].index) {
                return Err(StoreError::Conflict(format!(
                    "audit entries are not contiguous: index {} follows {}",
                    pair[1].index, pair[0].index
                )));
            }
        }
        self.backend.audit_append(append)
    }
    /// Number of entries (= next leaf index).
    pub fn size(&self) -> Result<u64> {
        self.backend.audit_size()
    }
    /// Entries with start <= index < end (end clipped to the size), ascending.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<AuditEntry>> {
        // Conversions to the integers both engines store are written once, here.
        let Some((first, last)) = stored_range(start, end) else {
            return Ok(Vec::new());
        };
        self.backend.audit_entries(first, last)
    }
    /// The stored hashes of these nodes, in the same order; None where not stored. One query
    /// (one round trip on PostgreSQL) for the whole slice, which can hold ~100 addresses.
    pub fn nodes(&self, addresses: &[(u32, u64)]) -> Result<Vec<Option<[u8; 32]>>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        self.backend.audit_nodes(addresses)
    }
    /// Stores a signed head. Heads are keyed by tree size; storing an identical head again is
    /// Ok, a different head for an existing size is Conflict.
    pub fn put_head(&self, head: &StoredHead) -> Result<()> {
        // The signature covers the time in milliseconds: a finer time could not be stored
        // exactly (nor verified), so it is a caller's bug, not something to round silently.
        if !head
            .timestamp
            .timestamp_subsec_nanos()
            .is_multiple_of(1_000_000)
        {
            return Err(StoreError::Backend(format!(
                "tree head timestamp {} is finer than a millisecond",
                head.timestamp.to_rfc3339()
            )));
        }
        self.backend.audit_put_head(head)
    }
    /// The head with the largest tree size.
    pub fn latest_head(&self) -> Result<Option<StoredHead>> {
        self.backend.audit_latest_head()
    }
    /// Heads with tree_size >= from_size, ascending by size, at most `limit`.
    pub fn heads(&self, from_size: u64, limit: usize) -> Result<Vec<StoredHead>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let Ok(from) = i64::try_from(from_size) else {
            return Ok(Vec::new());
        };
        self.backend.audit_heads(from, stored_limit(limit))
    }
    /// Leaf indexes of entries touching this subject, newest (largest index) first, only
    /// indexes < before when given, at most `limit`.
    pub fn subject_accesses(
        &self,
        subject: &[u8; 32],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        if limit == 0 || before == Some(0) {
            return Ok(Vec::new());
        }
        self.backend
            .subject_accesses(subject, last_before(before), stored_limit(limit))
    }
    /// Rows of the subject index after `after` (subject, leaf index), in that order, at most
    /// `limit`: a verifier reads the whole index page by page with it.
    pub fn subject_rows(
        &self,
        after: Option<&SubjectAccess>,
        limit: usize,
    ) -> Result<Vec<SubjectAccess>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match after {
            None => self.backend.subject_rows(&[], -1, stored_limit(limit)),
            Some(a) => match i64::try_from(a.index) {
                Ok(index) => self
                    .backend
                    .subject_rows(&a.subject, index, stored_limit(limit)),
                Err(_) => Ok(Vec::new()),
            },
        }
    }
    /// The anchor: the latest signed head of this log that the data store has seen.
    pub fn anchor(&self) -> Result<AuditAnchor> {
        self.backend.audit_anchor()
    }
    /// Moves the anchor forward to `head`, a head already stored in the log (an older head
    /// leaves the anchor as it is). Without `wait` it never waits for the data store's writer
    /// (a long batch): `Ok(false)` says it was busy and the caller tries again later.
    pub fn put_anchor(&self, head: &StoredHead, subjects: u64, wait: bool) -> Result<bool> {
        stored_index(head.tree_size)?;
        self.backend
            .audit_put_anchor(head, stored_index(subjects)?, wait)
    }
    /// How many subject-index rows the entries below index `end` have (a scan of the index).
    pub fn subject_count(&self, end: u64) -> Result<u64> {
        self.backend
            .subject_count(i64::try_from(end).unwrap_or(i64::MAX))
    }
    /// Checkpoints the log's write-ahead log (SQLite; a no-op on PostgreSQL), on a connection
    /// of its own beside the writer's commits. The appender's checkpoint thread calls it: a
    /// commit never checkpoints on its own, so no waiter waits for a checkpoint's writes and
    /// fsync.
    pub fn checkpoint(&self) -> Result<()> {
        self.backend.audit_checkpoint()
    }
    /// Folds the data tracker's log into sorted runs (SQLite; a no-op on PostgreSQL), in
    /// bounded steps beside the appender's commits, for at most a quarter of a second: the
    /// appender's checkpoint thread calls it after each checkpoint.
    pub fn fold_tracker(&self) -> Result<FoldReport> {
        self.backend.audit_fold_tracker(&FoldLimits::default())
    }
    /// [`AuditStore::fold_tracker`] with other limits (tests reach every step with few rows).
    pub fn fold_tracker_with(&self, limits: &FoldLimits) -> Result<FoldReport> {
        if limits.log_flush_rows == 0 || limits.chunk == 0 || limits.fanout < 2 {
            return Err(StoreError::Backend(format!(
                "fold limits {limits:?} are out of range (rows and chunk > 0, fanout >= 2)"
            )));
        }
        self.backend.audit_fold_tracker(limits)
    }
}

/// Hides a password in a store URL for messages: the one after `user:` and the value of a
/// `password=` query parameter.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &base[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &base[..s + 3], &creds[..c], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{out}?{}", pairs.join("&"));
    }
    out
}
