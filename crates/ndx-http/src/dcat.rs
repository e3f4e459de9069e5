//! The node's published descriptions, public and unauthenticated: the open-data catalogue as
//! DCAT-AP 3 (`/catalog.jsonld`, `/catalog.ttl`) for harvesters, and the national data
//! strategy's lists of original, master, open and shared data (`/api/v1/data-lists`, each list
//! as JSON, CSV, JSON-LD or Turtle, for the country or one agency). All are computed from the
//! catalogue and the dictionary when asked, so they are always current.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ndx_core::Code;
use ndx_core::publish::{DataList, ListedDataset};
use serde::{Deserialize, Serialize};

use crate::ckan::base_url;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::{AppState, QueryParams, blocking};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/catalog.jsonld", get(catalog_jsonld))
        .route("/catalog.ttl", get(catalog_ttl))
        .route("/api/v1/data-lists", get(list_index))
        .route("/api/v1/data-lists/{file}", get(one_list))
}

/// The two forms an RDF graph is served in.
#[derive(Debug, Clone, Copy)]
enum Rdf {
    JsonLd,
    Turtle,
}

impl Rdf {
    /// The graph written in this form, as an answer.
    fn answer(self, graph: &ndx_core::dcat::Graph) -> ndx_core::Result<Response> {
        let (body, media_type) = match self {
            Rdf::JsonLd => (graph.json_ld()?, "application/ld+json"),
            Rdf::Turtle => (graph.turtle()?, "text/turtle; charset=utf-8"),
        };
        Ok(([(header::CONTENT_TYPE, media_type)], body).into_response())
    }
}

/// A JSON-LD document as ndx writes it: the prefixes, then every node with its properties.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JsonLdDocument {
    /// The prefixes (`dcat`, `dct`, `foaf`, …) and their namespaces.
    #[serde(rename = "@context")]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// The nodes: each an `@id` with its properties by full IRI.
    #[serde(rename = "@graph")]
    pub graph: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The open-data catalogue at the address the client used, in one form.
async fn catalog(st: AppState, headers: HeaderMap, form: Rdf) -> ApiResult<Response> {
    let base = base_url(&headers);
    let core = st.core.clone();
    let about = format!("{base}/catalog");
    blocking(move || form.answer(&core.open_catalog_graph(&base, about)?)).await
}

/// The open-data catalogue in DCAT-AP 3, JSON-LD: each package a `dcat:Dataset`, each file of
/// its latest release a `dcat:Distribution` (public).
#[utoipa::path(get, path = "/catalog.jsonld", tag = "open data",
    responses((status = 200, description = "the catalogue", content((JsonLdDocument = "application/ld+json")))))]
async fn catalog_jsonld(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    catalog(st, headers, Rdf::JsonLd).await
}

/// The open-data catalogue in DCAT-AP 3, Turtle (public).
#[utoipa::path(get, path = "/catalog.ttl", tag = "open data",
    responses((status = 200, description = "the catalogue", content((String = "text/turtle")))))]
async fn catalog_ttl(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    catalog(st, headers, Rdf::Turtle).await
}

/// One of the strategy's lists, for the country and per agency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DataListSummary {
    /// `original`, `master`, `open` or `shared`.
    pub list: String,
    /// Datasets on the national list.
    pub datasets: usize,
    /// Datasets per agency (member code), agencies with none left out.
    pub members: std::collections::BTreeMap<String, usize>,
    /// Where the list is, in each form (`?member=CODE` for one agency's).
    pub forms: Vec<String>,
}

/// The strategy's lists with how many datasets each holds, nationally and per agency (public).
#[utoipa::path(get, path = "/api/v1/data-lists", tag = "open data",
    responses((status = 200, description = "the lists", body = Vec<DataListSummary>)))]
async fn list_index(State(st): State<AppState>) -> ApiResult<axum::Json<Vec<DataListSummary>>> {
    let core = st.core.clone();
    let lists = blocking(move || {
        DataList::ALL
            .into_iter()
            .map(|list| {
                let listed = core.data_list(list, None)?;
                let mut members = std::collections::BTreeMap::new();
                for d in &listed {
                    *members.entry(d.schema.owner.clone()).or_insert(0) += 1;
                }
                Ok(DataListSummary {
                    list: list.name().to_owned(),
                    datasets: listed.len(),
                    members,
                    forms: ["json", "csv", "jsonld", "ttl"]
                        .iter()
                        .map(|ext| format!("/api/v1/data-lists/{}.{ext}", list.name()))
                        .collect(),
                })
            })
            .collect::<ndx_core::Result<Vec<_>>>()
    })
    .await?;
    Ok(axum::Json(lists))
}

/// Which agency's list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A member code: that agency's list (default: the national one).
    pub member: Option<String>,
}

