//! The consumer's change feed: `GET /api/v1/exchange/datasets/{dataset}/changes` under an
//! agreement that allows `subscribe`. As JSON it answers one page after `after`; with
//! `Accept: text/event-stream` it streams Server-Sent Events whose `id` is the position and
//! resumes after `Last-Event-ID`. Every page is decided afresh (a revoked key or agreement
//! ends the stream at its next page) and audited before it leaves.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use ndx_core::Code;
use ndx_core::access::ExchangeRead;
use ndx_core::feed::{FeedChange, FeedPage};
use ndx_types::exchange::Operation;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Credentials;
use crate::exchange::{FieldsQuery, asked_fields, page_limit, purpose, tokio_stream_from};
use crate::problem::{ApiError, ApiResult};
use crate::{AppState, QueryParams, blocking};

/// How often an idle stream looks at the feed's head (a read of one row, not audited) when no
/// commit of this process woke it: what finds other processes' commits.
const STREAM_POLL: Duration = Duration::from_secs(1);

/// An idle stream sends a comment this often, so that proxies and clients keep it open.
const STREAM_HEARTBEAT: Duration = Duration::from_secs(15);

/// Changes a stream asks for at a time.
const STREAM_PAGE: usize = 500;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/exchange/datasets/{dataset}/changes", get(changes))
}

/// One change as a consumer receives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeOut {
    /// Its position in the dataset's feed (gap-free, in commit order).
    pub position: u64,
    /// The record key.
    pub key: String,
    /// The version it wrote.
    pub version: u64,
    /// `upsert` (created or updated) or `delete`.
    #[schema(example = "upsert")]
    pub op: String,
    /// When the version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The agreed fields of an upsert; empty for a delete.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesOut {
    /// The changes released, in position order.
    pub changes: Vec<ChangeOut>,
    /// Pass as `after` for the next page: the last position this page read (past withheld
    /// changes too), or `after` itself when nothing was new.
    pub next: u64,
    /// Changes of this page withheld because their data subject has not consented.
    pub withheld: u64,
    /// The feed's head when the page was read.
    pub head: u64,
    /// The agreement the page was released under.
    pub agreement: String,
}

pub(crate) fn change_out(c: FeedChange) -> ChangeOut {
    ChangeOut {
        position: c.position,
        key: c.key,
        version: c.version,
        op: c.op.name().to_owned(),
        recorded_at: c.recorded_at,
        data: c.data,
    }
}

fn position(what: &str, raw: &str) -> ApiResult<u64> {
    raw.trim().parse::<u64>().map_err(|_| {
        ApiError::new(
            Code::FeedPositionInvalid,
            format!(
                "{what} must be a feed position (a whole number, 0 for the start), found {raw:?}"
            ),
        )
    })
}

/// Whether the client asks for a Server-Sent Events stream.
fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .any(|r| crate::media_type(r) == "text/event-stream")
        })
}

/// What every page of a request is decided with.
#[derive(Clone)]
struct FeedRequest {
    credentials: Credentials,
    dataset: String,
    purpose: Option<String>,
    fields: Option<Vec<String>>,
    /// `field = value` filters on released fields.
    filters: Vec<(String, String)>,
}

impl FeedRequest {
    /// Decides the request afresh: key, agreement, purpose, fields (a refusal is audited).
    fn decide(self, core: &ndx_core::Core) -> ndx_core::Result<ExchangeRead> {
        let caller = self.credentials.authenticate(core)?;
        core.exchange_access(
            &caller,
            &self.dataset,
            Operation::Subscribe,
            None,
            self.purpose.as_deref(),
            self.fields,
            Utc::now(),
        )
    }

    /// Decides the request afresh (a revocation holds at the next page) and reads one page.
    fn page(
        self,
        core: &ndx_core::Core,
        after: u64,
        limit: usize,
    ) -> ndx_core::Result<(ExchangeRead, FeedPage)> {
        let filters = self.filters.clone();
        let cap = self.decide(core)?;
        let page = core.exchange_changes(&cap, &filters, after, limit, Utc::now())?;
        Ok((cap, page.into_inner()))
    }
}

