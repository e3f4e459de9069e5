//! Reconciliation runs of stored registers: what a run was asked, how it went, its summary,
//! and its report rows (kept in parts of at most [`PART_ROWS`] rows, so that no stored body
//! grows with the register).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Report rows per stored part.
pub const PART_ROWS: usize = 1000;

/// The columns of a CSV report, in order (fixed: outside checks read them).
pub const REPORT_COLUMNS: [&str; 6] = [
    "target_id",
    "status",
    "reference_id",
    "score",
    "differences",
    "duplicate_of",
];

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Reading and comparing.
    Running,
    /// Finished: the summary and the report are complete.
    Done,
    /// Ended by an error ([`Reconciliation::error`]); nothing of its report is kept.
    Failed,
}

/// One reconciliation of a target register (the caller's own) against a reference register
/// read under the caller's agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// `rec-` and 16 hex digits.
    pub id: String,
    /// The member whose register was checked.
    pub member: String,
    /// The system that asked.
    pub system: String,
    /// The register checked.
    pub target: String,
    /// The register it was checked against.
    pub reference: String,
    /// The agreement the reference was read under.
    pub agreement: String,
    /// The purpose stated.
    pub purpose: String,
    /// The match probability from which a record without a usable key is `probable`.
    pub threshold: f64,
    /// Where the run is.
    pub status: RunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
    /// Target records read.
    pub targets: u64,
    /// Reference records read.
    pub references: u64,
    /// Reference records the agreement's consent rules withheld.
    pub withheld: u64,
    /// Target records per status (`exact`, `match_with_differences`, …).
    pub statuses: BTreeMap<String, u64>,
    /// Findings per kind (`diacritics-lost`, `citizen-id-missing`, …).
    pub findings: BTreeMap<String, u64>,
    /// Target records flagged as duplicates.
    pub duplicates: u64,
    /// The estimated model, one line per field and level.
    pub model: Vec<String>,
    /// Stored parts of the report.
    pub parts: u32,
    /// Until when the process running it holds it (renewed while it runs): a run still
    /// `running` after that was stopped with its process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

impl Reconciliation {
    /// The share of target records matched to a reference record (exactly, with
    /// differences to correct, or probably — the matches a report gives); `None` before any
    /// target record was read.
    pub fn match_rate(&self) -> Option<f64> {
        if self.targets == 0 {
            return None;
        }
        let matched: u64 = ["exact", "match_with_differences", "probable"]
            .iter()
            .filter_map(|k| self.statuses.get(*k))
            .sum();
        Some(matched as f64 / self.targets as f64)
    }

    /// Settles a run whose process stopped before it finished: still `running` after its
    /// lease ran out, it is `failed` as interrupted (no report is kept). Whether it changed.
    pub fn settle(&mut self, now: DateTime<Utc>) -> bool {
        match self.lease_until {
            Some(until) if self.status == RunStatus::Running && until < now => {
                self.status = RunStatus::Failed;
                self.finished_at = Some(until);
                self.error = Some(
                    "interrupted: the process running it stopped before it finished; start \
                     it again"
                        .into(),
                );
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_whose_lease_ran_out_is_settled_as_interrupted() {
        let now = Utc::now();
        let mut run = Reconciliation {
            id: "rec-0000000000000001".into(),
            member: "BNV".into(),
            system: "BNV-CIVIL-SERVICE".into(),
            target: "civil-servants".into(),
            reference: "population".into(),
            agreement: "agr-1".into(),
            purpose: "cross-checking".into(),
            threshold: 0.9,
            status: RunStatus::Running,
            started_at: now,
            finished_at: None,
            error: None,
            targets: 0,
            references: 0,
            withheld: 0,
            statuses: BTreeMap::new(),
            findings: BTreeMap::new(),
            duplicates: 0,
            model: Vec::new(),
            parts: 0,
            lease_until: Some(now + chrono::Duration::seconds(60)),
        };
        assert!(!run.settle(now), "the lease holds");
        let later = now + chrono::Duration::seconds(61);
        assert!(run.settle(later));
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.finished_at, run.lease_until);
        assert!(
            run.error
                .as_deref()
                .is_some_and(|e| e.starts_with("interrupted"))
        );
        assert!(!run.settle(later), "settled once");
        let mut done = run.clone();
        done.status = RunStatus::Done;
        assert!(!done.settle(later));
    }
}

/// One difference of a report row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowDifference {
    /// The element id.
    pub field: String,
    /// The kind of difference.
    pub kind: String,
    /// The reference's value.
    pub reference: String,
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The target record's key.
    pub target_id: String,
    /// Its status.
    pub status: String,
    /// The matched reference record's key.
    pub reference_id: Option<String>,
    /// The match probability.
    pub score: Option<f64>,
    /// The differences, with the reference's values.
    pub differences: Vec<RowDifference>,
    /// Every finding's kind.
    pub findings: Vec<String>,
    /// An earlier target record of the same person.
    pub duplicate_of: Option<String>,
    /// Plausible candidates.
    pub plausible_candidates: u64,
}

/// The `differences` cell of a CSV report: a JSON object field → the reference's value, or
/// empty when nothing differs.
fn differences_cell<'a>(differences: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = differences
        .into_iter()
        .map(|(field, value)| {
            (
                field.to_owned(),
                serde_json::Value::String(value.to_owned()),
            )
        })
        .collect();
    if map.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(map).to_string()
    }
}