/// A dataset on one of the strategy's lists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedDatasetView {
    /// Dataset id.
    pub dataset: String,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    pub title_en: String,
    /// What it holds.
    pub description: String,
    /// Owning member's code.
    pub owner: String,
    /// Owning member's name in Vietnamese.
    pub owner_name_vi: String,
    /// Owning member's name in English.
    pub owner_name_en: String,
    /// The original copy of its data.
    pub original: bool,
    /// Master data.
    pub master: bool,
    /// `open`, `shared` or `restricted`.
    pub openness: String,
    /// Current schema version, `MAJOR.MINOR`.
    pub schema_version: String,
    /// Open-data packages published from it.
    pub packages: Vec<String>,
}

impl From<&ListedDataset> for ListedDatasetView {
    fn from(d: &ListedDataset) -> Self {
        let s = &d.schema;
        ListedDatasetView {
            dataset: s.dataset.clone(),
            title_vi: s.title_vi.clone(),
            title_en: s.title_en.clone(),
            description: s.description.clone(),
            owner: s.owner.clone(),
            owner_name_vi: d.owner.name_vi.clone(),
            owner_name_en: d.owner.name_en.clone(),
            original: s.original,
            master: s.master,
            openness: match s.openness {
                ndx_types::dictionary::Openness::Open => "open",
                ndx_types::dictionary::Openness::Shared => "shared",
                ndx_types::dictionary::Openness::Restricted => "restricted",
            }
            .to_owned(),
            schema_version: s.version.to_string(),
            packages: d.packages.clone(),
        }
    }
}

const LIST_COLUMNS: [&str; 12] = [
    "dataset",
    "title_vi",
    "title_en",
    "description",
    "owner",
    "owner_name_vi",
    "owner_name_en",
    "original",
    "master",
    "openness",
    "schema_version",
    "packages",
];

fn list_csv(listed: &[ListedDataset]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::new(Code::Internal, format!("writing the list: {e}"));
    w.write_record(LIST_COLUMNS).map_err(fail)?;
    for d in listed {
        let v = ListedDatasetView::from(d);
        w.write_record([
            v.dataset,
            v.title_vi,
            v.title_en,
            v.description,
            v.owner,
            v.owner_name_vi,
            v.owner_name_en,
            v.original.to_string(),
            v.master.to_string(),
            v.openness,
            v.schema_version,
            v.packages.join(";"),
        ])
        .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::new(Code::Internal, format!("writing the list: {e}")))
}

/// One of the strategy's lists — `original`, `master`, `open` or `shared` — nationally or for
/// one agency (`?member=`), as JSON, CSV, DCAT-AP JSON-LD or Turtle by the file's extension
/// (public). The lists describe datasets, never their records.
#[utoipa::path(get, path = "/api/v1/data-lists/{file}", tag = "open data",
    params(("file" = String, Path, pattern = "^(original|master|open|shared)\\.(json|csv|jsonld|ttl)$", description = "the list and its form, e.g. `original.csv`"),
           ListQuery),
    responses((status = 200, description = "the list", content((Vec<ListedDatasetView> = "application/json"), (String = "text/csv"),
                  (JsonLdDocument = "application/ld+json"), (String = "text/turtle"))),
              (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn one_list(
    State(st): State<AppState>,
    Path(file): Path<String>,
    QueryParams(q): QueryParams<ListQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (name, ext) = file.rsplit_once('.').ok_or_else(|| {
        ApiError::new(
            Code::DataListNotFound,
            format!("{file:?} names no list: ask for LIST.json, .csv, .jsonld or .ttl"),
        )
    })?;
    let list = DataList::parse(name)?;
    let base = base_url(&headers);
    let core = st.core.clone();
    let member = q.member;
    let about = format!(
        "{base}/api/v1/data-lists/{}{}",
        list.name(),
        member
            .as_deref()
            .map(|m| format!("?member={m}"))
            .unwrap_or_default()
    );
    match ext {
        "json" => {
            let listed = blocking(move || core.data_list(list, member.as_deref())).await?;
            Ok(axum::Json(
                listed
                    .iter()
                    .map(ListedDatasetView::from)
                    .collect::<Vec<_>>(),
            )
            .into_response())
        }
        "csv" => {
            let listed = blocking(move || core.data_list(list, member.as_deref())).await?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}.csv\"", list.name()),
                    ),
                ],
                list_csv(&listed)?,
            )
                .into_response())
        }
        "jsonld" | "ttl" => {
            let form = if ext == "ttl" {
                Rdf::Turtle
            } else {
                Rdf::JsonLd
            };
            blocking(move || {
                form.answer(&core.data_list_graph(&base, about, list, member.as_deref())?)
            })
            .await
        }
        other => Err(ApiError::new(
            Code::DataListNotFound,
            format!("no form {other:?}: the lists are served as .json, .csv, .jsonld and .ttl"),
        )),
    }
}
