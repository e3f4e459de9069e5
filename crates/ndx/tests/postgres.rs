//! The HTTP behaviours that matter, once more on PostgreSQL: the demo country, atomic and
//! idempotent ingest, versions, as-of, deletion, restart; and a database outage in the middle
//! of a batch. Needs `NDX_TEST_POSTGRES_URL` (set by `.ci/run`); without it these tests say so
//! and pass, except in CI where a missing database is a failure.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::proxy::Proxy;
use common::{Server, cid};

const PG_VAR: &str = "NDX_TEST_POSTGRES_URL";

fn pg_base() -> Option<String> {
    match std::env::var(PG_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{PG_VAR} is not set: CI must run the PostgreSQL tests")
        }
        _ => {
            eprintln!("skipped: PostgreSQL end-to-end tests ({PG_VAR} is not set)");
            None
        }
    }
}

fn fresh_schema(base: &str) -> (String, common::PgSchema) {
    common::pg_fresh_schema(base)
}

fn row(serial: u32, sex: &str, name: &str) -> String {
    let female = sex == "2";
    format!(
        "{},{name},{sex},1905-01-01,01,00004\n",
        cid("001", female, 1905, serial)
    )
}

const HEADER: &str = "citizen_id,full_name,sex,date_of_birth,province_code,ward_code\n";

fn count(s: &Server, key: &str) -> u64 {
    let r = s.get("/api/v1/datasets/population", Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["records"].as_u64().expect("records")
}

#[test]
fn demo_ingest_versions_and_restart_on_postgres() {
    let Some(base) = pg_base() else { return };
    let (url, _schema) = fresh_schema(&base);
    let s = Server::demo_on(&url, 1000);
    let health = s.get("/health", None).json();
    assert_eq!(health["store"], "postgres", "{health}");
    let key = s.key("population-provider");
    assert_eq!(count(&s, &key), 1000);

    // An atomic batch with one bad row changes nothing.
    let bad = format!("{HEADER}{}{}", row(1, "1", "An"), row(3, "5", "Bình"));
    let r = s.ingest("population", "", &key, "text/csv", bad.as_bytes(), None);
    let p = r.problem(422, "batch-rejected");
    assert_eq!(p["report"]["errors"][0]["code"], "code-unknown");
    assert_eq!(count(&s, &key), 1000);

    // A good batch, then the same batch again: replayed, nothing new.
    let good = format!("{HEADER}{}{}", row(1, "1", "An"), row(3, "2", "Bình"));
    let first = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        good.as_bytes(),
        Some("pg-1"),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["created"], 2);
    let again = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        good.as_bytes(),
        Some("pg-1"),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["replayed"], true);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        bad.as_bytes(),
        Some("pg-1"),
    );
    other.problem(409, "batch-id-reused");
    assert_eq!(count(&s, &key), 1002);

    // Versions, lineage, as-of and history.
    let id = cid("001", false, 1905, 1);
    let v1 = s
        .get(
            &format!("/api/v1/datasets/population/records/{id}"),
            Some(&key),
        )
        .json();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["batch_id"], "pg-1");
    assert_eq!(v1["source_system"], "BCA-POPULATION");
    std::thread::sleep(Duration::from_millis(20));
    let renamed = format!("{HEADER}{}", row(1, "1", "An Mới"));
    let up = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        renamed.as_bytes(),
        Some("pg-2"),
    );
    assert_eq!(up.json()["updated"], 1, "{}", up.body);
    let same = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        renamed.as_bytes(),
        Some("pg-3"),
    );
    assert_eq!(same.json()["unchanged"], 1, "{}", same.body);
    let history = s
        .get(
            &format!("/api/v1/datasets/population/records/{id}/history"),
            Some(&key),
        )
        .json();
    let versions: Vec<u64> = history
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, vec![2, 1]);
    let at = v1["recorded_at"]
        .as_str()
        .expect("time")
        .replace('+', "%2B");
    let old = s
        .get(
            &format!("/api/v1/datasets/population/records/{id}?as_of={at}"),
            Some(&key),
        )
        .json();
    assert_eq!(old["data"]["full_name"], "An", "{old}");

    // The owner's list with a filter and a cursor.
    let page = s
        .get(
            "/api/v1/datasets/population/records?province_code=01&limit=5",
            Some(&key),
        )
        .json();
    assert_eq!(page["records"].as_array().expect("records").len(), 5);
    assert!(page["next_cursor"].is_string());

    // Deletion is a tombstone.
    let del = s.request(
        "DELETE",
        &format!("/api/v1/datasets/population/records/{id}"),
        Some(&key),
        &[],
        None,
    );
    assert_eq!(del.status, 200, "{}", del.body);
    s.get(
        &format!("/api/v1/datasets/population/records/{id}"),
        Some(&key),
    )
    .problem(410, "record-deleted");

    // A restart on the same database reuses the country.
    let dir = s.into_dir();
    let s = Server::demo_on_dir(&url, 1000, dir);
    assert_eq!(count(&s, &key), 1001);
}

