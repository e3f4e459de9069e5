//! `ndx-bus` against the machine's real NATS JetStream server (`NDX_TEST_NATS_URL`, set by
//! `.ci/run`; without it these tests say so and pass, except in CI where a missing server is a
//! failure). Each test works under a prefix of its own and removes its streams.

use std::time::Duration;

use futures_util::StreamExt;
use ndx_bus::{Bus, BusConfig, BusError, Commit};

const NATS_VAR: &str = "NDX_TEST_NATS_URL";

fn nats_url() -> Option<String> {
    match std::env::var(NATS_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{NATS_VAR} is not set: CI must run the NATS tests")
        }
        _ => {
            eprintln!("skipped: NATS tests ({NATS_VAR} is not set)");
            None
        }
    }
}

fn config(url: &str, prefix: &str, ack_wait: Duration) -> BusConfig {
    BusConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        ack_wait,
        connect_timeout: Duration::from_secs(5),
    }
}

fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t{test}{}x{nanos}", std::process::id())
}

async fn stream_messages(url: &str, stream: &str) -> u64 {
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(stream).await.expect("the stream exists");
    s.info().await.expect("info").state.messages
}

#[tokio::test]
async fn a_commit_notice_reaches_every_process_and_is_kept_once_in_the_datasets_stream() {
    let Some(url) = nats_url() else { return };
    let p = prefix("commit");
    let a = Bus::connect(&config(&url, &p, Duration::from_secs(5)))
        .await
        .expect("a");
    let b = Bus::connect(&config(&url, &p, Duration::from_secs(5)))
        .await
        .expect("b");
    let other = Bus::connect(&config(&url, &format!("{p}o"), Duration::from_secs(5)))
        .await
        .expect("another deployment");
    let mut heard = Box::pin(b.commits().await.expect("listen"));
    let mut not_heard = Box::pin(other.commits().await.expect("listen"));
    // The subscription is registered on the server before the publication.
    b.committed("warm-up", 0).await.expect("flush b");
    let _ = tokio::time::timeout(Duration::from_secs(5), heard.next()).await;
    a.committed("population", 41).await.expect("publish");
    a.committed("population", 42).await.expect("publish");
    // A notice republished (a retry) is dropped by its message id.
    a.committed("population", 42).await.expect("republish");
    let mut got: Vec<Commit> = Vec::new();
    while got.len() < 2 {
        let c = tokio::time::timeout(Duration::from_secs(5), heard.next())
            .await
            .expect("a notice within 5 s")
            .expect("stream open");
        got.push(c);
    }
    assert_eq!(
        got.iter()
            .map(|c| (c.dataset.as_str(), c.head))
            .collect::<Vec<_>>(),
        vec![("population", 41), ("population", 42)]
    );
    assert_eq!(
        stream_messages(&url, &a.changes_stream("population")).await,
        2
    );
    // Another prefix is another deployment: it hears nothing of this one.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), not_heard.next())
            .await
            .is_err()
    );
    // Names that cannot be a stream or subject token are refused before anything is sent.
    assert!(a.committed("population.>", 1).await.is_err());
    assert!(a.committed("pop ulation", 1).await.is_err());
    a.remove_all(&["population", "warm-up"])
        .await
        .expect("cleanup");
    other.remove_all(&[]).await.expect("cleanup");
}

#[tokio::test]
async fn a_job_goes_to_one_process_and_to_another_when_the_first_dies_holding_it() {
    let Some(url) = nats_url() else { return };
    let p = prefix("jobs");
    let ack_wait = Duration::from_secs(1);
    let a = Bus::connect(&config(&url, &p, ack_wait)).await.expect("a");
    let b = Bus::connect(&config(&url, &p, ack_wait)).await.expect("b");
    // The same due state queued by both processes is one job.
    a.queue_job("sub-0123456789abcdef", "7")
        .await
        .expect("queue");
    b.queue_job("sub-0123456789abcdef", "7")
        .await
        .expect("queue");
    let upper = p.to_ascii_uppercase();
    assert_eq!(stream_messages(&url, &format!("{upper}_PUSH")).await, 1);
    let mut a_jobs = Box::pin(a.jobs().await.expect("pull"));
    let job = tokio::time::timeout(Duration::from_secs(5), a_jobs.next())
        .await
        .expect("a job within 5 s")
        .expect("open")
        .expect("job");
    assert_eq!(job.subscription, "sub-0123456789abcdef");
    assert_eq!(job.delivered(), 1);
    // While a holds it, reporting progress, b is given nothing.
    let mut b_jobs = Box::pin(b.jobs().await.expect("pull"));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        job.in_progress().await.expect("progress");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), b_jobs.next())
            .await
            .is_err(),
        "b got a job a holds"
    );
    // a dies holding it (its connection and pulls gone, no acknowledgement): after the
    // deadline the job is b's.
    drop(job);
    drop(a_jobs);
    drop(a);
    let again = tokio::time::timeout(Duration::from_secs(10), b_jobs.next())
        .await
        .expect("the job again within 10 s")
        .expect("open")
        .expect("job");
    assert_eq!(again.subscription, "sub-0123456789abcdef");
    assert_eq!(again.delivered(), 2);
    again.done().await.expect("done");
    assert_eq!(stream_messages(&url, &format!("{upper}_PUSH")).await, 0);
    // A job given back comes again after its delay.
    b.queue_job("sub-0123456789abcdef", "8")
        .await
        .expect("queue");
    let later = tokio::time::timeout(Duration::from_secs(5), b_jobs.next())
        .await
        .expect("job")
        .expect("open")
        .expect("job");
    later
        .later(Duration::from_millis(300))
        .await
        .expect("give back");
    let back = tokio::time::timeout(Duration::from_secs(5), b_jobs.next())
        .await
        .expect("the job back")
        .expect("open")
        .expect("job");
    assert_eq!(back.delivered(), 2);
    back.done().await.expect("done");
    assert!(b.queue_job("sub.*", "1").await.is_err());
    b.remove_all(&[]).await.expect("cleanup");
}

#[tokio::test]
async fn a_broker_that_is_not_there_is_a_clear_error_in_bounded_time() {
    let started = std::time::Instant::now();
    let mut cfg = config("nats://127.0.0.1:9", "unreachable", Duration::from_secs(1));
    cfg.connect_timeout = Duration::from_millis(500);
    let err = Bus::connect(&cfg).await.expect_err("no server on port 9");
    assert!(err.0.contains("127.0.0.1:9"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let bad = config("nats://127.0.0.1:4222", "no.dots", Duration::from_secs(1));
    assert!(matches!(Bus::connect(&bad).await, Err(BusError(m)) if m.contains("prefix")));
}
