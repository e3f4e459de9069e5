//! What only PostgreSQL has: URLs, pools, lost connections, migrations across processes.

use super::*;
use crate::audit::{append_range, check_audit_sample, write_audit_sample};
use crate::catalog::{check_upgraded_catalog, json, old_catalog};
use crate::records::op;

// ---- PostgreSQL ----

pub(crate) const PG_VAR: &str = "NDX_TEST_POSTGRES_URL";

pub(crate) fn pg_url() -> Option<String> {
    std::env::var(PG_VAR).ok().filter(|u| !u.trim().is_empty())
}

/// Runs SQL on the test server directly, not through the store.
pub(crate) fn try_pg_admin(sql: &str) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, String> {
    let url = pg_url().ok_or_else(|| format!("{PG_VAR} is not set"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("admin connection: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
            .simple_query(sql)
            .await
            .map_err(|e| format!("{sql}: {e:?}"))
    })
}

/// The first column of the first row of `sql`.
pub(crate) fn pg_scalar(sql: &str) -> Option<String> {
    try_pg_admin(sql)
        .expect("admin query")
        .into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
            _ => None,
        })
        .flatten()
}

/// A schema of its own for one test, dropped with everything in it when the guard goes.
pub(crate) struct PgSchema(String);

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Err(e) = try_pg_admin(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0)) {
            eprintln!("cannot drop test schema {}: {e}", self.0);
        }
    }
}

/// A store URL on a fresh schema (unique from pid, counter and time) and its guard.
pub(crate) fn fresh_schema() -> (String, PgSchema) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("ndx_test_{}_{n}_{nanos}", std::process::id());
    let base = pg_url().expect(PG_VAR);
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}schema={name}"), PgSchema(name))
}

pub(crate) fn open_postgres() -> (Store, Box<dyn std::any::Any>) {
    let (url, guard) = fresh_schema();
    let store = Store::open(&url).expect("open PostgreSQL store");
    (store, Box::new(guard))
}

/// PostgreSQL with every chunk looking its keys up (no dataset is read in advance), so that both
/// write paths pass the suite.
pub(crate) fn open_postgres_lookups() -> (Store, Box<dyn std::any::Any>) {
    let (url, guard) = fresh_schema();
    let store = Store::open(&format!("{url}&preload_keys=0")).expect("open PostgreSQL store");
    (store, Box::new(guard))
}

/// `Existing` and `ReadOnly` opens refuse a schema without a store and create nothing; a
/// read-only store reads but every write fails.
pub(crate) fn pg_open_modes_refuse_a_missing_store_and_read_only_writes_nothing() {
    let (url, _guard) = fresh_schema();
    for mode in [ndx_store::OpenMode::Existing, ndx_store::OpenMode::ReadOnly] {
        let err = Store::open_with(&url, mode).expect_err("no store there");
        assert!(
            matches!(err, StoreError::NotFound(_)) && err.to_string().contains("no ndx store"),
            "{err}"
        );
    }
    let schema = url.rsplit("schema=").next().expect("schema");
    assert_eq!(
        pg_scalar(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}'"
        )),
        Some("0".into()),
        "a refused open created tables"
    );
    let store = Store::open(&url).expect("create");
    super::audit::write_audit_sample(&store);
    drop(store);
    let ro = Store::open_with(&url, ndx_store::OpenMode::ReadOnly).expect("read-only");
    super::audit::check_audit_sample(&ro);
    assert!(
        super::audit::append_range(&ro, 5, 6, &[]).is_err(),
        "a read-only store wrote"
    );
    assert_eq!(ro.audit().size().expect("size"), 5);
    Store::open_with(&url, ndx_store::OpenMode::Existing).expect("existing");
}

/// Terminates the server sessions of an application name; returns how many.
pub(crate) fn pg_terminate(app: &str) -> u32 {
    pg_scalar(&format!(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
         WHERE application_name = '{app}' AND pid <> pg_backend_pid()"
    ))
    .and_then(|n| n.parse().ok())
    .unwrap_or(0)
}

