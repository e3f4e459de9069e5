//! Push subscriptions: a consumer system's standing request that ndx POST the changes of a
//! dataset's feed to its endpoint, under an agreement that allows `subscribe`. The definition,
//! its delivery state, the dead letters of batches that could not be delivered, and the pure
//! rules: the endpoint check, the backoff between attempts and the signature of a delivery.
//! No I/O: deliveries are read and recorded by `ndx-core::subscription`, sent by `ndx-http::push`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::dictionary::DefinitionError;

/// Most changes in one delivery.
pub const MAX_BATCH: u32 = 500;
/// Changes in one delivery unless the subscription says otherwise.
pub const DEFAULT_BATCH: u32 = 100;
/// Longest endpoint URL.
pub const MAX_ENDPOINT_BYTES: usize = 2048;
/// Dead letters kept per subscription; older ones are deleted when a new one is recorded.
pub const DEAD_LETTERS_KEPT: u64 = 100;

/// A push subscription, as its consumer made it (never edited: a new endpoint or filter is a
/// new subscription, so a delivery id always means one batch under one definition).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `sub-` and 16 hex digits.
    pub id: String,
    /// The dataset followed.
    pub dataset: String,
    /// The consumer system the changes go to (and whose agreement releases them).
    pub consumer: String,
    /// The consumer system's member.
    pub member: String,
    /// The purpose stated, as on every exchange request.
    pub purpose: String,
    /// The fields asked for (`None`: every field the agreement releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// `field = value` filters on released fields (as the pull feed's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, String>,
    /// Where deliveries are POSTed.
    pub endpoint: String,
    /// Most changes per delivery.
    pub batch_size: u32,
    /// Random salt (32 hex digits) from which the node derives the HMAC-SHA-256 key of the
    /// `Ndx-Signature` header with a key of its own: the store never holds the key itself, so
    /// a copy of the database cannot forge deliveries. The key is shown to the consumer once,
    /// when the subscription is made.
    pub secret_salt: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The key that made it.
    pub created_by: String,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("dataset", &self.dataset)
            .field("consumer", &self.consumer)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubscriptionStatus {
    /// Delivering (or waiting for its next attempt).
    #[default]
    Active,
    /// Stopped by its consumer; `resume` goes on from where it stopped.
    Paused,
    /// A batch failed every attempt: it is kept as a dead letter, and nothing more is sent
    /// until the consumer replays it.
    Dead,
    /// Its agreement no longer allows it (revoked, rejected, expired, or gone): nothing more is
    /// sent, ever.
    Ended,
}

impl SubscriptionStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Dead => "dead",
            SubscriptionStatus::Ended => "ended",
        }
    }
}

/// The batch being delivered: the feed positions after `after` up to `until` (inclusive). A
/// retry reads exactly these positions again, so it carries the same delivery id and changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingBatch {
    /// The position the batch reads after.
    pub after: u64,
    /// The feed head when the batch was first taken: it reads no further.
    pub until: u64,
}

/// Who delivers a subscription's batch now, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLease {
    /// The process holding it.
    pub holder: String,
    /// When it runs out.
    pub until: DateTime<Utc>,
}

/// A subscription's delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubscriptionState {
    /// The subscription.
    pub subscription: String,
    /// Where it stands.
    #[serde(default)]
    pub status: SubscriptionStatus,
    /// The last position acknowledged by the endpoint (or passed over: nothing of it was for
    /// this subscription).
    pub position: u64,
    /// The batch in flight.
    #[serde(default)]
    pub pending: Option<PendingBatch>,
    /// Failed attempts at the pending batch.
    #[serde(default)]
    pub attempts: u32,
    /// No attempt before this time (after a failure).
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, or why the subscription ended.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When a delivery last succeeded.
    #[serde(default)]
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Deliveries acknowledged.
    #[serde(default)]
    pub deliveries: u64,
    /// Changes acknowledged.
    #[serde(default)]
    pub delivered_changes: u64,
    /// Failed attempts in all.
    #[serde(default)]
    pub failures: u64,
    /// Dead letters numbered so far.
    #[serde(default)]
    pub dead_letters: u64,
    /// The delivering process's lease.
    #[serde(default)]
    pub lease: Option<DeliveryLease>,
}