/// Follows a dataset's change feed under a sharing agreement that allows `subscribe`
/// (consumer). Any query parameter `FIELD=VALUE` other than `after`, `limit` and `fields`
/// keeps the changes whose new or previous version has that value in that released field
/// (e.g. `province_code=01`: a citizen who moves away or dies still reaches the province).
/// JSON: one page of changes after `after`. `Accept: text/event-stream`: a stream
/// of Server-Sent Events (`event: change`, `id` = position, `data` = the change as JSON) that
/// starts after `Last-Event-ID` (or `after`) and goes on as batches commit; a refusal while
/// streaming ends it with an `event: error` carrying the problem. Every page is on its data
/// subjects' trackers.
#[utoipa::path(get, path = "/api/v1/exchange/datasets/{dataset}/changes", tag = "exchange", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "dataset id"),
           ("Ndx-Purpose" = String, Header, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description = "the purpose: a code of the code list `purpose`"),
           ("after" = Option<u64>, Query, maximum = 9223372036854775807_u64, description = "the position to start after (default 0: the first change)"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 100; a stream's pages are its own)"),
           ("fields" = Option<String>, Query, description = "comma-separated fields, among the agreed ones"),
           ("Last-Event-ID" = Option<String>, Header, pattern = "^[0-9]{1,19}$", description = "a stream resumes after this position (it wins over `after`)")),
    responses((status = 200, description = "a page of changes, or (Accept: text/event-stream) a stream of them", body = ChangesOut),
              (status = 400, description = "limit, position or header invalid", body = crate::problem::Problem),
              (status = 401, description = "no valid key", body = crate::problem::Problem),
              (status = 403, description = "refused: agreement, purpose, operation, fields, sovereignty, consent", body = crate::problem::Problem),
              (status = 429, description = "quota exhausted", body = crate::problem::Problem)))]
