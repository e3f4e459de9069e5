//! The quality model, measured: each dataset's counts ([`QualityState`]) brought up to date
//! from its change feed — what a replaced version contributed taken back, what the new one
//! contributes added, so a batch costs its own size — scored on the six criteria with what
//! else they need (the latest reconciliation, the declared update frequency, the lists of the
//! dictionary, the agreements and their use), and kept as hourly snapshots for the trend.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use ndx_store::catalog::exchange::attr as exchange_attr;
use ndx_store::catalog::quality::attr;
use ndx_types::dictionary::{DatasetSchema, Openness};
use ndx_types::exchange::{Agreement, AgreementStatus, QuotaUsage};
use ndx_types::quality::{
    self as q, Contribution, Criteria, DatasetScores, FieldCounts, QualityContext, QualitySnapshot,
    QualityState, ReconciledCounts, RuleCounts,
};
use ndx_types::reconcile::{Reconciliation, RunStatus};
use ndx_types::registry::Role;
use ndx_types::validate::{CompiledSchema, RawValue};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Core;
use crate::access::Caller;
use crate::error::{Code, Error, Result};

/// Changes read from the feed at a time.
const FEED_PAGE: usize = 1000;

/// How long an agreement's use counts as recent for *common use*.
const USE_WINDOW_DAYS: i64 = 30;

/// How old a state may grow before it is measured afresh from the feed's start (its
/// cross-dataset rules read datasets that change on their own).
const REMEASURE_AFTER: chrono::Duration = chrono::Duration::days(1);

/// One lock per dataset: a dataset's state is brought up to date by one thread at a time in
/// this process (another process's concurrent update loses the revision race and rereads).
#[derive(Debug, Default)]
pub(crate) struct QualityLocks(Mutex<HashMap<String, Arc<Mutex<()>>>>);

impl QualityLocks {
    fn of(&self, dataset: &str) -> Arc<Mutex<()>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(dataset.to_owned())
            .or_default()
            .clone()
    }
}

/// A dataset's quality as answered: the scores, the counts they come from, and what else
/// they read.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetQuality {
    /// The dataset.
    pub dataset: String,
    /// Its owner.
    pub owner: String,
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// The scores.
    pub scores: DatasetScores,
    /// The counts.
    pub state: QualityState,
    /// The latest reconciliation against an original register, if any.
    pub reconciliation: Option<ReconciledCounts>,
    /// The declared update frequency.
    pub update_frequency: Option<q::UpdateFrequency>,
    /// Shared (open, or under an active agreement).
    pub shared: bool,
    /// Used through the exchange API in the last 30 days.
    pub used: bool,
}

/// Every visible dataset's scores, per member and overall.
#[derive(Debug, Clone, Serialize)]
pub struct QualityOverview {
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// Per dataset.
    pub datasets: Vec<DatasetQuality>,
    /// Per member, and over every dataset listed.
    pub rollup: q::Rollup,
}

