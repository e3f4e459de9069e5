//! Open data at the edge: packages and their releases under `/api/v1/packages` (read by
//! anyone; defined and released by the source dataset's owner's providers and the stewards),
//! and the release files under `/download/{package}/{release}/{file}` — public, streamed from
//! the store's blob area with `ETag` (the SHA-256), `If-None-Match` (304) and single byte
//! ranges (`Range`, 206, 416).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use ndx_core::Code;
use ndx_core::publish::Use;
use ndx_types::open::{Package, PackageUsage, Release, ReleaseFile};

use crate::auth::Auth;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::{AppState, JsonBody, blocking};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/packages", get(list_packages))
        .route("/api/v1/packages/{name}", get(get_package).put(put_package))
        .route(
            "/api/v1/packages/{name}/releases",
            get(list_releases).post(publish),
        )
        .route(
            "/api/v1/packages/{name}/releases/{number}",
            get(get_release),
        )
        .route("/api/v1/packages/{name}/usage", get(package_usage))
        .route("/api/v1/open-data/usage", get(usage_overview))
        .route("/download/{name}/{number}/{file}", get(download))
}

/// How often the node looks for scheduled releases that are due.
const SCHEDULE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Makes the scheduled releases that are due, once a minute, until aborted.
pub async fn release_worker(st: AppState) {
    let mut tick = tokio::time::interval(SCHEDULE_EVERY);
    loop {
        tick.tick().await;
        let core = st.core.clone();
        match tokio::task::spawn_blocking(move || core.publish_due(Utc::now())).await {
            Ok(Ok(made)) => {
                for r in made {
                    tracing::info!(package = %r.package, release = r.number, rows = r.rows, "scheduled release made");
                }
            }
            Ok(Err(e)) => tracing::warn!("scheduled releases not looked for: {e}"),
            Err(e) => tracing::warn!("the release worker failed: {e}"),
        }
    }
}

/// Bytes read from the blob area per piece of a download.
const PIECE: u64 = 1 << 20;

/// Every open-data package (public).
#[utoipa::path(get, path = "/api/v1/packages", tag = "open data",
    responses((status = 200, description = "the packages, by name", body = Vec<Package>)))]
async fn list_packages(State(st): State<AppState>) -> ApiResult<axum::Json<Vec<Package>>> {
    let core = st.core.clone();
    Ok(axum::Json(blocking(move || core.packages()).await?))
}

/// One package (public).
#[utoipa::path(get, path = "/api/v1/packages/{name}", tag = "open data",
    params(("name" = String, Path, description = "package name")),
    responses((status = 200, description = "the package", body = Package), (status = 404, body = Problem)))]
async fn get_package(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Package>> {
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || {
            let package = core.package(&name)?;
            core.count_use(&package.name, Use::View);
            Ok(package)
        })
        .await?,
    ))
}

/// A package's use: totals and per day.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// The package.
    pub package: String,
    /// Reads of its description, in all.
    pub views: u64,
    /// Downloads of its files, in all.
    pub downloads: u64,
    /// API calls on its rows and resources, in all.
    pub api_calls: u64,
    /// Per day (UTC), oldest first; days without use left out.
    pub days: Vec<PackageUsage>,
}

impl UsageReport {
    fn of(package: String, days: Vec<PackageUsage>) -> Self {
        UsageReport {
            views: days.iter().map(|d| d.views).sum(),
            downloads: days.iter().map(|d| d.downloads).sum(),
            api_calls: days.iter().map(|d| d.api_calls).sum(),
            package,
            days,
        }
    }
}

/// A package's use — views, downloads, API calls — in all and per day (public, like CKAN's
/// tracking summary).
#[utoipa::path(get, path = "/api/v1/packages/{name}/usage", tag = "open data",
    params(("name" = String, Path, description = "package name")),
    responses((status = 200, description = "the package's use", body = UsageReport), (status = 404, body = Problem)))]
async fn package_usage(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<UsageReport>> {
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || Ok(UsageReport::of(name.clone(), core.package_usage(&name)?))).await?,
    ))
}

