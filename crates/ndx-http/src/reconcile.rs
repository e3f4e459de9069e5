//! `/api/v1/reconciliations`: cross-checking the caller's own register against a reference
//! register read under its agreement (start a run, poll it, read its report as CSV or NDJSON,
//! decide the corrections it proposes).
//! The run itself is [`ndx_core::reconcile`]'s; the matching is `ndx-match`'s.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use ndx_core::reconcile::{CorrectionRequest, ReconcileRequest};
use ndx_types::reconcile::{Correction, Decision, Reconciliation, ReportRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::{AppState, JsonBody, blocking};
use ndx_core::Code;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/reconciliations",
            get(list_reconciliations).post(start_reconciliation),
        )
        .route("/api/v1/reconciliations/{id}", get(get_reconciliation))
        .route("/api/v1/reconciliations/{id}/report", get(report))
        .route(
            "/api/v1/reconciliations/{id}/corrections",
            get(list_corrections).post(decide_correction),
        )
}

/// A reconciliation to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationIn {
    /// The caller's own register (its member owns the dataset), e.g. `civil-servants`.
    pub target: String,
    /// The register to check it against, read as a bulk extract under the caller's agreement
    /// (which must allow `extract` for the purpose in `Ndx-Purpose`), e.g. `population`.
    pub reference: String,
    /// A record without a usable citizen ID is `probable` from this match probability on
    /// (0.5–1, default 0.9).
    #[serde(default)]
    #[schema(minimum = 0.5, maximum = 1.0)]
    pub threshold: Option<f64>,
}

/// A reconciliation run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationOut {
    /// Its id.
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
    /// The purpose.
    pub purpose: String,
    /// The threshold of `probable`.
    pub threshold: f64,
    /// `running`, `done` or `failed`.
    #[schema(example = "done")]
    pub status: String,
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
    /// Reference records withheld for want of consent.
    pub withheld: u64,
    /// Target records per status (`exact`, `match_with_differences`, `probable`,
    /// `ambiguous`, `no_match`).
    pub statuses: BTreeMap<String, u64>,
    /// Findings per kind (`diacritics-lost`, `name-typo`, `day-month-swapped`,
    /// `old-address`, `citizen-id-missing`, …).
    pub findings: BTreeMap<String, u64>,
    /// Target records flagged as duplicates.
    pub duplicates: u64,
    /// The estimated model, one line per field and level.
    pub model: Vec<String>,
}

impl From<Reconciliation> for ReconciliationOut {
    fn from(r: Reconciliation) -> Self {
        ReconciliationOut {
            id: r.id,
            member: r.member,
            system: r.system,
            target: r.target,
            reference: r.reference,
            agreement: r.agreement,
            purpose: r.purpose,
            threshold: r.threshold,
            status: match r.status {
                ndx_types::reconcile::RunStatus::Running => "running",
                ndx_types::reconcile::RunStatus::Done => "done",
                ndx_types::reconcile::RunStatus::Failed => "failed",
            }
            .to_owned(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
            targets: r.targets,
            references: r.references,
            withheld: r.withheld,
            statuses: r.statuses,
            findings: r.findings,
            duplicates: r.duplicates,
            model: r.model,
        }
    }
}

/// Starts a reconciliation of the caller's own register against a reference register, and
/// answers at once: 202 with the run, whose `Location` to poll. The caller's member must own
/// the target; its system must hold an agreement allowing `extract` of the reference for the
/// purpose in `Ndx-Purpose` (every refusal of the exchange API applies, audited). The
/// reference's records are released as an extract's are: on each citizen's tracker.
#[utoipa::path(post, path = "/api/v1/reconciliations", tag = "quality", security(("api_key" = [])),
    params(("Ndx-Purpose" = String, Header, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "the purpose: a code of the code list `purpose`")),
    request_body = ReconciliationIn,
    responses((status = 202, body = ReconciliationOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub(crate) async fn start_reconciliation(
    State(st): State<AppState>,
    Auth(c): Auth,
    headers: HeaderMap,
    body: JsonBody<ReconciliationIn>,
) -> ApiResult<Response> {
    let purpose = crate::exchange::purpose(&headers)?;
    let input = body.read().await?;
    let request = ReconcileRequest {
        target: input.target,
        reference: input.reference,
        purpose,
        threshold: input.threshold,
    };
    let core = st.core.clone();
    let job = blocking(move || core.start_reconciliation(&c, &request, Utc::now())).await?;
    let run = job.run().clone();
    let core = st.core.clone();
    tokio::task::spawn_blocking(move || {
        let id = job.run().id.clone();
        match core.run_reconciliation(job, &Utc::now) {
            Ok(run) => tracing::info!(
                reconciliation = id,
                targets = run.targets,
                references = run.references,
                "reconciliation done"
            ),
            Err(e) => tracing::warn!(reconciliation = id, "reconciliation failed: {e}"),
        }
    });
    let location = format!("/api/v1/reconciliations/{}", run.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(ReconciliationOut::from(run)),
    )
        .into_response())
}

/// The runs the caller may read: its member's (every run for operators and auditors),
/// newest first.
#[utoipa::path(get, path = "/api/v1/reconciliations", tag = "quality", security(("api_key" = [])),
    responses((status = 200, body = Vec<ReconciliationOut>), (status = 401, body = Problem)))]
