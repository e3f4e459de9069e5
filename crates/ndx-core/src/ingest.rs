//! The ingest pipeline behind `ndx import` and `POST …/records`: streams CSV, NDJSON or a JSON
//! array record by record (never the whole input in memory), validates each record against the
//! dataset schema, writes it into one store batch, and reports exactly what happened.
//!
//! Modes: `atomic` refuses the whole batch at the first invalid record (and still counts the
//! rest exactly); `per-record` keeps the valid records and reports the invalid ones. A batch id
//! makes a resubmission return the first report and change nothing.

use std::io::{BufRead, BufReader, Read};

use chrono::{DateTime, Utc};
use ndx_store::{BatchMeta, BatchWriter, StoreError, WriteOp, WriteOutcome};
use ndx_types::dictionary::DatasetSchema;
use ndx_types::validate::{CompiledSchema, FieldError, RawValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Core;
use crate::access::{Caller, DatasetWrite};
use crate::audit::EventParts;
use crate::error::{Code, Error, Result};
use ndx_types::registry::Role;

/// The reserved column / member that marks a deletion: `_op` = `delete` (or `upsert`).
pub const OP_FIELD: &str = "_op";

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// CSV with a header row (RFC 4180, UTF-8, a BOM tolerated).
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// A JSON array of objects.
    Json,
}

/// What to do with invalid records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One invalid record refuses the whole batch.
    Atomic,
    /// Valid records are kept; invalid ones are reported.
    PerRecord,
}

/// Options of one ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Input format.
    pub format: InputFormat,
    /// Mode.
    pub mode: Mode,
    /// Idempotency key; generated when absent.
    pub batch_id: Option<String>,
    /// How many record errors are listed in full (counts are always exact).
    pub max_listed_errors: usize,
    /// Longest accepted NDJSON line or CSV record, in bytes.
    pub max_record_bytes: usize,
}

impl IngestOptions {
    /// Defaults for a format: atomic, 1,000 listed errors, 1 MiB records.
    pub fn new(format: InputFormat) -> Self {
        IngestOptions {
            format,
            mode: Mode::Atomic,
            batch_id: None,
            max_listed_errors: 1000,
            max_record_bytes: 1 << 20,
        }
    }
}

/// One refused record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// 1-based number of the record in the input (CSV data row, NDJSON line's record, array element).
    pub record: u64,
    /// 1-based physical line where the record starts (CSV and NDJSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The record key, if readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The field, if the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable error code.
    pub code: String,
    /// Human message.
    pub message: String,
}

/// The outcome of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchStatus {
    /// Committed durably.
    Committed,
    /// Refused as a whole; nothing changed.
    Rejected,
}

/// What a batch did, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// The batch id (the idempotency key).
    pub batch_id: String,
    /// The dataset.
    pub dataset: String,
    /// The schema version records were validated against.
    pub schema_version: String,
    /// Mode used.
    pub mode: Mode,
    /// Committed or rejected.
    pub status: BatchStatus,
    /// Records read.
    pub received: u64,
    /// Records that passed validation (in a rejected batch: that would have).
    pub accepted: u64,
    /// Records refused.
    pub rejected: u64,
    /// New records.
    pub created: u64,
    /// New versions of existing records.
    pub updated: u64,
    /// Records identical to their current version (no new version).
    pub unchanged: u64,
    /// Tombstones written.
    pub deleted: u64,
    /// The first `max_listed_errors` record errors.
    pub errors: Vec<RecordError>,
    /// Whether more errors occurred than are listed.
    pub errors_truncated: bool,
    /// True when this report is the stored answer to an earlier identical submission.
    #[serde(default)]
    pub replayed: bool,
}

impl IngestReport {
    /// Why a rejected batch was refused, in one line (for the problem's detail, the CLI).
    pub fn rejection_message(&self) -> String {
        format!(
            "{} of {} records are invalid; atomic batch {:?} refused, nothing changed",
            self.rejected, self.received, self.batch_id
        )
    }

