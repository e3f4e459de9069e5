//! An outside check of governed exchange's accounting: `tests/verify_exchange_audit.py`
//! (Python, standard library only) reads a live node's audit entries and confirms that every
//! released record's data subject has that entry on their own tracker, under an agreement of
//! the right consumer, dataset, purpose and fields. It must also fail when an entry is not on
//! a tracker: the test puts a loopback proxy in front of the node that drops the exchange
//! accesses from tracker answers, and the check must say so.

mod common;

use std::process::Command;

use common::Server;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/verify_exchange_audit.py"
);

fn check(s: &Server, url: &str) -> (bool, String) {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(["--url", url, "--key", &s.key("auditor")])
        .output()
        .expect("run python3");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_released_subject_is_on_their_tracker_by_an_outside_check() {
    if Command::new("python3").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "python3 is needed");
        eprintln!("skipped: no python3");
        return;
    }
    let s = Server::demo(1200);
    let civil = s.key("civil-service-consumer");
    let consumer = s.key("consumer-01");
    let purpose = |p: &'static str| [("Ndx-Purpose", p)];
    let r = s.request(
        "GET",
        "/api/v1/exchange/datasets/population/extract",
        Some(&civil),
        &purpose("cross-checking"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let keys: Vec<String> = r
        .body
        .lines()
        .take(5)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("line")["key"]
                .as_str()
                .expect("key")
                .to_owned()
        })
        .collect();
    let r = s.request(
        "GET",
        "/api/v1/exchange/datasets/population/records?limit=50",
        Some(&civil),
        &purpose("cross-checking"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for k in &keys {
        let r = s.request(
            "GET",
            &format!("/api/v1/exchange/datasets/population/records/{k}"),
            Some(&consumer),
            &purpose("public-service-delivery"),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // A province follows the change feed: each page's citizens are accounted for too.
    let r = s.request(
        "GET",
        "/api/v1/exchange/datasets/population/changes?after=0&limit=40",
        Some(&consumer),
        &purpose("public-service-delivery"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (ok, out) = check(&s, &s.base);
    assert!(ok, "{out}");
    assert!(out.contains("exchange audit verified"), "{out}");
    assert!(!out.contains(" 0 releases"), "{out}");

    // A node whose trackers lack the exchange accesses fails the check.
    let proxy = tracker_hiding_proxy(s.base.clone());
    let (ok, out) = check(&s, &proxy);
    assert!(!ok, "{out}");
    assert!(out.contains("is not on their tracker"), "{out}");
}

/// A loopback HTTP proxy to `upstream` that removes the `exchange.*` accesses from every data
/// tracker answer; its base URL.
fn tracker_hiding_proxy(upstream: String) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let agent = ureq::Agent::new_with_defaults();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.strip_prefix("Authorization: ") {
                    auth = v.trim().to_owned();
                }
            }
            let mut resp = match agent
                .get(format!("{upstream}{path}"))
                .header("Authorization", &auth)
                .config()
                .http_status_as_error(false)
                .build()
                .call()
            {
                Ok(r) => r,
                Err(_) => continue,
            };
            let status = resp.status().as_u16();
            let mut body = resp.body_mut().read_to_string().unwrap_or_default();
            if path.starts_with("/api/v1/subjects/")
                && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&body)
            {
                if let Some(list) = v["accesses"].as_array_mut() {
                    list.retain(|a| {
                        !a["operation"]
                            .as_str()
                            .unwrap_or("")
                            .starts_with("exchange.")
                    });
                }
                body = v.to_string();
            }
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}
