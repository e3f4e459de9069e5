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
    assert_eq!(accesses.len(), 3, "{page}");
    // Newest first: the history, then the read, both by the population register's loader;
    // first of all, the operator setting the citizen's web sign-in credential (the demo's).
    assert_eq!(accesses[0]["operation"], "record.history");
    assert_eq!(accesses[1]["operation"], "record.read");
    assert!(accesses[0]["entry"].as_u64() > accesses[1]["entry"].as_u64());
    assert_eq!(accesses[2]["operation"], "citizen-credential.set");
    assert_eq!(accesses[2]["actor"]["member"], "NDC");
    for a in &accesses[..2] {
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
    copy_tree(from, to.path());
    to
}

/// Copies a directory with its subdirectories (the store's blob area is one).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for f in std::fs::read_dir(from).expect("dir") {
        let f = f.expect("entry");
        let target = to.join(f.file_name());
        if f.file_type().expect("type").is_dir() {
            std::fs::create_dir(&target).expect("mkdir");
            copy_tree(&f.path(), &target);
        } else {
            std::fs::copy(f.path(), &target).expect("copy");
        }
    }
}

/// Every file of a directory with its length and modification time: verification must leave
/// them as they are.
fn files_of(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|f| {
            let f = f.expect("entry");
            let m = f.metadata().expect("metadata");
            (
                f.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().expect("mtime"),
            )
        })
        .collect();
    files.sort();
    files
}

/// Starts `ndx serve` on a data directory (and store); it must exit with a failure instead of
/// serving. Returns what it printed.
fn start_refused(dir: &std::path::Path, store: Option<&str>) -> String {
    let mut cmd = std::process::Command::new(common::ndx_bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("NDX_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(url) = store {
        cmd.args(["--store", url]);
    }
    let mut child = cmd.spawn().expect("start ndx");
    for _ in 0..600 {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.status.success(), "the server exited 0: {text}");
            assert!(!text.contains("listening on"), "{text}");
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!(
        "the server started on a tampered store: {}",
        String::from_utf8_lossy(&out.stdout)
    );
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
    let before = files_of(dir.path());
    let (ok, out) = verify(dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("audit log verified"), "{out}");
    assert!(
        out.contains("the data store anchors the head of size"),
        "{out}"
    );
    assert_eq!(
        files_of(dir.path()),
        before,
        "verify changed the data directory"
    );

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

    // A log cut short together with the heads covering the cut and their tracker rows:
    // consistent in itself, but the data store's anchor still names the longer log, so verify
    // finds it without remembered state (and a verifier remembering heads does too).
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
        "DELETE FROM subject_log WHERE idx >= (SELECT min(tree_size) FROM audit_heads);
         DELETE FROM subject_accesses WHERE idx >= (SELECT min(tree_size) FROM audit_heads);
         DELETE FROM audit_entries WHERE idx >= (SELECT min(tree_size) FROM audit_heads);
         DELETE FROM audit_nodes WHERE (idx + 1) << level > (SELECT min(tree_size) FROM audit_heads);
         DELETE FROM audit_heads WHERE tree_size > (SELECT min(tree_size) FROM audit_heads);",
    );
    let (ok, out) = verify(d.path());
    assert!(
        !ok && out.contains("the data store anchors a signed head") && out.contains("were deleted"),
        "{out}"
    );
    let (ok, out) = remember(d.path());
    assert!(!ok && out.contains("were deleted"), "{out}");

    // A deleted tree node is named as such, not as a changed entry.
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "DELETE FROM audit_nodes WHERE level = 0 AND idx = 2",
    );
    let (ok, out) = verify(d.path());
    assert!(
        !ok && out.contains("leaf hash of entry 2") && out.contains("nodes were deleted"),
        "{out}"
    );
    assert!(!out.contains("was changed"), "{out}");
    let d = copy_dir(dir.path());
    tamper(
        d.path(),
        "DELETE FROM audit_nodes WHERE level = 1 AND idx = 1",
    );
    let (ok, out) = verify(d.path());
    assert!(
        !ok && out.contains("(level 1, index 1)") && out.contains("nodes were deleted"),
        "{out}"
    );

    // A deleted first entry is not a jump "from entry -1".
    let d = copy_dir(dir.path());
    tamper(d.path(), "DELETE FROM audit_entries WHERE idx = 0");
    let (ok, out) = verify(d.path());
    assert!(
        !ok && out.contains("entry 0 is missing: the log starts at entry 1"),
        "{out}"
    );
    assert!(!out.contains("-1"), "{out}");

    // The audit file deleted, or truncated to zero bytes: verify names it, creates nothing,
    // and the server refuses to start a new log beside the data.
    let d = copy_dir(dir.path());
    for f in ["ndx-audit.db", "ndx-audit.db-wal", "ndx-audit.db-shm"] {
        let _ = std::fs::remove_file(d.path().join(f));
    }
    let before = files_of(d.path());
    let (ok, out) = verify(d.path());
    assert!(
        !ok && out.contains("ndx-audit.db") && out.contains("is missing"),
        "{out}"
    );
    assert_eq!(
        files_of(d.path()),
        before,
        "verify changed the data directory"
    );
    let out = start_refused(d.path(), None);
    assert!(out.contains("is missing"), "{out}");
    assert!(
        !d.path().join("ndx-audit.db").exists(),
        "a new audit log was started"
    );
    let d = copy_dir(dir.path());
    std::fs::File::create(d.path().join("ndx-audit.db")).expect("truncate");
    let before = files_of(d.path());
    let (ok, out) = verify(d.path());
    assert!(!ok && out.contains("is empty (0 bytes)"), "{out}");
    assert_eq!(
        files_of(d.path()),
        before,
        "verify changed the data directory"
    );
    let out = start_refused(d.path(), None);
    assert!(out.contains("is empty (0 bytes)"), "{out}");

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