/// Every package's use, in all and per day, by package (public): the open-data indicators.
#[utoipa::path(get, path = "/api/v1/open-data/usage", tag = "open data",
    responses((status = 200, description = "each package's use", body = Vec<UsageReport>)))]
async fn usage_overview(State(st): State<AppState>) -> ApiResult<axum::Json<Vec<UsageReport>>> {
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || {
            core.packages()?
                .into_iter()
                .map(|p| {
                    Ok(UsageReport::of(
                        p.name.clone(),
                        core.package_usage(&p.name)?,
                    ))
                })
                .collect::<ndx_core::Result<Vec<_>>>()
        })
        .await?,
    ))
}

/// Defines an open-data package, or a new definition of it (the source dataset's owner's
/// providers, or a steward): a view of the dataset (columns, possibly transformed; filters;
/// rows or counts), its description and licence, and the privacy its releases must reach.
/// A column of a personal field whose element identifies a person is refused
/// (`direct-identifier`), and every other personal column of micro-data must be declared a
/// quasi-identifier or sensitive (`privacy-undeclared`).
#[utoipa::path(put, path = "/api/v1/packages/{name}", tag = "open data", security(("api_key" = [])),
    params(("name" = String, Path, description = "package name: 2-100 of a-z, 0-9, -, _")),
    request_body(content = Package, description = "the package (its `name` equal to the path's)"),
    responses((status = 201, description = "registered", body = Package), (status = 200, description = "updated or unchanged", body = Package),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)))]
async fn put_package(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(name): Path<String>,
    body: JsonBody<Package>,
) -> ApiResult<(StatusCode, axum::Json<Package>)> {
    let package = body.read().await?;
    if package.name != name {
        return Err(ApiError::new(
            Code::IdMismatch,
            format!(
                "the body's name {:?} differs from the path's {name:?}",
                package.name
            ),
        ));
    }
    let core = st.core.clone();
    let (package, created) = blocking(move || core.put_package(&c, package, Utc::now())).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(package)))
}

/// A package's releases, oldest first (public).
#[utoipa::path(get, path = "/api/v1/packages/{name}/releases", tag = "open data",
    params(("name" = String, Path, description = "package name")),
    responses((status = 200, description = "the releases", body = Vec<Release>), (status = 404, body = Problem)))]
async fn list_releases(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Vec<Release>>> {
    let core = st.core.clone();
    Ok(axum::Json(blocking(move || core.releases(&name)).await?))
}

/// Makes the next release of a package: the source dataset read as its owner lists it, the
/// view applied, the privacy gate passed (k-anonymity and l-diversity by generalisation and
/// suppression, or counts under k suppressed), the files written with their SHA-256. A
/// release that cannot reach the declared privacy is refused and nothing is kept.
#[utoipa::path(post, path = "/api/v1/packages/{name}/releases", tag = "open data", security(("api_key" = [])),
    params(("name" = String, Path, description = "package name")),
    responses((status = 201, description = "the release", body = Release), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, description = "the declared privacy cannot be reached (`anonymisation-unreachable`), or the package no longer fits its dataset", body = Problem)))]
async fn publish(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Release>)> {
    let core = st.core.clone();
    let release = blocking(move || core.publish_release(&c, &name, Utc::now())).await?;
    Ok((StatusCode::CREATED, axum::Json(release)))
}

fn release_number(text: &str) -> ApiResult<u32> {
    text.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
        ApiError::new(
            Code::ReleaseNotFound,
            format!("{text:?} is not a release number"),
        )
    })
}

/// One release (public).
#[utoipa::path(get, path = "/api/v1/packages/{name}/releases/{number}", tag = "open data",
    params(("name" = String, Path, description = "package name"), ("number" = u32, Path, minimum = 1, description = "release number")),
    responses((status = 200, description = "the release", body = Release), (status = 404, body = Problem)))]
async fn get_release(
    State(st): State<AppState>,
    Path((name, number)): Path<(String, String)>,
) -> ApiResult<axum::Json<Release>> {
    let number = release_number(&number)?;
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || core.package_release(&name, number)).await?,
    ))
}

