//! Quality on the six criteria: `/api/v1/quality` (every dataset the caller may see, per
//! member and overall), `/api/v1/datasets/{dataset}/quality` (scores, per field, per rule,
//! and the counts they come from) and `…/quality/history` (the hourly snapshots). Measured by
//! [`ndx_core::quality`] before each answer, so an answer is never behind the data.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use ndx_core::quality::{DatasetQuality, QualityOverview};
use ndx_types::quality as q;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, QueryParams, blocking};

/// Keeps every dataset's quality measured after each batch this process commits (and its
/// hour's snapshot kept), off the committing thread; runs until aborted. Commits that come
/// while a measurement runs are measured together after it.
pub async fn worker(st: AppState) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    st.core.on_commit(move |dataset| {
        let _ = tx.send(dataset.to_owned());
    });
    while let Some(first) = rx.recv().await {
        let mut datasets = std::collections::BTreeSet::from([first]);
        while let Ok(more) = rx.try_recv() {
            datasets.insert(more);
        }
        for dataset in datasets {
            let core = st.core.clone();
            let measured =
                tokio::task::spawn_blocking(move || core.refresh_quality(&dataset, Utc::now()))
                    .await;
            match measured {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("quality not measured after a batch: {e}"),
                Err(e) => tracing::warn!("quality measurement stopped: {e}"),
            }
        }
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/quality", get(overview))
        .route("/api/v1/datasets/{dataset}/quality", get(dataset_quality))
        .route("/api/v1/datasets/{dataset}/quality/history", get(history))
}

/// The six criteria, each a score from 0 to 1, or null where nothing can be measured (see
/// docs/quality.md for their definitions).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct CriteriaOut {
    /// Records that pass every rule, and agreement with the authoritative copy.
    pub accurate: Option<f64>,
    /// Filled values of the schema's fields.
    pub complete: Option<f64>,
    /// Codes of their list, records that are not duplicates.
    pub clean: Option<f64>,
    /// Freshness against the declared update frequency.
    pub live: Option<f64>,
    /// Coded fields on the dictionary's current lists.
    pub unified: Option<f64>,
    /// Shared under an agreement in force (or open), and used.
    pub common_use: Option<f64>,
    /// The mean of the measurable criteria.
    pub overall: Option<f64>,
}

impl From<q::Criteria> for CriteriaOut {
    fn from(c: q::Criteria) -> Self {
        CriteriaOut {
            accurate: c.accurate,
            complete: c.complete,
            clean: c.clean,
            live: c.live,
            unified: c.unified,
            common_use: c.common_use,
            overall: c.overall(),
        }
    }
}

/// One field's scores and counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldQualityOut {
    /// The field.
    pub name: String,
    /// Whether its values come from a code list.
    pub coded: bool,
    /// Records with a value.
    pub filled: u64,
    /// Values that fail the field's rules today.
    pub invalid: u64,
    /// Share of records with a value.
    pub complete: Option<f64>,
    /// Share of the values present that pass the field's rules.
    pub accurate: Option<f64>,
}

/// One rule's count.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleQualityOut {
    /// The rule (`citizen-id-agrees`, `age-between`, `reference-exists`, …).
    pub rule: String,
    /// The fields it reads.
    pub fields: Vec<String>,
    /// Measured only (it never refuses a record).
    pub measured: bool,
    /// Current records that break it.
    pub failing: u64,
}

/// The latest reconciliation the scores read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciledOut {
    /// The run.
    pub run: String,
    /// The register it was checked against.
    pub reference: String,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Records checked.
    pub targets: u64,
    /// Found `exact`.
    pub exact: u64,
    /// Flagged as duplicates.
    pub duplicates: u64,
}

/// A dataset's quality.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetQualityOut {
    /// The dataset.
    pub dataset: String,
    /// Its owner.
    pub owner: String,
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// The six criteria and their mean.
    pub criteria: CriteriaOut,
    /// Current records.
    pub records: u64,
    /// Current records that fail a field rule or a rule of the schema.
    pub invalid_records: u64,
    /// The change-feed position measured up to.
    pub position: u64,
    /// When the latest change was recorded.
    pub last_change_at: Option<DateTime<Utc>>,
    /// The declared update frequency.
    pub update_frequency: Option<String>,
    /// Open, or shared under an agreement in force.
    pub shared: bool,
    /// Used through the exchange API in the last 30 days.
    pub used: bool,
    /// Per field.
    pub fields: Vec<FieldQualityOut>,
    /// Per rule of the schema.
    pub rules: Vec<RuleQualityOut>,
    /// The latest reconciliation against an original register.
    pub reconciliation: Option<ReconciledOut>,
}

