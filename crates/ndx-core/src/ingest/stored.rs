//! The stored form of a batch's report: what the store keeps beside an applied batch, so that
//! a resubmission of the same batch id is answered with the first report. It is a type of its
//! own with a format version (`"v"`), not the serde shape of the domain [`IngestReport`]: the
//! domain type (and the wire type the HTTP edge makes of it) may be renamed or reshaped, and
//! the batches stored earlier still replay.
//!
//! # Format
//! A JSON object. Version 1 (current):
//!
//! ```json
//! {"v":1,"batch_id":"b-1","dataset":"people","schema_version":"1.0","mode":"per-record",
//!  "status":"committed","received":6,"accepted":4,"rejected":2,"created":1,"updated":1,
//!  "unchanged":1,"deleted":1,
//!  "errors":[{"record":5,"line":5,"key":"12345","field":"citizen_id",
//!             "code":"citizen-id-length","message":"…"}],
//!  "errors_truncated":false}
//! ```
//!
//! `mode` is `atomic` or `per-record`; `status` is `committed` or `rejected`; in an error,
//! `line`, `key` and `field` are absent when unknown. Reports stored before the version
//! member existed are the same object without `"v"` and with `"replayed":false`; they are read
//! as version 1.
//!
//! Rules: a member of a version never changes name or meaning. A change of shape is a new
//! version with its own type here, written from then on; every earlier version stays readable,
//! and its fixture test (a report as that version's code wrote it) stays.

use serde::{Deserialize, Serialize};

use super::{BatchStatus, IngestReport, Mode, RecordError};
use crate::error::{Code, Error, Result};

/// The version written.
const VERSION: u32 = 1;

/// Reports stored before the version member existed are version 1.
fn unversioned() -> u32 {
    1
}

/// Only the version, read first to choose the type that reads the rest.
#[derive(Deserialize)]
struct Version {
    #[serde(default = "unversioned")]
    v: u32,
}

