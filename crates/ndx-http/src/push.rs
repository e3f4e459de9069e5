//! Push deliveries: the worker of `ndx serve` that POSTs each active subscription's batches
//! of changes to its endpoint, signed, with an idempotency id, retried with backoff, and the
//! outbound HTTPS client it uses (hyper-util's pooled client over rustls on ring, trusting the
//! webpki roots and, optionally, a node's own CA file).
//!
//! What is delivered and when is decided by `ndx-core::subscription`; this module only sends.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::rt::TokioExecutor;
use ndx_core::subscription::{Delivery, SubscriptionLook, Take};
use ndx_types::subscription::SubscriptionStatus;
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::AppState;
use crate::feed::{ChangeOut, change_out};

/// The header naming a delivery (the idempotency id: a retry carries the same).
pub const DELIVERY_ID: &str = "ndx-delivery-id";
/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA-256>`.
pub const SIGNATURE: &str = "ndx-signature";
/// The header naming the subscription.
pub const SUBSCRIPTION: &str = "ndx-subscription";

/// How often the worker looks at every subscription when no commit of this process woke it
/// (what finds other processes' commits and retries that came due).
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// Subscriptions delivered at once by one process.
const CONCURRENT_DELIVERIES: usize = 32;
/// Most of an endpoint's answer that is read (and dropped), so that the connection is reused.
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// What an endpoint receives: a page of the change feed, as the pull API answers it, with the
/// subscription and the delivery id.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// The subscription.
    pub subscription: String,
    /// The idempotency id (also in the `Ndx-Delivery-Id` header): `<dataset>:<first>-<last>`.
    pub delivery: String,
    /// The dataset.
    pub dataset: String,
    /// The agreement the changes were released under.
    pub agreement: String,
    /// The changes, in position order.
    pub changes: Vec<ChangeOut>,
    /// The last position this delivery covers.
    pub next: u64,
    /// Changes of these positions withheld for want of consent.
    pub withheld: u64,
    /// The attempt this is (1 for the first).
    pub attempt: u32,
}

/// The `Ndx-Signature` value of `body` sent at `t` (unix seconds): `t=<t>,v1=<hex of
/// HMAC-SHA-256 keyed by the secret's UTF-8 bytes, of "<t>.<body>">`. A receiver recomputes it
/// and refuses an old `t`, so a captured delivery cannot be replayed later.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The system resolver, keeping only the addresses a delivery may connect to.
#[derive(Clone)]
pub struct GuardedResolver {
    inner: GaiResolver,
    allow_loopback: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<std::net::SocketAddr>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolving = self.inner.call(name.clone());
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let kept: Vec<std::net::SocketAddr> = resolving
                .await?
                .filter(|a| {
                    !ndx_types::subscription::is_node_local(a.ip())
                        || (allow_loopback && a.ip().is_loopback())
                })
                .collect();
            if kept.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{name} resolves only to loopback, unspecified or link-local addresses, \
                         which this node does not post to"
                    ),
                ));
            }
            Ok(kept.into_iter())
        })
    }
}

/// The outbound client of deliveries.
#[derive(Clone)]
pub struct PushClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    timeout: Duration,
}