    fn empty(batch_id: &str, dataset: &str, schema: &DatasetSchema, mode: Mode) -> Self {
        IngestReport {
            batch_id: batch_id.to_owned(),
            dataset: dataset.to_owned(),
            schema_version: schema.version.to_string(),
            mode,
            status: BatchStatus::Committed,
            received: 0,
            accepted: 0,
            rejected: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            deleted: 0,
            errors: Vec::new(),
            errors_truncated: false,
            replayed: false,
        }
    }
}

/// Progress, reported every few thousand records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Records read so far.
    pub received: u64,
    /// Accepted so far.
    pub accepted: u64,
    /// Rejected so far.
    pub rejected: u64,
    /// Input bytes consumed so far.
    pub bytes: u64,
}

const PROGRESS_EVERY: u64 = 8192;

/// Counts and hashes every byte read, so the request hash covers the whole input.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// An operation on one record, before validation.
enum Op {
    Upsert,
    Delete,
}

/// Records validated per chunk handed to the writer thread.
const CHUNK: usize = 512;

/// Validated writes on their way to the writer thread, with where each came from.
#[derive(Default)]
struct Chunk {
    ops: Vec<WriteOp>,
    origin: Vec<(u64, Option<u64>)>,
}

/// Hands validated records to the writer thread a chunk at a time.
struct ChunkSink {
    tx: std::sync::mpsc::SyncSender<Chunk>,
    chunk: Chunk,
}

impl ChunkSink {
    fn push(&mut self, record: u64, line: Option<u64>, op: WriteOp) -> Result<()> {
        self.chunk.ops.push(op);
        self.chunk.origin.push((record, line));
        if self.chunk.ops.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.chunk.ops.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.chunk);
        // A closed channel means the writer stopped on a storage error, reported at the join.
        self.tx
            .send(chunk)
            .map_err(|_| Error::of(Code::WriterStopped, "the store writer stopped"))
    }
}

/// What the writer thread found.
#[derive(Default)]
struct WriteTally {
    created: u64,
    updated: u64,
    unchanged: u64,
    deleted: u64,
    duplicates: u64,
    errors: Vec<RecordError>,
    truncated: bool,
}

/// The writer thread: applies chunks in order inside the batch's transaction. Validation runs
/// on the calling thread meanwhile, so parsing and validating overlap with storage.
fn run_writer(
    writer: &mut BatchWriter,
    rx: std::sync::mpsc::Receiver<Chunk>,
    max_listed: usize,
) -> Result<WriteTally> {
    let mut tally = WriteTally::default();
    let mut outcomes = Vec::with_capacity(CHUNK);
    for chunk in rx {
        outcomes.clear();
        writer
            .write(&chunk.ops, &mut outcomes)
            .map_err(Error::from)?;
        for ((op, (record, line)), outcome) in
            chunk.ops.into_iter().zip(chunk.origin).zip(&outcomes)
        {
            match outcome {
                WriteOutcome::Created => tally.created += 1,
                WriteOutcome::Updated => tally.updated += 1,
                WriteOutcome::Unchanged | WriteOutcome::NotFound => tally.unchanged += 1,
                WriteOutcome::Deleted => tally.deleted += 1,
                WriteOutcome::DuplicateInBatch => {
                    tally.duplicates += 1;
                    if tally.errors.len() < max_listed {
                        tally.errors.push(duplicate(record, line, op.key));
                    } else {
                        tally.truncated = true;
                    }
                }
            }
        }
    }
    Ok(tally)
}

/// The state of one running batch on the validating side.
struct Batch<'a, 'p> {
    compiled: &'a CompiledSchema,
    sink: ChunkSink,
    report: IngestReport,
    max_listed: usize,
    progress: &'p mut dyn FnMut(Progress),
    bytes: &'a dyn Fn() -> u64,
}

impl Batch<'_, '_> {
    /// Counts a refused record. In atomic mode writing goes on (the transaction is rolled back
    /// at the end) so that later duplicates are still found and counts stay exact.
    fn reject(&mut self, e: RecordError) {
        self.report.rejected += 1;
        self.list(e);
    }

    fn list(&mut self, e: RecordError) {
        if self.report.errors.len() < self.max_listed {
            self.report.errors.push(e);
        } else {
            self.report.errors_truncated = true;
        }
    }

