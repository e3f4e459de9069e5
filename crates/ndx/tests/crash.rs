//! Durability under `kill -9`: once a batch is acknowledged it survives SIGKILL of the process
//! at any moment, an unacknowledged batch is all-or-nothing, and the store opens cleanly
//! afterwards.
//!
//! The moments of the kills come from a seed drawn from the clock and printed; set
//! `NDX_CRASH_SEED` to replay one.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Records per HTTP batch.
const BATCH: u64 = 200;
/// Citizens of the demo country the tests start from.
const CITIZENS: u64 = 1000;
/// Rows of the CLI import that gets killed.
const BIG_ROWS: u64 = 200_000;

/// A tiny deterministic generator (xorshift64*): the test crate has no `rand`.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Rng {
        let seed = std::env::var("NDX_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("crash seed {seed} (set NDX_CRASH_SEED={seed} to replay)");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

const NAMES: &[(&str, &str)] = &[
    ("Nguyễn Văn An", "Trần Thị Bình"),
    ("Lê Hoàng Cường", "Phạm Thị Dung"),
    ("Võ Minh Đức", "Đặng Thu Hà"),
];

/// One valid population row and its key: distinct keys for `n` < 10,000,000, born in the
/// decade from `first_year`. Birth years 1900–1929 are never drawn by the demo country (its oldest citizens are
/// 95 on 2026-01-01), so these keys never collide with its citizens.
fn person_row(n: u64, first_year: u64) -> (String, String) {
    let female = n % 2 == 1;
    let year = first_year + (n / 1_000_000) % 10;
    let serial = n % 1_000_000;
    let id = format!("001{}{:02}{serial:06}", u8::from(female), year % 100);
    let (male_name, female_name) = NAMES[(n % NAMES.len() as u64) as usize];
    let row = format!(
        "{id},{},{},{year}-{:02}-{:02},01,00004\n",
        if female { female_name } else { male_name },
        if female { 2 } else { 1 },
        n % 12 + 1,
        n % 28 + 1,
    );
    (id, row)
}

const HEADER: &str = "citizen_id,full_name,sex,date_of_birth,province_code,ward_code\n";

/// Record `j` of HTTP batch `b` (birth years 1900–1909).
fn http_person(b: u64, j: u64) -> (String, String) {
    person_row(b * BATCH + j, 1900)
}

fn http_batch_body(b: u64) -> Vec<u8> {
    let mut body = String::from(HEADER);
    for j in 0..BATCH {
        body.push_str(&http_person(b, j).1);
    }
    body.into_bytes()
}

fn http_batch_key(b: u64) -> String {
    format!("crash-{b:05}")
}

/// Builds the demo country of [`CITIZENS`] into `dir` and returns the population provider's key.
/// On `store` (a PostgreSQL URL) when given, else the embedded store of `dir`.
fn demo_country(dir: &Path, store: Option<&str>) -> String {
    let n = CITIZENS.to_string();
    let mut args = vec![
        "demo",
        "--citizens",
        &n,
        "--seed",
        "7",
        "--no-serve",
        "--data-dir",
        dir.to_str().expect("utf-8 temp dir"),
    ];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    let out = common::run_ndx(&args);
    assert!(
        out.status.success(),
        "ndx demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("demo-keys.json")).expect("demo-keys.json"),
    )
    .expect("keys JSON");
    keys["population-provider"]
        .as_str()
        .expect("population-provider key")
        .to_owned()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A running `ndx serve` whose pid we own, so that we can SIGKILL it.
struct Node {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Node {
    fn serve(dir: &Path, store: Option<&str>) -> Node {
        let mut child = Command::new(common::ndx_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(store.iter().flat_map(|url| ["--store", url]))
            .env("NDX_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ndx serve");
        let base = common::wait_for_listening(&mut child);
        Node {
            child,
            base,
            agent: agent(),
        }
    }

    fn get(&self, path: &str, key: &str) -> (u16, String) {
        let mut resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {key}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("body");
        (status, body)
    }

    fn health(&self) {
        let (status, body) = self.get("/health", "none");
        assert_eq!(status, 200, "/health after restart: {body}");
    }

    fn count(&self, key: &str) -> u64 {
        let (status, body) = self.get("/api/v1/datasets/population", key);
        assert_eq!(status, 200, "dataset info: {body}");
        let v: Value = serde_json::from_str(&body).expect("dataset info JSON");
        v["records"].as_u64().expect("records count")
    }

    /// The current record of `id`: `Some(batch_id)` if present, `None` if absent.
    fn record_batch(&self, key: &str, id: &str) -> Option<String> {
        let (status, body) = self.get(&format!("/api/v1/datasets/population/records/{id}"), key);
        match status {
            200 => {
                let v: Value = serde_json::from_str(&body).expect("record JSON");
                assert_eq!(v["key"], id);
                Some(v["batch_id"].as_str().expect("batch_id").to_owned())
            }
            404 => None,
            _ => panic!("GET record {id}: {status} {body}"),
        }
    }

    /// Every current key of the population dataset.
    fn all_keys(&self, key: &str) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/api/v1/datasets/population/records?limit=1000".to_owned(),
                Some(c) => format!("/api/v1/datasets/population/records?limit=1000&cursor={c}"),
            };
            let (status, body) = self.get(&path, key);
            assert_eq!(status, 200, "list: {body}");
            let page: Value = serde_json::from_str(&body).expect("page JSON");
            for r in page["records"].as_array().expect("records") {
                keys.insert(r["key"].as_str().expect("key").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return keys,
            }
        }
    }

    /// SIGKILL (`Child::kill` sends SIGKILL on Unix) and reap.
    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL ndx");
        self.child.wait().expect("reap ndx");
    }

    /// SIGTERM and wait; the server must drain and exit cleanly.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = self.child.wait().expect("wait ndx");
        assert!(
            status.success(),
            "ndx serve exited with {status} on SIGTERM"
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the client saw of one batch.
enum Outcome {
    /// 200 with the batch's fresh report.
    Acked(u64),
    /// The connection broke (the server died) before an answer.
    Lost(u64),
}

/// Sends batches `first..` back to back until the server goes away. Reports the first
/// acknowledgement on `first_ack` so the killer can wait for a busy server.
fn client(
    agent: ureq::Agent,
    base: String,
    key: String,
    first: u64,
    first_ack: mpsc::Sender<()>,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for b in first.. {
        let sent = agent
            .post(format!("{base}/api/v1/datasets/population/records"))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "text/csv")
            .header("Idempotency-Key", http_batch_key(b))
            .send(&http_batch_body(b)[..]);
        let answer = sent.and_then(|mut r| {
            let status = r.status().as_u16();
            r.body_mut().read_to_string().map(|body| (status, body))
        });
        match answer {
            Ok((200, body)) => {
                let report: Value = serde_json::from_str(&body).expect("report JSON");
                assert_eq!(report["status"], "committed", "{body}");
                assert_eq!(report["created"], BATCH, "{body}");
                assert_eq!(report["replayed"], false, "{body}");
                out.push(Outcome::Acked(b));
                let _ = first_ack.send(());
            }
            Ok((status, body)) => panic!("batch {b}: unexpected {status}: {body}"),
            Err(_) => {
                out.push(Outcome::Lost(b));
                return out;
            }
        }
    }
    out
}

/// Checks the store after a restart. `acked` batches must be there in full; each `lost`
/// batch (sent, never answered) must be all there or all absent. A lost batch may have
/// committed with its answer lost on the way, so it may add exactly one more batch to the
/// count; the test then resends it with its Idempotency-Key, which must replay the stored
/// report if it committed, or apply it now if not, and moves it to `acked`.
fn verify(node: &Node, key: &str, acked: &mut Vec<u64>, lost: &mut Vec<u64>) {
    node.health();
    let mut present_lost = 0;
    let mut was_present = Vec::new();
    for &b in lost.iter() {
        let present = (0..BATCH)
            .filter(|&j| node.record_batch(key, &http_person(b, j).0).is_some())
            .count() as u64;
        assert!(
            present == 0 || present == BATCH,
            "unacknowledged batch {b} is half-written: {present} of {BATCH} records present"
        );
        if present == BATCH {
            present_lost += 1;
        }
        eprintln!(
            "unacknowledged batch {b}: {}",
            if present == BATCH {
                "committed (its answer was lost)"
            } else {
                "absent"
            }
        );
        was_present.push(present == BATCH);
    }
    assert_eq!(
        node.count(key),
        CITIZENS + BATCH * (acked.len() as u64 + present_lost),
        "records after restart: {} acknowledged batches, {present_lost} unacknowledged present",
        acked.len()
    );
    for &b in acked.iter() {
        for j in [0, BATCH / 2, BATCH - 1] {
            let id = http_person(b, j).0;
            assert_eq!(
                node.record_batch(key, &id).as_deref(),
                Some(http_batch_key(b).as_str()),
                "record {id} of acknowledged batch {b} is missing"
            );
        }
    }
    for (b, present) in lost.drain(..).zip(was_present) {
        let mut resp = node
            .agent
            .post(format!("{}/api/v1/datasets/population/records", node.base))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "text/csv")
            .header("Idempotency-Key", http_batch_key(b))
            .send(&http_batch_body(b)[..])
            .expect("resend");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        assert_eq!(status, 200, "resending batch {b}: {body}");
        let report: Value = serde_json::from_str(&body).expect("report JSON");
        assert_eq!(
            report["replayed"], present,
            "batch {b} resent: replayed must say whether it had committed: {body}"
        );
        assert_eq!(report["created"], BATCH, "{body}");
        acked.push(b);
    }
}

/// A province's system following the population register's change feed through kills and
/// restarts: it counts every position, so a gap or a duplicate fails the test.
struct FeedCounter {
    key: String,
    seen: u64,
    versions: BTreeSet<(String, u64)>,
}

impl FeedCounter {
    fn new(dir: &Path) -> FeedCounter {
        let keys: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("demo-keys.json")).expect("demo-keys.json"),
        )
        .expect("keys JSON");
        FeedCounter {
            key: keys["consumer-01"]
                .as_str()
                .expect("consumer key")
                .to_owned(),
            seen: 0,
            versions: BTreeSet::new(),
        }
    }

    /// Pages after the last position seen until the feed's head; `false` when the server went
    /// away meanwhile (what was read stays counted).
    fn catch_up(&mut self, agent: &ureq::Agent, base: &str) -> bool {
        loop {
            let answer = agent
                .get(format!(
                    "{base}/api/v1/exchange/datasets/population/changes?after={}&limit=500",
                    self.seen
                ))
                .header("Authorization", format!("Bearer {}", self.key))
                .header("Ndx-Purpose", "public-service-delivery")
                .call()
                .and_then(|mut r| {
                    let status = r.status().as_u16();
                    r.body_mut().read_to_string().map(|b| (status, b))
                });
            let Ok((status, body)) = answer else {
                return false;
            };
            assert_eq!(status, 200, "changes after {}: {body}", self.seen);
            let page: Value = serde_json::from_str(&body).expect("page JSON");
            let before = self.seen;
            for c in page["changes"].as_array().expect("changes") {
                let position = c["position"].as_u64().expect("position");
                assert_eq!(position, self.seen + 1, "a gap or a duplicate in the feed");
                self.seen = position;
                let version = (
                    c["key"].as_str().expect("key").to_owned(),
                    c["version"].as_u64().expect("version"),
                );
                assert!(self.versions.insert(version), "a version twice in the feed");
            }
            if page["next"].as_u64() == Some(before) {
                return true;
            }
        }
    }

    /// Follows the feed of a running node until it goes away.
    fn follow(mut self, agent: ureq::Agent, base: String) -> FeedCounter {
        while self.catch_up(&agent, &base) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }
}

