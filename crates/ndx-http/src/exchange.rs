//! Governed exchange endpoints: the consumer's catalogue, reads under a sharing agreement (the
//! purpose in the `Ndx-Purpose` header), and the agreements' lifecycle with their ODRL form.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use ndx_core::Code;
use ndx_core::Versioned;
use ndx_core::exchange::AgreementDraft;
use ndx_types::exchange::{self as rules, Agreement, TransferAssessment, Transition};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{Auth, Credentials, SubjectAuth};
use crate::problem::{ApiError, ApiResult, Problem, current_request_id};
use crate::wire::{AgreementStatus, DatasetSchema, Importance, Openness, Operation};
use crate::{AppState, JsonBody, QueryParams, blocking, permitted, served};

/// The header an exchange request states its purpose in.
pub const PURPOSE_HEADER: &str = "ndx-purpose";

/// The header of an extract that names the change-feed position it is consistent with: every
/// change up to it is reflected; a consumer that then applies the changes after it (keeping
/// the highest version of each key) has the dataset as the feed goes on. This is how a
/// consumer re-baselines.
pub const FEED_POSITION_HEADER: &str = "ndx-feed-position";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/exchange/datasets", get(exchange_datasets))
        .route("/api/v1/exchange/datasets/{dataset}", get(exchange_dataset))
        .route(
            "/api/v1/exchange/datasets/{dataset}/records/{key}",
            get(lookup),
        )
        .route("/api/v1/exchange/datasets/{dataset}/records", get(search))
        .route("/api/v1/exchange/datasets/{dataset}/extract", get(extract))
        .route(
            "/api/v1/exchange/datasets/{dataset}/changes/baseline",
            get(baseline),
        )
        .route(
            "/api/v1/agreements",
            get(list_agreements).post(request_agreement),
        )
        .route("/api/v1/agreements/{id}", get(get_agreement))
        .route("/api/v1/agreements/{id}/odrl", get(agreement_odrl))
        .route("/api/v1/agreements/{id}/approve", post(approve_agreement))
        .route("/api/v1/agreements/{id}/reject", post(reject_agreement))
        .route("/api/v1/agreements/{id}/suspend", post(suspend_agreement))
        .route("/api/v1/agreements/{id}/revoke", post(revoke_agreement))
        .route(
            "/api/v1/approval-policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/api/v1/transfer-assessments",
            get(list_assessments).post(register_assessment),
        )
        .route(
            "/api/v1/subjects/{citizen_id}/consents",
            get(list_consents).post(grant_consent),
        )
        .route(
            "/api/v1/subjects/{citizen_id}/consents/{id}/withdraw",
            post(withdraw_consent),
        )
}

/// A dataset as a consumer may discover it: description and schema, no record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeDatasetOut {
    /// Dataset id.
    pub dataset: String,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    pub title_en: String,
    /// What it holds.
    pub description: String,
    /// The member that owns it.
    pub owner: String,
    /// Whether it is the original (authoritative) copy of its data.
    pub original: bool,
    /// How widely it may be shared.
    pub openness: Openness,
    /// Sovereignty class.
    pub importance: Importance,
    /// Its latest schema (fields, their classification, which need consent).
    pub schema: DatasetSchema,
}

impl From<ndx_core::exchange::ExchangeDataset> for ExchangeDatasetOut {
    fn from(d: ndx_core::exchange::ExchangeDataset) -> Self {
        let s = d.schema;
        ExchangeDatasetOut {
            dataset: s.dataset.clone(),
            title_vi: s.title_vi.clone(),
            title_en: s.title_en.clone(),
            description: s.description.clone(),
            owner: s.owner.clone(),
            original: s.original,
            openness: s.openness.into(),
            importance: s.importance.into(),
            schema: s.into(),
        }
    }
}

/// The datasets a consumer may discover (restricted ones are not listed).
#[utoipa::path(get, path = "/api/v1/exchange/datasets", tag = "exchange", security(("api_key" = [])),
    responses((status = 200, body = Vec<ExchangeDatasetOut>), (status = 401, body = Problem)))]
async fn exchange_datasets(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<ExchangeDatasetOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.exchange_datasets(&c)).await?;
    Ok(axum::Json(
        all.into_iter().map(ExchangeDatasetOut::from).collect(),
    ))
}

/// One dataset of the consumer catalogue.
#[utoipa::path(get, path = "/api/v1/exchange/datasets/{dataset}", tag = "exchange", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id")),
    responses((status = 200, body = ExchangeDatasetOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn exchange_dataset(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
) -> ApiResult<axum::Json<ExchangeDatasetOut>> {
    let core = st.core.clone();
    let d = blocking(move || core.exchange_dataset(&c, &dataset)).await?;
    Ok(axum::Json(d.into()))
}

/// `?fields=` of an exchange read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldsQuery {
    pub(crate) fields: Option<String>,
}

pub(crate) fn asked_fields(q: &FieldsQuery) -> Option<Vec<String>> {
    q.fields.as_ref().map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// The purpose stated in `Ndx-Purpose` (checked against the code list by the core).
pub(crate) fn purpose(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get(PURPOSE_HEADER) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::new(
                Code::HeaderInvalid,
                "the Ndx-Purpose header must be visible ASCII: a code of the code list \"purpose\"",
            )
        }),
    }
}

/// The header in which a caller names the code lists its codes use, and an answer says which
/// lists its codes use: `ethnic-group@1, admin-ward-legacy@1`.
pub const CODE_LISTS_HEADER: &str = "ndx-code-lists";