    fn tick(&mut self) {
        if self.report.received.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(Progress {
                received: self.report.received,
                accepted: self.report.accepted,
                rejected: self.report.rejected,
                bytes: (self.bytes)(),
            });
        }
    }

    fn record_error(
        record: u64,
        line: Option<u64>,
        key: Option<String>,
        e: FieldError,
    ) -> RecordError {
        RecordError {
            record,
            line,
            key,
            field: (!e.field.is_empty()).then_some(e.field),
            code: e.code,
            message: e.message,
        }
    }

    /// Validates one record given as values aligned with the schema and hands it to the writer.
    fn apply(
        &mut self,
        record: u64,
        line: Option<u64>,
        op: Op,
        values: &[RawValue<'_>],
    ) -> Result<()> {
        self.report.received += 1;
        match op {
            Op::Delete => match self.compiled.raw_key(values) {
                None => self.reject(RecordError {
                    record,
                    line,
                    key: None,
                    field: None,
                    code: Code::DeleteWithoutKey.name().into(),
                    message: "a deletion must carry every key field".into(),
                }),
                Some(key) => {
                    self.report.accepted += 1;
                    let op = WriteOp {
                        key: ndx_types::text::nfc(&key).into_owned(),
                        body: None,
                        hash: [0; 32],
                    };
                    self.sink.push(record, line, op)?;
                }
            },
            Op::Upsert => match self.compiled.validate(values) {
                Ok(valid) => {
                    self.report.accepted += 1;
                    let hash: [u8; 32] = Sha256::digest(valid.canonical.as_bytes()).into();
                    let op = WriteOp {
                        key: valid.key,
                        body: Some(valid.canonical),
                        hash,
                    };
                    self.sink.push(record, line, op)?;
                }
                Err(errors) => {
                    let key = self.compiled.raw_key(values);
                    let mut errors = errors.into_iter();
                    if let Some(first) = errors.next() {
                        // One refused record counts once; each of its field errors is listed.
                        self.reject(Self::record_error(record, line, key.clone(), first));
                        for e in errors {
                            self.list(Self::record_error(record, line, key.clone(), e));
                        }
                    }
                }
            },
        }
        self.tick();
        Ok(())
    }

    /// A record that could not even be parsed into fields.
    fn malformed(
        &mut self,
        record: u64,
        line: Option<u64>,
        field: Option<String>,
        code: Code,
        message: String,
    ) {
        self.report.received += 1;
        self.reject(RecordError {
            record,
            line,
            key: None,
            field,
            code: code.name().into(),
            message,
        });
        self.tick();
    }
}

fn duplicate(record: u64, line: Option<u64>, key: String) -> RecordError {
    RecordError {
        record,
        line,
        message: format!("key {key:?} appears earlier in this batch"),
        key: Some(key),
        field: None,
        code: Code::DuplicateKeyInBatch.name().into(),
    }
}

fn parse_op(v: Option<&str>) -> std::result::Result<Op, String> {
    match v {
        None | Some("") | Some("upsert") => Ok(Op::Upsert),
        Some("delete") => Ok(Op::Delete),
        Some(other) => Err(format!(
            "{OP_FIELD} must be \"upsert\" or \"delete\", found {other:?}"
        )),
    }
}

