//! A citizen's report of an error in their own data: which record of which dataset, which
//! field, what is wrong and, if they know it, the right value. It reaches the agency that owns
//! the dataset as a correction request, which that agency's providers settle (corrected, or
//! declined with the reason); the citizen sees where it stands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportStatus {
    /// Waiting for the owning agency.
    Open,
    /// The agency corrected the record.
    Corrected,
    /// The agency found the record right, and says why.
    Declined,
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReport {
    /// Identifier.
    pub id: String,
    /// The citizen who reported it (the record's subject).
    pub subject: String,
    /// The dataset.
    pub dataset: String,
    /// The member owning it (who settles the report).
    pub owner: String,
    /// The record's key.
    pub key: String,
    /// The field said to be wrong.
    pub field: String,
    /// The value it had when reported.
    pub current: String,
    /// What is wrong, in the citizen's words.
    pub description: String,
    /// The right value, if the citizen gave it.
    #[serde(default)]
    pub proposed: Option<String>,
    /// Where it stands.
    pub status: ReportStatus,
    /// When it was reported.
    pub reported_at: DateTime<Utc>,
    /// The agency's answer.
    #[serde(default)]
    pub answer: Option<String>,
    /// The system that settled it, and when.
    #[serde(default)]
    pub settled_by: Option<String>,
    /// When it was settled.
    #[serde(default)]
    pub settled_at: Option<DateTime<Utc>>,
}

/// The longest description or answer, in characters.
pub const MAX_TEXT: usize = 2000;
