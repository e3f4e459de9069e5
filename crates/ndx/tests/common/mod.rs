//! Shared helpers of the end-to-end tests: start the real `ndx` binary on an ephemeral
//! loopback port with a temporary data directory, and talk HTTP to it.
#![allow(dead_code)]

pub mod proxy;
pub mod push;
pub mod receiver;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The population register of the demo.
pub const POP: &str = "population";
/// The purpose of the demo provinces' agreements on it.
pub const PURPOSE: &str = "public-service-delivery";
/// The fields those agreements release.
pub const ADDRESS: [&str; 5] = [
    "full_name",
    "date_of_birth",
    "province_code",
    "ward_code",
    "street_address",
];

use serde_json::Value;

/// The population schema's fields, in schema order.
#[allow(unused_imports)]
pub use ndx_demo::POPULATION_FIELDS;

/// A citizen ID: 3-digit legacy province prefix, century/sex digit, 2 year digits, 6-digit
/// serial.
pub fn cid(prefix: &str, female: bool, year: u32, serial: u32) -> String {
    let digit = (year / 100 - 19) * 2 + u32::from(female);
    format!("{prefix}{digit}{:02}{serial:06}", year % 100)
}

/// Path of the binary under test.
pub fn ndx_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ndx"))
}

/// A PostgreSQL schema of one test server, dropped when the server goes.
pub struct PgSchema {
    base: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let base = self.base.split('?').next().unwrap_or(&self.base).to_owned();
        let out = Command::new("psql")
            .arg(&base)
            .args([
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("could not drop test schema {} (psql): {out:?}", self.name);
        }
    }
}

/// A store URL on a fresh PostgreSQL schema under `base`, and the guard that drops it.
pub fn pg_fresh_schema(base: &str) -> (String, PgSchema) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("ndx_e2e_{}_{n}_{nanos}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}schema={name}"),
        PgSchema {
            base: base.to_owned(),
            name,
        },
    )
}

/// With `NDX_E2E_STORE=postgres`, servers the harness starts run on a fresh PostgreSQL schema
/// under `NDX_TEST_POSTGRES_URL` instead of the embedded store (`.ci/run` runs the HTTP suites
/// that matter once more this way).
pub fn e2e_postgres() -> Option<(String, PgSchema)> {
    if std::env::var("NDX_E2E_STORE").ok().as_deref() != Some("postgres") {
        return None;
    }
    let base = std::env::var("NDX_TEST_POSTGRES_URL")
        .expect("NDX_E2E_STORE=postgres needs NDX_TEST_POSTGRES_URL");
    Some(pg_fresh_schema(&base))
}

/// A running `ndx` process.
pub struct Server {
    /// The PostgreSQL schema of this server, if it runs on one.
    pub pg: Option<PgSchema>,
    /// The `--store` URL the harness gave the server (a fresh PostgreSQL schema), if any.
    pub store_url: Option<String>,
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The data directory (kept alive as long as the server).
    pub dir: tempfile::TempDir,
    agent: ureq::Agent,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    /// Asserts the status; returns the JSON body.
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "status of {}", self.body);
        self.json()
    }
    /// Asserts a problem+json answer with this status and code; returns the problem.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "status of {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["code"], code, "problem code of {}", self.body);
        assert_eq!(p["status"], status);
        assert_eq!(p["type"], format!("urn:ndx:problem:{code}"));
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
        p
    }
}

fn spawn(args: &[&str], dir: tempfile::TempDir) -> Server {
    spawn_with_env(args, dir, &[])
}

fn spawn_with_env(args: &[&str], dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
    let pg = if args.contains(&"--store") {
        None
    } else {
        e2e_postgres()
    };
    spawn_on(args, dir, pg, env)
}

fn spawn_on(
    args: &[&str],
    dir: tempfile::TempDir,
    pg: Option<(String, PgSchema)>,
    env: &[(&str, &str)],
) -> Server {
    let mut cmd = Command::new(ndx_bin());
    if let Some((url, _)) = &pg {
        cmd.arg("--store").arg(url);
    }
    let mut child = cmd
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("NDX_LOG", "warn")
        // The demo's welfare connector writes a table on the machine's PostgreSQL: only the
        // tests that ask for it (with a table of their own) get one.
        .env("NDX_DEMO_WELFARE_SOURCE", "none")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ndx");
    let base = wait_for_listening(&mut child);
    // Redirects are answers to check (the web UI's), not to follow.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let (store_url, pg) = match pg {
        Some((url, guard)) => (Some(url), Some(guard)),
        None => (None, None),
    };
    Server {
        pg,
        store_url,
        child,
        base,
        dir,
        agent,
    }
}

