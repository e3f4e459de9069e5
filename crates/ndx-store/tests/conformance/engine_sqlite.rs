//! What only the embedded store has: its files, its upgrades.

use super::*;
use crate::audit::{append_range, check_audit_sample, write_audit_sample};
use crate::catalog::{check_upgraded_catalog, json, old_catalog};

pub(crate) fn open_sqlite() -> (Store, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("ndx.db").display());
    (Store::open(&url).expect("open"), Box::new(dir))
}

pub(crate) fn reopening_keeps_everything_and_refuses_newer_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    {
        let store = Store::open_sqlite(path.clone()).expect("open");
        with_dataset(&store);
        load(&store, "b1", t(10), &["a", "b"], 1);
    }
    let store = Store::open_sqlite(path.clone()).expect("reopen");
    assert_eq!(store.records().count("people").expect("count"), 2);
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.pragma_update(None, "user_version", 999).expect("bump");
    drop(conn);
    let err = Store::open_sqlite(path).expect_err("newer schema refused");
    assert!(matches!(err, StoreError::Incompatible(_)), "{err}");
    assert!(err.to_string().contains("999"), "{err}");
}

/// A store of schema version 1 (before `datasets.live`), as the code of that time wrote it,
/// counts its records right after the upgrade: deleted ones excluded, and later batches keep
/// the count.
pub(crate) fn version_1_store_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let (a1, b1, c1) = (body("a", 1), body("b", 1), body("c", 1));
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.execute_batch(include_str!("../../migrations/sqlite/0001_init.sql"))
        .expect("version 1");
    conn.execute_batch("PRAGMA user_version = 1")
        .expect("version");
    old_catalog_rows(&conn);
    conn.execute_batch(
        "INSERT INTO batches(seq, dataset, batch_id, request_hash, source_system,
                             schema_version, created_at, report)
           VALUES (1, 1, 'b1', 'h', 'BCA-POP', '1.0', 10000000, '{}'),
                  (2, 1, 'b2', 'h', 'BCA-POP', '1.0', 20000000, '{}');",
    )
    .expect("batches");
    let mut version = conn
        .prepare(
            "INSERT INTO records(rowid, dataset, key, version, batch, hash, body, prev)
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .expect("prepare");
    for (rowid, key, v, batch, b, prev) in [
        (1, "a", 1, 1, Some(&a1), None),
        (2, "b", 1, 1, Some(&b1), None),
        (3, "c", 1, 1, Some(&c1), None),
        (4, "b", 2, 2, None, Some(2)),
    ] {
        let h: Vec<u8> = b.map_or(Vec::new(), |b| hash(b).to_vec());
        version
            .execute(rusqlite::params![rowid, key, v, batch, h, b, prev])
            .expect("version");
    }
    drop(version);
    conn.execute_batch(
        "INSERT INTO current(dataset, key, deleted, rec) VALUES
           (1, 'a', 0, 1), (1, 'b', 1, 4), (1, 'c', 0, 3);",
    )
    .expect("current");
    drop(conn);
    let store = Store::open_sqlite(path.clone()).expect("upgrade");
    assert_eq!(store.records().count("people").expect("count"), 2);
    // The versions are numbered for the change feed in batch order, then rowid order.
    let feed = |after: u64| super::records::feed(&store, "people", after, 100);
    assert_eq!(
        feed(0),
        vec![
            (1, "a".into(), 1, false),
            (2, "b".into(), 1, false),
            (3, "c".into(), 1, false),
            (4, "b".into(), 2, true),
        ]
    );
    load(&store, "b3", t(30), &["b", "d"], 1);
    assert_eq!(store.records().count("people").expect("count"), 4);
    assert_eq!(
        feed(4),
        vec![(5, "b".into(), 3, false), (6, "d".into(), 1, false)]
    );
    assert_eq!(store.records().feed_head("people").expect("head"), 6);
    // Snapshots know which old versions were replaced (version 7 fills `superseded`).
    let snapshot = |at: u64| -> Vec<(String, u64)> {
        let page = store
            .records()
            .snapshot("people", at, 0, 100)
            .expect("snapshot");
        page.versions
            .into_iter()
            .map(|v| (v.key, v.version))
            .collect()
    };
    assert_eq!(
        snapshot(3),
        vec![("a".into(), 1), ("b".into(), 1), ("c".into(), 1)]
    );
    assert_eq!(snapshot(4), vec![("a".into(), 1), ("c".into(), 1)]);
    assert_eq!(
        snapshot(6),
        vec![
            ("a".into(), 1),
            ("c".into(), 1),
            ("b".into(), 3),
            ("d".into(), 1)
        ]
    );
    check_upgraded_catalog(&store);
    drop(store);
    assert_eq!(user_version(&path), 7);
}

