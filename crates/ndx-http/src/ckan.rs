//! CKAN's Action API over ndx's open data, so that CKAN clients (the `ckanapi` library,
//! harvesters, portals) work unchanged: `/api/3/action/{action}` and `/api/action/{action}`,
//! GET with query parameters or POST with a JSON object, answered in CKAN's envelope
//! (`help`, `success`, `result`; or `error` with `__type` and `message`) with CKAN 2.10's field
//! names. A package's resources are the files of its latest release.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ndx_types::open::{Package, Release};
use serde_json::{Map, Value, json};

use crate::AppState;

/// The CKAN version whose API this imitates.
pub const CKAN_VERSION: &str = "2.10.4";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/3/action/{action}", get(action).post(action_post))
        .route("/api/action/{action}", get(action).post(action_post))
}

/// A CKAN error: its `__type`, HTTP status and message.
struct CkanError {
    kind: &'static str,
    status: StatusCode,
    message: String,
}

impl CkanError {
    fn not_found(message: impl Into<String>) -> Self {
        CkanError {
            kind: "Not Found Error",
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
    fn validation(message: impl Into<String>) -> Self {
        CkanError {
            kind: "Validation Error",
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
    fn internal(message: impl Into<String>) -> Self {
        CkanError {
            kind: "Internal Server Error",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<ndx_core::Error> for CkanError {
    fn from(e: ndx_core::Error) -> Self {
        match e.kind {
            ndx_core::Kind::NotFound => CkanError::not_found(e.to_string()),
            ndx_core::Kind::Invalid | ndx_core::Kind::Malformed => {
                CkanError::validation(e.to_string())
            }
            _ => CkanError::internal(e.to_string()),
        }
    }
}

fn help(base: &str, action: &str) -> String {
    format!("{base}/api/3/action/help_show?name={action}")
}

fn envelope(base: &str, action: &str, result: Result<Value, CkanError>) -> Response {
    match result {
        Ok(result) => (
            StatusCode::OK,
            axum::Json(json!({"help": help(base, action), "success": true, "result": result})),
        )
            .into_response(),
        Err(e) => {
            let mut error = Map::new();
            error.insert("__type".into(), Value::String(e.kind.into()));
            error.insert("message".into(), Value::String(e.message));
            (
                e.status,
                axum::Json(json!({"help": help(base, action), "success": false, "error": error})),
            )
                .into_response()
        }
    }
}

/// The node's address as the client reached it (resource URLs must be absolute).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

async fn action(
    State(st): State<AppState>,
    Path(action): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let params: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    run(st, action, params, &headers).await
}

async fn action_post(
    State(st): State<AppState>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let base = base_url(&headers);
    if body.len() > st.limits.max_json_bytes {
        return envelope(
            &base,
            &action,
            Err(CkanError::validation(format!(
                "the body exceeds {} bytes",
                st.limits.max_json_bytes
            ))),
        );
    }
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return envelope(
                    &base,
                    &action,
                    Err(CkanError::validation("the body must be a JSON object")),
                );
            }
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({
                        "help": help(&base, &action),
                        "success": false,
                        "error": {"__type": "Bad request", "message": format!("JSON error: {e}")},
                    })),
                )
                    .into_response();
            }
        }
    };
    run(st, action, params, &headers).await
}

async fn run(
    st: AppState,
    action: String,
    params: Map<String, Value>,
    headers: &HeaderMap,
) -> Response {
    let base = base_url(headers);
    let core = st.core.clone();
    let base_for = base.clone();
    let name = action.clone();
    let result = tokio::task::spawn_blocking(move || dispatch(&core, &name, &params, &base_for))
        .await
        .unwrap_or_else(|e| Err(CkanError::internal(format!("the action failed: {e}"))));
    envelope(&base, &action, result)
}

/// A parameter as text (CKAN clients send numbers as strings or numbers alike).
fn text<'a>(params: &'a Map<String, Value>, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    scalar(params.get(key)?)
}