impl Server {
    /// `ndx demo` with a small country.
    pub fn demo(citizens: usize) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = citizens.to_string();
        spawn(&["demo", "--citizens", &n, "--seed", "7"], dir)
    }

    /// `ndx demo` with a small country and more arguments (`--no-open-data`).
    pub fn demo_with(citizens: usize, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = citizens.to_string();
        let mut all = vec!["demo", "--citizens", &n, "--seed", "7"];
        all.extend_from_slice(args);
        spawn(&all, dir)
    }

    /// `ndx demo` with a small country on another store (e.g. a PostgreSQL URL).
    pub fn demo_on(store: &str, citizens: usize) -> Server {
        Self::demo_on_dir(store, citizens, tempfile::tempdir().expect("tempdir"))
    }

    /// `ndx demo` on another store, keeping its keys in `dir` (a restart reuses both).
    pub fn demo_on_dir(store: &str, citizens: usize, dir: tempfile::TempDir) -> Server {
        let n = citizens.to_string();
        spawn(
            &["demo", "--citizens", &n, "--seed", "7", "--store", store],
            dir,
        )
    }

    /// `ndx demo` with a small country in `dir`, with extra environment variables.
    pub fn demo_on_dir_with_env(
        dir: tempfile::TempDir,
        citizens: usize,
        env: &[(&str, &str)],
    ) -> Server {
        let n = citizens.to_string();
        spawn_with_env(&["demo", "--citizens", &n, "--seed", "7"], dir, env)
    }

    /// Stops the server (SIGKILL) and hands back its data directory.
    pub fn into_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// `ndx serve` on a fresh data directory.
    pub fn fresh() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        spawn(&["serve"], dir)
    }

    /// `ndx serve` on `store` (e.g. a PostgreSQL URL another server also serves) with `dir`
    /// as its data directory.
    pub fn serve_on(store: &str, dir: tempfile::TempDir) -> Server {
        spawn(&["serve", "--store", store], dir)
    }

    /// `ndx demo` with a small country on `store`, with extra environment variables.
    pub fn demo_on_with_env(store: &str, citizens: usize, env: &[(&str, &str)]) -> Server {
        let n = citizens.to_string();
        spawn_with_env(
            &["demo", "--citizens", &n, "--seed", "7", "--store", store],
            tempfile::tempdir().expect("tempdir"),
            env,
        )
    }

    /// A second process of this server's deployment: `ndx serve` on its store, with its audit
    /// keys (and the demo's API keys), and extra environment variables.
    pub fn another_process(&self, store: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in ["audit-signing.key", "audit-subjects.key"] {
            std::fs::copy(self.data_dir().join(file), dir.path().join(file)).expect("audit key");
        }
        // The demo's keys are the store's: the tests read them from either process.
        let keys = self.data_dir().join("demo-keys.json");
        if keys.exists() {
            std::fs::copy(keys, dir.path().join("demo-keys.json")).expect("demo keys");
        }
        spawn_with_env(&["serve", "--store", store], dir, env)
    }

    /// `ndx serve` on an existing data directory.
    pub fn serve_dir(dir: tempfile::TempDir) -> Server {
        spawn(&["serve"], dir)
    }

    /// The demo's keys (role name → secret).
    pub fn keys(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.dir.path().join("demo-keys.json"))
            .expect("demo-keys.json");
        serde_json::from_str(&text).expect("keys JSON")
    }

    /// One demo key.
    pub fn key(&self, role: &str) -> String {
        self.keys()
            .remove(role)
            .unwrap_or_else(|| panic!("no demo key {role}"))
    }

    /// The accesses to a citizen's data on their tracker, newest first, as the auditor reads
    /// them.
    pub fn accesses(&self, citizen: &str) -> Vec<Value> {
        let r = self.get(
            &format!("/api/v1/subjects/{citizen}/accesses"),
            Some(&self.key("auditor")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["accesses"].as_array().expect("accesses").clone()
    }

    /// The id of `key`'s approved agreement on `dataset`.
    pub fn approved_agreement(&self, key: &str, dataset: &str) -> String {
        let mine = self.get("/api/v1/agreements", Some(key)).json();
        mine.as_array()
            .expect("agreements")
            .iter()
            .find(|a| a["dataset"] == dataset && a["status"] == "approved")
            .unwrap_or_else(|| panic!("no approved agreement on {dataset}: {mine}"))["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// The operator key of a fresh installation.
    pub fn operator_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("operator.key"))
            .expect("operator.key")
            .trim()
            .to_owned()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Any request. `key` is sent as a bearer token; `body` with its content type.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Resp {
        let (status, headers, bytes) = self.request_bytes(method, path, key, headers, body);
        Resp {
            status,
            headers,
            body: String::from_utf8(bytes).unwrap_or_default(),
        }
    }

    /// A request whose answer may not be text (a Parquet file): status, headers, bytes.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> (u16, HashMap<String, String>, Vec<u8>) {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        for (h, v) in headers {
            req = req.header(*h, *v);
        }
        let (req, bytes) = match body {
            Some((ct, b)) => (req.header("Content-Type", ct), b.to_vec()),
            None => (req, Vec::new()),
        };
        let req = req.body(bytes).expect("request");
        let mut resp = self.agent.run(req).expect("http");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap_or_default();
        (status, headers, bytes)
    }

    /// `http://127.0.0.1:PORT`, for clients that talk to the socket themselves.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Resp {
        self.request("GET", path, key, &[], None)
    }

    pub fn post_json(&self, path: &str, key: Option<&str>, body: &Value) -> Resp {
        let b = serde_json::to_vec(body).expect("json");
        self.request("POST", path, key, &[], Some(("application/json", &b)))
    }

    pub fn put_json(&self, path: &str, key: Option<&str>, body: &Value) -> Resp {
        let b = serde_json::to_vec(body).expect("json");
        self.request("PUT", path, key, &[], Some(("application/json", &b)))
    }

    /// POST a batch of records.
    pub fn ingest(
        &self,
        dataset: &str,
        query: &str,
        key: &str,
        content_type: &str,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Resp {
        let path = format!("/api/v1/datasets/{dataset}/records{query}");
        let mut headers = Vec::new();
        if let Some(k) = idempotency_key {
            headers.push(("Idempotency-Key", k));
        }
        self.request(
            "POST",
            &path,
            Some(key),
            &headers,
            Some((content_type, body)),
        )
    }

    /// Stops the server gracefully (SIGTERM) and hands back its data directory.
    pub fn stop_into_dir(mut self) -> tempfile::TempDir {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// `--store URL` when the harness chose the store (PostgreSQL runs), for commands run on
    /// this server's data directory.
    pub fn store_args(&self) -> Vec<String> {
        self.store_url
            .iter()
            .flat_map(|u| ["--store".to_owned(), u.clone()])
            .collect()
    }

    /// Stops the server gracefully (SIGTERM) and keeps its data directory and store, to run
    /// commands on them; [`Stopped::serve`] starts `ndx serve` on them again.
    pub fn stop(mut self) -> Stopped {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        Stopped {
            dir: std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")),
            store: self.store_url.take().zip(self.pg.take()),
        }
    }

    /// Kills the server (SIGKILL: no shutdown of any kind) and keeps its data directory and
    /// store, like [`Server::stop`].
    pub fn kill(mut self) -> Stopped {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Stopped {
            dir: std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")),
            store: self.store_url.take().zip(self.pg.take()),
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stopped server's data directory and store.
pub struct Stopped {
    pub dir: tempfile::TempDir,
    store: Option<(String, PgSchema)>,
}

impl Stopped {
    /// `--data-dir DIR` and, on PostgreSQL, `--store URL`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.dir.path().display().to_string(),
        ];
        if let Some((url, _)) = &self.store {
            args.extend(["--store".to_owned(), url.clone()]);
        }
        args
    }

    /// Runs `ndx ARGS` on this data directory and store.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(self.args());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_ndx(&all)
    }

    /// `ndx serve` again on the same data directory and store.
    pub fn serve(self) -> Server {
        spawn_on(&["serve"], self.dir, self.store, &[])
    }

    /// `ndx serve` again on the same data directory and store, with extra environment
    /// variables.
    pub fn serve_with_env(self, env: &[(&str, &str)]) -> Server {
        spawn_on(&["serve"], self.dir, self.store, env)
    }
}

/// Reads a started server's stdout up to its "listening on http://…" line and returns the
/// address; stdout keeps being drained so the child never blocks on a full pipe.
pub fn wait_for_listening(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    break addr.trim().to_owned();
                }
            }
            _ => {
                let status = child.wait().expect("wait");
                panic!("ndx exited before listening (store did not open?): {status}");
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    base
}

/// Runs the `ndx` binary to completion with these arguments.
pub fn run_ndx(args: &[&str]) -> std::process::Output {
    Command::new(ndx_bin())
        .args(args)
        .env("NDX_LOG", "warn")
        .output()
        .expect("run ndx")
}

/// Whether `python3` can import `module` (a checker from PyPI that `.ci/run` installs as
/// `pip`). Outside CI a missing module skips the test that needs it (false, said on stderr);
/// in CI it is a failure.
pub fn python_module(module: &str, pip: &str) -> bool {
    let has = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with {module} is needed: .ci/run installs it (python3 -m pip install {pip})"
        );
        eprintln!("SKIPPED: python3 with {module} not found (python3 -m pip install {pip})");
    }
    has
}
