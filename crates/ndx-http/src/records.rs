//! Record endpoints: batch ingest (streamed into the core pipeline), deletion, and the owner's
//! reads (current, as-of, history, filtered list with cursor).

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use ndx_core::Code;
use ndx_core::RecordVersion;
use ndx_core::ingest::{BatchStatus, IngestOptions, IngestReport, InputFormat, Mode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::io::{StreamReader, SyncIoBridge};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::wire::RecordData;
use crate::{AppState, QueryParams, blocking};

pub(crate) fn write_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets/{dataset}/records", post(ingest))
        .route(
            "/api/v1/datasets/{dataset}/records/{key}",
            axum::routing::delete(delete_record),
        )
}

pub(crate) fn read_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets/{dataset}/records", get(list))
        .route("/api/v1/datasets/{dataset}/records/{key}", get(get_record))
        .route(
            "/api/v1/datasets/{dataset}/records/{key}/history",
            get(history),
        )
}

/// The body of a batch was larger than the limit.
#[derive(Debug)]
struct BodyTooLarge(u64);

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body exceeds {} bytes", self.0)
    }
}

impl std::error::Error for BodyTooLarge {}

/// Whether an I/O error from reading a body means "over the size limit".
pub fn is_body_too_large(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<BodyTooLarge>())
}

/// `?mode=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestQuery {
    mode: Option<String>,
    max_errors: Option<usize>,
}

fn input_format(headers: &HeaderMap) -> ApiResult<InputFormat> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(crate::ContentType::parse)
        .transpose()?;
    let format = match ct.as_ref().map(|c| c.media.as_str()) {
        Some("text/csv") => InputFormat::Csv,
        Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => {
            InputFormat::Ndjson
        }
        Some("application/json") => InputFormat::Json,
        _ => {
            let found = ct.map_or_else(String::new, |c| c.raw);
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!(
                    "Content-Type {found:?} is not accepted: use text/csv, application/x-ndjson \
                     or application/json"
                ),
            ));
        }
    };
    if let Some(ct) = &ct {
        ct.require_utf8()?;
    }
    Ok(format)
}

