//! Configuration: built-in defaults → `ndx.toml` → `NDX_*` environment (`__` nests) → flags.
//! Raw values are parsed first, then resolved and checked into [`Config`]; unknown keys in the
//! file are errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything that can be configured, as read from the sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Data directory (embedded store, keys).
    pub data_dir: PathBuf,
    /// Listen address of the HTTP server.
    pub listen: String,
    /// Store URL; default `sqlite://<data_dir>/ndx.db`.
    pub store: Option<String>,
    /// File holding the store URL (for URLs with a password).
    pub store_file: Option<PathBuf>,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Largest record batch body, in bytes.
    pub max_batch_bytes: u64,
    /// Largest JSON body of other requests, in bytes.
    pub max_json_bytes: usize,
    /// Time limit of ordinary requests, in seconds.
    pub request_timeout_secs: u64,
    /// Time limit of a batch upload, in seconds.
    pub batch_timeout_secs: u64,
    /// Time a connection has to send a complete request head, from accept and from each
    /// response (so also the keep-alive idle timeout), in seconds.
    pub header_read_timeout_secs: u64,
    /// Connections open at once; at the bound the oldest idle one is closed for a newcomer.
    pub max_connections: usize,
    /// Connections open at once from one client IP address.
    pub max_connections_per_ip: usize,
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: usize,
    /// Largest request head (request line and header fields), in bytes.
    pub max_header_bytes: usize,
    /// Threads that run the services (store and audit work) at once; requests beyond wait
    /// their turn. Bounds threads, store connections and memory under any concurrency.
    pub blocking_threads: usize,
    /// File holding the audit log's Ed25519 signing seed (64 hex digits); default
    /// `<data_dir>/audit-signing.key`, created on first start.
    pub audit_key_file: Option<PathBuf>,
    /// How long a connector run's lease lasts unless renewed, in seconds: how long a connector
    /// whose process died stays blocked before another run may take it.
    pub connector_lease_secs: u64,
    /// The folder under which folder connectors' folders must lie; default `<data_dir>/drop`.
    pub drop_root: Option<PathBuf>,
    /// How long a change stays in its dataset's feed, in seconds: a consumer further behind
    /// gets `410 feed-position-expired` and re-baselines.
    pub feed_retention_secs: u64,
    /// Time an endpoint has to answer a push delivery, in milliseconds.
    pub push_timeout_ms: u64,
    /// Attempts at one push batch before its subscription is dead.
    pub push_max_attempts: u32,
    /// The wait after a push delivery's first failure, in milliseconds; it doubles after each.
    pub push_backoff_first_ms: u64,
    /// The longest wait between push attempts, in milliseconds.
    pub push_backoff_max_ms: u64,
    /// How long a process holds a push batch it took, in seconds: after it died, another
    /// process takes the batch over when this has passed. Longer than `push_timeout_ms`.
    pub push_lease_secs: u64,
    /// Whether subscriptions may name `http://` endpoints on a loopback address (tests and
    /// local receivers; never on a shared node).
    pub push_allow_loopback_http: bool,
    /// A PEM file of CA certificates trusted for push endpoints besides the webpki roots.
    pub push_root_ca_file: Option<PathBuf>,
    /// The hosts push endpoints may name, comma-separated: `hcm.gov.vn` for that host,
    /// `*.gov.vn` for its subdomains; empty for any host (loopback aside).
    pub push_endpoint_hosts: String,
    /// The NATS JetStream server that coordinates several processes serving one PostgreSQL
    /// store (`nats://host:4222`); none for a single process.
    pub nats_url: Option<String>,
    /// The prefix of this deployment's subjects and streams on that server.
    pub nats_prefix: String,
    /// The member that operates this node (the national data centre's agency): the publisher
    /// of the national catalogues (`/catalog.*`, the national lists); none names the node.
    pub operator: Option<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            data_dir: PathBuf::from("ndx-data"),
            listen: "127.0.0.1:8080".into(),
            store: None,
            store_file: None,
            log: "info,tokio_postgres=warn".into(),
            log_format: "text".into(),
            max_batch_bytes: 512 << 20,
            max_json_bytes: 4 << 20,
            request_timeout_secs: 30,
            batch_timeout_secs: 1800,
            header_read_timeout_secs: 10,
            max_connections: 4096,
            max_connections_per_ip: 256,
            max_uri_bytes: 8 << 10,
            max_header_bytes: 32 << 10,
            blocking_threads: 32,
            audit_key_file: None,
            connector_lease_secs: 120,
            drop_root: None,
            feed_retention_secs: 30 * 86_400,
            push_timeout_ms: 10_000,
            push_max_attempts: 10,
            push_backoff_first_ms: 1_000,
            push_backoff_max_ms: 300_000,
            push_lease_secs: 60,
            push_allow_loopback_http: false,
            push_root_ca_file: None,
            push_endpoint_hosts: String::new(),
            nats_url: None,
            nats_prefix: "ndx".into(),
            operator: None,
        }
    }
}