pub(crate) fn pg_migrations_twice_and_concurrent_opens() {
    let (url, schema) = fresh_schema();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Store::open(&url).map(drop))
        })
        .collect();
    for th in threads {
        th.join().expect("thread").expect("concurrent open");
    }
    let store = Store::open(&url).expect("open again");
    with_dataset(&store);
    load(&store, "b1", t(10), &["a", "b"], 1);
    drop(store);
    let store = Store::open(&url).expect("reopen");
    assert_eq!(store.records().count("people").expect("count"), 2);
    assert_eq!(
        pg_scalar(&format!(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM {}.ndx_schema_version",
            schema.0
        )),
        Some("1,2,3,4,5,6,7,8".into()),
        "each migration applied once"
    );
}

pub(crate) fn pg_audit_log_survives_reopen() {
    let (url, _schema) = fresh_schema();
    {
        let store = Store::open(&url).expect("open");
        write_audit_sample(&store);
    }
    let store = Store::open(&url).expect("reopen");
    check_audit_sample(&store);
    append_range(&store, 5, 6, &[]).expect("appends go on after a reopen");
}

/// A store written by a binary of schema version 2 (versions in `records` linked by `prev`, the
/// latest of each key in `current`) keeps every version, tombstone and count when a newer
/// binary opens it, and takes new batches on top.
pub(crate) fn pg_version_2_store_is_upgraded() {
    let (url, schema) = fresh_schema();
    let hex = |s: &str| ::hex::encode(hash(s));
    let (a1, a2, b1, c1) = (body("a", 1), body("a", 2), body("b", 1), body("c", 1));
    try_pg_admin(&format!(
        "CREATE SCHEMA {s}; SET search_path = {s};
         {v1}
         {v2}
         CREATE TABLE ndx_schema_version (version integer PRIMARY KEY,
                                          applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO ndx_schema_version(version) VALUES (1), (2);
         INSERT INTO datasets(name, next_rec) VALUES ('people', 6);
         INSERT INTO batches(dataset, batch_id, request_hash, source_system, schema_version,
                             created_at, report)
           VALUES (1, 'b1', 'h', 'BCA-POP', '1.0', '{t10}', '{{}}'),
                  (1, 'b2', 'h', 'BCA-POP', '1.0', '{t20}', '{{}}');
         INSERT INTO records(dataset, id, key, version, batch, hash, body, prev) VALUES
           (1, 1, 'a', 1, 1, '\\x{ha1}', '{a1}', NULL),
           (1, 2, 'b', 1, 1, '\\x{hb1}', '{b1}', NULL),
           (1, 3, 'c', 1, 1, '\\x{hc1}', '{c1}', NULL),
           (1, 4, 'a', 2, 2, '\\x{ha2}', '{a2}', 1),
           (1, 5, 'b', 2, 2, '\\x', NULL, 2);
         INSERT INTO current(dataset, key, version, batch, deleted, hash, rec) VALUES
           (1, 'a', 2, 2, false, '\\x{ha2}', 4),
           (1, 'b', 2, 2, true, '\\x', 5),
           (1, 'c', 1, 1, false, '\\x{hc1}', 3);",
        s = schema.0,
        v1 = include_str!("../../migrations/postgres/0001_init.sql"),
        v2 = include_str!("../../migrations/postgres/0002_audit.sql"),
        t10 = t(10).to_rfc3339(),
        t20 = t(20).to_rfc3339(),
        ha1 = hex(&a1),
        ha2 = hex(&a2),
        hb1 = hex(&b1),
        hc1 = hex(&c1),
    ))
    .expect("a version 2 store");
    let store = Store::open(&url).expect("upgrade");
    assert_eq!(
        pg_scalar(&format!(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM {}.ndx_schema_version",
            schema.0
        )),
        Some("1,2,3,4,5,6,7,8".into())
    );
    assert_eq!(store.records().count("people").expect("count"), 2);
    let a = store
        .records()
        .record("people", "a", None)
        .expect("a")
        .expect("a");
    assert_eq!((a.version, a.body.as_deref()), (2, Some(a2.as_str())));
    assert_eq!(a.content_hash, hex(&a2));
    assert_eq!(a.batch_id, "b2");
    let b = store
        .records()
        .record("people", "b", None)
        .expect("b")
        .expect("b");
    assert_eq!((b.version, b.body), (2, None));
    let old = store
        .records()
        .record("people", "a", Some(t(15)))
        .expect("as of");
    assert_eq!(old.map(|v| v.version), Some(1));
    let versions: Vec<u64> = store
        .records()
        .history("people", "a")
        .expect("history")
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, vec![2, 1]);
    let listed: Vec<String> = store
        .records()
        .list("people", &[], None, 10)
        .expect("list")
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(listed, vec!["a", "c"]);
    // The versions are numbered for the change feed in batch order, then key order.
    let feed = |after: u64| super::records::feed(&store, "people", after, 100);
    assert_eq!(
        feed(0),
        vec![
            (1, "a".into(), 1, false),
            (2, "b".into(), 1, false),
            (3, "c".into(), 1, false),
            (4, "a".into(), 2, false),
            (5, "b".into(), 2, true),
        ]
    );
    assert_eq!(store.records().feed_head("people").expect("head"), 5);
    with_dataset(&store);
    assert_eq!(
        load(&store, "b3", t(30), &["a", "b", "c", "d"], 1),
        vec![
            WriteOutcome::Updated,
            WriteOutcome::Created,
            WriteOutcome::Unchanged,
            WriteOutcome::Created
        ]
    );
    assert_eq!(store.records().count("people").expect("count"), 4);
    let b = store
        .records()
        .record("people", "b", None)
        .expect("b")
        .expect("b");
    assert_eq!((b.version, b.batch_id.as_str()), (3, "b3"));
    assert_eq!(
        feed(5),
        vec![
            (6, "a".into(), 3, false),
            (7, "b".into(), 3, false),
            (8, "d".into(), 1, false),
        ]
    );
}