impl Core {
    /// Brings a dataset's quality counts up to date with its change feed and returns them.
    pub fn measure_quality(&self, dataset: &str, now: DateTime<Utc>) -> Result<QualityState> {
        let lock = self.quality_locks.of(dataset);
        let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let schema = self.schema(dataset, None)?;
        let compiled = self.compiled(&schema)?;
        let stored = self.store.catalog().get::<QualityState>(dataset)?;
        let (mut state, revision) = match stored {
            Some(v)
                if v.value.schema_version == schema.version
                    && v.value.started_at > now - REMEASURE_AFTER =>
            {
                (v.value, Some(v.revision))
            }
            Some(v) => (fresh_state(&schema, &compiled, now), Some(v.revision)),
            None => (fresh_state(&schema, &compiled, now), None),
        };
        let head = self.store.records().feed_head(dataset)?;
        if state.position >= head && revision.is_some() {
            return Ok(state);
        }
        loop {
            let changes = self
                .store
                .records()
                .changes(dataset, state.position, FEED_PAGE)?;
            let Some(last) = changes.last() else { break };
            let last_position = last.position;
            for change in changes {
                let v = change.record;
                if let Some(previous) = self.replaced_version(dataset, &v)?
                    && let Some(body) = previous.body.as_deref()
                {
                    let c = self.contribution(&schema, &compiled, body, previous.recorded_at)?;
                    state.apply(&c, false);
                }
                if let Some(body) = v.body.as_deref() {
                    let c = self.contribution(&schema, &compiled, body, v.recorded_at)?;
                    state.apply(&c, true);
                }
                state.last_change_at = Some(
                    state
                        .last_change_at
                        .map_or(v.recorded_at, |t| t.max(v.recorded_at)),
                );
            }
            state.position = last_position;
        }
        let saved = match revision {
            None => self.store.catalog().insert(&state, now).map(|_| ()),
            Some(r) => self.store.catalog().update(&state, r, now).map(|_| ()),
        };
        match saved {
            Ok(()) => Ok(state),
            // Another process measured the same changes first: its counts are as good.
            Err(ndx_store::StoreError::Conflict(_)) => self
                .store
                .catalog()
                .get::<QualityState>(dataset)?
                .map(|v| v.value)
                .ok_or_else(|| Error::internal("a quality state vanished while it was saved")),
            Err(e) => Err(e.into()),
        }
    }

    /// What one stored version contributes: its fields and rules measured on the day it was
    /// recorded, its references looked up now.
    fn contribution(
        &self,
        schema: &DatasetSchema,
        compiled: &CompiledSchema,
        body: &str,
        recorded_at: DateTime<Utc>,
    ) -> Result<Contribution> {
        let record: Map<String, Value> = serde_json::from_str(body)
            .map_err(|e| Error::internal(format!("a stored record is not JSON: {e}")))?;
        let values: Vec<RawValue<'_>> = schema
            .fields
            .iter()
            .map(|f| match record.get(&f.name) {
                None | Some(Value::Null) => RawValue::Absent,
                Some(v) => RawValue::Json(v),
            })
            .collect();
        let day = crate::ingest::validation_day(recorded_at);
        let mut m = compiled.measure(&values, day);
        for (rule, value) in &m.references {
            if let Some(ndx_types::dictionary::CrossRule::ReferenceExists { dataset, .. }) =
                schema.rules.get(*rule)
            {
                let exists = ndx_types::text::check_record_key(value).is_ok()
                    && self
                        .store
                        .records()
                        .record(dataset, value, None)?
                        .is_some_and(|r| r.body.is_some());
                m.rules[*rule] = !exists;
            }
        }
        Ok(Contribution {
            filled: m.filled,
            invalid: m.invalid,
            rules: m.rules,
        })
    }

    /// A dataset's quality, measured now (and kept as the hour's snapshot). Visible to every
    /// key that may see the dataset in the catalogue.
    pub fn dataset_quality(
        &self,
        caller: &Caller,
        dataset: &str,
        now: DateTime<Utc>,
    ) -> Result<DatasetQuality> {
        let schema = self.visible_schema(caller, dataset)?;
        self.quality_of(&schema, now)
    }

    /// Measures and scores one dataset and keeps the hour's snapshot.
    pub fn quality_of(&self, schema: &DatasetSchema, now: DateTime<Utc>) -> Result<DatasetQuality> {
        let state = self.measure_quality(&schema.dataset, now)?;
        let compiled = self.compiled(schema)?;
        let reconciliation = self.latest_reconciliation(&schema.dataset)?;
        let (shared, used) = self.sharing(schema, now)?;
        let (coded, current) = self.coded_on_current_lists(schema, &compiled)?;
        let ctx = QualityContext {
            update_frequency: schema.update_frequency,
            reconciliation: reconciliation.clone(),
            coded_fields: coded,
            coded_fields_current: current,
            shared,
            used,
            now,
        };
        let scores = q::score(&state, &ctx);
        let snapshot = QualitySnapshot {
            dataset: schema.dataset.clone(),
            owner: schema.owner.clone(),
            measured_at: now,
            position: state.position,
            records: state.records,
            criteria: scores.criteria,
            overall: scores.overall,
        };
        self.keep_snapshot(&snapshot, now)?;
        Ok(DatasetQuality {
            dataset: schema.dataset.clone(),
            owner: schema.owner.clone(),
            measured_at: now,
            scores,
            state,
            reconciliation,
            update_frequency: schema.update_frequency,
            shared,
            used,
        })
    }

