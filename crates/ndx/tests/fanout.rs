//! Fan-out across processes (issue 13): two `ndx` processes serve one PostgreSQL store and are
//! coordinated through the machine's NATS JetStream. Changes committed through one are pushed
//! once each, whichever process delivers them; a process killed in the middle of a delivery
//! leaves the batch to the other, which posts it under the same delivery id, and each durable
//! subscriber that applies each delivery id once has every change exactly once. Needs
//! `NDX_TEST_POSTGRES_URL` and `NDX_TEST_NATS_URL` (set by `.ci/run`); without them these tests
//! say so and pass, except in CI where a missing server is a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::push::{move_citizen, positions, subscribed, wait_state};
use common::receiver::{Answer, Receiver};
use common::{ADDRESS, Server};

fn required(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set: CI must run the fan-out tests")
        }
        _ => {
            eprintln!("skipped: fan-out tests ({var} is not set)");
            None
        }
    }
}

/// A prefix of this test's own on the shared NATS server.
fn prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("e2e{}x{nanos}", std::process::id())
}

/// Removes the streams of a test's prefix from the shared NATS server when dropped.
struct Streams {
    url: String,
    prefix: String,
}

impl Drop for Streams {
    fn drop(&mut self) {
        use futures_util::StreamExt;
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let upper = format!("{}_", self.prefix.to_ascii_uppercase());
        rt.block_on(async {
            let Ok(client) = async_nats::connect(self.url.as_str()).await else {
                return;
            };
            let js = async_nats::jetstream::new(client);
            let names: Vec<String> = js
                .stream_names()
                .filter_map(|n| async move { n.ok() })
                .collect()
                .await;
            for name in names.into_iter().filter(|n| n.starts_with(&upper)) {
                let _ = js.delete_stream(&name).await;
            }
        });
    }
}