fn user_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("raw");
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version")
}

/// Writes [`old_catalog`] into the tables of schema versions 1 and 2, as their code did.
fn old_catalog_rows(conn: &rusqlite::Connection) {
    let old = old_catalog();
    conn.execute(
        "INSERT INTO members(code, body) VALUES (?1, ?2)",
        rusqlite::params![old.member.code, json(&old.member)],
    )
    .expect("member");
    conn.execute(
        "INSERT INTO systems(code, member, body) VALUES (?1, ?2, ?3)",
        rusqlite::params![old.system.code, old.system.member, json(&old.system)],
    )
    .expect("system");
    for (key, hash) in &old.keys {
        conn.execute(
            "INSERT INTO api_keys(id, system, key_hash, body) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![key.id, key.system, hash, json(key)],
        )
        .expect("key");
    }
    for e in builtin_elements() {
        conn.execute(
            "INSERT INTO elements(id, body, created_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![e.id, json(&e), t(0).timestamp_micros()],
        )
        .expect("element");
    }
    for l in &old.lists {
        conn.execute(
            "INSERT INTO code_lists(id, version, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![l.id, l.version, json(l), t(0).timestamp_micros()],
        )
        .expect("code list");
    }
    for s in &old.schemas {
        conn.execute(
            "INSERT OR IGNORE INTO datasets(name) VALUES (?1)",
            rusqlite::params![s.dataset],
        )
        .expect("dataset");
        conn.execute(
            "INSERT INTO schemas(dataset, major, minor, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                s.dataset,
                s.version.major,
                s.version.minor,
                json(s),
                t(0).timestamp_micros()
            ],
        )
        .expect("schema");
    }
}

/// A store of schema version 2 (the last before the catalogue) keeps every registry and
/// dictionary object, readable through the catalogue, with its lookups and rules.
pub(crate) fn version_2_catalog_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.execute_batch(include_str!("../../migrations/sqlite/0001_init.sql"))
        .expect("version 1");
    conn.execute_batch(include_str!("../../migrations/sqlite/0002_live_count.sql"))
        .expect("version 2");
    conn.execute_batch("PRAGMA user_version = 2")
        .expect("version");
    old_catalog_rows(&conn);
    drop(conn);
    let store = Store::open_sqlite(path.clone()).expect("upgrade");
    check_upgraded_catalog(&store);
    drop(store);
    assert_eq!(user_version(&path), 7);
    let conn = rusqlite::Connection::open(&path).expect("raw");
    let old_tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN
               ('members', 'systems', 'api_keys', 'elements', 'code_lists', 'schemas')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(old_tables, 0, "the old tables are gone");
}

