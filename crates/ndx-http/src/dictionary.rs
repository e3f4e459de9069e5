//! Dictionary endpoints: data elements, code lists, dataset schemas and their exports.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use ndx_core::dictionary::SchemaExport;
use ndx_types::dictionary::SchemaVersion;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use ndx_core::Code;

use crate::auth::Auth;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::wire::{
    CodeList, Crosswalk, DataElement, DatasetSchema, Dictionary, SchemaChange, SchemaDocument,
};
use crate::{AppState, JsonBody, QueryParams, blocking, permitted};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dictionary", get(export))
        .route(
            "/api/v1/dictionary/elements",
            get(list_elements).post(create_element),
        )
        .route("/api/v1/dictionary/elements/{id}", get(get_element))
        .route("/api/v1/code-lists", get(list_code_lists))
        .route(
            "/api/v1/code-lists/{id}",
            get(get_code_list).put(put_code_list),
        )
        .route("/api/v1/crosswalks", get(list_crosswalks))
        .route(
            "/api/v1/crosswalks/{from}/{to}",
            get(get_crosswalk).put(put_crosswalk),
        )
        .route("/api/v1/datasets", get(list_datasets).post(create_dataset))
        .route("/api/v1/datasets/{dataset}", get(get_dataset))
        .route(
            "/api/v1/datasets/{dataset}/schema",
            get(get_schema).put(put_schema),
        )
        .route(
            "/api/v1/datasets/{dataset}/schema/versions",
            get(schema_versions),
        )
}

/// The whole dictionary: elements, code lists (latest), dataset schemas (latest).
#[utoipa::path(get, path = "/api/v1/dictionary", tag = "dictionary", security(("api_key" = [])),
    responses((status = 200, body = Dictionary), (status = 401, body = Problem)))]
async fn export(State(st): State<AppState>, Auth(_): Auth) -> ApiResult<axum::Json<Dictionary>> {
    let core = st.core.clone();
    let d = blocking(move || core.export_dictionary()).await?;
    Ok(axum::Json(d.into()))
}

/// All data elements.
#[utoipa::path(get, path = "/api/v1/dictionary/elements", tag = "dictionary", security(("api_key" = [])),
    responses((status = 200, body = Vec<DataElement>), (status = 401, body = Problem)))]
async fn list_elements(
    State(st): State<AppState>,
    Auth(_): Auth,
) -> ApiResult<axum::Json<Vec<DataElement>>> {
    let core = st.core.clone();
    let elements = blocking(move || core.elements()).await?;
    Ok(axum::Json(
        elements.into_iter().map(DataElement::from).collect(),
    ))
}

/// Registers a data element (steward).
#[utoipa::path(post, path = "/api/v1/dictionary/elements", tag = "dictionary", security(("api_key" = [])),
    request_body = DataElement,
    responses((status = 201, body = DataElement,
               links(("GetElement" = (operation_id = "get_element", parameters(("id" = "$response.body#/id")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)))]
async fn create_element(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<DataElement>,
) -> ApiResult<(StatusCode, axum::Json<DataElement>)> {
    let cap = permitted(&st, &c, "element.create", None, |c| c.dictionary_admin()).await?;
    let e = body.read().await?;
    let core = st.core.clone();
    let e = blocking(move || core.create_element(&cap, e.into(), Utc::now())).await?;
    Ok((StatusCode::CREATED, axum::Json(e.into())))
}

/// One data element.
#[utoipa::path(get, path = "/api/v1/dictionary/elements/{id}", tag = "dictionary", security(("api_key" = [])),
    params(("id" = String, Path, description = "element id")),
    responses((status = 200, body = DataElement), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_element(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DataElement>> {
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || core.element(&id)).await?.into(),
    ))
}

/// A code list id with its latest version.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeListSummary {
    /// Code list id.
    pub id: String,
    /// Latest version.
    #[schema(minimum = 1)]
    pub version: u32,
}

/// All code lists.
#[utoipa::path(get, path = "/api/v1/code-lists", tag = "dictionary", security(("api_key" = [])),
    responses((status = 200, body = Vec<CodeListSummary>), (status = 401, body = Problem)))]