/// A batch that failed every attempt, kept for its consumer to see and replay. It holds the
/// positions, not the data: a replay reads them again under the agreement as it is then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The subscription.
    pub subscription: String,
    /// Its number within the subscription (1, 2, …).
    pub number: u64,
    /// The delivery id the batch was sent under.
    pub delivery_id: String,
    /// The batch.
    pub batch: PendingBatch,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last one failed.
    pub last_error: String,
    /// When the subscription died of it.
    pub dead_at: DateTime<Utc>,
    /// When the consumer replayed it.
    #[serde(default)]
    pub replayed_at: Option<DateTime<Utc>>,
}

impl DeadLetter {
    /// The catalogue id of dead letter `n` of subscription `id` (zero-padded: ids sort by number).
    pub fn id_of(subscription: &str, n: u64) -> String {
        format!("{subscription}@{n:010}")
    }
}

/// The idempotency id of a delivery: the dataset and the positions it covers. A retry of the
/// batch carries the same id.
pub fn delivery_id(dataset: &str, batch: PendingBatch, last: u64) -> String {
    format!("{dataset}:{}-{last}", batch.after + 1)
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts at one batch before the subscription is dead.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each.
    pub first_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            first_backoff: Duration::seconds(1),
            max_backoff: Duration::minutes(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempts` (1 for the first), before jitter:
    /// `first_backoff × 2^(attempts−1)`, at most `max_backoff`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self
            .first_backoff
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_backoff);
        wait.min(self.max_backoff)
    }

    /// The wait with jitter: `jitter` in [0, 1) takes up to a fifth off, so that endpoints
    /// that failed together are not retried together.
    pub fn backoff_with_jitter(&self, attempts: u32, jitter: f64) -> Duration {
        let wait = self.backoff(attempts);
        let off = (wait.num_milliseconds() as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
        wait - Duration::milliseconds(off)
    }
}

/// Checks an endpoint: an absolute `https://` URL without credentials or fragment, or, when
/// `allow_loopback_http` (a node setting for tests and local receivers), a `http://` URL to a
/// loopback address. A loopback host is refused otherwise, whatever the scheme: a key must not
/// make the node post to its own services.
pub fn check_endpoint(
    endpoint: &str,
    allow_loopback_http: bool,
) -> Result<url::Url, DefinitionError> {
    let fault = |message: String| DefinitionError {
        code: "endpoint-invalid",
        path: "endpoint".into(),
        message,
    };
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(fault(format!(
            "the endpoint is longer than {MAX_ENDPOINT_BYTES} bytes"
        )));
    }
    let url = url::Url::parse(endpoint)
        .map_err(|e| fault(format!("the endpoint {endpoint:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fault(
            "the endpoint holds credentials: the Ndx-Signature header authenticates deliveries"
                .into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(fault("the endpoint has a fragment".into()));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d == "ip6-localhost"
        }
        Some(url::Host::Ipv4(ip)) => is_node_local(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_node_local(IpAddr::V6(ip)),
        None => return Err(fault("the endpoint has no host".into())),
    };
    match (url.scheme(), loopback, allow_loopback_http) {
        ("https", false, _) => Ok(url),
        ("https" | "http", true, true) => Ok(url),
        (_, true, false) => Err(fault(format!(
            "the endpoint {endpoint:?} is a loopback address, which this node does not post to"
        ))),
        ("http", false, _) => Err(fault(format!(
            "the endpoint {endpoint:?} is not https: deliveries carry personal data"
        ))),
        (scheme, _, _) => Err(fault(format!(
            "the endpoint's scheme is {scheme:?}; it must be https"
        ))),
    }
}

/// The hosts push endpoints may name: an egress allowlist a node sets so that a consumer's key
/// cannot make it post to a host of the node's own network. Empty allows any host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPatterns(Vec<HostPattern>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// This host exactly.
    Exact(String),
    /// Any subdomain of this one (not itself).
    Below(String),
}

impl HostPatterns {
    /// Parses `hcm.gov.vn, *.gov.vn, 10.0.0.5`: hosts, or `*.` and a domain for its
    /// subdomains; empty for any host.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let lower = item.trim_end_matches('.').to_ascii_lowercase();
            let (below, host) = match lower.strip_prefix("*.") {
                Some(rest) => (true, rest.to_owned()),
                None => (false, lower),
            };
            if host.is_empty() || url::Host::parse(&host).is_err() || host.contains('*') {
                return Err(format!("{item:?} is not a host or *.domain"));
            }
            out.push(if below {
                HostPattern::Below(host)
            } else {
                HostPattern::Exact(host)
            });
        }
        Ok(HostPatterns(out))
    }

    /// Whether any host is allowed.
    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks an endpoint's host against the patterns.
    pub fn check(&self, url: &url::Url) -> Result<(), DefinitionError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_end_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let allowed = self.0.iter().any(|p| match p {
            HostPattern::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
            HostPattern::Below(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        });
        if allowed {
            Ok(())
        } else {
            Err(DefinitionError {
                code: "endpoint-host-not-allowed",
                path: "endpoint".into(),
                message: format!(
                    "this node posts only to the hosts its operator allows, and {host:?} is not one"
                ),
            })
        }
    }
}

