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
    check_upgraded_catalog(&store);
    drop(store);
    assert_eq!(user_version(&path), 6);
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
    assert_eq!(user_version(&path), 6);
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
            "subject_accesses"
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
