//! The audit log format is documented well enough for others: `tests/verify_audit.py`, a
//! verifier written in Python from the format's documentation alone (standard library plus
//! `cryptography` for Ed25519), accepts a live node's log and rejects it under another key.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::Value;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_audit.py");

/// RFC 8032's first test key: a valid Ed25519 public key that is not the node's.
const OTHER_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn verify(s: &Server, key: &str, extra: &[&str]) -> (Output, String) {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(["--url", &s.base, "--key", key])
        .args(extra)
        .output()
        .expect("run python3");
    let text = format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn sth_size(s: &Server) -> u64 {
    let r = s.get("/api/v1/audit/sth", None);
    if r.status == 404 {
        return 0;
    }
    assert_eq!(r.status, 200, "sth: {}", r.body);
    r.json()["tree_size"].as_u64().expect("tree_size")
}

#[test]
fn an_independent_python_verifier_accepts_the_log() {
    if !common::python_module(
        "cryptography.hazmat.primitives.asymmetric.ed25519",
        "cryptography",
    ) {
        return;
    }
    let s = Server::demo(200);
    let provider = s.key("population-provider");
    let operator = s.key("operator");
    let consumer = s.key("consumer-01");
    let auditor = s.key("auditor");

    let list = s.get(
        "/api/v1/datasets/population/records?limit=10",
        Some(&provider),
    );
    assert_eq!(list.status, 200, "{}", list.body);
    let ids: Vec<String> = list.json()["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_owned())
        .collect();
    assert!(!ids.is_empty());

    // Audited requests, each one event: reads, histories, lists and refusals.
    let before = sth_size(&s);
    let mut events = 0;
    for id in &ids {
        let rec = format!("/api/v1/datasets/population/records/{id}");
        assert_eq!(s.get(&rec, Some(&provider)).status, 200);
        assert_eq!(
            s.get(&format!("{rec}/history"), Some(&provider)).status,
            200
        );
        assert_eq!(s.get(&rec, Some(&operator)).status, 200);
        assert_eq!(s.get(&rec, Some(&consumer)).status, 403);
        events += 4;
    }
    for _ in 0..3 {
        let r = s.get(
            "/api/v1/datasets/population/records?limit=5",
            Some(&operator),
        );
        assert_eq!(r.status, 200);
        events += 1;
    }

    // Wait for a signed head covering them (heads are signed at least every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    let size = loop {
        let size = sth_size(&s);
        if size >= before + events {
            std::thread::sleep(Duration::from_millis(1500));
            if sth_size(&s) == size {
                break size;
            }
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "no head covers the {events} events after size {before}: latest size {size}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let sth: Value = s.get("/api/v1/audit/sth", None).json();

    let (out, text) = verify(&s, &auditor, &[]);
    assert!(out.status.success(), "the verifier rejects the log: {text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{size} entries")), "{text}");
    assert!(
        stdout.contains(sth["root_hash"].as_str().expect("root")),
        "{text}"
    );

    // Pinned to another key, every signature fails.
    let (out, text) = verify(&s, &auditor, &["--public-key", OTHER_KEY]);
    assert!(!out.status.success(), "a foreign key is accepted: {text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("signature does not verify") && stdout.contains(OTHER_KEY),
        "{text}"
    );
}