/// A store of schema version 3 (the last before the catalogue) keeps every registry and
/// dictionary object, readable through the catalogue, with its lookups and rules.
pub(crate) fn pg_version_3_catalog_is_upgraded() {
    let (url, schema) = fresh_schema();
    let old = old_catalog();
    let lit = |v: String| format!("'{}'", v.replace('\'', "''"));
    let micros = t(0).timestamp_micros();
    let mut rows = vec![
        format!(
            "INSERT INTO members(code, body) VALUES ({}, {});",
            lit(old.member.code.clone()),
            lit(json(&old.member))
        ),
        format!(
            "INSERT INTO systems(code, member, body) VALUES ({}, {}, {});",
            lit(old.system.code.clone()),
            lit(old.system.member.clone()),
            lit(json(&old.system))
        ),
    ];
    for (key, hash) in &old.keys {
        rows.push(format!(
            "INSERT INTO api_keys(id, system, key_hash, body) VALUES ({}, {}, {}, {});",
            lit(key.id.clone()),
            lit(key.system.clone()),
            lit(hash.to_string()),
            lit(json(key))
        ));
    }
    for e in builtin_elements() {
        rows.push(format!(
            "INSERT INTO elements(id, body, created_at) VALUES ({}, {}, to_timestamp({micros} / 1e6));",
            lit(e.id.clone()),
            lit(json(&e))
        ));
    }
    for l in &old.lists {
        rows.push(format!(
            "INSERT INTO code_lists(id, version, body, created_at)
             VALUES ({}, {}, {}, to_timestamp({micros} / 1e6));",
            lit(l.id.clone()),
            l.version,
            lit(json(l))
        ));
    }
    for sc in &old.schemas {
        rows.push(format!(
            "INSERT INTO datasets(name) VALUES ({d}) ON CONFLICT DO NOTHING;
             INSERT INTO schemas(dataset, major, minor, body, created_at)
             VALUES ({d}, {}, {}, {}, to_timestamp({micros} / 1e6));",
            sc.version.major,
            sc.version.minor,
            lit(json(sc)),
            d = lit(sc.dataset.clone()),
        ));
    }
    try_pg_admin(&format!(
        "CREATE SCHEMA {s}; SET search_path = {s};
         {v1}
         {v2}
         {v3}
         CREATE TABLE ndx_schema_version (version integer PRIMARY KEY,
                                          applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO ndx_schema_version(version) VALUES (1), (2), (3);
         {rows}",
        s = schema.0,
        v1 = include_str!("../../migrations/postgres/0001_init.sql"),
        v2 = include_str!("../../migrations/postgres/0002_audit.sql"),
        v3 = include_str!("../../migrations/postgres/0003_versions.sql"),
        rows = rows.join("\n"),
    ))
    .expect("a version 3 store");
    let store = Store::open(&url).expect("upgrade");
    check_upgraded_catalog(&store);
    assert_eq!(
        pg_scalar(&format!(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM {}.ndx_schema_version",
            schema.0
        )),
        Some("1,2,3,4,5,6,7,8".into())
    );
    assert_eq!(
        pg_scalar(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'
               AND table_name IN ('members', 'systems', 'api_keys', 'elements', 'code_lists',
                                  'schemas')",
            schema.0
        )),
        Some("0".into()),
        "the old tables are gone"
    );
}

