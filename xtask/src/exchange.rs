//! `cargo xtask bench-exchange [--store sqlite|postgres]`: governed lookups and bulk extract.
//!
//! 1. builds the release `ndx`, a fresh demo store (its sharing agreements included) and
//!    imports the population CSV of bench-import (same rows, same seed);
//! 2. starts `ndx serve` on it, and a bare axum JSON endpoint (`xtask bare-json`, a child
//!    process with a multi-threaded runtime) that answers `GET /records/{key}` with a record
//!    of the same shape and no work at all: the ceiling of this machine's HTTP stack;
//! 3. for each `--clients N`: N threads, one keep-alive connection each, send requests back to
//!    back for keys drawn uniformly from the CSV — first to the bare endpoint, then governed
//!    lookups (`GET /api/v1/exchange/datasets/population/records/{key}` as the civil-service
//!    register, purpose `cross-checking`: the agreement check, projection, consent rule and a
//!    durable audit event with the subject before each answer) — `--warmup` seconds discarded,
//!    `--seconds` measured; requests/s, p50/p99, the ndx server's peak RSS and threads;
//! 4. one bulk extract of the whole dataset (NDJSON), timed from the request to the last
//!    line, with the server's RSS before and its peak after.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;

use crate::harness::{self, FreshStore, Server, StoreOpts, thousands};
use crate::reads::{ClientStats, agent, load_with, read_keys};
use crate::sys::{self, Machine};

/// Options of `bench-exchange`.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    #[command(flatten)]
    store: StoreOpts,
    /// Rows of the CSV imported before the reads.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2030)]
    seed: u64,
    /// Concurrent client threads (one connection each), one measurement each.
    #[arg(long, value_delimiter = ',', default_values_t = [64, 256])]
    clients: Vec<usize>,
    /// Measured seconds per client count.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up seconds before each measurement (not counted).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Working directory [default: target/bench-exchange, or target/bench-exchange-postgres].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the block for BENCHMARKS.md instead of the plain table.
    #[arg(long)]
    markdown: bool,
}

/// One measured load.
struct Level {
    target: &'static str,
    clients: usize,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    server_rss_mib: Option<f64>,
    server_threads: Option<u64>,
}

fn level(
    target: &'static str,
    clients: usize,
    wall: Duration,
    stats: Vec<ClientStats>,
    server: Option<u32>,
) -> anyhow::Result<Level> {
    let mut latencies: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(Duration::ZERO, |&us| Duration::from_micros(u64::from(us)))
    };
    let ok: u64 = stats.iter().map(|s| s.ok).sum();
    let errors: u64 = stats.iter().map(|s| s.errors).sum();
    Ok(Level {
        target,
        clients,
        requests: ok + errors,
        errors,
        first_error: stats.into_iter().find_map(|s| s.first_error),
        per_sec: ok as f64 / wall.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        server_rss_mib: server
            .map(|pid| sys::vm_hwm_kib(pid).map(|k| k as f64 / 1024.0))
            .transpose()?,
        server_threads: server.map(threads).transpose()?,
    })
}

/// Threads of a running process (`Threads:` in /proc/PID/status).
fn threads(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no Threads in /proc/PID/status")
}

/// Resident memory now of a running process, KiB (`VmRSS`).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// GET `url` with `headers`; `Ok` for a 200 whose body holds `"key":"KEY"`.
fn get_key(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    key: &str,
) -> Result<(), String> {
    let mut req = agent.get(url);
    for (h, v) in headers {
        req = req.header(*h, *v);
    }
    let mut resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    if status != 200 || !body.contains(&format!("\"key\":\"{key}\"")) {
        return Err(format!("GET {url}: {status} {body}"));
    }
    Ok(())
}

/// The bare endpoint, a child process; killed when dropped.
struct Bare {
    child: Child,
    base: String,
}