pub(crate) fn audit_file_reopens_and_refuses_newer_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let audit = dir.path().join("ndx-audit.db");
    {
        let store = Store::open_sqlite(path.clone()).expect("open");
        write_audit_sample(&store);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&audit)
            .expect("audit file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the audit file is private");
    }
    // The audit tables are in their own file, not in the store's.
    let tables = |file: &std::path::Path| -> Vec<String> {
        let conn = rusqlite::Connection::open(file).expect("raw");
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("tables");
        stmt.query_map([], |r| r.get(0))
            .expect("tables")
            .collect::<Result<_, _>>()
            .expect("tables")
    };
    assert_eq!(
        tables(&audit),
        vec![
            "audit_entries",
            "audit_heads",
            "audit_nodes",
            "subject_accesses",
            "subject_log",
            "subject_runs"
        ]
    );
    // Only the anchor (the latest head the data store has seen) is in the store's file.
    assert!(
        !tables(&path)
            .iter()
            .any(|t| t.starts_with("audit") && t != "audit_anchor")
    );
    let store = Store::open_sqlite(path.clone()).expect("reopen");
    check_audit_sample(&store);
    append_range(&store, 5, 6, &[]).expect("appends go on after a reopen");
    drop(store);
    let conn = rusqlite::Connection::open(&audit).expect("raw");
    conn.pragma_update(None, "user_version", 999).expect("bump");
    drop(conn);
    let err = Store::open_sqlite(path).expect_err("newer audit schema refused");
    assert!(matches!(err, StoreError::Incompatible(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("999") && msg.contains("audit"), "{msg}");
    // A store path without the .db extension gets `-audit.db` appended.
    let bare = dir.path().join("store");
    drop(Store::open_sqlite(bare).expect("open"));
    assert!(dir.path().join("store-audit.db").exists());
}

/// An append never checkpoints the audit file's write-ahead log inside its commit (waiters
/// would wait for the copy and its fsync); `AuditStore::checkpoint` does, after the fact.
pub(crate) fn audit_commits_leave_checkpoints_to_the_appender() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let audit = dir.path().join("ndx-audit.db");
    // Entries in the main file alone, as a reader that ignores the WAL would see them.
    let main_file_entries = || -> i64 {
        let copy = dir.path().join("copy.db");
        std::fs::copy(&audit, &copy).expect("copy the main file");
        let conn = rusqlite::Connection::open(&copy).expect("raw");
        // Before the first checkpoint even the schema lives in the WAL alone.
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'audit_entries'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        let n = if tables == 0 {
            0
        } else {
            conn.query_row("SELECT count(*) FROM audit_entries", [], |r| r.get(0))
                .expect("count")
        };
        drop(conn);
        std::fs::remove_file(&copy).expect("remove the copy");
        n
    };
    let store = Store::open_sqlite(path).expect("open");
    // Well past SQLite's own automatic checkpoint (1,000 pages).
    let rows: Vec<SubjectAccess> = (0..4000u64)
        .map(|i| SubjectAccess {
            subject: [(i % 251) as u8; 32],
            index: i,
        })
        .collect();
    for start in (0..4000).step_by(100) {
        let group: Vec<SubjectAccess> = rows[start as usize..start as usize + 100].to_vec();
        append_range(&store, start, start + 100, &group).expect("append");
    }
    assert_eq!(main_file_entries(), 0, "no commit checkpointed");
    store.audit().checkpoint().expect("checkpoint");
    assert_eq!(
        main_file_entries(),
        4000,
        "the checkpoint moved every entry"
    );
    append_range(&store, 4000, 4001, &[]).expect("appends go on");
    assert_eq!(store.audit().size().expect("size"), 4001);
}