/// Loads a batch of records into a dataset (a provider of the owning member). The body is
/// CSV (`text/csv`, header row), NDJSON (`application/x-ndjson`) or a JSON array
/// (`application/json`), streamed and validated record by record. `Idempotency-Key` names the
/// batch: resending it returns the first report and changes nothing. A column or member `_op`
/// with value `delete` deletes the record with that key.
#[utoipa::path(post, path = "/api/v1/datasets/{dataset}/records", tag = "records", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("mode" = Option<ModeOut>, Query, description = "atomic (default) or per-record"),
           ("max_errors" = Option<u32>, Query, minimum = 0, maximum = 10000, description = "record errors listed in full (default 1000)"),
           ("Idempotency-Key" = Option<String>, Header, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "batch id"),
           ("Ndx-Code-Lists" = Option<String>, Header, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}(, ?[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8})*$", description = "the code list versions the input's codes use, when not the dataset's (`ethnic-group@1, admin-ward-legacy@1`): converted into the dataset's lists before validation")),
    request_body(description = "CSV (header row), NDJSON or a JSON array of records",
                 content((String = "text/csv"), (String = "application/x-ndjson"), (Vec<RecordData> = "application/json"))),
    responses((status = 200, description = "batch committed (or replayed)", body = IngestReportOut,
               links(("ListRecords" = (operation_id = "list", parameters(("dataset" = "$request.path.dataset")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "batch id reused with another body", body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, description = "malformed input, or atomic batch refused (report inside)", body = Problem)))]
async fn ingest(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(dataset): Path<String>,
    QueryParams(q): QueryParams<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let format = input_format(&headers)?;
    let mut opts = IngestOptions::new(format);
    opts.code_lists = crate::exchange::code_lists(&headers)?;
    opts.mode = match q.mode.as_deref() {
        None | Some("atomic") => Mode::Atomic,
        Some("per-record") => Mode::PerRecord,
        Some(other) => {
            return Err(ApiError::new(
                Code::ModeInvalid,
                format!("mode {other:?} is not atomic or per-record"),
            ));
        }
    };
    if let Some(n) = q.max_errors {
        if n > 10_000 {
            return Err(ApiError::new(
                Code::MaxErrorsInvalid,
                format!("max_errors must be at most 10000, found {n}"),
            ));
        }
        opts.max_listed_errors = n;
    }
    opts.batch_id = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::new(
                        Code::BatchIdInvalid,
                        "Idempotency-Key must be 1-128 characters of letters, digits, '-', '_', '.', ':'",
                    )
                })?
                .to_owned(),
        ),
    };
    let limit = st.limits.max_batch_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::new(
            Code::BodyTooLarge,
            format!("the request body ({len} bytes) exceeds {limit} bytes"),
        ));
    }
    let core = st.core.clone();
    let cap = write_cap(&st, caller, &dataset, WriteAction::Load).await?;

    let mut seen = 0u64;
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .map(move |r| {
            r.and_then(|chunk| {
                seen += chunk.len() as u64;
                if seen > limit {
                    Err(std::io::Error::other(BodyTooLarge(limit)))
                } else {
                    Ok(chunk)
                }
            })
        });
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let metrics = st.metrics.clone();
    let result = tokio::task::spawn_blocking(move || {
        core.ingest(&cap, reader, &opts, Utc::now(), &mut |_| {})
    })
    .await
    .map_err(|e| {
        ApiError::from(ndx_core::Error::internal(format!(
            "ingest worker failed: {e}"
        )))
    })?;
    let labels = crate::metrics::DatasetLabels { dataset };
    let report = result?;
    if report.replayed {
        return Ok(report_response(report));
    }
    match report.status {
        BatchStatus::Committed => {
            metrics
                .records_accepted
                .get_or_create(&labels)
                .inc_by(report.accepted);
            metrics
                .records_rejected
                .get_or_create(&labels)
                .inc_by(report.rejected);
            metrics.batches_committed.get_or_create(&labels).inc();
            Ok(report_response(report))
        }
        BatchStatus::Rejected => {
            metrics
                .records_rejected
                .get_or_create(&labels)
                .inc_by(report.rejected);
            metrics.batches_rejected.get_or_create(&labels).inc();
            Err(ApiError::rejected(report.into()))
        }
    }
}

/// A committed (or replayed) batch's report as the answer; a replay says so in a header.
fn report_response(report: IngestReport) -> Response {
    let replayed = report.replayed;
    let mut resp = axum::Json(IngestReportOut::from(report)).into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

/// One refused record of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordErrorOut {
    /// 1-based number of the record in the input (CSV data row, NDJSON line's record, array element).
    #[schema(minimum = 1)]
    pub record: u64,
    /// 1-based physical line where the record starts (CSV and NDJSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
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

/// Whether a batch was committed or refused as a whole.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BatchStatusOut {
    /// Committed durably.
    Committed,
    /// Refused as a whole; nothing changed.
    Rejected,
}

/// How invalid records are handled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModeOut {
    /// One invalid record refuses the whole batch.
    Atomic,
    /// Valid records are kept; invalid ones are reported.
    PerRecord,
}

/// What a batch did, exactly.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestReportOut {
    /// The batch id (the idempotency key).
    pub batch_id: String,
    /// The dataset.
    pub dataset: String,
    /// The schema version records were validated against.
    pub schema_version: String,
    /// Mode used.
    pub mode: ModeOut,
    /// Committed or rejected.
    pub status: BatchStatusOut,
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
    /// The first `max_errors` record errors.
    pub errors: Vec<RecordErrorOut>,
    /// Whether more errors occurred than are listed.
    pub errors_truncated: bool,
    /// True when this report is the stored answer to an earlier identical submission.
    pub replayed: bool,
}