/// Keys accepted from the environment (`NDX_<KEY>`); other `NDX_*` variables belong to others.
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "store",
    "store_file",
    "log",
    "log_format",
    "max_batch_bytes",
    "max_json_bytes",
    "request_timeout_secs",
    "batch_timeout_secs",
    "header_read_timeout_secs",
    "max_connections",
    "max_connections_per_ip",
    "max_uri_bytes",
    "max_header_bytes",
    "blocking_threads",
    "audit_key_file",
    "connector_lease_secs",
    "drop_root",
    "feed_retention_secs",
    "push_timeout_ms",
    "push_max_attempts",
    "push_backoff_first_ms",
    "push_backoff_max_ms",
    "push_lease_secs",
    "push_allow_loopback_http",
    "push_root_ca_file",
    "push_endpoint_hosts",
    "nats_url",
    "nats_prefix",
    "operator",
];

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: String,
    /// Store URL.
    pub store: String,
    /// Log filter.
    pub log: String,
    /// JSON logs.
    pub log_json: bool,
    /// HTTP limits.
    pub limits: ndx_http::Limits,
    /// Threads that run the services at once.
    pub blocking_threads: usize,
    /// The audit signing seed's file, when not the data directory's.
    pub audit_key_file: Option<PathBuf>,
    /// A connector run's lease.
    pub connector_lease: Duration,
    /// The folder under which folder connectors' folders lie.
    pub drop_root: PathBuf,
    /// How long a change stays in its dataset's feed.
    pub feed_retention: Duration,
    /// How push deliveries are retried and leased.
    pub push: ndx_core::subscription::PushPolicy,
    /// Time an endpoint has to answer a push delivery.
    pub push_timeout: Duration,
    /// Extra CA certificates for push endpoints.
    pub push_root_ca_file: Option<PathBuf>,
    /// The broker that coordinates the processes of one store, if any.
    pub nats: Option<ndx_bus::BusConfig>,
    /// The member that operates the node, if one is named.
    pub operator: Option<String>,
}

/// Flags that override the other sources (only those given).
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

/// Reads and resolves the configuration.
pub fn load(config_file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
    let mut fig = Figment::from(Serialized::defaults(RawConfig::default()));
    match config_file {
        Some(p) => {
            if !p.exists() {
                bail!("config file {} does not exist", p.display());
            }
            fig = fig.merge(Toml::file(p));
        }
        None => fig = fig.merge(Toml::file("ndx.toml")),
    }
    fig = fig
        .merge(Env::prefixed("NDX_").split("__").only(ENV_KEYS))
        .merge(Serialized::defaults(overrides));
    let raw: RawConfig = fig.extract().context("invalid configuration")?;
    resolve(raw)
}