/// `Existing` and `ReadOnly` opens refuse a path without a store and create nothing; a store
/// whose audit file was deleted or emptied is refused by every mode; a read-only open reads
/// without creating or changing a file, and every write fails.
pub(crate) fn open_modes_refuse_a_missing_store_and_read_only_writes_nothing() {
    use ndx_store::OpenMode;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let url = path.display().to_string();
    for mode in [OpenMode::Existing, OpenMode::ReadOnly] {
        let err = Store::open_with(&url, mode).expect_err("no store there");
        assert!(
            matches!(err, StoreError::NotFound(_)) && err.to_string().contains("no ndx store"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    let store = Store::open(&url).expect("create");
    super::audit::write_audit_sample(&store);
    store
        .audit()
        .put_anchor(&super::audit::head(5, 42, 9), 2, true)
        .expect("anchor");
    drop(store);
    let files = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .expect("dir")
            .map(|f| {
                let f = f.expect("entry");
                let m = f.metadata().expect("meta");
                (f.file_name(), m.len(), m.modified().expect("mtime"))
            })
            .collect();
        v.sort();
        v
    };
    let before = files(dir.path());
    let ro = Store::open_with(&url, OpenMode::ReadOnly).expect("read-only");
    super::audit::check_audit_sample(&ro);
    assert!(
        super::audit::append_range(&ro, 5, 6, &[]).is_err(),
        "a read-only store wrote"
    );
    drop(ro);
    assert_eq!(
        files(dir.path()),
        before,
        "a read-only open changed the directory"
    );
    Store::open_with(&url, OpenMode::Existing).expect("existing");

    // Once a head is anchored, a deleted or emptied audit file is refused by every mode
    // (and no new one is started beside the data).
    let audit = dir.path().join("ndx-audit.db");
    std::fs::File::create(&audit).expect("truncate");
    for mode in [OpenMode::Create, OpenMode::Existing, OpenMode::ReadOnly] {
        let err = Store::open_with(&url, mode).expect_err("emptied audit file");
        assert!(err.to_string().contains("is empty (0 bytes)"), "{err}");
    }
    std::fs::remove_file(&audit).expect("delete");
    for mode in [OpenMode::Create, OpenMode::Existing, OpenMode::ReadOnly] {
        let err = Store::open_with(&url, mode).expect_err("deleted audit file");
        assert!(err.to_string().contains("is missing"), "{err}");
    }
    assert!(
        !audit.exists(),
        "a new audit file was started beside the data"
    );
}

pub(crate) fn unknown_engines_are_clear_errors() {
    #[cfg(not(feature = "postgres"))]
    {
        let e = Store::open("postgres://u:secret@localhost/db").expect_err("not compiled");
        assert!(e.to_string().contains("not compiled"), "{e}");
        assert!(!e.to_string().contains("secret"), "password redacted: {e}");
    }
    let e = Store::open("mysql://x").expect_err("unknown");
    assert!(e.to_string().contains("unknown store scheme"), "{e}");
}

/// A batch that spilled far more than the kept 64 MiB into the WAL and was then refused
/// (dropped uncommitted) gives the space back at once, not at shutdown; the store goes on.
pub(crate) fn a_refused_big_batch_gives_its_wal_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let wal = dir.path().join("ndx.db-wal");
    let store = Store::open_sqlite(path).expect("open");
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    let filler = "x".repeat(16 * 1024);
    let ops: Vec<WriteOp> = (0..12_000)
        .map(|i| {
            let b = format!(r#"{{"citizen_id":"k{i:06}","note":"{filler}"}}"#);
            WriteOp {
                key: format!("k{i:06}"),
                hash: hash(&b),
                body: Some(b),
            }
        })
        .collect();
    let mut w = store
        .records()
        .begin_batch("people", meta("big", t(20)))
        .expect("begin");
    let mut out = Vec::new();
    for chunk in ops.chunks(1_000) {
        w.write(chunk, &mut out).expect("write");
    }
    let spilled = std::fs::metadata(&wal).expect("wal").len();
    assert!(
        spilled > 128 * 1024 * 1024,
        "the batch should have spilled into the WAL: {spilled} bytes"
    );
    drop(w);
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        left <= 64 * 1024 * 1024,
        "a refused batch left {left} bytes of WAL (it spilled {spilled})"
    );
    assert_eq!(store.records().count("people").expect("count"), 1);
    load(&store, "b2", t(30), &["b"], 1);
    assert_eq!(store.records().count("people").expect("count"), 2);
}

/// A small deterministic generator (xorshift), so that a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The tracker as a model: (subject, entry) rows.
fn check_tracker(store: &Store, model: &std::collections::BTreeSet<([u8; 32], u64)>, size: u64) {
    let audit = store.audit();
    // Every subject's accesses, newest first, whole and paged with `before`.
    let subjects: std::collections::BTreeSet<[u8; 32]> = model.iter().map(|r| r.0).collect();
    for s in &subjects {
        let want: Vec<u64> = model
            .iter()
            .filter(|r| r.0 == *s)
            .map(|r| r.1)
            .rev()
            .collect();
        assert_eq!(
            audit.subject_accesses(s, None, 10_000).expect("accesses"),
            want
        );
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = audit.subject_accesses(s, before, 2).expect("page");
            let Some(&last) = page.last() else { break };
            paged.extend(page);
            before = Some(last);
        }
        assert_eq!(paged, want, "paged accesses");
    }
    assert!(
        audit
            .subject_accesses(&[0xee; 32], None, 10)
            .expect("none")
            .is_empty()
    );
    // The verifier's sorted pages.
    let mut rows = Vec::new();
    let mut after: Option<SubjectAccess> = None;
    loop {
        let page = audit.subject_rows(after.as_ref(), 5).expect("rows");
        assert!(page.len() <= 5);
        let Some(last) = page.last().copied() else {
            break;
        };
        rows.extend(page.iter().map(|r| (r.subject, r.index)));
        after = Some(last);
    }
    assert_eq!(
        rows,
        model.iter().copied().collect::<Vec<_>>(),
        "sorted rows"
    );
    // Counts below every few entries.
    for end in (0..=size + 1).step_by(7) {
        let want = model.iter().filter(|r| r.1 < end).count() as u64;
        assert_eq!(
            audit.subject_count(end).expect("count"),
            want,
            "count below {end}"
        );
    }
}