pub(crate) fn pg_newer_schema_version_is_refused() {
    let (url, schema) = fresh_schema();
    drop(Store::open(&url).expect("open"));
    try_pg_admin(&format!(
        "INSERT INTO {}.ndx_schema_version(version) VALUES (999)",
        schema.0
    ))
    .expect("bump");
    let err = Store::open(&url).expect_err("newer schema refused");
    assert!(matches!(err, StoreError::Incompatible(_)), "{err}");
    assert!(err.to_string().contains("999"), "{err}");
    assert!(err.to_string().contains("upgrade ndx"), "{err}");
}

pub(crate) fn pg_lost_connection_mid_batch_writes_nothing_and_recovers() {
    let (url, schema) = fresh_schema();
    let app = format!("{}_app", schema.0);
    let store = Store::open(&format!("{url}&application_name={app}")).expect("open");
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    let mut w = store
        .records()
        .begin_batch("people", meta("b2", t(20)))
        .expect("begin");
    let x = body("x", 1);
    assert_eq!(
        w.upsert("x", &x, &hash(&x)).expect("x"),
        WriteOutcome::Created
    );
    let a = body("a", 2);
    assert_eq!(
        w.upsert("a", &a, &hash(&a)).expect("a"),
        WriteOutcome::Updated
    );
    assert!(pg_terminate(&app) >= 1, "the store's sessions were found");
    // The loss shows at the first call that reaches the server: this write, or the commit
    // (a batch sends its versions in groups).
    let y = body("y", 1);
    let err = match w.upsert("y", &y, &hash(&y)) {
        Err(e) => {
            let again = w.commit("h", "{}").expect_err("nothing to commit");
            assert!(matches!(again, StoreError::Backend(_)), "{again}");
            e
        }
        Ok(_) => w.commit("h", "{}").expect_err("the connection is gone"),
    };
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    // Nothing half-written, and the very next call works on a new connection.
    assert_eq!(
        store
            .records()
            .count("people")
            .expect("count after the loss"),
        1
    );
    assert_eq!(
        store.records().record("people", "x", None).expect("x"),
        None
    );
    assert_eq!(
        store
            .records()
            .record("people", "a", None)
            .expect("a")
            .expect("a")
            .version,
        1
    );
    assert_eq!(store.records().batch("people", "b2").expect("b2"), None);
    assert_eq!(
        load(&store, "b2", t(30), &["x"], 1),
        vec![WriteOutcome::Created]
    );
}

pub(crate) fn pg_dead_pooled_connections_are_replaced() {
    let (url, schema) = fresh_schema();
    let app = format!("{}_app", schema.0);
    let store = Store::open(&format!("{url}&application_name={app}")).expect("open");
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    for round in 0..3 {
        assert!(pg_terminate(&app) >= 1, "round {round}: sessions found");
        assert_eq!(
            store
                .records()
                .count("people")
                .expect("the next call works"),
            1
        );
        load(&store, &format!("r{round}"), t(20), &["a"], round + 2);
    }
}

