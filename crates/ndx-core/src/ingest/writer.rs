//! The writer thread: owns the store batch ([`BatchWriter`]), applies the validated writes a
//! chunk at a time in record order inside the batch's one transaction, and tallies the
//! outcomes (created / updated / unchanged / deleted / duplicate in batch) for the report.

use ndx_store::{BatchWriter, WriteOp, WriteOutcome};

use super::RecordError;
use crate::error::{Code, Error, Result};

/// Records validated per chunk handed to the writer thread.
const CHUNK: usize = 512;

/// Validated writes on their way to the writer thread, with where each came from.
#[derive(Default)]
pub(super) struct Chunk {
    ops: Vec<WriteOp>,
    origin: Vec<(u64, Option<u64>)>,
}

/// Hands validated records to the writer thread a chunk at a time.
pub(super) struct ChunkSink {
    pub(super) tx: std::sync::mpsc::SyncSender<Chunk>,
    pub(super) chunk: Chunk,
}

impl ChunkSink {
    pub(super) fn push(&mut self, record: u64, line: Option<u64>, op: WriteOp) -> Result<()> {
        self.chunk.ops.push(op);
        self.chunk.origin.push((record, line));
        if self.chunk.ops.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<()> {
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
pub(super) struct WriteTally {
    pub(super) created: u64,
    pub(super) updated: u64,
    pub(super) unchanged: u64,
    pub(super) deleted: u64,
    pub(super) duplicates: u64,
    pub(super) errors: Vec<RecordError>,
    pub(super) truncated: bool,
}

/// The writer thread: applies chunks in order inside the batch's transaction. Validation runs
/// on the calling thread meanwhile, so parsing and validating overlap with storage.
pub(super) fn run_writer(
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
