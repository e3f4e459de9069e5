//! `cargo xtask bench-feed [--store sqlite|postgres]`: the change feed's throughput and its
//! commit-to-delivery latency.
//!
//! 1. builds the release `ndx`, a fresh demo store (its province agreements allow `subscribe`)
//!    and imports the population CSV of bench-import (same rows, same seed);
//! 2. starts `ndx serve` on it and opens `--subscribers` Server-Sent Events streams of
//!    `GET /api/v1/exchange/datasets/population/changes` (the demo's three province systems in
//!    turn, purpose `public-service-delivery`), each resuming after the feed's head;
//! 3. the provider posts `--batches` CSV batches of `--batch-size` changed rows (a new street
//!    address each time) back to back; a batch is taken as committed when its answer arrives;
//! 4. each subscriber notes when each position arrives. Reported: changes delivered per second
//!    to all subscribers together (from the first post to the last change at the last
//!    subscriber), and the latency from a batch's answer to its last change at a subscriber,
//!    p50 and p99 over every (batch, subscriber), with the server's peak RSS.
//!
//! With `--push`, the subscribers are push subscriptions instead (batch size 500), each to a
//! loopback HTTP/1.1 receiver of its own in this process that answers 200 at once and keeps
//! the connection open; the server runs with `push_allow_loopback_http`.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;

use crate::harness::{self, FreshStore, Server, StoreOpts, thousands};
use crate::reads::agent;
use crate::sys::{self, Machine};

/// Options of `bench-feed`.
#[derive(Debug, Args)]
pub struct FeedArgs {
    #[command(flatten)]
    store: StoreOpts,
    /// Rows of the CSV imported before the changes.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2030)]
    seed: u64,
    /// Streams following the feed at once.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Batches of changes posted.
    #[arg(long, default_value_t = 40)]
    batches: usize,
    /// Changed rows per batch.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Working directory [default: target/bench-feed, or target/bench-feed-postgres].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the block for BENCHMARKS.md instead of the plain lines.
    #[arg(long)]
    markdown: bool,
    /// Push subscriptions to loopback receivers instead of Server-Sent Events streams.
    #[arg(long)]
    push: bool,
}

const PURPOSE: &str = "public-service-delivery";
const PROVINCES: [&str; 3] = ["consumer-01", "consumer-79", "consumer-48"];

/// The feed's head as a province sees it.
fn head(base: &str, auth: &str) -> anyhow::Result<u64> {
    let mut resp = agent()
        .get(format!(
            "{base}/api/v1/exchange/datasets/population/changes?limit=1"
        ))
        .header("Authorization", auth)
        .header("Ndx-Purpose", PURPOSE)
        .call()?;
    ensure!(resp.status().as_u16() == 200, "changes: {}", resp.status());
    let page: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
    page["head"].as_u64().context("no head")
}

/// Follows the stream from `after` until position `last`; the arrival of every position.
fn subscribe(
    base: &str,
    auth: &str,
    after: u64,
    last: u64,
    ready: &Barrier,
) -> anyhow::Result<Vec<Instant>> {
    let mut resp = agent()
        .get(format!(
            "{base}/api/v1/exchange/datasets/population/changes"
        ))
        .header("Authorization", auth)
        .header("Ndx-Purpose", PURPOSE)
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", after.to_string())
        .call()?;
    ensure!(resp.status().as_u16() == 200, "stream: {}", resp.status());
    ready.wait();
    let reader = std::io::BufReader::new(resp.body_mut().with_config().limit(u64::MAX).reader());
    let mut arrivals = Vec::with_capacity((last - after) as usize);
    for line in reader.lines() {
        let line = line?;
        if let Some(id) = line.strip_prefix("id: ") {
            let id: u64 = id.parse()?;
            ensure!(
                id == after + arrivals.len() as u64 + 1,
                "position {id} after {}: a gap or a duplicate",
                after + arrivals.len() as u64
            );
            arrivals.push(Instant::now());
            if id == last {
                return Ok(arrivals);
            }
        } else if line.starts_with("event: error") {
            anyhow::bail!("the stream was refused: {line}");
        }
    }
    anyhow::bail!("the stream ended at {}", after + arrivals.len() as u64)
}