pub(crate) async fn list_reconciliations(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<ReconciliationOut>>> {
    let core = st.core.clone();
    let runs = blocking(move || core.reconciliations(&c)).await?;
    Ok(axum::Json(runs.into_iter().map(Into::into).collect()))
}

/// One run, with its summary once done. Another member's run is `404`.
#[utoipa::path(get, path = "/api/v1/reconciliations/{id}", tag = "quality", security(("api_key" = [])),
    params(("id" = String, Path, description = "run id (`rec-…`)")),
    responses((status = 200, body = ReconciliationOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_reconciliation(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ReconciliationOut>> {
    let core = st.core.clone();
    let run = blocking(move || core.reconciliation(&c, &id)).await?;
    Ok(axum::Json(run.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportFormat {
    Csv,
    Ndjson,
}

fn report_format(headers: &HeaderMap) -> ApiResult<ReportFormat> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(ReportFormat::Csv);
    };
    let accept = accept.to_str().unwrap_or("");
    for range in accept.split(',') {
        match crate::media_type(range).as_str() {
            "text/csv" | "text/*" | "*/*" => return Ok(ReportFormat::Csv),
            "application/x-ndjson" | "application/ndjson" | "application/*" => {
                return Ok(ReportFormat::Ndjson);
            }
            _ => {}
        }
    }
    Err(ApiError::new(
        Code::NotAcceptable,
        format!("a report is text/csv or application/x-ndjson; Accept {accept:?} allows neither"),
    ))
}

/// One line of an NDJSON report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportLine {
    /// The target record's key.
    pub target_id: String,
    /// `exact`, `match_with_differences`, `probable`, `ambiguous` or `no_match`.
    pub status: String,
    /// The matched reference record's key.
    pub reference_id: Option<String>,
    /// The match probability.
    pub score: Option<f64>,
    /// Each differing field with its kind and the reference's value.
    pub differences: Vec<DifferenceOut>,
    /// Every finding's kind.
    pub findings: Vec<String>,
    /// An earlier target record of the same person.
    pub duplicate_of: Option<String>,
    /// Candidates with a posterior of at least 0.1.
    pub plausible_candidates: u64,
}

/// One differing field.
#[derive(Debug, Serialize, ToSchema)]
pub struct DifferenceOut {
    /// The element id.
    pub field: String,
    /// The kind of difference.
    pub kind: String,
    /// The reference's value.
    pub reference: String,
}

fn write_row(format: ReportFormat, r: ReportRow, out: &mut Vec<u8>) {
    match format {
        ReportFormat::Csv => crate::exchange::csv_row(&r.csv_cells(), out),
        ReportFormat::Ndjson => {
            let line = ReportLine {
                target_id: r.target_id,
                status: r.status,
                reference_id: r.reference_id,
                score: r.score,
                differences: r
                    .differences
                    .into_iter()
                    .map(|d| DifferenceOut {
                        field: d.field,
                        kind: d.kind,
                        reference: d.reference,
                    })
                    .collect(),
                findings: r.findings,
                duplicate_of: r.duplicate_of,
                plausible_candidates: r.plausible_candidates,
            };
            if serde_json::to_writer(&mut *out, &line).is_ok() {
                out.push(b'\n');
            }
        }
    }
}

/// A finished run's report, streamed part by part: CSV (`Accept: text/csv`, the default;
/// columns `target_id, status, reference_id, score, differences, duplicate_of`, `differences` a
/// JSON object field → the reference's value) or NDJSON (`Accept: application/x-ndjson`; each
/// difference's kind and every finding too). Each part read is audited with the citizens it
/// names. `409 reconciliation-not-done` while the run is running or after it failed.
#[utoipa::path(get, path = "/api/v1/reconciliations/{id}/report", tag = "quality", security(("api_key" = [])),
    params(("id" = String, Path, description = "run id (`rec-…`)")),
    responses((status = 200, description = "the report",
               content((String = "text/csv"), (ReportLine = "application/x-ndjson"))),
              (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 406, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn report(
    State(st): State<AppState>,
    Auth(c): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let format = report_format(&headers)?;
    let core = st.core.clone();
    let (run, first) = {
        let id = id.clone();
        let c = c.clone();
        blocking(move || {
            let run = core.reconciliation(&c, &id)?;
            // A run that is not done is refused by the core (409), one without rows has none.
            let first = if run.status != ndx_types::reconcile::RunStatus::Done || run.parts > 0 {
                Some(core.reconciliation_report_part(&c, &id, 0)?.into_inner())
            } else {
                None
            };
            Ok((run, first))
        })
        .await?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let core = st.core.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        if format == ReportFormat::Csv {
            crate::exchange::csv_row(
                &ndx_types::reconcile::REPORT_COLUMNS.map(str::to_owned),
                &mut out,
            );
        }
        let mut part = first;
        let mut number = 0u32;
        while let Some(p) = part.take() {
            for r in p.rows {
                write_row(format, r, &mut out);
            }
            if tx.blocking_send(Ok(std::mem::take(&mut out))).is_err() {
                return; // the client went away
            }
            number += 1;
            if number < run.parts {
                match core.reconciliation_report_part(&c, &id, number) {
                    Ok(p) => part = Some(p.into_inner()),
                    Err(e) => {
                        tracing::warn!("report of {id:?} stopped: {e}");
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                        return;
                    }
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.blocking_send(Ok(out));
        }
    });
    let content_type = match format {
        ReportFormat::Csv => "text/csv; charset=utf-8",
        ReportFormat::Ndjson => "application/x-ndjson",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        axum::body::Body::from_stream(crate::exchange::tokio_stream_from(rx)),
    )
        .into_response())
}

/// A decision on the correction a report row proposes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionIn {
    /// The target record (its key, the report's `target_id`).
    pub target_id: String,
    /// `accept` (write the reference's values as a new version) or `reject`.
    #[schema(example = "accept")]
    pub decision: DecisionIo,
    /// The fields to correct (default: every differing field of the target's schema).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Why, in the decider's words (at most 1,000 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// `accept` or `reject`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionIo {
    /// Write the reference's values.
    Accept,
    /// Leave the record as it is.
    Reject,
}

/// One field decided on.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectedFieldOut {
    /// The element id.
    pub field: String,
    /// The kind of difference it had.
    pub kind: String,
    /// The reference's value.
    pub value: String,
}

/// A decided correction.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionOut {
    /// `<run>/<target key>`.
    pub id: String,
    /// The run that proposed it.
    pub run: String,
    /// The register corrected.
    pub target: String,
    /// The record.
    pub target_id: String,
    /// The reference register.
    pub reference: String,
    /// The reference record whose values were proposed.
    pub reference_id: String,
    /// `accepted` or `rejected`.
    pub decision: String,
    /// The fields decided on.
    pub fields: Vec<CorrectedFieldOut>,
    /// The decider's note.
    pub note: Option<String>,
    /// The system that decided.
    pub decided_by: String,
    /// When.
    pub decided_at: DateTime<Utc>,
    /// The batch that wrote the corrected version (its lineage), when accepted.
    pub batch_id: Option<String>,
    /// The version written, when accepted.
    pub version: Option<u64>,
}

impl From<Correction> for CorrectionOut {
    fn from(c: Correction) -> Self {
        CorrectionOut {
            id: c.id,
            run: c.run,
            target: c.target,
            target_id: c.target_id,
            reference: c.reference,
            reference_id: c.reference_id,
            decision: match c.decision {
                Decision::Accepted => "accepted",
                Decision::Rejected => "rejected",
            }
            .to_owned(),
            fields: c
                .fields
                .into_iter()
                .map(|f| CorrectedFieldOut {
                    field: f.field,
                    kind: f.kind,
                    value: f.value,
                })
                .collect(),
            note: c.note,
            decided_by: c.decided_by,
            decided_at: c.decided_at,
            batch_id: c.batch_id,
            version: c.version,
        }
    }
}

/// Decides the correction a row of a finished run proposes (the target owner's providers and
/// stewards): `accept` writes the reference's values of the chosen fields as a new version of
/// the target record, in a batch whose id leads back to this decision (the record's history
/// shows it); `reject` records the decision only. 409 `correction-decided` for a row already
/// decided, `correction-not-applicable` for a row that proposes nothing (or not that field).
#[utoipa::path(post, path = "/api/v1/reconciliations/{id}/corrections", tag = "quality", security(("api_key" = [])),
    params(("id" = String, Path, description = "run id (`rec-…`)")),
    request_body = CorrectionIn,
    responses((status = 201, body = CorrectionOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn decide_correction(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    body: JsonBody<CorrectionIn>,
) -> ApiResult<Response> {
    let input = body.read().await?;
    let request = CorrectionRequest {
        target_id: input.target_id,
        accept: matches!(input.decision, DecisionIo::Accept),
        fields: input.fields,
        note: input.note,
    };
    let core = st.core.clone();
    let correction =
        blocking(move || core.decide_correction(&c, &id, &request, Utc::now())).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CorrectionOut::from(correction)),
    )
        .into_response())
}

/// The decided corrections of a run, in target order.
#[utoipa::path(get, path = "/api/v1/reconciliations/{id}/corrections", tag = "quality", security(("api_key" = [])),
    params(("id" = String, Path, description = "run id (`rec-…`)")),
    responses((status = 200, body = Vec<CorrectionOut>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn list_corrections(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<CorrectionOut>>> {
    let core = st.core.clone();
    let list = blocking(move || core.corrections(&c, &id)).await?;
    Ok(axum::Json(list.into_iter().map(Into::into).collect()))
}