pub(crate) fn pg_password_is_never_shown() {
    for url in [
        "postgres://postgres:s3cret@127.0.0.1:1/test",
        "postgresql://postgres@127.0.0.1:1/test?password=s3cret&connect_timeout=2",
        "postgres://postgres:s3cret@127.0.0.1:1/test?schema=Bad-Name",
        "postgres://postgres:s3cret@127.0.0.1:1/test?no_such_option=1",
        "postgres://postgres:s3cret@127.0.0.1:1/test?pool_size=0",
    ] {
        let e = Store::open(url).expect_err(url);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("s3cret"), "password shown: {shown}");
        assert!(
            shown.contains("127.0.0.1:1"),
            "the server is named: {shown}"
        );
    }
    assert_eq!(
        ndx_store::redact("postgres://u:pw@h:5432/db?password=pw2&schema=s"),
        "postgres://u:***@h:5432/db?password=***&schema=s"
    );
}

pub(crate) fn pg_closed_port_fails_fast() {
    let start = std::time::Instant::now();
    let e = Store::open("postgres://postgres@127.0.0.1:1/test").expect_err("nothing listens");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(e, StoreError::Backend(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("cannot connect to PostgreSQL at postgres://postgres@127.0.0.1:1/test"),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

/// TLS settings that cannot work are configuration errors, named, before any connection (the
/// modes themselves are tested against the real server in `postgres::tls`).
pub(crate) fn pg_tls_settings_are_checked_clearly() {
    for (params, says) in [
        ("sslmode=verify", "verify-full"),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
            "/nonexistent/root.crt",
        ),
        ("sslmode=verify-ca&sslrootcert=%ZZ", "sslrootcert"),
        ("sslmode=require&sslrootcert=", "sslrootcert"),
    ] {
        let e = Store::open(&format!(
            "postgres://postgres:secret@127.0.0.1:1/test?{params}"
        ))
        .expect_err(params);
        assert!(matches!(e, StoreError::Config(_)), "{params}: {e}");
        assert!(e.to_string().contains(says), "{params}: {e}");
        assert!(!e.to_string().contains("secret"), "password redacted: {e}");
    }
}

/// A big batch on a dataset loaded since the last ANALYZE (the planner thinks it is empty)
/// reads it up front in one range scan: a plan that rescans the dataset for every row took
/// 25–50 s here, past this store's 5 s statement timeout.
pub(crate) fn pg_big_batch_on_an_unanalyzed_dataset() {
    let (url, pg_schema) = fresh_schema();
    let store = Store::open(&format!("{url}&statement_timeout=5")).expect("open");
    with_dataset(&store);
    let key = |i: usize| format!("k{i:05}");
    let keys: Vec<String> = (0..12_000).map(key).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    // Statistics taken while only another dataset had records.
    let others = DatasetSchema {
        dataset: "others".into(),
        ..schema(V1)
    };
    store.catalog().insert(&others, t(0)).expect("others");
    let mut w = store
        .records()
        .begin_batch("others", meta("o1", t(5)))
        .expect("begin");
    for k in &keys {
        let b = body(k, 1);
        w.upsert(k, &b, &hash(&b)).expect("upsert");
    }
    w.commit("h", "{}").expect("commit");
    try_pg_admin(&format!("ANALYZE {}.versions", pg_schema.0)).expect("analyze");
    load(&store, "b1", t(10), &refs, 1);
    let mut w = store
        .records()
        .begin_batch("people", meta("b2", t(20)))
        .expect("begin");
    let ops: Vec<WriteOp> = (0..1_500).map(|i| op(&key(i * 8), Some(2))).collect();
    let mut out = Vec::new();
    for chunk in ops.chunks(512) {
        w.write(chunk, &mut out)
            .expect("chunk within the statement timeout");
    }
    w.commit("h", "{}").expect("commit");
    assert!(out.iter().all(|o| *o == WriteOutcome::Updated), "{out:?}");
    assert_eq!(store.records().count("people").expect("count"), 12_000);
}

/// A process that finds another one migrating the store waits for it, however long it takes
/// (here longer than its own statement timeout), then finds nothing left to do.
pub(crate) fn pg_migration_waits_for_another_without_time_limit() {
    let (url, pg_schema) = fresh_schema();
    let holder = {
        let name = pg_schema.0.clone();
        std::thread::spawn(move || {
            // The lock a migration takes (ndx's key 0x006e6478 and a hash of the schema).
            try_pg_admin(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7234680, hashtext('{name}'));
                 SELECT pg_sleep(2.5); COMMIT"
            ))
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    let store = Store::open(&format!("{url}&statement_timeout=1")).expect("waits, then opens");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1_500),
        "it did wait for the lock: {:?}",
        started.elapsed()
    );
    holder
        .join()
        .expect("holder")
        .expect("the lock holder committed");
    with_dataset(&store);
    assert_eq!(store.records().count("people").expect("count"), 0);
}

pub(crate) fn pg_silent_server_times_out() {
    // Accepts the connection and never answers: the client gives up at connect_timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((socket, _)) = listener.accept() {
            std::thread::sleep(std::time::Duration::from_secs(5));
            drop(socket);
        }
    });
    let start = std::time::Instant::now();
    let e = Store::open(&format!(
        "postgres://postgres@127.0.0.1:{port}/test?connect_timeout=1"
    ))
    .expect_err("no answer");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(e, StoreError::Backend(_)), "{e}");
    assert!(e.to_string().contains("no answer within 1s"), "{e}");
}