impl Core {
    /// Runs one batch. `now` is the batch time carried by every version it writes. A refused
    /// atomic batch is not an error: its report says [`BatchStatus::Rejected`] and nothing
    /// changed; errors are for batches that could not be read or stored.
    pub fn ingest(
        &self,
        cap: &DatasetWrite,
        input: impl Read,
        opts: &IngestOptions,
        now: DateTime<Utc>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IngestReport> {
        let mut hasher = Sha256::new();
        hasher.update(format!("{:?}|{:?}|", opts.format, opts.mode).as_bytes());
        let mut reader = HashingReader {
            inner: input,
            hasher,
            bytes: 0,
        };
        let outcome = self.run_batch(cap, &mut reader, opts, now, progress);
        if outcome.is_err() {
            // Read what the sender is still sending (bounded by the caller's body limit), so
            // that an HTTP client receives the problem instead of a reset connection.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
        let audited = self.audit_batch(cap, "records.write", opts.batch_id.as_deref(), &outcome);
        match (outcome, audited) {
            (Ok(report), Ok(())) => Ok(report),
            // A change that cannot be accounted for is not acknowledged.
            (Ok(_), Err(e)) => Err(e),
            // The failure is the more precise answer; it discloses no data.
            (Err(e), audited) => {
                if let Err(a) = audited {
                    tracing::error!(error = %a, "a refused batch could not be audited");
                }
                Err(e)
            }
        }
    }

    /// Records a batch in the audit log. A batch's data subjects are not listed (the entry
    /// would be as large as the batch); its batch id leads to every version it wrote.
    fn audit_batch(
        &self,
        cap: &DatasetWrite,
        operation: &str,
        requested_id: Option<&str>,
        outcome: &Result<IngestReport>,
    ) -> Result<()> {
        let (query, reason) = match outcome {
            Ok(r) => (
                format!("batch_id={}", r.batch_id),
                format!(
                    "{:?}: received {}, accepted {}, rejected {}, created {}, updated {}, \
                     unchanged {}, deleted {}{}",
                    r.status,
                    r.received,
                    r.accepted,
                    r.rejected,
                    r.created,
                    r.updated,
                    r.unchanged,
                    r.deleted,
                    if r.replayed { ", replayed" } else { "" }
                )
                .to_lowercase(),
            ),
            Err(e) => (
                requested_id.map_or_else(String::new, |id| format!("batch_id={id}")),
                format!("refused: {}: {}", e.code, e.message),
            ),
        };
        self.audit.record_parts(EventParts {
            actor: Some(cap.actor.clone()),
            request_id: &cap.request_id,
            operation,
            dataset: Some(&cap.dataset),
            keys: Vec::new(),
            query: (!query.is_empty()).then_some(query),
            fields: Vec::new(),
            subjects: Vec::new(),
            outcome: crate::audit::allowed(Some(reason)),
        })?;
        Ok(())
    }

    fn run_batch<R: Read>(
        &self,
        cap: &DatasetWrite,
        reader: &mut HashingReader<R>,
        opts: &IngestOptions,
        now: DateTime<Utc>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IngestReport> {
        let schema = self.schema(&cap.dataset, None)?;
        let compiled = self.compiled(&schema)?;
        let batch_id = match &opts.batch_id {
            Some(id) => {
                check_batch_id(id)?;
                id.clone()
            }
            None => generated_batch_id(now),
        };

        if let Some(done) = self.store.batch(&cap.dataset, &batch_id)? {
            return replay(done, reader);
        }
        let meta = BatchMeta {
            batch_id: batch_id.clone(),
            source_system: cap.system.clone(),
            schema_version: schema.version,
            at: now,
        };
        let mut writer = match self.store.begin_batch(&cap.dataset, meta) {
            Ok(w) => w,
            Err(StoreError::Conflict(_)) => {
                // A concurrent submission of the same batch id committed first.
                let done = self.store.batch(&cap.dataset, &batch_id)?.ok_or_else(|| {
                    Error::of(
                        Code::BatchInProgress,
                        format!("batch {batch_id:?} is being applied"),
                    )
                })?;
                return replay(done, reader);
            }
            Err(e) => return Err(e.into()),
        };

        let bytes_cell = std::cell::Cell::new(0u64);
        let bytes_fn = || bytes_cell.get();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(8);
        let max_listed = opts.max_listed_errors;
        let (read, written, mut report) = std::thread::scope(|scope| {
            let writing = scope.spawn(|| run_writer(&mut writer, rx, max_listed));
            let mut batch = Batch {
                compiled: &compiled,
                sink: ChunkSink {
                    tx,
                    chunk: Chunk::default(),
                },
                report: IngestReport::empty(&batch_id, &cap.dataset, &schema, opts.mode),
                max_listed,
                progress,
                bytes: &bytes_fn,
            };
            let counted = CountingReader {
                inner: &mut *reader,
                count: &bytes_cell,
            };
            let read = match opts.format {
                InputFormat::Csv => read_csv(counted, &mut batch, opts),
                InputFormat::Ndjson => read_ndjson(counted, &mut batch, opts),
                InputFormat::Json => read_json_array(counted, &mut batch),
            }
            .and_then(|()| batch.sink.flush());
            let Batch {
                sink,
                report,
                progress,
                ..
            } = batch;
            // Closing the channel lets the writer finish.
            drop(sink);
            let written = writing
                .join()
                .unwrap_or_else(|_| Err(Error::internal("the store writer panicked")));
            (read.map(|()| progress), written, report)
        });
        // A storage failure explains a stopped reader, so it is reported first.
        let tally = written?;
        let progress = read?;
        // Drain what the parser did not need, so the request hash covers every byte.
        std::io::copy(reader, &mut std::io::sink()).map_err(Error::io)?;
        let request_hash = hex::encode(reader.hasher.clone().finalize());
        report.created = tally.created;
        report.updated = tally.updated;
        report.unchanged = tally.unchanged;
        report.deleted = tally.deleted;
        report.accepted -= tally.duplicates;
        report.rejected += tally.duplicates;
        if !tally.errors.is_empty() {
            report.errors.extend(tally.errors);
            report.errors.sort_by_key(|e| e.record);
        }
        if report.errors.len() > max_listed {
            report.errors.truncate(max_listed);
            report.errors_truncated = true;
        }
        report.errors_truncated |= tally.truncated;
        progress(Progress {
            received: report.received,
            accepted: report.accepted,
            rejected: report.rejected,
            bytes: reader.bytes,
        });
        if opts.mode == Mode::Atomic && report.rejected > 0 {
            report.status = BatchStatus::Rejected;
            report.created = 0;
            report.updated = 0;
            report.unchanged = 0;
            report.deleted = 0;
            return Ok(report);
        }
        if report.received == 0 {
            return Err(Error::of(Code::BatchEmpty, "the input holds no records"));
        }
        let stored = serde_json::to_string(&report).map_err(|e| Error::internal(e.to_string()))?;
        writer.commit(&request_hash, &stored)?;
        Ok(report)
    }
}

/// The right to delete records of `schema`'s dataset: the right to load them, refused in the
/// words of a deletion.
pub fn delete_access(caller: &Caller, schema: &DatasetSchema) -> Result<DatasetWrite> {
    let roles = || caller.roles().iter().map(|r| r.name()).collect::<Vec<_>>();
    if !caller.has(Role::Provider) {
        return Err(Error::of(
            Code::RoleRequired,
            format!(
                "deleting records needs role {:?}; key {:?} of system {:?} has {:?}",
                Role::Provider.name(),
                caller.key_id(),
                caller.system().code,
                roles()
            ),
        ));
    }
    if caller.member().code != schema.owner {
        return Err(Error::of(
            Code::NotOwner,
            format!(
                "dataset {:?} is owned by {:?}; member {:?} may not delete its records",
                schema.dataset,
                schema.owner,
                caller.member().code
            ),
        ));
    }
    caller.dataset_write(schema)
}

impl Core {
    /// Deletes one record as a one-record batch (same lineage and idempotency as any batch).
    /// A composite key is the key field values joined with `|`. Refused with 404 when the
    /// record does not exist and 410 when it is already deleted, unless the batch id names a
    /// batch already applied, which is replayed.
    pub fn delete_record(
        &self,
        cap: &DatasetWrite,
        key: &str,
        batch_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<IngestReport> {
        let schema = self.schema(&cap.dataset, None)?;
        let parts: Vec<&str> = if schema.key.len() == 1 {
            vec![key]
        } else {
            key.split('|').collect()
        };
        if parts.len() != schema.key.len() || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::of(
                Code::KeyInvalid,
                format!(
                    "key {key:?} must have {} non-empty part(s) joined by '|'",
                    schema.key.len()
                ),
            ));
        }
        let replay = match &batch_id {
            Some(id) => self.store.batch(&cap.dataset, id)?.is_some(),
            None => false,
        };
        if !replay {
            let canonical_key = ndx_types::text::nfc(key).into_owned();
            match self.store.record(&cap.dataset, &canonical_key, None)? {
                None => {
                    return Err(Error::of(
                        Code::RecordNotFound,
                        format!("record {key:?} of {:?} does not exist", cap.dataset),
                    ));
                }
                Some(v) if v.body.is_none() => {
                    return Err(Error::of(
                        Code::RecordDeleted,
                        format!("record {key:?} of {:?} is already deleted", cap.dataset),
                    ));
                }
                Some(_) => {}
            }
        }
        let mut obj = Map::new();
        for (f, v) in schema.key.iter().zip(parts) {
            obj.insert(f.clone(), Value::String(v.to_owned()));
        }
        obj.insert(OP_FIELD.into(), Value::String("delete".into()));
        let line =
            serde_json::to_vec(&Value::Object(obj)).map_err(|e| Error::internal(e.to_string()))?;
        let mut opts = IngestOptions::new(InputFormat::Ndjson);
        opts.batch_id = batch_id;
        self.ingest(cap, line.as_slice(), &opts, now, &mut |_| {})
    }
}

struct CountingReader<'c, R> {
    inner: R,
    count: &'c std::cell::Cell<u64>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

fn replay<R: Read>(
    done: ndx_store::StoredBatch,
    reader: &mut HashingReader<R>,
) -> Result<IngestReport> {
    std::io::copy(reader, &mut std::io::sink()).map_err(Error::io)?;
    let hash = hex::encode(reader.hasher.clone().finalize());
    if hash != done.request_hash {
        return Err(Error::of(
            Code::BatchIdReused,
            format!(
                "batch {:?} was already applied with a different body or options; \
                 use a new batch id for new data",
                done.batch_id
            ),
        ));
    }
    let mut report: IngestReport =
        serde_json::from_str(&done.report).map_err(|e| Error::internal(e.to_string()))?;
    report.replayed = true;
    Ok(report)
}

fn check_batch_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::of(
            Code::BatchIdInvalid,
            format!(
                "batch id {id:?} must be 1-128 characters of letters, digits, '-', '_', '.', ':'"
            ),
        ))
    }
}

