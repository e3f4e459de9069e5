//! The quality model on the six criteria of the policy texts — accurate, complete, clean,
//! live, unified, common use — as counts kept per dataset and the scores computed from them.
//! Pure: the counts are brought up to date by `ndx-core::quality` from the change feed; the
//! definitions are in `docs/quality.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dictionary::SchemaVersion;

/// How often a dataset is expected to change (declared on its schema): the measure of *live*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UpdateFrequency {
    /// At least once a day.
    Daily,
    /// At least once a week.
    Weekly,
    /// At least once a month.
    Monthly,
    /// At least once a quarter.
    Quarterly,
    /// At least once a year.
    Yearly,
}

impl UpdateFrequency {
    /// The period within which a change is expected.
    pub fn period(self) -> chrono::Duration {
        chrono::Duration::days(match self {
            UpdateFrequency::Daily => 1,
            UpdateFrequency::Weekly => 7,
            UpdateFrequency::Monthly => 31,
            UpdateFrequency::Quarterly => 92,
            UpdateFrequency::Yearly => 366,
        })
    }
}

/// The counts of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCounts {
    /// The field.
    pub name: String,
    /// Whether its element is coded (its values come from a code list).
    pub coded: bool,
    /// Current records in which it has a value.
    pub filled: u64,
    /// Current records whose value fails the field's rules today (format, type, code list).
    pub invalid: u64,
}

/// The counts of one rule of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCounts {
    /// The rule as the schema states it (`age-between`, …).
    pub rule: String,
    /// The fields it reads.
    pub fields: Vec<String>,
    /// Whether it is measured only (never refuses a record).
    pub measured: bool,
    /// Current records that break it.
    pub failing: u64,
}

/// What one record version adds to (or, replaced, takes from) a dataset's counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contribution {
    /// Per field: has a value.
    pub filled: Vec<bool>,
    /// Per field: the value fails the field's rules.
    pub invalid: Vec<bool>,
    /// Per rule of the schema: the record breaks it.
    pub rules: Vec<bool>,
}

impl Contribution {
    /// Whether the record fails anything.
    pub fn is_invalid(&self) -> bool {
        self.invalid.iter().chain(&self.rules).any(|b| *b)
    }
}

/// A dataset's quality counts, measured up to a position of its change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityState {
    /// The dataset.
    pub dataset: String,
    /// The schema version the counts were measured against.
    pub schema_version: SchemaVersion,
    /// When these counts were started from the feed's first position.
    pub started_at: DateTime<Utc>,
    /// The change-feed position measured up to.
    pub position: u64,
    /// Current (non-deleted) records.
    pub records: u64,
    /// Current records that fail a field rule or a rule of the schema.
    pub invalid_records: u64,
    /// Per field, in schema order.
    pub fields: Vec<FieldCounts>,
    /// Per rule, in schema order.
    pub rules: Vec<RuleCounts>,
    /// When the latest change was recorded.
    pub last_change_at: Option<DateTime<Utc>>,
}

impl QualityState {
    /// Adds (`sign` = 1) or takes away (`sign` = −1) one version's contribution.
    pub fn apply(&mut self, c: &Contribution, adding: bool) {
        let step = |n: &mut u64, yes: bool| {
            if yes {
                *n = if adding { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        step(&mut self.records, true);
        step(&mut self.invalid_records, c.is_invalid());
        for (f, (filled, invalid)) in self.fields.iter_mut().zip(c.filled.iter().zip(&c.invalid)) {
            step(&mut f.filled, *filled);
            step(&mut f.invalid, *invalid);
        }
        for (r, failing) in self.rules.iter_mut().zip(&c.rules) {
            step(&mut r.failing, *failing);
        }
    }
}

/// The latest finished reconciliation of a dataset against an original register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciledCounts {
    /// The run.
    pub run: String,
    /// The register it was checked against.
    pub reference: String,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Records checked.
    pub targets: u64,
    /// Records found `exact`.
    pub exact: u64,
    /// Records flagged as duplicates.
    pub duplicates: u64,
}

/// What the scores need besides the counts.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityContext {
    /// The declared update frequency.
    pub update_frequency: Option<UpdateFrequency>,
    /// The latest reconciliation.
    pub reconciliation: Option<ReconciledCounts>,
    /// Coded fields, and those whose list is the element's list at its latest version.
    pub coded_fields: u64,
    /// Of which on the current list.
    pub coded_fields_current: u64,
    /// Open data, or shared by at least one active agreement.
    pub shared: bool,
    /// Used through the exchange API in the window.
    pub used: bool,
    /// The time of the measurement.
    pub now: DateTime<Utc>,
}

/// The six scores, each 0–1 or `None` where nothing can be measured.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Criteria {
    /// Agreement with the rules and with the authoritative copy.
    pub accurate: Option<f64>,
    /// Expected values present.
    pub complete: Option<f64>,
    /// No invalid codes, no duplicates.
    pub clean: Option<f64>,
    /// Fresh against the declared update frequency.
    pub live: Option<f64>,
    /// Codes on the dictionary's current lists.
    pub unified: Option<f64>,
    /// Shared and actually used.
    pub common_use: Option<f64>,
}