/// A stopped server's store, changed by SQL on whichever engine it runs (`NDX_E2E_STORE`
/// selects PostgreSQL): each case starts from the state as the server left it (a copy of the
/// data directory on SQLite; the audit tables restored from a saved copy on PostgreSQL).
struct Stored {
    /// The stopped server's data directory (keys, and the SQLite files).
    dir: tempfile::TempDir,
    /// PostgreSQL: the server's `--store` URL, `psql`'s URL and the schema.
    pg: Option<(String, String, String)>,
    _guard: Option<common::Stopped>,
}

/// The audit tables, and the anchor in the data store, saved and restored on PostgreSQL.
const AUDIT_TABLES: [&str; 5] = [
    "audit_entries",
    "audit_nodes",
    "audit_heads",
    "subject_accesses",
    "audit_anchor",
];

/// One case: a data directory (and store) to tamper with, verify and start.
struct Case {
    dir: tempfile::TempDir,
    store: Option<String>,
    pg: Option<(String, String)>,
}

impl Stored {
    fn of(s: Server) -> Stored {
        let url = s.store_url.clone();
        let stopped = s.stop();
        let Some(url) = url else {
            let dir = copy_dir(stopped.dir.path());
            return Stored {
                dir,
                pg: None,
                _guard: Some(stopped),
            };
        };
        let (base, query) = url.split_once('?').expect("a schema parameter");
        let schema = query
            .split('&')
            .find_map(|p| p.strip_prefix("schema="))
            .expect("schema=")
            .to_owned();
        let stored = Stored {
            dir: copy_dir(stopped.dir.path()),
            pg: Some((url.clone(), base.to_owned(), schema)),
            _guard: Some(stopped),
        };
        let save: String = AUDIT_TABLES
            .iter()
            .map(|t| format!("CREATE TABLE saved_{t} AS SELECT * FROM {t};"))
            .collect();
        stored.psql(&save);
        stored
    }

    fn psql(&self, sql: &str) {
        let (_, base, schema) = self.pg.as_ref().expect("postgres");
        let out = std::process::Command::new("psql")
            .arg(base)
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("SET search_path TO {schema}; {sql}"))
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The store as the server left it.
    fn case(&self) -> Case {
        let dir = copy_dir(self.dir.path());
        match &self.pg {
            None => Case {
                dir,
                store: None,
                pg: None,
            },
            Some((url, base, schema)) => {
                let restore: String = AUDIT_TABLES
                    .iter()
                    .map(|t| format!("DELETE FROM {t}; INSERT INTO {t} SELECT * FROM saved_{t};"))
                    .collect();
                self.psql(&restore);
                Case {
                    dir,
                    store: Some(url.clone()),
                    pg: Some((base.clone(), schema.clone())),
                }
            }
        }
    }
}

