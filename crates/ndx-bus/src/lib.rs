//! Coordination of several ndx processes that serve one store, through NATS JetStream: the
//! only crate that knows NATS.
//!
//! Two kinds of stream per deployment (names from a prefix, so deployments can share a
//! server): one stream per dataset holding a notice of each commit (`{dataset, head, at}`:
//! positions, never data — records leave only through the audited exchange path), which every
//! process listens to so that its change-feed streams and delivery worker wake at once; and one
//! work queue of push-delivery jobs with a single durable consumer that every process pulls
//! from, so that each due subscription is one process's job and a job whose process died goes
//! to another after the acknowledgement deadline.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// What went wrong talking to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError(pub String);

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NATS: {}", self.0)
    }
}

impl std::error::Error for BusError {}

fn fault(e: impl std::fmt::Display) -> BusError {
    BusError(e.to_string())
}

/// The result of a broker call.
pub type Result<T> = std::result::Result<T, BusError>;

/// How to reach the broker and name what ndx keeps there.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// `nats://host:port` (or `tls://…`); several comma-separated for a cluster.
    pub url: String,
    /// The deployment's prefix: subjects `<prefix>.…`, streams `<PREFIX>_…`.
    pub prefix: String,
    /// How long a delivery job stays with a process that does not acknowledge it or report
    /// progress: the push lease, so that the job moves when the batch's lease in the store
    /// has also run out.
    pub ack_wait: Duration,
    /// The time allowed to connect.
    pub connect_timeout: Duration,
}