/// The code lists named in `Ndx-Code-Lists` (none when absent).
pub(crate) fn code_lists(headers: &HeaderMap) -> ApiResult<Vec<ndx_types::codes::CodeListRef>> {
    let Some(v) = headers.get(CODE_LISTS_HEADER) else {
        return Ok(Vec::new());
    };
    let text = v.to_str().map_err(|_| {
        ApiError::new(
            Code::HeaderInvalid,
            "the Ndx-Code-Lists header must be visible ASCII: code list versions `id@version`, \
             separated by commas",
        )
    })?;
    ndx_types::codes::parse_refs(text)
        .map_err(|why| ApiError::new(Code::HeaderInvalid, format!("Ndx-Code-Lists: {why}")))
}

/// The `Ndx-Code-Lists` header of an answer: the lists its coded values use.
fn answer_lists(cap: &ndx_core::access::ExchangeRead) -> [(axum::http::HeaderName, String); 1] {
    let lists: Vec<String> = cap.code_lists().iter().map(ToString::to_string).collect();
    [(
        axum::http::HeaderName::from_static(CODE_LISTS_HEADER),
        lists.join(", "),
    )]
}

/// One record as a consumer receives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeRecordOut {
    /// The record key.
    pub key: String,
    /// Its current version.
    pub version: u64,
    /// When that version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The agreed fields only.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// The agreement it was released under.
    pub agreement: String,
}

/// Looks one record up under a sharing agreement (consumer). The purpose is the
/// `Ndx-Purpose` header; only the agreed fields (or those of `fields` among them) are answered,
/// and the access is on the data subject's tracker before the answer leaves.
#[utoipa::path(get, path = "/api/v1/exchange/datasets/{dataset}/records/{key}", tag = "exchange", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"), ("key" = String, Path, description = "record key"),
           ("Ndx-Purpose" = String, Header, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "the purpose: a code of the code list `purpose`"),
           ("Ndx-Code-Lists" = Option<String>, Header, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}(, ?[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8})*$", description = "answer in these code list versions (`ethnic-group@1`): the coded values of fields whose list a crosswalk joins one-to-one to a named list are converted, and so are filters; the answer's `Ndx-Code-Lists` names the lists its codes use"),
           ("fields" = Option<String>, Query, description = "comma-separated fields, among the agreed ones")),
    responses((status = 200, body = ExchangeRecordOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, description = "no agreement, or the agreement does not allow this request (the code says why)", body = Problem),
              (status = 404, body = Problem), (status = 429, description = "quota used up for the day", body = Problem)))]
async fn lookup(
    State(st): State<AppState>,
    credentials: Credentials,
    Path((dataset, key)): Path<(String, String)>,
    QueryParams(q): QueryParams<FieldsQuery>,
    headers: HeaderMap,
) -> ApiResult<(
    [(axum::http::HeaderName, String); 1],
    axum::Json<ExchangeRecordOut>,
)> {
    let purpose = purpose(&headers)?;
    let lists = code_lists(&headers)?;
    let fields = asked_fields(&q);
    let core = st.core.clone();
    // One step authenticates, decides, reads and hands the event to the appender (on the
    // worker itself on the embedded store); the commit is awaited here, without holding a
    // thread through the fsync.
    let pending = served(&st.core, move || {
        // The record and the catalogue generation in one read (one round trip on PostgreSQL):
        // the caller is authenticated and the request decided on the catalogue as of that
        // read, and that version is answered. A key or dataset the store will not read is left
        // to the path below, so that its refusal keeps its place after authentication.
        let (read, generation) = match core.current_with_generation(&dataset, &key) {
            Ok(Some((version, generation))) => (Some(version), Some(generation)),
            Ok(None) | Err(_) => (None, None),
        };
        let c = credentials.authenticate_at(&core, generation)?;
        let now = Utc::now();
        let cap = core.exchange_access(
            &c,
            &dataset,
            rules::Operation::Lookup,
            Some(&key),
            purpose.as_deref(),
            fields,
            now,
        )?;
        let cap = core.exchange_code_lists(&c, cap, &lists)?;
        let read = read.filter(|_| cap.dataset() == dataset);
        Ok::<_, ndx_core::Error>((
            answer_lists(&cap),
            core.exchange_lookup_read(&cap, &key, read, now)?,
        ))
    })
    .await?;
    let (header, pending) = pending;
    let r = pending.await?.into_inner();
    Ok((
        header,
        axum::Json(ExchangeRecordOut {
            key: r.key,
            version: r.version,
            recorded_at: r.recorded_at,
            data: r.data,
            agreement: r.agreement,
        }),
    ))
}

/// One record of a search page or an extract line (the agreement is the page's).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleasedRecord {
    /// The record key.
    pub key: String,
    /// Its current version.
    pub version: u64,
    /// When that version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The agreed fields only.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

/// A page of a search under an agreement.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangePageOut {
    /// The records released, in key order.
    pub records: Vec<ReleasedRecord>,
    /// Records of this page withheld because their data subject has not consented.
    pub withheld: u64,
    /// The agreement the page was released under.
    pub agreement: String,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn released(r: ndx_core::exchange::ExchangeRecord) -> ReleasedRecord {
    ReleasedRecord {
        key: r.key,
        version: r.version,
        recorded_at: r.recorded_at,
        data: r.data,
    }
}

