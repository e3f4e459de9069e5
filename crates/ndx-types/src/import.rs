//! An import: one file a person of a provider uploads through the web UI, loaded as one batch,
//! kept in the catalogue with what it did (its counts and its rejected rows) so that the
//! provider can come back to it. The batch itself is the store's; this is its receipt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportStatus {
    /// Being read.
    Running,
    /// Committed (in per-record mode, possibly with rejected rows).
    Committed,
    /// Refused as a whole (an atomic batch with an invalid row); nothing changed.
    Rejected,
    /// Could not be read or stored (malformed file, a store error); nothing changed.
    Failed,
}

impl ImportStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            ImportStatus::Running => "running",
            ImportStatus::Committed => "committed",
            ImportStatus::Rejected => "rejected",
            ImportStatus::Failed => "failed",
        }
    }
}

/// One refused row of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedRow {
    /// 1-based number of the record in the file.
    pub record: u64,
    /// 1-based line where it starts.
    #[serde(default)]
    pub line: Option<u64>,
    /// Its key, if readable.
    #[serde(default)]
    pub key: Option<String>,
    /// The field at fault, if one is.
    #[serde(default)]
    pub field: Option<String>,
    /// The stable error code.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCounts {
    /// Records read.
    pub received: u64,
    /// Records that passed validation.
    pub accepted: u64,
    /// Records refused.
    pub rejected: u64,
    /// New records.
    pub created: u64,
    /// New versions of existing records.
    pub updated: u64,
    /// Records identical to their current version.
    pub unchanged: u64,
    /// Records deleted.
    pub deleted: u64,
}

/// One import, as the catalogue keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// Identifier (also the batch id of its batch).
    pub id: String,
    /// The dataset loaded.
    pub dataset: String,
    /// The member owning it.
    pub owner: String,
    /// The file's name as uploaded.
    pub file_name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// `atomic` or `per-record`.
    pub mode: String,
    /// The system it was loaded as.
    pub system: String,
    /// Who uploaded it (the web login).
    pub by: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Where it is.
    pub status: ImportStatus,
    /// What it did (once finished).
    #[serde(default)]
    pub counts: ImportCounts,
    /// The rejected rows (the first thousand).
    #[serde(default)]
    pub rejected_rows: Vec<RejectedRow>,
    /// Whether more rows were rejected than are listed.
    #[serde(default)]
    pub rejected_truncated: bool,
    /// Why a failed import failed.
    #[serde(default)]
    pub failure: Option<String>,
}