/// A scalar JSON value as text: a string as it is, a number or a boolean written out.
fn scalar(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
        _ => None,
    }
}

fn required<'a>(
    params: &'a Map<String, Value>,
    key: &str,
) -> Result<std::borrow::Cow<'a, str>, CkanError> {
    text(params, key).ok_or_else(|| CkanError::validation(format!("{key}: Missing value")))
}

fn number(
    params: &Map<String, Value>,
    key: &str,
    default: usize,
    max: usize,
) -> Result<usize, CkanError> {
    match text(params, key) {
        None => Ok(default),
        Some(t) => t
            .parse::<usize>()
            .map(|n| n.min(max))
            .map_err(|_| CkanError::validation(format!("{key}: Invalid integer"))),
    }
}

fn truthy(params: &Map<String, Value>, key: &str) -> bool {
    text(params, key).is_some_and(|t| matches!(t.as_ref(), "true" | "True" | "1"))
}

fn dispatch(
    core: &ndx_core::Core,
    action: &str,
    params: &Map<String, Value>,
    base: &str,
) -> Result<Value, CkanError> {
    match action {
        "status_show" => Ok(json!({
            "site_title": "ndx — dữ liệu mở",
            "site_description": "Open data of the national data integration and sharing platform",
            "site_url": base,
            "ckan_version": CKAN_VERSION,
            "error_emails_to": null,
            "locale_default": "vi",
            "extensions": ["ndx"],
        })),
        "package_list" => {
            let limit = number(params, "limit", usize::MAX, usize::MAX)?;
            let offset = number(params, "offset", 0, usize::MAX)?;
            let names: Vec<String> = core.packages()?.into_iter().map(|p| p.name).collect();
            Ok(json!(
                names
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .collect::<Vec<_>>()
            ))
        }
        "package_show" => {
            let id = required(params, "id")?;
            let package = core.package(&id)?;
            core.count_use(&package.name, ndx_core::publish::Use::View);
            package_dict(core, &package, base)
        }
        "resource_show" => {
            let id = required(params, "id")?;
            let release = resource_release(core, &id)?;
            core.count_use(&release.package, ndx_core::publish::Use::ApiCall);
            resources(&release, base)
                .into_iter()
                .find(|r| r["id"] == *id)
                .ok_or_else(|| CkanError::not_found("Resource was not found."))
        }
        "organization_list" => {
            let all_fields = truthy(params, "all_fields");
            let packages = core.packages()?;
            let mut out = Vec::new();
            for m in core.members()? {
                let count = packages.iter().filter(|p| p.publisher == m.code).count();
                if count == 0 {
                    continue;
                }
                out.push(if all_fields {
                    organization(&m, count)
                } else {
                    Value::String(m.code.to_lowercase())
                });
            }
            Ok(Value::Array(out))
        }
        "organization_show" => {
            let id = required(params, "id")?;
            let member = core
                .members()?
                .into_iter()
                .find(|m| m.code.eq_ignore_ascii_case(&id))
                .ok_or_else(|| CkanError::not_found("Organization was not found."))?;
            let packages: Vec<Package> = core
                .packages()?
                .into_iter()
                .filter(|p| p.publisher == member.code)
                .collect();
            let mut dict = organization(&member, packages.len());
            if truthy(params, "include_datasets") {
                let mut list = Vec::new();
                for p in &packages {
                    list.push(package_dict(core, p, base)?);
                }
                dict["packages"] = Value::Array(list);
            }
            Ok(dict)
        }
        "group_list" => {
            let mut themes: Vec<String> = core.packages()?.into_iter().map(|p| p.theme).collect();
            themes.sort();
            themes.dedup();
            let all_fields = truthy(params, "all_fields");
            let labels = theme_labels(core)?;
            Ok(Value::Array(
                themes
                    .into_iter()
                    .map(|t| {
                        if all_fields {
                            group(&t, &labels)
                        } else {
                            Value::String(t.to_lowercase())
                        }
                    })
                    .collect(),
            ))
        }
        "tag_list" => {
            let mut tags: Vec<String> = core
                .packages()?
                .into_iter()
                .flat_map(|p| p.keywords)
                .collect();
            tags.sort();
            tags.dedup();
            if let Some(q) = text(params, "query") {
                let q = ndx_types::text::fold_lowercase(&q);
                tags.retain(|t| ndx_types::text::fold_lowercase(t).contains(&q));
            }
            Ok(json!(tags))
        }
        "package_search" => package_search(core, params, base),
        "datastore_search" => datastore_search(core, params),
        "help_show" => Ok(Value::String(format!(
            "{}: the action of CKAN {CKAN_VERSION}'s Action API, answered by ndx",
            required(params, "name")?
        ))),
        _ => Err(CkanError {
            kind: "Not Found Error",
            status: StatusCode::BAD_REQUEST,
            message: format!("Action name not known: {action}"),
        }),
    }
}