fn generated_batch_id(now: DateTime<Utc>) -> String {
    let mut bytes = [0u8; 6];
    // Without OS randomness the time alone still names the batch; ids need not be secret.
    let _ = rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("b-{}-{}", now.format("%Y%m%dT%H%M%S"), hex::encode(bytes))
}

/// Maps the columns of an input to schema positions.
struct Columns {
    /// For each input column: the schema field index, or `None` for `_op`.
    slots: Vec<Option<usize>>,
    op: Option<usize>,
}

fn csv_columns(header: &csv::ByteRecord, compiled: &CompiledSchema) -> Result<Columns> {
    let mut slots = Vec::with_capacity(header.len());
    let mut op = None;
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| {
            Error::of(
                Code::CsvHeaderInvalid,
                format!("header column {} is not UTF-8", i + 1),
            )
        })?;
        let name = name.trim_start_matches('\u{feff}');
        if !seen.insert(name.to_owned()) {
            return Err(Error::of(
                Code::CsvDuplicateColumn,
                format!("column {name:?} appears twice in the header"),
            ));
        }
        if name == OP_FIELD {
            op = Some(i);
            slots.push(None);
            continue;
        }
        match compiled.field_index(name) {
            Some(f) => slots.push(Some(f)),
            None => {
                return Err(Error::of(
                    Code::CsvUnknownColumn,
                    format!(
                        "column {name:?} is not a field of dataset {:?} (fields: {})",
                        compiled.schema().dataset,
                        compiled.field_names().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    let present: std::collections::HashSet<usize> = slots.iter().flatten().copied().collect();
    let missing: Vec<&str> = compiled
        .schema()
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| f.required && !present.contains(i))
        .map(|(_, f)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::of(
            Code::CsvMissingColumn,
            format!(
                "required column(s) missing from the header: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(Columns { slots, op })
}

/// Remembers where the line terminators (`\r`, `\n`) are in the bytes read ahead by the CSV
/// parser, so a record's byte offset can be turned into the physical line it starts on,
/// whatever the line endings, blank lines or quoted newlines before it. Only the read-ahead
/// window is kept.
struct NewlineTracker {
    pending: std::collections::VecDeque<(u64, u8)>,
    read: u64,
    passed: u64,
}

impl NewlineTracker {
    /// The 1-based line on which the record the parser began at `offset` starts. The parser's
    /// offset may point at the end of the previous line (after a CR of a CRLF) or at blank
    /// lines it skipped; the record starts after them.
    fn line_of(&mut self, offset: u64) -> u64 {
        while let Some(&(pos, byte)) = self.pending.front() {
            if pos >= offset {
                break;
            }
            self.pending.pop_front();
            self.passed += u64::from(byte == b'\n');
        }
        let mut at = offset;
        while let Some(&(pos, byte)) = self.pending.front() {
            if pos != at {
                break;
            }
            self.pending.pop_front();
            self.passed += u64::from(byte == b'\n');
            at += 1;
        }
        self.passed + 1
    }
}

struct NewlineReader<'t, R> {
    inner: R,
    tracker: &'t std::cell::RefCell<NewlineTracker>,
}

impl<R: Read> Read for NewlineReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut t = self.tracker.borrow_mut();
        let base = t.read;
        t.pending.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, b)| matches!(**b, b'\n' | b'\r'))
                .map(|(i, b)| (base + i as u64, *b)),
        );
        t.read += n as u64;
        Ok(n)
    }
}