impl Criteria {
    /// The mean of the measurable criteria.
    pub fn overall(&self) -> Option<f64> {
        mean(
            [
                self.accurate,
                self.complete,
                self.clean,
                self.live,
                self.unified,
                self.common_use,
            ]
            .into_iter()
            .flatten(),
        )
    }

    /// The per-criterion mean of several (a member's datasets, the nation's).
    pub fn mean_of<'a>(all: impl Iterator<Item = &'a Criteria> + Clone) -> Criteria {
        let m = |pick: fn(&Criteria) -> Option<f64>| mean(all.clone().filter_map(pick));
        Criteria {
            accurate: m(|c| c.accurate),
            complete: m(|c| c.complete),
            clean: m(|c| c.clean),
            live: m(|c| c.live),
            unified: m(|c| c.unified),
            common_use: m(|c| c.common_use),
        }
    }
}

/// The mean, `None` of nothing.
pub fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

fn share(part: u64, whole: u64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The scores of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldScores {
    /// The field.
    pub name: String,
    /// Values that pass the field's rules, of the values present.
    pub accurate: Option<f64>,
    /// Records with a value.
    pub complete: Option<f64>,
}

/// A dataset's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetScores {
    /// The six criteria.
    pub criteria: Criteria,
    /// Their mean.
    pub overall: Option<f64>,
    /// Per field.
    pub fields: Vec<FieldScores>,
}

/// Scores the counts.
pub fn score(state: &QualityState, ctx: &QualityContext) -> DatasetScores {
    let n = state.records;
    let valid = share(n - state.invalid_records.min(n), n);
    let exact = ctx
        .reconciliation
        .as_ref()
        .and_then(|r| share(r.exact, r.targets));
    let accurate = mean([valid, exact].into_iter().flatten());
    let fields: Vec<FieldScores> = state
        .fields
        .iter()
        .map(|f| FieldScores {
            name: f.name.clone(),
            accurate: share(f.filled - f.invalid.min(f.filled), f.filled),
            complete: share(f.filled, n),
        })
        .collect();
    let complete = mean(fields.iter().filter_map(|f| f.complete));
    let coded: Vec<&FieldCounts> = state.fields.iter().filter(|f| f.coded).collect();
    let coded_filled: u64 = coded.iter().map(|f| f.filled).sum();
    let coded_invalid: u64 = coded.iter().map(|f| f.invalid.min(f.filled)).sum();
    let codes_valid = share(coded_filled - coded_invalid, coded_filled);
    let not_duplicate = ctx
        .reconciliation
        .as_ref()
        .and_then(|r| share(r.targets - r.duplicates.min(r.targets), r.targets));
    let clean = mean([codes_valid, not_duplicate].into_iter().flatten());
    let live = ctx.update_frequency.map(|f| {
        let Some(last) = state.last_change_at else {
            return 0.0;
        };
        let age = (ctx.now - last).num_seconds().max(0) as f64;
        let period = f.period().num_seconds() as f64;
        if age <= period {
            1.0
        } else {
            (1.0 - (age - period) / (2.0 * period)).max(0.0)
        }
    });
    let unified = share(ctx.coded_fields_current, ctx.coded_fields);
    let common_use = Some(match (ctx.shared, ctx.used) {
        (true, true) => 1.0,
        (true, false) => 0.5,
        (false, _) => 0.0,
    });
    let criteria = Criteria {
        accurate,
        complete,
        clean,
        live,
        unified,
        common_use,
    };
    DatasetScores {
        overall: criteria.overall(),
        criteria,
        fields,
    }
}