fn resolve(raw: RawConfig) -> anyhow::Result<Config> {
    let store = match (&raw.store, &raw.store_file) {
        (Some(_), Some(_)) => bail!("set either store or store_file, not both"),
        (Some(s), None) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read store_file {}", f.display()))?
            .trim()
            .to_owned(),
        (None, None) => format!("sqlite://{}", raw.data_dir.join("ndx.db").display()),
    };
    let log_json = match raw.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => bail!("log_format {other:?} must be \"text\" or \"json\""),
    };
    if raw.max_batch_bytes == 0 || raw.max_json_bytes == 0 {
        bail!("body limits must be positive");
    }
    if raw.request_timeout_secs == 0
        || raw.batch_timeout_secs == 0
        || raw.header_read_timeout_secs == 0
    {
        bail!("timeouts must be positive");
    }
    if raw.max_connections == 0 || raw.max_connections_per_ip == 0 {
        bail!("connection limits must be positive");
    }
    if raw.max_connections_per_ip > raw.max_connections {
        bail!(
            "max_connections_per_ip ({}) is larger than max_connections ({})",
            raw.max_connections_per_ip,
            raw.max_connections
        );
    }
    // hyper reads a head of at least 8 KiB (and buffers at most about 400 KiB) and a target
    // of at most 64 KiB.
    if !(8192..=(256 << 10)).contains(&raw.max_header_bytes) {
        bail!("max_header_bytes must be between 8192 and 262144");
    }
    if !(1..=1024).contains(&raw.blocking_threads) {
        bail!("blocking_threads must be between 1 and 1024");
    }
    if !(2..=3600).contains(&raw.connector_lease_secs) {
        bail!("connector_lease_secs must be between 2 and 3600");
    }
    if !(256..=65534).contains(&raw.max_uri_bytes) {
        bail!("max_uri_bytes must be between 256 and 65534");
    }
    if !(1..=100 * 365 * 86_400).contains(&raw.feed_retention_secs) {
        bail!("feed_retention_secs must be between 1 and a hundred years");
    }
    if !(100..=120_000).contains(&raw.push_timeout_ms) {
        bail!("push_timeout_ms must be between 100 and 120000");
    }
    if !(1..=100).contains(&raw.push_max_attempts) {
        bail!("push_max_attempts must be between 1 and 100");
    }
    if raw.push_backoff_first_ms == 0 || raw.push_backoff_first_ms > raw.push_backoff_max_ms {
        bail!("push_backoff_first_ms must be positive and at most push_backoff_max_ms");
    }
    if raw.push_backoff_max_ms > 86_400_000 {
        bail!("push_backoff_max_ms must be at most a day");
    }
    // A second of margin for reading and auditing the page and for clocks that differ
    // between processes.
    if raw.push_lease_secs * 1000 < raw.push_timeout_ms + 1000 || raw.push_lease_secs > 3600 {
        bail!(
            "push_lease_secs must be at least a second longer than push_timeout_ms, and at most 3600"
        );
    }
    let endpoint_hosts = ndx_types::subscription::HostPatterns::parse(&raw.push_endpoint_hosts)
        .map_err(|e| anyhow::anyhow!("push_endpoint_hosts: {e}"))?;
    ndx_bus::check_prefix(&raw.nats_prefix).map_err(|e| anyhow::anyhow!("nats_prefix: {}", e.0))?;
    let nats = match raw.nats_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => Some(ndx_bus::BusConfig {
            url: url.to_owned(),
            prefix: raw.nats_prefix.clone(),
            // A job moves to another process when the batch's lease in the store has run
            // out too.
            ack_wait: Duration::from_secs(raw.push_lease_secs),
            connect_timeout: Duration::from_secs(5),
        }),
    };
    let operator = match raw.operator.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(code)
            if code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') =>
        {
            Some(code.to_owned())
        }
        Some(code) => bail!("operator: {code:?} is not a member code (A-Z, 0-9, '-')"),
    };
    let drop_root = std::path::absolute(
        raw.drop_root
            .clone()
            .unwrap_or_else(|| raw.data_dir.join("drop")),
    )?;
    Ok(Config {
        data_dir: raw.data_dir,
        listen: raw.listen,
        store,
        log: raw.log,
        log_json,
        limits: ndx_http::Limits {
            max_batch_bytes: raw.max_batch_bytes,
            max_json_bytes: raw.max_json_bytes,
            request_timeout: Duration::from_secs(raw.request_timeout_secs),
            batch_timeout: Duration::from_secs(raw.batch_timeout_secs),
            header_read_timeout: Duration::from_secs(raw.header_read_timeout_secs),
            max_connections: raw.max_connections,
            max_connections_per_ip: raw.max_connections_per_ip,
            max_uri_bytes: raw.max_uri_bytes,
            max_header_bytes: raw.max_header_bytes,
        },
        blocking_threads: raw.blocking_threads,
        audit_key_file: raw.audit_key_file,
        connector_lease: Duration::from_secs(raw.connector_lease_secs),
        drop_root,
        feed_retention: Duration::from_secs(raw.feed_retention_secs),
        push: ndx_core::subscription::PushPolicy {
            retry: ndx_types::subscription::RetryPolicy {
                max_attempts: raw.push_max_attempts,
                first_backoff: chrono::Duration::milliseconds(raw.push_backoff_first_ms as i64),
                max_backoff: chrono::Duration::milliseconds(raw.push_backoff_max_ms as i64),
            },
            lease: chrono::Duration::seconds(raw.push_lease_secs as i64),
            allow_loopback_http: raw.push_allow_loopback_http,
            endpoint_hosts,
        },
        push_timeout: Duration::from_millis(raw.push_timeout_ms),
        push_root_ca_file: raw.push_root_ca_file,
        nats,
        operator,
    })
}