fn read_csv(input: impl Read, batch: &mut Batch<'_, '_>, opts: &IngestOptions) -> Result<()> {
    let tracker = std::cell::RefCell::new(NewlineTracker {
        pending: std::collections::VecDeque::new(),
        read: 0,
        passed: 0,
    });
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(NewlineReader {
            inner: input,
            tracker: &tracker,
        });
    let header = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_fatal(e)),
    };
    if tracker.borrow().read == 0 {
        return Err(Error::of(Code::BatchEmpty, "the input holds no records"));
    }
    if header.is_empty() || (header.len() == 1 && header.get(0) == Some(b"")) {
        return Err(Error::of(
            Code::CsvHeaderMissing,
            "the CSV input has no header row",
        ));
    }
    let cols = csv_columns(&header, batch.compiled)?;
    let n_fields = batch.compiled.len();
    let mut row = csv::ByteRecord::new();
    let mut number = 0u64;
    loop {
        match rdr.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_fatal(e)),
        }
        number += 1;
        let line = row
            .position()
            .map(|p| tracker.borrow_mut().line_of(p.byte()));
        if row.len() != header.len() {
            batch.malformed(
                number,
                line,
                None,
                Code::CsvFieldCount,
                format!(
                    "row has {} fields, the header has {}",
                    row.len(),
                    header.len()
                ),
            );
            continue;
        }
        if row.as_slice().len() > opts.max_record_bytes {
            batch.malformed(
                number,
                line,
                None,
                Code::RecordTooLarge,
                format!("row is larger than {} bytes", opts.max_record_bytes),
            );
            continue;
        }
        let mut texts: Vec<&str> = Vec::with_capacity(row.len());
        let mut bad_utf8 = None;
        for (i, cell) in row.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(s) => texts.push(s),
                Err(_) => {
                    bad_utf8 = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = bad_utf8 {
            let field = cols.slots[i].map(|f| batch.compiled.schema().fields[f].name.clone());
            batch.malformed(
                number,
                line,
                field,
                Code::NotUtf8,
                format!("column {} is not valid UTF-8", i + 1),
            );
            continue;
        }
        let mut values = vec![RawValue::Absent; n_fields];
        for (i, slot) in cols.slots.iter().enumerate() {
            if let Some(f) = slot {
                values[*f] = RawValue::Text(texts[i]);
            }
        }
        let op = match parse_op(cols.op.map(|i| texts[i])) {
            Ok(op) => op,
            Err(msg) => {
                batch.malformed(number, line, Some(OP_FIELD.into()), Code::OpInvalid, msg);
                continue;
            }
        };
        batch.apply(number, line, op, &values)?;
    }
    Ok(())
}

