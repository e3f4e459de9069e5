//! Push subscriptions end to end (issue 13): a province's system subscribes to the population
//! register with an endpoint of its own (a loopback receiver here), and ndx POSTs every change
//! to it — signed (checked here with an HMAC of the test's own), carrying the agreed fields only
//! and an idempotency id that a retry repeats; a failing, then hanging, then recovering
//! endpoint gets every change at least once and the subscription catches up; one that never
//! recovers leaves a dead letter that the consumer replays; a revoked agreement ends the
//! subscription at once; a process killed mid-delivery hands its batch to the next.

mod common;

use std::time::Duration;

use common::push::{
    PUSH_ENV, head, move_citizen, positions, some_citizen, state, subscribe, subscribed, wait_state,
};
use common::receiver::{Answer, Received, Receiver};
use common::{ADDRESS, POP, PURPOSE, Server};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn demo(citizens: usize) -> Server {
    Server::demo_on_dir_with_env(tempfile::tempdir().expect("dir"), citizens, &PUSH_ENV)
}

/// Checks a delivery's signature with an HMAC of the test's own.
fn check_signature(d: &Received, secret: &str) {
    let header = d.headers.get("ndx-signature").expect("Ndx-Signature");
    let (t, v1) = header
        .split_once(",v1=")
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v)))
        .expect("t=…,v1=…");
    let t: i64 = t.parse().expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - t).abs() < 120);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&d.raw);
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()), "signature");
}