async fn changes(
    State(st): State<AppState>,
    credentials: Credentials,
    Path(dataset): Path<String>,
    QueryParams(mut q): QueryParams<std::collections::BTreeMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let purpose = purpose(&headers)?;
    let stream = wants_stream(&headers);
    let limit = page_limit(&mut q)?;
    let after_param = q.remove("after");
    let fields = asked_fields(&FieldsQuery {
        fields: q.remove("fields"),
    });
    // Every other parameter filters by equality on a released field.
    let filters: Vec<(String, String)> = q.into_iter().collect();
    let mut after = match after_param.as_deref() {
        None => 0,
        Some(a) => position("after", a)?,
    };
    if let Some(last) = headers.get("last-event-id") {
        let last = last.to_str().map_err(|_| {
            ApiError::new(Code::HeaderInvalid, "Last-Event-ID must be visible ASCII")
        })?;
        after = position("Last-Event-ID", last)?;
    }
    let request = FeedRequest {
        credentials,
        dataset,
        purpose,
        fields,
        filters,
    };
    let core = st.core.clone();
    // The first page is decided, read and audited before the answer starts, so a refusal is
    // a problem with its status, in a stream too.
    let (first, generation) = {
        let request = request.clone();
        let page = if stream { STREAM_PAGE } else { limit };
        blocking(move || {
            // Read before the decision: a change of the catalogue after it is noticed.
            let generation = core.catalog_generation()?;
            Ok((request.page(&core, after, page)?, generation))
        })
        .await?
    };
    if !stream {
        let (cap, page) = first;
        st.metrics.feed_changes(cap.dataset(), page.changes.len());
        let agreement = cap.agreement().id.clone();
        return Ok(axum::Json(ChangesOut {
            changes: page.changes.into_iter().map(change_out).collect(),
            next: page.next,
            withheld: page.withheld,
            head: page.head,
            agreement,
        })
        .into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(follow(st, request, first, generation, tx));
    let body = axum::body::Body::from_stream(tokio_stream_from(rx));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// The events of a page.
fn page_events(page: FeedPage, out: &mut Vec<u8>) {
    for c in page.changes {
        let id = c.position;
        let json = serde_json::to_string(&change_out(c)).unwrap_or_default();
        out.extend_from_slice(format!("id: {id}\nevent: change\ndata: {json}\n\n").as_bytes());
    }
}

/// Streams the feed after the first page until the client goes away or a page is refused.
/// Between pages it watches the feed's head under the last page's capability (a read of one
/// row, nothing released) and the catalogue generation (a change makes it decide again, so a
/// revocation ends an idle stream within a second); each page is decided and audited afresh.
async fn follow(
    st: AppState,
    request: FeedRequest,
    (cap, first): (ExchangeRead, FeedPage),
    decided_at: u64,
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    let _open = OpenStream::new(&st.metrics, cap.dataset());
    let dataset = cap.dataset().to_owned();
    st.metrics.feed_changes(&dataset, first.changes.len());
    let mut cap = std::sync::Arc::new(cap);
    let mut after = first.next;
    let mut head = first.head;
    let mut out = Vec::new();
    page_events(first, &mut out);
    // A first comment opens the stream at once, even with nothing to send yet.
    out.extend_from_slice(b": ndx change feed\n\n");
    if tx.send(Ok(out)).await.is_err() {
        return;
    }
    let mut quiet_since = tokio::time::Instant::now();
    let mut commits = st.commits.clone();
    commits.mark_unchanged();
    // The catalogue generation as of the last decision.
    let mut generation: Option<u64> = Some(decided_at);
    loop {
        if head <= after {
            tokio::select! {
                // A commit in this process (a closed channel only ends the wake-ups: the poll
                // below goes on).
                woken = commits.changed() => if woken.is_err() {
                    tokio::time::sleep(STREAM_POLL).await;
                },
                _ = tokio::time::sleep(STREAM_POLL) => {}
                _ = tx.closed() => return,
            }
            let (core, watched) = (st.core.clone(), cap.clone());
            let seen = generation;
            let decided = request.clone();
            let watch = blocking(move || {
                let (h, g) = core.feed_watch(&watched)?;
                // Something in the catalogue changed: decide again before anything else
                // leaves (a revoked key or agreement ends the stream now).
                let cap = if seen.is_some_and(|s| s != g) {
                    Some(decided.decide(&core)?)
                } else {
                    None
                };
                Ok((h, g, cap))
            });
            match watch.await {
                Ok((h, g, decided)) => {
                    head = h;
                    generation = Some(g);
                    if let Some(c) = decided {
                        cap = std::sync::Arc::new(c);
                    }
                }
                Err(e) => return end_with(&tx, e).await,
            }
            if head <= after {
                if quiet_since.elapsed() >= STREAM_HEARTBEAT {
                    if tx.send(Ok(b": keep-alive\n\n".to_vec())).await.is_err() {
                        return;
                    }
                    quiet_since = tokio::time::Instant::now();
                }
                continue;
            }
        }
        let (core, request) = (st.core.clone(), request.clone());
        let page = match blocking(move || request.page(&core, after, STREAM_PAGE)).await {
            Ok((decided, page)) => {
                cap = std::sync::Arc::new(decided);
                page
            }
            Err(e) => return end_with(&tx, e).await,
        };
        after = page.next;
        head = page.head;
        st.metrics.feed_changes(&dataset, page.changes.len());
        let mut out = Vec::new();
        page_events(page, &mut out);
        if !out.is_empty() {
            if tx.send(Ok(out)).await.is_err() {
                return;
            }
            quiet_since = tokio::time::Instant::now();
        }
    }
}

/// Counts a stream in `ndx_feed_streams_open` while it lives.
struct OpenStream(prometheus_client::metrics::gauge::Gauge);

impl OpenStream {
    fn new(metrics: &crate::metrics::Metrics, dataset: &str) -> OpenStream {
        let gauge = metrics
            .feed_streams_open
            .get_or_create(&crate::metrics::DatasetLabels {
                dataset: dataset.to_owned(),
            })
            .clone();
        gauge.inc();
        OpenStream(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Ends a stream with the problem that stopped it.
async fn end_with(tx: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>, e: ApiError) {
    let problem = e.problem_json();
    let _ = tx
        .send(Ok(format!("event: error\ndata: {problem}\n\n").into_bytes()))
        .await;
}