#[test]
fn acknowledged_http_batches_survive_kill_9() {
    let mut rng = Rng::from_env_or_clock();
    let dir = tempfile::tempdir().expect("tempdir");
    // With NDX_E2E_STORE=postgres, the same on a fresh PostgreSQL schema.
    let pg = common::e2e_postgres();
    let store = pg.as_ref().map(|(url, _)| url.as_str());
    let key = demo_country(dir.path(), store);
    let mut acked: Vec<u64> = Vec::new();
    let mut lost: Vec<u64> = Vec::new();
    let mut next = 0u64;
    let mut feed = FeedCounter::new(dir.path());
    let mut demo_head = None;
    for round in 0..3 {
        let node = Node::serve(dir.path(), store);
        verify(&node, &key, &mut acked, &mut lost);
        // Whatever committed before the kill is in the feed once, after what was read.
        assert!(
            feed.catch_up(&node.agent, &node.base),
            "the feed after a restart"
        );
        demo_head.get_or_insert(feed.seen);
        let follower = {
            let (agent, base) = (node.agent.clone(), node.base.clone());
            std::thread::spawn(move || feed.follow(agent, base))
        };
        let (tx, rx) = mpsc::channel();
        let client = {
            let (agent, base, key) = (node.agent.clone(), node.base.clone(), key.clone());
            std::thread::spawn(move || client(agent, base, key, next, tx))
        };
        rx.recv_timeout(Duration::from_secs(60))
            .expect("no batch acknowledged within 60 s");
        // Batches go back to back, so the kill lands while one is being received, validated,
        // written or committed, or while its answer is on the way.
        let delay = rng.range(200, 800);
        std::thread::sleep(Duration::from_millis(delay));
        node.kill9();
        let outcomes = client.join().expect("client thread");
        let (mut n_acked, mut n_lost) = (0, 0);
        for o in outcomes {
            match o {
                Outcome::Acked(b) => {
                    acked.push(b);
                    n_acked += 1;
                    next = b + 1;
                }
                Outcome::Lost(b) => {
                    lost.push(b);
                    n_lost += 1;
                    next = b + 1;
                }
            }
        }
        eprintln!("round {round}: killed after {delay} ms, {n_acked} acknowledged, {n_lost} lost");
        assert_eq!(n_lost, 1, "the kill must break exactly the batch in flight");
        feed = follower.join().expect("feed follower");
    }
    let node = Node::serve(dir.path(), store);
    verify(&node, &key, &mut acked, &mut lost);
    // The consumer saw every version once, without gap, across three kills: the demo's, then
    // each committed batch's.
    assert!(
        feed.catch_up(&node.agent, &node.base),
        "the feed at the end"
    );
    let demo_head = demo_head.expect("a first round");
    assert_eq!(feed.seen, demo_head + BATCH * acked.len() as u64);
    assert_eq!(feed.versions.len() as u64, feed.seen);
    // Every batch is now acknowledged: all of its records must be there, nothing else new.
    let keys = node.all_keys(&key);
    assert_eq!(keys.len() as u64, CITIZENS + BATCH * acked.len() as u64);
    for &b in &acked {
        for j in 0..BATCH {
            let id = http_person(b, j).0;
            assert!(keys.contains(&id), "record {id} of batch {b} is missing");
        }
    }
    node.stop();
}

