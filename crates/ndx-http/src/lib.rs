//! The HTTP edge of ndx, the only crate that knows HTTP and the JSON wire shapes: the axum
//! router ([`app`]), authentication, RFC 9457 problems, Prometheus metrics and the OpenAPI
//! document generated from the handlers.
#![warn(missing_docs)]

pub mod address;
pub mod audit;
pub mod auth;
pub mod ckan;
pub mod connector;
pub mod dcat;
pub mod dictionary;
pub mod exchange;
pub mod fanout;
pub mod feed;
pub mod metrics;
pub mod open;
pub mod openapi;
pub mod problem;
pub mod push;
pub mod quality;
pub mod reconcile;
pub mod records;
pub mod registry;
pub mod server;
pub mod subscription;
pub mod web;
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
    /// Time a connection has to deliver a complete request head, counted from accept and from
    /// each response (so it is also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
    /// Connections open at once; at the bound the oldest idle one is closed to make room.
    pub max_connections: usize,
    /// Connections open at once from one client IP address; beyond it a newcomer gets `503`.
    pub max_connections_per_ip: usize,
    /// Longest request target (path and query), in bytes (`414` beyond).
    pub max_uri_bytes: usize,
    /// Largest request head (request line and header fields), in bytes (`431` beyond).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_bytes: 512 << 20,
            max_json_bytes: 4 << 20,
            request_timeout: Duration::from_secs(30),
            batch_timeout: Duration::from_secs(1800),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_ip: 256,
            max_uri_bytes: 8 << 10,
            max_header_bytes: 32 << 10,
        }
    }
}

/// Shared state of the server: one handle, since every request's extractors clone it (the
/// fields are reached through `Deref`).
#[derive(Clone)]
pub struct AppState(Arc<ServerState>);

impl std::ops::Deref for AppState {
    type Target = ServerState;
    fn deref(&self) -> &ServerState {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct ServerState {
    /// The services (a `Core` of its own would copy a dozen handles per clone).
    pub core: Arc<Core>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub limits: Arc<Limits>,
    /// Counts the batches this process commits (and, with a broker, other processes'
    /// commit notices): change-feed streams and the delivery worker wait on it.
    pub commits: tokio::sync::watch::Receiver<u64>,
    /// What moves `commits`.
    pub commit_signal: Arc<tokio::sync::watch::Sender<u64>>,
    /// The broker that coordinates the processes of one store, when configured.
    pub bus: Option<Arc<ndx_bus::Bus>>,
    /// The drivers connectors read their sources with.
    pub sources: Arc<dyn ndx_core::connector::SourceOpener>,
}

impl AppState {
    /// State over a core with the given limits.
    pub fn new(core: Core, limits: Limits) -> Self {
        let (count, commits) = tokio::sync::watch::channel(0u64);
        let commit_signal = Arc::new(count);
        let signal = commit_signal.clone();
        core.on_commit(move |_| signal.send_modify(|n| *n = n.wrapping_add(1)));
        AppState(Arc::new(ServerState {
            core: Arc::new(core),
            metrics: Arc::new(Metrics::default()),
            limits: Arc::new(limits),
            commits,
            commit_signal,
            bus: None,
            sources: Arc::new(ndx_connect::Drivers::default()),
        }))
    }

    /// The same state, coordinated with other processes through `bus` (start
    /// [`fanout::start`] and [`push::deliveries`] with it).
    pub fn with_bus(mut self, bus: Arc<ndx_bus::Bus>) -> Self {
        Arc::make_mut(&mut self.0).bus = Some(bus);
        self
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

/// Runs a request's short core work (reads, the decision, handing its audit event over) so
/// that no thread waits on a commit: in place on the async worker when the store's reads are
/// local ([`ndx_core::Core::reads_in_place`]: no hand-off to a blocking thread and back),
/// otherwise on a blocking thread. Either way under [`ndx_core::deferred::in_place`]: a refusal's
/// audit event is awaited here before the refusal is answered, and a due write of the quota
/// counts goes to a blocking thread.
pub async fn served<T: Send + 'static>(
    core: &ndx_core::Core,
    f: impl FnOnce() -> ndx_core::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let (result, deferred) = if core.reads_in_place() {
        // A panic answers 500, as on a blocking thread, instead of ending the connection.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ndx_core::deferred::in_place(f)
        })) {
            Ok(done) => done,
            Err(_) => return Err(ndx_core::Error::internal("worker failed: it panicked").into()),
        }
    } else {
        match tokio::task::spawn_blocking(move || ndx_core::deferred::in_place(f)).await {
            Ok(done) => done,
            Err(e) => return Err(ndx_core::Error::internal(format!("worker failed: {e}")).into()),
        }
    };
    if deferred.quotas_due() {
        let core = core.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = core.save_quotas() {
                tracing::warn!("quota counts not saved yet: {e}");
            }
        });
    }
    deferred.refusals_recorded().await?;
    result.map_err(ApiError::from)
}