pub(crate) fn page_limit(q: &mut std::collections::BTreeMap<String, String>) -> ApiResult<usize> {
    match q.remove("limit") {
        None => Ok(100),
        Some(l) => l.parse::<usize>().map_err(|_| {
            ApiError::new(
                Code::LimitInvalid,
                format!("limit must be a number between 1 and 1000, found {l:?}"),
            )
        }),
    }
}

/// Searches a dataset under a sharing agreement (consumer): any query parameter `FIELD=VALUE`
/// other than `limit`, `cursor` and `fields` filters by equality on a field the agreement
/// releases. Each page's released records are on their data subjects' trackers.
#[utoipa::path(get, path = "/api/v1/exchange/datasets/{dataset}/records", tag = "exchange", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("Ndx-Purpose" = String, Header, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "the purpose: a code of the code list `purpose`"),
           ("Ndx-Code-Lists" = Option<String>, Header, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}(, ?[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8})*$", description = "answer in these code list versions (`ethnic-group@1`): the coded values of fields whose list a crosswalk joins one-to-one to a named list are converted, and so are filters; the answer's `Ndx-Code-Lists` names the lists its codes use"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 100)"),
           ("cursor" = Option<String>, Query, description = "opaque: a previous page's next_cursor"),
           ("fields" = Option<String>, Query, description = "comma-separated fields, among the agreed ones")),
    responses((status = 200, body = ExchangePageOut,
               links(("NextPage" = (operation_id = "search", parameters(("dataset" = "$request.path.dataset"), ("cursor" = "$response.body#/next_cursor")))))),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, description = "no agreement, or the agreement does not allow this request (the code says why)", body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, description = "quota used up for the day", body = Problem)))]
async fn search(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
    QueryParams(mut q): QueryParams<std::collections::BTreeMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<(
    [(axum::http::HeaderName, String); 1],
    axum::Json<ExchangePageOut>,
)> {
    let purpose = purpose(&headers)?;
    let lists = code_lists(&headers)?;
    let limit = page_limit(&mut q)?;
    let cursor = q.remove("cursor");
    let fields = asked_fields(&FieldsQuery {
        fields: q.remove("fields"),
    });
    let filters: Vec<(String, String)> = q.into_iter().collect();
    let core = st.core.clone();
    let page = blocking(move || {
        let now = Utc::now();
        let cap = core.exchange_access(
            &c,
            &dataset,
            rules::Operation::Search,
            None,
            purpose.as_deref(),
            fields,
            now,
        )?;
        let cap = core.exchange_code_lists(&c, cap, &lists)?;
        let agreement = cap.agreement().id.clone();
        core.exchange_search(&cap, &filters, cursor.as_deref(), limit, now)
            .map(|p| (agreement, answer_lists(&cap), p))
    })
    .await?;
    let (agreement, header, page) = (page.0, page.1, page.2.into_inner());
    Ok((
        header,
        axum::Json(ExchangePageOut {
            records: page.records.into_iter().map(released).collect(),
            withheld: page.withheld,
            agreement,
            next_cursor: page.next_cursor,
        }),
    ))
}

/// The formats an extract streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtractFormat {
    Ndjson,
    Csv,
}

fn extract_format(headers: &HeaderMap) -> ApiResult<ExtractFormat> {
    let Some(accept) = headers.get(axum::http::header::ACCEPT) else {
        return Ok(ExtractFormat::Ndjson);
    };
    let accept = accept.to_str().unwrap_or("");
    for range in accept.split(',') {
        match crate::media_type(range).as_str() {
            "application/x-ndjson" | "application/ndjson" | "*/*" | "application/*" => {
                return Ok(ExtractFormat::Ndjson);
            }
            "text/csv" | "text/*" => return Ok(ExtractFormat::Csv),
            _ => {}
        }
    }
    Err(ApiError::new(
        Code::NotAcceptable,
        format!("an extract is application/x-ndjson or text/csv; Accept {accept:?} allows neither"),
    ))
}

/// One record as an extract line: NDJSON (`{"key","version","recorded_at","data"}`) or a CSV
/// row (`key,version,recorded_at,` then the granted fields).
fn extract_line(
    format: ExtractFormat,
    fields: &[String],
    r: &ndx_core::exchange::ExchangeRecord,
    out: &mut Vec<u8>,
) {
    match format {
        ExtractFormat::Ndjson => {
            #[derive(Serialize)]
            struct Line<'a> {
                key: &'a str,
                version: u64,
                recorded_at: &'a DateTime<Utc>,
                data: &'a Map<String, Value>,
            }
            let line = Line {
                key: &r.key,
                version: r.version,
                recorded_at: &r.recorded_at,
                data: &r.data,
            };
            // Strings, numbers and a JSON map always serialise.
            let _ = serde_json::to_writer(&mut *out, &line);
            out.push(b'\n');
        }
        ExtractFormat::Csv => {
            let mut row = vec![
                r.key.clone(),
                r.version.to_string(),
                r.recorded_at.to_rfc3339(),
            ];
            row.extend(fields.iter().map(|f| match r.data.get(f) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            }));
            csv_row(&row, out);
        }
    }
}

/// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
pub(crate) fn csv_row(fields: &[String], out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(f.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Streams the whole dataset under a sharing agreement (consumer), as NDJSON
/// (`Accept: application/x-ndjson`, the default) or CSV (`Accept: text/csv`, a header row
/// first): the agreed fields of every record, consent permitting, as the dataset stood at the
/// change-feed position of `Ndx-Feed-Position` (records changed meanwhile appear as they were
/// there), in the order they were recorded. It is read and
/// audited a page of 5,000 records at a time, each page's event naming its data subjects
/// before the page is sent, so memory stays flat whatever the size. A failure mid-stream ends
/// the body early (the client sees a truncated chunked body, never a partial record).
#[utoipa::path(get, path = "/api/v1/exchange/datasets/{dataset}/extract", tag = "exchange", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("Ndx-Purpose" = String, Header, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "the purpose: a code of the code list `purpose`"),
           ("Ndx-Code-Lists" = Option<String>, Header, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}(, ?[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8})*$", description = "answer in these code list versions (`ethnic-group@1`): the coded values of fields whose list a crosswalk joins one-to-one to a named list are converted, and so are filters; the answer's `Ndx-Code-Lists` names the lists its codes use"),
           ("fields" = Option<String>, Query, description = "comma-separated fields, among the agreed ones")),
    responses((status = 200, description = "the records, streamed", content(
                  (ExtractLines = "application/x-ndjson"), (String = "text/csv")),
                  headers(("Ndx-Feed-Position" = u64, description = "the change-feed position the extract is consistent with: apply the changes after it to follow the dataset"))),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, description = "no agreement, or the agreement does not allow this request (the code says why)", body = Problem),
              (status = 404, body = Problem), (status = 406, body = Problem), (status = 429, description = "quota used up for the day", body = Problem)))]
async fn extract(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
    QueryParams(q): QueryParams<FieldsQuery>,
    headers: HeaderMap,
) -> ApiResult<axum::response::Response> {
    stream_dataset(st, c, dataset, q, headers, rules::Operation::Extract).await
}

/// The baseline of a subscriber that fell behind the feed's retention (`410
/// feed-position-expired`), or that starts: the dataset as an extract streams it (NDJSON or
/// CSV, the agreed fields, consent permitting), under an agreement that allows `subscribe` —
/// a subscriber could receive every record's versions from the feed's start anyway — with the
/// position it is consistent with in `Ndx-Feed-Position`: follow the changes after it.
/// Audited as `exchange.baseline`, page by page like an extract.
#[utoipa::path(get, path = "/api/v1/exchange/datasets/{dataset}/changes/baseline", tag = "exchange", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("Ndx-Purpose" = String, Header, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "the purpose: a code of the code list `purpose`"),
           ("Ndx-Code-Lists" = Option<String>, Header, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}(, ?[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8})*$", description = "answer in these code list versions (`ethnic-group@1`): the coded values of fields whose list a crosswalk joins one-to-one to a named list are converted, and so are filters; the answer's `Ndx-Code-Lists` names the lists its codes use"),
           ("fields" = Option<String>, Query, description = "comma-separated fields, among the agreed ones")),
    responses((status = 200, description = "the records, streamed", content(
                  (ExtractLines = "application/x-ndjson"), (String = "text/csv")),
                  headers(("Ndx-Feed-Position" = u64, description = "the change-feed position the baseline is consistent with: follow the changes after it"))),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, description = "no agreement, or the agreement does not allow this request (the code says why)", body = Problem),
              (status = 404, body = Problem), (status = 406, body = Problem), (status = 429, description = "quota used up for the day", body = Problem)))]
async fn baseline(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
    QueryParams(q): QueryParams<FieldsQuery>,
    headers: HeaderMap,
) -> ApiResult<axum::response::Response> {
    stream_dataset(st, c, dataset, q, headers, rules::Operation::Subscribe).await
}