impl From<DatasetQuality> for DatasetQualityOut {
    fn from(d: DatasetQuality) -> Self {
        let fields = d
            .state
            .fields
            .iter()
            .zip(&d.scores.fields)
            .map(|(c, s)| FieldQualityOut {
                name: c.name.clone(),
                coded: c.coded,
                filled: c.filled,
                invalid: c.invalid,
                complete: s.complete,
                accurate: s.accurate,
            })
            .collect();
        DatasetQualityOut {
            dataset: d.dataset,
            owner: d.owner,
            measured_at: d.measured_at,
            criteria: d.scores.criteria.into(),
            records: d.state.records,
            invalid_records: d.state.invalid_records,
            position: d.state.position,
            last_change_at: d.state.last_change_at,
            update_frequency: d.update_frequency.map(|f| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            shared: d.shared,
            used: d.used,
            fields,
            rules: d
                .state
                .rules
                .into_iter()
                .map(|r| RuleQualityOut {
                    rule: r.rule,
                    fields: r.fields,
                    measured: r.measured,
                    failing: r.failing,
                })
                .collect(),
            reconciliation: d.reconciliation.map(|r| ReconciledOut {
                run: r.run,
                reference: r.reference,
                finished_at: r.finished_at,
                targets: r.targets,
                exact: r.exact,
                duplicates: r.duplicates,
            }),
        }
    }
}

/// Every dataset the caller may see, with the means per member and overall.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityOverviewOut {
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// The mean over every dataset listed.
    pub overall: CriteriaOut,
    /// Per member code: the mean over its datasets.
    pub members: BTreeMap<String, CriteriaOut>,
    /// Per dataset.
    pub datasets: Vec<DatasetQualityOut>,
}

impl From<QualityOverview> for QualityOverviewOut {
    fn from(o: QualityOverview) -> Self {
        QualityOverviewOut {
            measured_at: o.measured_at,
            overall: o.rollup.overall.into(),
            members: o
                .rollup
                .members
                .into_iter()
                .map(|(m, c)| (m, c.into()))
                .collect(),
            datasets: o.datasets.into_iter().map(Into::into).collect(),
        }
    }
}

/// The quality of every dataset the caller may see in the catalogue, measured now, with the
/// means per member (agency) and over all of them.
#[utoipa::path(get, path = "/api/v1/quality", tag = "quality", security(("api_key" = [])),
    responses((status = 200, body = QualityOverviewOut), (status = 401, body = Problem)))]
async fn overview(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<QualityOverviewOut>> {
    let core = st.core.clone();
    let o = blocking(move || core.quality_overview(Some(&c), Utc::now())).await?;
    Ok(axum::Json(o.into()))
}

/// A dataset's quality on the six criteria, per field and per rule, measured now (the
/// hour's snapshot is kept for the trend). Any key that may see the dataset in the catalogue.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/quality", tag = "quality", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id")),
    responses((status = 200, body = DatasetQualityOut), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
async fn dataset_quality(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
) -> ApiResult<axum::Json<DatasetQualityOut>> {
    let core = st.core.clone();
    let d = blocking(move || core.dataset_quality(&c, &dataset, Utc::now())).await?;
    Ok(axum::Json(d.into()))
}

/// `?from=&to=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// One snapshot of a dataset's scores (the latest measurement of its hour).
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotOut {
    /// When it was measured.
    pub measured_at: DateTime<Utc>,
    /// The change-feed position measured up to.
    pub position: u64,
    /// Current records.
    pub records: u64,
    /// The six criteria and their mean.
    pub criteria: CriteriaOut,
}

/// A dataset's quality over time: one snapshot per hour in which it was measured (after a
/// batch, or when asked), oldest first.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/quality/history", tag = "quality", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("from" = Option<DateTime<Utc>>, Query, description = "RFC 3339: snapshots from this time"),
           ("to" = Option<DateTime<Utc>>, Query, description = "RFC 3339: snapshots up to this time")),
    responses((status = 200, body = Vec<SnapshotOut>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn history(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
    QueryParams(qp): QueryParams<HistoryQuery>,
) -> ApiResult<axum::Json<Vec<SnapshotOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.quality_history(&c, &dataset, qp.from, qp.to)).await?;
    Ok(axum::Json(
        all.into_iter()
            .map(|s| SnapshotOut {
                measured_at: s.measured_at,
                position: s.position,
                records: s.records,
                criteria: s.criteria.into(),
            })
            .collect(),
    ))
}