/// A loopback push receiver: answers every POST with 200 at once (keeping the connection),
/// checks that positions come without gap (a repeated delivery, allowed by at-least-once, is
/// not counted twice), and returns the arrival of every position up to `last`.
fn receive(listener: std::net::TcpListener, after: u64, last: u64) -> anyhow::Result<Vec<Instant>> {
    use std::io::{Read, Write};
    let arrivals = std::sync::Mutex::new(Vec::with_capacity((last - after) as usize));
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        listener.set_nonblocking(true)?;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            stream.set_nonblocking(false)?;
            // Idle kept-alive connections are looked at now and then, to end with the rest.
            stream.set_read_timeout(Some(Duration::from_millis(100)))?;
            let (arrivals, done) = (&arrivals, &done);
            workers.push(scope.spawn(move || -> anyhow::Result<()> {
                // A failing connection ends the whole receiver (the accept loop too), so the
                // benchmark fails instead of waiting for positions that will not come.
                let failed = |e: anyhow::Error| {
                    done.store(true, std::sync::atomic::Ordering::SeqCst);
                    e
                };
                (|| -> anyhow::Result<()> {
                    let mut reader = std::io::BufReader::new(stream.try_clone()?);
                    let mut writer = stream;
                    loop {
                        let mut length = None;
                        let mut line = String::new();
                        loop {
                            match reader.read_line(&mut line) {
                                Ok(0) => return Ok(()),
                                Ok(_) => break,
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) && line.is_empty() =>
                                {
                                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                                        return Ok(());
                                    }
                                }
                                Err(e) => return Err(e.into()),
                            }
                        }
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h)?;
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':')
                                && k.eq_ignore_ascii_case("content-length")
                            {
                                length = Some(v.trim().parse::<usize>()?);
                            }
                        }
                        let mut body = vec![0; length.context("no content-length")?];
                        reader.read_exact(&mut body)?;
                        let now = Instant::now();
                        let page: serde_json::Value = serde_json::from_slice(&body)?;
                        {
                            let mut got = arrivals.lock().map_err(|_| anyhow::anyhow!("lock"))?;
                            for c in page["changes"].as_array().context("changes")? {
                                let p = c["position"].as_u64().context("position")?;
                                let next = after + got.len() as u64 + 1;
                                ensure!(p <= next, "position {p} after {}: a gap", next - 1);
                                if p == next {
                                    got.push(now);
                                }
                            }
                            if after + got.len() as u64 >= last {
                                done.store(true, std::sync::atomic::Ordering::SeqCst);
                            }
                        }
                        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
                    }
                })()
                .map_err(failed)
            }));
        }
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a receiver panicked"))??;
        }
        Ok(())
    })?;
    arrivals.into_inner().map_err(|_| anyhow::anyhow!("lock"))
}

/// Makes a push subscription of `auth`'s system to population after `after`, posting to
/// `endpoint` in batches of 500.
fn push_subscription(base: &str, auth: &str, after: u64, endpoint: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "dataset": "population", "purpose": PURPOSE, "endpoint": endpoint,
        "after": after, "batch_size": 500
    });
    let mut resp = agent()
        .post(format!("{base}/api/v1/subscriptions"))
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())?;
    let status = resp.status().as_u16();
    ensure!(
        status == 201,
        "subscription: {status} {}",
        resp.body_mut().read_to_string()?
    );
    Ok(())
}

/// The CSV batches: the header, then `batch_size` rows each with a new street address.
fn batches(csv: &std::path::Path, count: usize, size: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut reader = csv::Reader::from_path(csv)?;
    let header = reader.headers()?.clone();
    let street = header
        .iter()
        .position(|h| h == "street_address")
        .context("no street_address column")?;
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    ensure!(!rows.is_empty(), "no rows");
    let mut out = Vec::with_capacity(count);
    for b in 0..count {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header)?;
        for i in 0..size {
            let row = &rows[(b * size + i) % rows.len()];
            let fields: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    if c == street {
                        format!("{} Đường Số {}", b + 1, i + 1)
                    } else {
                        v.to_owned()
                    }
                })
                .collect();
            w.write_record(&fields)?;
        }
        out.push(w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?);
    }
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