impl ReportRow {
    /// The row's cells in [`REPORT_COLUMNS`] order: the score with four decimals,
    /// `differences` a JSON object field → the reference's value, absent values empty.
    pub fn csv_cells(self) -> [String; 6] {
        let differences = differences_cell(
            self.differences
                .iter()
                .map(|d| (d.field.as_str(), d.reference.as_str())),
        );
        [
            self.target_id,
            self.status,
            self.reference_id.unwrap_or_default(),
            self.score.map(|s| format!("{s:.4}")).unwrap_or_default(),
            differences,
            self.duplicate_of.unwrap_or_default(),
        ]
    }
}

/// A part of a report: rows `number × PART_ROWS ..` in target order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportPart {
    /// The run.
    pub run: String,
    /// 0-based part number.
    pub number: u32,
    /// The rows.
    pub rows: Vec<ReportRow>,
}

impl ReportPart {
    /// The stored id of part `number` of run `run`.
    pub fn id_of(run: &str, number: u32) -> String {
        format!("{run}/{number:06}")
    }
}

/// A steward's decision on a proposed correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The reference's values were written as a new version of the target record.
    Accepted,
    /// Left as it is.
    Rejected,
}

/// One corrected (or not) field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectedField {
    /// The element id.
    pub field: String,
    /// The kind of difference it had.
    pub kind: String,
    /// The reference's value (written, when accepted).
    pub value: String,
}

/// The decision on the correction a report row proposed. Its id, `<run>/<target key>`, is
/// the batch id of the version an accepted one wrote (as `correction-<run>-<target key>`),
/// so that version's lineage leads here: to the run, the reference record and the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction {
    /// `<run>/<target key>`.
    pub id: String,
    /// The run that proposed it.
    pub run: String,
    /// The register corrected.
    pub target: String,
    /// The record corrected.
    pub target_id: String,
    /// The reference register.
    pub reference: String,
    /// The reference record whose values were proposed.
    pub reference_id: String,
    /// Accepted or rejected.
    pub decision: Decision,
    /// The fields decided on.
    pub fields: Vec<CorrectedField>,
    /// Why, in the decider's words.
    pub note: Option<String>,
    /// The system that decided.
    pub decided_by: String,
    /// When.
    pub decided_at: DateTime<Utc>,
    /// The batch that wrote the corrected version (accepted only).
    pub batch_id: Option<String>,
    /// The version it wrote (accepted only).
    pub version: Option<u64>,
}

impl Correction {
    /// The id of the correction of `target_id` proposed by run `run`.
    pub fn id_of(run: &str, target_id: &str) -> String {
        format!("{run}/{target_id}")
    }
}

/// Whether `s` is a run id this node issues (`rec-` and 16 lower-case hex digits).
pub fn is_run_id(s: &str) -> bool {
    s.strip_prefix("rec-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}