/// A count of `ndx_bus_events_total` on this process.
fn metric(s: &Server, event: &str) -> u64 {
    let metrics = s.get("/metrics", None).body;
    let line = format!("ndx_bus_events_total{{event=\"{event}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// How many jobs the broker gave this process.
fn jobs_taken(s: &Server) -> u64 {
    metric(s, "job-taken") + metric(s, "job-redelivered")
}

#[test]
fn two_processes_push_each_change_once_and_a_killed_ones_batch_goes_to_the_other() {
    let (Some(pg), Some(nats)) = (
        required("NDX_TEST_POSTGRES_URL"),
        required("NDX_TEST_NATS_URL"),
    ) else {
        return;
    };
    let (url, _schema) = common::pg_fresh_schema(&pg);
    let prefix = prefix();
    let _streams = Streams {
        url: nats.clone(),
        prefix: prefix.clone(),
    };
    // A deadline long enough to kill a process in the middle of a POST; the batch's lease
    // (and the job's acknowledgement deadline) runs out 4 s after it was taken.
    let env = [
        ("NDX_PUSH_ALLOW_LOOPBACK_HTTP", "true"),
        ("NDX_PUSH_ENDPOINT_HOSTS", "127.0.0.1"),
        ("NDX_PUSH_TIMEOUT_MS", "3000"),
        ("NDX_PUSH_MAX_ATTEMPTS", "20"),
        ("NDX_PUSH_BACKOFF_FIRST_MS", "100"),
        ("NDX_PUSH_BACKOFF_MAX_MS", "200"),
        ("NDX_PUSH_LEASE_SECS", "4"),
        ("NDX_NATS_URL", nats.as_str()),
        ("NDX_NATS_PREFIX", prefix.as_str()),
    ];
    let a = Server::demo_on_with_env(&url, 10, &env);
    let b = a.another_process(&url, &env);
    let r = Receiver::start();
    let (id, _) = subscribed(&a, &r, 0, 500);
    wait_state(&b, &id, |v| {
        v["lag"] == 0 && v["position"].as_u64() > Some(0)
    });

    // Changes committed through b, one batch each, are pushed once each.
    let first = r.received();
    let citizens: Vec<String> = first[0].body["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .take(6)
        .map(|c| c["key"].as_str().expect("key").to_owned())
        .collect();
    for (i, citizen) in citizens.iter().enumerate() {
        move_citizen(&b, citizen, &format!("{} Tràng Tiền", i + 1));
    }
    let st = wait_state(&a, &id, |v| v["lag"] == 0 && v["pending"].is_null());
    let head = st["head"].as_u64().expect("head");
    let got = r.received();
    let seen = positions(&got);
    assert_eq!(seen.len() as u64, head, "every position: {seen:?}");
    assert!(
        seen.values().all(|n| *n == 1),
        "no double delivery: {seen:?}"
    );
    let mut ids: Vec<&String> = got
        .iter()
        .map(|d| d.headers.get("ndx-delivery-id").expect("id"))
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "each delivery id posted once");
    for d in &got {
        let data = &d.body["changes"][0]["data"];
        assert!(
            data.as_object()
                .expect("data")
                .keys()
                .all(|k| ADDRESS.contains(&k.as_str())),
            "{data}"
        );
    }
    // The deliveries were the broker's jobs, and b published its commits' notices.
    assert!(jobs_taken(&a) + jobs_taken(&b) >= 1);
    assert!(metric(&b, "notice-published") >= 1);

    // The endpoint hangs: the process that took the job dies in the middle of its POST.
    r.answer(Answer::Hang(Duration::from_secs(20)));
    let (a_before, b_before) = (jobs_taken(&a), jobs_taken(&b));
    let before = r.received().len();
    move_citizen(&b, &citizens[0], "99 Hàng Bài");
    let hung = r.wait_for(Duration::from_secs(10), |g| g.len() > before);
    let hung_id = hung[before].headers["ndx-delivery-id"].clone();
    let (a_took, b_took) = (jobs_taken(&a) > a_before, jobs_taken(&b) > b_before);
    assert!(
        a_took ^ b_took,
        "one process took the job: {a_took} {b_took}"
    );
    // A second durable subscriber, whose endpoint answers at once, starts from the first
    // position in small batches: some are in flight in the process about to die.
    let r2 = Receiver::start();
    r2.answer(Answer::Slow(Duration::from_millis(300)));
    let (id2, _) = subscribed(&b, &r2, 0, 3);
    r2.wait_for(Duration::from_secs(10), |g| !g.is_empty());
    let (dying, survivor) = if a_took { (a, b) } else { (b, a) };
    let _stopped = dying.kill();
    r.answer(Answer::Ok);
    let survivor_before = jobs_taken(&survivor);
    let got = r.wait_for(Duration::from_secs(30), |g| {
        g[before..].iter().any(|d| d.answered == 200)
    });
    let delivered = got[before..]
        .iter()
        .find(|d| d.answered == 200)
        .expect("delivered");
    assert_eq!(delivered.headers["ndx-delivery-id"], hung_id);
    assert_eq!(
        delivered.body["changes"][0]["data"]["street_address"],
        "99 Hàng Bài"
    );
    assert!(jobs_taken(&survivor) > survivor_before);
    let st = wait_state(&survivor, &id, |v| v["lag"] == 0 && v["pending"].is_null());
    assert_eq!(st["position"], head + 1);
    // Each durable subscriber, applying each delivery id once (as the idempotency id is
    // for), has every change exactly once, across the kill.
    wait_state(&survivor, &id2, |v| v["lag"] == 0 && v["pending"].is_null());
    for (name, receiver) in [("first", &r), ("second", &r2)] {
        let applied = applied_once(&receiver.received());
        assert_eq!(applied.len() as u64, head + 1, "{name}: {applied:?}");
        assert!(applied.values().all(|n| *n == 1), "{name}: {applied:?}");
    }
}

/// Every position of the deliveries a receiver acknowledged, each delivery id applied once:
/// position → how often it was applied.
fn applied_once(got: &[common::receiver::Received]) -> BTreeMap<u64, usize> {
    let mut ids = BTreeSet::new();
    let mut seen = BTreeMap::new();
    for d in got.iter().filter(|d| d.answered == 200) {
        if !ids.insert(d.headers["ndx-delivery-id"].clone()) {
            continue;
        }
        for c in d.body["changes"].as_array().expect("changes") {
            *seen
                .entry(c["position"].as_u64().expect("position"))
                .or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn a_broker_configured_but_unreachable_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(common::ndx_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("NDX_NATS_URL", "nats://127.0.0.1:9")
        .env("NDX_LOG", "warn")
        .output()
        .expect("run ndx");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use NATS JetStream at nats://127.0.0.1:9"),
        "{err}"
    );
    let out = std::process::Command::new(common::ndx_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("NDX_NATS_URL", "nats://127.0.0.1:4222")
        .env("NDX_NATS_PREFIX", "no.dots")
        .output()
        .expect("run ndx");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nats_prefix"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