#[test]
fn every_change_is_pushed_signed_and_a_failing_then_hanging_endpoint_gets_it_when_it_recovers() {
    let s = demo(20);
    let r = Receiver::start();
    let (id, secret) = subscribed(&s, &r, 0, 7);
    let h = head(&s);
    let got = r.wait_for(Duration::from_secs(30), |got| {
        positions(got).keys().next_back() == Some(&h)
    });
    let seen = positions(&got);
    assert_eq!(seen.len() as u64, h, "every position from 1 to the head");
    assert!(seen.iter().all(|(_, n)| *n == 1), "no duplicate: {seen:?}");
    for d in &got {
        check_signature(d, &secret);
        let did = d.headers.get("ndx-delivery-id").expect("delivery id");
        assert_eq!(d.body["delivery"], did.as_str());
        assert_eq!(d.headers.get("ndx-subscription"), Some(&id));
        let changes = d.body["changes"].as_array().expect("changes");
        assert!(changes.len() <= 7);
        let (first, last) = (changes[0]["position"].as_u64(), d.body["next"].as_u64());
        assert_eq!(
            did,
            &format!("{POP}:{}-{}", first.expect("p"), last.expect("next"))
        );
        for c in changes {
            let fields: Vec<&String> = c["data"].as_object().expect("data").keys().collect();
            assert!(
                fields.iter().all(|f| ADDRESS.contains(&f.as_str())),
                "{fields:?}"
            );
        }
    }
    let st = wait_state(&s, &id, |v| v["lag"] == 0);
    assert_eq!(st["position"], h);
    assert_eq!(st["delivered_changes"], h);

    // The endpoint fails: the same batch is retried under the same id, with backoff.
    let citizen = some_citizen(&got);
    r.answer(Answer::Status(503));
    let before = r.received().len();
    move_citizen(&s, &citizen, "9 Hàng Bài");
    let failed = r.wait_for(Duration::from_secs(10), |g| g.len() >= before + 2);
    let ids: Vec<&String> = failed[before..]
        .iter()
        .map(|d| d.headers.get("ndx-delivery-id").expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(ids[0], &format!("{POP}:{}-{}", h + 1, h + 1));
    let st = state(&s, &id);
    assert!(
        st["last_error"].as_str().is_some_and(|e| e.contains("503")),
        "{st}"
    );
    // It hangs past the deadline: still the same batch, now timing out.
    r.answer(Answer::Hang(Duration::from_millis(1500)));
    let st = wait_state(&s, &id, |v| {
        v["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no answer within 500 ms"))
            || v["status"] == "dead"
    });
    // It recovers: a replay if it died meanwhile (3 attempts), else the next retry.
    r.answer(Answer::Ok);
    let replayed = st["status"] == "dead";
    if replayed {
        let rr = s.post_json(
            &format!("/api/v1/subscriptions/{id}/replay"),
            Some(&s.key("consumer-01")),
            &json!({}),
        );
        assert_eq!(rr.status, 200, "{}", rr.body);
    }
    let got = r.wait_for(Duration::from_secs(20), |g| {
        g.iter()
            .any(|d| d.answered == 200 && d.body["changes"][0]["position"].as_u64() == Some(h + 1))
    });
    let ok = got
        .iter()
        .rfind(|d| d.answered == 200)
        .expect("the recovered delivery");
    assert_eq!(ok.headers.get("ndx-delivery-id"), Some(ids[0]));
    // A replay starts a new series of attempts; a plain retry is at least the second.
    let least = if replayed { 1 } else { 2 };
    assert!(
        ok.body["attempt"].as_u64().expect("attempt") >= least,
        "{}",
        ok.body
    );
    assert_eq!(
        ok.body["changes"][0]["data"]["street_address"],
        "9 Hàng Bài"
    );
    let st = wait_state(&s, &id, |v| v["lag"] == 0 && v["pending"].is_null());
    assert_eq!(st["position"], h + 1);
    assert!(st["failures"].as_u64().expect("failures") >= 2);
    assert!(st["last_error"].is_null());
    let metrics = s.get("/metrics", None).body;
    assert!(
        metrics.contains(&format!(
            "ndx_subscription_lag_changes{{subscription=\"{id}\",dataset=\"population\",status=\"active\"}} 0"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("ndx_push_deliveries_total{outcome=\"failed\"}"));
    assert!(metrics.contains("ndx_push_deliveries_total{outcome=\"delivered\"}"));
    // Every delivery is on the audit log as a subscribe page under the agreement, and the moved
    // citizen's tracker shows it; its entry names the subscription.
    let pushed = s
        .accesses(&citizen)
        .into_iter()
        .find(|a| a["operation"] == "exchange.subscribe" && a["allowed"] == true)
        .expect("the push on the tracker");
    assert_eq!(pushed["purpose"], PURPOSE);
    assert!(pushed["agreement"].is_string(), "{pushed}");
    let entry = pushed["entry"].as_u64().expect("entry");
    let audit = s.get(
        &format!("/api/v1/audit/entries?start={entry}&end={}", entry + 1),
        Some(&s.key("auditor")),
    );
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(
        audit.body.contains(&format!("subscription={id}")),
        "{}",
        audit.body
    );
}

#[test]
fn a_batch_that_fails_every_attempt_is_a_dead_letter_the_consumer_replays_under_the_same_id() {
    let s = demo(10);
    let r = Receiver::start();
    r.answer(Answer::Status(500));
    // The node posts only to the hosts its operator allows.
    let elsewhere = subscribe(
        &s,
        &s.key("consumer-01"),
        json!({"dataset": POP, "purpose": PURPOSE, "endpoint": "https://hcm.gov.vn/ndx"}),
    );
    elsewhere.problem(422, "subscription-invalid");
    assert!(
        elsewhere.body.contains("endpoint-host-not-allowed"),
        "{}",
        elsewhere.body
    );
    let (id, _) = subscribed(&s, &r, 0, 500);
    let st = wait_state(&s, &id, |v| v["status"] == "dead");
    assert_eq!(st["attempts"], 3);
    assert_eq!(st["dead_letters"], 1);
    let consumer = s.key("consumer-01");
    let letters = s.get(
        &format!("/api/v1/subscriptions/{id}/dead-letters"),
        Some(&consumer),
    );
    assert_eq!(letters.status, 200, "{}", letters.body);
    let letter = letters.json()[0].clone();
    let h = head(&s);
    assert_eq!(letter["delivery_id"], format!("{POP}:1-{h}"));
    assert_eq!(
        (letter["first"].as_u64(), letter["attempts"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(
        letter["last_error"]
            .as_str()
            .expect("error")
            .contains("500")
    );
    assert!(letter["replayed_at"].is_null());
    // Nothing more is tried while dead.
    let tried = r.received().len();
    assert_eq!(tried, 3);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(r.received().len(), tried);
    // Resume is not how a dead one goes on; replay is.
    let resume = s.post_json(
        &format!("/api/v1/subscriptions/{id}/resume"),
        Some(&consumer),
        &json!({}),
    );
    resume.problem(409, "subscription-transition-invalid");
    r.answer(Answer::Ok);
    let replay = s.request(
        "POST",
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &[],
        None,
    );
    assert_eq!(replay.status, 200, "{}", replay.body);
    let got = r.wait_for(Duration::from_secs(10), |g| {
        g.iter().any(|d| d.answered == 200)
    });
    let ok = got.iter().find(|d| d.answered == 200).expect("delivered");
    assert_eq!(
        ok.headers.get("ndx-delivery-id").map(String::as_str),
        letter["delivery_id"].as_str()
    );
    wait_state(&s, &id, |v| v["status"] == "active" && v["lag"] == 0);
    let letters = s
        .get(
            &format!("/api/v1/subscriptions/{id}/dead-letters"),
            Some(&consumer),
        )
        .json();
    assert!(letters[0]["replayed_at"].is_string(), "{letters}");
    // Replay from a position sends those changes again (a consumer that lost them).
    let before = r.received().len();
    let again = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({"from": h - 2}),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let got = r.wait_for(Duration::from_secs(10), |g| g.len() > before);
    assert_eq!(got[before].body["changes"][0]["position"], h - 1);
    let beyond = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({"from": h + 100}),
    );
    beyond.problem(400, "feed-position-invalid");
    // Pause stops deliveries; resume goes on.
    let paused = s.post_json(
        &format!("/api/v1/subscriptions/{id}/pause"),
        Some(&consumer),
        &json!({}),
    );
    assert_eq!(paused.json()["status"], "paused");
    let resumed = s.post_json(
        &format!("/api/v1/subscriptions/{id}/resume"),
        Some(&consumer),
        &json!({}),
    );
    assert_eq!(resumed.json()["status"], "active");
    // Removed: gone for everyone, and its dead letters with it.
    let del = s.request(
        "DELETE",
        &format!("/api/v1/subscriptions/{id}"),
        Some(&consumer),
        &[],
        None,
    );
    assert_eq!(del.status, 204, "{}", del.body);
    s.get(&format!("/api/v1/subscriptions/{id}"), Some(&consumer))
        .problem(404, "subscription-not-found");
    s.get(
        &format!("/api/v1/subscriptions/{id}/dead-letters"),
        Some(&consumer),
    )
    .problem(404, "subscription-not-found");
}

#[test]
fn a_revoked_agreement_ends_the_subscription_and_nothing_more_leaves() {
    let s = demo(10);
    let r = Receiver::start();
    let (id, _) = subscribed(&s, &r, 0, 500);
    let got = r.wait_for(Duration::from_secs(20), |g| !g.is_empty());
    wait_state(&s, &id, |v| v["lag"] == 0);
    let consumer = s.key("consumer-01");
    let agreement = s.approved_agreement(&consumer, POP);
    let revoked = s.post_json(
        &format!("/api/v1/agreements/{agreement}/revoke"),
        Some(&consumer),
        &json!({"reason": "the system is retired"}),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let before = r.received().len();
    move_citizen(&s, &some_citizen(&got), "1 Đinh Tiên Hoàng");
    let st = wait_state(&s, &id, |v| v["status"] == "ended");
    assert!(
        st["last_error"]
            .as_str()
            .expect("why")
            .starts_with("agreement-revoked"),
        "{st}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        r.received().len(),
        before,
        "nothing left after the revocation"
    );
    let replay = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({"from": 0}),
    );
    replay.problem(409, "subscription-transition-invalid");
    // A new subscription is refused as a pull would be.
    subscribe(
        &s,
        &consumer,
        json!({"dataset": POP, "purpose": PURPOSE, "endpoint": r.url()}),
    )
    .problem(403, "agreement-revoked");
}

#[test]
fn bad_subscriptions_are_refused_with_precise_problems_and_change_nothing() {
    // The node's defaults: loopback endpoints refused. Subscriptions start at the head and
    // nothing is committed afterwards, so nothing is ever posted to the (unreachable) endpoint.
    let s = Server::demo(5);
    let consumer = s.key("consumer-01");
    let ok = json!({"dataset": POP, "purpose": PURPOSE, "endpoint": "https://hcm.gov.vn/ndx"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("endpoint", json!("http://hcm.gov.vn/ndx")),
            422,
            "subscription-invalid",
        ),
        (
            with("endpoint", json!("https://u:p@hcm.gov.vn/")),
            422,
            "subscription-invalid",
        ),
        (
            with("endpoint", json!("ftp://hcm.gov.vn/")),
            422,
            "subscription-invalid",
        ),
        (with("batch_size", json!(0)), 422, "subscription-invalid"),
        (with("batch_size", json!(501)), 422, "subscription-invalid"),
        (with("batch_size", json!(-1)), 422, "body-invalid"),
        (
            with("after", json!(1_000_000_000)),
            400,
            "feed-position-invalid",
        ),
        (
            with("purpose", json!("cross-checking")),
            403,
            "purpose-mismatch",
        ),
        (with("purpose", json!("tax-audit")), 400, "purpose-unknown"),
        (with("dataset", json!("no-such")), 404, "dataset-not-found"),
        (
            with("fields", json!(["citizen_id"])),
            403,
            "field-not-covered",
        ),
        (
            with("filters", json!({"citizen_id": "001"})),
            403,
            "field-not-covered",
        ),
        (
            with("filters", json!({"province_code": 7})),
            422,
            "body-invalid",
        ),
        (with("surprise", json!(true)), 422, "body-invalid"),
    ];
    for (body, status, code) in cases {
        let r = subscribe(&s, &consumer, body.clone());
        assert_eq!(r.status, status, "{body}: {}", r.body);
        r.problem(status, code);
    }
    // Without loopback allowed (the default), a loopback endpoint is refused whatever its scheme.
    for url in ["https://127.0.0.1:9/x", "http://localhost:9/x"] {
        subscribe(&s, &consumer, with("endpoint", json!(url))).problem(422, "subscription-invalid");
    }
    let r = s.request(
        "POST",
        "/api/v1/subscriptions",
        Some(&consumer),
        &[],
        Some(("application/json", b"{not json")),
    );
    r.problem(400, "body-malformed");
    subscribe(&s, &s.key("population-provider"), ok.clone()).problem(403, "consumer-required");
    let r = s.post_json("/api/v1/subscriptions", None, &ok);
    r.problem(401, "auth-missing");
    assert_eq!(
        s.get("/api/v1/subscriptions", Some(&consumer)).json(),
        json!([])
    );
    // One consumer's subscription is invisible to another; an auditor sees it.
    let made = subscribe(&s, &consumer, ok.clone());
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["id"].as_str().expect("id").to_owned();
    let other = s.key("consumer-79");
    s.get(&format!("/api/v1/subscriptions/{id}"), Some(&other))
        .problem(404, "subscription-not-found");
    let r = s.request(
        "DELETE",
        &format!("/api/v1/subscriptions/{id}"),
        Some(&other),
        &[],
        None,
    );
    r.problem(404, "subscription-not-found");
    assert_eq!(
        s.get(
            &format!("/api/v1/subscriptions/{id}"),
            Some(&s.key("auditor"))
        )
        .status,
        200
    );
    let r = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({}),
    );
    r.problem(409, "subscription-transition-invalid");
    let r = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({"from": "x"}),
    );
    r.problem(422, "body-invalid");
}

#[test]
fn a_process_killed_mid_delivery_leaves_its_batch_to_the_next_with_the_same_id() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Server::demo_on_dir_with_env(dir, 10, &PUSH_ENV);
    let r = Receiver::start();
    // The endpoint takes longer than the deadline: the batch stays pending, attempt after attempt.
    r.answer(Answer::Hang(Duration::from_millis(1500)));
    let (id, secret) = subscribed(&s, &r, 0, 500);
    r.wait_for(Duration::from_secs(10), |g| !g.is_empty());
    let first_id = r.received()[0].headers["ndx-delivery-id"].clone();
    let stopped = s.kill();
    // The store holds no signing key (it is derived under the node's own key): a copy of
    // the database cannot sign deliveries.
    for entry in std::fs::read_dir(&stopped.dir).expect("data dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("ndx.db") {
            let bytes = std::fs::read(entry.path()).expect("store file");
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the signing key is in {name}"
            );
        }
    }
    r.answer(Answer::Ok);
    let s = stopped.serve_with_env(&PUSH_ENV);
    let got = r.wait_for(Duration::from_secs(20), |g| {
        g.iter().any(|d| d.answered == 200)
    });
    let delivered = got.iter().rfind(|d| d.answered == 200).expect("delivered");
    assert_eq!(delivered.headers["ndx-delivery-id"], first_id);
    // Signed with the same key by the restarted process.
    check_signature(delivered, &secret);
    let st = wait_state(&s, &id, |v| v["lag"] == 0 && v["pending"].is_null());
    assert_eq!(st["delivered_changes"], head(&s));
    let seen = positions(&got);
    assert_eq!(seen.len() as u64, head(&s), "no gap");
}