impl Bare {
    fn start() -> anyhow::Result<Bare> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("bare-json")
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = match lines.next() {
            Some(line) => line?
                .strip_prefix("listening on ")
                .context("bare-json did not say where it listens")?
                .trim()
                .to_owned(),
            None => bail!("bare-json exited"),
        };
        Ok(Bare { child, base })
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `xtask bare-json`: an axum JSON endpoint that does nothing but answer.
pub fn bare_json() -> anyhow::Result<()> {
    use axum::extract::Path;
    use axum::routing::get;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/records/{key}",
            get(|Path(key): Path<String>| async move {
                axum::Json(serde_json::json!({
                    "key": key, "version": 1, "recorded_at": "2026-01-01T00:00:00Z",
                    "data": {"citizen_id": key, "full_name": "Nguyễn Văn An", "sex": "1",
                             "date_of_birth": "1990-01-02"},
                    "agreement": "agr-000000000000",
                }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

pub fn run(args: &ExchangeArgs) -> anyhow::Result<()> {
    ensure!(
        args.rows > 0 && args.seconds > 0,
        "--rows and --seconds must be positive"
    );
    // Checks the PostgreSQL options (and that the server answers) before anything is built.
    let _admin = args.store.admin()?;
    let root = harness::workspace_root();
    let out = harness::work_dir(
        &root,
        args.out.as_deref(),
        "bench-exchange",
        args.store.store,
    )?;
    let machine = Machine::probe();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_start = sys::load_average();
    let ndx = harness::build_ndx(&root)?;
    let csv = harness::write_population_csv(&out.join("population.csv"), args.rows, args.seed)?;
    let keys = read_keys(&csv.path)?;
    let store = FreshStore::create(&ndx, &args.store, &out.join("store"), "exchange")?;
    eprintln!("ndx import of {} rows…", csv.rows);
    harness::import(&ndx, &store, &csv, &out)?;
    let auth = format!("Bearer {}", store.api_key("civil-service-consumer")?);
    let server = Server::start(&ndx, &store)?;
    let bare = Bare::start()?;
    let lookup_headers = [
        ("Authorization", auth.as_str()),
        ("Ndx-Purpose", "cross-checking"),
    ];
    let lookup = |agent: &ureq::Agent, key: &str| {
        get_key(
            agent,
            &format!(
                "{}/api/v1/exchange/datasets/population/records/{key}",
                server.base
            ),
            &lookup_headers,
            key,
        )
    };
    let bare_get = |agent: &ureq::Agent, key: &str| {
        get_key(agent, &format!("{}/records/{key}", bare.base), &[], key)
    };
    lookup(&agent(), &keys[0]).map_err(anyhow::Error::msg)?;
    bare_get(&agent(), &keys[0]).map_err(anyhow::Error::msg)?;

    let idle_rss = rss_kib(server.pid())? as f64 / 1024.0;
    let mut levels = Vec::new();
    for &clients in &args.clients {
        for (target, request) in [
            (
                "bare axum JSON",
                &bare_get as &(dyn Fn(&ureq::Agent, &str) -> Result<(), String> + Sync),
            ),
            ("governed lookup", &lookup),
        ] {
            eprintln!(
                "{target}, {clients} clients: {} s warm-up, {} s measured…",
                args.warmup, args.seconds
            );
            if args.warmup > 0 {
                load_with(
                    &keys,
                    clients,
                    1000,
                    Duration::from_secs(args.warmup),
                    request,
                );
            }
            let start = Instant::now();
            let stats = load_with(
                &keys,
                clients,
                7,
                Duration::from_secs(args.seconds),
                request,
            );
            let l = level(
                target,
                clients,
                start.elapsed(),
                stats,
                (target == "governed lookup").then(|| server.pid()),
            )?;
            eprintln!(
                "  {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                l.per_sec,
                l.p50.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.errors
            );
            if let Some(e) = &l.first_error {
                eprintln!("  first error: {e}");
            }
            levels.push(l);
        }
    }

    eprintln!("bulk extract of {} records…", csv.rows);
    let before = rss_kib(server.pid())? as f64 / 1024.0;
    let start = Instant::now();
    let mut resp = agent()
        .get(format!(
            "{}/api/v1/exchange/datasets/population/extract",
            server.base
        ))
        .header("Authorization", &auth)
        .header("Ndx-Purpose", "cross-checking")
        .header("Accept", "application/x-ndjson")
        .call()?;
    ensure!(resp.status().as_u16() == 200, "extract: {}", resp.status());
    let reader = std::io::BufReader::new(resp.body_mut().with_config().limit(u64::MAX).reader());
    let mut lines = 0u64;
    for line in reader.lines() {
        line?;
        lines += 1;
    }
    let extract_wall = start.elapsed();
    let extract_peak = sys::vm_hwm_kib(server.pid())? as f64 / 1024.0;
    ensure!(
        lines == csv.rows,
        "the extract returned {lines} records of {}",
        csv.rows
    );
    let extract_rate = lines as f64 / extract_wall.as_secs_f64();
    eprintln!(
        "  {lines} records in {:.2} s: {extract_rate:.0} records/s",
        extract_wall.as_secs_f64()
    );
    drop(bare);
    drop(server);
    drop(store);

    let mut o = String::new();
    let md = args.markdown;
    if md {
        writeln!(
            o,
            "`cargo xtask bench-exchange{} --markdown`, {date}, on {}; {} rows imported; load average {load_start:.2} at start, {:.2} at end. Server idle RSS {idle_rss:.0} MiB.\n",
            args.store.flag(),
            machine.describe(),
            thousands(csv.rows),
            sys::load_average()
        )?;
        writeln!(
            o,
            "| target | clients | requests/s | p50 ms | p99 ms | × bare | server peak RSS | server threads | errors |"
        )?;
        writeln!(o, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")?;
    }
    let mut bare_rate = 0.0;
    for l in &levels {
        if l.target == "bare axum JSON" {
            bare_rate = l.per_sec;
        }
        let ratio = if l.target == "bare axum JSON" {
            "1".to_owned()
        } else {
            format!("{:.2}", l.per_sec / bare_rate)
        };
        let rss = l
            .server_rss_mib
            .map_or("–".to_owned(), |m| format!("{m:.0} MiB"));
        let th = l.server_threads.map_or("–".to_owned(), |t| t.to_string());
        if md {
            writeln!(
                o,
                "| {} | {} | {} | {:.2} | {:.2} | {ratio} | {rss} | {th} | {} |",
                l.target,
                l.clients,
                thousands(l.per_sec as u64),
                l.p50.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.errors
            )?;
        } else {
            writeln!(
                o,
                "{:16} {:4} clients {:>9.0} req/s p50 {:6.2} ms p99 {:6.2} ms ×bare {ratio:>5} rss {rss:>8} threads {th:>4} errors {} of {}",
                l.target,
                l.clients,
                l.per_sec,
                l.p50.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.errors,
                l.requests
            )?;
        }
    }
    if md {
        writeln!(
            o,
            "\nBulk extract (NDJSON, whole dataset): {} records in {:.2} s, **{} records/s**; server RSS {before:.0} MiB before, peak {extract_peak:.0} MiB.",
            thousands(lines),
            extract_wall.as_secs_f64(),
            thousands(extract_rate as u64)
        )?;
    } else {
        writeln!(
            o,
            "extract: {lines} records in {:.2} s, {extract_rate:.0} records/s; server RSS {before:.0} MiB before, peak {extract_peak:.0} MiB",
            extract_wall.as_secs_f64()
        )?;
    }
    print!("{o}");
    let errors: u64 = levels.iter().map(|l| l.errors).sum();
    ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}