impl Case {
    /// The table that holds the data tracker's rows of a short test log: on SQLite its log
    /// (the folder sorts it into runs only past tens of thousands of rows), on PostgreSQL its
    /// one index.
    fn tracker_table(&self) -> &'static str {
        if self.pg.is_some() {
            "subject_accesses"
        } else {
            "subject_log"
        }
    }

    /// Runs SQL on the audit log (`audit`) or on the data store.
    fn sql(&self, audit: bool, sql: &str) {
        match &self.pg {
            Some((base, schema)) => {
                let out = std::process::Command::new("psql")
                    .arg(base)
                    .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
                    .arg(format!("SET search_path TO {schema}; {sql}"))
                    .output()
                    .expect("psql");
                assert!(
                    out.status.success(),
                    "psql: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => {
                let file = if audit { "ndx-audit.db" } else { "ndx.db" };
                let c = rusqlite::Connection::open(self.dir.path().join(file)).expect("open");
                c.execute_batch(sql).expect("tamper");
            }
        }
    }

    /// Rewrites entry `index` (an allowed access turned into a refused one), recomputes every
    /// tree node from the entries and deletes every signed head: a forgery consistent in
    /// itself, only the data store's anchor can tell.
    fn rewrite_entry(&self, index: u64) {
        match &self.pg {
            Some(_) => self.sql(
                true,
                &format!(
                    "UPDATE audit_entries SET bytes = convert_to(replace(convert_from(bytes, 'UTF8'),
                       '\"allowed\":true', '\"allowed\":false'), 'UTF8') WHERE idx = {index};
                     UPDATE audit_nodes n SET hash = sha256('\\x00'::bytea || e.bytes)
                       FROM audit_entries e WHERE n.level = 0 AND n.idx = e.idx;
                     DO $$ BEGIN FOR k IN 1..40 LOOP
                       UPDATE audit_nodes n SET hash = sha256('\\x01'::bytea || l.hash || r.hash)
                         FROM audit_nodes l, audit_nodes r
                        WHERE n.level = k AND l.level = k - 1 AND r.level = k - 1
                          AND l.idx = 2 * n.idx AND r.idx = 2 * n.idx + 1;
                     END LOOP; END $$;
                     DELETE FROM audit_heads;"
                ),
            ),
            None => {
                let c = rusqlite::Connection::open(self.dir.path().join("ndx-audit.db"))
                    .expect("open");
                let mut entries: Vec<Vec<u8>> = c
                    .prepare("SELECT bytes FROM audit_entries ORDER BY idx")
                    .expect("prepare")
                    .query_map([], |r| r.get(0))
                    .expect("entries")
                    .collect::<Result<_, _>>()
                    .expect("entries");
                let i = usize::try_from(index).expect("index");
                entries[i] = String::from_utf8(entries[i].clone())
                    .expect("utf-8")
                    .replace("\"allowed\":true", "\"allowed\":false")
                    .into_bytes();
                let mut tree = merkle::MemoryTree::new();
                for e in &entries {
                    tree.push(merkle::leaf_hash(e));
                }
                c.execute(
                    "UPDATE audit_entries SET bytes = ?1 WHERE idx = ?2",
                    rusqlite::params![entries[i], index],
                )
                .expect("rewrite");
                c.execute("DELETE FROM audit_nodes", []).expect("nodes");
                let size = tree.size();
                let mut level = 0;
                while size >> level > 0 {
                    for n in 0..size >> level {
                        let h = merkle::NodeReader::node(&tree, level, n).expect("node");
                        c.execute(
                            "INSERT INTO audit_nodes(level, idx, hash) VALUES (?1, ?2, ?3)",
                            rusqlite::params![level, n, h.to_vec()],
                        )
                        .expect("node");
                    }
                    level += 1;
                }
                c.execute("DELETE FROM audit_heads", []).expect("heads");
            }
        }
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.dir.path().display().to_string(),
        ];
        if let Some(url) = &self.store {
            args.extend(["--store".to_owned(), url.clone()]);
        }
        args
    }

    /// `ndx audit verify` (no `--state`): (success, output).
    fn verify(&self) -> (bool, String) {
        let mut args = vec!["audit".to_owned(), "verify".to_owned()];
        args.extend(self.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_ndx(&args);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Verify must fail naming `what`, and the server must refuse to start.
    fn caught(&self, what: &str, at_start: &str) {
        let (ok, out) = self.verify();
        assert!(!ok && out.contains(what), "verify: {out}");
        let out = start_refused(self.dir.path(), self.store.as_deref());
        assert!(out.contains(at_start), "start: {out}");
    }
}

#[test]
fn anchored_log_rewrites_are_caught_by_verify_and_at_start_on_either_engine() {
    let s = Server::demo(20);
    let provider = s.key("population-provider");
    for _ in 0..12 {
        s.get(
            "/api/v1/datasets/population/records?limit=2",
            Some(&provider),
        );
    }
    let stored = Stored::of(s);
    let (ok, out) = stored.case().verify();
    assert!(
        ok && out.contains("the data store anchors the head of size"),
        "{out}"
    );

    // An entry rewritten, the nodes recomputed and the heads deleted.
    let c = stored.case();
    c.rewrite_entry(3);
    c.caught("an entry below index", "an entry below");

    // Every head deleted; the latest head deleted.
    let c = stored.case();
    c.sql(true, "DELETE FROM audit_heads");
    c.caught("signed heads were deleted", "heads were deleted");
    let c = stored.case();
    c.sql(
        true,
        "DELETE FROM audit_heads WHERE tree_size = (SELECT max(tree_size) FROM audit_heads)",
    );
    c.caught("signed heads were deleted", "heads were deleted");

    // The log emptied (every row of its tables deleted).
    let c = stored.case();
    c.sql(
        true,
        &format!(
            "DELETE FROM audit_entries; DELETE FROM audit_nodes; DELETE FROM audit_heads;
             DELETE FROM {};",
            c.tracker_table()
        ),
    );
    c.caught("but the audit log holds 0 entries", "holds 0 entries");

    // The data store's anchor deleted while the log has entries.
    let c = stored.case();
    c.sql(false, "DELETE FROM audit_anchor");
    c.caught("anchor is missing", "anchor is missing");

    // Rows of the citizens' tracker deleted.
    let c = stored.case();
    let t = c.tracker_table();
    c.sql(
        true,
        &format!("DELETE FROM {t} WHERE idx = (SELECT min(idx) FROM {t})"),
    );
    c.caught(
        "the data tracker's subject index lacks a row of entry",
        "data tracker",
    );

    // Untouched, the store still verifies and serves.
    let c = stored.case();
    let (ok, out) = c.verify();
    assert!(ok, "{out}");
}

/// Every entry of the log, read page by page by `auditor` (each page read adds an entry).
fn all_entries(s: &Server, auditor: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let start = all.len() as u64;
        let page = entries(s, auditor, start, start + 1000);
        let short = page.len() < 1000;
        all.extend(page);
        if short {
            return all;
        }
    }
}