/// Checks a capability of the caller; a refusal is recorded in the audit log (on a blocking
/// thread: the append waits for its commit) before it is answered, like a refused data request.
pub(crate) async fn permitted<T>(
    st: &AppState,
    caller: &ndx_core::access::Caller,
    operation: &'static str,
    dataset: Option<&str>,
    check: impl FnOnce(&ndx_core::access::Caller) -> ndx_core::Result<T>,
) -> ApiResult<T> {
    match check(caller) {
        Ok(cap) => Ok(cap),
        Err(refusal) => {
            let core = st.core.clone();
            let caller = caller.clone();
            let dataset = dataset.map(str::to_owned);
            Err(blocking(move || -> ndx_core::Result<()> {
                Err(core.audit_refusal(&caller, operation, dataset.as_deref(), refusal))
            })
            .await
            .expect_err("a refusal stays a refusal"))
        }
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
    // Subscription lag is read at the scrape, so a caught-up subscription never shows the lag
    // the delivery worker saw on its last pass.
    let core = st.core.clone();
    let looks = match tokio::task::spawn_blocking(move || {
        core.subscription_looks(chrono::Utc::now())
    })
    .await
    {
        Ok(Ok(looks)) => Some(looks),
        Ok(Err(e)) => {
            tracing::warn!("subscription lag not read: {e}");
            None
        }
        Err(e) => {
            tracing::error!("subscription lag: {e}");
            None
        }
    };
    let text = push::render_with_lag(&st, looks.as_deref());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
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

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!(
            "{} is not allowed on {} (the Allow header lists the methods that are)",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Refuses a request target longer than the limit (`414`) and a path whose percent-decoded
/// bytes are not UTF-8 or hold a control character (`400 path-invalid`), before any extractor
/// answers in plain text.
async fn check_target(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > limits.max_uri_bytes {
        return ApiError::new(
            Code::UriTooLong,
            format!(
                "the request target is {target_len} bytes, longer than the {} bytes accepted",
                limits.max_uri_bytes
            ),
        )
        .into_response();
    }
    if let Err(why) = check_decoded_path(req.uri().path()) {
        return ApiError::new(
            Code::PathInvalid,
            format!("the path {:?} {why}", req.uri().path()),
        )
        .into_response();
    }
    next.run(req).await
}

/// Checks a path once percent-decoded: UTF-8, and no control character (no identifier, key or
/// name of ndx holds one, so a path with one names nothing; refused here, every engine and
/// every route answers it alike). Says what is wrong.
fn check_decoded_path(path: &str) -> Result<(), String> {
    let raw = path.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if raw[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            decoded.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            decoded.push(raw[i]);
            i += 1;
        }
    }
    let text = std::str::from_utf8(&decoded).map_err(|e| {
        format!(
            "is not UTF-8 once percent-decoded (at byte {})",
            e.valid_up_to()
        )
    })?;
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "holds the control character U+{:04X} once percent-decoded",
            u32::from(c)
        )),
        None => Ok(()),
    }
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
        .merge(exchange::routes())
        .merge(feed::routes())
        .merge(connector::routes())
        .merge(subscription::routes())
        .merge(reconcile::routes())
        .merge(address::routes())
        .merge(quality::routes())
        .merge(open::routes())
        .merge(ckan::routes())
        .merge(dcat::routes())
        .merge(web::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_json_bytes))
        .layer(axum::middleware::from_fn({
            let t = limits.request_timeout;
            move |req, next| timeout_after(t, req, next)
        }));
    let batches = records::write_routes()
        .merge(
            web::upload_routes().layer(axum::extract::DefaultBodyLimit::max(
                // The form's fields and boundaries around the file: the file itself is held
                // to the batch limit as it is read.
                usize::try_from(limits.max_batch_bytes)
                    .unwrap_or(usize::MAX)
                    .saturating_add(64 << 10),
            )),
        )
        .layer(axum::middleware::from_fn({
            let t = limits.batch_timeout;
            move |req, next| timeout_after(t, req, next)
        }));
    ordinary
        .merge(batches)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(limits, check_target))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serves `app` on `listener` with the connection limits of `state` ([`server`]) until
