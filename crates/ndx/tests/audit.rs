//! The audit log end to end: every data access is recorded before it is answered, the citizen
//! sees who used their data, heads and proofs verify, and `ndx audit verify` finds and names
//! any change to the stored log.

mod common;

use std::time::Duration;

use common::{Server, run_ndx};
use ndx_audit::merkle::{self, Hash};
use serde_json::Value;

fn hash(v: &Value) -> Hash {
    hex::decode(v.as_str().expect("hex string"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// Waits until the latest signed head covers at least `size` entries; returns it.
fn head_covering(s: &Server, size: u64) -> Value {
    for _ in 0..100 {
        let r = s.get("/api/v1/audit/sth", None);
        if r.status == 200 && r.json()["tree_size"].as_u64().unwrap_or(0) >= size {
            return r.json();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no signed head covers {size} entries within 10 s");
}

fn entries(s: &Server, key: &str, start: u64, end: u64) -> Vec<Value> {
    let r = s.get(
        &format!("/api/v1/audit/entries?start={start}&end={end}"),
        Some(key),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().expect("list").clone()
}

fn citizen_of(token: &str) -> String {
    token
        .strip_prefix("ndxc_")
        .and_then(|t| t.split_once('.'))
        .expect("citizen token")
        .0
        .to_owned()
}

#[test]
fn reads_are_recorded_and_the_citizen_sees_who_used_their_data() {
    let s = Server::demo(30);
    let provider = s.key("population-provider");
    let token = s.key("citizen");
    let me = citizen_of(&token);
    let r = s.get(
        &format!("/api/v1/datasets/population/records/{me}"),
        Some(&provider),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let request_id = r.header("x-request-id").expect("request id").to_owned();
    let r = s.get(
        &format!("/api/v1/datasets/population/records/{me}/history"),
        Some(&provider),
    );
    assert_eq!(r.status, 200);
    // A consumer is refused the owner's view; the refusal is recorded too.
    let consumer = s.key("consumer-01");
    s.get(
        &format!("/api/v1/datasets/population/records/{me}"),
        Some(&consumer),
    )
    .problem(403, "not-owner");

    let r = s.get(&format!("/api/v1/subjects/{me}/accesses"), Some(&token));
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    let accesses = page["accesses"].as_array().expect("accesses");
    assert_eq!(accesses.len(), 2, "{page}");
    // Newest first: the history, then the read, both by the population register's loader.
    assert_eq!(accesses[0]["operation"], "record.history");
    assert_eq!(accesses[1]["operation"], "record.read");
    assert!(accesses[0]["entry"].as_u64() > accesses[1]["entry"].as_u64());
    for a in accesses {
        assert_eq!(a["actor"]["member"], "BCA");
        assert_eq!(a["dataset"], "population");
        assert_eq!(a["allowed"], true);
        let fields: Vec<&str> = a["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            fields.contains(&"citizen_id") && fields.contains(&"full_name"),
            "{a}"
        );
    }
    // Paging with `before`.
    let older = s.get(
        &format!(
            "/api/v1/subjects/{me}/accesses?limit=1&before={}",
            accesses[0]["entry"]
        ),
        Some(&token),
    );
    assert_eq!(older.json()["accesses"][0]["operation"], "record.read");

    // The entry names the request, the fields and the subject.
    let auditor = s.key("auditor");
    let all = entries(&s, &auditor, 0, 1000);
    let read = all
        .iter()
        .find(|e| e["event"]["request_id"] == request_id.as_str())
        .expect("the read's entry");
    assert_eq!(read["event"]["operation"], "record.read");
    assert_eq!(read["event"]["subjects"], serde_json::json!([me]));
    let refused = all
        .iter()
        .find(|e| e["event"]["outcome"]["allowed"] == false)
        .expect("the refusal's entry");
    assert_eq!(
        refused["event"]["actor"]["system"],
        "UBND-01-PUBLIC-SERVICE"
    );
    assert!(
        refused["event"]["outcome"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not-owner"))
    );

    // Who may read the tracker: the citizen for themself, auditors; nobody else.
    let other = all
        .iter()
        .flat_map(|e| {
            e["event"]["subjects"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c != me.as_str());
    let someone_else = other
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "001099000001".into());
    s.get(
        &format!("/api/v1/subjects/{someone_else}/accesses"),
        Some(&token),
    )
    .problem(403, "not-your-data");
    let forged = format!("ndxc_{someone_else}.{}", "0".repeat(64));
    s.get(
        &format!("/api/v1/subjects/{someone_else}/accesses"),
        Some(&forged),
    )
    .problem(401, "token-invalid");
    s.get(&format!("/api/v1/subjects/{me}/accesses"), Some(&provider))
        .problem(403, "role-required");
    s.get(&format!("/api/v1/subjects/{me}/accesses"), None)
        .problem(401, "auth-missing");
    s.get("/api/v1/subjects/12345/accesses", Some(&auditor))
        .problem(400, "citizen-id-invalid");
    let r = s.get(&format!("/api/v1/subjects/{me}/accesses"), Some(&auditor));
    assert_eq!(r.status, 200);
    // The auditor's look is itself on the citizen's list now.
    let r = s.get(&format!("/api/v1/subjects/{me}/accesses"), Some(&token));
    assert!(
        r.json()["accesses"]
            .as_array()
            .expect("accesses")
            .iter()
            .any(|a| a["operation"] == "subject.accesses" && a["actor"]["system"] == "NDC-OPS")
    );
}

#[test]
fn heads_and_proofs_verify_and_entries_are_for_auditors() {
    let s = Server::demo(20);
    let provider = s.key("population-provider");
    for _ in 0..5 {
        let r = s.get(
            "/api/v1/datasets/population/records?limit=3",
            Some(&provider),
        );
        assert_eq!(r.status, 200);
    }
    let auditor = s.key("auditor");
    let n = entries(&s, &auditor, 0, 1000).len() as u64;
    let first_head = head_covering(&s, n);
    for _ in 0..3 {
        s.get(
            "/api/v1/datasets/population/records?limit=1",
            Some(&provider),
        );
    }
    let all = entries(&s, &auditor, 0, 1000);
    let head = head_covering(&s, all.len() as u64 - 1);
    let size = head["tree_size"].as_u64().expect("size");
    let root = hash(&head["root_hash"]);

    let key = s.get("/api/v1/audit/public-key", None).json();
    let public_key: [u8; 32] = hash(&key["public_key"]);
    let signed = ndx_audit::SignedTreeHead {
        tree_size: size,
        timestamp: chrono::DateTime::from_timestamp_millis(
            head["timestamp_ms"].as_i64().expect("ms"),
        )
        .expect("time"),
        root_hash: root,
        signature: hex::decode(head["signature"].as_str().expect("sig"))
            .expect("hex")
            .try_into()
            .expect("64 bytes"),
    };
    ndx_audit::verify_head(&public_key, &signed).expect("the head's signature verifies");

    for e in all.iter().take(size as usize) {
        let i = e["index"].as_u64().expect("index");
        let p = s.get(
            &format!("/api/v1/audit/proof/inclusion?leaf_index={i}&tree_size={size}"),
            None,
        );
        assert_eq!(p.status, 200, "{}", p.body);
        let path: Vec<Hash> = p.json()["audit_path"]
            .as_array()
            .expect("path")
            .iter()
            .map(hash)
            .collect();
        let leaf = hash(&e["leaf_hash"]);
        merkle::verify_inclusion(&leaf, i, size, &path, &root).expect("inclusion verifies");
        // The wrong leaf does not.
        assert!(merkle::verify_inclusion(&[7; 32], i, size, &path, &root).is_err());
    }
    let first = first_head["tree_size"].as_u64().expect("size");
    let c = s.get(
        &format!("/api/v1/audit/proof/consistency?first={first}&second={size}"),
        None,
    );
    let proof: Vec<Hash> = c.json()["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(hash)
        .collect();
    merkle::verify_consistency(first, size, &hash(&first_head["root_hash"]), &root, &proof)
        .expect("consistency verifies");

    // Bad ranges are precise errors; entries are for auditors and operators only.
    s.get(
        &format!("/api/v1/audit/proof/inclusion?leaf_index={size}&tree_size={size}"),
        None,
    )
    .problem(422, "proof-range-invalid");
    s.get(
        "/api/v1/audit/proof/consistency?first=5&second=999999",
        None,
    )
    .problem(422, "proof-range-invalid");
    s.get(
        "/api/v1/audit/proof/inclusion?leaf_index=x&tree_size=1",
        None,
    )
    .problem(400, "query-invalid");
    s.get("/api/v1/audit/entries?start=0&end=5", None)
        .problem(401, "auth-missing");
    s.get("/api/v1/audit/entries?start=0&end=5", Some(&provider))
        .problem(403, "role-required");
    s.get("/api/v1/audit/entries?start=0&end=5000", Some(&auditor))
        .problem(422, "range-invalid");
}

/// Runs `ndx audit verify` on a data directory; returns (success, output).
fn verify(dir: &std::path::Path) -> (bool, String) {
    let out = run_ndx(&[
        "audit",
        "verify",
        "--data-dir",
        dir.to_str().expect("utf-8"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn copy_dir(from: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for f in std::fs::read_dir(from).expect("dir") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), to.path().join(f.file_name())).expect("copy");
    }
    to
}

fn tamper(dir: &std::path::Path, sql: &str) {
    let c = rusqlite::Connection::open(dir.join("ndx-audit.db")).expect("open audit file");
    c.execute_batch(sql).expect("tamper");
}

#[test]
fn verify_finds_and_names_every_kind_of_tampering() {
    let s = Server::demo(20);
    let provider = s.key("population-provider");
    for _ in 0..12 {
        s.get(
            "/api/v1/datasets/population/records?limit=2",
            Some(&provider),
        );
    }
    let dir = s.stop_into_dir();
    let (ok, out) = verify(dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("audit log verified"), "{out}");

    // Changing an entry's bytes.
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "UPDATE audit_entries SET bytes = CAST(replace(CAST(bytes AS TEXT), '\"operation\":\"', '\"operation\":\"x') AS BLOB) WHERE idx = 5",
    );
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("entry 5"), "{out}");

    // Changing an entry and its stored leaf hash: the signed heads still catch it.
    let d = copy_dir(dir.path());
    let c = rusqlite::Connection::open(d.path().join("ndx-audit.db")).expect("open");
    let bytes: Vec<u8> = c
        .query_row("SELECT bytes FROM audit_entries WHERE idx = 3", [], |r| {
            r.get(0)
        })
        .expect("entry 3");
    let changed = String::from_utf8(bytes)
        .expect("utf-8")
        .replace("\"allowed\":true", "\"allowed\":false");
    c.execute(
        "UPDATE audit_entries SET bytes = ?1 WHERE idx = 3",
        [changed.as_bytes()],
    )
    .expect("update");
    c.execute(
        "UPDATE audit_nodes SET hash = ?1 WHERE level = 0 AND idx = 3",
        [merkle::leaf_hash(changed.as_bytes()).to_vec()],
    )
    .expect("update");
    drop(c);
    let (ok, out) = verify(d.path());
    assert!(
        !ok && (out.contains("level 1") || out.contains("signed head")),
        "{out}"
    );

    // Deleting an entry.
    let d = copy_dir(dir.path());
    tamper(d.path(), "DELETE FROM audit_entries WHERE idx = 4");
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("entry 4 is missing"), "{out}");

    // Reordering two entries.
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "UPDATE audit_entries SET idx = 999999 WHERE idx = 6;
         UPDATE audit_entries SET idx = 6 WHERE idx = 7;
         UPDATE audit_entries SET idx = 7 WHERE idx = 999999;",
    );
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("entry 6"), "{out}");

    // Inserting an entry (the ones after it renumbered).
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "UPDATE audit_entries SET idx = idx + 1000000 WHERE idx >= 2;
         UPDATE audit_entries SET idx = idx - 1000000 + 1 WHERE idx >= 1000000;
         INSERT INTO audit_entries(idx, bytes) SELECT 2, bytes FROM audit_entries WHERE idx = 1;",
    );
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("entry 2"), "{out}");

    // Replacing a head (a different root, same signature).
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "UPDATE audit_heads SET root = zeroblob(32) WHERE tree_size = (SELECT max(tree_size) FROM audit_heads)",
    );
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("signed head of size"), "{out}");
    assert!(out.contains("signature"), "{out}");

    // A log cut short together with the heads covering the cut: consistent in itself, but a
    // verifier that remembers the heads it saw catches it.
    let state = dir.path().join("seen-heads.json");
    let remember = |d: &std::path::Path| {
        let out = run_ndx(&[
            "audit",
            "verify",
            "--data-dir",
            d.to_str().expect("utf-8"),
            "--state",
            state.to_str().expect("utf-8"),
        ]);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = remember(dir.path());
    assert!(ok, "{out}");
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "DELETE FROM audit_heads WHERE tree_size > (SELECT min(tree_size) FROM audit_heads);
         DELETE FROM audit_entries WHERE idx >= (SELECT min(tree_size) FROM audit_heads);
         DELETE FROM audit_nodes WHERE (idx + 1) << level > (SELECT min(tree_size) FROM audit_heads);",
    );
    let (ok, out) = verify(d.path());
    assert!(
        ok,
        "a cut log with its heads removed is consistent in itself: {out}"
    );
    let (ok, out) = remember(d.path());
    assert!(
        !ok && out.contains("remembered") && out.contains("were deleted"),
        "{out}"
    );

    // A log cut short: the heads cover more than is left.
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "DELETE FROM audit_entries WHERE idx >= (SELECT max(idx) FROM audit_entries);
         DELETE FROM audit_nodes WHERE idx >= (SELECT max(idx) FROM audit_nodes WHERE level = 0) AND level = 0;",
    );
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("were deleted"), "{out}");
}

