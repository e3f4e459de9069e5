//! The validating side of a running batch: counts every record, validates it against the
//! compiled schema (on the calling thread) and hands the canonical write to the writer thread
//! a chunk at a time. Refused records are counted and listed here; outcomes of the writes come
//! back from the writer.

use ndx_store::WriteOp;
use ndx_types::codes::Recoder;
use ndx_types::validate::{CompiledSchema, FieldError, RawValue};
use sha2::{Digest, Sha256};

use super::writer::ChunkSink;
use super::{IngestReport, Progress, RecordError};
use crate::error::{Code, Result};

const PROGRESS_EVERY: u64 = 8192;

/// An operation on one record, before validation.
pub(super) enum Op {
    Upsert,
    Delete,
}

/// The state of one running batch on the validating side.
pub(super) struct Batch<'a, 'p> {
    pub(super) compiled: &'a CompiledSchema,
    /// Converts coded values from the input's code lists into the dataset's, if they differ.
    pub(super) recoder: Option<&'a Recoder>,
    pub(super) sink: ChunkSink,
    pub(super) report: IngestReport,
    pub(super) max_listed: usize,
    pub(super) progress: &'p mut dyn FnMut(Progress),
    pub(super) bytes: &'a dyn Fn() -> u64,
    /// The day dates are validated on ([`validation_day`]).
    pub(super) today: chrono::NaiveDate,
}

/// The day a batch validates on: the date at UTC+14, the first time zone to reach a date, so
/// that a date is refused as "in the future" only where it is in the future everywhere.
pub(crate) fn validation_day(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    (now + chrono::Duration::hours(14)).date_naive()
}

impl<'a> Batch<'a, '_> {
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
    pub(super) fn apply(
        &mut self,
        record: u64,
        line: Option<u64>,
        op: Op,
        values: &[RawValue<'_>],
    ) -> Result<()> {
        self.report.received += 1;
        match op {
            Op::Delete => {
                let checked = match self.compiled.raw_key(values) {
                    None => Err((
                        Code::DeleteWithoutKey,
                        "a deletion must carry every key field".to_owned(),
                    )),
                    Some(raw) => {
                        let key = ndx_types::text::nfc(&raw).into_owned();
                        match ndx_types::text::check_record_key(&key) {
                            Ok(()) => Ok(key),
                            Err(why) => Err((Code::KeyInvalid, format!("the record key {why}"))),
                        }
                    }
                };
                match checked {
                    Err((code, message)) => self.reject(RecordError {
                        record,
                        line,
                        key: None,
                        field: None,
                        code: code.name().into(),
                        message,
                    }),
                    Ok(key) => {
                        self.report.accepted += 1;
                        let op = WriteOp {
                            key,
                            body: None,
                            hash: [0; 32],
                        };
                        self.sink.push(record, line, op)?;
                    }
                }
            }
            Op::Upsert => match self.recoded(values) {
                Err(errors) => self.refuse(record, line, values, errors),
                Ok(values) => self.upsert(record, line, &values)?,
            },
        }
        self.tick();
        Ok(())
    }

    /// The values with their codes converted into the dataset's lists (borrowed when nothing
    /// is converted).
    fn recoded<'v>(
        &self,
        values: &'v [RawValue<'v>],
    ) -> std::result::Result<std::borrow::Cow<'v, [RawValue<'v>]>, Vec<FieldError>>
    where
        'a: 'v,
    {
        let Some(recoder) = self.recoder else {
            return Ok(std::borrow::Cow::Borrowed(values));
        };
        recoder
            .recode_raw(values)
            .map(std::borrow::Cow::Owned)
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: e.field,
                        code: e.code.to_owned(),
                        message: e.message,
                    })
                    .collect()
            })
    }

    fn refuse(
        &mut self,
        record: u64,
        line: Option<u64>,
        values: &[RawValue<'_>],
        errors: Vec<FieldError>,
    ) {
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

    fn upsert(&mut self, record: u64, line: Option<u64>, values: &[RawValue<'_>]) -> Result<()> {
        match self.compiled.validate(values, self.today) {
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
            Err(errors) => self.refuse(record, line, values, errors),
        }
        Ok(())
    }

    /// A record that could not even be parsed into fields.
    pub(super) fn malformed(
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
