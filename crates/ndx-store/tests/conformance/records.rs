//! The records area: batches, versions, outcomes, reads and their concurrency.

use super::*;

pub(crate) fn batches_versions_and_idempotency(store: Store) {
    with_dataset(&store);
    assert_eq!(
        load(&store, "b1", t(10), &["a", "b", "c"], 1),
        vec![WriteOutcome::Created; 3]
    );
    assert_eq!(store.records().count("people").expect("count"), 3);
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
        .records()
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
    let stored = store
        .records()
        .batch("people", "b1")
        .expect("batch")
        .expect("some");
    assert_eq!(stored.request_hash, "h");
    assert_eq!(stored.report, "{\"batch\":\"b1\"}");
    assert!(matches!(
        store.records().begin_batch("people", meta("b1", t(40))),
        Err(StoreError::Conflict(_))
    ));
    // A dataset's records begin with its first batch (its schema is the catalogue's).
    assert_eq!(store.records().count("nope").expect("count"), 0);
    let w = store
        .records()
        .begin_batch("nope", meta("x", t(40)))
        .expect("new dataset");
    drop(w);
    assert_eq!(
        store.records().list("nope", &[], None, 10).expect("list"),
        vec![]
    );
    // Duplicates inside one batch are refused, even when the first write was "unchanged".
    let mut w = store
        .records()
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
    assert_eq!(store.records().count("people").expect("count"), 4);
}

pub(crate) fn rollback_changes_nothing(store: Store) {
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    {
        let mut w = store
            .records()
            .begin_batch("people", meta("b2", t(20)))
            .expect("begin");
        for id in ["a", "x", "y"] {
            let b = body(id, 7);
            w.upsert(id, &b, &hash(&b)).expect("upsert");
        }
        w.delete("a").ok();
        // Dropped without commit.
    }
    assert_eq!(store.records().count("people").expect("count"), 1);
    assert_eq!(
        store.records().record("people", "x", None).expect("read"),
        None
    );
    assert_eq!(
        store
            .records()
            .history("people", "a")
            .expect("history")
            .len(),
        1
    );
    assert_eq!(store.records().batch("people", "b2").expect("batch"), None);
    // The same batch id is free again after a rollback.
    load(&store, "b2", t(30), &["x"], 1);
    assert_eq!(store.records().count("people").expect("count"), 2);
}

pub(crate) fn tombstones_history_and_as_of(store: Store) {
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    load(&store, "b2", t(20), &["a"], 2);
    let mut w = store
        .records()
        .begin_batch("people", meta("b3", t(30)))
        .expect("begin");
    assert_eq!(w.delete("a").expect("delete"), WriteOutcome::Deleted);
    assert_eq!(w.delete("zzz").expect("delete"), WriteOutcome::NotFound);
    w.commit("h", "{}").expect("commit");
    let mut w = store
        .records()
        .begin_batch("people", meta("b4", t(35)))
        .expect("begin");
    assert_eq!(w.delete("a").expect("again"), WriteOutcome::NotFound);
    w.commit("h", "{}").expect("commit");
    let current = store
        .records()
        .record("people", "a", None)
        .expect("read")
        .expect("tombstone");
    assert_eq!(current.body, None);
    assert_eq!(current.version, 3);
    assert_eq!(store.records().count("people").expect("count"), 0);
    load(&store, "b5", t(40), &["a"], 2);
    let h = store.records().history("people", "a").expect("history");
    let versions: Vec<(u64, bool)> = h.iter().map(|v| (v.version, v.body.is_some())).collect();
    assert_eq!(versions, vec![(4, true), (3, false), (2, true), (1, true)]);
    let at = |s| {
        store
            .records()
            .record("people", "a", Some(t(s)))
            .expect("as of")
    };
    assert_eq!(at(5), None);
    assert_eq!(at(10).expect("v1").version, 1);
    assert_eq!(at(25).expect("v2").version, 2);
    assert_eq!(at(30).expect("v3").body, None);
    assert_eq!(at(1000).expect("v4").version, 4);
    assert_eq!(
        store
            .records()
            .record("people", "a", Some(t(15) + Duration::milliseconds(1)))
            .expect("ms")
            .expect("v1")
            .version,
        1
    );
}