async fn list_code_lists(
    State(st): State<AppState>,
    Auth(_): Auth,
) -> ApiResult<axum::Json<Vec<CodeListSummary>>> {
    let core = st.core.clone();
    let lists = blocking(move || core.code_lists()).await?;
    Ok(axum::Json(
        lists
            .into_iter()
            .map(|(id, version)| CodeListSummary { id, version })
            .collect(),
    ))
}

/// `?version=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    version: Option<u32>,
}

/// A code list, at a version or the latest.
#[utoipa::path(get, path = "/api/v1/code-lists/{id}", tag = "dictionary", security(("api_key" = [])),
    params(("id" = String, Path, description = "code list id"),
           ("version" = Option<u32>, Query, minimum = 1, maximum = 4294967295_u64, description = "version (default latest)")),
    responses((status = 200, body = CodeList), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
async fn get_code_list(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<VersionQuery>,
) -> ApiResult<axum::Json<CodeList>> {
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || core.code_list(&id, q.version))
            .await?
            .into(),
    ))
}

/// Registers a code list or a new version of it (steward). The version is assigned by the
/// server; an unchanged list creates no version (200 instead of 201).
#[utoipa::path(put, path = "/api/v1/code-lists/{id}", tag = "dictionary", security(("api_key" = [])),
    params(("id" = String, Path, description = "code list id")),
    request_body = CodeList,
    responses((status = 201, body = CodeList,
               links(("GetCodeList" = (operation_id = "get_code_list", parameters(("id" = "$response.body#/id")))))),
              (status = 200, body = CodeList, description = "unchanged"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn put_code_list(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    body: JsonBody<CodeList>,
) -> ApiResult<(StatusCode, axum::Json<CodeList>)> {
    let cap = permitted(&st, &c, "code-list.put", None, |c| c.dictionary_admin()).await?;
    let l = body.read().await?;
    if l.id != id {
        return Err(ApiError::new(
            Code::IdMismatch,
            format!("the body's id {:?} differs from the path's {id:?}", l.id),
        ));
    }
    let core = st.core.clone();
    let (l, created) = blocking(move || core.put_code_list(&cap, l.into(), Utc::now())).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(l.into()),
    ))
}

/// A crosswalk without its pairs.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrosswalkSummary {
    /// The source list version, `id@version`.
    pub from: String,
    /// The target list version.
    pub to: String,
    /// Where the correspondence comes from.
    pub source: String,
    /// How many pairs it has.
    pub pairs: usize,
}

/// Every crosswalk between code list versions (without the pairs).
#[utoipa::path(get, path = "/api/v1/crosswalks", tag = "dictionary", security(("api_key" = [])),
    responses((status = 200, body = Vec<CrosswalkSummary>), (status = 401, body = Problem)))]
async fn list_crosswalks(
    State(st): State<AppState>,
    Auth(_): Auth,
) -> ApiResult<axum::Json<Vec<CrosswalkSummary>>> {
    let core = st.core.clone();
    let walks = blocking(move || core.crosswalks()).await?;
    Ok(axum::Json(
        walks
            .into_iter()
            .map(|w| CrosswalkSummary {
                from: w.from.to_string(),
                to: w.to.to_string(),
                source: w.source,
                pairs: w.pairs.len(),
            })
            .collect(),
    ))
}

fn list_ref(what: &str, text: &str) -> ApiResult<ndx_types::codes::CodeListRef> {
    text.parse()
        .map_err(|why| ApiError::new(Code::PathInvalid, format!("{what}: {why}")))
}

/// The crosswalk between two code list versions, as registered (it serves both directions).
#[utoipa::path(get, path = "/api/v1/crosswalks/{from}/{to}", tag = "dictionary", security(("api_key" = [])),
    params(("from" = String, Path, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}$", description = "a code list version, `id@version`"),
           ("to" = String, Path, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}$", description = "another code list version")),
    responses((status = 200, body = Crosswalk), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
async fn get_crosswalk(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path((from, to)): Path<(String, String)>,
) -> ApiResult<axum::Json<Crosswalk>> {
    let (from, to) = (list_ref("from", &from)?, list_ref("to", &to)?);
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || core.crosswalk(&from, &to)).await?.into(),
    ))
}

