//! The storage conformance suite: everything `Store` promises, written once and instantiated for
//! every backend. A backend is done when this whole suite passes on it.
//!
//! PostgreSQL runs when `NDX_TEST_POSTGRES_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a fresh schema, dropped after it.
//! Without the variable the PostgreSQL tests are replaced by one test that says they were
//! skipped (and fails when `CI=true`). The harness is libtest-mimic because the list of tests
//! depends on that variable.

use chrono::{DateTime, Duration, TimeZone, Utc};
use libtest_mimic::{Arguments, Failed, Trial};
use ndx_store::{BatchMeta, FieldFilter, Store, StoreError, WriteOp, WriteOutcome};
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

/// Writes a whole chunk through the bulk path.
fn op(key: &str, n: Option<u32>) -> WriteOp {
    match n {
        Some(n) => {
            let b = body(key, n);
            WriteOp {
                key: key.into(),
                hash: hash(&b),
                body: Some(b),
            }
        }
        None => WriteOp {
            key: key.into(),
            body: None,
            hash: [0; 32],
        },
    }
}

fn bulk_chunks_decide_like_single_writes(store: Store) {
    use WriteOutcome::*;
    with_dataset(&store);
    // A fresh dataset: duplicates inside a chunk and across chunks of one batch.
    let mut w = store
        .begin_batch("people", meta("b1", t(10)))
        .expect("begin");
    let mut out = Vec::new();
    w.write(
        &[
            op("a", Some(1)),
            op("a", Some(1)),
            op("b", None),
            op("b", Some(1)),
            op("b", None),
            op("c", Some(1)),
            op("gone", Some(1)),
        ],
        &mut out,
    )
    .expect("chunk 1");
    assert_eq!(
        out,
        vec![
            Created,
            DuplicateInBatch,
            NotFound,
            Created,
            DuplicateInBatch,
            Created,
            Created
        ]
    );
    out.clear();
    w.write(&[op("a", Some(2)), op("d", Some(1))], &mut out)
        .expect("chunk 2");
    assert_eq!(out, vec![DuplicateInBatch, Created]);
    out.clear();
    w.write(&[], &mut out).expect("an empty chunk");
    assert!(out.is_empty());
    w.commit("h", "{}").expect("commit");
    let mut w = store
        .begin_batch("people", meta("b2", t(15)))
        .expect("begin");
    assert_eq!(w.delete("gone").expect("delete"), Deleted);
    w.commit("h", "{}").expect("commit");
    // An existing dataset: every outcome, in order, within one chunk and across chunks.
    let mut w = store
        .begin_batch("people", meta("b3", t(20)))
        .expect("begin");
    let mut out = Vec::new();
    w.write(
        &[
            op("a", Some(1)),
            op("a", Some(2)),
            op("b", Some(2)),
            op("b", None),
            op("c", None),
            op("c", Some(3)),
            op("new", None),
            op("new", Some(1)),
            op("new", Some(2)),
            op("gone", None),
            op("gone", Some(5)),
        ],
        &mut out,
    )
    .expect("chunk 1");
    assert_eq!(
        out,
        vec![
            Unchanged,
            DuplicateInBatch,
            Updated,
            DuplicateInBatch,
            Deleted,
            DuplicateInBatch,
            NotFound,
            Created,
            DuplicateInBatch,
            NotFound,
            Created
        ]
    );
    out.clear();
    w.write(
        &[
            op("a", Some(3)),
            op("b", Some(3)),
            op("new", None),
            op("d", Some(1)),
            op("e", Some(1)),
            op("e", Some(1)),
        ],
        &mut out,
    )
    .expect("chunk 2");
    assert_eq!(
        out,
        vec![
            DuplicateInBatch,
            DuplicateInBatch,
            DuplicateInBatch,
            Unchanged,
            Created,
            DuplicateInBatch
        ]
    );
    w.commit("h", "{}").expect("commit");
    let version = |k: &str| {
        let r = store
            .record("people", k, None)
            .expect("read")
            .expect("some");
        (r.version, r.body.is_some())
    };
    assert_eq!(version("a"), (1, true));
    assert_eq!(version("b"), (2, true));
    assert_eq!(version("c"), (2, false));
    assert_eq!(version("new"), (1, true));
    assert_eq!(version("gone"), (3, true));
    assert_eq!(
        store
            .record("people", "gone", None)
            .expect("read")
            .expect("some")
            .body,
        Some(body("gone", 5))
    );
    let h: Vec<(u64, String)> = store
        .history("people", "gone")
        .expect("history")
        .into_iter()
        .map(|v| (v.version, v.batch_id))
        .collect();
    assert_eq!(
        h,
        vec![(3, "b3".into()), (2, "b2".into()), (1, "b1".into())]
    );
    // a, b, d, e, gone, new (c is deleted).
    assert_eq!(store.count("people").expect("count"), 6);
}

