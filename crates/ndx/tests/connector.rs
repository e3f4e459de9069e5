//! Connectors end to end (issue 13): Ho Chi Minh City's welfare database — a table on the
//! machine's real PostgreSQL, and one on its real MariaDB — kept in step with the dataset
//! `social-welfare` of a running ndx. Inserts, updates and (by snapshot) deletes arrive; rows
//! that fail validation are reported with their source key and column; a run killed with its
//! server (`kill -9`) is closed as interrupted and the next run loses and doubles nothing; a
//! connector over TLS checks the server's certificate. Bad definitions and callers are refused
//! with their codes and change nothing.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Server, cid};
use serde_json::{Value, json};

const DATASET: &str = "social-welfare";

fn pg_url() -> String {
    std::env::var("NDX_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn mariadb_url() -> String {
    std::env::var("NDX_TEST_MARIADB_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A name no other test (or test process) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs SQL on the machine's PostgreSQL.
fn pg(sql: &str) {
    let url = pg_url();
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(conn);
        client.batch_execute(sql).await.expect(sql);
    });
}

/// Runs SQL on the machine's MariaDB.
fn my(sql: &str) {
    use mysql_async::prelude::Queryable;
    let url = mariadb_url();
    runtime().block_on(async {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).expect("url"))
            .await
            .expect("connect to MariaDB");
        for stmt in sql.split(";\n").filter(|s| !s.trim().is_empty()) {
            conn.query_drop(stmt).await.expect(stmt);
        }
        conn.disconnect().await.expect("disconnect");
    });
}

/// A PostgreSQL schema dropped when the test ends.
struct PgSource {
    schema: String,
}

impl PgSource {
    fn new() -> PgSource {
        let schema = unique("conn");
        pg(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.recipients (
                 so_cccd text PRIMARY KEY, ho_ten text NOT NULL, gioi_tinh text,
                 ngay_sinh date, loai text, muc bigint,
                 ngay_cap_nhat timestamptz NOT NULL DEFAULT clock_timestamp());"
        ));
        PgSource { schema }
    }
    fn table(&self) -> String {
        format!("{}.recipients", self.schema)
    }
}

impl Drop for PgSource {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| pg(&format!("DROP SCHEMA {} CASCADE", self.schema)));
    }
}

/// One valid row: (citizen ID, name, local sex code, date of birth, benefit, amount).
fn row(serial: u32) -> (String, String, &'static str, String, &'static str, i64) {
    let female = serial % 2 == 1;
    let year = 1940 + serial % 60;
    (
        cid("079", female, year, serial),
        format!("Nguyễn Văn {serial}"),
        if female { "Nữ" } else { "Nam" },
        format!("{year}-03-{:02}", 1 + serial % 28),
        ["NCT", "KT", "TE"][serial as usize % 3],
        360_000 + i64::from(serial % 10) * 60_000,
    )
}