/// The release a resource id (`PACKAGE-rNUMBER-FORMAT`) names.
fn resource_release(core: &ndx_core::Core, id: &str) -> Result<Release, CkanError> {
    let not_found = || CkanError::not_found("Resource was not found.");
    let (release, _format) = id.rsplit_once('-').ok_or_else(not_found)?;
    let (package, number) = release.rsplit_once("-r").ok_or_else(not_found)?;
    let number: u32 = number.parse().map_err(|_| not_found())?;
    core.package_release(package, number)
        .map_err(|_| not_found())
}

/// A parameter that is a JSON object, given as one or as its JSON text (in a query string).
fn object_param(
    params: &Map<String, Value>,
    key: &str,
) -> Result<Option<Map<String, Value>>, CkanError> {
    let invalid = || CkanError::validation(format!("{key}: a JSON object"));
    match params.get(key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err(invalid()),
        },
        Some(_) => Err(invalid()),
    }
}

/// A scalar JSON value as the text a cell holds.
fn cell_text(key: &str, v: &Value) -> Result<String, CkanError> {
    scalar(v).map(std::borrow::Cow::into_owned).ok_or_else(|| {
        CkanError::validation(format!(
            "{key}: values are strings, numbers or lists of them"
        ))
    })
}

/// Most rows one `datastore_search` answers (CKAN's `ckan.datastore.search.rows_max`).
const DATASTORE_ROWS_MAX: usize = 32_000;

