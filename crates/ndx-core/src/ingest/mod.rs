//! The ingest pipeline behind `ndx import` and `POST …/records`: streams CSV, NDJSON or a JSON
//! array record by record (never the whole input in memory), validates each record against the
//! dataset schema, writes it into one store batch, and reports exactly what happened.
//!
//! Modes: `atomic` refuses the whole batch at the first invalid record (and still counts the
//! rest exactly); `per-record` keeps the valid records and reports the invalid ones. A batch id
//! makes a resubmission return the first report and change nothing.
//!
//! This module holds the entry points ([`Core::ingest`], [`Core::delete_record`]), the options
//! and modes, and the orchestration of one batch: the replay of a batch already applied, the
//! two threads, the merge of their counts and the commit. The parts, by concern: `parse` (the
//! streaming readers of each input format), `batch` (the validating side of a running batch),
//! `writer` (the writer thread that owns the store transaction), `report` (the report) and
//! `stored` (the versioned form in which the store keeps the report of an applied batch).

mod batch;
mod parse;
mod report;
mod stored;
mod writer;

use std::io::Read;

use chrono::{DateTime, Utc};
use ndx_store::{BatchMeta, StoreError};
use ndx_types::dictionary::DatasetSchema;
use ndx_types::registry::Role;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Core;
use crate::access::{Caller, DatasetWrite};
use crate::audit::EventParts;
use crate::error::{Code, Error, Result};

use batch::Batch;
pub(crate) use batch::validation_day;
use parse::{read_csv, read_json_array, read_ndjson};
use writer::{Chunk, ChunkSink, run_writer};

pub use report::{BatchStatus, IngestReport, RecordError};

/// The reserved column / member that marks a deletion: `_op` = `delete` (or `upsert`).
pub const OP_FIELD: &str = "_op";

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Longest accepted NDJSON line, CSV record or element of a JSON array, in bytes: the
    /// most one record may take in memory while it is read.
    pub max_record_bytes: usize,
    /// Largest input, in bytes: a batch is one transaction, so an endless input is refused
    /// here rather than grown into.
    pub max_input_bytes: u64,
    /// The code lists the input's coded values use (`Ndx-Code-Lists`), when they are not the
    /// dataset's: converted into the dataset's lists before validation.
    pub code_lists: Vec<ndx_types::codes::CodeListRef>,
}

/// The input of a batch went past [`IngestOptions::max_input_bytes`].
#[derive(Debug)]
pub struct InputTooLarge(pub u64);

impl std::fmt::Display for InputTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the input exceeds {} bytes", self.0)
    }
}

impl std::error::Error for InputTooLarge {}

impl IngestOptions {
    /// Defaults for a format: atomic, 1,000 listed errors, 1 MiB records, 512 MiB inputs.
    pub fn new(format: InputFormat) -> Self {
        IngestOptions {
            format,
            mode: Mode::Atomic,
            batch_id: None,
            max_listed_errors: 1000,
            max_record_bytes: 1 << 20,
            max_input_bytes: 512 << 20,
            code_lists: Vec::new(),
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

/// The request hash of a batch starts with its format and mode, spelled as the first stored
/// batches spelled them (once their `Debug` names). It is stored with the batch, so these
/// names are fixed: others would make every stored batch refuse its own resubmission.
fn request_hasher(opts: &IngestOptions) -> Sha256 {
    let format = match opts.format {
        InputFormat::Csv => "Csv",
        InputFormat::Ndjson => "Ndjson",
        InputFormat::Json => "Json",
    };
    let mode = match opts.mode {
        Mode::Atomic => "Atomic",
        Mode::PerRecord => "PerRecord",
    };
    let mut hasher = Sha256::new();
    hasher.update(format!("{format}|{mode}|").as_bytes());
    hasher
}

/// Counts and hashes every byte read, so the request hash covers the whole input, and stops
/// at the input limit.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    limit: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes > self.limit {
            return Err(std::io::Error::other(InputTooLarge(self.limit)));
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
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
        let mut reader = HashingReader {
            inner: input,
            hasher: request_hasher(opts),
            bytes: 0,
            limit: opts.max_input_bytes,
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
        let recoder = self.recoder(
            &schema,
            &opts.code_lists,
            ndx_types::codes::Direction::IntoDataset,
        )?;
        let batch_id = match &opts.batch_id {
            Some(id) => {
                check_batch_id(id)?;
                id.clone()
            }
            None => generated_batch_id(now),
        };

        if let Some(done) = self.store.records().batch(&cap.dataset, &batch_id)? {
            return replay(done, reader);
        }
        let meta = BatchMeta {
            batch_id: batch_id.clone(),
            source_system: cap.system.clone(),
            schema_version: schema.version,
            at: now,
        };
        let mut writer = match self.store.records().begin_batch(&cap.dataset, meta) {
            Ok(w) => w,
            Err(StoreError::Conflict(_)) => {
                // A concurrent submission of the same batch id committed first.
                let done = self
                    .store
                    .records()
                    .batch(&cap.dataset, &batch_id)?
                    .ok_or_else(|| {
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
                recoder: recoder.as_ref(),
                sink: ChunkSink {
                    tx,
                    chunk: Chunk::default(),
                },
                report: IngestReport::empty(&batch_id, &cap.dataset, &schema, opts.mode),
                max_listed,
                progress,
                bytes: &bytes_fn,
                today: batch::validation_day(now),
            };
            let counted = CountingReader {
                inner: &mut *reader,
                count: &bytes_cell,
            };
            let read = match opts.format {
                InputFormat::Csv => read_csv(counted, &mut batch, opts),
                InputFormat::Ndjson => read_ndjson(counted, &mut batch, opts),
                InputFormat::Json => read_json_array(counted, &mut batch, opts),
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
        writer.commit(&request_hash, &stored::encode(&report)?)?;
        self.commits.committed(&cap.dataset);
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
            Some(id) => self.store.records().batch(&cap.dataset, id)?.is_some(),
            None => false,
        };
        if !replay {
            let canonical_key = ndx_types::text::nfc(key).into_owned();
            match self
                .store
                .records()
                .record(&cap.dataset, &canonical_key, None)?
            {
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
    let mut report = stored::decode(&done.batch_id, &done.report)?;
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

#[cfg(test)]
mod tests;