/// Checks a prefix: letters, digits, `-` and `_` (it becomes a subject token and part of a
/// stream name).
pub fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > 32 || !is_token(prefix) {
        return Err(BusError(format!(
            "the prefix {prefix:?} must be 1 to 32 letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

/// Whether `name` can be a subject token and part of a stream name: letters, digits, `-`, `_`.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A commit notice: `dataset`'s change feed reached `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The dataset.
    pub dataset: String,
    /// Its feed head after the commit.
    pub head: u64,
    /// When it was published (RFC 3339).
    pub at: String,
}

/// Changes notices kept per dataset stream (older ones are dropped first).
const NOTICES_KEPT: i64 = 100_000;
/// How long a notice is kept.
const NOTICES_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The window in which a republished job (same subscription state) is dropped.
const JOB_DEDUPE: Duration = Duration::from_secs(120);
/// How long an unclaimed job is kept: the workers' look republishes what is still due.
const JOB_AGE: Duration = Duration::from_secs(3600);

/// A connection to the broker, with the streams and consumer ndx uses.
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    prefix: String,
    jobs: consumer::Consumer<consumer::pull::Config>,
    /// Dataset streams known to exist (created on a dataset's first commit).
    streams: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("prefix", &self.prefix).finish()
    }
}

impl Bus {
    /// Connects and makes sure the work queue and its consumer exist.
    pub async fn connect(config: &BusConfig) -> Result<Bus> {
        check_prefix(&config.prefix)?;
        let client = async_nats::ConnectOptions::new()
            .name("ndx")
            .connection_timeout(config.connect_timeout)
            // Publications wait in the client while it reconnects; a broker that is away only
            // slows wake-ups down (every process also polls).
            .retry_on_initial_connect()
            .connect(config.url.as_str());
        let client = tokio::time::timeout(config.connect_timeout, client)
            .await
            .map_err(|_| {
                BusError(format!(
                    "no connection to {} within {} ms",
                    config.url,
                    config.connect_timeout.as_millis()
                ))
            })?
            .map_err(fault)?;
        // A server that was never reached leaves the client retrying in the background; the
        // first request tells whether it answers.
        let js = jetstream::new(client.clone());
        let upper = config.prefix.to_ascii_uppercase().replace('-', "_");
        let queue = tokio::time::timeout(
            config.connect_timeout,
            js.get_or_create_stream(stream::Config {
                name: format!("{upper}_PUSH"),
                subjects: vec![format!("{}.push.*", config.prefix)],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: JOB_DEDUPE,
                max_age: JOB_AGE,
                ..Default::default()
            }),
        )
        .await
        .map_err(|_| BusError(format!("{} does not answer", config.url)))?
        .map_err(fault)?;
        let durable = format!("{}-push", config.prefix);
        let jobs = queue
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(fault)?;
        Ok(Bus {
            client,
            js,
            prefix: config.prefix.clone(),
            jobs,
            streams: Mutex::new(HashSet::new()),
        })
    }

    /// The name of `dataset`'s change-notice stream.
    pub fn changes_stream(&self, dataset: &str) -> String {
        format!(
            "{}_CHANGES_{dataset}",
            self.prefix.to_ascii_uppercase().replace('-', "_")
        )
    }

    fn changes_subject(&self, dataset: &str) -> String {
        format!("{}.changes.{dataset}", self.prefix)
    }

    /// Publishes that `dataset`'s feed reached `head`, on the dataset's stream (made on its
    /// first commit); waits for the server's acknowledgement.
    pub async fn committed(&self, dataset: &str, head: u64) -> Result<()> {
        if !is_token(dataset) {
            return Err(BusError(format!(
                "{dataset:?} cannot name a stream or a subject token"
            )));
        }
        let name = self.changes_stream(dataset);
        let known = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&name);
        if !known {
            self.js
                .get_or_create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![self.changes_subject(dataset)],
                    storage: stream::StorageType::File,
                    max_messages: NOTICES_KEPT,
                    max_age: NOTICES_AGE,
                    discard: stream::DiscardPolicy::Old,
                    duplicate_window: JOB_DEDUPE,
                    ..Default::default()
                })
                .await
                .map_err(fault)?;
            self.streams
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name);
        }
        let notice = Commit {
            dataset: dataset.to_owned(),
            head,
            at: chrono::Utc::now().to_rfc3339(),
        };
        let payload = serde_json::to_vec(&notice).map_err(fault)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{dataset}@{head}").as_str(),
        );
        self.js
            .publish_with_headers(self.changes_subject(dataset), headers, payload.into())
            .await
            .map_err(fault)?
            .await
            .map_err(fault)?;
        Ok(())
    }

    /// Every commit notice published from now on, by any process of the deployment.
    pub async fn commits(&self) -> Result<impl futures_util::Stream<Item = Commit> + use<>> {
        let subscriber = self
            .client
            .subscribe(format!("{}.changes.*", self.prefix))
            .await
            .map_err(fault)?;
        Ok(subscriber.filter_map(|m| async move { serde_json::from_slice(&m.payload).ok() }))
    }

    /// Queues a delivery job for `subscription`; `state` names the subscription state it was
    /// seen due in, so that the same state queued by several processes is one job.
    pub async fn queue_job(&self, subscription: &str, state: &str) -> Result<()> {
        if !is_token(subscription) {
            return Err(BusError(format!(
                "{subscription:?} cannot be a subject token"
            )));
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{subscription}@{state}").as_str(),
        );
        self.js
            .publish_with_headers(
                format!("{}.push.{subscription}", self.prefix),
                headers,
                bytes::Bytes::new(),
            )
            .await
            .map_err(fault)?
            .await
            .map_err(fault)?;
        Ok(())
    }

    /// The jobs this process is given, as it pulls them.
    pub async fn jobs(&self) -> Result<impl futures_util::Stream<Item = Result<Job>> + use<>> {
        let prefix = format!("{}.push.", self.prefix);
        let messages = self.jobs.messages().await.map_err(fault)?;
        Ok(messages.map(move |m| {
            let message = m.map_err(fault)?;
            let subscription = message
                .subject
                .as_str()
                .strip_prefix(prefix.as_str())
                .unwrap_or_default()
                .to_owned();
            Ok(Job {
                subscription,
                message,
            })
        }))
    }

    /// Deletes every stream and consumer of this prefix (tests; a deployment's teardown).
    pub async fn remove_all(&self, datasets: &[&str]) -> Result<()> {
        let upper = self.prefix.to_ascii_uppercase().replace('-', "_");
        let mut names = vec![format!("{upper}_PUSH")];
        names.extend(datasets.iter().map(|d| self.changes_stream(d)));
        for name in names {
            // A stream that is not there is already removed.
            let _ = self.js.delete_stream(&name).await;
        }
        Ok(())
    }
}

/// One delivery job: deliver `subscription` until it is caught up, then [`Job::done`].
pub struct Job {
    /// The subscription to deliver.
    pub subscription: String,
    message: jetstream::Message,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("subscription", &self.subscription)
            .finish()
    }
}

impl Job {
    /// Tells the server the job is still being worked on (resets its deadline).
    pub async fn in_progress(&self) -> Result<()> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(fault)
    }

    /// The job is done: it is removed from the queue.
    pub async fn done(&self) -> Result<()> {
        self.message.double_ack().await.map_err(fault)
    }

    /// The job cannot be done now: give it back, to be handed out again after `delay`.
    pub async fn later(&self, delay: Duration) -> Result<()> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(fault)
    }

    /// How many times the server has handed this job out (1 the first time).
    pub fn delivered(&self) -> i64 {
        self.message.info().map(|i| i.delivered).unwrap_or(1)
    }
}