impl PushClient {
    /// A client whose deliveries must be answered within `timeout`, trusting the webpki roots
    /// and the certificates of `extra_roots` (a PEM file: a government's own CA). A host name
    /// that resolves to a loopback, unspecified or link-local address is not connected to
    /// (unless `allow_loopback`, for loopback), whatever its URL looked like when the
    /// subscription was made.
    pub fn new(
        timeout: Duration,
        extra_roots: Option<&Path>,
        allow_loopback: bool,
    ) -> Result<PushClient, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(file) = extra_roots {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", file.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
            }
        }
        // ring, as every TLS client of ndx (see ndx_store::pg_tls): it builds with a C
        // compiler alone.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            inner: GaiResolver::new(),
            allow_loopback,
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(connector);
        Ok(PushClient { client, timeout })
    }

    /// POSTs one delivery; `Err` says why it did not count as delivered (no 2xx in time).
    async fn post(&self, d: &Delivery, body: Vec<u8>, now: DateTime<Utc>) -> Result<(), String> {
        let sign = signature(&d.secret, now.timestamp(), &body);
        let request = hyper::Request::post(&d.subscription.endpoint)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("ndx/", env!("CARGO_PKG_VERSION")),
            )
            .header(DELIVERY_ID, &d.id)
            .header(SIGNATURE, sign)
            .header(SUBSCRIPTION, &d.subscription.id)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("the request could not be made: {e}"))?;
        let exchange = async {
            let answer = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("no answer: {}", error_chain(&e)))?;
            let status = answer.status();
            // Read (a bounded part of) the answer, so that the connection can be reused.
            let _ = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the endpoint answered {status}"))
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Delivers every due subscription, woken by commits (this process's, and with a broker every
/// process's) or every half second, until the task is aborted. Without a broker this process
/// delivers what it sees due; with one it queues a job per due subscription state and
/// delivers the jobs the broker gives it (each to one process of the deployment), falling
/// back to delivering itself while the broker is away. Either way a batch is one process's at
/// a time: the store's lease decides.
pub async fn deliveries(st: AppState, client: PushClient) {
    let workers = Workers {
        in_flight: Arc::default(),
        slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DELIVERIES)),
    };
    let jobs = st
        .bus
        .clone()
        .map(|bus| tokio::spawn(take_jobs(st.clone(), client.clone(), bus, workers.clone())));
    let _stop_jobs = AbortOnDrop(jobs);
    let mut commits = st.commits.clone();
    loop {
        tokio::select! {
            _ = commits.changed() => {}
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let core = st.core.clone();
        let looks =
            match tokio::task::spawn_blocking(move || core.subscription_looks(Utc::now())).await {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => {
                    tracing::warn!("subscriptions not read: {e}");
                    continue;
                }
                Err(e) => {
                    tracing::error!("subscription worker: {e}");
                    continue;
                }
            };
        record_lag(&st, &looks);
        for look in looks.into_iter().filter(|l| l.due) {
            if workers.busy(&look.id) {
                continue;
            }
            if let Some(bus) = &st.bus {
                match bus.queue_job(&look.id, &look.revision.to_string()).await {
                    Ok(()) => {
                        st.metrics.bus_event("job-queued");
                        continue;
                    }
                    Err(e) => {
                        st.metrics.bus_event("job-queue-failed");
                        tracing::warn!(
                            subscription = look.id,
                            "delivering without the broker: {e}"
                        );
                    }
                }
            }
            workers.start(&st, &client, look.id, None);
        }
    }
}

/// Aborts a task when dropped (the jobs taker lives as long as the worker).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The deliveries running in this process: at most one per subscription, a bounded number
/// at once.
#[derive(Clone)]
struct Workers {
    in_flight: Arc<Mutex<HashSet<String>>>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Workers {
    fn busy(&self, id: &str) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// Delivers `id` on a task of its own unless this process is already at it; a job from
    /// the broker is acknowledged when the delivery stops.
    fn start(&self, st: &AppState, client: &PushClient, id: String, job: Option<ndx_bus::Job>) {
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone())
        {
            // This process is at it; the running delivery may just have found nothing and be
            // ending, so the job comes back shortly rather than being dropped (a job of the
            // same state queued again would be a duplicate the broker ignores).
            if let Some(job) = job {
                tokio::spawn(async move {
                    if let Err(e) = job.later(LOOK_EVERY).await {
                        tracing::debug!(subscription = job.subscription, "job not given back: {e}");
                    }
                });
            }
            return;
        }
        let (st, client, workers) = (st.clone(), client.clone(), self.clone());
        tokio::spawn(async move {
            if let Ok(_slot) = workers.slots.acquire().await {
                deliver(&st, &client, &id, job.as_ref()).await;
            }
            workers
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            if let Some(job) = job {
                settle(job).await;
            }
        });
    }
}

/// Removes a job from the queue; one that cannot be removed comes back after its deadline
/// and finds nothing to do.
async fn settle(job: ndx_bus::Job) {
    if let Err(e) = job.done().await {
        tracing::debug!(subscription = job.subscription, "job not acknowledged: {e}");
    }
}

