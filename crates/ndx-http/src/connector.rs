//! `/api/v1/connectors`: the connectors that keep datasets in step with agencies' own
//! databases (add, list, show, remove, start a run, follow it, fetch its rejected rows), and
//! the scheduler that runs due connectors in `ndx serve`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use ndx_core::Code;
use ndx_core::connector::ConnectorView;
use ndx_types::connector::{self as rules, RunKind, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::{AppState, JsonBody, QueryParams, blocking};

/// How often `ndx serve` looks for connectors whose schedule makes a run due.
pub const SCHEDULER_TICK: Duration = Duration::from_secs(1);

/// A source database engine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceEngine {
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    Mysql,
    /// A folder of dropped exports (`file:///PATH`; `table` is the file name prefix).
    Folder,
}

/// Where a connector reads.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceIo {
    /// The engine.
    pub engine: SourceEngine,
    /// Connection URL without a password; `sslmode`, `sslrootcert`, `connect_timeout`,
    /// `statement_timeout` (seconds) as query parameters.
    pub url: String,
    /// The environment variable of the ndx process holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Table or view, `NAME` or `SCHEMA.NAME`.
    pub table: String,
}

/// A column and the field it fills.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapIo {
    /// Source column.
    pub column: String,
    /// Dataset field.
    pub field: String,
    /// Local value → dictionary code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// Whole numbers as JSON Schema's `integer` means them: `35` and `35.0` alike (a generator or
/// a JavaScript client may send either); a fraction or a negative number is refused.
pub(crate) mod whole {
    use serde::{Deserialize, Deserializer, de::Error};

    fn of<E: Error>(n: serde_json::Number) -> Result<u64, E> {
        if let Some(u) = n.as_u64() {
            return Ok(u);
        }
        match n.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(f as u64),
            _ => Err(E::custom(format!(
                "{n} is not a whole number of at least 0"
            ))),
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        of(serde_json::Number::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(of)
            .transpose()
    }
}

/// When a connector runs by itself.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleIo {
    /// Seconds between runs (1–604,800).
    #[serde(deserialize_with = "whole::required")]
    pub every_seconds: u64,
    /// Seconds between snapshot comparisons (60–2,678,400), for connectors with a change column.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_every_seconds: Option<u64>,
}

/// A connector as added.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorIn {
    /// Identifier (lowercase kebab-case).
    pub id: String,
    /// The dataset it writes (the caller's member must own it).
    pub dataset: String,
    /// The owner's system recorded as the source of its batches.
    pub system: String,
    /// The source.
    pub source: SourceIo,
    /// Column → field.
    pub mapping: Vec<ColumnMapIo>,
    /// A column that grows with each change (updated-at, monotonic id).
    #[serde(default)]
    pub change_column: Option<String>,
    /// Rows per batch (1–100,000; 10,000 by default).
    #[serde(default, deserialize_with = "whole::optional")]
    pub batch_rows: Option<u64>,
    /// Runs of its own in `ndx serve`.
    #[serde(default)]
    pub schedule: Option<ScheduleIo>,
}

/// Where incremental runs resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct CursorOut {
    /// The change column's value of the last row written.
    #[schema(value_type = Object)]
    pub change: Value,
    /// Its key columns' values.
    #[schema(value_type = Vec<Object>)]
    pub key: Vec<Value>,
}

impl From<rules::Cursor> for CursorOut {
    fn from(c: rules::Cursor) -> Self {
        CursorOut {
            change: c.change,
            key: c.key,
        }
    }
}

/// A connector's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateOut {
    /// Where the next incremental run starts.
    pub cursor: Option<CursorOut>,
    /// Batches written so far.
    pub batches: u64,
    /// Runs so far.
    pub runs: u64,
    /// The run holding the connector now.
    pub running: Option<u64>,
    /// When the last run started.
    pub last_run_at: Option<DateTime<Utc>>,
    /// When the last snapshot started.
    pub last_snapshot_at: Option<DateTime<Utc>>,
}

/// A run's kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunKindIo {
    /// Rows past the change column's cursor.
    Incremental,
    /// Every row compared; deletions found.
    Snapshot,
}

