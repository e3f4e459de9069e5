//! Refused requests that no capability stands behind (401: unknown, revoked or expired keys,
//! forged citizen tokens; 403: a citizen asking for another citizen's accesses), recorded in a
//! form an unauthenticated flood cannot use to grow the log without bound.
//!
//! Refusals are counted per bucket — client address, claimed key id (or token kind), error
//! code and data subject — within a UTC minute. The first refusal of a bucket in a minute is
//! recorded at once, as itself (its request id and message); the rest of the minute is one
//! event with their count, written by the appender once the minute is over (or when the log
//! closes). The table is bounded: at most [`MAX_BUCKETS_PER_CLIENT`] buckets per address (then
//! one bucket for the rest of that address's refusals) and [`MAX_BUCKETS`] in all (then one
//! overflow bucket for everybody), so a minute adds at most about `2 × MAX_BUCKETS + 2` entries
//! whatever arrives, and the table's memory is bounded too.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ndx_audit::{AuditEvent, Outcome};

use crate::error::{Code, Error};

/// Most buckets one client address fills in a minute.
pub const MAX_BUCKETS_PER_CLIENT: usize = 16;
/// Most buckets in all in a minute (the memory of the table is bounded by it).
pub const MAX_BUCKETS: usize = 1024;

/// What is claimed or unknown: a bucket that stands for many.
const ANY: &str = "*";

/// A refused request as the edge saw it.
#[derive(Debug, Clone)]
pub struct Denial<'a> {
    /// The client's address, if the server knows it.
    pub client: Option<IpAddr>,
    /// What the request claimed to be: a key id (`ndx_<id>`), `citizen-token`, `malformed`.
    pub claimed: &'a str,
    /// The operation asked for (e.g. `auth` for a refused key, `subject.accesses`).
    pub operation: &'a str,
    /// The data subject it was about, when it was about one (the citizen 403).
    pub subject: Option<&'a str>,
    /// The request id.
    pub request_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    client: String,
    claimed: String,
    operation: String,
    code: String,
    subject: Option<String>,
}

/// The refusals of the current minute.
#[derive(Debug, Default)]
pub(crate) struct DenialTable {
    /// Minutes since the epoch of the buckets.
    minute: i64,
    /// Refusals after the first of each bucket, not yet recorded.
    buckets: HashMap<BucketKey, u64>,
    per_client: HashMap<String, usize>,
}

impl DenialTable {
    /// Counts a refusal at `now`; returns the event to record at once when it is the first of
    /// its bucket in this minute, and the aggregate events of a minute that is over.
    pub(crate) fn note(
        &mut self,
        denial: &Denial<'_>,
        refusal: &Error,
        now: DateTime<Utc>,
    ) -> (Option<AuditEvent>, Vec<AuditEvent>) {
        let minute = now.timestamp().div_euclid(60);
        let past = if minute == self.minute {
            Vec::new()
        } else {
            let past = self.drain();
            self.minute = minute;
            past
        };
        let client = denial
            .client
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let exact = BucketKey {
            client: client.clone(),
            claimed: denial.claimed.to_owned(),
            operation: denial.operation.to_owned(),
            code: refusal.code.to_string(),
            subject: denial.subject.map(str::to_owned),
        };
        let client_rest = BucketKey {
            client: client.clone(),
            claimed: ANY.into(),
            operation: ANY.into(),
            code: ANY.into(),
            subject: None,
        };
        let everybody = BucketKey {
            client: ANY.into(),
            ..client_rest.clone()
        };
        let key = if self.buckets.contains_key(&exact) {
            exact
        } else if self.per_client.get(&client).copied().unwrap_or(0) < MAX_BUCKETS_PER_CLIENT
            && self.buckets.len() < MAX_BUCKETS
        {
            *self.per_client.entry(client).or_default() += 1;
            exact
        } else if self.buckets.contains_key(&client_rest) || self.buckets.len() < MAX_BUCKETS {
            client_rest
        } else {
            everybody
        };
        let first = match self.buckets.get_mut(&key) {
            Some(count) => {
                *count += 1;
                None
            }
            None => {
                let event = first_event(&key, denial, refusal, now);
                self.buckets.insert(key, 0);
                Some(event)
            }
        };
        (first, past)
    }

    /// The aggregate events of the minute held, if it is over at `now`.
    pub(crate) fn drain_if_over(&mut self, now: DateTime<Utc>) -> Vec<AuditEvent> {
        let minute = now.timestamp().div_euclid(60);
        if minute == self.minute {
            return Vec::new();
        }
        let past = self.drain();
        self.minute = minute;
        past
    }

    /// The aggregate events of every bucket with refusals after its first; empties the table.
    pub(crate) fn drain(&mut self) -> Vec<AuditEvent> {
        self.per_client.clear();
        let start = DateTime::<Utc>::from_timestamp(self.minute * 60, 0).unwrap_or_default();
        let mut events: Vec<AuditEvent> = self
            .buckets
            .drain()
            .filter(|(_, count)| *count > 0)
            .map(|(key, count)| aggregate_event(&key, count, start))
            .collect();
        // The same content in the same order whatever the hash map's order.
        events.sort_by(|a, b| (&a.keys, &a.query).cmp(&(&b.keys, &b.query)));
        events
    }
}

fn refused(reason: String) -> Outcome {
    Outcome {
        allowed: false,
        reason: Some(reason),
    }
}

