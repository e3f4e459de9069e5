//! Helpers of the push-subscription tests: the node settings they run with, making and
//! reading subscriptions, and moving a citizen so that a change is pushed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::receiver::{Received, Receiver};
use super::{POP, PURPOSE, Resp, Server};

/// Fast retries for tests: 3 attempts, 100 ms then 200 ms, a 500 ms deadline; endpoints on the
/// loopback receiver only.
pub const PUSH_ENV: [(&str, &str); 7] = [
    ("NDX_PUSH_ALLOW_LOOPBACK_HTTP", "true"),
    ("NDX_PUSH_ENDPOINT_HOSTS", "127.0.0.1"),
    ("NDX_PUSH_TIMEOUT_MS", "500"),
    ("NDX_PUSH_MAX_ATTEMPTS", "3"),
    ("NDX_PUSH_BACKOFF_FIRST_MS", "100"),
    ("NDX_PUSH_BACKOFF_MAX_MS", "200"),
    ("NDX_PUSH_LEASE_SECS", "2"),
];

pub fn subscribe(s: &Server, key: &str, body: Value) -> Resp {
    s.post_json("/api/v1/subscriptions", Some(key), &body)
}

/// Makes a subscription of consumer-01 to population from `after`; its id and secret.
pub fn subscribed(s: &Server, r: &Receiver, after: u64, batch: u64) -> (String, String) {
    let resp = subscribe(
        s,
        &s.key("consumer-01"),
        json!({"dataset": POP, "purpose": PURPOSE, "endpoint": r.url(), "after": after,
               "batch_size": batch}),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let out = resp.json();
    assert_eq!(out["status"], "active");
    assert_eq!(out["position"], after);
    let secret = out["secret"].as_str().expect("the secret, once").to_owned();
    assert_eq!(secret.len(), 64);
    (out["id"].as_str().expect("id").to_owned(), secret)
}

pub fn state(s: &Server, id: &str) -> Value {
    let r = s.get(
        &format!("/api/v1/subscriptions/{id}"),
        Some(&s.key("consumer-01")),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v.get("secret").is_none(), "the secret is shown once");
    v
}

pub fn wait_state(s: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let v = state(s, id);
        if done(&v) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The population feed's head: the position a subscriber's baseline is consistent with (a page
/// of changes from 0 would be refused once the retention has passed).
pub fn head(s: &Server) -> u64 {
    let r = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/changes/baseline"),
        Some(&s.key("consumer-01")),
        &[("Ndx-Purpose", PURPOSE), ("Accept", "application/x-ndjson")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("ndx-feed-position")
        .and_then(|p| p.parse().ok())
        .expect("Ndx-Feed-Position")
}

/// Every position delivered (answered 2xx), with how often.
pub fn positions(got: &[Received]) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for d in got.iter().filter(|d| d.answered == 200) {
        for c in d.body["changes"].as_array().expect("changes") {
            *seen
                .entry(c["position"].as_u64().expect("position"))
                .or_insert(0) += 1;
        }
    }
    seen
}

/// The stored record of a citizen, moved to another street, as one NDJSON line.
pub fn move_citizen(s: &Server, citizen: &str, street: &str) {
    let provider = s.key("population-provider");
    let r = s.get(
        &format!("/api/v1/datasets/{POP}/records/{citizen}"),
        Some(&provider),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut data = r.json()["data"].clone();
    data["street_address"] = json!(street);
    let mut line = serde_json::to_vec(&data).expect("json");
    line.push(b'\n');
    let r = s.ingest(POP, "", &provider, "application/x-ndjson", &line, None);
    assert_eq!(r.status, 200, "{}", r.body);
}

pub fn some_citizen(got: &[Received]) -> String {
    got[0].body["changes"][0]["key"]
        .as_str()
        .expect("key")
        .to_owned()
}
