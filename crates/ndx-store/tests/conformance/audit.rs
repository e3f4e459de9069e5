//! The audit log area: entries, nodes, heads, the data tracker, concurrent appends.

use super::*;

// ---- The audit log ----

/// Canonical bytes of a test entry: any bytes, not only UTF-8, must round-trip.
pub(crate) fn entry_bytes(index: u64) -> Vec<u8> {
    let mut bytes = format!("{{\"entry\":{index}}}").into_bytes();
    bytes.extend_from_slice(&[0, 0xff, (index % 251) as u8]);
    bytes
}

pub(crate) fn audit_entry(index: u64) -> AuditEntry {
    AuditEntry {
        index,
        bytes: entry_bytes(index),
    }
}

/// A stand-in for the hash of node (level, index): distinct for every address.
pub(crate) fn node_hash(level: u32, index: u64) -> [u8; 32] {
    Sha256::digest(format!("node {level}/{index}").as_bytes()).into()
}

/// The nodes that appending leaves `start..end` completes (leaf hashes included), as the
/// appender's frontier names them: leaf `i` completes the subtree of level `l` when `i + 1`
/// is a multiple of 2^l.
pub(crate) fn completed_nodes(start: u64, end: u64) -> Vec<AuditNode> {
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
pub(crate) fn subject(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Appends entries `start..end` with the nodes they complete and these tracker rows.
pub(crate) fn append_range(
    store: &Store,
    start: u64,
    end: u64,
    subjects: &[SubjectAccess],
) -> Result<(), StoreError> {
    let entries: Vec<AuditEntry> = (start..end).map(audit_entry).collect();
    let nodes = completed_nodes(start, end);
    store.audit().append(&AuditAppend {
        entries: &entries,
        nodes: &nodes,
        subjects,
    })
}

pub(crate) fn access(n: u8, index: u64) -> SubjectAccess {
    SubjectAccess {
        subject: subject(n),
        index,
    }
}

pub(crate) fn indexes(entries: &[AuditEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.index).collect()
}

pub(crate) fn audit_entries_round_trip(store: Store) {
    assert_eq!(store.audit().size().expect("size"), 0);
    assert!(store.audit().entries(0, 10).expect("empty log").is_empty());
    store
        .audit()
        .append(&AuditAppend {
            entries: &[],
            nodes: &[],
            subjects: &[],
        })
        .expect("an empty group is a no-op");
    assert_eq!(store.audit().size().expect("size"), 0);
    append_range(&store, 0, 3, &[]).expect("first group");
    assert_eq!(store.audit().size().expect("size"), 3);
    append_range(&store, 3, 10, &[]).expect("second group");
    // One entry with empty bytes.
    store
        .audit()
        .append(&AuditAppend {
            entries: &[AuditEntry {
                index: 10,
                bytes: Vec::new(),
            }],
            nodes: &[],
            subjects: &[],
        })
        .expect("empty bytes");
    assert_eq!(store.audit().size().expect("size"), 11);
    let all = store.audit().entries(0, u64::MAX).expect("all");
    let mut want: Vec<AuditEntry> = (0..10).map(audit_entry).collect();
    want.push(AuditEntry {
        index: 10,
        bytes: Vec::new(),
    });
    assert_eq!(all, want, "exact bytes, ascending");
    assert_eq!(
        store.audit().entries(2, 5).expect("middle"),
        (2..5).map(audit_entry).collect::<Vec<_>>()
    );
    assert_eq!(
        indexes(&store.audit().entries(8, 100).expect("clipped")),
        vec![8, 9, 10]
    );
    assert!(
        store
            .audit()
            .entries(11, 20)
            .expect("past the end")
            .is_empty()
    );
    assert!(store.audit().entries(5, 5).expect("empty range").is_empty());
    assert!(
        store
            .audit()
            .entries(7, 3)
            .expect("reversed range")
            .is_empty()
    );
    assert!(
        store
            .audit()
            .entries(u64::MAX - 1, u64::MAX)
            .expect("far beyond")
            .is_empty()
    );
    assert_eq!(
        indexes(&store.audit().entries(0, 1).expect("first")),
        vec![0]
    );
}

/// Everything a refused append could have touched: entries, node hashes, tracker rows.
#[derive(Debug, PartialEq)]
pub(crate) struct AuditState(Vec<AuditEntry>, Vec<Option<[u8; 32]>>, Vec<Vec<u64>>);

pub(crate) fn audit_state(store: &Store) -> AuditState {
    let addresses: Vec<(u32, u64)> = (0..3)
        .flat_map(|level| (0..12).map(move |index| (level, index)))
        .collect();
    AuditState(
        store.audit().entries(0, u64::MAX).expect("entries"),
        store.audit().nodes(&addresses).expect("nodes"),
        (1..=3)
            .map(|n| {
                store
                    .audit()
                    .subject_accesses(&subject(n), None, 100)
                    .expect("subjects")
            })
            .collect(),
    )
}

pub(crate) fn audit_refused_appends_write_nothing(store: Store) {
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
        .audit()
        .append(&AuditAppend {
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
        .audit()
        .append(&AuditAppend {
            entries: &entries,
            nodes: &nodes,
            subjects: &[access(3, 4)],
        })
        .expect_err("a node stored twice");
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(audit_state(&store), before, "the whole group rolled back");
    // The log is still writable where it should be.
    append_range(&store, 4, 6, &[access(3, 5)]).expect("the right start");
    assert_eq!(store.audit().size().expect("size"), 6);
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(3), None, 10)
            .expect("subject 3"),
        vec![5]
    );
}

pub(crate) fn audit_nodes_read_in_request_order(store: Store) {
    assert!(store.audit().nodes(&[]).expect("no addresses").is_empty());
    assert_eq!(
        store.audit().nodes(&[(0, 0), (3, 1)]).expect("empty log"),
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
    let got = store.audit().nodes(&addresses).expect("nodes");
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
        store.audit().nodes(&[(3, 1), (3, 0)]).expect("two"),
        vec![None, Some(node_hash(3, 0))]
    );
}

pub(crate) fn head(tree_size: u64, millis: i64, signer: u8) -> StoredHead {
    StoredHead {
        tree_size,
        timestamp: t(tree_size as i64) + Duration::milliseconds(millis),
        root_hash: node_hash(99, tree_size),
        signature: [signer; 64],
    }
}

pub(crate) fn audit_heads_put_and_list(store: Store) {
    assert_eq!(store.audit().latest_head().expect("none yet"), None);
    assert!(store.audit().heads(0, 10).expect("none yet").is_empty());
    let heads = [
        head(0, 1, 1),
        head(5, 123, 1),
        head(2, 999, 1),
        head(9, 7, 1),
    ];
    for h in &heads {
        store.audit().put_head(h).expect("put");
    }
    store
        .audit()
        .put_head(&head(5, 123, 1))
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
        let e = store.audit().put_head(&other).expect_err(what);
        assert!(matches!(e, StoreError::Conflict(_)), "{what}: {e}");
    }
    let sub_milli = StoredHead {
        timestamp: t(20) + Duration::microseconds(1_500),
        ..head(20, 0, 1)
    };
    store
        .audit()
        .put_head(&sub_milli)
        .expect_err("a time finer than a millisecond cannot be stored exactly");
    assert_eq!(
        store.audit().latest_head().expect("latest"),
        Some(head(9, 7, 1))
    );
    let sizes = |from, limit| -> Vec<u64> {
        store
            .audit()
            .heads(from, limit)
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
    let listed = store.audit().heads(0, 10).expect("heads");
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
    store.audit().put_head(&late).expect("a late time");
    assert_eq!(store.audit().latest_head().expect("latest"), Some(late));
}

pub(crate) fn subject_accesses_newest_first(store: Store) {
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
        store
            .audit()
            .subject_accesses(&subject(1), None, 100)
            .expect("all"),
        evens
    );
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(1), None, 3)
            .expect("limit"),
        vec![18, 16, 14]
    );
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(1), Some(14), 3)
            .expect("before 14"),
        vec![12, 10, 8]
    );
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(1), Some(13), 2)
            .expect("before 13"),
        vec![12, 10]
    );
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(1), Some(1), 10)
            .expect("before 1"),
        vec![0]
    );
    assert!(
        store
            .audit()
            .subject_accesses(&subject(1), Some(0), 10)
            .expect("before 0")
            .is_empty()
    );
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(1), Some(u64::MAX), 2)
            .expect("before the end of time"),
        vec![18, 16]
    );
    assert!(
        store
            .audit()
            .subject_accesses(&subject(1), None, 0)
            .expect("limit 0")
            .is_empty()
    );
    // Paging with the cursor visits every entry once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit()
            .subject_accesses(&subject(1), before, 4)
            .expect("page");
        let Some(&last) = page.last() else { break };
        seen.extend(page);
        before = Some(last);
    }
    assert_eq!(seen, evens);
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(2), None, 100)
            .expect("two"),
        vec![18, 15, 12, 9, 6, 3, 0],
        "other subjects are not mixed in"
    );
    assert!(
        store
            .audit()
            .subject_accesses(&subject(3), None, 100)
            .expect("unknown")
            .is_empty()
    );
}