/// The lookup's one read answers what its two reads would: the current version (a tombstone
/// included) and the catalogue generation, which moves with the catalogue; nothing for a key
/// or dataset without versions; a hostile key refused as by `record`.
pub(crate) fn current_with_generation_is_the_record_and_the_generation(store: Store) {
    with_dataset(&store);
    load(&store, "b1", t(10), &["a", "b"], 1);
    load(&store, "b2", t(20), &["a"], 2);
    let read = |key: &str| {
        store
            .records()
            .current_with_generation("people", key)
            .expect("read")
    };
    let generation = || store.catalog().generation().expect("generation");
    let (a, g0) = read("a").expect("a");
    assert_eq!(
        Some(&a),
        store
            .records()
            .record("people", "a", None)
            .expect("a")
            .as_ref()
    );
    assert_eq!(a.version, 2);
    assert_eq!(g0, generation());
    store
        .catalog()
        .insert(&member("BTP"), t(30))
        .expect("a catalogue write");
    let (b, g1) = read("b").expect("b");
    assert_eq!(b.version, 1);
    assert!(
        g1 > g0,
        "the generation moves with the catalogue: {g0} → {g1}"
    );
    assert_eq!(g1, generation());
    let mut w = store
        .records()
        .begin_batch("people", meta("b3", t(40)))
        .expect("begin");
    w.delete("b").expect("delete");
    w.commit("h", "{}").expect("commit");
    let (tombstone, _) = read("b").expect("a tombstone is a version");
    assert_eq!(tombstone.body, None);
    assert_eq!(read("zzz"), None);
    assert_eq!(
        store
            .records()
            .current_with_generation("nobody", "a")
            .expect("unknown dataset"),
        None
    );
    assert!(
        store
            .records()
            .current_with_generation("people", "a\0b")
            .is_err()
    );
}

pub(crate) fn list_filters_and_cursor(store: Store) {
    with_dataset(&store);
    let ids: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut w = store
        .records()
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
        .records()
        .begin_batch("people", meta("b2", t(11)))
        .expect("begin");
    assert_eq!(w.delete("k03").expect("delete"), WriteOutcome::Deleted);
    w.commit("h", "{}").expect("commit");
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .records()
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
        .records()
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
        .records()
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
        .records()
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
            .records()
            .list("nope", &[], None, 10)
            .expect("unknown")
            .is_empty()
    );
}

