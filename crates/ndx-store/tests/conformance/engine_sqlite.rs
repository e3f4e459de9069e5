//! What only the embedded store has: its files, its upgrades.

use super::*;
use crate::audit::{append_range, check_audit_sample, write_audit_sample};

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
    assert_eq!(store.count("people").expect("count"), 2);
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.pragma_update(None, "user_version", 999).expect("bump");
    drop(conn);
    let err = Store::open_sqlite(path).expect_err("newer schema refused");
    assert!(matches!(err, StoreError::Incompatible(_)), "{err}");
    assert!(err.to_string().contains("999"), "{err}");
}

/// A store of schema version 1 (before `datasets.live`) counts its records right after the
/// upgrade: deleted ones excluded, and later batches keep the count.
pub(crate) fn version_1_store_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ndx.db");
    {
        let store = Store::open_sqlite(path.clone()).expect("open");
        with_dataset(&store);
        load(&store, "b1", t(10), &["a", "b", "c"], 1);
        let mut w = store
            .begin_batch("people", meta("b2", t(20)))
            .expect("begin");
        assert_eq!(w.delete("b").expect("delete"), WriteOutcome::Deleted);
        w.commit("h", "{}").expect("commit");
    }
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.execute_batch("ALTER TABLE datasets DROP COLUMN live; PRAGMA user_version = 1")
        .expect("back to version 1");
    drop(conn);
    let store = Store::open_sqlite(path.clone()).expect("upgrade");
    assert_eq!(store.count("people").expect("count"), 2);
    load(&store, "b3", t(30), &["b", "d"], 1);
    assert_eq!(store.count("people").expect("count"), 4);
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("raw");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 2);
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
    assert!(!tables(&path).iter().any(|t| t.starts_with("audit")));
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
