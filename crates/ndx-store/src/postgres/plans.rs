//! The plans of ndx's hot queries on a real server whose statistics are stale: a dataset
//! loaded after the last ANALYZE, on a table autovacuum does not visit. Each must be a range
//! scan of `versions_key` that stops at its limit, never a scan of the whole dataset.
//! (Runs where `NDX_TEST_POSTGRES_URL` names a server, as CI's does.)

use super::batch::{LOOKUP, READ_UP_FRONT};
use super::records::{changes_sql, list_sql, snapshot_sql};
use super::{PostgresBackend, conn::Conn};
use crate::OpenMode;

/// Rows of the dataset the planner is not told about.
const KEYS: i64 = 60_000;

fn plan(c: &mut Conn, sql: &str, params: &super::conn::Params<'_>) -> String {
    let rows = c
        .query(&format!("EXPLAIN {sql}"), params)
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e:?}"));
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plan that reads the dataset through its index, in index order, without sorting it.
fn assert_index_ordered(what: &str, plan: &str) {
    assert!(
        plan.contains("Index Scan using versions_key")
            || plan.contains("Index Only Scan using versions_key"),
        "{what}: not a scan of versions_key:\n{plan}"
    );
    for bad in [
        "Seq Scan on versions",
        "Bitmap Heap Scan on versions",
        "Sort",
    ] {
        assert!(!plan.contains(bad), "{what}: {bad}:\n{plan}");
    }
}

#[test]
fn hot_queries_keep_their_index_plans_when_statistics_are_stale() {
    let Some(base) = std::env::var("NDX_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!("NDX_TEST_POSTGRES_URL is not set: no PostgreSQL server to plan on");
        return;
    };
    let schema = format!("ndx_plans_{}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let backend = PostgresBackend::open(&format!("{base}{sep}schema={schema}"), OpenMode::Create)
        .expect("open PostgreSQL store");
    let mut c = backend.conn().expect("connection");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Statistics taken while the table was empty, then a dataset the planner never sees.
        c.simple(
            "ALTER TABLE versions SET (autovacuum_enabled = false);
             ANALYZE versions;
             INSERT INTO datasets(name) VALUES ('people');
             INSERT INTO batches(dataset, batch_id, request_hash, source_system,
                                 schema_version, created_at)
               SELECT id, 'b1', '', 'sys', '1.0.0', now() FROM datasets WHERE name = 'people';",
        )
        .expect("setup");
        c.simple(&format!(
            "INSERT INTO versions(dataset, key, version, batch, hash, body, position)
               SELECT d.id, 'k' || lpad(g::text, 8, '0'), 1, b.seq, '\\x00', repeat('x', 200), g
                 FROM datasets d, batches b, generate_series(1, {KEYS}) g
                WHERE d.name = 'people'"
        ))
        .expect("load");
        let id: i32 = c
            .query("SELECT id FROM datasets WHERE name = 'people'", &[])
            .expect("id")[0]
            .get(0);

        // Without the connection's planner settings the same statistics give a plan that reads
        // the whole dataset and sorts it (the cliff this guards against).
        c.simple("SET enable_seqscan = on; SET enable_bitmapscan = on")
            .expect("set");
        let limit: i64 = 40_004;
        let unguarded = plan(&mut c, READ_UP_FRONT, &[&id, &limit]);
        assert!(
            unguarded.contains("Sort") || unguarded.contains("Seq Scan"),
            "the stale statistics did not mislead the planner, so this test proves nothing:\n{unguarded}"
        );
        c.simple("RESET enable_seqscan; RESET enable_bitmapscan")
            .expect("reset");

        assert_index_ordered(
            "read up front",
            &plan(&mut c, READ_UP_FRONT, &[&id, &limit]),
        );
        let keys = vec!["k00000001", "k00030000"];
        let lookup = plan(&mut c, LOOKUP, &[&id, &keys]);
        assert!(
            lookup.contains("using versions_key") && !lookup.contains("Seq Scan on versions"),
            "lookup:\n{lookup}"
        );
        // The per-request catalogue generation sums a few rows with no index to use: with
        // sequential scans off it is costed far above the JIT thresholds, and compiling it
        // each time made every governed request wait tens of milliseconds.
        let generation = plan(&mut c, crate::catalog::sql::GENERATION, &[]);
        assert!(
            !generation.contains("JIT"),
            "the catalogue generation is compiled:\n{generation}"
        );
        let (after, page) = (30_000_i64, 100_i64);
        let feed = plan(&mut c, &changes_sql(), &[&"people", &after, &page]);
        assert!(
            feed.contains("using versions_feed") && !feed.contains("Sort"),
            "a page of the change feed:\n{feed}"
        );
        let (upto, at) = (50_000_i64, 60_000_i64);
        let snapshot = plan(
            &mut c,
            &snapshot_sql(),
            &[&"people", &after, &upto, &at, &page],
        );
        assert!(
            snapshot.contains("using versions_feed")
                && snapshot.contains("versions_key")
                && !snapshot.contains("Sort"),
            "a page of a snapshot:\n{snapshot}"
        );
        let (dataset, after, page) = ("people", "k00001000", 100_i64);
        assert_index_ordered(
            "a page of current records",
            &plan(&mut c, &list_sql(&[]), &[&dataset, &after, &page]),
        );
    }));
    // The schema goes whatever happened (a connection may drop its own search path's schema).
    if let Err(e) = c.simple(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")) {
        eprintln!("cannot drop test schema {schema}: {e:?}");
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