impl From<IngestReport> for IngestReportOut {
    fn from(r: IngestReport) -> Self {
        IngestReportOut {
            batch_id: r.batch_id,
            dataset: r.dataset,
            schema_version: r.schema_version,
            mode: match r.mode {
                Mode::Atomic => ModeOut::Atomic,
                Mode::PerRecord => ModeOut::PerRecord,
            },
            status: match r.status {
                BatchStatus::Committed => BatchStatusOut::Committed,
                BatchStatus::Rejected => BatchStatusOut::Rejected,
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
                .map(|e| RecordErrorOut {
                    record: e.record,
                    line: e.line,
                    key: e.key,
                    field: e.field,
                    code: e.code,
                    message: e.message,
                })
                .collect(),
            errors_truncated: r.errors_truncated,
            replayed: r.replayed,
        }
    }
}

/// Deletes a record (writes a tombstone; history keeps every version).
#[utoipa::path(delete, path = "/api/v1/datasets/{dataset}/records/{key}", tag = "records", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"), ("key" = String, Path, description = "record key"),
           ("Idempotency-Key" = Option<String>, Header, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "batch id")),
    responses((status = 200, body = IngestReportOut,
               links(("GetHistory" = (operation_id = "history", parameters(("dataset" = "$request.path.dataset"), ("key" = "$request.path.key")))))),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "batch id reused", body = Problem),
              (status = 410, description = "already deleted", body = Problem), (status = 422, body = Problem)))]
async fn delete_record(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path((dataset, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let core = st.core.clone();
    let cap = write_cap(&st, caller, &dataset, WriteAction::Delete).await?;
    let batch_id = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map(str::to_owned).map_err(|_| {
            ApiError::new(
                Code::BatchIdInvalid,
                "Idempotency-Key must be 1-128 characters of letters, digits, '-', '_', '.', ':'",
            )
        })?),
    };
    let report = blocking(move || core.delete_record(&cap, &key, batch_id, Utc::now())).await?;
    if report.status == BatchStatus::Rejected {
        return Err(ApiError::rejected(report.into()));
    }
    Ok(report_response(report))
}

/// One version of a record with its lineage.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordOut {
    /// Record key.
    pub key: String,
    /// Version number.
    pub version: u64,
    /// When this version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// System that sent it.
    pub source_system: String,
    /// Batch it came in.
    pub batch_id: String,
    /// Schema version it was validated against.
    pub schema_version: String,
    /// SHA-256 of the canonical content.
    pub content_hash: String,
    /// Whether this version is a deletion.
    pub deleted: bool,
    /// The record (absent for a deletion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<RecordData>,
}

impl From<RecordVersion> for RecordOut {
    fn from(v: RecordVersion) -> Self {
        RecordOut {
            key: v.key,
            version: v.version,
            recorded_at: v.recorded_at,
            source_system: v.source_system,
            batch_id: v.batch_id,
            schema_version: v.schema_version,
            deleted: v.body.is_none(),
            content_hash: v.content_hash,
            data: v
                .body
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .map(RecordData),
        }
    }
}

/// `?as_of=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsOfQuery {
    as_of: Option<String>,
}

/// The right to read `dataset`; a refusal is recorded in the audit log before it is answered.
async fn read_cap(
    st: &AppState,
    caller: ndx_core::access::Caller,
    dataset: &str,
) -> ApiResult<ndx_core::access::DatasetRead> {
    let core = st.core.clone();
    let d = dataset.to_owned();
    blocking(move || {
        let schema = core.schema(&d, None)?;
        caller
            .dataset_read(&schema)
            .map_err(|e| core.audit_refusal(&caller, "record.read", Some(&d), e))
    })
    .await
}

/// What a writer asks to do.
#[derive(Clone, Copy)]
enum WriteAction {
    Load,
    Delete,
}