fn datastore_search(
    core: &ndx_core::Core,
    params: &Map<String, Value>,
) -> Result<Value, CkanError> {
    use ndx_core::publish::DatastoreQuery;
    let id = match text(params, "resource_id") {
        Some(id) => id,
        None => required(params, "id")?,
    };
    let release = resource_release(core, &id)?;
    core.count_use(&release.package, ndx_core::publish::Use::ApiCall);
    let mut query = DatastoreQuery {
        limit: number(params, "limit", 100, DATASTORE_ROWS_MAX)?,
        offset: number(params, "offset", 0, usize::MAX / 2)?,
        ..DatastoreQuery::default()
    };
    match params.get("q") {
        None => {}
        Some(Value::String(q)) if !q.trim_start().starts_with('{') => query.q = Some(q.clone()),
        Some(_) => {
            for (column, words) in object_param(params, "q")?.unwrap_or_default() {
                query.q_fields.push((column, cell_text("q", &words)?));
            }
        }
    }
    for (column, values) in object_param(params, "filters")?.unwrap_or_default() {
        let values = match &values {
            Value::Array(list) => list
                .iter()
                .map(|v| cell_text("filters", v))
                .collect::<Result<_, _>>()?,
            one => vec![cell_text("filters", one)?],
        };
        query.filters.push((column, values));
    }
    query.fields = match params.get("fields") {
        None => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|v| cell_text("fields", v))
                .collect::<Result<_, _>>()?,
        ),
        Some(Value::String(s)) => Some(s.split(',').map(|f| f.trim().to_owned()).collect()),
        Some(_) => {
            return Err(CkanError::validation(
                "fields: a list or comma-separated names",
            ));
        }
    };
    if let Some(sort) = text(params, "sort") {
        for part in sort.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut words = part.split_whitespace();
            let column = words
                .next()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned();
            let desc = match words.next().map(str::to_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(CkanError::validation(format!(
                        "sort: {other:?} is neither asc nor desc"
                    )));
                }
            };
            query.sort.push((column, desc));
        }
    }
    let lists = match text(params, "records_format").as_deref() {
        None | Some("objects") => false,
        Some("lists") => true,
        Some(other) => {
            return Err(CkanError::validation(format!(
                "records_format: {other:?} is not one of \"objects\", \"lists\""
            )));
        }
    };
    let include_total = text(params, "include_total")
        .is_none_or(|t| !matches!(t.as_ref(), "false" | "False" | "0"));
    let answer = core.datastore_search(&release, &query)?;
    let cell = |integer: bool, v: Option<String>| match v {
        None => Value::Null,
        Some(t) if integer => t.parse::<i64>().map_or(Value::String(t), Value::from),
        Some(t) => Value::String(t),
    };
    let records: Vec<Value> = answer
        .records
        .into_iter()
        .map(|(row_id, cells)| {
            let values = answer
                .fields
                .iter()
                .zip(cells)
                .map(|((name, integer), v)| (name.clone(), cell(*integer, v)));
            if lists {
                let mut list = vec![json!(row_id)];
                list.extend(values.map(|(_, v)| v));
                Value::Array(list)
            } else {
                let mut obj = Map::new();
                obj.insert("_id".into(), json!(row_id));
                obj.extend(values);
                Value::Object(obj)
            }
        })
        .collect();
    let mut fields = vec![json!({"id": "_id", "type": "int"})];
    fields.extend(
        answer.fields.iter().map(
            |(name, integer)| json!({"id": name, "type": if *integer { "int" } else { "text" }}),
        ),
    );
    let start = format!("/api/3/action/datastore_search?resource_id={id}");
    let mut result = json!({
        "include_total": include_total,
        "resource_id": id,
        "fields": fields,
        "records_format": if lists { "lists" } else { "objects" },
        "records": records,
        "limit": query.limit,
        "_links": {
            "start": start,
            "next": format!("{start}&offset={}", query.offset + query.limit),
        },
        "total_was_estimated": false,
    });
    if include_total {
        result["total"] = json!(answer.total);
    }
    for key in ["q", "filters", "sort", "offset"] {
        if let Some(v) = params.get(key) {
            result[key] = v.clone();
        }
    }
    Ok(result)
}

/// `facet.field`: a JSON-encoded list (as CKAN takes it in a query string) or a list.
fn facet_fields(params: &Map<String, Value>) -> Result<Vec<String>, CkanError> {
    let fields: Vec<String> = match params.get("facet.field") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => serde_json::from_str::<Vec<String>>(s)
            .map_err(|_| CkanError::validation("facet.field: a JSON list of field names"))?,
        Some(_) => {
            return Err(CkanError::validation(
                "facet.field: a JSON list of field names",
            ));
        }
    };
    for f in &fields {
        if !ndx_core::open_search::FACET_FIELDS.contains(&f.as_str()) {
            return Err(CkanError::validation(format!(
                "facet.field: {f:?} is not one of {:?}",
                ndx_core::open_search::FACET_FIELDS
            )));
        }
    }
    Ok(fields)
}