/// Streams the whole dataset, decided for `operation` (an extract, or a subscriber's
/// baseline).
async fn stream_dataset(
    st: AppState,
    c: ndx_core::access::Caller,
    dataset: String,
    q: FieldsQuery,
    headers: HeaderMap,
    operation: rules::Operation,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let format = extract_format(&headers)?;
    let purpose = purpose(&headers)?;
    let lists = code_lists(&headers)?;
    let fields = asked_fields(&q);
    let core = st.core.clone();
    // The first page is read and audited before the answer starts, so that a refusal (the
    // quota, the store, the log) is still a problem with its status, not a truncated body.
    let (cap, first, next, feed_position) = blocking(move || {
        let now = Utc::now();
        let cap = core.exchange_access(
            &c,
            &dataset,
            operation,
            None,
            purpose.as_deref(),
            fields,
            now,
        )?;
        let cap = core.exchange_code_lists(&c, cap, &lists)?;
        // The first page fixes the snapshot, whose position the answer names.
        let first = core.extract_start(&cap)?;
        let feed_position = first.at;
        let step =
            core.exchange_extract_page(&cap, Some(first), ndx_core::exchange::EXTRACT_PAGE, now)?;
        let first = step.page.wait()?;
        Ok::<_, ndx_core::Error>((cap, first.into_inner(), step.next, feed_position))
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let core = st.core.clone();
    let fields: Vec<String> = cap.fields().to_vec();
    let [(lists_header, lists_value)] = answer_lists(&cap);
    let mut head = Vec::new();
    if format == ExtractFormat::Csv {
        let mut header = vec![
            "key".to_owned(),
            "version".to_owned(),
            "recorded_at".to_owned(),
        ];
        header.extend(fields.iter().cloned());
        csv_row(&header, &mut head);
    }
    tokio::task::spawn_blocking(move || {
        let fail = |e: ndx_core::Error| {
            tracing::warn!("extract of {:?} stopped: {e}", cap.dataset());
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        };
        // Up to two pages ahead are read and handed to the audit log while the current one is
        // serialised and sent: the appender commits their events meanwhile, on its own thread.
        let mut next = next;
        let mut ahead: std::collections::VecDeque<ndx_core::audit::Pending<_>> =
            std::collections::VecDeque::new();
        let mut page = first;
        let mut out = head;
        loop {
            while ahead.len() < EXTRACT_AHEAD
                && let Some(after) = next.take()
            {
                match core.exchange_extract_page(
                    &cap,
                    Some(after),
                    ndx_core::exchange::EXTRACT_PAGE,
                    Utc::now(),
                ) {
                    Ok(step) => {
                        next = step.next;
                        ahead.push_back(step.page);
                    }
                    Err(e) => return fail(e),
                }
            }
            for r in &page.records {
                extract_line(format, &fields, r, &mut out);
            }
            if !out.is_empty() && tx.blocking_send(Ok(std::mem::take(&mut out))).is_err() {
                return; // the client went away
            }
            let Some(following) = ahead.pop_front() else {
                return;
            };
            page = match following.wait() {
                Ok(p) => p.into_inner(),
                Err(e) => return fail(e),
            };
        }
    });
    let stream = tokio_stream_from(rx);
    let content_type = match format {
        ExtractFormat::Ndjson => "application/x-ndjson",
        ExtractFormat::Csv => "text/csv; charset=utf-8",
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
            (
                axum::http::HeaderName::from_static(FEED_POSITION_HEADER),
                feed_position.to_string(),
            ),
            (lists_header, lists_value),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// Extract pages read and audited ahead of the one being sent.
const EXTRACT_AHEAD: usize = 2;

/// The receiving side of a channel as a stream of body chunks.
pub(crate) fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// One line of an NDJSON extract.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractLines {
    /// The record key.
    pub key: String,
    /// Its current version.
    pub version: u64,
    /// When that version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The agreed fields only.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

/// The law a sharing agreement rests on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// What the law says, in words.
    pub text: String,
    /// Its reference, e.g. `Decree 47/2024/ND-CP, art. 12`.
    pub reference: String,
}

/// Use of an agreement per UTC day; absent: no limit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests answered per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub requests_per_day: Option<u64>,
    /// Records released per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub records_per_day: Option<u64>,
}

/// A consumer's request for a sharing agreement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementIn {
    /// The dataset.
    pub dataset: String,
    /// The fields wanted.
    pub fields: Vec<String>,
    /// The operations wanted.
    pub operations: Vec<Operation>,
    /// The purpose: a code of the code list `purpose`.
    pub purpose: String,
    /// The law it rests on.
    pub legal_basis: LegalBasis,
    /// In force from (default: now).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// In force until (exclusive); absent: until revoked.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Use per day.
    #[serde(default)]
    pub quota: Quota,
    /// The law makes this sharing mandatory between state bodies (the steward may decide).
    #[serde(default)]
    pub mandatory: bool,
}

/// A sharing agreement.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementOut {
    /// Identifier.
    pub id: String,
    /// The dataset shared.
    pub dataset: String,
    /// The member that owns the dataset.
    pub provider: String,
    /// The consumer system.
    pub consumer: String,
    /// The member of the consumer system.
    pub consumer_member: String,
    /// The fields the consumer may receive.
    pub fields: Vec<String>,
    /// What the consumer may do.
    pub operations: Vec<Operation>,
    /// The purpose.
    pub purpose: String,
    /// The law it rests on.
    pub legal_basis: LegalBasis,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (exclusive); null: until revoked.
    pub valid_until: Option<DateTime<Utc>>,
    /// Use per day.
    pub quota: Quota,
    /// Where it stands now.
    pub status: AgreementStatus,
    /// Why the last change was made.
    pub reason: Option<String>,
    /// Mandatory sharing between state bodies.
    pub mandatory: bool,
    /// The system that asked for it.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// The system that made the last change of status.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Option<DateTime<Utc>>,
    /// The catalogue revision (one more at each change).
    pub revision: u64,
}

fn agreement_out(v: Versioned<Agreement>, now: DateTime<Utc>) -> AgreementOut {
    let a = v.value;
    AgreementOut {
        status: a.status_at(now).into(),
        id: a.id,
        dataset: a.dataset,
        provider: a.provider,
        consumer: a.consumer,
        consumer_member: a.consumer_member,
        fields: a.fields,
        operations: a.operations.into_iter().map(Operation::from).collect(),
        purpose: a.purpose,
        legal_basis: LegalBasis {
            text: a.legal_basis.text,
            reference: a.legal_basis.reference,
        },
        valid_from: a.valid_from,
        valid_until: a.valid_until,
        quota: Quota {
            requests_per_day: a.quota.requests_per_day,
            records_per_day: a.quota.records_per_day,
        },
        reason: a.reason,
        mandatory: a.mandatory,
        requested_by: a.requested_by,
        requested_at: a.requested_at,
        changed_by: a.changed_by,
        changed_at: a.changed_at,
        revision: v.revision,
    }
}

/// The agreements the caller may see: a consumer its own, a provider those on its member's
/// datasets, stewards, operators and auditors all.
#[utoipa::path(get, path = "/api/v1/agreements", tag = "agreements", security(("api_key" = [])),
    responses((status = 200, body = Vec<AgreementOut>), (status = 401, body = Problem)))]
async fn list_agreements(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<AgreementOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.agreements(&c)).await?;
    let now = Utc::now();
    Ok(axum::Json(
        all.into_iter().map(|v| agreement_out(v, now)).collect(),
    ))
}