pub fn run(args: &FeedArgs) -> anyhow::Result<()> {
    ensure!(
        args.rows >= args.batch_size && args.batches > 0 && args.subscribers > 0,
        "--rows must be at least --batch-size; --batches and --subscribers positive"
    );
    let _admin = args.store.admin()?;
    let root = harness::workspace_root();
    let out = harness::work_dir(&root, args.out.as_deref(), "bench-feed", args.store.store)?;
    let machine = Machine::probe();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_start = sys::load_average();
    let ndx = harness::build_ndx(&root)?;
    let csv = harness::write_population_csv(&out.join("population.csv"), args.rows, args.seed)?;
    let store = FreshStore::create(&ndx, &args.store, &out.join("store"), "feed")?;
    eprintln!("ndx import of {} rows…", csv.rows);
    harness::import(&ndx, &store, &csv, &out)?;
    let posts = batches(&csv.path, args.batches, args.batch_size)?;
    let provider = format!("Bearer {}", store.api_key("population-provider")?);
    let server = if args.push {
        Server::start_with_env(&ndx, &store, &[("NDX_PUSH_ALLOW_LOOPBACK_HTTP", "true")])?
    } else {
        Server::start(&ndx, &store)?
    };
    let auths: Vec<String> = PROVINCES
        .iter()
        .map(|p| store.api_key(p).map(|k| format!("Bearer {k}")))
        .collect::<anyhow::Result<_>>()?;
    let start_head = head(&server.base, &auths[0])?;
    let changes = (args.batches * args.batch_size) as u64;
    let last = start_head + changes;

    eprintln!(
        "{} subscribers, {} batches of {} changes…",
        args.subscribers, args.batches, args.batch_size
    );
    let ready = Arc::new(Barrier::new(args.subscribers + 1));
    let followers: Vec<_> = (0..args.subscribers)
        .map(|i| -> anyhow::Result<_> {
            let (base, auth, ready) = (
                server.base.clone(),
                auths[i % auths.len()].clone(),
                ready.clone(),
            );
            if args.push {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let endpoint = format!("http://{}/ndx", listener.local_addr()?);
                push_subscription(&base, &auth, start_head, &endpoint)?;
                Ok(std::thread::spawn(move || {
                    ready.wait();
                    receive(listener, start_head, last)
                }))
            } else {
                Ok(std::thread::spawn(move || {
                    subscribe(&base, &auth, start_head, last, &ready)
                }))
            }
        })
        .collect::<anyhow::Result<_>>()?;
    ready.wait();
    let started = Instant::now();
    let mut committed = Vec::with_capacity(posts.len());
    let client = agent();
    for body in &posts {
        let mut resp = client
            .post(format!(
                "{}/api/v1/datasets/population/records",
                server.base
            ))
            .header("Authorization", &provider)
            .header("Content-Type", "text/csv")
            .send(body.as_slice())?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        ensure!(status == 200, "batch: {status} {text}");
        ensure!(
            text.contains(&format!("\"updated\":{}", args.batch_size)),
            "a batch did not update every row: {text}"
        );
        committed.push(Instant::now());
    }
    let post_wall = started.elapsed();
    let mut latencies = Vec::new();
    let mut finished = started;
    for f in followers {
        let arrivals = f
            .join()
            .map_err(|_| anyhow::anyhow!("a subscriber panicked"))??;
        for (b, at) in committed.iter().enumerate() {
            let done = arrivals[(b + 1) * args.batch_size - 1];
            latencies.push(done.saturating_duration_since(*at));
        }
        finished = finished.max(*arrivals.last().context("no arrival")?);
    }
    let wall = finished.duration_since(started);
    let peak = sys::vm_hwm_kib(server.pid())? as f64 / 1024.0;
    drop(server);
    drop(store);
    latencies.sort_unstable();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let delivered = changes * args.subscribers as u64;
    let rate = delivered as f64 / wall.as_secs_f64();
    let commit_rate = changes as f64 / post_wall.as_secs_f64();

    let mut o = String::new();
    if args.markdown {
        writeln!(
            o,
            "`cargo xtask bench-feed{}{} --markdown`, {date}, on {}; {} rows imported; load average {load_start:.2} at start, {:.2} at end.\n",
            args.store.flag(),
            if args.push { " --push" } else { "" },
            machine.describe(),
            thousands(csv.rows),
            sys::load_average()
        )?;
        writeln!(
            o,
            "| subscribers | batches × changes | committed changes/s | delivered changes/s (all subscribers) | commit-to-delivery p50 | p99 | server peak RSS |"
        )?;
        writeln!(o, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |")?;
        writeln!(
            o,
            "| {} | {} × {} | {} | {} | {:.1} ms | {:.1} ms | {peak:.0} MiB |",
            args.subscribers,
            args.batches,
            args.batch_size,
            thousands(commit_rate as u64),
            thousands(rate as u64),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        )?;
    } else {
        writeln!(
            o,
            "{} subscribers, {} × {} changes: committed {commit_rate:.0}/s, delivered {rate:.0}/s to all, commit-to-delivery p50 {:.1} ms p99 {:.1} ms, server peak {peak:.0} MiB",
            args.subscribers,
            args.batches,
            args.batch_size,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        )?;
    }
    print!("{o}");
    Ok(())
}