/// The single byte range a `Range` header asks for, within `size` bytes: `None` for the whole
/// file (no header, or one this server does not serve as a range, such as several ranges).
fn byte_range(headers: &HeaderMap, size: u64) -> ApiResult<Option<(u64, u64)>> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let Some(spec) = value.to_str().ok().and_then(|v| v.strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((from, to)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ApiError::new(
            Code::RangeNotSatisfiable,
            format!("the file has {size} bytes; range {spec:?} lies outside it"),
        )
    };
    let (start, end) = match (from.parse::<u64>().ok(), to.parse::<u64>().ok()) {
        (Some(s), Some(e)) if s <= e => (s, e.min(size.saturating_sub(1))),
        (Some(s), None) if to.is_empty() => (s, size.saturating_sub(1)),
        (None, Some(n)) if from.is_empty() && n > 0 => {
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end - start + 1)))
}

/// A release file, public: streamed, with `ETag` (its SHA-256), `If-None-Match` and one byte
/// range per request (`Range: bytes=…` → 206 with `Content-Range`; beyond the end → 416).
#[utoipa::path(get, path = "/download/{name}/{number}/{file}", tag = "open data",
    params(("name" = String, Path, description = "package name"), ("number" = u32, Path, minimum = 1, description = "release number"),
           ("file" = String, Path, description = "file name, e.g. `population-by-province-r1.csv`"),
           ("Range" = Option<String>, Header, description = "one byte range, `bytes=START-END`"),
           ("If-None-Match" = Option<String>, Header, description = "the ETag already held")),
    responses((status = 200, description = "the file", content((String = "text/csv"), (String = "application/json"), (String = "application/vnd.apache.parquet"))),
              (status = 206, description = "the byte range asked for"), (status = 304, description = "unchanged"),
              (status = 404, body = Problem), (status = 416, body = Problem)))]
async fn download(
    State(st): State<AppState>,
    Path((name, number, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let number = release_number(&number)?;
    let core = st.core.clone();
    let release = blocking(move || core.package_release(&name, number)).await?;
    let Some(found) = release.files.iter().find(|f| f.name == file).cloned() else {
        return Err(ApiError::new(
            Code::ReleaseNotFound,
            format!(
                "release {} of {:?} has no file {file:?}",
                release.number, release.package
            ),
        ));
    };
    let etag = format!("\"{}\"", found.sha256);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let range = byte_range(&headers, found.bytes)?;
    let (start, len) = range.unwrap_or((0, found.bytes));
    // A download counts once, by its first byte: the ranges that resume it do not.
    if start == 0 {
        let core = st.core.clone();
        let package = release.package.clone();
        blocking(move || {
            core.count_use(&package, Use::Download);
            Ok(())
        })
        .await?;
    }
    let mut response = Response::builder()
        .status(if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header(header::CONTENT_TYPE, content_type(&found))
        .header(header::CONTENT_LENGTH, len)
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", found.name),
        );
    if range.is_some() {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{}", start + len - 1, found.bytes),
        );
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let core = st.core.clone();
    tokio::task::spawn_blocking(move || {
        let mut at = start;
        let end = start + len;
        while at < end {
            let n = PIECE.min(end - at);
            let mut piece = Vec::with_capacity(n as usize);
            if let Err(e) = core.read_release_file(&found, at, n, &mut piece) {
                tracing::warn!("download of {} stopped: {e}", found.name);
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
            if tx.blocking_send(Ok(piece)).is_err() {
                return; // the client went away
            }
            at += n;
        }
    });
    let body = Body::from_stream(crate::exchange::tokio_stream_from(rx));
    response
        .body(body)
        .map_err(|e| ApiError::new(Code::Internal, format!("building the download: {e}")))
}

fn content_type(file: &ReleaseFile) -> HeaderValue {
    HeaderValue::from_str(match file.format.as_str() {
        "csv" => "text/csv; charset=utf-8",
        _ => "application/json",
    })
    .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}