impl From<RunKind> for RunKindIo {
    fn from(k: RunKind) -> Self {
        match k {
            RunKind::Incremental => RunKindIo::Incremental,
            RunKind::Snapshot => RunKindIo::Snapshot,
        }
    }
}

impl From<RunKindIo> for RunKind {
    fn from(k: RunKindIo) -> Self {
        match k {
            RunKindIo::Incremental => RunKind::Incremental,
            RunKindIo::Snapshot => RunKind::Snapshot,
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatusOut {
    /// Running.
    Running,
    /// Done.
    Succeeded,
    /// Stopped by an error; its committed batches stay.
    Failed,
    /// Its process stopped.
    Interrupted,
}

impl From<RunStatus> for RunStatusOut {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Running => RunStatusOut::Running,
            RunStatus::Succeeded => RunStatusOut::Succeeded,
            RunStatus::Failed => RunStatusOut::Failed,
            RunStatus::Interrupted => RunStatusOut::Interrupted,
        }
    }
}

/// One run (its rejected rows at `…/rejected`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOut {
    /// The connector.
    pub connector: String,
    /// Run number.
    pub number: u64,
    /// Incremental or snapshot.
    pub kind: RunKindIo,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// Where it stands.
    pub status: RunStatusOut,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows read.
    pub read: u64,
    /// Records created.
    pub created: u64,
    /// Records updated.
    pub updated: u64,
    /// Rows with nothing to change.
    pub unchanged: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Batches committed.
    pub batches: Vec<String>,
    /// Cursor at the start.
    pub cursor_from: Option<CursorOut>,
    /// Cursor reached.
    pub cursor_to: Option<CursorOut>,
    /// Why it failed.
    pub error: Option<String>,
    /// The file a folder run imported (moved to `done/` or `failed/` after the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
}

impl From<rules::ConnectorRun> for RunOut {
    fn from(r: rules::ConnectorRun) -> Self {
        RunOut {
            connector: r.connector,
            number: r.number,
            kind: r.kind.into(),
            trigger: r.trigger,
            status: r.status.into(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            read: r.read,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            deleted: r.deleted,
            rejected: r.rejected,
            batches: r.batches,
            cursor_from: r.cursor_from.map(Into::into),
            cursor_to: r.cursor_to.map(Into::into),
            error: r.error,
            source_file: r.source_file,
        }
    }
}

/// A connector with its state and last run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorOut {
    /// Identifier.
    pub id: String,
    /// The dataset.
    pub dataset: String,
    /// The member owning it.
    pub owner: String,
    /// The source system of its batches.
    pub system: String,
    /// The source.
    pub source: SourceIo,
    /// Column → field.
    pub mapping: Vec<ColumnMapIo>,
    /// The change column.
    pub change_column: Option<String>,
    /// Rows per batch.
    pub batch_rows: u32,
    /// Its schedule.
    pub schedule: Option<ScheduleIo>,
    /// Revision of the definition.
    pub revision: u64,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Its state.
    pub state: StateOut,
    /// The latest run.
    pub last_run: Option<RunOut>,
}

fn connector_out(v: ConnectorView, now: DateTime<Utc>) -> ConnectorOut {
    let c = v.connector.value;
    ConnectorOut {
        id: c.id,
        dataset: c.dataset,
        owner: c.owner,
        system: c.system,
        source: SourceIo {
            engine: match c.source.engine {
                rules::SourceEngine::Postgres => SourceEngine::Postgres,
                rules::SourceEngine::Mysql => SourceEngine::Mysql,
                rules::SourceEngine::Folder => SourceEngine::Folder,
            },
            url: c.source.url,
            password_env: c.source.password_env,
            table: c.source.table,
        },
        mapping: c
            .mapping
            .into_iter()
            .map(|m| ColumnMapIo {
                column: m.column,
                field: m.field,
                values: m.values,
            })
            .collect(),
        change_column: c.change_column,
        batch_rows: c.batch_rows,
        schedule: c.schedule.map(|s| ScheduleIo {
            every_seconds: s.every_seconds,
            snapshot_every_seconds: s.snapshot_every_seconds,
        }),
        revision: v.connector.revision,
        created_at: v.connector.created_at,
        state: StateOut {
            cursor: v.state.cursor.map(Into::into),
            batches: v.state.batches,
            runs: v.state.runs,
            running: v.state.lease.filter(|l| l.until > now).map(|l| l.run),
            last_run_at: v.state.last_run_at,
            last_snapshot_at: v.state.last_snapshot_at,
        },
        last_run: v.last_run.map(Into::into),
    }
}