/// A dataset's quality at one time, as kept for trends (one per dataset and hour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySnapshot {
    /// The dataset.
    pub dataset: String,
    /// Its owner.
    pub owner: String,
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// The change-feed position measured up to.
    pub position: u64,
    /// Current records.
    pub records: u64,
    /// The six criteria.
    pub criteria: Criteria,
    /// Their mean.
    pub overall: Option<f64>,
}

impl QualitySnapshot {
    /// The id it is kept under: `DATASET@YYYY-MM-DDTHH` (the hour of the measurement).
    pub fn id_of(dataset: &str, at: DateTime<Utc>) -> String {
        format!("{dataset}@{}", at.format("%Y-%m-%dT%H"))
    }
}

/// Scores per member and overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// Per member code: the mean of its datasets.
    pub members: BTreeMap<String, Criteria>,
    /// Of every dataset.
    pub overall: Criteria,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> QualityState {
        QualityState {
            dataset: "d".into(),
            schema_version: SchemaVersion { major: 1, minor: 0 },
            started_at: Utc::now(),
            position: 0,
            records: 0,
            invalid_records: 0,
            fields: vec![
                FieldCounts {
                    name: "id".into(),
                    coded: false,
                    filled: 0,
                    invalid: 0,
                },
                FieldCounts {
                    name: "sex".into(),
                    coded: true,
                    filled: 0,
                    invalid: 0,
                },
            ],
            rules: vec![],
            last_change_at: None,
        }
    }

    fn ctx(now: DateTime<Utc>) -> QualityContext {
        QualityContext {
            update_frequency: Some(UpdateFrequency::Daily),
            reconciliation: None,
            coded_fields: 1,
            coded_fields_current: 1,
            shared: true,
            used: false,
            now,
        }
    }

    #[test]
    fn counts_add_and_take_back_exactly() {
        let mut s = state();
        let full = Contribution {
            filled: vec![true, true],
            invalid: vec![false, false],
            rules: vec![],
        };
        let partial = Contribution {
            filled: vec![true, false],
            invalid: vec![false, false],
            rules: vec![],
        };
        let bad = Contribution {
            filled: vec![true, true],
            invalid: vec![false, true],
            rules: vec![],
        };
        s.apply(&full, true);
        s.apply(&partial, true);
        s.apply(&bad, true);
        assert_eq!(
            (
                s.records,
                s.invalid_records,
                s.fields[1].filled,
                s.fields[1].invalid
            ),
            (3, 1, 2, 1)
        );
        // The bad version is replaced by a good one.
        s.apply(&bad, false);
        s.apply(&full, true);
        assert_eq!(
            (
                s.records,
                s.invalid_records,
                s.fields[1].filled,
                s.fields[1].invalid
            ),
            (3, 0, 2, 0)
        );
        let now = Utc::now();
        s.last_change_at = Some(now);
        let sc = score(&s, &ctx(now));
        let third = 2.0 / 3.0;
        assert!((sc.criteria.complete.unwrap() - (1.0 + third) / 2.0).abs() < 1e-9);
        assert_eq!(sc.criteria.accurate, Some(1.0));
        assert_eq!(sc.criteria.clean, Some(1.0));
        assert_eq!(sc.criteria.live, Some(1.0));
        assert_eq!(sc.criteria.common_use, Some(0.5));
        assert_eq!(sc.fields[1].complete, Some(third));
    }

    #[test]
    fn live_falls_to_zero_at_three_periods_and_reconciliation_weighs_in() {
        let mut s = state();
        let now = Utc::now();
        s.records = 10;
        s.last_change_at = Some(now - chrono::Duration::days(2));
        let mut c = ctx(now);
        assert!((score(&s, &c).criteria.live.unwrap() - 0.5).abs() < 1e-6);
        s.last_change_at = Some(now - chrono::Duration::days(5));
        assert_eq!(score(&s, &c).criteria.live, Some(0.0));
        c.update_frequency = None;
        assert_eq!(score(&s, &c).criteria.live, None);
        c.reconciliation = Some(ReconciledCounts {
            run: "rec-1".into(),
            reference: "population".into(),
            finished_at: now,
            targets: 10,
            exact: 6,
            duplicates: 2,
        });
        let sc = score(&s, &c);
        assert_eq!(sc.criteria.accurate, Some((1.0 + 0.6) / 2.0));
        assert_eq!(
            sc.criteria.clean,
            Some(0.8),
            "no coded value filled: duplicates alone"
        );
    }
}
