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
use ndx_store::{
    AuditAppend, AuditEntry, AuditNode, BatchMeta, FieldFilter, KeyHolder, Store, StoreError,
    StoredHead, SubjectAccess, WriteOp, WriteOutcome,
};
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
        store.key_holder("hash-1").expect("lookup"),
        Some(KeyHolder {
            key: key.clone(),
            system: sys.clone(),
            member: member("BCA"),
        })
    );
    assert_eq!(store.key_holder("hash-2").expect("lookup"), None);
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

/// Batches far larger than any internal group of writes (thousands of records in chunks of
/// 512): outcomes that depend on a write thousands of records earlier in the same batch, on a
/// fresh dataset, on one small enough for a backend to read up front, and on a bigger one.
fn large_batches_decide_across_chunks(store: Store) {
    use WriteOutcome::*;
    with_dataset(&store);
    let key = |i: usize| format!("k{i:05}");
    let write_all = |batch: &str, at: i64, ops: Vec<WriteOp>| -> Vec<WriteOutcome> {
        let mut w = store
            .begin_batch("people", meta(batch, t(at)))
            .expect("begin");
        let mut all = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(512) {
            let mut out = Vec::new();
            w.write(chunk, &mut out).expect("chunk");
            assert_eq!(out.len(), chunk.len());
            all.extend(out);
        }
        w.commit("h", "{}").expect("commit");
        all
    };
    let tally = |out: &[WriteOutcome], o: WriteOutcome| out.iter().filter(|x| **x == o).count();
    // 1. A fresh dataset: 9,000 new keys, then each of the first 100 again (a duplicate of a
    //    write 9,000 records back) and a deletion of a key never written.
    let mut ops: Vec<WriteOp> = (0..9_000).map(|i| op(&key(i), Some(1))).collect();
    ops.extend((0..100).map(|i| op(&key(i), Some(2))));
    ops.push(op("never", None));
    let out = write_all("b1", 10, ops);
    assert!(out[..9_000].iter().all(|o| *o == Created));
    assert!(out[9_000..9_100].iter().all(|o| *o == DuplicateInBatch));
    assert_eq!(out[9_100], NotFound);
    assert_eq!(store.count("people").expect("count"), 9_000);
    // 2. The same dataset (9,000 keys): every kind of outcome, spread over the batch, then
    //    keys this batch left unchanged, updated or deleted thousands of records back.
    let mut ops = Vec::new();
    for i in 0..9_000 {
        ops.push(match i % 4 {
            0 => op(&key(i), Some(1)), // unchanged
            1 => op(&key(i), Some(2)), // updated
            2 => op(&key(i), None),    // deleted
            _ => continue,             // untouched
        });
    }
    ops.extend((9_000..14_000).map(|i| op(&key(i), Some(1)))); // created
    ops.extend((0..12).map(|i| op(&key(i * 4 + i % 3), Some(7))));
    let out = write_all("b2", 20, ops);
    assert_eq!(tally(&out, Unchanged), 2_250);
    assert_eq!(tally(&out, Updated), 2_250);
    assert_eq!(tally(&out, Deleted), 2_250);
    assert_eq!(tally(&out, Created), 5_000);
    assert_eq!(tally(&out, DuplicateInBatch), 12);
    assert_eq!(store.count("people").expect("count"), 11_750);
    // 3. Bigger now (14,000 keys): deleted keys come back, others change again or not.
    let mut ops = Vec::new();
    for i in 0..14_000 {
        ops.push(match i % 4 {
            0 => op(&key(i), Some(1)), // unchanged
            1 => op(&key(i), Some(3)), // updated
            2 => op(&key(i), Some(1)), // created again below 9,000 (deleted), else unchanged
            _ => continue,
        });
    }
    ops.extend([op(&key(1), Some(4)), op(&key(2), None), op("never", None)]);
    let out = write_all("b3", 30, ops);
    assert_eq!(tally(&out, Unchanged), 4_750);
    assert_eq!(tally(&out, Updated), 3_500);
    assert_eq!(tally(&out, Created), 2_250);
    assert_eq!(tally(&out, DuplicateInBatch), 2);
    assert_eq!(tally(&out, NotFound), 1);
    assert_eq!(store.count("people").expect("count"), 14_000);
    let version = |i: usize| {
        let r = store
            .record("people", &key(i), None)
            .expect("read")
            .expect("present");
        (r.version, r.body, r.batch_id)
    };
    let v = |n| Some(body(&key(0), n));
    assert_eq!(version(0), (1, v(1), "b1".into()));
    assert_eq!(version(1), (3, Some(body(&key(1), 3)), "b3".into()));
    assert_eq!(version(2), (3, Some(body(&key(2), 1)), "b3".into()));
    assert_eq!(version(3), (1, Some(body(&key(3), 1)), "b1".into()));
    assert_eq!(version(9_001), (2, Some(body(&key(9_001), 3)), "b3".into()));
    assert_eq!(
        version(13_999),
        (1, Some(body(&key(13_999), 1)), "b2".into())
    );
    let batches: Vec<String> = store
        .history("people", &key(2))
        .expect("history")
        .into_iter()
        .map(|v| v.batch_id)
        .collect();
    assert_eq!(batches, vec!["b3", "b2", "b1"]);
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

// ---- The audit log ----

/// Canonical bytes of a test entry: any bytes, not only UTF-8, must round-trip.
fn entry_bytes(index: u64) -> Vec<u8> {
    let mut bytes = format!("{{\"entry\":{index}}}").into_bytes();
    bytes.extend_from_slice(&[0, 0xff, (index % 251) as u8]);
    bytes
}

fn audit_entry(index: u64) -> AuditEntry {
    AuditEntry {
        index,
        bytes: entry_bytes(index),
    }
}

/// A stand-in for the hash of node (level, index): distinct for every address.
fn node_hash(level: u32, index: u64) -> [u8; 32] {
    Sha256::digest(format!("node {level}/{index}").as_bytes()).into()
}

/// The nodes that appending leaves `start..end` completes (leaf hashes included), as the
/// appender's frontier names them: leaf `i` completes the subtree of level `l` when `i + 1`
/// is a multiple of 2^l.
fn completed_nodes(start: u64, end: u64) -> Vec<AuditNode> {
    let mut nodes = Vec::new();
    for leaf in start..end {
        let mut level = 0;
        while (leaf + 1).is_multiple_of(1 << level) {
            let index = leaf >> level;
            nodes.push(AuditNode {
                level,
                index,
                hash: node_hash(level, index),
            });
            level += 1;
        }
    }
    nodes
}

/// A data subject's keyed hash.
fn subject(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Appends entries `start..end` with the nodes they complete and these tracker rows.
fn append_range(
    store: &Store,
    start: u64,
    end: u64,
    subjects: &[SubjectAccess],
) -> Result<(), StoreError> {
    let entries: Vec<AuditEntry> = (start..end).map(audit_entry).collect();
    let nodes = completed_nodes(start, end);
    store.audit_append(&AuditAppend {
        entries: &entries,
        nodes: &nodes,
        subjects,
    })
}

fn access(n: u8, index: u64) -> SubjectAccess {
    SubjectAccess {
        subject: subject(n),
        index,
    }
}

fn indexes(entries: &[AuditEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.index).collect()
}

fn audit_entries_round_trip(store: Store) {
    assert_eq!(store.audit_size().expect("size"), 0);
    assert!(store.audit_entries(0, 10).expect("empty log").is_empty());
    store
        .audit_append(&AuditAppend {
            entries: &[],
            nodes: &[],
            subjects: &[],
        })
        .expect("an empty group is a no-op");
    assert_eq!(store.audit_size().expect("size"), 0);
    append_range(&store, 0, 3, &[]).expect("first group");
    assert_eq!(store.audit_size().expect("size"), 3);
    append_range(&store, 3, 10, &[]).expect("second group");
    // One entry with empty bytes.
    store
        .audit_append(&AuditAppend {
            entries: &[AuditEntry {
                index: 10,
                bytes: Vec::new(),
            }],
            nodes: &[],
            subjects: &[],
        })
        .expect("empty bytes");
    assert_eq!(store.audit_size().expect("size"), 11);
    let all = store.audit_entries(0, u64::MAX).expect("all");
    let mut want: Vec<AuditEntry> = (0..10).map(audit_entry).collect();
    want.push(AuditEntry {
        index: 10,
        bytes: Vec::new(),
    });
    assert_eq!(all, want, "exact bytes, ascending");
    assert_eq!(
        store.audit_entries(2, 5).expect("middle"),
        (2..5).map(audit_entry).collect::<Vec<_>>()
    );
    assert_eq!(
        indexes(&store.audit_entries(8, 100).expect("clipped")),
        vec![8, 9, 10]
    );
    assert!(
        store
            .audit_entries(11, 20)
            .expect("past the end")
            .is_empty()
    );
    assert!(store.audit_entries(5, 5).expect("empty range").is_empty());
    assert!(
        store
            .audit_entries(7, 3)
            .expect("reversed range")
            .is_empty()
    );
    assert!(
        store
            .audit_entries(u64::MAX - 1, u64::MAX)
            .expect("far beyond")
            .is_empty()
    );
    assert_eq!(indexes(&store.audit_entries(0, 1).expect("first")), vec![0]);
}

/// Everything a refused append could have touched: entries, node hashes, tracker rows.
#[derive(Debug, PartialEq)]
struct AuditState(Vec<AuditEntry>, Vec<Option<[u8; 32]>>, Vec<Vec<u64>>);

fn audit_state(store: &Store) -> AuditState {
    let addresses: Vec<(u32, u64)> = (0..3)
        .flat_map(|level| (0..12).map(move |index| (level, index)))
        .collect();
    AuditState(
        store.audit_entries(0, u64::MAX).expect("entries"),
        store.audit_nodes(&addresses).expect("nodes"),
        (1..=3)
            .map(|n| {
                store
                    .subject_accesses(&subject(n), None, 100)
                    .expect("subjects")
            })
            .collect(),
    )
}

fn audit_refused_appends_write_nothing(store: Store) {
    append_range(&store, 0, 4, &[access(1, 0), access(2, 3)]).expect("first group");
    let before = audit_state(&store);
    assert_eq!(before.0.len(), 4);
    let refused = |start: u64, end: u64, what: &str| {
        let e = append_range(&store, start, end, &[access(1, start), access(3, start)])
            .expect_err(what);
        assert!(matches!(e, StoreError::Conflict(_)), "{what}: {e}");
        assert_eq!(audit_state(&store), before, "{what} wrote something");
    };
    refused(5, 8, "a gap");
    refused(2, 6, "an overlap");
    refused(0, 4, "the same group again");
    refused(3, 4, "the last entry again");
    // Indexes that do not follow each other inside the group.
    let entries = [audit_entry(4), audit_entry(6)];
    let e = store
        .audit_append(&AuditAppend {
            entries: &entries,
            nodes: &completed_nodes(4, 5),
            subjects: &[access(3, 4)],
        })
        .expect_err("a hole inside the group");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(audit_state(&store), before);
    // A group that starts right but repeats a stored node: its entries are not kept either.
    let entries = [audit_entry(4)];
    let nodes = [
        AuditNode {
            level: 0,
            index: 4,
            hash: node_hash(0, 4),
        },
        AuditNode {
            level: 0,
            index: 1,
            hash: node_hash(0, 1),
        },
    ];
    let e = store
        .audit_append(&AuditAppend {
            entries: &entries,
            nodes: &nodes,
            subjects: &[access(3, 4)],
        })
        .expect_err("a node stored twice");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(audit_state(&store), before, "the whole group rolled back");
    // The log is still writable where it should be.
    append_range(&store, 4, 6, &[access(3, 5)]).expect("the right start");
    assert_eq!(store.audit_size().expect("size"), 6);
    assert_eq!(
        store
            .subject_accesses(&subject(3), None, 10)
            .expect("subject 3"),
        vec![5]
    );
}

fn audit_nodes_read_in_request_order(store: Store) {
    assert!(store.audit_nodes(&[]).expect("no addresses").is_empty());
    assert_eq!(
        store.audit_nodes(&[(0, 0), (3, 1)]).expect("empty log"),
        vec![None, None]
    );
    append_range(&store, 0, 11, &[]).expect("entries 0..11");
    let stored: std::collections::HashSet<(u32, u64)> = completed_nodes(0, 11)
        .iter()
        .map(|n| (n.level, n.index))
        .collect();
    // ~100 addresses, stored and missing, scrambled, with repeats and unstorable ones.
    let mut addresses: Vec<(u32, u64)> = (0..5)
        .flat_map(|level| (0..20).map(move |index| (level, index)))
        .collect();
    addresses.reverse();
    addresses.swap(3, 71);
    addresses.extend([
        (0, 4),
        (0, 4),
        (3, 0),
        (u32::MAX, 0),
        (0, u64::MAX),
        (99, 0),
    ]);
    let got = store.audit_nodes(&addresses).expect("nodes");
    assert_eq!(got.len(), addresses.len());
    for (&(level, index), hash) in addresses.iter().zip(&got) {
        let want = stored
            .contains(&(level, index))
            .then(|| node_hash(level, index));
        assert_eq!(*hash, want, "node ({level}, {index})");
    }
    assert!(got.iter().filter(|h| h.is_some()).count() >= 20);
    // Level 3 index 0 covers leaves 0..8; level 3 index 1 (leaves 8..16) is not complete.
    assert_eq!(
        store.audit_nodes(&[(3, 1), (3, 0)]).expect("two"),
        vec![None, Some(node_hash(3, 0))]
    );
}

fn head(tree_size: u64, millis: i64, signer: u8) -> StoredHead {
    StoredHead {
        tree_size,
        timestamp: t(tree_size as i64) + Duration::milliseconds(millis),
        root_hash: node_hash(99, tree_size),
        signature: [signer; 64],
    }
}

fn audit_heads_put_and_list(store: Store) {
    assert_eq!(store.audit_latest_head().expect("none yet"), None);
    assert!(store.audit_heads(0, 10).expect("none yet").is_empty());
    let heads = [
        head(0, 1, 1),
        head(5, 123, 1),
        head(2, 999, 1),
        head(9, 7, 1),
    ];
    for h in &heads {
        store.audit_put_head(h).expect("put");
    }
    store
        .audit_put_head(&head(5, 123, 1))
        .expect("the identical head again");
    for (other, what) in [
        (head(5, 123, 2), "another signature"),
        (head(5, 124, 1), "a time one millisecond later"),
        (
            StoredHead {
                root_hash: [0; 32],
                ..head(5, 123, 1)
            },
            "another root",
        ),
    ] {
        let e = store.audit_put_head(&other).expect_err(what);
        assert!(matches!(e, StoreError::Conflict(_)), "{what}: {e}");
    }
    let sub_milli = StoredHead {
        timestamp: t(20) + Duration::microseconds(1_500),
        ..head(20, 0, 1)
    };
    store
        .audit_put_head(&sub_milli)
        .expect_err("a time finer than a millisecond cannot be stored exactly");
    assert_eq!(
        store.audit_latest_head().expect("latest"),
        Some(head(9, 7, 1))
    );
    let sizes = |from, limit| -> Vec<u64> {
        store
            .audit_heads(from, limit)
            .expect("heads")
            .iter()
            .map(|h| h.tree_size)
            .collect()
    };
    assert_eq!(sizes(0, 10), vec![0, 2, 5, 9]);
    assert_eq!(sizes(1, 10), vec![2, 5, 9]);
    assert_eq!(sizes(3, 10), vec![5, 9]);
    assert_eq!(sizes(2, 2), vec![2, 5]);
    assert_eq!(sizes(9, 10), vec![9]);
    assert!(sizes(10, 10).is_empty());
    assert!(sizes(0, 0).is_empty());
    assert!(sizes(u64::MAX, 10).is_empty());
    // Everything round-trips, the time to the millisecond.
    let listed = store.audit_heads(0, 10).expect("heads");
    assert_eq!(
        listed,
        vec![
            head(0, 1, 1),
            head(2, 999, 1),
            head(5, 123, 1),
            head(9, 7, 1)
        ]
    );
    assert_eq!(
        listed[2].timestamp.timestamp_millis(),
        t(5).timestamp_millis() + 123
    );
    let late = StoredHead {
        timestamp: Utc
            .with_ymd_and_hms(2199, 12, 31, 23, 59, 59)
            .single()
            .expect("time")
            + Duration::milliseconds(999),
        ..head(1_000_000, 0, 3)
    };
    store.audit_put_head(&late).expect("a late time");
    assert_eq!(store.audit_latest_head().expect("latest"), Some(late));
}

fn subject_accesses_newest_first(store: Store) {
    // Subject 1 is in every even entry, subject 2 in every third; entry 4 names subject 1 twice.
    let mut rows = Vec::new();
    for i in 0..20u64 {
        if i % 2 == 0 {
            rows.push(access(1, i));
        }
        if i % 3 == 0 {
            rows.push(access(2, i));
        }
    }
    rows.push(access(1, 4));
    append_range(
        &store,
        0,
        10,
        &rows[..rows.iter().filter(|r| r.index < 10).count()],
    )
    .expect("first group");
    let later: Vec<SubjectAccess> = rows.iter().filter(|r| r.index >= 10).copied().collect();
    append_range(&store, 10, 20, &later).expect("second group");
    let evens: Vec<u64> = (0..20).rev().filter(|i| i % 2 == 0).collect();
    assert_eq!(
        store.subject_accesses(&subject(1), None, 100).expect("all"),
        evens
    );
    assert_eq!(
        store.subject_accesses(&subject(1), None, 3).expect("limit"),
        vec![18, 16, 14]
    );
    assert_eq!(
        store
            .subject_accesses(&subject(1), Some(14), 3)
            .expect("before 14"),
        vec![12, 10, 8]
    );
    assert_eq!(
        store
            .subject_accesses(&subject(1), Some(13), 2)
            .expect("before 13"),
        vec![12, 10]
    );
    assert_eq!(
        store
            .subject_accesses(&subject(1), Some(1), 10)
            .expect("before 1"),
        vec![0]
    );
    assert!(
        store
            .subject_accesses(&subject(1), Some(0), 10)
            .expect("before 0")
            .is_empty()
    );
    assert_eq!(
        store
            .subject_accesses(&subject(1), Some(u64::MAX), 2)
            .expect("before the end of time"),
        vec![18, 16]
    );
    assert!(
        store
            .subject_accesses(&subject(1), None, 0)
            .expect("limit 0")
            .is_empty()
    );
    // Paging with the cursor visits every entry once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .subject_accesses(&subject(1), before, 4)
            .expect("page");
        let Some(&last) = page.last() else { break };
        seen.extend(page);
        before = Some(last);
    }
    assert_eq!(seen, evens);
    assert_eq!(
        store.subject_accesses(&subject(2), None, 100).expect("two"),
        vec![18, 15, 12, 9, 6, 3, 0],
        "other subjects are not mixed in"
    );
    assert!(
        store
            .subject_accesses(&subject(3), None, 100)
            .expect("unknown")
            .is_empty()
    );
}

fn concurrent_audit_appends_leave_no_gap(store: Store) {
    const GROUPS: u64 = 25;
    let threads: Vec<_> = (0..3u8)
        .map(|writer| {
            let store = store.clone();
            std::thread::spawn(move || {
                for group in 0..GROUPS {
                    let len = 1 + (group + u64::from(writer)) % 4;
                    loop {
                        let start = store.audit_size().expect("size");
                        let entries: Vec<AuditEntry> = (0..len)
                            .map(|k| AuditEntry {
                                index: start + k,
                                bytes: format!("w{writer} g{group} k{k}").into_bytes(),
                            })
                            .collect();
                        let nodes: Vec<AuditNode> = entries
                            .iter()
                            .map(|e| AuditNode {
                                level: 0,
                                index: e.index,
                                hash: Sha256::digest(&e.bytes).into(),
                            })
                            .collect();
                        let subjects = [access(writer, start)];
                        match store.audit_append(&AuditAppend {
                            entries: &entries,
                            nodes: &nodes,
                            subjects: &subjects,
                        }) {
                            Ok(()) => break,
                            // Another writer got there first: read the size again.
                            Err(StoreError::Conflict(_)) => {}
                            Err(e) => panic!("append: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("appender");
    }
    let entries = store.audit_entries(0, u64::MAX).expect("entries");
    let total: u64 = (0..3u64)
        .map(|w| (0..GROUPS).map(|g| 1 + (g + w) % 4).sum::<u64>())
        .sum();
    assert_eq!(store.audit_size().expect("size"), total);
    assert_eq!(indexes(&entries), (0..total).collect::<Vec<_>>(), "no gap");
    let mut texts: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8(e.bytes.clone()).expect("utf-8"))
        .collect();
    // Each writer's entries are in its own order.
    for writer in 0..3u8 {
        let mine: Vec<&String> = texts
            .iter()
            .filter(|t| t.starts_with(&format!("w{writer} ")))
            .collect();
        let mut sorted = mine.clone();
        sorted.sort_by_key(|t| {
            let parts: Vec<u64> = t
                .split(' ')
                .skip(1)
                .map(|p| p[1..].parse().expect("number"))
                .collect();
            (parts[0], parts[1])
        });
        assert_eq!(mine, sorted, "writer {writer}'s entries in order");
    }
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len() as u64, total, "every entry once");
    // Every entry's leaf node was stored with it.
    let addresses: Vec<(u32, u64)> = (0..total).map(|i| (0, i)).collect();
    let hashes = store.audit_nodes(&addresses).expect("leaves");
    for (e, h) in entries.iter().zip(hashes) {
        assert_eq!(h, Some(Sha256::digest(&e.bytes).into()), "leaf {}", e.index);
    }
    let tracked: usize = (0..3u8)
        .map(|w| {
            store
                .subject_accesses(&subject(w), None, 1000)
                .expect("subject")
                .len()
        })
        .sum();
    assert_eq!(tracked as u64, 3 * GROUPS);
}

fn audit_append_does_not_wait_for_a_data_batch(store: Store) {
    with_dataset(&store);
    let mut batch = store
        .begin_batch("people", meta("b1", t(10)))
        .expect("begin");
    let b = body("a", 1);
    batch.upsert("a", &b, &hash(&b)).expect("upsert");
    let (done, finished) = std::sync::mpsc::channel();
    let appender = {
        let store = store.clone();
        std::thread::spawn(move || {
            let _ = done.send(append_range(&store, 0, 64, &[access(1, 3)]));
        })
    };
    finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the append waited for the open data batch")
        .expect("append");
    assert_eq!(store.audit_size().expect("size"), 64);
    batch.commit("h", "{}").expect("commit");
    appender.join().expect("appender");
    assert_eq!(store.count("people").expect("count"), 1);
}

/// Writes an audit log sample that [`check_audit_sample`] recognises.
fn write_audit_sample(store: &Store) {
    append_range(store, 0, 5, &[access(7, 1), access(7, 4)]).expect("entries");
    store.audit_put_head(&head(5, 42, 9)).expect("head");
}

fn check_audit_sample(store: &Store) {
    assert_eq!(store.audit_size().expect("size"), 5);
    assert_eq!(
        store.audit_entries(0, 100).expect("entries"),
        (0..5).map(audit_entry).collect::<Vec<_>>()
    );
    assert_eq!(
        store.audit_nodes(&[(2, 0), (0, 4), (0, 5)]).expect("nodes"),
        vec![Some(node_hash(2, 0)), Some(node_hash(0, 4)), None]
    );
    assert_eq!(
        store.audit_latest_head().expect("head"),
        Some(head(5, 42, 9))
    );
    assert_eq!(
        store
            .subject_accesses(&subject(7), None, 10)
            .expect("subject"),
        vec![4, 1]
    );
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
    (
        "large_batches_decide_across_chunks",
        large_batches_decide_across_chunks,
    ),
    ("keys_sort_bytewise", keys_sort_bytewise),
    ("typed_filters", typed_filters),
    (
        "as_of_follows_versions_not_clock",
        as_of_follows_versions_not_clock,
    ),
    ("concurrent_writers_same_keys", concurrent_writers_same_keys),
    ("audit_entries_round_trip", audit_entries_round_trip),
    (
        "audit_refused_appends_write_nothing",
        audit_refused_appends_write_nothing,
    ),
    (
        "audit_nodes_read_in_request_order",
        audit_nodes_read_in_request_order,
    ),
    ("audit_heads_put_and_list", audit_heads_put_and_list),
    (
        "subject_accesses_newest_first",
        subject_accesses_newest_first,
    ),
    (
        "concurrent_audit_appends_leave_no_gap",
        concurrent_audit_appends_leave_no_gap,
    ),
    (
        "audit_append_does_not_wait_for_a_data_batch",
        audit_append_does_not_wait_for_a_data_batch,
    ),
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

/// A store of schema version 1 (before `datasets.live`) counts its records right after the
/// upgrade: deleted ones excluded, and later batches keep the count.
fn version_1_store_is_upgraded() {
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

fn audit_file_reopens_and_refuses_newer_schemas() {
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

/// PostgreSQL with every chunk looking its keys up (no dataset is read in advance), so that both
/// write paths pass the suite.
fn open_postgres_lookups() -> (Store, Box<dyn std::any::Any>) {
    let (url, guard) = fresh_schema();
    let store = Store::open(&format!("{url}&preload_keys=0")).expect("open PostgreSQL store");
    (store, Box::new(guard))
}

conformance!(postgres_lookups, open_postgres_lookups);

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
        Some("1,2,3".into()),
        "each migration applied once"
    );
}

fn pg_audit_log_survives_reopen() {
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
fn pg_version_2_store_is_upgraded() {
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
        v1 = include_str!("../migrations/postgres/0001_init.sql"),
        v2 = include_str!("../migrations/postgres/0002_audit.sql"),
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
        Some("1,2,3".into())
    );
    assert_eq!(store.count("people").expect("count"), 2);
    let a = store.record("people", "a", None).expect("a").expect("a");
    assert_eq!((a.version, a.body.as_deref()), (2, Some(a2.as_str())));
    assert_eq!(a.content_hash, hex(&a2));
    assert_eq!(a.batch_id, "b2");
    let b = store.record("people", "b", None).expect("b").expect("b");
    assert_eq!((b.version, b.body), (2, None));
    let old = store.record("people", "a", Some(t(15))).expect("as of");
    assert_eq!(old.map(|v| v.version), Some(1));
    let versions: Vec<u64> = store
        .history("people", "a")
        .expect("history")
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, vec![2, 1]);
    let listed: Vec<String> = store
        .list("people", &[], None, 10)
        .expect("list")
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(listed, vec!["a", "c"]);
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
    assert_eq!(store.count("people").expect("count"), 4);
    let b = store.record("people", "b", None).expect("b").expect("b");
    assert_eq!((b.version, b.batch_id.as_str()), (3, "b3"));
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

fn pg_required_tls_is_refused_clearly() {
    let e = Store::open("postgres://postgres:secret@127.0.0.1:1/test?sslmode=require")
        .expect_err("no TLS in this build");
    assert!(matches!(e, StoreError::Config(_)), "{e}");
    assert!(e.to_string().contains("sslmode=require"), "{e}");
    assert!(e.to_string().contains("no TLS"), "{e}");
    assert!(!e.to_string().contains("secret"), "password redacted: {e}");
}

/// A big batch on a dataset loaded since the last ANALYZE (the planner thinks it is empty)
/// reads it up front in one range scan: a plan that rescans the dataset for every row took
/// 25–50 s here, past this store's 5 s statement timeout.
fn pg_big_batch_on_an_unanalyzed_dataset() {
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
    store.insert_schema(&others, t(0)).expect("others");
    let mut w = store
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
    assert_eq!(store.count("people").expect("count"), 12_000);
}

/// A process that finds another one migrating the store waits for it, however long it takes
/// (here longer than its own statement timeout), then finds nothing left to do.
fn pg_migration_waits_for_another_without_time_limit() {
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
    assert_eq!(store.count("people").expect("count"), 0);
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
            "postgres::required_tls_is_refused_clearly",
            plain(pg_required_tls_is_refused_clearly),
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
                    "newer_schema_version_is_refused",
                    pg_newer_schema_version_is_refused,
                ),
                (
                    "version_2_store_is_upgraded",
                    pg_version_2_store_is_upgraded,
                ),
                ("audit_log_survives_reopen", pg_audit_log_survives_reopen),
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

fn main() {
    let args = Arguments::from_args();
    let mut trials = sqlite::trials();
    trials.push(Trial::test(
        "sqlite::reopening_keeps_everything_and_refuses_newer_schemas",
        plain(reopening_keeps_everything_and_refuses_newer_schemas),
    ));
    trials.push(Trial::test(
        "sqlite::version_1_store_is_upgraded",
        plain(version_1_store_is_upgraded),
    ));
    trials.push(Trial::test(
        "sqlite::audit_file_reopens_and_refuses_newer_schemas",
        plain(audit_file_reopens_and_refuses_newer_schemas),
    ));
    trials.push(Trial::test(
        "unknown_engines_are_clear_errors",
        plain(unknown_engines_are_clear_errors),
    ));
    trials.extend(postgres_trials());
    libtest_mimic::run(&args, trials).exit();
}