pub(crate) fn concurrent_audit_appends_leave_no_gap(store: Store) {
    const GROUPS: u64 = 25;
    let threads: Vec<_> = (0..3u8)
        .map(|writer| {
            let store = store.clone();
            std::thread::spawn(move || {
                for group in 0..GROUPS {
                    let len = 1 + (group + u64::from(writer)) % 4;
                    loop {
                        let start = store.audit().size().expect("size");
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
                        match store.audit().append(&AuditAppend {
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
    let entries = store.audit().entries(0, u64::MAX).expect("entries");
    let total: u64 = (0..3u64)
        .map(|w| (0..GROUPS).map(|g| 1 + (g + w) % 4).sum::<u64>())
        .sum();
    assert_eq!(store.audit().size().expect("size"), total);
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
    let hashes = store.audit().nodes(&addresses).expect("leaves");
    for (e, h) in entries.iter().zip(hashes) {
        assert_eq!(h, Some(Sha256::digest(&e.bytes).into()), "leaf {}", e.index);
    }
    let tracked: usize = (0..3u8)
        .map(|w| {
            store
                .audit()
                .subject_accesses(&subject(w), None, 1000)
                .expect("subject")
                .len()
        })
        .sum();
    assert_eq!(tracked as u64, 3 * GROUPS);
}

pub(crate) fn audit_append_does_not_wait_for_a_data_batch(store: Store) {
    with_dataset(&store);
    let mut batch = store
        .records()
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
    assert_eq!(store.audit().size().expect("size"), 64);
    batch.commit("h", "{}").expect("commit");
    appender.join().expect("appender");
    assert_eq!(store.records().count("people").expect("count"), 1);
}

/// The anchor starts unset, moves forward only, and keeps its subject count.
pub(crate) fn audit_anchor_moves_forward_only(store: Store) {
    assert_eq!(store.audit().anchor().expect("anchor"), AuditAnchor::Unset);
    write_audit_sample(&store);
    assert_eq!(store.audit().subject_count(5).expect("count"), 2);
    assert_eq!(store.audit().subject_count(4).expect("count"), 1);
    assert!(
        store
            .audit()
            .put_anchor(&head(5, 42, 9), 2, true)
            .expect("anchor")
    );
    let at_5 = AuditAnchor::Head {
        head: head(5, 42, 9),
        subjects: 2,
    };
    assert_eq!(store.audit().anchor().expect("anchor"), at_5);
    // An older head leaves it as it is.
    store
        .audit()
        .put_anchor(&head(3, 1, 9), 1, true)
        .expect("older head");
    assert_eq!(store.audit().anchor().expect("anchor"), at_5);
    store
        .audit()
        .put_anchor(&head(8, 7, 9), 3, false)
        .expect("newer head");
    assert_eq!(
        store.audit().anchor().expect("anchor"),
        AuditAnchor::Head {
            head: head(8, 7, 9),
            subjects: 3
        }
    );
}

/// Moving the anchor without waiting never waits for a data batch: it is done or skipped at
/// once (SQLite's writer is held by the batch), and done once the batch is over.
pub(crate) fn audit_anchor_does_not_wait_for_a_data_batch(store: Store) {
    with_dataset(&store);
    write_audit_sample(&store);
    let mut batch = store
        .records()
        .begin_batch("people", meta("b1", t(10)))
        .expect("begin");
    let b = body("a", 1);
    batch.upsert("a", &b, &hash(&b)).expect("upsert");
    let (done, finished) = std::sync::mpsc::channel();
    let anchorer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let _ = done.send(store.audit().put_anchor(&head(5, 42, 9), 2, false));
        })
    };
    let moved = finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the anchor waited for the open data batch")
        .expect("anchor");
    anchorer.join().expect("anchorer");
    batch.commit("h", "{}").expect("commit");
    if !moved {
        assert_eq!(store.audit().anchor().expect("anchor"), AuditAnchor::Unset);
        assert!(
            store
                .audit()
                .put_anchor(&head(5, 42, 9), 2, false)
                .expect("anchor")
        );
    }
    assert!(matches!(
        store.audit().anchor().expect("anchor"),
        AuditAnchor::Head { subjects: 2, .. }
    ));
}

/// The whole subject index, page by page in (subject, entry) order.
pub(crate) fn subject_rows_page_through_the_index(store: Store) {
    let rows = [access(2, 0), access(1, 3), access(2, 3), access(1, 1)];
    append_range(&store, 0, 4, &rows).expect("entries");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.audit().subject_rows(after.as_ref(), 3).expect("rows");
        let Some(last) = page.last().copied() else {
            break;
        };
        seen.extend(page);
        after = Some(last);
    }
    assert_eq!(
        seen,
        vec![access(1, 1), access(1, 3), access(2, 0), access(2, 3)]
    );
}

/// Writes an audit log sample that [`check_audit_sample`] recognises.
pub(crate) fn write_audit_sample(store: &Store) {
    append_range(store, 0, 5, &[access(7, 1), access(7, 4)]).expect("entries");
    store.audit().put_head(&head(5, 42, 9)).expect("head");
}

pub(crate) fn check_audit_sample(store: &Store) {
    assert_eq!(store.audit().size().expect("size"), 5);
    assert_eq!(
        store.audit().entries(0, 100).expect("entries"),
        (0..5).map(audit_entry).collect::<Vec<_>>()
    );
    assert_eq!(
        store
            .audit()
            .nodes(&[(2, 0), (0, 4), (0, 5)])
            .expect("nodes"),
        vec![Some(node_hash(2, 0)), Some(node_hash(0, 4)), None]
    );
    assert_eq!(
        store.audit().latest_head().expect("head"),
        Some(head(5, 42, 9))
    );
    assert_eq!(
        store
            .audit()
            .subject_accesses(&subject(7), None, 10)
            .expect("subject"),
        vec![4, 1]
    );
}

/// The audit tests of the suite.
pub(crate) const SUITE: &[SuiteTest] = &[
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
    (
        "audit_anchor_moves_forward_only",
        audit_anchor_moves_forward_only,
    ),
    (
        "audit_anchor_does_not_wait_for_a_data_batch",
        audit_anchor_does_not_wait_for_a_data_batch,
    ),
    (
        "subject_rows_page_through_the_index",
        subject_rows_page_through_the_index,
    ),
];