#[test]
fn a_consumer_behind_the_retention_gets_410_and_rebaselines_from_a_snapshot_and_its_position() {
    // Changes are kept 3 s here (30 days by default).
    let mut env = PUSH_ENV.to_vec();
    env.push(("NDX_FEED_RETENTION_SECS", "3"));
    let s = Server::demo_on_dir_with_env(tempfile::tempdir().expect("dir"), 10, &env);
    let consumer = s.key("consumer-01");
    let r = Receiver::start();
    // A subscription whose endpoint fails until it is dead, with a change still to send. It
    // starts just before a change made now: on a slow store the demo's own changes may
    // already be older than the 3 s the feed keeps.
    r.answer(Answer::Status(503));
    let listed = s
        .get(
            &format!("/api/v1/datasets/{POP}/records?limit=1"),
            Some(&s.key("population-provider")),
        )
        .ok(200);
    let first = listed["records"][0]["key"]
        .as_str()
        .expect("a citizen")
        .to_owned();
    move_citizen(&s, &first, "1 Tràng Tiền");
    let start = head(&s) - 1;
    let (id, _) = subscribed(&s, &r, start, 500);
    wait_state(&s, &id, |v| v["status"] == "dead");
    let old_head = head(&s);
    std::thread::sleep(Duration::from_millis(3500));
    let citizen = some_citizen(&r.received());
    move_citizen(&s, &citizen, "5 Lý Thái Tổ");
    let pull = |after: u64| {
        s.request(
            "GET",
            &format!("/api/v1/exchange/datasets/{POP}/changes?after={after}"),
            Some(&consumer),
            &[("Ndx-Purpose", PURPOSE)],
            None,
        )
    };
    // Behind the retention: a precise refusal that says how to re-baseline, audited.
    let p = pull(0).problem(410, "feed-position-expired");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Ndx-Feed-Position")
                && d.contains(&format!("after position {old_head}"))),
        "{p}"
    );
    // From the retained start, the new change.
    let fresh = pull(old_head);
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.json()["changes"][0]["key"], citizen.as_str());
    // A new subscription from too far back is refused the same way.
    subscribe(
        &s,
        &consumer,
        json!({"dataset": POP, "purpose": PURPOSE, "endpoint": r.url(), "after": 0}),
    )
    .problem(410, "feed-position-expired");
    // The dead subscription, replayed, cannot go on where it was: dead again, saying why.
    r.answer(Answer::Ok);
    let replay = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({}),
    );
    assert_eq!(replay.status, 200, "{}", replay.body);
    let st = wait_state(&s, &id, |v| {
        v["status"] == "dead"
            && v["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("feed-position-expired"))
    });
    assert_eq!(st["position"], start);
    s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({"from": 0}),
    )
    .problem(410, "feed-position-expired");
    // The baseline: the agreed fields of every record, and the position it is consistent
    // with, under the subscribe agreement (the province may not extract).
    let extract = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/extract"),
        Some(&consumer),
        &[("Ndx-Purpose", PURPOSE)],
        None,
    );
    extract.problem(403, "operation-not-covered");
    let baseline = s.request(
        "GET",
        &format!("/api/v1/exchange/datasets/{POP}/changes/baseline"),
        Some(&consumer),
        &[("Ndx-Purpose", PURPOSE)],
        None,
    );
    assert_eq!(baseline.status, 200, "{}", baseline.body);
    let position: u64 = baseline
        .header("ndx-feed-position")
        .expect("Ndx-Feed-Position")
        .parse()
        .expect("a position");
    assert_eq!(position, old_head + 1);
    let lines: Vec<Value> = baseline
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(lines.len(), 10);
    for line in &lines {
        assert!(
            line["data"]
                .as_object()
                .expect("data")
                .keys()
                .all(|k| ADDRESS.contains(&k.as_str())),
            "{line}"
        );
    }
    let moved = lines
        .iter()
        .find(|l| l["key"] == citizen.as_str())
        .expect("the moved citizen");
    assert_eq!(moved["data"]["street_address"], "5 Lý Thái Tổ");
    // Replayed from the baseline's position, the subscription goes on with what comes next.
    let replay = s.post_json(
        &format!("/api/v1/subscriptions/{id}/replay"),
        Some(&consumer),
        &json!({"from": position}),
    );
    assert_eq!(replay.status, 200, "{}", replay.body);
    let before = r.received().len();
    move_citizen(&s, &citizen, "6 Lý Thái Tổ");
    let got = r.wait_for(Duration::from_secs(20), |g| {
        g[before..].iter().any(|d| d.answered == 200)
    });
    let delivered = got[before..]
        .iter()
        .find(|d| d.answered == 200)
        .expect("delivered");
    assert_eq!(
        delivered.headers["ndx-delivery-id"],
        format!("{POP}:{}-{}", position + 1, position + 1)
    );
    // The baseline is on the citizen's tracker like any release.
    assert!(
        s.accesses(&citizen)
            .iter()
            .any(|a| a["operation"] == "exchange.baseline" && a["allowed"] == true)
    );
}