fn draft(c: ConnectorIn) -> rules::Connector {
    rules::Connector {
        id: c.id,
        dataset: c.dataset,
        owner: String::new(),
        system: c.system,
        source: rules::SourceSpec {
            engine: match c.source.engine {
                SourceEngine::Postgres => rules::SourceEngine::Postgres,
                SourceEngine::Mysql => rules::SourceEngine::Mysql,
                SourceEngine::Folder => rules::SourceEngine::Folder,
            },
            url: c.source.url,
            password_env: c.source.password_env,
            table: c.source.table,
        },
        mapping: c
            .mapping
            .into_iter()
            .map(|m| rules::ColumnMap {
                column: m.column,
                field: m.field,
                values: m.values,
            })
            .collect(),
        change_column: c.change_column,
        // Past u32 it is out of range all the same: the check names the range.
        batch_rows: c.batch_rows.map_or(rules::DEFAULT_BATCH_ROWS, |n| {
            u32::try_from(n).unwrap_or(u32::MAX)
        }),
        schedule: c.schedule.map(|s| rules::Schedule {
            every_seconds: s.every_seconds,
            snapshot_every_seconds: s.snapshot_every_seconds,
        }),
    }
}

/// The connectors this key may see (its member's; all for operators and auditors).
#[utoipa::path(get, path = "/api/v1/connectors", tag = "connectors", security(("api_key" = [])),
    responses((status = 200, body = Vec<ConnectorOut>), (status = 401, body = Problem)))]
pub(crate) async fn list_connectors(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<ConnectorOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.connectors(&c)).await?;
    let now = Utc::now();
    Ok(axum::Json(
        all.into_iter().map(|v| connector_out(v, now)).collect(),
    ))
}

/// Adds a connector to a dataset of the caller's member (a provider key). The URL holds no
/// password: name the environment variable that does in `password_env`.
#[utoipa::path(post, path = "/api/v1/connectors", tag = "connectors", security(("api_key" = [])),
    request_body = ConnectorIn,
    responses((status = 201, body = ConnectorOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "a connector with this id exists", body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn add_connector(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<ConnectorIn>,
) -> ApiResult<Response> {
    let input = body.read().await?;
    let core = st.core.clone();
    let view = blocking(move || {
        let added = core.add_connector(&c, draft(input), Utc::now())?;
        core.connector(&c, &added.id)
    })
    .await?;
    let location = format!("/api/v1/connectors/{}", view.connector.value.id);
    let out = connector_out(view, Utc::now());
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(out),
    )
        .into_response())
}

/// One connector, with its state and latest run.
#[utoipa::path(get, path = "/api/v1/connectors/{id}", tag = "connectors", security(("api_key" = [])),
    params(("id" = String, Path, description = "connector id")),
    responses((status = 200, body = ConnectorOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_connector(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ConnectorOut>> {
    let core = st.core.clone();
    let view = blocking(move || core.connector(&c, &id)).await?;
    Ok(axum::Json(connector_out(view, Utc::now())))
}

/// Removes a connector with its state and runs (what it wrote stays). Refused while it runs.
#[utoipa::path(delete, path = "/api/v1/connectors/{id}", tag = "connectors", security(("api_key" = [])),
    params(("id" = String, Path, description = "connector id")),
    responses((status = 204, description = "removed"), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, description = "a run holds it", body = Problem)))]