fn csv_fatal(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(io),
        other => Error::of(
            Code::CsvMalformed,
            format!("the CSV input is malformed: {other:?}"),
        ),
    }
}

/// Why a JSON record could not be mapped to fields: (field, code, message).
type Malformed = (Option<String>, Code, String);

fn object_values<'v>(
    obj: &'v Map<String, Value>,
    compiled: &CompiledSchema,
) -> std::result::Result<(Op, Vec<RawValue<'v>>), Malformed> {
    let mut values = vec![RawValue::Absent; compiled.len()];
    let mut op = Op::Upsert;
    for (name, v) in obj {
        if name == OP_FIELD {
            op = parse_op(v.as_str().or(if v.is_null() { None } else { Some("?") }))
                .map_err(|m| (Some(OP_FIELD.to_owned()), Code::OpInvalid, m))?;
            continue;
        }
        match compiled.field_index(name) {
            Some(i) => values[i] = RawValue::Json(v),
            None => {
                return Err((
                    Some(name.clone()),
                    Code::UnknownField,
                    format!(
                        "{name:?} is not a field of dataset {:?}",
                        compiled.schema().dataset
                    ),
                ));
            }
        }
    }
    Ok((op, values))
}

fn apply_json(batch: &mut Batch<'_, '_>, number: u64, line: Option<u64>, v: &Value) -> Result<()> {
    let Value::Object(obj) = v else {
        batch.malformed(
            number,
            line,
            None,
            Code::JsonNotObject,
            format!("record is not a JSON object but {}", kind_of(v)),
        );
        return Ok(());
    };
    match object_values(obj, batch.compiled) {
        Ok((op, values)) => batch.apply(number, line, op, &values),
        Err((field, code, msg)) => {
            batch.malformed(number, line, field, code, msg);
            Ok(())
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_ndjson(input: impl Read, batch: &mut Batch<'_, '_>, opts: &IngestOptions) -> Result<()> {
    let mut rdr = BufReader::with_capacity(1 << 16, input);
    let mut line_no = 0u64;
    let mut number = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (n, complete) =
            read_bounded_line(&mut rdr, &mut buf, opts.max_record_bytes).map_err(Error::io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if !complete {
            number += 1;
            batch.malformed(
                number,
                Some(line_no),
                None,
                Code::RecordTooLarge,
                format!("line is longer than {} bytes", opts.max_record_bytes),
            );
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                number += 1;
                batch.malformed(
                    number,
                    Some(line_no),
                    None,
                    Code::NotUtf8,
                    "line is not valid UTF-8".into(),
                );
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        number += 1;
        match serde_json::from_str::<Value>(text) {
            Ok(v) => apply_json(batch, number, Some(line_no), &v)?,
            Err(e) => batch.malformed(
                number,
                Some(line_no),
                None,
                Code::JsonMalformed,
                format!("line is not valid JSON: {e}"),
            ),
        }
    }
    Ok(())
}

/// Reads one line into `buf` (without the newline), keeping at most `max` bytes; returns the
/// bytes consumed and whether the line fitted.
fn read_bounded_line(
    rdr: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut fits = true;
    loop {
        let available = rdr.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, fits));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if fits {
            if buf.len() + chunk.len() > max {
                fits = false;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        rdr.consume(used);
        consumed += used;
        if done.is_some() {
            return Ok((consumed, fits));
        }
    }
}

fn read_json_array(input: impl Read, batch: &mut Batch<'_, '_>) -> Result<()> {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    struct Elements<'b, 'x, 'y> {
        batch: &'b mut Batch<'x, 'y>,
        failure: &'b mut Option<Error>,
    }
    impl<'de> Visitor<'de> for Elements<'_, '_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of record objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            let mut number = 0u64;
            while let Some(v) = seq.next_element::<Value>()? {
                number += 1;
                if let Err(e) = apply_json(self.batch, number, None, &v) {
                    *self.failure = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Elements<'_, '_, '_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    let mut failure = None;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, input));
    let outcome = Elements {
        batch,
        failure: &mut failure,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = failure {
        return Err(e);
    }
    match outcome {
        Ok(()) => Ok(()),
        // Converting back yields the original I/O error (e.g. the body size limit).
        Err(e) if e.is_io() => Err(Error::io(std::io::Error::from(e))),
        Err(e) => Err(Error::of(
            Code::JsonMalformed,
            format!(
                "the JSON input is malformed at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )),
    }
}
