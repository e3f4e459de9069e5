//! The HTTP edge of ndx, the only crate that knows HTTP and the JSON wire shapes: the axum
//! router ([`app`]), authentication, RFC 9457 problems, Prometheus metrics and the OpenAPI
//! document generated from the handlers.
#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod dictionary;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod records;
pub mod registry;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ndx_core::Core;
use serde::Serialize;
use utoipa::ToSchema;

use ndx_core::Code;

use crate::metrics::{LatencyLabels, Metrics, RouteLabels};
use crate::problem::{ApiError, ApiResult, REQUEST_ID};

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body of a record batch, in bytes.
    pub max_batch_bytes: u64,
    /// Largest JSON body of other requests, in bytes.
    pub max_json_bytes: usize,
    /// Time limit of ordinary requests.
    pub request_timeout: Duration,
    /// Time limit of a record batch upload.
    pub batch_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_bytes: 512 << 20,
            max_json_bytes: 4 << 20,
            request_timeout: Duration::from_secs(30),
            batch_timeout: Duration::from_secs(1800),
        }
    }
}

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// The services.
    pub core: Core,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub limits: Arc<Limits>,
}

impl AppState {
    /// State over a core with the given limits.
    pub fn new(core: Core, limits: Limits) -> Self {
        AppState {
            core,
            metrics: Arc::new(Metrics::default()),
            limits: Arc::new(limits),
        }
    }
}

/// Runs blocking core work off the async executor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ndx_core::Result<T> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ndx_core::Error::internal(format!("worker failed: {e}")).into()),
    }
}

/// The health document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the store answers.
    pub status: String,
    /// ndx version.
    pub version: String,
    /// Storage engine.
    pub store: String,
}

/// Liveness and readiness.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "the server and its store answer", body = Health),
              (status = 503, description = "the store does not answer", body = problem::Problem)))]
async fn health(State(st): State<AppState>) -> ApiResult<axum::Json<Health>> {
    let core = st.core.clone();
    blocking(move || core.check_store()).await?;
    Ok(axum::Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        store: st.core.engine_name().into(),
    }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// The OpenAPI 3.1 document of this server.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", body = wire::OpenApiDocument)))]
async fn openapi_json() -> Response {
    axum::Json(openapi::document()).into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        Code::RouteNotFound,
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// Gives every request an id (the caller's `x-request-id` if sane), times it, counts it.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "{:x}-{:x}",
                std::process::id(),
                REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)
            )
        });
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let mut resp = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    st.metrics
        .requests
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    st.metrics
        .latency
        .get_or_create(&LatencyLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    tracing::info!(request_id = %id, %method, %route, status, ms = elapsed.as_millis() as u64, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn timeout_after(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            Code::Timeout,
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let limits = state.limits.clone();
    let ordinary = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .merge(registry::routes())
        .merge(dictionary::routes())
        .merge(records::read_routes())
        .merge(audit::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_json_bytes))
        .layer(axum::middleware::from_fn({
            let t = limits.request_timeout;
            move |req, next| timeout_after(t, req, next)
        }));
    let batches = records::write_routes().layer(axum::middleware::from_fn({
        let t = limits.batch_timeout;
        move |req, next| timeout_after(t, req, next)
    }));
    ordinary
        .merge(batches)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A JSON request body, read only when the handler asks (after its permission check, so an
/// unauthorised caller learns nothing from body errors), with the size limit and precise
/// problems: wrong content type → 415, too large → 413, malformed JSON → 400, wrong shape → 422.
pub struct JsonBody<T> {
    content_type: Option<String>,
    body: axum::body::Body,
    limit: usize,
    _shape: std::marker::PhantomData<fn() -> T>,
}

impl<T> axum::extract::FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        Ok(JsonBody {
            content_type,
            body: req.into_body(),
            limit: state.limits.max_json_bytes,
            _shape: std::marker::PhantomData,
        })
    }
}

/// The media type of a Content-Type value: lowercased, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl<T: serde::de::DeserializeOwned> JsonBody<T> {
    /// Reads and parses the body.
    pub async fn read(self) -> ApiResult<T> {
        let ct = self.content_type.unwrap_or_default();
        if media_type(&ct) != "application/json" {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!("expected Content-Type application/json, found {ct:?}"),
            ));
        }
        let limit = self.limit;
        let bytes = axum::body::to_bytes(self.body, limit).await.map_err(|_| {
            ApiError::new(
                Code::BodyTooLarge,
                format!("the request body exceeds {limit} bytes"),
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            if e.is_data() {
                ApiError::new(Code::BodyInvalid, format!("request body: {e}"))
            } else {
                ApiError::new(
                    Code::BodyMalformed,
                    format!("request body is not valid JSON: {e}"),
                )
            }
        })
    }
}

/// Integers the API documents as `int64` (indexes, sizes, limits): a value above `i64::MAX` is
/// refused as a malformed query (`query-invalid`, 400) instead of being taken as a `u64`.
pub(crate) mod int64 {
    use serde::{Deserialize, Deserializer};

    fn check<E: serde::de::Error>(v: u64) -> Result<u64, E> {
        if v > i64::MAX as u64 {
            Err(E::custom(format!(
                "{v} is larger than the largest int64, {}",
                i64::MAX
            )))
        } else {
            Ok(v)
        }
    }

    /// A required `int64` of at least 0.
    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        check(u64::deserialize(d)?)
    }

    /// An optional `int64` of at least 0.
    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<u64>::deserialize(d)?.map(check).transpose()
    }
}

/// Query parameters parsed with a precise problem instead of axum's plain-text rejection.
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_from(q).map(QueryParams)
    }
}

fn serde_urlencoded_from<T: serde::de::DeserializeOwned>(q: &str) -> ApiResult<T> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::new(Code::QueryInvalid, "malformed query string"))?,
    )
    .map(|axum::extract::Query(t)| t)
    .map_err(|e| ApiError::new(Code::QueryInvalid, e.body_text()))
}