/// `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, state, shutdown).await
}

/// A JSON request body, read only when the handler asks (after its permission check, so an
/// unauthorised caller learns nothing from body errors), with the size limit and precise
/// problems: wrong content type → 415, too large → 413, malformed JSON → 400, wrong shape → 422.
pub struct JsonBody<T> {
    content_type: Option<HeaderValue>,
    body: axum::body::Body,
    limit: usize,
    _shape: std::marker::PhantomData<fn() -> T>,
}

impl<T> axum::extract::FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req.headers().get(axum::http::header::CONTENT_TYPE).cloned();
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

/// A request's Content-Type, checked to be visible ASCII.
#[derive(Debug, Clone)]
pub struct ContentType {
    /// The value as sent.
    pub raw: String,
    /// The media type, lowercased, without parameters.
    pub media: String,
    /// The `charset` parameter, lowercased and unquoted, if any.
    pub charset: Option<String>,
}

impl ContentType {
    /// Parses a Content-Type value; a byte other than visible ASCII, space or tab (a DEL, a
    /// control character, anything non-ASCII) is `400 header-invalid`.
    pub fn parse(value: &HeaderValue) -> ApiResult<ContentType> {
        let bytes = value.as_bytes();
        if let Some((at, byte)) = bytes
            .iter()
            .enumerate()
            .find(|(_, b)| !(b.is_ascii_graphic() || **b == b' ' || **b == b'\t'))
        {
            return Err(ApiError::new(
                Code::HeaderInvalid,
                format!(
                    "the Content-Type header holds the byte 0x{byte:02X} at offset {at}; it must \
                     be visible ASCII, e.g. \"application/json\""
                ),
            ));
        }
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let mut parts = raw.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let charset = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
            .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
        Ok(ContentType {
            raw,
            media,
            charset,
        })
    }

    /// Refuses (`415 charset-unsupported`) a charset ndx does not decode: bodies are read as
    /// UTF-8, and US-ASCII is accepted as its subset.
    pub fn require_utf8(&self) -> ApiResult<()> {
        match self.charset.as_deref() {
            None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => Ok(()),
            Some(other) => Err(ApiError::new(
                Code::CharsetUnsupported,
                format!(
                    "charset {other:?} is not accepted: ndx reads bodies as UTF-8; send UTF-8 \
                     with charset=utf-8 (us-ascii, its subset, is accepted too) or no charset"
                ),
            )),
        }
    }
}

impl<T: serde::de::DeserializeOwned> JsonBody<T> {
    /// Reads and parses a body that may be left out: no Content-Type and no bytes is `None`;
    /// anything else is read as [`JsonBody::read`] reads it.
    pub async fn read_optional(self) -> ApiResult<Option<T>> {
        if self.content_type.is_some() {
            return self.read().await.map(Some);
        }
        let limit = self.limit;
        let bytes = axum::body::to_bytes(self.body, limit).await.map_err(|_| {
            ApiError::new(
                Code::BodyTooLarge,
                format!("the request body exceeds {limit} bytes"),
            )
        })?;
        if bytes.is_empty() {
            Ok(None)
        } else {
            Err(ApiError::new(
                Code::UnsupportedMediaType,
                "expected Content-Type application/json, found none",
            ))
        }
    }

    /// Reads and parses the body.
    pub async fn read(self) -> ApiResult<T> {
        let ct = self
            .content_type
            .as_ref()
            .map(ContentType::parse)
            .transpose()?;
        if ct.as_ref().map(|c| c.media.as_str()) != Some("application/json") {
            let found = ct.map_or_else(|| "none".to_owned(), |c| format!("{:?}", c.raw));
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!("expected Content-Type application/json, found {found}"),
            ));
        }
        if let Some(ct) = &ct {
            ct.require_utf8()?;
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