fn values_sql(serials: impl IntoIterator<Item = u32>) -> String {
    serials
        .into_iter()
        .map(|s| {
            let (c, n, x, d, b, m) = row(s);
            format!("('{c}', '{n}', '{x}', '{d}', '{b}', {m})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn definition(id: &str, engine: &str, url: &str, table: &str) -> Value {
    json!({
        "id": id,
        "dataset": DATASET,
        "system": "UBND-79-WELFARE-DB",
        "source": {"engine": engine, "url": url, "table": table},
        "mapping": [
            {"column": "so_cccd", "field": "citizen_id"},
            {"column": "ho_ten", "field": "full_name"},
            {"column": "gioi_tinh", "field": "sex", "values": {"Nam": "1", "Nữ": "2"}},
            {"column": "ngay_sinh", "field": "date_of_birth"},
            {"column": "loai", "field": "benefit"},
            {"column": "muc", "field": "monthly_amount"}
        ],
        "change_column": "ngay_cap_nhat",
        "batch_rows": 7
    })
}

/// Starts a run and waits for its end.
fn run(s: &Server, key: &str, id: &str, kind: &str) -> Value {
    let r = s.post_json(
        &format!("/api/v1/connectors/{id}/runs"),
        Some(key),
        &json!({ "kind": kind }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let number = r.json()["number"].as_u64().expect("number");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/connectors/{id}/runs/{number}").as_str())
    );
    wait_run(s, key, id, number)
}

fn wait_run(s: &Server, key: &str, id: &str, number: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = s.get(&format!("/api/v1/connectors/{id}/runs/{number}"), Some(key));
        assert_eq!(r.status, 200, "{}", r.body);
        let run = r.json();
        if run["status"] != "running" {
            return run;
        }
        assert!(Instant::now() < deadline, "run {number} did not end: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn counts(run: &Value) -> [u64; 6] {
    [
        "read",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "rejected",
    ]
    .map(|k| run[k].as_u64().unwrap_or_else(|| panic!("{k} in {run}")))
}

fn record(s: &Server, key: &str, citizen: &str) -> common::Resp {
    s.get(
        &format!("/api/v1/datasets/{DATASET}/records/{citizen}"),
        Some(key),
    )
}

/// The whole life of a connector on one source: first load with rejected rows, changes,
/// deletions by snapshot; `ndx connector` on the command line reads the same.
fn follows_a_source(s: &Server, key: &str, id: &str, exec: &dyn Fn(&str), table: &str) {
    // 20 rows, two of which a clerk got wrong.
    let bad_id = "07920012345";
    exec(&format!(
        "INSERT INTO {table} (so_cccd, ho_ten, gioi_tinh, ngay_sinh, loai, muc) VALUES {}, \
         ('{bad_id}', 'Sai Số', 'Nam', '1950-01-01', 'NCT', 1), ('{}', 'Lê Thị Mã', 'Nữ', '{}', 'XYZ', 1)",
        values_sql(1..=18),
        row(19).0,
        row(19).3
    ));
    let first = run(s, key, id, "incremental");
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(counts(&first), [20, 18, 0, 0, 0, 2], "{first}");
    assert_eq!(
        first["batches"].as_array().map(Vec::len),
        Some(3),
        "7 rows a batch"
    );
    let (c1, ..) = row(1);
    let r = record(s, key, &c1);
    assert_eq!(r.status, 200, "{}", r.body);
    let rec = r.json();
    assert_eq!(rec["data"]["sex"], "2", "Nữ → 2 by the value map");
    assert_eq!(rec["source_system"], "UBND-79-WELFARE-DB");
    assert!(
        rec["batch_id"]
            .as_str()
            .is_some_and(|b| b.starts_with(&format!("connector.{id}.")))
    );

    // The rejected rows, for the source's owner: JSON and CSV.
    let n = first["number"].as_u64().expect("number");
    let rej = s.get(
        &format!("/api/v1/connectors/{id}/runs/{n}/rejected"),
        Some(key),
    );
    assert_eq!(rej.status, 200, "{}", rej.body);
    let rej = rej.json();
    let mut rows = rej["rows"].as_array().expect("rows").clone();
    rows.sort_by_key(|r| r["column"].as_str().map(str::to_owned));
    assert_eq!(rows.len(), 2, "{rej}");
    assert_eq!(rej["rejected"], 2);
    assert_eq!(rows[0]["source_key"], row(19).0);
    assert_eq!(rows[0]["column"], "loai");
    assert_eq!(rows[0]["field"], "benefit");
    assert_eq!(rows[0]["code"], "code-unknown");
    assert_eq!(rows[1]["source_key"], bad_id);
    assert_eq!(rows[1]["column"], "so_cccd");
    assert_eq!(rows[1]["code"], "citizen-id-length");
    let csv = s.request(
        "GET",
        &format!("/api/v1/connectors/{id}/runs/{n}/rejected"),
        Some(key),
        &[("Accept", "text/csv")],
        None,
    );
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("source_key,column,field,code,message\n")
    );
    assert!(
        csv.body
            .contains(&format!("{bad_id},so_cccd,citizen_id,citizen-id-length,"))
    );

    // Nothing changed: nothing read.
    assert_eq!(counts(&run(s, key, id, "incremental")), [0; 6]);

    // Three new rows, two changed amounts, the bad ID corrected.
    std::thread::sleep(Duration::from_millis(20));
    exec(&format!(
        "INSERT INTO {table} (so_cccd, ho_ten, gioi_tinh, ngay_sinh, loai, muc) VALUES {}",
        values_sql(30..=32)
    ));
    exec(&format!(
        "UPDATE {table} SET muc = 999000, ngay_cap_nhat = CURRENT_TIMESTAMP(6) WHERE so_cccd IN ('{}', '{}')",
        row(2).0,
        row(3).0
    ));
    let third = run(s, key, id, "incremental");
    assert_eq!(counts(&third), [5, 3, 2, 0, 0, 0], "{third}");
    let r = record(s, key, &row(2).0).json();
    assert_eq!(r["version"], 2);
    assert_eq!(r["data"]["monthly_amount"].as_f64(), Some(999_000.0));

    // Deletions are seen by a snapshot, which writes nothing else that is unchanged.
    exec(&format!(
        "DELETE FROM {table} WHERE so_cccd IN ('{}', '{}')",
        row(4).0,
        row(5).0
    ));
    assert_eq!(counts(&run(s, key, id, "incremental")), [0; 6]);
    let snap = run(s, key, id, "snapshot");
    assert_eq!(snap["kind"], "snapshot");
    // 18 valid and 2 invalid rows, 3 added, 2 deleted.
    let read = snap["read"].as_u64().expect("read");
    assert_eq!(read, 18 + 2 + 3 - 2, "{snap}");
    assert_eq!(snap["deleted"], 2, "{snap}");
    assert_eq!(snap["created"], 0, "{snap}");
    assert_eq!(snap["updated"], 0, "{snap}");
    assert_eq!(
        snap["rejected"], 2,
        "the two wrong rows are still wrong: {snap}"
    );
    assert_eq!(snap["unchanged"], read - 2, "{snap}");
    record(s, key, &row(4).0).problem(410, "record-deleted");
    // A second snapshot finds nothing to do (the invalid rows are reported again).
    let again = run(s, key, id, "snapshot");
    assert_eq!(counts(&again)[1..5], [0, 0, read - 2, 0], "{again}");

    // Status: the connector, its state, its runs.
    let c = s.get(&format!("/api/v1/connectors/{id}"), Some(key)).json();
    assert_eq!(c["state"]["runs"], 6);
    assert_eq!(c["last_run"]["number"], 6);
    assert!(c["state"]["running"].is_null());
    let runs = s
        .get(&format!("/api/v1/connectors/{id}/runs?limit=2"), Some(key))
        .json();
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    assert_eq!(runs[0]["number"], 6);
}

#[test]
fn a_postgresql_table_is_followed_through_inserts_updates_and_deletes() {
    let s = Server::demo(200);
    let key = s.key("welfare-provider");
    let src = PgSource::new();
    let url = format!("{}?sslmode=disable", pg_url());
    let r = s.post_json(
        "/api/v1/connectors",
        Some(&key),
        &definition("pg-welfare", "postgres", &url, &src.table()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("location"), Some("/api/v1/connectors/pg-welfare"));
    assert_eq!(r.json()["owner"], "UBND-79");
    follows_a_source(&s, &key, "pg-welfare", &|sql| pg(sql), &src.table());

    // The audit log holds each run and each of its batches.
    let auditor = s.key("auditor");
    let mut log = Vec::new();
    loop {
        let start = log.len();
        let page = s
            .get(
                &format!("/api/v1/audit/entries?start={start}&end={}", start + 1000),
                Some(&auditor),
            )
            .json();
        let page = page.as_array().expect("entries").clone();
        // Each read of the log is itself an entry: a short page is the end.
        let last = page.len() < 1000;
        log.extend(page);
        if last {
            break;
        }
    }
    let ops: Vec<&str> = log
        .iter()
        .filter_map(|e| e["event"]["operation"].as_str())
        .collect();
    assert!(ops.contains(&"connector.create"), "{ops:?}");
    // Six runs, two of which read nothing: those are on their run records, not in the log.
    assert_eq!(ops.iter().filter(|o| **o == "connector.run").count(), 4);

    // The command line reads the same status.
    let out = std::process::Command::new(common::ndx_bin())
        .args(["connector", "--url", s.base_url(), "status", "pg-welfare"])
        .env("NDX_KEY", &key)
        .output()
        .expect("ndx connector status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["state"]["runs"], 6);
    assert_eq!(status["runs"][0]["number"], 6);
    let out = std::process::Command::new(common::ndx_bin())
        .args([
            "connector",
            "--url",
            s.base_url(),
            "rejected",
            "pg-welfare",
            "--csv",
        ])
        .env("NDX_KEY", &key)
        .output()
        .expect("ndx connector rejected");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("code-unknown"));

    // Removed: gone, with what it wrote kept.
    let out = std::process::Command::new(common::ndx_bin())
        .args(["connector", "--url", s.base_url(), "remove", "pg-welfare"])
        .env("NDX_KEY", &key)
        .output()
        .expect("ndx connector remove");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.get("/api/v1/connectors/pg-welfare", Some(&key))
        .problem(404, "connector-not-found");
    assert_eq!(record(&s, &key, &row(1).0).status, 200);
}

#[test]
fn a_mariadb_table_is_followed_through_inserts_updates_and_deletes() {
    let s = Server::demo(200);
    let key = s.key("welfare-provider");
    let table = unique("recipients");
    my(&format!(
        "CREATE TABLE {table} (so_cccd VARCHAR(20) PRIMARY KEY, ho_ten VARCHAR(100) NOT NULL, \
         gioi_tinh VARCHAR(5), ngay_sinh DATE, loai VARCHAR(10), muc BIGINT, \
         ngay_cap_nhat DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) \
         CHARACTER SET utf8mb4"
    ));
    struct Drop_(String);
    impl Drop for Drop_ {
        fn drop(&mut self) {
            let t = self.0.clone();
            let _ = std::panic::catch_unwind(move || my(&format!("DROP TABLE IF EXISTS {t}")));
        }
    }
    let _drop = Drop_(table.clone());
    let r = s.post_json(
        "/api/v1/connectors",
        Some(&key),
        &definition("my-welfare", "mysql", &mariadb_url(), &table),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    follows_a_source(&s, &key, "my-welfare", &|sql| my(sql), &table);
}

#[test]
fn bad_definitions_and_callers_are_refused_and_change_nothing() {
    let s = Server::demo(50);
    let key = s.key("welfare-provider");
    let good = definition(
        "c1",
        "postgres",
        "postgres://postgres@127.0.0.1:5432/test",
        "x.y",
    );
    let refused = |body: &Value, k: &str, status: u16, code: &str| {
        let r = s.post_json("/api/v1/connectors", Some(k), body);
        r.problem(status, code)
    };
    // Another member's provider, a consumer, no key.
    refused(&good, &s.key("population-provider"), 403, "not-owner");
    refused(&good, &s.key("consumer-79"), 403, "not-owner");
    assert_eq!(s.post_json("/api/v1/connectors", None, &good).status, 401);
    // A password in the URL, a table that is no name, a key field nobody fills, an unknown field.
    let mut bad = good.clone();
    bad["source"]["url"] = json!("postgres://postgres:secret@127.0.0.1/test");
    bad["source"]["table"] = json!("x; DROP TABLE y");
    bad["mapping"][0]["field"] = json!("no_such_field");
    let p = refused(&bad, &key, 422, "connector-invalid");
    let codes: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "source-url-password",
            "source-table",
            "mapping-field-unknown",
            "mapping-key-missing"
        ],
        "{p}"
    );
    // Another member's system; a member not in the body shape.
    let mut other = good.clone();
    other["system"] = json!("BCA-POPULATION");
    refused(&other, &key, 422, "connector-invalid");
    let mut extra = good.clone();
    extra["owner"] = json!("BCA");
    refused(&extra, &key, 422, "body-invalid");
    // Nothing was added.
    assert_eq!(s.get("/api/v1/connectors", Some(&key)).json(), json!([]));
    // Added once; twice is a conflict; unknown ids are 404.
    assert_eq!(
        s.post_json("/api/v1/connectors", Some(&key), &good).status,
        201
    );
    refused(&good, &key, 409, "connector-exists");
    s.post_json("/api/v1/connectors/nope/runs", Some(&key), &json!({}))
        .problem(404, "connector-not-found");
    s.get("/api/v1/connectors/c1/runs/99", Some(&key))
        .problem(404, "connector-run-not-found");
    // Another member neither sees nor runs it.
    let other_key = s.key("population-provider");
    s.get("/api/v1/connectors/c1", Some(&other_key))
        .problem(404, "connector-not-found");
    assert_eq!(
        s.get("/api/v1/connectors", Some(&other_key)).json(),
        json!([])
    );
    // A source that is not there: the run fails with the reason, and says so.
    let failed = run(&s, &key, "c1", "incremental");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connector-source-unavailable")),
        "{failed}"
    );
}

#[test]
fn a_run_killed_with_its_server_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::demo_on_dir_with_env(dir, 50, &[("NDX_CONNECTOR_LEASE_SECS", "3")]);
    let key = s.key("welfare-provider");
    let src = PgSource::new();
    let table = src.table();
    let total = 6_000u32;
    pg(&format!(
        "INSERT INTO {table} (so_cccd, ho_ten, gioi_tinh, ngay_sinh, loai, muc) VALUES {}",
        values_sql(1..=total)
    ));
    let mut def = definition(
        "killed",
        "postgres",
        &format!("{}?sslmode=disable", pg_url()),
        &table,
    );
    def["batch_rows"] = json!(200);
    assert_eq!(
        s.post_json("/api/v1/connectors", Some(&key), &def).status,
        201
    );
    let r = s.post_json("/api/v1/connectors/killed/runs", Some(&key), &json!({}));
    assert_eq!(r.status, 202, "{}", r.body);
    // Kill the server once a few batches have committed, mid-run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = s.get("/api/v1/connectors/killed", Some(&key)).json();
        if c["state"]["batches"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no batch committed: {c}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = s
        .kill()
        .serve_with_env(&[("NDX_CONNECTOR_LEASE_SECS", "3")]);
    let key = s.key("welfare-provider");
    let before = s
        .get(&format!("/api/v1/datasets/{DATASET}"), Some(&key))
        .json()["records"]
        .as_u64()
        .expect("records");
    assert!(
        before < u64::from(total),
        "the run was killed mid-way: {before}"
    );
    // The dead run's lease holds the connector for a while, then runs out.
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = loop {
        let r = s.post_json("/api/v1/connectors/killed/runs", Some(&key), &json!({}));
        if r.status == 202 {
            break r.json();
        }
        r.problem(409, "connector-busy");
        assert!(Instant::now() < deadline, "the lease never ran out");
        std::thread::sleep(Duration::from_millis(250));
    };
    let done = wait_run(&s, &key, "killed", next["number"].as_u64().expect("n"));
    assert_eq!(done["status"], "succeeded", "{done}");
    let first = s.get("/api/v1/connectors/killed/runs/1", Some(&key)).json();
    assert_eq!(first["status"], "interrupted", "{first}");
    // Every row exactly once: each record at version 1, the count exact, and the feed of the
    // dataset holds exactly `total` changes.
    let summary = s
        .get(&format!("/api/v1/datasets/{DATASET}"), Some(&key))
        .json();
    assert_eq!(summary["records"], u64::from(total), "{summary}");
    assert_eq!(done["created"].as_u64(), Some(u64::from(total) - before));
    for serial in [1, total / 2, total] {
        let r = record(&s, &key, &row(serial).0).json();
        assert_eq!(r["version"], 1, "{r}");
    }
    let history = s
        .get(
            &format!(
                "/api/v1/datasets/{DATASET}/records/{}/history",
                row(total).0
            ),
            Some(&key),
        )
        .json();
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
}

#[test]
fn a_connector_over_tls_checks_the_servers_certificate() {
    let Ok(tls) = std::env::var("NDX_TEST_PG_TLS_DIR") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI sets NDX_TEST_PG_TLS_DIR (.ci/pg-tls)"
        );
        eprintln!("NDX_TEST_PG_TLS_DIR is not set: run .ci/pg-tls");
        return;
    };
    let s = Server::demo(50);
    let key = s.key("welfare-provider");
    let src = PgSource::new();
    pg(&format!(
        "INSERT INTO {} (so_cccd, ho_ten, gioi_tinh, ngay_sinh, loai, muc) VALUES {}",
        src.table(),
        values_sql(1..=5)
    ));
    let base = pg_url();
    let with = |params: &str| {
        if base.contains('?') {
            format!("{base}&{params}")
        } else {
            format!("{base}?{params}")
        }
    };
    let cases = [
        (
            "verified",
            format!("sslmode=verify-full&sslrootcert={tls}/ca.crt"),
            true,
        ),
        (
            "wrong-ca",
            format!("sslmode=verify-ca&sslrootcert={tls}/other-ca.crt"),
            false,
        ),
    ];
    for (id, params, ok) in cases {
        let r = s.post_json(
            "/api/v1/connectors",
            Some(&key),
            &definition(id, "postgres", &with(&params), &src.table()),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let done = run(&s, &key, id, "incremental");
        if ok {
            assert_eq!(done["status"], "succeeded", "{done}");
            assert_eq!(done["read"], 5);
        } else {
            assert_eq!(done["status"], "failed", "{done}");
            assert!(
                done["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("certificate")),
                "{done}"
            );
        }
    }
    // A wrong host name: the certificate is issued for 127.0.0.1 only.
    let local = with(&format!("sslmode=verify-full&sslrootcert={tls}/ca.crt"))
        .replace("127.0.0.1", "localhost");
    let r = s.post_json(
        "/api/v1/connectors",
        Some(&key),
        &definition("wrong-host", "postgres", &local, &src.table()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let done = run(&s, &key, "wrong-host", "incremental");
    assert_eq!(done["status"], "failed", "{done}");
}

/// Writes a dropped file as an agency's export job would, dated in the past so that it is
/// taken at once (files younger than 2 s may still be being written and wait).
fn drop_file(dir: &std::path::Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write the export");
    let past = std::time::SystemTime::now() - Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(past))
        .expect("date the export");
}

/// Waits until the connector's latest run is `n` and has ended.
fn wait_for_run(s: &Server, key: &str, id: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = s.get(&format!("/api/v1/connectors/{id}"), Some(key)).json();
        if c["last_run"]["number"] == n && c["last_run"]["status"] != "running" {
            return c["last_run"].clone();
        }
        assert!(Instant::now() < deadline, "run {n} did not come: {c}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_drop_folder_imports_each_export_and_files_it_away() {
    let s = Server::demo(50);
    let key = s.key("welfare-provider");
    // Only under the drop root (DATA_DIR/drop by default): a key must not make the server
    // read and move files anywhere it can reach.
    let outside = tempfile::tempdir().expect("tempdir");
    let mut def = definition(
        "drop",
        "folder",
        &format!("file://{}", outside.path().display()),
        "recipients",
    );
    def.as_object_mut().map(|d| d.remove("change_column"));
    s.post_json("/api/v1/connectors", Some(&key), &def)
        .problem(422, "connector-invalid");
    let root = std::fs::canonicalize(s.data_dir())
        .expect("data dir")
        .join("drop");
    def["source"]["url"] = json!(format!("file://{}/hcmc", root.display()));
    let r = s.post_json("/api/v1/connectors", Some(&key), &def);
    assert_eq!(r.status, 201, "{}", r.body);
    struct Folder(std::path::PathBuf);
    impl Folder {
        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    let folder = Folder(root.join("hcmc"));
    assert!(
        folder.path().is_dir(),
        "created when the connector was added"
    );
    // Nothing dropped yet.
    s.post_json("/api/v1/connectors/drop/runs", Some(&key), &json!({}))
        .problem(409, "connector-no-file");

    // A CSV export: five good rows and one a clerk got wrong; other files are left alone.
    let csv_row = |serial: u32, amount: i64| {
        let (c, n, x, d, b, _) = row(serial);
        format!("{c},{n},{x},{d},{b},{amount}\n")
    };
    let header = "so_cccd,ho_ten,gioi_tinh,ngay_sinh,loai,muc\n";
    let mut first = header.to_owned();
    for serial in 1..=5 {
        first.push_str(&csv_row(serial, 400_000));
    }
    first.push_str("07912345,Sai Số,Nam,1950-01-01,NCT,1\n");
    drop_file(folder.path(), "other-export.csv", header);
    drop_file(folder.path(), "recipients-2026-12-01.csv", &first);
    let run1 = wait_for_run(&s, &key, "drop", 1);
    assert_eq!(run1["status"], "succeeded", "{run1}");
    assert_eq!(run1["source_file"], "recipients-2026-12-01.csv");
    assert_eq!(counts(&run1), [6, 5, 0, 0, 0, 1], "{run1}");
    let done = folder.path().join("done");
    assert!(done.join("000001-recipients-2026-12-01.csv").exists());
    let filed: Value = serde_json::from_slice(
        &std::fs::read(done.join("000001-recipients-2026-12-01.csv.run.json")).expect("run"),
    )
    .expect("JSON");
    assert_eq!(filed["rejected_rows"][0]["source_key"], "07912345");
    assert!(
        folder.path().join("other-export.csv").exists(),
        "not its file"
    );

    // The next day's export, as NDJSON: one row gone, one amount changed.
    let mut second = String::new();
    for serial in 1..=4 {
        let (c, n, x, d, b, _) = row(serial);
        let amount = if serial == 2 { 999_000 } else { 400_000 };
        second.push_str(
            &json!({"so_cccd": c, "ho_ten": n, "gioi_tinh": x, "ngay_sinh": d, "loai": b, "muc": amount})
                .to_string(),
        );
        second.push('\n');
    }
    drop_file(folder.path(), "recipients-2026-12-02.ndjson", &second);
    let run2 = wait_for_run(&s, &key, "drop", 2);
    assert_eq!(counts(&run2), [4, 0, 1, 3, 1, 0], "{run2}");
    record(&s, &key, &row(5).0).problem(410, "record-deleted");

    // An export with no row would delete everything: refused, filed under failed/, nothing
    // changed; a file that is not what its extension says fails the same way.
    drop_file(folder.path(), "recipients-2026-12-03.csv", header);
    let run3 = wait_for_run(&s, &key, "drop", 3);
    assert_eq!(run3["status"], "failed", "{run3}");
    assert!(
        run3["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connector-file-invalid")),
        "{run3}"
    );
    assert!(
        folder
            .path()
            .join("failed/000003-recipients-2026-12-03.csv")
            .exists()
    );
    drop_file(folder.path(), "recipients-2026-12-04.ndjson", "[1, 2]\n");
    let run4 = wait_for_run(&s, &key, "drop", 4);
    assert_eq!(run4["status"], "failed", "{run4}");
    let summary = s
        .get(&format!("/api/v1/datasets/{DATASET}"), Some(&key))
        .json();
    assert_eq!(summary["records"], 4, "{summary}");
}