#[test]
fn killed_cli_import_leaves_nothing_and_reruns() {
    let mut rng = Rng::from_env_or_clock();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = demo_country(dir.path(), None);
    let data_dir = dir.path().to_str().expect("utf-8 temp dir");

    let big = dir.path().join("big.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&big).expect("big.csv"));
        w.write_all(HEADER.as_bytes()).expect("write");
        for n in 0..BIG_ROWS {
            // Birth years 1920–1929: disjoint from the HTTP test's keys as well.
            w.write_all(person_row(n, 1920).1.as_bytes())
                .expect("write");
        }
        w.flush().expect("flush");
    }
    let big = big.to_str().expect("utf-8 path");
    let import = || {
        let mut cmd = Command::new(common::ndx_bin());
        cmd.args(["import", "--quiet", "--dataset", "population"])
            .args(["--batch-id", "big-1", "--data-dir", data_dir, big])
            .env("NDX_LOG", "warn");
        cmd
    };

    let mut child = import()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ndx import");
    let delay = rng.range(400, 700);
    std::thread::sleep(Duration::from_millis(delay));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the import of {BIG_ROWS} rows finished within {delay} ms: nothing to kill mid-import"
    );
    child.kill().expect("SIGKILL ndx import");
    child.wait().expect("reap ndx import");
    eprintln!("import killed after {delay} ms");

    // The store opens cleanly and holds nothing of the killed batch.
    let node = Node::serve(dir.path(), None);
    node.health();
    assert_eq!(node.count(&key), CITIZENS, "a killed import left records");
    let first = person_row(0, 1920).0;
    assert_eq!(node.record_batch(&key, &first), None);
    node.stop();

    // The same batch id is not taken: the rerun applies the batch for real.
    let out = import().output().expect("rerun ndx import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rerun failed: {stderr}");
    assert!(
        stderr.contains(": committed") && !stderr.contains("already applied"),
        "rerun did not commit afresh: {stderr}"
    );

    let node = Node::serve(dir.path(), None);
    assert_eq!(node.count(&key), CITIZENS + BIG_ROWS);
    for n in [0, BIG_ROWS / 2, BIG_ROWS - 1] {
        let id = person_row(n, 1920).0;
        assert_eq!(
            node.record_batch(&key, &id).as_deref(),
            Some("big-1"),
            "record {id}"
        );
    }
    node.stop();
}