/// Registers (or replaces) the crosswalk from one code list version to another (dictionary
/// administrators). Both versions must exist and every code must be in its list; an unchanged
/// crosswalk answers 200.
#[utoipa::path(put, path = "/api/v1/crosswalks/{from}/{to}", tag = "dictionary", security(("api_key" = [])),
    params(("from" = String, Path, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}$", description = "the source list version, `id@version`"),
           ("to" = String, Path, pattern = "^[a-z][a-z0-9-]{0,63}@[1-9][0-9]{0,8}$", description = "the target list version")),
    request_body = Crosswalk,
    responses((status = 201, body = Crosswalk), (status = 200, body = Crosswalk, description = "unchanged"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn put_crosswalk(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path((from, to)): Path<(String, String)>,
    body: JsonBody<Crosswalk>,
) -> ApiResult<(StatusCode, axum::Json<Crosswalk>)> {
    let (from, to) = (list_ref("from", &from)?, list_ref("to", &to)?);
    let cap = permitted(&st, &c, "crosswalk.put", None, |c| c.dictionary_admin()).await?;
    let w = body.read().await?;
    if w.from != from || w.to != to {
        return Err(ApiError::new(
            Code::IdMismatch,
            format!(
                "the body joins {} to {}, the path {from} to {to}",
                w.from, w.to
            ),
        ));
    }
    let core = st.core.clone();
    let (w, created) = blocking(move || core.put_crosswalk(&cap, w.into(), Utc::now())).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(w.into()),
    ))
}

/// The latest schema of every dataset.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "dictionary", security(("api_key" = [])),
    responses((status = 200, body = Vec<DatasetSchema>), (status = 401, body = Problem)))]
async fn list_datasets(
    State(st): State<AppState>,
    Auth(_): Auth,
) -> ApiResult<axum::Json<Vec<DatasetSchema>>> {
    let core = st.core.clone();
    let datasets = blocking(move || core.datasets()).await?;
    Ok(axum::Json(
        datasets.into_iter().map(DatasetSchema::from).collect(),
    ))
}

/// A dataset with its record count.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetInfo {
    /// The latest schema.
    pub schema: DatasetSchema,
    /// Current (non-deleted) records.
    pub records: u64,
    /// Every schema version.
    pub versions: Vec<String>,
}