/// Requests a sharing agreement (consumer): it starts as `requested`, and the provider — or
/// the steward, for mandatory sharing — approves or rejects it.
#[utoipa::path(post, path = "/api/v1/agreements", tag = "agreements", security(("api_key" = [])),
    request_body = AgreementIn,
    responses((status = 201, body = AgreementOut,
               links(("GetAgreement" = (operation_id = "get_agreement", parameters(("id" = "$response.body#/id")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)))]
async fn request_agreement(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<AgreementIn>,
) -> ApiResult<(StatusCode, axum::Json<AgreementOut>)> {
    permitted(&st, &c, "agreement.request", None, |c| {
        c.exchange_consumer("requesting an agreement")
    })
    .await?;
    let a = body.read().await?;
    let core = st.core.clone();
    let now = Utc::now();
    let stored = blocking(move || {
        core.request_agreement(
            &c,
            AgreementDraft {
                dataset: a.dataset,
                fields: a.fields,
                operations: a.operations.into_iter().map(Into::into).collect(),
                purpose: a.purpose,
                legal_basis: rules::LegalBasis {
                    text: a.legal_basis.text,
                    reference: a.legal_basis.reference,
                },
                valid_from: a.valid_from,
                valid_until: a.valid_until,
                quota: rules::Quota {
                    requests_per_day: a.quota.requests_per_day,
                    records_per_day: a.quota.records_per_day,
                },
                mandatory: a.mandatory,
            },
            now,
        )
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(agreement_out(stored, now))))
}

/// One agreement the caller may see.
#[utoipa::path(get, path = "/api/v1/agreements/{id}", tag = "agreements", security(("api_key" = [])),
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, body = AgreementOut,
               links(("GetOdrl" = (operation_id = "agreement_odrl", parameters(("id" = "$request.path.id")))))),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_agreement(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AgreementOut>> {
    let core = st.core.clone();
    let v = blocking(move || core.agreement(&c, &id)).await?;
    Ok(axum::Json(agreement_out(v, Utc::now())))
}

/// An ODRL 2.2 policy in JSON-LD (`@context`, `@type`, `uid`, `assigner`, `assignee`, and
/// `permission` or `prohibition` rules with their targets, actions and constraints).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct OdrlPolicy(Value);

/// The agreement as an ODRL 2.2 policy in JSON-LD: what ndx enforces, for dataspace
/// connectors.
#[utoipa::path(get, path = "/api/v1/agreements/{id}/odrl", tag = "agreements", security(("api_key" = [])),
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, description = "ODRL 2.2 policy", content_type = "application/ld+json", body = OdrlPolicy),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn agreement_odrl(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<(
    [(axum::http::HeaderName, &'static str); 1],
    axum::Json<OdrlPolicy>,
)> {
    let core = st.core.clone();
    let v = blocking(move || core.agreement(&c, &id)).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/ld+json")],
        axum::Json(OdrlPolicy(rules::odrl(&v.value, Utc::now()))),
    ))
}

/// Why a status change is made.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIn {
    /// The reason (required to reject).
    #[serde(default)]
    pub reason: Option<String>,
}

async fn change(
    st: AppState,
    c: ndx_core::access::Caller,
    id: String,
    transition: Transition,
    body: JsonBody<ChangeIn>,
) -> ApiResult<axum::Json<AgreementOut>> {
    let reason = body.read_optional().await?.unwrap_or_default().reason;
    let core = st.core.clone();
    let now = Utc::now();
    let v = blocking(move || core.change_agreement(&c, &id, transition, reason, now)).await?;
    Ok(axum::Json(agreement_out(v, now)))
}

macro_rules! change_route {
    ($name:ident, $transition:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "agreements", security(("api_key" = [])),
            params(("id" = String, Path, description = "agreement id")),
            request_body(content = ChangeIn, description = "optional (no body, no Content-Type): the reason"),
            responses((status = 200, body = AgreementOut), (status = 400, body = Problem),
                      (status = 401, body = Problem), (status = 403, body = Problem),
                      (status = 404, body = Problem), (status = 409, description = "the status does not allow this change", body = Problem),
                      (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
        async fn $name(
            State(st): State<AppState>,
            Auth(c): Auth,
            Path(id): Path<String>,
            body: JsonBody<ChangeIn>,
        ) -> ApiResult<axum::Json<AgreementOut>> {
            change(st, c, id, $transition, body).await
        }
    };
}

change_route!(
    approve_agreement,
    Transition::Approve,
    "/api/v1/agreements/{id}/approve",
    "Approves a requested agreement, or resumes a suspended one (the provider; the steward for mandatory sharing)."
);
change_route!(
    reject_agreement,
    Transition::Reject,
    "/api/v1/agreements/{id}/reject",
    "Rejects a requested agreement, with a reason (the provider; the steward for mandatory sharing)."
);
change_route!(
    suspend_agreement,
    Transition::Suspend,
    "/api/v1/agreements/{id}/suspend",
    "Suspends an agreement in force (either party): refused from the next request on."
);
change_route!(
    revoke_agreement,
    Transition::Revoke,
    "/api/v1/agreements/{id}/revoke",
    "Revokes an agreement for good (either party; a consumer withdraws its own request so)."
);

/// A consent a citizen gives.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentIn {
    /// The agreement it covers.
    pub agreement: String,
    /// The consent-bound fields it covers; empty or absent: all of the agreement's.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// A citizen's consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentOut {
    /// Identifier.
    pub id: String,
    /// The citizen.
    pub subject: String,
    /// The agreement it covers.
    pub agreement: String,
    /// The fields it covers (empty: all of the agreement's consent-bound fields).
    pub fields: Vec<String>,
    /// When it was given.
    pub granted_at: DateTime<Utc>,
    /// When it was withdrawn.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl From<rules::Consent> for ConsentOut {
    fn from(c: rules::Consent) -> Self {
        ConsentOut {
            id: c.id,
            subject: c.subject,
            agreement: c.agreement,
            fields: c.fields,
            granted_at: c.granted_at,
            withdrawn_at: c.withdrawn_at,
        }
    }
}

fn check_citizen_id(citizen_id: &str) -> ApiResult<()> {
    if ndx_types::formats::parse_citizen_id(citizen_id).is_err() {
        return Err(ApiError::new(
            Code::CitizenIdInvalid,
            format!("{citizen_id:?} is not a valid 12-digit citizen ID"),
        ));
    }
    Ok(())
}

/// The right to act on a citizen's data: the citizen's token, or (to read) an auditor.
fn subject_cap(
    core: &ndx_core::Core,
    auth: SubjectAuth,
    citizen_id: &str,
    operation: &'static str,
) -> ndx_core::Result<ndx_core::access::SubjectRead> {
    let request_id = current_request_id();
    match auth {
        SubjectAuth::Citizen { token, client } => {
            core.citizen_subject(&token, citizen_id, &request_id, client, operation)
        }
        SubjectAuth::System(caller) => caller
            .subject_read(citizen_id)
            .map_err(|e| core.audit_refusal(&caller, operation, None, e)),
    }
}

/// A citizen's consents, newest first (the citizen with their token, or an auditor).
#[utoipa::path(get, path = "/api/v1/subjects/{citizen_id}/consents", tag = "exchange", security(("api_key" = [])),
    params(("citizen_id" = String, Path, pattern = "^[0-9]{12}$", description = "12-digit citizen ID")),
    responses((status = 200, body = Vec<ConsentOut>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
async fn list_consents(
    State(st): State<AppState>,
    auth: SubjectAuth,
    Path(citizen_id): Path<String>,
) -> ApiResult<axum::Json<Vec<ConsentOut>>> {
    check_citizen_id(&citizen_id)?;
    let core = st.core.clone();
    let all = blocking(move || {
        let cap = subject_cap(&core, auth, &citizen_id, "subject.consents")?;
        core.consents(&cap)
    })
    .await?
    .into_inner();
    Ok(axum::Json(all.into_iter().map(ConsentOut::from).collect()))
}

/// A citizen consents, with their own token, to the release of consent-bound fields of their
/// records under one agreement.
#[utoipa::path(post, path = "/api/v1/subjects/{citizen_id}/consents", tag = "exchange", security(("api_key" = [])),
    params(("citizen_id" = String, Path, pattern = "^[0-9]{12}$", description = "12-digit citizen ID")),
    request_body = ConsentIn,
    responses((status = 201, body = ConsentOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn grant_consent(
    State(st): State<AppState>,
    auth: SubjectAuth,
    Path(citizen_id): Path<String>,
    body: JsonBody<ConsentIn>,
) -> ApiResult<(StatusCode, axum::Json<ConsentOut>)> {
    check_citizen_id(&citizen_id)?;
    let core = st.core.clone();
    let id = citizen_id.clone();
    let cap = blocking(move || subject_cap(&core, auth, &id, "consent.grant")).await?;
    let c = body.read().await?;
    let core = st.core.clone();
    let consent = blocking(move || core.grant_consent(&cap, &c.agreement, c.fields, Utc::now()))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, axum::Json(consent.into())))
}

/// A citizen withdraws a consent: from the next request on, their records are withheld.
#[utoipa::path(post, path = "/api/v1/subjects/{citizen_id}/consents/{id}/withdraw", tag = "exchange", security(("api_key" = [])),
    params(("citizen_id" = String, Path, pattern = "^[0-9]{12}$", description = "12-digit citizen ID"),
           ("id" = String, Path, description = "consent id")),
    responses((status = 200, body = ConsentOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn withdraw_consent(
    State(st): State<AppState>,
    auth: SubjectAuth,
    Path((citizen_id, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<ConsentOut>> {
    check_citizen_id(&citizen_id)?;
    let core = st.core.clone();
    let consent = blocking(move || {
        let cap = subject_cap(&core, auth, &citizen_id, "consent.withdraw")?;
        core.withdraw_consent(&cap, &id, Utc::now())
    })
    .await?
    .into_inner();
    Ok(axum::Json(consent.into()))
}

/// A transfer assessment to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentIn {
    /// The dataset it covers (important or ordinary data; core data never leaves).
    pub dataset: String,
    /// The foreign member that may receive it.
    pub recipient: String,
    /// Who approved it.
    pub approved_by: String,
    /// What it covers, in words.
    pub scope: String,
    /// In force from (default: now).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// In force until (exclusive).
    pub valid_until: DateTime<Utc>,
}

/// A registered transfer assessment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentOut {
    /// Identifier.
    pub id: String,
    /// The dataset it covers.
    pub dataset: String,
    /// The foreign member that may receive it.
    pub recipient: String,
    /// Who approved it.
    pub approved_by: String,
    /// What it covers.
    pub scope: String,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (exclusive).
    pub valid_until: DateTime<Utc>,
}

impl From<TransferAssessment> for AssessmentOut {
    fn from(t: TransferAssessment) -> Self {
        AssessmentOut {
            id: t.id,
            dataset: t.dataset,
            recipient: t.recipient,
            approved_by: t.approved_by,
            scope: t.scope,
            valid_from: t.valid_from,
            valid_until: t.valid_until,
        }
    }
}

/// The transfer assessments (stewards, operators, auditors; a provider those of its datasets).
#[utoipa::path(get, path = "/api/v1/transfer-assessments", tag = "exchange", security(("api_key" = [])),
    responses((status = 200, body = Vec<AssessmentOut>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_assessments(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<AssessmentOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.assessments(&c)).await?;
    Ok(axum::Json(
        all.into_iter().map(AssessmentOut::from).collect(),
    ))
}

/// Registers a transfer assessment (steward or operator): the dataset's important or personal
/// data may go to the foreign member under its agreements, within the period.
#[utoipa::path(post, path = "/api/v1/transfer-assessments", tag = "exchange", security(("api_key" = [])),
    request_body = AssessmentIn,
    responses((status = 201, body = AssessmentOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn register_assessment(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<AssessmentIn>,
) -> ApiResult<(StatusCode, axum::Json<AssessmentOut>)> {
    permitted(&st, &c, "transfer-assessment.register", None, |c| {
        if c.has(ndx_types::registry::Role::Steward) || c.has(ndx_types::registry::Role::Operator) {
            Ok(())
        } else {
            Err(ndx_core::Error::of(
                Code::RoleRequired,
                "registering a transfer assessment needs role \"steward\" or \"operator\"",
            ))
        }
    })
    .await?;
    let a = body.read().await?;
    let core = st.core.clone();
    let t = blocking(move || {
        core.register_assessment(
            &c,
            ndx_core::exchange::AssessmentDraft {
                dataset: a.dataset,
                recipient: a.recipient,
                approved_by: a.approved_by,
                scope: a.scope,
                valid_from: a.valid_from,
                valid_until: a.valid_until,
            },
            Utc::now(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(t.into())))
}

/// A standing rule that approves the requests it covers as they are made.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    /// The dataset.
    pub dataset: String,
    /// Only consumers whose member has this level.
    #[serde(default)]
    pub consumer_level: Option<crate::wire::MemberLevel>,
    /// Only consumers whose member is in this country (ISO alpha-2).
    #[serde(default)]
    pub consumer_country: Option<String>,
    /// The fields a request may ask for.
    pub fields: Vec<String>,
    /// The operations a request may ask for.
    pub operations: Vec<Operation>,
    /// The purposes a request may state.
    pub purposes: Vec<String>,
    /// The longest validity approved, in days (absent: any, open-ended included).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_days: Option<u32>,
}

/// An approval policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyOut {
    /// Identifier.
    pub id: String,
    /// The dataset.
    pub dataset: String,
    /// Only consumers whose member has this level.
    pub consumer_level: Option<crate::wire::MemberLevel>,
    /// Only consumers whose member is in this country.
    pub consumer_country: Option<String>,
    /// The fields a request may ask for.
    pub fields: Vec<String>,
    /// The operations a request may ask for.
    pub operations: Vec<Operation>,
    /// The purposes a request may state.
    pub purposes: Vec<String>,
    /// The longest validity approved, in days.
    pub max_days: Option<u32>,
    /// The system that made it.
    pub created_by: String,
}

impl From<rules::ApprovalPolicy> for PolicyOut {
    fn from(p: rules::ApprovalPolicy) -> Self {
        PolicyOut {
            id: p.id,
            dataset: p.dataset,
            consumer_level: p.consumer_level.map(Into::into),
            consumer_country: p.consumer_country,
            fields: p.fields,
            operations: p.operations.into_iter().map(Operation::from).collect(),
            purposes: p.purposes,
            max_days: p.max_days,
            created_by: p.created_by,
        }
    }
}

/// The approval policies (on the caller's member's datasets; all for stewards, operators,
/// auditors).
#[utoipa::path(get, path = "/api/v1/approval-policies", tag = "agreements", security(("api_key" = [])),
    responses((status = 200, body = Vec<PolicyOut>), (status = 401, body = Problem)))]
async fn list_policies(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<PolicyOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.policies(&c)).await?;
    Ok(axum::Json(all.into_iter().map(PolicyOut::from).collect()))
}

/// Creates an approval policy (the dataset's provider, or the steward): requests it covers are
/// approved as they are made, audited with the policy.
#[utoipa::path(post, path = "/api/v1/approval-policies", tag = "agreements", security(("api_key" = [])),
    request_body = PolicyIn,
    responses((status = 201, body = PolicyOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn create_policy(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<PolicyIn>,
) -> ApiResult<(StatusCode, axum::Json<PolicyOut>)> {
    permitted(&st, &c, "approval-policy.create", None, |c| {
        if c.has(ndx_types::registry::Role::Steward) || c.has(ndx_types::registry::Role::Provider) {
            Ok(())
        } else {
            Err(ndx_core::Error::of(
                Code::RoleRequired,
                "approval policies are made by providers (for their datasets) or the steward",
            ))
        }
    })
    .await?;
    let p = body.read().await?;
    let core = st.core.clone();
    let policy = blocking(move || {
        core.create_policy(
            &c,
            ndx_core::exchange::PolicyDraft {
                dataset: p.dataset,
                consumer_level: p.consumer_level.map(Into::into),
                consumer_country: p.consumer_country,
                fields: p.fields,
                operations: p.operations.into_iter().map(Into::into).collect(),
                purposes: p.purposes,
                max_days: p.max_days,
            },
            Utc::now(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(policy.into())))
}