/// Whether an address reaches this machine or its link rather than a receiver elsewhere:
/// loopback, unspecified (0.0.0.0 connects to loopback), link-local (169.254/16 holds cloud
/// metadata services; fe80::/10), also written as an IPv4-mapped IPv6 address. Private
/// ranges are not: governments' receivers live on them (narrow with `push_endpoint_hosts`).
/// Checked on a URL's literal address, and on every address a host name resolves to when a
/// delivery connects.
pub fn is_node_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_node_local(IpAddr::V4(v4)))
        }
    }
}

/// Checks a batch size.
pub fn check_batch_size(size: u32) -> Result<u32, DefinitionError> {
    if (1..=MAX_BATCH).contains(&size) {
        Ok(size)
    } else {
        Err(DefinitionError {
            code: "batch-size-invalid",
            path: "batch_size".into(),
            message: format!("batch_size must be between 1 and {MAX_BATCH}, found {size}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_longest() {
        let p = RetryPolicy::default();
        let secs: Vec<i64> = (1..=11).map(|a| p.backoff(a).num_seconds()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(p.backoff(u32::MAX), Duration::minutes(5));
        let jittered = p.backoff_with_jitter(3, 0.999);
        assert!(jittered <= Duration::seconds(4) && jittered > Duration::milliseconds(3200));
    }

    #[test]
    fn endpoints_must_be_https_and_not_loopback_unless_allowed() {
        assert!(check_endpoint("https://hcm.gov.vn/ndx/changes", false).is_ok());
        for bad in [
            "http://hcm.gov.vn/ndx",
            "ftp://hcm.gov.vn/x",
            "https://user:pw@hcm.gov.vn/x",
            "https://hcm.gov.vn/x#frag",
            "https://127.0.0.1/x",
            "https://localhost:8443/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://0.0.0.0/x",
            "not a url",
            "/relative",
        ] {
            let e = check_endpoint(bad, false).expect_err(bad);
            assert_eq!(e.code, "endpoint-invalid", "{bad}");
        }
        assert!(check_endpoint("http://127.0.0.1:9000/in", true).is_ok());
        assert!(check_endpoint("http://hcm.gov.vn/in", true).is_err());
        let long = format!("https://hcm.gov.vn/{}", "a".repeat(MAX_ENDPOINT_BYTES));
        assert!(check_endpoint(&long, false).is_err());
        for url in [
            "https://[::ffff:0.0.0.0]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://169.254.169.254/latest",
            "https://[fe80::1]/x",
            "https://0.0.0.0/x",
            "https://ip6-localhost/x",
        ] {
            assert!(check_endpoint(url, false).is_err(), "{url}");
        }
        assert!(check_endpoint("https://10.0.0.5/x", false).is_ok());
    }

    #[test]
    fn delivery_ids_name_the_positions_covered() {
        let b = PendingBatch {
            after: 41,
            until: 90,
        };
        assert_eq!(delivery_id("population", b, 60), "population:42-60");
        assert_eq!(
            DeadLetter::id_of("sub-00ff", 7),
            "sub-00ff@0000000007".to_owned()
        );
    }

    #[test]
    fn host_patterns_allow_their_hosts_and_subdomains_only() {
        let p = HostPatterns::parse(" hcm.gov.vn, *.dn.gov.vn ,127.0.0.1").expect("patterns");
        let ok = |u: &str| p.check(&url::Url::parse(u).expect("url")).is_ok();
        assert!(ok("https://hcm.gov.vn/x"));
        assert!(ok("https://HCM.gov.vn./x"));
        assert!(ok("https://api.dn.gov.vn/x"));
        assert!(ok("http://127.0.0.1:9/x"));
        assert!(!ok("https://dn.gov.vn/x"));
        assert!(!ok("https://evildn.gov.vn/x"));
        assert!(!ok("https://hcm.gov.vn.evil.com/x"));
        assert!(!ok("https://10.0.0.5/x"));
        assert!(HostPatterns::parse("").expect("empty").is_any());
        assert!(HostPatterns::parse("*").is_err());
        assert!(HostPatterns::parse("a b").is_err());
        assert!(HostPatterns::parse("*.*.vn").is_err());
    }
}
