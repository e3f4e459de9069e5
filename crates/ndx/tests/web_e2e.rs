//! The browser journeys of the web UI: a real headless Chromium (Debian's `chromium` and
//! `chromedriver`, which `.ci/run` installs) driven by Selenium through
//! `tests/e2e/journeys.py` against a running demo — the public finds and downloads an open
//! dataset with a diacritic-free search; a citizen signs in and sees the access a consumer
//! just made — with axe-core (npm, installed by `.ci/run` into `target/e2e`) injected into
//! every main page at desktop and phone widths: no violation of serious or critical impact.
//! Screenshots of each page at both widths go to `NDX_SCREENSHOTS` (the committed ones are
//! made with `NDX_SCREENSHOTS=docs/screenshots`), else to `target/screenshots`.

mod common;

use std::path::{Path, PathBuf};

use common::Server;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the journeys need, or why they cannot run (a failure in CI, a skip elsewhere).
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let axe = workspace().join("target/e2e/node_modules/axe-core/axe.min.js");
    let chromium = Path::new("/usr/bin/chromium");
    let driver = Path::new("/usr/bin/chromedriver");
    let missing: Vec<String> = [
        (
            chromium.exists(),
            "Debian's chromium (apt-get install chromium)".to_owned(),
        ),
        (
            driver.exists(),
            "Debian's chromedriver (apt-get install chromium-driver)".to_owned(),
        ),
        (
            axe.exists(),
            format!("axe-core at {} (npm install axe-core)", axe.display()),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the browser journeys need {}: .ci/run installs them",
            missing.join(", ")
        );
        eprintln!("SKIPPED: the browser journeys need {}", missing.join(", "));
        return None;
    }
    if !common::python_module("selenium", "selenium==4.27.1") {
        return None;
    }
    let shots = std::env::var_os("NDX_SCREENSHOTS")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace().join(p)
            }
        })
        .unwrap_or_else(|| workspace().join("target/screenshots"));
    Some((axe, shots))
}

#[test]
fn each_users_main_journey_works_in_a_real_browser_without_serious_accessibility_violations() {
    let Some((axe, shots)) = browser_tools() else {
        return;
    };
    let s = Server::demo(300);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/journeys.py");
    let keys = s.data_dir().join("demo-keys.json");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(s.base_url())
        .arg(&keys)
        .arg(&axe)
        .arg(&shots)
        .env("SE_OFFLINE", "true")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "journeys failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "home",
        "open-data",
        "package",
        "my-data",
        "provider",
        "import",
        "catalogue",
        "agreement",
        "reconciliation",
        "indicators",
    ] {
        for width in ["desktop", "phone"] {
            let shot = shots.join(format!("{page}-{width}.png"));
            assert!(
                std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
                "no screenshot {}",
                shot.display()
            );
        }
    }
}