/// The refusal reasons of the entries of `operation`.
fn refusals(entries: &[Value], operation: &str) -> Vec<String> {
    entries
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["operation"] == operation && e["outcome"]["allowed"] == false)
        .map(|e| e["outcome"]["reason"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn refused_keys_and_citizen_tokens_are_recorded_and_a_flood_adds_a_bounded_number() {
    let s = Server::demo(20);
    let auditor = s.key("auditor");
    let operator = s.key("operator");
    let token = s.key("citizen");
    let me = citizen_of(&token);
    let other = common::cid("001", false, 1990, 7);
    assert_ne!(me, other);

    // An unknown key, a revoked key, an expired key.
    s.get("/api/v1/me", Some("ndx_nosuchkey_0123456789abcdef"))
        .problem(401, "key-unknown");
    let issue = |body: Value| {
        let r = s.post_json("/api/v1/systems/NDC-OPS/keys", Some(&operator), &body);
        assert_eq!(r.status, 201, "{}", r.body);
        let v = r.json();
        (
            v["key"]["id"].as_str().expect("id").to_owned(),
            v["secret"].as_str().expect("secret").to_owned(),
        )
    };
    let (id, doomed) = issue(serde_json::json!({"roles": ["auditor"], "label": "doomed"}));
    let r = s.request(
        "DELETE",
        &format!("/api/v1/keys/{id}"),
        Some(&operator),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    s.get("/api/v1/me", Some(&doomed))
        .problem(401, "key-revoked");
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let (_, short_lived) = issue(serde_json::json!({
        "roles": ["auditor"],
        "label": "short-lived",
        "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }));
    std::thread::sleep(Duration::from_millis(1200));
    s.get("/api/v1/me", Some(&short_lived))
        .problem(401, "key-expired");
    // A forged citizen token; a citizen asking for another citizen's accesses.
    s.get(
        &format!("/api/v1/subjects/{me}/accesses"),
        Some(&format!("ndxc_{me}.{}", "00".repeat(32))),
    )
    .problem(401, "token-invalid");
    s.get(&format!("/api/v1/subjects/{other}/accesses"), Some(&token))
        .problem(403, "not-your-data");

    let log = all_entries(&s, &auditor);
    let auth = refusals(&log, "auth");
    for code in ["key-unknown", "key-revoked", "key-expired"] {
        assert!(
            auth.iter().any(|r| r.starts_with(&format!("{code}: "))),
            "no {code} refusal in {auth:?}"
        );
    }
    // Each is counted against the client it came from.
    let clients: Vec<&str> = log
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["operation"] == "auth")
        .filter_map(|e| e["query"].as_str())
        .collect();
    assert!(
        !clients.is_empty() && clients.iter().all(|q| q.starts_with("client=127.0.0.1&")),
        "{clients:?}"
    );
    let tracker = refusals(&log, "subject.accesses");
    assert!(
        tracker.iter().any(|r| r.starts_with("token-invalid: ")),
        "{tracker:?}"
    );
    let denied = log
        .iter()
        .map(|e| &e["event"])
        .find(|e| {
            e["outcome"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("not-your-data: "))
        })
        .unwrap_or_else(|| panic!("no not-your-data refusal in {tracker:?}"));
    // About the citizen asked for: it shows in their tracker.
    assert_eq!(denied["subjects"], serde_json::json!([other]));

    // A flood of 1,000 bad keys from one client adds a bounded number of entries.
    let before = all_entries(&s, &auditor).len();
    for n in 0..1000 {
        s.get(
            "/api/v1/me",
            Some(&format!("ndx_flood{n}_0123456789abcdef")),
        )
        .problem(401, "key-unknown");
    }
    let after = all_entries(&s, &auditor).len();
    // One entry per bucket of the table at most (per client and minute: the client's own
    // buckets and the one for the rest of its refusals; twice if the minute turned over
    // during the flood), plus the page reads of the log themselves.
    let bound = 2 * (ndx_core::audit::MAX_BUCKETS_PER_CLIENT + 1) + 2;
    assert!(
        after - before <= bound,
        "1,000 refused requests added {} entries (bound {bound})",
        after - before
    );
}

/// Issue 11: an authenticated caller refused an administrative operation (403) left no trace;
/// each refusal is now recorded with the caller, like a refused data request.
#[test]
fn refused_administration_is_recorded_with_its_caller() {
    let s = Server::demo(20);
    let auditor = s.key("auditor");
    let provider = s.key("civil-service-provider");
    let member = serde_json::json!({
        "code": "XYZ", "name_vi": "Thử", "name_en": "Test", "level": "central",
        "jurisdiction": {"country": "VN"},
    });
    s.post_json("/api/v1/members", Some(&provider), &member)
        .problem(403, "role-required");
    let element = serde_json::json!({
        "id": "plate", "name_vi": "Biển số", "name_en": "Plate", "type": "string",
    });
    s.post_json("/api/v1/dictionary/elements", Some(&provider), &element)
        .problem(403, "role-required");
    let r = s.get("/api/v1/datasets/population/schema", Some(&auditor));
    assert_eq!(r.status, 200, "{}", r.body);
    let schema = r.json();
    let r = s.put_json(
        "/api/v1/datasets/population/schema",
        Some(&provider),
        &schema,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let code = r.json()["code"].as_str().unwrap_or("").to_owned();

    let log = all_entries(&s, &auditor);
    let refused = |operation: &str| {
        log.iter()
            .map(|e| &e["event"])
            .find(|e| e["operation"] == operation && e["outcome"]["allowed"] == false)
            .unwrap_or_else(|| panic!("no refused {operation} in the log"))
            .clone()
    };
    for (operation, reason) in [
        ("member.create", "role-required"),
        ("element.create", "role-required"),
        ("schema.put", code.as_str()),
    ] {
        let e = refused(operation);
        assert!(
            e["outcome"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("{reason}: "))),
            "{e}"
        );
        assert_eq!(e["actor"]["system"], "BNV-CIVIL-SERVICE", "{e}");
    }
    assert_eq!(refused("schema.put")["dataset"], "population");
}