fn package_search(
    core: &ndx_core::Core,
    params: &Map<String, Value>,
    base: &str,
) -> Result<Value, CkanError> {
    use ndx_core::open_search::{PackageQuery, SearchSort, parse_fq};
    let sort_text = text(params, "sort").map(|s| s.trim().to_lowercase());
    let sort = match sort_text.as_deref() {
        None | Some("score desc") | Some("score desc, metadata_modified desc") => SearchSort::Score,
        Some("metadata_modified desc") => SearchSort::Modified,
        Some("name asc") => SearchSort::Name,
        Some("title_string asc") => SearchSort::Title,
        Some(other) => {
            return Err(CkanError::validation(format!(
                "sort: {other:?} is not one of \"score desc\", \"metadata_modified desc\", \
                 \"name asc\", \"title_string asc\""
            )));
        }
    };
    let query = PackageQuery {
        q: text(params, "q")
            .map(|q| q.into_owned())
            .unwrap_or_default(),
        filters: match text(params, "fq") {
            Some(fq) => parse_fq(&fq)?,
            None => Vec::new(),
        },
        rows: number(params, "rows", 10, ndx_core::open_search::MAX_ROWS)?,
        start: number(params, "start", 0, usize::MAX / 2)?,
        sort,
        facets: facet_fields(params)?,
        facet_limit: number(params, "facet.limit", 50, 1000)?,
    };
    let hits = core.search_packages(&query)?;
    let mut results = Vec::with_capacity(hits.names.len());
    for name in &hits.names {
        results.push(package_dict(core, &core.package(name)?, base)?);
    }
    let mut facets = Map::new();
    let mut search_facets = Map::new();
    for (field, items) in &hits.facets {
        facets.insert(
            field.clone(),
            Value::Object(items.iter().map(|(v, n)| (v.clone(), json!(n))).collect()),
        );
        search_facets.insert(
            field.clone(),
            json!({
                "title": field,
                "items": items
                    .iter()
                    .map(|(v, n)| json!({"name": v, "display_name": v, "count": n}))
                    .collect::<Vec<_>>(),
            }),
        );
    }
    Ok(json!({
        "count": hits.count,
        "sort": sort_text.unwrap_or_else(|| "score desc, metadata_modified desc".into()),
        "results": results,
        "facets": facets,
        "search_facets": search_facets,
    }))
}

fn organization(m: &ndx_types::registry::Member, packages: usize) -> Value {
    json!({
        "id": m.code.to_lowercase(),
        "name": m.code.to_lowercase(),
        "title": m.name_vi,
        "display_name": m.name_vi,
        "description": m.name_en,
        "image_url": "",
        "image_display_url": "",
        "type": "organization",
        "is_organization": true,
        "approval_status": "approved",
        "state": "active",
        "created": ckan_time(m.created_at),
        "package_count": packages,
    })
}

fn theme_labels(core: &ndx_core::Core) -> Result<BTreeMap<String, (String, String)>, CkanError> {
    Ok(core
        .code_list("data-theme", None)?
        .entries
        .into_iter()
        .map(|e| (e.code, (e.label_vi, e.label_en)))
        .collect())
}

fn group(theme: &str, labels: &BTreeMap<String, (String, String)>) -> Value {
    let (vi, en) = labels.get(theme).cloned().unwrap_or_default();
    json!({
        "id": theme.to_lowercase(),
        "name": theme.to_lowercase(),
        "title": vi,
        "display_name": vi,
        "description": en,
        "image_display_url": "",
        "type": "group",
        "is_organization": false,
        "state": "active",
    })
}

/// CKAN's timestamps: ISO 8601 without an offset, in UTC.
fn ckan_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn resources(release: &Release, base: &str) -> Vec<Value> {
    release
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "id": format!("{}-r{}-{}", release.package, release.number, f.format),
                "package_id": release.package,
                "name": f.name,
                "description": format!("Release {} ({} rows)", release.number, release.rows),
                "format": f.format.to_uppercase(),
                "mimetype": f.media_type,
                "url": format!("{base}/download/{}/{}/{}", release.package, release.number, f.name),
                "size": f.bytes,
                "hash": format!("sha256:{}", f.sha256),
                "created": ckan_time(release.created_at),
                "last_modified": ckan_time(release.created_at),
                "state": "active",
                "position": i,
                "url_type": null,
                "datastore_active": true,
            })
        })
        .collect()
}