#[test]
fn the_command_line_makes_steers_and_removes_a_subscription() {
    let s = demo(5);
    let r = Receiver::start();
    let key = s.key("consumer-01");
    let ndx = |args: &[&str]| {
        let out = std::process::Command::new(common::ndx_bin())
            .arg("subscription")
            .args(["--url", s.base_url()])
            .args(args)
            .env("NDX_KEY", &key)
            .output()
            .expect("ndx subscription");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let file = s.data_dir().join("subscription.json");
    std::fs::write(
        &file,
        json!({"dataset": POP, "purpose": PURPOSE, "endpoint": r.url(), "after": 0}).to_string(),
    )
    .expect("write");
    let (code, out, err) = ndx(&["add", file.to_str().expect("path")]);
    assert_eq!(code, Some(0), "{err}");
    let made: Value = serde_json::from_str(&out).expect("JSON");
    let id = made["id"].as_str().expect("id").to_owned();
    assert_eq!(made["secret"].as_str().map(str::len), Some(64));
    r.wait_for(Duration::from_secs(20), |g| !g.is_empty());
    let (code, out, _) = ndx(&["status"]);
    assert_eq!(code, Some(0));
    let all: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(all[0]["id"], id.as_str());
    assert!(all[0].get("secret").is_none());
    let (code, out, _) = ndx(&["pause", &id]);
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("JSON")["status"],
        "paused"
    );
    let (code, out, _) = ndx(&["replay", &id, "--from", "0"]);
    assert_eq!(code, Some(0));
    let replayed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (replayed["status"].as_str(), replayed["position"].as_u64()),
        (Some("active"), Some(0))
    );
    let (code, out, _) = ndx(&["status", &id]);
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("JSON")["dead_letters_kept"],
        json!([])
    );
    // A refusal exits with the status of its kind (4: not found) and says why.
    let (code, _, err) = ndx(&["resume", "sub-0000000000000000"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("no subscription"), "{err}");
    let (code, _, err) = ndx(&["remove", &id]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = ndx(&["status", &id]);
    assert_eq!(code, Some(4), "{err}");
}

#[test]
fn an_endpoint_the_node_no_longer_allows_ends_its_subscription() {
    let s = Server::demo_on_dir_with_env(tempfile::tempdir().expect("dir"), 5, &PUSH_ENV);
    let r = Receiver::start();
    let (id, _) = subscribed(&s, &r, 0, 500);
    let got = r.wait_for(Duration::from_secs(20), |g| !g.is_empty());
    wait_state(&s, &id, |v| v["lag"] == 0);
    // The operator turns plain http to loopback off: the next batch is not posted.
    let env: Vec<(&str, &str)> = PUSH_ENV
        .iter()
        .filter(|(k, _)| *k != "NDX_PUSH_ALLOW_LOOPBACK_HTTP")
        .copied()
        .collect();
    let s = s.stop().serve_with_env(&env);
    let before = r.received().len();
    move_citizen(&s, &some_citizen(&got), "7 Hàng Gai");
    let st = wait_state(&s, &id, |v| v["status"] == "ended");
    assert!(
        st["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("subscription-invalid")),
        "{st}"
    );
    assert_eq!(r.received().len(), before, "nothing posted");
}

#[test]
fn a_host_name_that_resolves_to_this_machine_is_not_posted_to() {
    // This machine's own name, when it resolves to loopback only (as /etc/hosts usually
    // says): its URL looks like anyone's, so only the check at connect time can refuse it.
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let addrs: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 443))
            .map(Iterator::collect)
            .unwrap_or_default();
    if host.is_empty() || addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        eprintln!("skipped: this machine's name {host:?} does not resolve to loopback only");
        return;
    }
    let s = Server::demo(5);
    let r = Receiver::start();
    let port = r
        .url()
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port")
        .to_owned();
    let made = subscribe(
        &s,
        &s.key("consumer-01"),
        json!({"dataset": POP, "purpose": PURPOSE, "after": 0,
               "endpoint": format!("https://{host}:{port}/ndx")}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["id"].as_str().expect("id").to_owned();
    let st = wait_state(&s, &id, |v| v["last_error"].is_string());
    assert!(
        st["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("resolves only to loopback")),
        "{st}"
    );
    assert!(
        r.received().is_empty(),
        "nothing reached the machine's own port"
    );
}