pub(crate) fn concurrent_writers(store: Store) {
    with_dataset(&store);
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..10 {
                    let mut batch = store
                        .records()
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
    assert_eq!(store.records().count("people").expect("count"), 4 * 10 * 50);
}

/// Writes a whole chunk through the bulk path.
pub(crate) fn op(key: &str, n: Option<u32>) -> WriteOp {
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

pub(crate) fn bulk_chunks_decide_like_single_writes(store: Store) {
    use WriteOutcome::*;
    with_dataset(&store);
    // A fresh dataset: duplicates inside a chunk and across chunks of one batch.
    let mut w = store
        .records()
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
        .records()
        .begin_batch("people", meta("b2", t(15)))
        .expect("begin");
    assert_eq!(w.delete("gone").expect("delete"), Deleted);
    w.commit("h", "{}").expect("commit");
    // An existing dataset: every outcome, in order, within one chunk and across chunks.
    let mut w = store
        .records()
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
            .records()
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
            .records()
            .record("people", "gone", None)
            .expect("read")
            .expect("some")
            .body,
        Some(body("gone", 5))
    );
    let h: Vec<(u64, String)> = store
        .records()
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
    assert_eq!(store.records().count("people").expect("count"), 6);
}

/// Batches far larger than any internal group of writes (thousands of records in chunks of
/// 512): outcomes that depend on a write thousands of records earlier in the same batch, on a
/// fresh dataset, on one small enough for a backend to read up front, and on a bigger one.
pub(crate) fn large_batches_decide_across_chunks(store: Store) {
    use WriteOutcome::*;
    with_dataset(&store);
    let key = |i: usize| format!("k{i:05}");
    let write_all = |batch: &str, at: i64, ops: Vec<WriteOp>| -> Vec<WriteOutcome> {
        let mut w = store
            .records()
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
    assert_eq!(store.records().count("people").expect("count"), 9_000);
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
    assert_eq!(store.records().count("people").expect("count"), 11_750);
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
    assert_eq!(store.records().count("people").expect("count"), 14_000);
    let version = |i: usize| {
        let r = store
            .records()
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
        .records()
        .history("people", &key(2))
        .expect("history")
        .into_iter()
        .map(|v| v.batch_id)
        .collect();
    assert_eq!(batches, vec!["b3", "b2", "b1"]);
}

pub(crate) fn keys_sort_bytewise(store: Store) {
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
            .records()
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

pub(crate) fn typed_filters(store: Store) {
    with_dataset(&store);
    let mut w = store
        .records()
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
            .records()
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

pub(crate) fn as_of_follows_versions_not_clock(store: Store) {
    with_dataset(&store);
    // Batch times need not increase: as-of walks back from the current version.
    load(&store, "b1", t(10), &["a"], 1);
    load(&store, "b2", t(30), &["a"], 2);
    load(&store, "b3", t(20), &["a"], 3);
    let at = |s| {
        store
            .records()
            .record("people", "a", Some(t(s)))
            .expect("as of")
            .map(|v| v.version)
    };
    assert_eq!(at(5), None);
    assert_eq!(at(15), Some(1));
    assert_eq!(at(25), Some(3));
    assert_eq!(at(35), Some(3));
}

pub(crate) fn concurrent_writers_same_keys(store: Store) {
    with_dataset(&store);
    let threads: Vec<_> = (0..4u32)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..5u32 {
                    let mut batch = store
                        .records()
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
    assert_eq!(store.records().count("people").expect("count"), 20);
    for i in 0..20 {
        let versions: Vec<u64> = store
            .records()
            .history("people", &format!("k{i:02}"))
            .expect("history")
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(versions, (1..=20).rev().collect::<Vec<u64>>());
    }
}

/// The records tests of the suite.
/// Hostile keys and texts get the same precise error on every engine, before any SQL runs, and
/// change nothing: a NUL anywhere, a control character in a key, a key longer than
/// `MAX_KEY_BYTES` (PostgreSQL's index refuses rows above about 2,700 bytes), an empty key.
pub(crate) fn hostile_keys_are_refused_alike(store: Store) {
    with_dataset(&store);
    load(&store, "b1", t(10), &["a"], 1);
    let long = "k".repeat(ndx_store::MAX_KEY_BYTES + 1);
    let very_long = "ạ".repeat(3_000);
    let longest = "k".repeat(ndx_store::MAX_KEY_BYTES);
    let bad_keys = [
        "\0",
        "a\0b",
        "a\nb",
        "\u{7f}",
        "",
        long.as_str(),
        very_long.as_str(),
    ];
    let r = store.records();
    for key in bad_keys {
        let shown = format!("{:?}", &key[..key.len().min(12)]);
        assert!(
            matches!(
                r.record("people", key, None),
                Err(StoreError::KeyInvalid(_))
            ),
            "record {shown}"
        );
        assert!(
            matches!(r.history("people", key), Err(StoreError::KeyInvalid(_))),
            "history {shown}"
        );
        assert!(
            matches!(
                r.list("people", &[], Some(key), 10),
                Err(StoreError::KeyInvalid(_))
            ),
            "list after {shown}"
        );
        let mut w = r
            .begin_batch("people", meta("hostile", t(20)))
            .expect("begin");
        let b = body("x", 1);
        let refused = w.upsert(key, &b, &hash(&b));
        assert!(
            matches!(refused, Err(StoreError::KeyInvalid(_))),
            "upsert {shown}: {refused:?}"
        );
        assert!(
            matches!(w.delete(key), Err(StoreError::KeyInvalid(_))),
            "delete {shown}"
        );
        // One bad key refuses its whole chunk before anything of it is written.
        let mut out = Vec::new();
        let chunk = [op("fine", Some(1)), op(key, Some(1))];
        assert!(
            matches!(w.write(&chunk, &mut out), Err(StoreError::KeyInvalid(_))),
            "chunk {shown}"
        );
        assert!(out.is_empty(), "{out:?}");
        drop(w);
    }
    for (what, dataset) in [("dataset", "peo\0ple"), ("dataset", "\0")] {
        assert!(
            matches!(r.count(dataset), Err(StoreError::TextInvalid(_))),
            "{what}"
        );
        assert!(
            matches!(
                r.record(dataset, "a", None),
                Err(StoreError::TextInvalid(_))
            ),
            "{what}"
        );
        assert!(
            matches!(
                r.begin_batch(dataset, meta("b9", t(30))),
                Err(StoreError::TextInvalid(_))
            ),
            "{what}"
        );
    }
    assert!(matches!(
        r.batch("people", "b\u{0}1"),
        Err(StoreError::TextInvalid(_))
    ));
    assert!(matches!(
        r.begin_batch("people", meta("b\u{0}9", t(30))),
        Err(StoreError::TextInvalid(_))
    ));
    let nul_filter = FieldFilter {
        field: "city".into(),
        value: serde_json::Value::String("Hà\0Nội".into()),
    };
    assert!(matches!(
        r.list("people", &[nul_filter], None, 10),
        Err(StoreError::TextInvalid(_))
    ));
    // The longest key is a key like any other, on every engine.
    load(&store, "b2", t(40), &[longest.as_str()], 1);
    let stored = r
        .record("people", &longest, None)
        .expect("read")
        .expect("some");
    assert_eq!(stored.key, longest);
    assert_eq!(r.count("people").expect("count"), 2);
    assert_eq!(r.history("people", "a").expect("history").len(), 1);
}

/// (position, key, version, deleted) of a dataset's changes after `after`, at most `limit`.
pub(crate) fn feed(
    store: &Store,
    dataset: &str,
    after: u64,
    limit: usize,
) -> Vec<(u64, String, u64, bool)> {
    store
        .records()
        .changes(dataset, after, limit)
        .expect("changes")
        .into_iter()
        .map(|c| {
            (
                c.position,
                c.record.key,
                c.record.version,
                c.record.body.is_none(),
            )
        })
        .collect()
}

pub(crate) fn feed_numbers_every_version_in_commit_order(store: Store) {
    with_dataset(&store);
    assert_eq!(store.records().feed_head("people").expect("head"), 0);
    assert!(feed(&store, "people", 0, 10).is_empty());
    load(&store, "b1", t(10), &["b", "a", "c"], 1);
    // Another dataset's batch between them takes none of this dataset's positions.
    let mut other = store
        .records()
        .begin_batch("other", meta("o1", t(15)))
        .expect("begin");
    let b = body("x", 1);
    other.upsert("x", &b, &hash(&b)).expect("upsert");
    other.commit("h", "{}").expect("commit");
    // Updated, deleted, unchanged (no version: no position), created.
    let mut w = store
        .records()
        .begin_batch("people", meta("b2", t(20)))
        .expect("begin");
    let a2 = body("a", 2);
    w.upsert("a", &a2, &hash(&a2)).expect("a");
    w.delete("b").expect("b");
    let c1 = body("c", 1);
    w.upsert("c", &c1, &hash(&c1)).expect("c");
    let d1 = body("d", 1);
    w.upsert("d", &d1, &hash(&d1)).expect("d");
    w.commit("h", "{}").expect("commit");
    // A batch that changes nothing, and one rolled back, take no position.
    load(&store, "b3", t(30), &["c", "d"], 1);
    {
        let mut w = store
            .records()
            .begin_batch("people", meta("b4", t(40)))
            .expect("begin");
        let e = body("e", 1);
        w.upsert("e", &e, &hash(&e)).expect("e");
    }
    let all = feed(&store, "people", 0, 100);
    let expected: Vec<(u64, String, u64, bool)> = vec![
        (1, "b".into(), 1, false),
        (2, "a".into(), 1, false),
        (3, "c".into(), 1, false),
        (4, "a".into(), 2, false),
        (5, "b".into(), 2, true),
        (6, "d".into(), 1, false),
    ];
    // Within a batch the order is the engine's write order, which both engines keep for keys
    // written one by one.
    assert_eq!(all, expected);
    assert_eq!(store.records().feed_head("people").expect("head"), 6);
    assert_eq!(
        feed(&store, "other", 0, 10),
        vec![(1, "x".into(), 1, false)]
    );
    // Pages: across a batch boundary, a short last page, past the head.
    assert_eq!(feed(&store, "people", 1, 3), expected[1..4].to_vec());
    assert_eq!(feed(&store, "people", 4, 10), expected[4..].to_vec());
    assert!(feed(&store, "people", 6, 10).is_empty());
    assert!(feed(&store, "people", u64::MAX, 10).is_empty());
    assert!(feed(&store, "people", 0, 0).is_empty());
    // Each change carries its version's lineage.
    let change = &store.records().changes("people", 3, 1).expect("changes")[0];
    assert_eq!(change.record.batch_id, "b2");
    assert_eq!(change.record.recorded_at, t(20));
    assert_eq!(change.record.body.as_deref(), Some(a2.as_str()));
    // The next batch goes on from the head; unknown datasets have an empty feed.
    load(&store, "b5", t(50), &["e"], 1);
    assert_eq!(
        feed(&store, "people", 6, 10),
        vec![(7, "e".into(), 1, false)]
    );
    assert_eq!(store.records().feed_head("nope").expect("head"), 0);
    assert!(feed(&store, "nope", 0, 10).is_empty());
}

/// Batches committed from several threads at once leave a feed without gap or duplicate, and a
/// reader following it meanwhile always sees a prefix of it.
pub(crate) fn feed_is_gap_free_under_concurrent_batches(store: Store) {
    with_dataset(&store);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = 0u64;
            let mut keys = std::collections::HashSet::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.records().changes("people", seen, 37).expect("page");
                for c in &page {
                    assert_eq!(c.position, seen + 1, "a gap or a duplicate in the feed");
                    seen = c.position;
                    assert!(
                        keys.insert((c.record.key.clone(), c.record.version)),
                        "a version twice"
                    );
                }
                if page.is_empty() && finished {
                    return (seen, keys.len());
                }
            }
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..8 {
                    let mut batch = store
                        .records()
                        .begin_batch("people", meta(&format!("w{w}-b{b}"), t(100 + b)))
                        .expect("begin");
                    // Shared keys too: updates of the other writers' records.
                    for i in 0..25 {
                        let id = if i % 5 == 0 {
                            format!("shared-{i}")
                        } else {
                            format!("w{w}-{b}-{i}")
                        };
                        let body = body(&id, (w * 100 + b) as u32);
                        batch.upsert(&id, &body, &hash(&body)).expect("upsert");
                    }
                    batch.commit("h", "{}").expect("commit");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (seen, distinct) = follower.join().expect("follower");
    // Every upsert wrote a version: each batch's body differs from every earlier one.
    assert_eq!(seen, 4 * 8 * 25);
    assert_eq!(distinct as u64, seen);
    assert_eq!(store.records().feed_head("people").expect("head"), seen);
}

/// (key, version, body) of the snapshot of `people` at `at`, read in pages of `limit`, with
/// `between` run after each page (writes meanwhile must change nothing).
fn snapshot(
    store: &Store,
    at: u64,
    limit: usize,
    mut between: impl FnMut(),
) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    let mut after = 0;
    while after < at {
        let page = store
            .records()
            .snapshot("people", at, after, limit)
            .expect("snapshot");
        assert!(
            page.versions.len() <= limit,
            "a page holds at most its limit"
        );
        assert!(
            page.reached > after && page.reached <= at,
            "a page goes forward and stays within the snapshot: {after} -> {}",
            page.reached
        );
        assert!(
            page.reached - after <= ndx_store::SNAPSHOT_EXAMINED_PER_VERSION as u64 * limit as u64,
            "a page examines a bounded number of positions"
        );
        out.extend(page.versions.into_iter().map(|v| {
            (
                v.key,
                v.version,
                v.body.expect("a snapshot holds no deletion"),
            )
        }));
        after = page.reached;
        between();
    }
    out
}

/// A snapshot at a feed position is each key's last version at or below it, deletions left
/// out, in position order, whatever is written while it is read — compared with a model after
/// random batches of creations, updates, deletions and unchanged writes (and another dataset's
/// batches in between), for every head seen and several page sizes.
pub(crate) fn snapshot_is_the_dataset_at_a_position(store: Store) {
    with_dataset(&store);
    // A small deterministic generator: the test needs variety, not a crate.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    // The model: per key, its versions as (position, version, the body's number or a
    // deletion).
    let mut model: std::collections::BTreeMap<String, Vec<(u64, u64, Option<u32>)>> =
        Default::default();
    let mut heads = vec![0u64];
    let mut head = 0u64;
    for round in 0..12u32 {
        let mut w = store
            .records()
            .begin_batch(
                "people",
                meta(&format!("s{round}"), t(100 + i64::from(round))),
            )
            .expect("begin");
        let mut written = Vec::new();
        for _ in 0..(1 + next(9)) {
            let key = format!("k{:02}", next(20));
            if written.contains(&key) {
                continue; // one write per key and batch keeps the model simple
            }
            written.push(key.clone());
            let last = model.get(&key).and_then(|v| v.last()).cloned();
            let current = last.as_ref().and_then(|l| l.2);
            let (outcome, n) = match current {
                Some(_) if next(4) == 0 => (w.delete(&key).expect("delete"), None),
                // Now and then the same content again: unchanged, no version.
                Some(n) if next(5) == 0 => {
                    let b = body(&key, n);
                    (w.upsert(&key, &b, &hash(&b)).expect("upsert"), Some(n))
                }
                _ => {
                    let n = round * 100 + next(50) as u32 + 1;
                    let b = body(&key, n);
                    (w.upsert(&key, &b, &hash(&b)).expect("upsert"), Some(n))
                }
            };
            if outcome == WriteOutcome::Unchanged {
                continue;
            }
            head += 1;
            let version = last.as_ref().map_or(1, |l| l.1 + 1);
            model.entry(key).or_default().push((head, version, n));
        }
        w.commit("h", "{}").expect("commit");
        assert_eq!(store.records().feed_head("people").expect("head"), head);
        heads.push(head);
        if round % 3 == 1 {
            // Another dataset's batch takes none of this dataset's positions.
            let mut other = store
                .records()
                .begin_batch(
                    "other",
                    meta(&format!("o{round}"), t(100 + i64::from(round))),
                )
                .expect("begin");
            let b = body("x", round);
            other.upsert("x", &b, &hash(&b)).expect("upsert");
            other.commit("h", "{}").expect("commit");
        }
    }
    let expected = |at: u64| -> Vec<(String, u64, String)> {
        let mut live: Vec<(u64, String, u64, String)> = model
            .iter()
            .filter_map(|(key, versions)| {
                let last = versions.iter().rfind(|v| v.0 <= at)?;
                Some((last.0, key.clone(), last.1, body(key, last.2?)))
            })
            .collect();
        live.sort();
        live.into_iter().map(|(_, k, v, b)| (k, v, b)).collect()
    };
    for &at in &heads {
        for limit in [1, 3, 1000] {
            assert_eq!(
                snapshot(&store, at, limit, || {}),
                expected(at),
                "the snapshot at {at} in pages of {limit}"
            );
        }
    }
    // Writes while a snapshot is read change nothing in it: every key written again (and some
    // deleted) after each page.
    let at = head;
    let before = expected(at);
    let mut round = 0u32;
    let read = snapshot(&store, at, 2, || {
        round += 1;
        let keys: Vec<String> = model.keys().cloned().collect();
        let mut w = store
            .records()
            .begin_batch(
                "people",
                meta(&format!("w{round}"), t(500 + i64::from(round))),
            )
            .expect("begin");
        for (i, key) in keys.iter().enumerate() {
            if (i + round as usize).is_multiple_of(3) {
                w.delete(key).expect("delete");
            } else {
                let b = body(key, 10_000 + round);
                w.upsert(key, &b, &hash(&b)).expect("upsert");
            }
        }
        w.commit("h", "{}").expect("commit");
    });
    assert_eq!(read, before, "the snapshot read while every key changed");
    // Past the snapshot, an empty limit, an unknown dataset.
    let page = store
        .records()
        .snapshot("people", at, at, 10)
        .expect("snapshot");
    assert!(page.versions.is_empty());
    assert!(
        store
            .records()
            .snapshot("people", at, 0, 0)
            .expect("snapshot")
            .versions
            .is_empty()
    );
    let none = store
        .records()
        .snapshot("nope", 5, 0, 10)
        .expect("snapshot");
    assert!(none.versions.is_empty());
    assert_eq!(none.reached, 5);
    assert!(store.records().snapshot("people", u64::MAX, 0, 10).is_err());
}

pub(crate) const SUITE: &[SuiteTest] = &[
    (
        "snapshot_is_the_dataset_at_a_position",
        snapshot_is_the_dataset_at_a_position,
    ),
    (
        "hostile_keys_are_refused_alike",
        hostile_keys_are_refused_alike,
    ),
    (
        "batches_versions_and_idempotency",
        batches_versions_and_idempotency,
    ),
    ("rollback_changes_nothing", rollback_changes_nothing),
    ("tombstones_history_and_as_of", tombstones_history_and_as_of),
    (
        "current_with_generation_is_the_record_and_the_generation",
        current_with_generation_is_the_record_and_the_generation,
    ),
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
    (
        "feed_numbers_every_version_in_commit_order",
        feed_numbers_every_version_in_commit_order,
    ),
    (
        "feed_is_gap_free_under_concurrent_batches",
        feed_is_gap_free_under_concurrent_batches,
    ),
];