fn pg_addr(base: &str) -> SocketAddr {
    let rest = base.split("://").nth(1).expect("scheme");
    let host_port = rest.split('/').next().expect("authority");
    let host_port = host_port.rsplit('@').next().expect("host");
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("host:port")
}

/// How the database fails in the middle of a batch.
#[derive(Clone, Copy)]
enum Failure {
    /// The connection goes away.
    Dropped,
    /// The server stops answering (the store's statement deadline must fire).
    Hung,
}

fn outage_mid_batch(failure: Failure) {
    let Some(base) = pg_base() else { return };
    let (direct, _schema) = fresh_schema(&base);
    let target = pg_addr(&base);
    let proxy = std::sync::Arc::new(Proxy::start(target));
    let mut via_proxy = direct.replacen(&target.to_string(), &proxy.addr.to_string(), 1);
    if via_proxy == direct {
        via_proxy = direct.replacen("localhost:5432", &proxy.addr.to_string(), 1);
    }
    assert_ne!(via_proxy, direct, "the test URL must go through the proxy");
    // A short statement deadline, so a hung server is noticed in seconds.
    let via_proxy = format!("{via_proxy}&statement_timeout=2");
    let s = Server::demo_on(&via_proxy, 1000);
    let key = s.key("population-provider");
    assert_eq!(count(&s, &key), 1000);

    let mut big = String::from(HEADER);
    for serial in 0..300_000u32 {
        big.push_str(&row(10 + 2 * serial, "1", "Lê Văn Tải"));
    }
    let started = std::time::Instant::now();
    let breaker = {
        let p = proxy.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            match failure {
                Failure::Dropped => p.cut(),
                Failure::Hung => p.freeze(),
            }
        })
    };
    let r = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        big.as_bytes(),
        Some("big-outage"),
    );
    breaker.join().expect("breaker");
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(400),
        "the batch finished before the database failed; make it bigger"
    );
    assert!(took < Duration::from_secs(30), "the caller waited {took:?}");
    let p = r.problem(503, "store-unavailable");
    assert!(p["request_id"].is_string());

    // The database comes back: nothing of the batch is there, and new work succeeds.
    proxy.restore();
    let mut recovered = None;
    for _ in 0..50 {
        let r = s.get("/api/v1/datasets/population", Some(&key));
        if r.status == 200 {
            recovered = Some(r.json()["records"].as_u64().expect("records"));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        recovered,
        Some(1000),
        "no record of the failed batch may remain"
    );
    let small = format!("{HEADER}{}", row(9, "2", "Hồi Phục"));
    let ok = s.ingest(
        "population",
        "",
        &key,
        "text/csv",
        small.as_bytes(),
        Some("after"),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(count(&s, &key), 1001);
}

#[test]
fn database_connection_dropped_mid_batch_is_a_clean_error_and_recovers() {
    outage_mid_batch(Failure::Dropped);
}

#[test]
fn database_hung_mid_batch_is_a_clean_error_and_recovers() {
    outage_mid_batch(Failure::Hung);
}

/// Two ndx processes serve one PostgreSQL store: operator keys revoked through both at once
/// leave exactly one operator each time. The rule is kept by the store (one catalogue
/// transaction that locks the operator keys it counts), not by one process's memory.
#[test]
fn two_processes_revoking_operator_keys_at_once_leave_one() {
    let Some(base) = pg_base() else { return };
    let (url, _schema) = fresh_schema(&base);
    let a = Server::serve_on(&url, tempfile::tempdir().expect("tempdir"));
    // A second process of the same deployment: same store, same audit keys.
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["audit-signing.key", "audit-subjects.key"] {
        std::fs::copy(a.data_dir().join(file), dir.path().join(file)).expect("audit key");
    }
    let b = Server::serve_on(&url, dir);
    let mut survivor = a.operator_key();
    let me = |s: &Server, key: &str| {
        let r = s.get("/api/v1/me", Some(key));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["key_id"].as_str().expect("key_id").to_owned()
    };
    for round in 0..8 {
        let r = a.post_json(
            "/api/v1/systems/NDC-OPS/keys",
            Some(&survivor),
            &serde_json::json!({"roles": ["operator"], "label": format!("round {round}")}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let issued = r.json();
        let new = issued["secret"].as_str().expect("secret").to_owned();
        let new_id = issued["key"]["id"].as_str().expect("id").to_owned();
        let survivor_id = me(&b, &survivor);
        let revoke = |s: &Server, by: &str, id: &str| {
            s.request("DELETE", &format!("/api/v1/keys/{id}"), Some(by), &[], None)
        };
        let (x, y) = std::thread::scope(|scope| {
            let x = scope.spawn(|| revoke(&a, &survivor, &new_id));
            let y = scope.spawn(|| revoke(&b, &new, &survivor_id));
            (x.join().expect("a"), y.join().expect("b"))
        });
        assert_eq!(
            [x.status, y.status].iter().filter(|&&st| st == 200).count(),
            1,
            "round {round}: {} / {}",
            x.body,
            y.body
        );
        assert!(
            [x.status, y.status]
                .iter()
                .all(|st| [200, 401, 409].contains(st)),
            "round {round}: {} / {}",
            x.body,
            y.body
        );
        survivor = if x.status == 200 { survivor } else { new };
        assert_eq!(a.get("/api/v1/me", Some(&survivor)).status, 200);
        assert_eq!(b.get("/api/v1/me", Some(&survivor)).status, 200);
    }
}

/// Two ndx processes on one PostgreSQL store, each keeping API keys and agreements in its
/// catalogue cache: an agreement revoked through one is refused by the other on the very next
/// request, and so is a revoked key (the cache follows the store's catalogue generation, not
/// the memory of the process that made the change).
#[test]
fn a_revocation_through_one_process_holds_in_the_other_at_once() {
    let Some(base) = pg_base() else { return };
    let (url, _schema) = fresh_schema(&base);
    let a = Server::demo_on(&url, 20);
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["audit-signing.key", "audit-subjects.key"] {
        std::fs::copy(a.data_dir().join(file), dir.path().join(file)).expect("audit key");
    }
    let b = Server::serve_on(&url, dir);
    let civil = a.key("civil-service-consumer");
    let citizen = a
        .get(
            "/api/v1/datasets/population/records?limit=1",
            Some(&a.key("population-provider")),
        )
        .json()["records"][0]["key"]
        .as_str()
        .expect("a citizen")
        .to_owned();
    let lookup = |s: &Server| {
        s.request(
            "GET",
            &format!("/api/v1/exchange/datasets/population/records/{citizen}"),
            Some(&civil),
            &[("Ndx-Purpose", "cross-checking")],
            None,
        )
    };
    for _ in 0..3 {
        let r = lookup(&b);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let agreement = lookup(&b).json()["agreement"]
        .as_str()
        .expect("agreement")
        .to_owned();
    let r = a.post_json(
        &format!("/api/v1/agreements/{agreement}/revoke"),
        Some(&a.key("population-provider")),
        &serde_json::json!({"reason": "the register is checked another way"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    lookup(&b).problem(403, "agreement-revoked");

    let me = b.get("/api/v1/me", Some(&civil));
    assert_eq!(me.status, 200, "{}", me.body);
    let key_id = me.json()["key_id"].as_str().expect("key_id").to_owned();
    let r = a.request(
        "DELETE",
        &format!("/api/v1/keys/{key_id}"),
        Some(&a.key("operator")),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    b.get("/api/v1/me", Some(&civil))
        .problem(401, "key-revoked");
}