/// What the folder left: (live runs, their highest level, log rows, dead or building runs).
fn tracker_shape(audit_file: &std::path::Path) -> (i64, i64, i64, i64) {
    let conn = rusqlite::Connection::open(audit_file).expect("raw");
    conn.query_row(
        "SELECT (SELECT count(*) FROM subject_runs WHERE state = 'live'),
                (SELECT coalesce(max(level), 0) FROM subject_runs WHERE state = 'live'),
                (SELECT count(*) FROM subject_log),
                (SELECT count(*) FROM subject_runs WHERE state <> 'live')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .expect("shape")
}

/// The data tracker written in log order and folded into sorted runs answers exactly what
/// one index would, at every step: appends of random groups (one entry naming more subjects
/// than a run takes), folds with small limits between them (flushes, merges over levels,
/// purges), a fold cut short by its budget, and a run a crash left half built.
pub(crate) fn the_folded_tracker_answers_as_one_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let audit_file = dir.path().join("ndx-audit.db");
    let store = Store::open_sqlite(path.clone()).expect("open");
    let limits = FoldLimits {
        log_flush_rows: 7,
        chunk: 3,
        fanout: 2,
        budget: std::time::Duration::from_secs(60),
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model = std::collections::BTreeSet::new();
    let mut size = 0u64;
    for round in 0..40 {
        let entries = 1 + rng.below(4);
        let mut rows = Vec::new();
        for index in size..size + entries {
            // Round 13's first entry names 40 subjects: more than a run from the log takes.
            let named = if round == 13 && index == size {
                40
            } else {
                rng.below(4)
            };
            for _ in 0..named {
                let subject = [rng.below(23) as u8; 32];
                rows.push(SubjectAccess { subject, index });
                model.insert((subject, index));
            }
        }
        append_range(&store, size, size + entries, &rows).expect("append");
        size += entries;
        if rng.below(3) == 0 {
            let report = store.audit().fold_tracker_with(&limits).expect("fold");
            assert!(!report.pending, "{report:?}");
            assert_eq!(report.abandoned, 0);
            let (_, _, log, retired) = tracker_shape(&audit_file);
            assert!(
                log < 7 + 40,
                "the log keeps less than a flush (and one big entry): {log}"
            );
            assert_eq!(retired, 0, "what moved was purged");
        }
        check_tracker(&store, &model, size);
    }
    store.audit().fold_tracker_with(&limits).expect("fold");
    let (live, level, _, _) = tracker_shape(&audit_file);
    assert!(
        level >= 3 && live >= 2,
        "merged over levels: {live} runs up to level {level}"
    );
    check_tracker(&store, &model, size);

    // A fold with no time does nothing and says there is work left.
    let rows: Vec<SubjectAccess> = (0..10u8)
        .map(|n| SubjectAccess {
            subject: [n; 32],
            index: size,
        })
        .collect();
    model.extend(rows.iter().map(|r| (r.subject, r.index)));
    append_range(&store, size, size + 1, &rows).expect("append");
    size += 1;
    let none = FoldLimits {
        budget: std::time::Duration::ZERO,
        ..limits
    };
    let report = store.audit().fold_tracker_with(&none).expect("fold");
    assert!(report.pending && report.flushed == 0, "{report:?}");
    check_tracker(&store, &model, size);

    // A run a crash left building (rows written, never switched live) is invisible, and the
    // next process's folder retires and deletes it.
    drop(store);
    {
        let conn = rusqlite::Connection::open(&audit_file).expect("raw");
        conn.execute_batch(
            "INSERT INTO subject_runs(run, level, first_idx, end_idx, rows, state)
                VALUES (9999, 1, 0, 1, 2, 'building');
             INSERT INTO subject_accesses(run, subject, idx)
                VALUES (9999, zeroblob(32), 0), (9999, zeroblob(32), 1);",
        )
        .expect("a half-built run");
    }
    let store = Store::open_sqlite(path).expect("reopen");
    check_tracker(&store, &model, size);
    let report = store.audit().fold_tracker_with(&limits).expect("fold");
    assert!(report.purged >= 2, "{report:?}");
    assert_eq!(
        tracker_shape(&audit_file).3,
        0,
        "the half-built run is gone"
    );
    check_tracker(&store, &model, size);
    // Bad limits are refused.
    let bad = FoldLimits {
        fanout: 1,
        ..limits
    };
    assert!(store.audit().fold_tracker_with(&bad).is_err());
}

/// An audit file of schema version 1 (the tracker one index by subject) is upgraded: its
/// rows move to the log and stay visible, and the folder sorts them into runs.
pub(crate) fn version_1_audit_file_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    let audit_file = dir.path().join("ndx-audit.db");
    let mut model = std::collections::BTreeSet::new();
    {
        let conn = rusqlite::Connection::open(&audit_file).expect("raw");
        conn.execute_batch(include_str!("../../migrations/sqlite-audit/0001_audit.sql"))
            .expect("version 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        let mut insert = conn
            .prepare("INSERT INTO subject_accesses(subject, idx) VALUES (?1, ?2)")
            .expect("insert");
        for index in 0..50u64 {
            let subject = [(index % 7) as u8; 32];
            insert
                .execute(rusqlite::params![subject, index as i64])
                .expect("row");
            model.insert((subject, index));
        }
    }
    let store = Store::open_sqlite(path).expect("upgrade");
    assert_eq!(user_version(&audit_file), 2);
    check_tracker(&store, &model, 50);
    let limits = FoldLimits {
        log_flush_rows: 8,
        chunk: 5,
        fanout: 3,
        budget: std::time::Duration::from_secs(60),
    };
    let report = store.audit().fold_tracker_with(&limits).expect("fold");
    assert_eq!(report.flushed, 50, "{report:?}");
    let (live, _, log, _) = tracker_shape(&audit_file);
    assert!(live >= 1 && log == 0, "{live} runs, {log} log rows");
    check_tracker(&store, &model, 50);
}