/// A dataset: latest schema, versions, record count.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}", tag = "dictionary", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id")),
    responses((status = 200, body = DatasetInfo), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_dataset(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path(dataset): Path<String>,
) -> ApiResult<axum::Json<DatasetInfo>> {
    let core = st.core.clone();
    let d = blocking(move || core.dataset_summary(&dataset)).await?;
    Ok(axum::Json(DatasetInfo {
        schema: d.schema.into(),
        records: d.records,
        versions: d.versions.iter().map(ToString::to_string).collect(),
    }))
}

/// Registers a new dataset with its first schema (steward, or a provider for its own member).
#[utoipa::path(post, path = "/api/v1/datasets", tag = "dictionary", security(("api_key" = [])),
    request_body = DatasetSchema,
    responses((status = 201, body = SchemaChange,
               links(("GetDataset" = (operation_id = "get_dataset", parameters(("dataset" = "$response.body#/schema/dataset")))),
                     ("GetSchema" = (operation_id = "get_schema", parameters(("dataset" = "$response.body#/schema/dataset")))),
                     ("ListRecords" = (operation_id = "list", parameters(("dataset" = "$response.body#/schema/dataset")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)))]
async fn create_dataset(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<DatasetSchema>,
) -> ApiResult<(StatusCode, axum::Json<SchemaChange>)> {
    permitted(&st, &c, "dataset.create", None, |c| c.may_define_datasets()).await?;
    let schema: ndx_types::dictionary::DatasetSchema = body.read().await?.into();
    let cap = c.dataset_define(&schema.owner)?;
    let core = st.core.clone();
    let change = blocking(move || core.create_dataset(&cap, schema, Utc::now())).await?;
    Ok((StatusCode::CREATED, axum::Json(change.into())))
}

/// `?major=true` asks for a new major version.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSchemaQuery {
    #[serde(default)]
    major: bool,
}

/// Registers a new version of a dataset's schema. Compatible changes (an optional field added,
/// descriptions, classifications) make a minor version; breaking changes are refused with 409
/// unless `?major=true`.
#[utoipa::path(put, path = "/api/v1/datasets/{dataset}/schema", tag = "dictionary", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"), ("major" = Option<bool>, Query, description = "register as a new major version")),
    request_body = DatasetSchema,
    responses((status = 201, body = SchemaChange), (status = 200, body = SchemaChange, description = "unchanged"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn put_schema(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(dataset): Path<String>,
    QueryParams(q): QueryParams<PutSchemaQuery>,
    body: JsonBody<DatasetSchema>,
) -> ApiResult<(StatusCode, axum::Json<SchemaChange>)> {
    let core = st.core.clone();
    let existing = {
        let core = core.clone();
        let d = dataset.clone();
        blocking(move || core.schema(&d, None)).await?
    };
    let cap = permitted(&st, &c, "schema.put", Some(&dataset), |c| {
        c.dataset_define(&existing.owner)
    })
    .await?;
    let schema: ndx_types::dictionary::DatasetSchema = body.read().await?.into();
    if schema.dataset != dataset {
        return Err(ApiError::new(
            Code::IdMismatch,
            format!(
                "the body's dataset {:?} differs from the path's {dataset:?}",
                schema.dataset
            ),
        ));
    }
    let change = blocking(move || core.put_schema(&cap, schema, q.major, Utc::now())).await?;
    let status = if change.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(change.into())))
}

/// The exports of a schema.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaFormat {
    /// The ndx schema itself.
    Native,
    /// JSON Schema 2020-12.
    JsonSchema,
    /// Frictionless Table Schema.
    TableSchema,
}

/// `?version=&format=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaQuery {
    version: Option<String>,
    format: Option<String>,
}

/// A dataset's schema: native, JSON Schema 2020-12 or Frictionless Table Schema.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/schema", tag = "dictionary", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("version" = Option<String>, Query, pattern = r"^[0-9]{1,9}\.[0-9]{1,9}$", description = "MAJOR.MINOR (default latest)"),
           ("format" = Option<SchemaFormat>, Query, description = "native (default), json-schema, table-schema")),
    responses((status = 200, body = SchemaDocument), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
async fn get_schema(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path(dataset): Path<String>,
    QueryParams(q): QueryParams<SchemaQuery>,
) -> ApiResult<axum::Json<SchemaDocument>> {
    let form = match q.format.as_deref() {
        None | Some("native") => SchemaExport::Native,
        Some("json-schema") => SchemaExport::JsonSchema,
        Some("table-schema") => SchemaExport::TableSchema,
        Some(other) => {
            return Err(ApiError::new(
                Code::FormatUnknown,
                format!("format {other:?} is not one of native, json-schema, table-schema"),
            ));
        }
    };
    let version = q.version.as_deref().map(parse_version).transpose()?;
    let core = st.core.clone();
    Ok(axum::Json(SchemaDocument(
        blocking(move || core.export_schema(&dataset, version, form)).await?,
    )))
}

/// Parses `MAJOR.MINOR`.
pub fn parse_version(s: &str) -> ApiResult<SchemaVersion> {
    let bad = || {
        ApiError::new(
            Code::VersionInvalid,
            format!("version {s:?} must be MAJOR.MINOR, e.g. 1.0"),
        )
    };
    let (a, b) = s.split_once('.').ok_or_else(bad)?;
    Ok(SchemaVersion {
        major: a.parse().map_err(|_| bad())?,
        minor: b.parse().map_err(|_| bad())?,
    })
}

/// Every version of a dataset's schema, oldest first.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/schema/versions", tag = "dictionary", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id")),
    responses((status = 200, body = Vec<String>), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn schema_versions(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path(dataset): Path<String>,
) -> ApiResult<axum::Json<Vec<String>>> {
    let core = st.core.clone();
    let v = blocking(move || core.schema_versions(&dataset)).await?;
    Ok(axum::Json(v.iter().map(ToString::to_string).collect()))
}
