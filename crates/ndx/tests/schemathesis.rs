//! Schemathesis (PyPI) against the real `ndx demo`: every operation of `/openapi.json`, every
//! check, stateful sequences through the document's links, once per identity (no key, a
//! consumer, the auditor, a provider, the steward, the operator). It must find nothing.
//!
//! Outside CI a machine without schemathesis skips this test and says so; in CI (`CI=true`) a
//! missing schemathesis is a failure (`.ci/run` installs the pinned version). The checks that
//! cannot pass for a reason that is not a server bug are excluded, each for exactly the
//! operations concerned, in `tests/schemathesis.toml`, with the reason beside it.

mod common;

use std::process::Command;
use std::time::Instant;

use common::Server;

/// The version `.ci/run` installs.
const PINNED: &str = "4.32.5";

/// The schemathesis command, if installed.
fn schemathesis() -> Option<Vec<String>> {
    for cmd in [
        &["st"][..],
        &["schemathesis"],
        &["python3", "-m", "schemathesis"],
    ] {
        let ok = Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(cmd.iter().map(|s| (*s).to_owned()).collect());
        }
    }
    None
}

#[test]
fn schemathesis_finds_nothing() {
    let Some(st) = schemathesis() else {
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "schemathesis is not installed: pip install schemathesis=={PINNED}"
        );
        eprintln!(
            "SKIPPED: schemathesis is not installed (pip install schemathesis=={PINNED}); \
             in CI this is a failure"
        );
        return;
    };
    // Subscriptions it makes may only name the loopback host: nothing leaves the machine.
    let server = Server::demo_on_dir_with_env(
        tempfile::tempdir().expect("dir"),
        200,
        &[
            ("NDX_PUSH_ALLOW_LOOPBACK_HTTP", "true"),
            ("NDX_PUSH_ENDPOINT_HOSTS", "127.0.0.1"),
        ],
    );
    let keys = server.keys();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    // The operator runs last: it may revoke its own key (and then every call is a 401).
    let identities = [
        ("no key", None),
        ("consumer", Some("consumer-01")),
        ("auditor", Some("auditor")),
        ("provider", Some("population-provider")),
        ("steward", Some("steward")),
        ("operator", Some("operator")),
    ];
    let mut failures = Vec::new();
    for (who, key) in identities {
        let started = Instant::now();
        // Schemathesis may write files (reports, a database) into its working directory.
        let workdir = server.data_dir();
        let command = |workers: &str| {
            let mut cmd = Command::new(&st[0]);
            cmd.args(&st[1..])
                .arg("--config-file")
                .arg(config)
                .arg("--no-color")
                .arg("run")
                .arg(format!("{}/openapi.json", server.base))
                .args(["--url", &server.base])
                .args(["--checks", "all"])
                .args(["--phases", "examples,coverage,fuzzing,stateful"])
                .args(["--max-examples", "15"])
                .args(["--seed", "2030"])
                .args(["--workers", workers])
                .args(["--request-timeout", "30"])
                .args(["--generation-database", "none"])
                .current_dir(workdir)
                .env("NO_COLOR", "1");
            if let Some(k) = key {
                let secret = keys
                    .get(k)
                    .unwrap_or_else(|| panic!("the demo has no key {k:?}"));
                cmd.args(["--header", &format!("Authorization: Bearer {secret}")]);
            }
            cmd
        };
        let mut out = command("2").output().expect("run schemathesis");
        // CPython 3.11's `ast` is not thread-safe: with two workers, Hypothesis describing a
        // lambda in both threads at once can fail with this interpreter error (not a finding
        // about ndx), and a seeded run can hit it again. That identity runs once more on one
        // worker, so a real finding still fails.
        if String::from_utf8_lossy(&out.stdout).contains("AST constructor recursion depth mismatch")
        {
            eprintln!(
                "schemathesis as {who}: CPython's ast race inside Hypothesis; again on one worker"
            );
            out = command("1").output().expect("run schemathesis");
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "schemathesis as {who}: {} in {:.0} s\n{}",
            out.status,
            started.elapsed().as_secs_f64(),
            stdout
                .lines()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
        if !out.status.success() {
            failures.push(format!(
                "as {who}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "schemathesis found problems:\n{}",
        failures.join("\n\n")
    );
}