pub(crate) async fn remove_connector(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let core = st.core.clone();
    blocking(move || core.remove_connector(&c, &id, Utc::now())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What run to start.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIn {
    /// `incremental` (the default with a change column) or `snapshot` (also finds deletions).
    #[serde(default)]
    pub kind: Option<RunKindIo>,
}

/// Starts a run (the owner's providers, or an operator) and answers at once: 202 with the run,
/// whose `Location` to poll. 409 `connector-busy` while another run holds the connector, and
/// `connector-no-file` for a folder in which no file waits.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/runs", tag = "connectors", security(("api_key" = [])),
    params(("id" = String, Path, description = "connector id")),
    request_body(content = RunIn, description = "optional (no body, no Content-Type): the kind of run"),
    responses((status = 202, body = RunOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "a run holds the connector", body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn start_run(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    body: JsonBody<RunIn>,
) -> ApiResult<Response> {
    let kind = body.read_optional().await?.unwrap_or_default().kind;
    let core = st.core.clone();
    let started_id = id.clone();
    let run = blocking(move || {
        core.start_connector_run(&c, &started_id, kind.map(Into::into), Utc::now())
    })
    .await?;
    spawn_execution(&st, id.clone(), run.number);
    let location = format!("/api/v1/connectors/{id}/runs/{}", run.number);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(RunOut::from(run)),
    )
        .into_response())
}

/// Runs a started run on a blocking thread, to its end.
fn spawn_execution(st: &AppState, id: String, number: u64) {
    let core = st.core.clone();
    let sources = st.sources.clone();
    tokio::task::spawn_blocking(move || {
        match core.execute_connector_run(&id, number, sources.as_ref(), &Utc::now) {
            Ok(run) if run.status == RunStatus::Failed => tracing::warn!(
                connector = id,
                run = number,
                error = run.error.as_deref().unwrap_or(""),
                "connector run failed"
            ),
            Ok(run) if run.read == 0 => {
                tracing::debug!(connector = id, run = number, "connector run: nothing new");
            }
            Ok(run) => tracing::info!(
                connector = id,
                run = number,
                read = run.read,
                created = run.created,
                updated = run.updated,
                deleted = run.deleted,
                rejected = run.rejected,
                "connector run done"
            ),
            Err(e) => tracing::error!(connector = id, run = number, "connector run: {e}"),
        }
    });
}

/// `?limit=` of the run list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    limit: Option<usize>,
}

/// A connector's runs, newest first (`limit`, 1–500, default 50).
#[utoipa::path(get, path = "/api/v1/connectors/{id}/runs", tag = "connectors", security(("api_key" = [])),
    params(("id" = String, Path, description = "connector id"), ("limit" = Option<u64>, Query, minimum = 1, maximum = 500, description = "1–500, default 50")),
    responses((status = 200, body = Vec<RunOut>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn list_runs(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> ApiResult<axum::Json<Vec<RunOut>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=ndx_core::connector::RUNS_KEPT).contains(&limit) {
        return Err(ApiError::new(
            Code::LimitInvalid,
            format!("limit must be from 1 to {}", ndx_core::connector::RUNS_KEPT),
        ));
    }
    let core = st.core.clone();
    let runs = blocking(move || core.connector_runs(&c, &id, limit)).await?;
    Ok(axum::Json(runs.into_iter().map(RunOut::from).collect()))
}

fn run_number(n: &str) -> ApiResult<u64> {
    n.parse::<u64>().map_err(|_| {
        ApiError::new(
            Code::ConnectorRunNotFound,
            format!("{n:?} is not a run number"),
        )
    })
}

/// One run.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/runs/{run}", tag = "connectors", security(("api_key" = [])),
    params(("id" = String, Path, description = "connector id"), ("run" = u64, Path, description = "run number")),
    responses((status = 200, body = RunOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_run(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path((id, run)): Path<(String, String)>,
) -> ApiResult<axum::Json<RunOut>> {
    let number = run_number(&run)?;
    let core = st.core.clone();
    let run = blocking(move || core.connector_run(&c, &id, number)).await?;
    Ok(axum::Json(run.into()))
}

/// A source row a run rejected.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedRowOut {
    /// The row's key columns' values, joined by `|`.
    pub source_key: String,
    /// The source column at fault.
    pub column: Option<String>,
    /// The dataset field at fault.
    pub field: Option<String>,
    /// Stable error code.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// The rejected rows of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedOut {
    /// The connector.
    pub connector: String,
    /// The run.
    pub run: u64,
    /// How many rows were rejected.
    pub rejected: u64,
    /// The first 1,000, in the order they were read.
    pub rows: Vec<RejectedRowOut>,
    /// Whether more were rejected than are listed.
    pub truncated: bool,
}

/// The rows a run rejected, for the source's owner to correct: JSON, or CSV with
/// `Accept: text/csv` (`source_key,column,field,code,message`).
#[utoipa::path(get, path = "/api/v1/connectors/{id}/runs/{run}/rejected", tag = "connectors", security(("api_key" = [])),
    params(("id" = String, Path, description = "connector id"), ("run" = u64, Path, description = "run number")),
    responses((status = 200, content((RejectedOut = "application/json"), (String = "text/csv"))),
              (status = 401, body = Problem), (status = 404, body = Problem), (status = 406, body = Problem)))]
pub(crate) async fn rejected_rows(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path((id, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = wants_csv(&headers)?;
    let number = run_number(&run)?;
    let core = st.core.clone();
    let run = blocking(move || core.connector_run(&c, &id, number)).await?;
    if csv {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        let row_err = |e: ::csv::Error| ApiError::from(ndx_core::Error::internal(e.to_string()));
        w.write_record(["source_key", "column", "field", "code", "message"])
            .map_err(row_err)?;
        for r in &run.rejected_rows {
            w.write_record([
                r.source_key.as_str(),
                r.column.as_deref().unwrap_or(""),
                r.field.as_deref().unwrap_or(""),
                r.code.as_str(),
                r.message.as_str(),
            ])
            .map_err(row_err)?;
        }
        let body = w
            .into_inner()
            .map_err(|e| ApiError::from(ndx_core::Error::internal(e.to_string())))?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(axum::Json(RejectedOut {
        connector: run.connector,
        run: run.number,
        rejected: run.rejected,
        truncated: run.rejected_truncated,
        rows: run
            .rejected_rows
            .into_iter()
            .map(|r| RejectedRowOut {
                source_key: r.source_key,
                column: r.column,
                field: r.field,
                code: r.code,
                message: r.message,
            })
            .collect(),
    })
    .into_response())
}

fn wants_csv(headers: &HeaderMap) -> ApiResult<bool> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(false);
    };
    let accept = accept.to_str().unwrap_or("");
    for range in accept.split(',') {
        match crate::media_type(range).as_str() {
            "application/json" | "*/*" | "application/*" => return Ok(false),
            "text/csv" | "text/*" => return Ok(true),
            _ => {}
        }
    }
    Err(ApiError::new(
        Code::NotAcceptable,
        format!("rejected rows are application/json or text/csv; Accept {accept:?} allows neither"),
    ))
}

/// Starts every connector whose schedule makes a run due, each on a blocking thread; forever
/// (`ndx serve` spawns it). Another process sharing the store may take a run first: its lease
/// makes this one answer `connector-busy`, which is not an error here.
pub async fn scheduler(st: AppState) {
    let mut tick = tokio::time::interval(SCHEDULER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let core = st.core.clone();
        let started = tokio::task::spawn_blocking(move || {
            let now = Utc::now();
            let mut started = Vec::new();
            for (c, kind) in core.due_connectors(now)? {
                match core.start_scheduled_run(&c, kind, now) {
                    Ok(run) => started.push((c.id, run.number)),
                    Err(e) if e.code == Code::ConnectorBusy => {}
                    Err(e) => tracing::warn!(connector = c.id, "scheduled run not started: {e}"),
                }
            }
            Ok::<_, ndx_core::Error>(started)
        })
        .await;
        match started {
            Ok(Ok(runs)) => {
                for (id, number) in runs {
                    spawn_execution(&st, id, number);
                }
            }
            Ok(Err(e)) => tracing::warn!("connector schedule not read: {e}"),
            Err(e) => tracing::error!("connector scheduler: {e}"),
        }
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/connectors",
            get(list_connectors).post(add_connector),
        )
        .route(
            "/api/v1/connectors/{id}",
            get(get_connector).delete(remove_connector),
        )
        .route(
            "/api/v1/connectors/{id}/runs",
            get(list_runs).post(start_run),
        )
        .route("/api/v1/connectors/{id}/runs/{run}", get(get_run))
        .route(
            "/api/v1/connectors/{id}/runs/{run}/rejected",
            get(rejected_rows),
        )
}