/// Takes the jobs the broker gives this process, until aborted; listens again when the
/// broker was lost.
async fn take_jobs(st: AppState, client: PushClient, bus: Arc<ndx_bus::Bus>, workers: Workers) {
    use futures_util::StreamExt;
    loop {
        match bus.jobs().await {
            Ok(jobs) => {
                let mut jobs = Box::pin(jobs);
                while let Some(job) = jobs.next().await {
                    match job {
                        Ok(job) => {
                            st.metrics.bus_event(if job.delivered() > 1 {
                                "job-redelivered"
                            } else {
                                "job-taken"
                            });
                            let id = job.subscription.clone();
                            workers.start(&st, &client, id, Some(job));
                        }
                        Err(e) => {
                            tracing::warn!("delivery jobs: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("delivery jobs: {e}"),
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Serialises filling the lag gauge (it is cleared, then filled) with reading it, so that a
/// scrape never sees it half filled.
static LAG: Mutex<()> = Mutex::new(());

/// Sets the lag gauge to what `looks` saw, forgetting subscriptions that are gone.
pub(crate) fn record_lag(st: &AppState, looks: &[SubscriptionLook]) {
    let _filling = LAG.lock().unwrap_or_else(PoisonError::into_inner);
    fill_lag(st, looks);
}

/// The metrics exposition, with the lag gauge set to `looks` when given.
pub(crate) fn render_with_lag(st: &AppState, looks: Option<&[SubscriptionLook]>) -> String {
    let _filling = LAG.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(looks) = looks {
        fill_lag(st, looks);
    }
    st.metrics.render()
}

fn fill_lag(st: &AppState, looks: &[SubscriptionLook]) {
    st.metrics.subscription_lag.clear();
    for l in looks {
        st.metrics
            .subscription_lag
            .get_or_create(&crate::metrics::SubscriptionLabels {
                subscription: l.id.clone(),
                dataset: l.dataset.clone(),
                status: l.status.name().to_owned(),
            })
            .set(i64::try_from(l.lag).unwrap_or(i64::MAX));
    }
}

/// Delivers one subscription's batches until it is caught up, a batch fails, or it is refused;
/// tells the broker after each batch that its job is in progress.
async fn deliver(st: &AppState, client: &PushClient, id: &str, job: Option<&ndx_bus::Job>) {
    loop {
        if let Some(job) = job
            && let Err(e) = job.in_progress().await
        {
            tracing::debug!(subscription = id, "job progress not reported: {e}");
        }
        let core = st.core.clone();
        let taken_id = id.to_owned();
        let taken =
            tokio::task::spawn_blocking(move || core.take_delivery(&taken_id, Utc::now())).await;
        let d = match taken {
            Ok(Ok(Take::Deliver(d))) => d,
            Ok(Ok(Take::Skipped)) => continue,
            Ok(Ok(Take::Idle)) => return,
            Ok(Ok(Take::Refused(e))) => {
                st.metrics.push_outcome("refused", 1);
                tracing::info!(subscription = id, "delivery refused: {e}");
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(subscription = id, "delivery not taken: {e}");
                return;
            }
            Err(e) => {
                tracing::error!(subscription = id, "delivery worker: {e}");
                return;
            }
        };
        let out = DeliveryOut {
            subscription: d.subscription.id.clone(),
            delivery: d.id.clone(),
            dataset: d.subscription.dataset.clone(),
            agreement: d.agreement.clone(),
            changes: d.page.changes.iter().cloned().map(change_out).collect(),
            next: d.page.next,
            withheld: d.page.withheld,
            attempt: d.attempt,
        };
        let body = match serde_json::to_vec(&out) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(subscription = id, "delivery not encoded: {e}");
                return;
            }
        };
        let sent = client.post(&d, body, Utc::now()).await;
        let core = st.core.clone();
        let changes = d.page.changes.len() as u64;
        let metrics = st.metrics.clone();
        let dataset = d.subscription.dataset.clone();
        let settled = tokio::task::spawn_blocking(move || match sent {
            Ok(()) => core
                .delivery_acknowledged(
                    &d.subscription.id,
                    d.batch,
                    d.page.next,
                    changes,
                    Utc::now(),
                )
                .map(|_| None),
            Err(why) => core.delivery_failed(&d, &why, Utc::now()).map(Some),
        })
        .await;
        match settled {
            Ok(Ok(None)) => {
                metrics.push_outcome("delivered", 1);
                metrics.feed_changes(&dataset, changes as usize);
            }
            Ok(Ok(Some(status))) => {
                metrics.push_outcome("failed", 1);
                if status == SubscriptionStatus::Dead {
                    metrics.push_outcome("dead", 1);
                }
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(subscription = id, "delivery outcome not recorded: {e}");
                return;
            }
            Err(e) => {
                tracing::error!(subscription = id, "delivery worker: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // RFC 4231 does not cover the "<t>.<body>" framing; this value was computed with
        // Python's hmac module: hmac.new(b"secret", b"1700000000.{}", "sha256").hexdigest().
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