pub(crate) fn postgres_trials() -> Vec<Trial> {
    let compiled = cfg!(feature = "postgres");
    let mut trials = Vec::new();
    if compiled {
        // These need no server.
        trials.push(Trial::test(
            "postgres::password_is_never_shown",
            plain(pg_password_is_never_shown),
        ));
        trials.push(Trial::test(
            "postgres::closed_port_fails_fast",
            plain(pg_closed_port_fails_fast),
        ));
        trials.push(Trial::test(
            "postgres::tls_settings_are_checked_clearly",
            plain(pg_tls_settings_are_checked_clearly),
        ));
        trials.push(Trial::test(
            "postgres::silent_server_times_out",
            plain(pg_silent_server_times_out),
        ));
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match pg_url() {
        Some(_) if compiled => {
            trials.extend(postgres::trials());
            trials.extend(postgres_lookups::trials());
            for (name, f) in [
                (
                    "migrations_twice_and_concurrent_opens",
                    pg_migrations_twice_and_concurrent_opens as fn(),
                ),
                (
                    "version_3_catalog_is_upgraded",
                    pg_version_3_catalog_is_upgraded,
                ),
                (
                    "newer_schema_version_is_refused",
                    pg_newer_schema_version_is_refused,
                ),
                (
                    "version_2_store_is_upgraded",
                    pg_version_2_store_is_upgraded,
                ),
                ("audit_log_survives_reopen", pg_audit_log_survives_reopen),
                (
                    "open_modes_refuse_a_missing_store_and_read_only_writes_nothing",
                    pg_open_modes_refuse_a_missing_store_and_read_only_writes_nothing,
                ),
                (
                    "lost_connection_mid_batch_writes_nothing_and_recovers",
                    pg_lost_connection_mid_batch_writes_nothing_and_recovers,
                ),
                (
                    "dead_pooled_connections_are_replaced",
                    pg_dead_pooled_connections_are_replaced,
                ),
                (
                    "big_batch_on_an_unanalyzed_dataset",
                    pg_big_batch_on_an_unanalyzed_dataset,
                ),
                (
                    "migration_waits_for_another_without_time_limit",
                    pg_migration_waits_for_another_without_time_limit,
                ),
            ] {
                trials.push(Trial::test(format!("postgres::{name}"), plain(f)));
            }
        }
        _ if ci => trials.push(Trial::test("postgres::required_in_ci", move || {
            Err(if compiled {
                format!("CI=true but {PG_VAR} is not set: the PostgreSQL suite must run in CI")
            } else {
                "CI=true but the postgres feature is off".to_string()
            }
            .into())
        })),
        _ => {
            let why = if compiled {
                format!("{PG_VAR} is not set (e.g. postgres://postgres@127.0.0.1:5432/test)")
            } else {
                "the postgres feature is off".to_string()
            };
            trials.push(Trial::test(
                format!("postgres::SKIPPED_set_{PG_VAR}_to_run_the_PostgreSQL_tests"),
                move || {
                    eprintln!("PostgreSQL tests skipped: {why}");
                    Ok(())
                },
            ));
        }
    }
    trials
}
