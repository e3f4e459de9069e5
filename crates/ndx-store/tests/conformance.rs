//! The storage conformance suite: everything `Store` promises, written once and instantiated for
//! every backend. A backend is done when this whole suite passes on it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ndx_store::{BatchMeta, FieldFilter, Store, StoreError, WriteOutcome};
use ndx_types::dictionary::{
    CodeEntry, CodeList, DatasetSchema, FieldDef, Importance, Openness, SchemaVersion, Sensitivity,
    builtin_elements,
};
use ndx_types::registry::{ApiKey, Jurisdiction, Member, MemberLevel, Role, System};
use sha2::{Digest, Sha256};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 0)
        .single()
        .expect("time")
}

fn member(code: &str) -> Member {
    Member {
        code: code.into(),
        name_vi: "Bộ Công an".into(),
        name_en: "Ministry of Public Security".into(),
        level: MemberLevel::Central,
        jurisdiction: Jurisdiction {
            country: "VN".into(),
            province: None,
        },
        created_at: t(0),
    }
}

fn schema(version: SchemaVersion) -> DatasetSchema {
    DatasetSchema {
        dataset: "people".into(),
        version,
        title_vi: "Người".into(),
        title_en: "People".into(),
        description: String::new(),
        owner: "BCA".into(),
        original: true,
        openness: Openness::Restricted,
        importance: Importance::Core,
        key: vec!["id".into()],
        fields: vec![FieldDef {
            name: "id".into(),
            element: "identifier".into(),
            required: true,
            sensitivity: Sensitivity::Internal,
            description: String::new(),
        }],
        rules: vec![],
    }
}

const V1: SchemaVersion = SchemaVersion { major: 1, minor: 0 };

fn meta(batch: &str, at: DateTime<Utc>) -> BatchMeta {
    BatchMeta {
        batch_id: batch.into(),
        source_system: "BCA-POP".into(),
        schema_version: V1,
        at,
    }
}

fn body(id: &str, n: u32) -> String {
    format!(
        "{{\"id\":\"{id}\",\"n\":{n},\"city\":\"{}\"}}",
        if n.is_multiple_of(2) {
            "Hà Nội"
        } else {
            "Huế"
        }
    )
}