fn bucket_query(key: &BucketKey, count: u64, minute: DateTime<Utc>) -> String {
    format!(
        "client={}&claimed={}&count={count}&minute={}",
        key.client,
        key.claimed,
        minute.format("%Y-%m-%dT%H:%MZ")
    )
}

fn first_event(
    key: &BucketKey,
    denial: &Denial<'_>,
    refusal: &Error,
    now: DateTime<Utc>,
) -> AuditEvent {
    let minute =
        DateTime::<Utc>::from_timestamp(now.timestamp().div_euclid(60) * 60, 0).unwrap_or_default();
    let reason = if key.code == ANY {
        format!(
            "{}: {} (the first refusal beyond the table's bounds this minute; the rest are \
             counted together)",
            refusal.code, refusal.message
        )
    } else {
        format!("{}: {}", refusal.code, refusal.message)
    };
    AuditEvent {
        agreement: None,
        actor: None,
        dataset: None,
        fields: Vec::new(),
        keys: vec![denial.claimed.to_owned()],
        legal_basis: None,
        operation: denial.operation.to_owned(),
        outcome: refused(reason),
        purpose: None,
        query: Some(bucket_query(key, 1, minute)),
        request_id: denial.request_id.to_owned(),
        subjects: denial.subject.map(str::to_owned).into_iter().collect(),
        time: now,
        v: AuditEvent::FORMAT_VERSION,
    }
}

fn aggregate_event(key: &BucketKey, count: u64, minute: DateTime<Utc>) -> AuditEvent {
    let reason = if key.code == ANY {
        format!(
            "{count} more refused requests from {} this minute beyond the table's bounds \
             (any key, any reason)",
            if key.client == ANY {
                "any client"
            } else {
                &key.client
            }
        )
    } else {
        format!(
            "{}: {count} more refused requests like the first of this minute",
            key.code
        )
    };
    AuditEvent {
        agreement: None,
        actor: None,
        dataset: None,
        fields: Vec::new(),
        keys: vec![key.claimed.clone()],
        legal_basis: None,
        operation: key.operation.clone(),
        outcome: refused(reason),
        purpose: None,
        query: Some(bucket_query(key, count, minute)),
        request_id: format!("aggregate-{}", minute.format("%Y-%m-%dT%H:%MZ")),
        subjects: key.subject.clone().into_iter().collect(),
        time: minute + chrono::Duration::seconds(60),
        v: AuditEvent::FORMAT_VERSION,
    }
}

/// The claimed identity of a bearer token, safe to record: the key id of an ndx API key
/// (`ndx_<id>`, the part that is not secret), `citizen-token`, or `malformed`.
pub fn claimed_identity(token: &str) -> String {
    if token.starts_with("ndxc_") {
        return "citizen-token".into();
    }
    match token
        .strip_prefix(crate::registry::KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
    {
        Some((id, _))
            if !id.is_empty()
                && id.len() <= 32
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            format!("{}{id}", crate::registry::KEY_PREFIX)
        }
        _ => "malformed".into(),
    }
}

/// The HTTP-independent part of a 401 or 403: the codes recorded through this table.
pub fn is_recorded_refusal(code: Code) -> bool {
    matches!(
        code,
        Code::KeyUnknown
            | Code::KeyRevoked
            | Code::KeyExpired
            | Code::KeyMalformed
            | Code::TokenInvalid
            | Code::NotYourData
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    fn denial<'a>(client: &str, claimed: &'a str) -> Denial<'a> {
        Denial {
            client: Some(client.parse().expect("ip")),
            claimed,
            operation: "auth",
            subject: None,
            request_id: "r",
        }
    }

    #[test]
    fn a_flood_adds_a_bounded_number_of_events() {
        let mut t = DenialTable::default();
        let refusal = Error::of(Code::KeyUnknown, "the api key is not known");
        let mut firsts = 0;
        let mut later = Vec::new();
        for n in 0..10_000 {
            let claimed = format!("ndx_k{n}");
            let (first, past) = t.note(&denial("10.0.0.1", &claimed), &refusal, at(n % 50));
            firsts += usize::from(first.is_some());
            later.extend(past);
        }
        assert_eq!(firsts, MAX_BUCKETS_PER_CLIENT + 1);
        later.extend(t.drain_if_over(at(61)));
        // Each claimed key came once: only the client's shared bucket has more to tell.
        assert_eq!(later.len(), 1);
        let counted: u64 = later
            .iter()
            .map(|e| {
                let q = e.query.as_deref().expect("query");
                q.split('&')
                    .find_map(|p| p.strip_prefix("count="))
                    .expect("count")
                    .parse::<u64>()
                    .expect("number")
            })
            .sum();
        assert_eq!(
            counted as usize + firsts,
            10_000,
            "every refusal is counted"
        );

        // Many clients: the table stays bounded, the rest share one bucket.
        let mut firsts = 0;
        for n in 0..5000u32 {
            let ip = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
            let (first, _) = t.note(&denial(&ip, "ndx_a"), &refusal, at(120));
            firsts += usize::from(first.is_some());
        }
        assert_eq!(firsts, MAX_BUCKETS + 1);
        assert!(t.buckets.len() <= MAX_BUCKETS + 1);
    }

    #[test]
    fn claimed_identities_keep_no_secret() {
        assert_eq!(claimed_identity("ndx_ab12_deadbeef"), "ndx_ab12");
        assert_eq!(claimed_identity("ndxc_001090000001.abcd"), "citizen-token");
        assert_eq!(claimed_identity("Bearer"), "malformed");
        assert_eq!(claimed_identity("ndx_a b_c"), "malformed");
    }
}