/// Version 1 of a stored report.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredReportV1 {
    #[serde(default = "unversioned")]
    v: u32,
    batch_id: String,
    dataset: String,
    schema_version: String,
    mode: StoredMode,
    status: StoredStatus,
    received: u64,
    accepted: u64,
    rejected: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    deleted: u64,
    errors: Vec<StoredRecordErrorV1>,
    errors_truncated: bool,
    /// Written (always `false`) by the code before the version member; never written now.
    #[serde(default, skip_serializing, rename = "replayed")]
    _replayed: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecordErrorV1 {
    record: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    code: String,
    message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StoredMode {
    Atomic,
    PerRecord,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StoredStatus {
    Committed,
    Rejected,
}

/// The stored form of `report`, in the current version.
pub(super) fn encode(report: &IngestReport) -> Result<String> {
    let stored = StoredReportV1 {
        v: VERSION,
        batch_id: report.batch_id.clone(),
        dataset: report.dataset.clone(),
        schema_version: report.schema_version.clone(),
        mode: match report.mode {
            Mode::Atomic => StoredMode::Atomic,
            Mode::PerRecord => StoredMode::PerRecord,
        },
        status: match report.status {
            BatchStatus::Committed => StoredStatus::Committed,
            BatchStatus::Rejected => StoredStatus::Rejected,
        },
        received: report.received,
        accepted: report.accepted,
        rejected: report.rejected,
        created: report.created,
        updated: report.updated,
        unchanged: report.unchanged,
        deleted: report.deleted,
        errors: report
            .errors
            .iter()
            .map(|e| StoredRecordErrorV1 {
                record: e.record,
                line: e.line,
                key: e.key.clone(),
                field: e.field.clone(),
                code: e.code.clone(),
                message: e.message.clone(),
            })
            .collect(),
        errors_truncated: report.errors_truncated,
        _replayed: false,
    };
    serde_json::to_string(&stored).map_err(|e| Error::internal(e.to_string()))
}

/// Reads the stored report of batch `batch_id` (any version this binary knows) back into the
/// domain report; `replayed` is left `false` for the caller to set.
pub(super) fn decode(batch_id: &str, text: &str) -> Result<IngestReport> {
    let unreadable = |e: serde_json::Error| {
        Error::of(
            Code::StoreIncompatible,
            format!("the stored report of batch {batch_id:?} is unreadable: {e}"),
        )
    };
    let Version { v } = serde_json::from_str(text).map_err(unreadable)?;
    match v {
        1 => {
            let r: StoredReportV1 = serde_json::from_str(text).map_err(unreadable)?;
            Ok(r.into())
        }
        other => Err(Error::of(
            Code::StoreIncompatible,
            format!(
                "the stored report of batch {batch_id:?} has format version {other}; \
                 this binary reads versions 1 to {VERSION}"
            ),
        )),
    }
}

impl From<StoredReportV1> for IngestReport {
    fn from(r: StoredReportV1) -> Self {
        IngestReport {
            batch_id: r.batch_id,
            dataset: r.dataset,
            schema_version: r.schema_version,
            mode: match r.mode {
                StoredMode::Atomic => Mode::Atomic,
                StoredMode::PerRecord => Mode::PerRecord,
            },
            status: match r.status {
                StoredStatus::Committed => BatchStatus::Committed,
                StoredStatus::Rejected => BatchStatus::Rejected,
            },
            received: r.received,
            accepted: r.accepted,
            rejected: r.rejected,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            deleted: r.deleted,
            errors: r
                .errors
                .into_iter()
                .map(|e| RecordError {
                    record: e.record,
                    line: e.line,
                    key: e.key,
                    field: e.field,
                    code: e.code,
                    message: e.message,
                })
                .collect(),
            errors_truncated: r.errors_truncated,
            replayed: false,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The report of a per-record batch exactly as the store kept it before the version member
    /// existed (`serde_json::to_string` of the domain report, taken from a run of that code
    /// over a real store: batch `second` of `ingest::tests`).
    pub(in crate::ingest) const UNVERSIONED: &str = r#"{"batch_id":"second","dataset":"people","schema_version":"1.0","mode":"per-record","status":"committed","received":6,"accepted":4,"rejected":2,"created":1,"updated":1,"unchanged":1,"deleted":1,"errors":[{"record":5,"line":5,"key":"12345","field":"citizen_id","code":"citizen-id-length","message":"citizen_id: citizen id \"12345\" must have 12 digits, found 5"},{"record":6,"line":6,"key":"001203012348","code":"duplicate-key-in-batch","message":"key \"001203012348\" appears earlier in this batch"}],"errors_truncated":false,"replayed":false}"#;

    /// The domain report that [`UNVERSIONED`] was written from.
    pub(in crate::ingest) fn unversioned_report() -> IngestReport {
        IngestReport {
            batch_id: "second".into(),
            dataset: "people".into(),
            schema_version: "1.0".into(),
            mode: Mode::PerRecord,
            status: BatchStatus::Committed,
            received: 6,
            accepted: 4,
            rejected: 2,
            created: 1,
            updated: 1,
            unchanged: 1,
            deleted: 1,
            errors: vec![
                RecordError {
                    record: 5,
                    line: Some(5),
                    key: Some("12345".into()),
                    field: Some("citizen_id".into()),
                    code: "citizen-id-length".into(),
                    message: "citizen_id: citizen id \"12345\" must have 12 digits, found 5".into(),
                },
                RecordError {
                    record: 6,
                    line: Some(6),
                    key: Some("001203012348".into()),
                    field: None,
                    code: "duplicate-key-in-batch".into(),
                    message: "key \"001203012348\" appears earlier in this batch".into(),
                },
            ],
            errors_truncated: false,
            replayed: false,
        }
    }

    #[test]
    fn a_report_stored_before_the_version_member_reads_back_as_version_1() {
        assert_eq!(decode("second", UNVERSIONED).unwrap(), unversioned_report());
    }

    #[test]
    fn version_1_is_written_exactly_so_and_reads_back() {
        let report = unversioned_report();
        let text = encode(&report).unwrap();
        // The whole written form: a change here is a change of the stored format, which needs
        // a new version (see the module docs), not an edit of this string.
        assert_eq!(
            text,
            r#"{"v":1,"batch_id":"second","dataset":"people","schema_version":"1.0","mode":"per-record","status":"committed","received":6,"accepted":4,"rejected":2,"created":1,"updated":1,"unchanged":1,"deleted":1,"errors":[{"record":5,"line":5,"key":"12345","field":"citizen_id","code":"citizen-id-length","message":"citizen_id: citizen id \"12345\" must have 12 digits, found 5"},{"record":6,"line":6,"key":"001203012348","code":"duplicate-key-in-batch","message":"key \"001203012348\" appears earlier in this batch"}],"errors_truncated":false}"#
        );
        assert_eq!(decode("second", &text).unwrap(), report);
    }

    #[test]
    fn every_value_round_trips() {
        let mut report = unversioned_report();
        report.mode = Mode::Atomic;
        report.status = BatchStatus::Rejected;
        report.errors_truncated = true;
        report.errors.push(RecordError {
            record: 7,
            line: None,
            key: None,
            field: None,
            code: "json-not-object".into(),
            message: "record is not a JSON object but a number".into(),
        });
        assert_eq!(decode("second", &encode(&report).unwrap()).unwrap(), report);
        // `replayed` is the answer's, not the batch's: never stored, always read as false.
        report.replayed = true;
        let read = decode("second", &encode(&report).unwrap()).unwrap();
        assert!(!read.replayed);
    }

    #[test]
    fn an_unknown_version_or_shape_is_refused_as_store_incompatible() {
        let newer = UNVERSIONED.replacen('{', r#"{"v":2,"#, 1);
        let e = decode("second", &newer).unwrap_err();
        assert_eq!(e.code, Code::StoreIncompatible);
        assert!(e.message.contains("format version 2"), "{}", e.message);

        let renamed = UNVERSIONED.replace("\"created\"", "\"inserted\"");
        let e = decode("second", &renamed).unwrap_err();
        assert_eq!(e.code, Code::StoreIncompatible);
        assert!(e.message.contains("batch \"second\""), "{}", e.message);
    }
}