fn hash(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// A store with the people dataset registered.
fn with_dataset(store: &Store) {
    store.insert_member(&member("BCA")).expect("member");
    store.insert_schema(&schema(V1), t(0)).expect("schema");
}

/// Writes records `ids` with value `n` in one committed batch.
fn load(store: &Store, batch: &str, at: DateTime<Utc>, ids: &[&str], n: u32) -> Vec<WriteOutcome> {
    let mut w = store.begin_batch("people", meta(batch, at)).expect("begin");
    let out = ids
        .iter()
        .map(|id| {
            let b = body(id, n);
            w.upsert(id, &b, &hash(&b)).expect("upsert")
        })
        .collect();
    w.commit("h", &format!("{{\"batch\":\"{batch}\"}}"))
        .expect("commit");
    out
}

fn registry(store: Store) {
    store.insert_member(&member("BCA")).expect("insert");
    assert!(matches!(
        store.insert_member(&member("BCA")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.member("BCA").expect("get"), Some(member("BCA")));
    assert_eq!(store.member("NOPE").expect("get"), None);
    assert_eq!(store.members().expect("list").len(), 1);
    let sys = System {
        code: "BCA-POP".into(),
        member: "BCA".into(),
        name: "Dân cư".into(),
        created_at: t(1),
    };
    store.insert_system(&sys).expect("system");
    let orphan = System {
        member: "NOPE".into(),
        code: "X-1".into(),
        ..sys.clone()
    };
    assert!(matches!(
        store.insert_system(&orphan),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.insert_system(&sys),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.systems().expect("systems"), vec![sys.clone()]);
    let key = ApiKey {
        id: "k1".into(),
        system: "BCA-POP".into(),
        roles: vec![Role::Provider],
        label: "loader".into(),
        created_at: t(2),
        expires_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&key, "hash-1").expect("key");
    assert_eq!(
        store.api_key_by_hash("hash-1").expect("lookup"),
        Some(key.clone())
    );
    assert_eq!(store.api_key_by_hash("hash-2").expect("lookup"), None);
    let revoked = store
        .revoke_api_key("k1", t(5))
        .expect("revoke")
        .expect("known");
    assert_eq!(revoked.revoked_at, Some(t(5)));
    let again = store
        .revoke_api_key("k1", t(9))
        .expect("revoke")
        .expect("known");
    assert_eq!(
        again.revoked_at,
        Some(t(5)),
        "the first revocation time is kept"
    );
    assert_eq!(store.revoke_api_key("nope", t(9)).expect("revoke"), None);
    assert_eq!(
        store.api_keys("BCA-POP").expect("keys")[0].revoked_at,
        Some(t(5))
    );
}

fn dictionary(store: Store) {
    for e in builtin_elements() {
        store.insert_element(&e, t(0)).expect("element");
    }
    let dup = builtin_elements().remove(0);
    assert!(matches!(
        store.insert_element(&dup, t(0)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.elements().expect("elements").len(),
        builtin_elements().len()
    );
    let mut list = CodeList {
        id: "colour".into(),
        version: 1,
        name_vi: "Màu".into(),
        name_en: "Colour".into(),
        source: String::new(),
        entries: vec![CodeEntry {
            code: "R".into(),
            label_vi: "Đỏ".into(),
            label_en: "Red".into(),
            parent: None,
        }],
    };
    store.insert_code_list(&list, t(0)).expect("v1");
    assert!(matches!(
        store.insert_code_list(&list, t(0)),
        Err(StoreError::Conflict(_))
    ));
    list.version = 2;
    list.entries[0].label_en = "Crimson".into();
    store.insert_code_list(&list, t(1)).expect("v2");
    assert_eq!(
        store
            .code_list("colour", None)
            .expect("latest")
            .expect("some")
            .version,
        2
    );
    assert_eq!(
        store
            .code_list("colour", Some(1))
            .expect("v1")
            .expect("some")
            .entries[0]
            .label_en,
        "Red"
    );
    assert_eq!(store.code_list("colour", Some(3)).expect("v3"), None);
    assert_eq!(
        store.code_list_ids().expect("ids"),
        vec![("colour".to_string(), 2)]
    );

    store.insert_member(&member("BCA")).expect("member");
    store.insert_schema(&schema(V1), t(0)).expect("1.0");
    assert!(matches!(
        store.insert_schema(&schema(V1), t(0)),
        Err(StoreError::Conflict(_))
    ));
    let v11 = SchemaVersion { major: 1, minor: 1 };
    let v20 = SchemaVersion { major: 2, minor: 0 };
    store.insert_schema(&schema(v20), t(2)).expect("2.0");
    store.insert_schema(&schema(v11), t(1)).expect("1.1");
    assert_eq!(
        store.schema_versions("people").expect("versions"),
        vec![V1, v11, v20]
    );
    assert_eq!(
        store
            .schema("people", None)
            .expect("latest")
            .expect("some")
            .version,
        v20
    );
    assert_eq!(
        store
            .schema("people", Some(v11))
            .expect("1.1")
            .expect("some")
            .version,
        v11
    );
    assert_eq!(store.schema("nope", None).expect("none"), None);
    let all = store.datasets().expect("datasets");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].version, v20);
}

fn batches_versions_and_idempotency(store: Store) {
    with_dataset(&store);
    assert_eq!(
        load(&store, "b1", t(10), &["a", "b", "c"], 1),
        vec![WriteOutcome::Created; 3]
    );
    assert_eq!(store.count("people").expect("count"), 3);
    // Same content: unchanged, no new version. Changed content: a new version.
    assert_eq!(
        load(&store, "b2", t(20), &["a", "b"], 1),
        vec![WriteOutcome::Unchanged; 2]
    );
    assert_eq!(
        load(&store, "b3", t(30), &["a"], 2),
        vec![WriteOutcome::Updated]
    );
    let a = store
        .record("people", "a", None)
        .expect("read")
        .expect("some");
    assert_eq!(a.version, 2);
    assert_eq!(a.batch_id, "b3");
    assert_eq!(a.source_system, "BCA-POP");
    assert_eq!(a.schema_version, "1.0");
    assert_eq!(a.recorded_at, t(30));
    assert_eq!(a.body.as_deref(), Some(body("a", 2).as_str()));
    assert_eq!(a.content_hash, hex::encode(hash(&body("a", 2))));
    // The stored batch answers resubmissions; the same id cannot begin again.
    let stored = store.batch("people", "b1").expect("batch").expect("some");
    assert_eq!(stored.request_hash, "h");
    assert_eq!(stored.report, "{\"batch\":\"b1\"}");
    assert!(matches!(
        store.begin_batch("people", meta("b1", t(40))),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.begin_batch("nope", meta("x", t(40))),
        Err(StoreError::NotFound(_))
    ));
    // Duplicates inside one batch are refused, even when the first write was "unchanged".
    let mut w = store
        .begin_batch("people", meta("b4", t(40)))
        .expect("begin");
    let b = body("c", 1);
    assert_eq!(
        w.upsert("c", &b, &hash(&b)).expect("1st"),
        WriteOutcome::Unchanged
    );
    assert_eq!(
        w.upsert("c", &b, &hash(&b)).expect("2nd"),
        WriteOutcome::DuplicateInBatch
    );
    let d = body("d", 1);
    assert_eq!(
        w.upsert("d", &d, &hash(&d)).expect("d"),
        WriteOutcome::Created
    );
    assert_eq!(
        w.upsert("d", &d, &hash(&d)).expect("d2"),
        WriteOutcome::DuplicateInBatch
    );
    w.commit("h4", "{}").expect("commit");
    assert_eq!(store.count("people").expect("count"), 4);
}

fn rollback_changes_nothing(store: Store) {
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    {
        let mut w = store
            .begin_batch("people", meta("b2", t(20)))
            .expect("begin");
        for id in ["a", "x", "y"] {
            let b = body(id, 7);
            w.upsert(id, &b, &hash(&b)).expect("upsert");
        }
        w.delete("a").ok();
        // Dropped without commit.
    }
    assert_eq!(store.count("people").expect("count"), 1);
    assert_eq!(store.record("people", "x", None).expect("read"), None);
    assert_eq!(store.history("people", "a").expect("history").len(), 1);
    assert_eq!(store.batch("people", "b2").expect("batch"), None);
    // The same batch id is free again after a rollback.
    load(&store, "b2", t(30), &["x"], 1);
    assert_eq!(store.count("people").expect("count"), 2);
}

fn tombstones_history_and_as_of(store: Store) {
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    load(&store, "b2", t(20), &["a"], 2);
    let mut w = store
        .begin_batch("people", meta("b3", t(30)))
        .expect("begin");
    assert_eq!(w.delete("a").expect("delete"), WriteOutcome::Deleted);
    assert_eq!(w.delete("zzz").expect("delete"), WriteOutcome::NotFound);
    w.commit("h", "{}").expect("commit");
    let mut w = store
        .begin_batch("people", meta("b4", t(35)))
        .expect("begin");
    assert_eq!(w.delete("a").expect("again"), WriteOutcome::NotFound);
    w.commit("h", "{}").expect("commit");
    let current = store
        .record("people", "a", None)
        .expect("read")
        .expect("tombstone");
    assert_eq!(current.body, None);
    assert_eq!(current.version, 3);
    assert_eq!(store.count("people").expect("count"), 0);
    load(&store, "b5", t(40), &["a"], 2);
    let h = store.history("people", "a").expect("history");
    let versions: Vec<(u64, bool)> = h.iter().map(|v| (v.version, v.body.is_some())).collect();
    assert_eq!(versions, vec![(4, true), (3, false), (2, true), (1, true)]);
    let at = |s| store.record("people", "a", Some(t(s))).expect("as of");
    assert_eq!(at(5), None);
    assert_eq!(at(10).expect("v1").version, 1);
    assert_eq!(at(25).expect("v2").version, 2);
    assert_eq!(at(30).expect("v3").body, None);
    assert_eq!(at(1000).expect("v4").version, 4);
    assert_eq!(
        store
            .record("people", "a", Some(t(15) + Duration::milliseconds(1)))
            .expect("ms")
            .expect("v1")
            .version,
        1
    );
}

fn list_filters_and_cursor(store: Store) {
    with_dataset(&store);
    let ids: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut w = store
        .begin_batch("people", meta("b1", t(10)))
        .expect("begin");
    for (i, id) in refs.iter().enumerate() {
        let b = body(id, i as u32);
        w.upsert(id, &b, &hash(&b)).expect("upsert");
    }
    assert_eq!(
        w.delete("k03").expect("delete"),
        WriteOutcome::DuplicateInBatch
    );
    w.commit("h", "{}").expect("commit");
    let mut w = store
        .begin_batch("people", meta("b2", t(11)))
        .expect("begin");
    assert_eq!(w.delete("k03").expect("delete"), WriteOutcome::Deleted);
    w.commit("h", "{}").expect("commit");
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list("people", &[], after.as_deref(), 7)
            .expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.key.clone());
        seen.extend(page.into_iter().map(|r| r.key));
    }
    let mut want: Vec<String> = ids.iter().filter(|k| *k != "k03").cloned().collect();
    want.sort();
    assert_eq!(seen, want);
    let hanoi = store
        .list(
            "people",
            &[FieldFilter {
                field: "city".into(),
                value: serde_json::json!("Hà Nội"),
            }],
            None,
            100,
        )
        .expect("filter");
    assert!(
        hanoi
            .iter()
            .all(|r| r.body.as_deref().is_some_and(|b| b.contains("Hà Nội")))
    );
    assert_eq!(hanoi.len(), 13, "even n of 0..25");
    let one = store
        .list(
            "people",
            &[
                FieldFilter {
                    field: "n".into(),
                    value: serde_json::json!(4),
                },
                FieldFilter {
                    field: "city".into(),
                    value: serde_json::json!("Hà Nội"),
                },
            ],
            None,
            100,
        )
        .expect("filters");
    assert_eq!(
        one.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        vec!["k04"]
    );
    let injected = store
        .list(
            "people",
            &[FieldFilter {
                field: "city' OR 1=1 --".into(),
                value: serde_json::json!("x' OR '1'='1"),
            }],
            Some("' OR 1=1 --"),
            100,
        )
        .expect("injection attempt is just a value");
    assert!(injected.is_empty());
    assert!(
        store
            .list("nope", &[], None, 10)
            .expect("unknown")
            .is_empty()
    );
}

fn concurrent_writers(store: Store) {
    with_dataset(&store);
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..10 {
                    let mut batch = store
                        .begin_batch("people", meta(&format!("w{w}-b{b}"), t(100 + b)))
                        .expect("begin");
                    for i in 0..50 {
                        let id = format!("w{w}-{b}-{i}");
                        let body = body(&id, i);
                        batch.upsert(&id, &body, &hash(&body)).expect("upsert");
                    }
                    batch.commit("h", "{}").expect("commit");
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("writer");
    }
    assert_eq!(store.count("people").expect("count"), 4 * 10 * 50);
}

/// Instantiates the whole suite for one backend.
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;
            fn open() -> (Store, Box<dyn std::any::Any>) {
                $open()
            }
            #[test]
            fn registry() {
                let (s, _guard) = open();
                super::registry(s);
            }
            #[test]
            fn dictionary() {
                let (s, _guard) = open();
                super::dictionary(s);
            }
            #[test]
            fn batches_versions_and_idempotency() {
                let (s, _guard) = open();
                super::batches_versions_and_idempotency(s);
            }
            #[test]
            fn rollback_changes_nothing() {
                let (s, _guard) = open();
                super::rollback_changes_nothing(s);
            }
            #[test]
            fn tombstones_history_and_as_of() {
                let (s, _guard) = open();
                super::tombstones_history_and_as_of(s);
            }
            #[test]
            fn list_filters_and_cursor() {
                let (s, _guard) = open();
                super::list_filters_and_cursor(s);
            }
            #[test]
            fn concurrent_writers() {
                let (s, _guard) = open();
                super::concurrent_writers(s);
            }
        }
    };
}

fn open_sqlite() -> (Store, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("ndx.db").display());
    (Store::open(&url).expect("open"), Box::new(dir))
}

conformance!(sqlite, open_sqlite);

#[test]
fn reopening_keeps_everything_and_refuses_newer_schemas() {
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

#[test]
fn unknown_engines_are_clear_errors() {
    let e = Store::open("postgres://u:secret@localhost/db").expect_err("not compiled");
    assert!(e.to_string().contains("not compiled"), "{e}");
    assert!(!e.to_string().contains("secret"), "password redacted: {e}");
    let e = Store::open("mysql://x").expect_err("unknown");
    assert!(e.to_string().contains("unknown store scheme"), "{e}");
}