fn keys_sort_bytewise(store: Store) {
    with_dataset(&store);
    let keys = [
        "b", "B", "a", "Á", "á", "_", "a-b", "a_b", "ab", "Z", "z", "0", "ä", "a b",
    ];
    load(&store, "b1", t(10), &keys, 1);
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list("people", &[], after.as_deref(), 3)
            .expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.key.clone());
        seen.extend(page.into_iter().map(|r| r.key));
    }
    assert_eq!(seen, want, "keys in byte order, whatever the locale");
}

fn typed_filters(store: Store) {
    with_dataset(&store);
    let mut w = store
        .begin_batch("people", meta("b1", t(10)))
        .expect("begin");
    for (k, b) in [
        ("t1", r#"{"id":"t1","ok":true,"n":4,"s":"4"}"#),
        ("t2", r#"{"id":"t2","ok":false,"n":5,"s":"5"}"#),
    ] {
        w.upsert(k, b, &hash(b)).expect("upsert");
    }
    w.commit("h", "{}").expect("commit");
    let keys = |field: &str, value: serde_json::Value| -> Vec<String> {
        store
            .list(
                "people",
                &[FieldFilter {
                    field: field.into(),
                    value,
                }],
                None,
                10,
            )
            .expect("list")
            .into_iter()
            .map(|r| r.key)
            .collect()
    };
    assert_eq!(keys("ok", serde_json::json!(true)), vec!["t1"]);
    assert_eq!(keys("ok", serde_json::json!(false)), vec!["t2"]);
    assert_eq!(keys("n", serde_json::json!(4)), vec!["t1"]);
    assert_eq!(keys("n", serde_json::json!(4.0)), vec!["t1"]);
    assert!(
        keys("n", serde_json::json!("4")).is_empty(),
        "a string is not a number"
    );
    assert_eq!(keys("s", serde_json::json!("4")), vec!["t1"]);
    assert!(
        keys("s", serde_json::json!(4)).is_empty(),
        "a number is not a string"
    );
    assert!(keys("missing", serde_json::json!("4")).is_empty());
    assert!(keys("n", serde_json::Value::Null).is_empty());
}

fn as_of_follows_versions_not_clock(store: Store) {
    with_dataset(&store);
    // Batch times need not increase: as-of walks back from the current version.
    load(&store, "b1", t(10), &["a"], 1);
    load(&store, "b2", t(30), &["a"], 2);
    load(&store, "b3", t(20), &["a"], 3);
    let at = |s| {
        store
            .record("people", "a", Some(t(s)))
            .expect("as of")
            .map(|v| v.version)
    };
    assert_eq!(at(5), None);
    assert_eq!(at(15), Some(1));
    assert_eq!(at(25), Some(3));
    assert_eq!(at(35), Some(3));
}

fn concurrent_writers_same_keys(store: Store) {
    with_dataset(&store);
    let threads: Vec<_> = (0..4u32)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..5u32 {
                    let mut batch = store
                        .begin_batch("people", meta(&format!("w{w}-b{b}"), t(100)))
                        .expect("begin");
                    let ops: Vec<WriteOp> = (0..20)
                        .map(|i| op(&format!("k{i:02}"), Some(1000 * w + 10 * b + 1)))
                        .collect();
                    let mut out = Vec::new();
                    batch.write(&ops, &mut out).expect("write");
                    assert!(
                        out.iter()
                            .all(|o| matches!(o, WriteOutcome::Created | WriteOutcome::Updated)),
                        "{out:?}"
                    );
                    batch.commit("h", "{}").expect("commit");
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("writer");
    }
    assert_eq!(store.count("people").expect("count"), 20);
    for i in 0..20 {
        let versions: Vec<u64> = store
            .history("people", &format!("k{i:02}"))
            .expect("history")
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(versions, (1..=20).rev().collect::<Vec<u64>>());
    }
}

/// One test of the suite: its name and the function that runs it on a fresh store.
type SuiteTest = (&'static str, fn(Store));

/// The whole suite, written once: every backend runs every test.
const SUITE: &[SuiteTest] = &[
    ("registry", registry),
    ("dictionary", dictionary),
    (
        "batches_versions_and_idempotency",
        batches_versions_and_idempotency,
    ),
    ("rollback_changes_nothing", rollback_changes_nothing),
    ("tombstones_history_and_as_of", tombstones_history_and_as_of),
    ("list_filters_and_cursor", list_filters_and_cursor),
    ("concurrent_writers", concurrent_writers),
    (
        "bulk_chunks_decide_like_single_writes",
        bulk_chunks_decide_like_single_writes,
    ),
    ("keys_sort_bytewise", keys_sort_bytewise),
    ("typed_filters", typed_filters),
    (
        "as_of_follows_versions_not_clock",
        as_of_follows_versions_not_clock,
    ),
    ("concurrent_writers_same_keys", concurrent_writers_same_keys),
];

/// Instantiates the whole suite for one backend: one test per entry of [`SUITE`], named
/// `BACKEND::TEST`, each on a store of its own (`$open` returns it with a guard that cleans
/// up when dropped, after the store).
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;
            pub(super) fn trials() -> Vec<Trial> {
                SUITE
                    .iter()
                    .map(|&(name, test)| {
                        Trial::test(format!("{}::{name}", stringify!($backend)), move || {
                            let (store, _guard): (Store, Box<dyn std::any::Any>) = $open();
                            test(store);
                            Ok(())
                        })
                    })
                    .collect()
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

fn unknown_engines_are_clear_errors() {
    #[cfg(not(feature = "postgres"))]
    {
        let e = Store::open("postgres://u:secret@localhost/db").expect_err("not compiled");
        assert!(e.to_string().contains("not compiled"), "{e}");
        assert!(!e.to_string().contains("secret"), "password redacted: {e}");
    }
    let e = Store::open("mysql://x").expect_err("unknown");
    assert!(e.to_string().contains("unknown store scheme"), "{e}");
}

// ---- PostgreSQL ----

const PG_VAR: &str = "NDX_TEST_POSTGRES_URL";

fn pg_url() -> Option<String> {
    std::env::var(PG_VAR).ok().filter(|u| !u.trim().is_empty())
}

/// Runs SQL on the test server directly, not through the store.
fn try_pg_admin(sql: &str) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, String> {
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
fn pg_scalar(sql: &str) -> Option<String> {
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
struct PgSchema(String);

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Err(e) = try_pg_admin(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0)) {
            eprintln!("cannot drop test schema {}: {e}", self.0);
        }
    }
}

/// A store URL on a fresh schema (unique from pid, counter and time) and its guard.
fn fresh_schema() -> (String, PgSchema) {
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

fn open_postgres() -> (Store, Box<dyn std::any::Any>) {
    let (url, guard) = fresh_schema();
    let store = Store::open(&url).expect("open PostgreSQL store");
    (store, Box::new(guard))
}

conformance!(postgres, open_postgres);

/// Terminates the server sessions of an application name; returns how many.
fn pg_terminate(app: &str) -> u32 {
    pg_scalar(&format!(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
         WHERE application_name = '{app}' AND pid <> pg_backend_pid()"
    ))
    .and_then(|n| n.parse().ok())
    .unwrap_or(0)
}

fn pg_migrations_twice_and_concurrent_opens() {
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
    assert_eq!(store.count("people").expect("count"), 2);
    assert_eq!(
        pg_scalar(&format!(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM {}.ndx_schema_version",
            schema.0
        )),
        Some("1".into()),
        "each migration applied once"
    );
}

fn pg_newer_schema_version_is_refused() {
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

fn pg_lost_connection_mid_batch_writes_nothing_and_recovers() {
    let (url, schema) = fresh_schema();
    let app = format!("{}_app", schema.0);
    let store = Store::open(&format!("{url}&application_name={app}")).expect("open");
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    let mut w = store
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
    let y = body("y", 1);
    let err = w
        .upsert("y", &y, &hash(&y))
        .expect_err("the connection is gone");
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err = w.commit("h", "{}").expect_err("nothing to commit");
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    // Nothing half-written, and the very next call works on a new connection.
    assert_eq!(store.count("people").expect("count after the loss"), 1);
    assert_eq!(store.record("people", "x", None).expect("x"), None);
    assert_eq!(
        store
            .record("people", "a", None)
            .expect("a")
            .expect("a")
            .version,
        1
    );
    assert_eq!(store.batch("people", "b2").expect("b2"), None);
    assert_eq!(
        load(&store, "b2", t(30), &["x"], 1),
        vec![WriteOutcome::Created]
    );
}

fn pg_dead_pooled_connections_are_replaced() {
    let (url, schema) = fresh_schema();
    let app = format!("{}_app", schema.0);
    let store = Store::open(&format!("{url}&application_name={app}")).expect("open");
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    for round in 0..3 {
        assert!(pg_terminate(&app) >= 1, "round {round}: sessions found");
        assert_eq!(store.count("people").expect("the next call works"), 1);
        load(&store, &format!("r{round}"), t(20), &["a"], round + 2);
    }
}

fn pg_password_is_never_shown() {
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

fn pg_closed_port_fails_fast() {
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

fn pg_silent_server_times_out() {
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

fn plain(f: fn()) -> impl FnOnce() -> Result<(), Failed> + Send + 'static {
    move || {
        f();
        Ok(())
    }
}

fn postgres_trials() -> Vec<Trial> {
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
            "postgres::silent_server_times_out",
            plain(pg_silent_server_times_out),
        ));
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match pg_url() {
        Some(_) if compiled => {
            trials.extend(postgres::trials());
            for (name, f) in [
                (
                    "migrations_twice_and_concurrent_opens",
                    pg_migrations_twice_and_concurrent_opens as fn(),
                ),
                (
                    "newer_schema_version_is_refused",
                    pg_newer_schema_version_is_refused,
                ),
                (
                    "lost_connection_mid_batch_writes_nothing_and_recovers",
                    pg_lost_connection_mid_batch_writes_nothing_and_recovers,
                ),
                (
                    "dead_pooled_connections_are_replaced",
                    pg_dead_pooled_connections_are_replaced,
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

fn main() {
    let args = Arguments::from_args();
    let mut trials = sqlite::trials();
    trials.push(Trial::test(
        "sqlite::reopening_keeps_everything_and_refuses_newer_schemas",
        plain(reopening_keeps_everything_and_refuses_newer_schemas),
    ));
    trials.push(Trial::test(
        "unknown_engines_are_clear_errors",
        plain(unknown_engines_are_clear_errors),
    ));
    trials.extend(postgres_trials());
    libtest_mimic::run(&args, trials).exit();
}
