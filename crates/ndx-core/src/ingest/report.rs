//! What a batch did: the domain report ([`IngestReport`]) and its parts. It is what the
//! ingest services return. It is serialised only for the JSON report file of `ndx import`
//! (`--report`) and never read back: the HTTP edge converts it to its own wire type, and the
//! store keeps it in its own versioned form (`stored`), so it may be renamed or reshaped.

use ndx_types::dictionary::DatasetSchema;
use serde::Serialize;

use super::Mode;

/// One refused record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchStatus {
    /// Committed durably.
    Committed,
    /// Refused as a whole; nothing changed.
    Rejected,
}

/// What a batch did, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

    pub(super) fn empty(batch_id: &str, dataset: &str, schema: &DatasetSchema, mode: Mode) -> Self {
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