#[test]
fn a_kill_during_reads_never_leaves_an_answer_without_its_event() {
    let s = Server::demo(40);
    let provider = s.key("population-provider");
    let auditor = s.key("auditor");
    let keys: Vec<String> = s
        .get(
            "/api/v1/datasets/population/records?limit=40",
            Some(&provider),
        )
        .json()["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|t| {
            let (base, key, keys, stop) =
                (s.base.clone(), provider.clone(), keys.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                let mut answered = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("crash-{t}-{n}");
                    let url = format!(
                        "{base}/api/v1/datasets/population/records/{}",
                        keys[n % keys.len()]
                    );
                    let r = agent
                        .get(&url)
                        .header("Authorization", &format!("Bearer {key}"))
                        .header("x-request-id", &id)
                        .call();
                    match r {
                        Ok(mut resp) if resp.status() == 200 => {
                            // Answered only if the whole body arrived.
                            if resp.body_mut().read_to_string().is_ok() {
                                answered.push(id);
                            }
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let dir = s.into_dir(); // SIGKILL while the readers are mid-request
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: Vec<String> = readers
        .into_iter()
        .flat_map(|r| r.join().expect("reader"))
        .collect();
    assert!(
        answered.len() > 20,
        "only {} reads answered",
        answered.len()
    );

    let s = Server::serve_dir(dir);
    let mut recorded = std::collections::HashSet::new();
    let mut start = 0;
    loop {
        // Each read of the log is itself logged: stop at the first short page.
        let page = entries(&s, &auditor, start, start + 1000);
        for e in &page {
            if let Some(id) = e["event"]["request_id"].as_str() {
                recorded.insert(id.to_owned());
            }
        }
        start += page.len() as u64;
        if page.len() < 1000 {
            break;
        }
    }
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "answered without an audit event: {missing:?}"
    );
    // And the log that survived the kill verifies.
    let dir = s.stop_into_dir();
    let (ok, out) = verify(dir.path());
    assert!(ok, "{out}");
}

/// Audit before answer, over HTTP: every read of record data or of the audit log, answered or
/// refused, adds exactly one entry to the log, naming its request.
#[test]
fn every_read_adds_exactly_one_entry_naming_its_request() {
    let s = Server::demo(20);
    let provider = s.key("population-provider");
    let consumer = s.key("consumer-01");
    let auditor = s.key("auditor");
    let token = s.key("citizen");
    let me = citizen_of(&token);
    let now = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let missing = common::cid("001", false, 1990, 999_999);
    let reads: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "current",
            format!("/api/v1/datasets/population/records/{me}"),
            provider.as_str(),
            200,
            "record.read",
        ),
        (
            "as of",
            format!("/api/v1/datasets/population/records/{me}?as_of={now}"),
            &provider,
            200,
            "record.read",
        ),
        (
            "history",
            format!("/api/v1/datasets/population/records/{me}/history"),
            &provider,
            200,
            "record.history",
        ),
        (
            "list",
            "/api/v1/datasets/population/records?limit=3".into(),
            &provider,
            200,
            "record.list",
        ),
        (
            "missing",
            format!("/api/v1/datasets/population/records/{missing}"),
            &provider,
            404,
            "record.read",
        ),
        (
            "refused",
            format!("/api/v1/datasets/population/records/{me}"),
            &consumer,
            403,
            "record.read",
        ),
        (
            "tracker",
            format!("/api/v1/subjects/{me}/accesses"),
            &token,
            200,
            "subject.accesses",
        ),
        (
            "tracker by an auditor",
            format!("/api/v1/subjects/{me}/accesses"),
            &auditor,
            200,
            "subject.accesses",
        ),
    ];
    for (what, path, key, status, operation) in reads {
        // Reading the log is itself recorded: the listing's own entry comes at `before`.
        let before = entries(&s, &auditor, 0, 1000).len() as u64;
        let r = s.get(&path, Some(key));
        assert_eq!(r.status, status, "{what}: {}", r.body);
        let request_id = r.header("x-request-id").expect("request id").to_owned();
        let added = entries(&s, &auditor, before, before + 1000);
        let ops: Vec<&Value> = added.iter().map(|e| &e["event"]["operation"]).collect();
        assert_eq!(added.len(), 2, "{what}: {ops:?}");
        assert_eq!(added[0]["event"]["operation"], "audit.entries", "{what}");
        assert_eq!(added[1]["event"]["operation"], operation, "{what}");
        assert_eq!(
            added[1]["event"]["request_id"],
            request_id.as_str(),
            "{what}"
        );
        assert_eq!(
            added[1]["event"]["outcome"]["allowed"],
            status != 403,
            "{what}"
        );
    }
}