/// The right to write `dataset`; a refusal is recorded in the audit log before it is answered.
async fn write_cap(
    st: &AppState,
    caller: ndx_core::access::Caller,
    dataset: &str,
    action: WriteAction,
) -> ApiResult<ndx_core::access::DatasetWrite> {
    let core = st.core.clone();
    let d = dataset.to_owned();
    blocking(move || {
        let schema = core.schema(&d, None)?;
        match action {
            WriteAction::Load => caller.dataset_write(&schema),
            WriteAction::Delete => ndx_core::ingest::delete_access(&caller, &schema),
        }
        .map_err(|e| core.audit_refusal(&caller, "records.write", Some(&d), e))
    })
    .await
}

/// The current version of a record, or the version current at `as_of` (RFC 3339).
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/records/{key}", tag = "records", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"), ("key" = String, Path, description = "record key"),
           ("as_of" = Option<DateTime<Utc>>, Query, description = "RFC 3339 time")),
    responses((status = 200, body = RecordOut,
               links(("GetHistory" = (operation_id = "history", parameters(("dataset" = "$request.path.dataset"), ("key" = "$request.path.key")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 410, description = "deleted", body = Problem)))]
async fn get_record(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path((dataset, key)): Path<(String, String)>,
    QueryParams(q): QueryParams<AsOfQuery>,
) -> ApiResult<axum::Json<RecordOut>> {
    let as_of = match q.as_of.as_deref() {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    ApiError::new(
                        Code::AsOfInvalid,
                        format!("as_of {t:?} is not an RFC 3339 time: {e}"),
                    )
                })?
                .with_timezone(&Utc),
        ),
    };
    let cap = read_cap(&st, caller, &dataset).await?;
    let core = st.core.clone();
    let v = blocking(move || core.record(&cap, &key, as_of)).await?;
    Ok(axum::Json(v.into_inner().into()))
}

/// Every version of a record, newest first (deletions included).
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/records/{key}/history", tag = "records", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"), ("key" = String, Path, description = "record key")),
    responses((status = 200, body = Vec<RecordOut>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn history(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path((dataset, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Vec<RecordOut>>> {
    let cap = read_cap(&st, caller, &dataset).await?;
    let core = st.core.clone();
    let h = blocking(move || core.history(&cap, &key)).await?;
    Ok(axum::Json(
        h.into_inner().into_iter().map(RecordOut::from).collect(),
    ))
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    /// Records in key order.
    pub records: Vec<RecordOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Current records in key order. Any other query parameter `FIELD=VALUE` filters by equality on
/// that field (typed by the schema); `cursor` continues a previous page; `limit` ≤ 1000.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/records", tag = "records", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 100)"),
           ("cursor" = Option<String>, Query, description = "opaque: a previous page's next_cursor for this dataset (authenticated: any other value is refused with cursor-invalid)")),
    responses((status = 200, body = RecordPage,
               links(("GetRecord" = (operation_id = "get_record", parameters(("dataset" = "$request.path.dataset"), ("key" = "$response.body#/records/0/key")))),
                     ("GetHistory" = (operation_id = "history", parameters(("dataset" = "$request.path.dataset"), ("key" = "$response.body#/records/0/key")))),
                     ("NextPage" = (operation_id = "list", parameters(("dataset" = "$request.path.dataset"), ("cursor" = "$response.body#/next_cursor")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list(
    State(st): State<AppState>,
    Auth(caller): Auth,
    Path(dataset): Path<String>,
    QueryParams(mut q): QueryParams<BTreeMap<String, String>>,
) -> ApiResult<axum::Json<RecordPage>> {
    let limit = match q.remove("limit") {
        None => 100,
        Some(l) => l.parse::<usize>().map_err(|_| {
            ApiError::new(
                Code::LimitInvalid,
                format!("limit must be a number between 1 and 1000, found {l:?}"),
            )
        })?,
    };
    let cursor = q.remove("cursor");
    let filters: Vec<(String, String)> = q.into_iter().collect();
    let cap = read_cap(&st, caller, &dataset).await?;
    let core = st.core.clone();
    let page = blocking(move || core.list(&cap, &filters, cursor.as_deref(), limit))
        .await?
        .into_inner();
    Ok(axum::Json(RecordPage {
        records: page.records.into_iter().map(RecordOut::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