    /// Every dataset the caller may see (every dataset for the node itself: `None`, the
    /// command line on the node's store), measured now, with the means per member and overall.
    pub fn quality_overview(
        &self,
        caller: Option<&Caller>,
        now: DateTime<Utc>,
    ) -> Result<QualityOverview> {
        let mut datasets = Vec::new();
        for schema in self.datasets()? {
            if caller.map_or(Ok(true), |c| self.may_see(c, &schema))? {
                datasets.push(self.quality_of(&schema, now)?);
            }
        }
        let mut by_member: BTreeMap<String, Vec<Criteria>> = BTreeMap::new();
        for d in &datasets {
            by_member
                .entry(d.owner.clone())
                .or_default()
                .push(d.scores.criteria);
        }
        let rollup = q::Rollup {
            members: by_member
                .iter()
                .map(|(m, all)| (m.clone(), Criteria::mean_of(all.iter())))
                .collect(),
            overall: Criteria::mean_of(datasets.iter().map(|d| &d.scores.criteria)),
        };
        Ok(QualityOverview {
            measured_at: now,
            datasets,
            rollup,
        })
    }

    /// A dataset's snapshots between two times, oldest first (at most one per hour).
    pub fn quality_history(
        &self,
        caller: &Caller,
        dataset: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<QualitySnapshot>> {
        self.visible_schema(caller, dataset)?;
        let mut all: Vec<QualitySnapshot> = self
            .store
            .catalog()
            .find_values::<QualitySnapshot>(attr::DATASET, dataset)?
            .into_iter()
            .filter(|s| {
                from.is_none_or(|f| s.measured_at >= f) && to.is_none_or(|t| s.measured_at <= t)
            })
            .collect();
        all.sort_by_key(|s| s.measured_at);
        Ok(all)
    }

    /// Brings a dataset's quality up to date and keeps the hour's snapshot (after a batch;
    /// called by the server's quality worker).
    pub fn refresh_quality(&self, dataset: &str, now: DateTime<Utc>) -> Result<()> {
        let schema = self.schema(dataset, None)?;
        self.quality_of(&schema, now).map(|_| ())
    }

    fn keep_snapshot(&self, s: &QualitySnapshot, now: DateTime<Utc>) -> Result<()> {
        let id = QualitySnapshot::id_of(&s.dataset, s.measured_at);
        let written = match self.store.catalog().get::<QualitySnapshot>(&id)? {
            None => self.store.catalog().insert(s, now).map(|_| ()),
            Some(prev) if prev.value.measured_at <= s.measured_at => self
                .store
                .catalog()
                .update(s, prev.revision, now)
                .map(|_| ()),
            Some(_) => Ok(()),
        };
        match written {
            // Another thread kept the hour's snapshot at the same moment.
            Ok(()) | Err(ndx_store::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The schema of a dataset the caller may see in the catalogue, or `dataset-not-found`.
    fn visible_schema(&self, caller: &Caller, dataset: &str) -> Result<DatasetSchema> {
        let schema = self.schema(dataset, None)?;
        if self.may_see(caller, &schema)? {
            Ok(schema)
        } else {
            Err(Error::of(
                Code::DatasetNotFound,
                format!("dataset {dataset:?} does not exist"),
            ))
        }
    }

    /// Whether the caller may see the dataset in the catalogue: any dataset that is not
    /// restricted; a restricted one for its owner's systems, the parties of its agreements,
    /// and the stewards, operators and auditors of the node.
    fn may_see(&self, caller: &Caller, schema: &DatasetSchema) -> Result<bool> {
        if schema.openness != Openness::Restricted
            || schema.owner == caller.member().code
            || [Role::Steward, Role::Operator, Role::Auditor]
                .iter()
                .any(|r| caller.has(*r))
        {
            return Ok(true);
        }
        Ok(caller.has(Role::Consumer) && self.agreed_datasets(caller)?.contains(&schema.dataset))
    }

    fn latest_reconciliation(&self, dataset: &str) -> Result<Option<ReconciledCounts>> {
        Ok(self
            .store
            .catalog()
            .values::<Reconciliation>()?
            .into_iter()
            .filter(|r| r.target == dataset && r.status == RunStatus::Done)
            .filter_map(|r| {
                let finished = r.finished_at?;
                Some(ReconciledCounts {
                    exact: r.statuses.get("exact").copied().unwrap_or(0),
                    run: r.id,
                    reference: r.reference,
                    finished_at: finished,
                    targets: r.targets,
                    duplicates: r.duplicates,
                })
            })
            .max_by_key(|r| r.finished_at))
    }

    /// Whether the dataset is shared (open, or under an agreement in force) and was used
    /// through one in the last 30 days.
    fn sharing(&self, schema: &DatasetSchema, now: DateTime<Utc>) -> Result<(bool, bool)> {
        let agreements: Vec<Agreement> = self
            .store
            .catalog()
            .find_values::<Agreement>(exchange_attr::DATASET, &schema.dataset)?
            .into_iter()
            .filter(|a| {
                a.status == AgreementStatus::Approved
                    && a.valid_from <= now
                    && a.valid_until.is_none_or(|u| u > now)
            })
            .collect();
        let since = (now - chrono::Duration::days(USE_WINDOW_DAYS)).date_naive();
        let mut used = false;
        for a in &agreements {
            used = self
                .store
                .catalog()
                .find_values::<QuotaUsage>(exchange_attr::AGREEMENT, &a.id)?
                .iter()
                .any(|u| u.day >= since && u.requests > 0)
                || self.quotas.used_since(&a.id, since);
            if used {
                break;
            }
        }
        Ok((
            schema.openness == Openness::Open || !agreements.is_empty(),
            used,
        ))
    }

    /// Coded fields, and those whose list is their element's list at its latest version.
    fn coded_on_current_lists(
        &self,
        schema: &DatasetSchema,
        compiled: &CompiledSchema,
    ) -> Result<(u64, u64)> {
        let mut coded = 0;
        let mut current = 0;
        for (_, name, list) in compiled.coded_fields() {
            coded += 1;
            let Some(field) = schema.field(&name) else {
                continue;
            };
            let element = self.element(&field.element)?;
            if element.code_list.as_deref() == Some(list.id.as_str())
                && self
                    .store
                    .catalog()
                    .code_list(&list.id, None)?
                    .is_some_and(|l| l.version == list.version)
            {
                current += 1;
            }
        }
        Ok((coded, current))
    }
}

/// The empty counts of a dataset under its schema, measured from the feed's start.
fn fresh_state(
    schema: &DatasetSchema,
    compiled: &CompiledSchema,
    now: DateTime<Utc>,
) -> QualityState {
    let coded: Vec<String> = compiled
        .coded_fields()
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    QualityState {
        dataset: schema.dataset.clone(),
        schema_version: schema.version,
        started_at: now,
        position: 0,
        records: 0,
        invalid_records: 0,
        fields: schema
            .fields
            .iter()
            .map(|f| FieldCounts {
                name: f.name.clone(),
                coded: coded.contains(&f.name),
                filled: 0,
                invalid: 0,
            })
            .collect(),
        rules: schema
            .rules
            .iter()
            .map(|r| RuleCounts {
                rule: r.name().to_owned(),
                fields: r.fields().into_iter().cloned().collect(),
                measured: r.is_measured(),
                failing: 0,
            })
            .collect(),
        last_change_at: None,
    }
}