/// A package as CKAN's `package_show` answers it.
fn package_dict(core: &ndx_core::Core, p: &Package, base: &str) -> Result<Value, CkanError> {
    let release = core.latest_release(&p.name)?;
    let member = core.member(&p.publisher)?;
    let licences = core.code_list("licence", None)?;
    let licence_title = licences
        .entries
        .iter()
        .find(|e| e.code == p.licence)
        .map(|e| e.label_en.clone())
        .unwrap_or_default();
    let labels = theme_labels(core)?;
    let resources = release
        .as_ref()
        .map(|r| resources(r, base))
        .unwrap_or_default();
    let num_resources = resources.len();
    let tags: Vec<Value> = p
        .keywords
        .iter()
        .map(|k| json!({"id": k, "name": k, "display_name": k, "state": "active", "vocabulary_id": null}))
        .collect();
    let mut extras = vec![
        json!({"key": "theme", "value": p.theme}),
        json!({"key": "source_dataset", "value": p.view.dataset}),
    ];
    if !p.spatial.is_empty() {
        extras.push(json!({"key": "spatial", "value": p.spatial.join(",")}));
    }
    if let Some(f) = p.frequency {
        extras.push(
            json!({"key": "frequency", "value": serde_json::to_value(f).unwrap_or_default()}),
        );
    }
    if let Some(t) = p.temporal {
        extras.push(json!({"key": "temporal_start", "value": t.start.to_string()}));
        if let Some(end) = t.end {
            extras.push(json!({"key": "temporal_end", "value": end.to_string()}));
        }
    }
    if let Some(r) = &release {
        extras.push(json!({"key": "k_anonymity", "value": r.privacy.achieved_k.to_string()}));
        extras.push(json!({"key": "l_diversity", "value": r.privacy.achieved_l.to_string()}));
        extras.push(json!({"key": "suppressed_rows", "value": r.privacy.suppressed.to_string()}));
    }
    let modified = release.as_ref().map_or(p.created_at, |r| r.created_at);
    // CKAN's tracking summary: views in all and over the last 14 days.
    let fortnight = chrono::Utc::now().date_naive() - chrono::Days::new(14);
    let usage = core.package_usage(&p.name)?;
    let tracking = json!({
        "total": usage.iter().map(|u| u.views).sum::<u64>(),
        "recent": usage.iter().filter(|u| u.day > fortnight).map(|u| u.views).sum::<u64>(),
    });
    Ok(json!({
        "id": p.name,
        "name": p.name,
        "title": p.title_vi,
        "title_translated": {"vi": p.title_vi, "en": p.title_en},
        "notes": p.description_vi,
        "notes_translated": {"vi": p.description_vi, "en": p.description_en},
        "license_id": p.licence,
        "license_title": licence_title,
        "isopen": true,
        "author": null,
        "author_email": null,
        "maintainer": p.contact.name,
        "maintainer_email": p.contact.email,
        "owner_org": p.publisher.to_lowercase(),
        "organization": organization(&member, 0),
        "private": false,
        "state": "active",
        "type": "dataset",
        "url": format!("{base}/api/v1/packages/{}", p.name),
        "version": release.as_ref().map(|r| r.number.to_string()),
        "metadata_created": ckan_time(p.created_at),
        "metadata_modified": ckan_time(modified),
        "tags": tags,
        "num_tags": p.keywords.len(),
        "groups": [group(&p.theme, &labels)],
        "resources": resources,
        "num_resources": num_resources,
        "extras": extras,
        "tracking_summary": tracking,
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }))
}
