//! `cargo xtask bench-reads [--store sqlite|postgres]`: point-read throughput of the HTTP API.
//!
//! 1. builds the release `ndx`, writes the population CSV of bench-import (same rows, same
//!    seed) and loads it with `ndx import` into a fresh demo store (on PostgreSQL a fresh
//!    schema, dropped at the end);
//! 2. `ndx serve --listen 127.0.0.1:0` on that store;
//! 3. for each `--clients N`: N threads of this process, each with its own keep-alive `ureq`
//!    agent (one loopback connection), send `GET /api/v1/datasets/population/records/{key}`
//!    back to back, with keys drawn uniformly from the CSV's keys by a seeded RNG per thread;
//!    first `--warmup` seconds (discarded), then `--seconds` measured. An error is a transport
//!    failure or any answer but 200 with the key in its body;
//! 4. requests/s, latency percentiles, errors, and the CPU used meanwhile by the server, by
//!    PostgreSQL and by the clients themselves (all on the same machine).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::harness::{self, FreshStore, Server, StoreOpts, thousands};
use crate::pg::Admin;
use crate::sys::{self, Machine};

/// Options of `bench-reads`.
#[derive(Debug, Args)]
pub struct ReadsArgs {
    #[command(flatten)]
    store: StoreOpts,
    /// Rows of the CSV imported before the reads.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2030)]
    seed: u64,
    /// Seed of the key sampling (thread i uses SEED + i).
    #[arg(long, default_value_t = 7)]
    key_seed: u64,
    /// Concurrent client threads, one measurement each.
    #[arg(long, value_delimiter = ',', default_values_t = [8, 32])]
    clients: Vec<usize>,
    /// Measured seconds per client count.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up seconds before each measurement (not counted).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// PostgreSQL: `VACUUM (ANALYZE)` the store's tables after the import, as autovacuum
    /// would (the reads are otherwise planned without statistics).
    #[arg(long)]
    analyze: bool,
    /// Working directory (CSV, store, logs) [default: target/bench-reads, or
    /// target/bench-reads-postgres].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the block for BENCHMARKS.md instead of the plain table.
    #[arg(long)]
    markdown: bool,
}

/// What one client thread saw.
#[derive(Default)]
pub(crate) struct ClientStats {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// Latency of every request (errors included), microseconds.
    pub(crate) latencies: Vec<u32>,
}

/// One measured client count.
struct Level {
    clients: usize,
    wall: Duration,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    /// CPU time of the ndx server, of PostgreSQL, of the client threads.
    server_cpu: Duration,
    pg_cpu: Option<Duration>,
    client_cpu: Duration,
    load_before: f64,
}

impl Level {
    fn requests(&self) -> u64 {
        self.ok + self.errors
    }
    fn per_sec(&self) -> f64 {
        self.requests() as f64 / self.wall.as_secs_f64()
    }
    fn cores(&self, cpu: Duration) -> String {
        format!("{:.2}", cpu.as_secs_f64() / self.wall.as_secs_f64())
    }
}

/// Runs the benchmark.
pub fn run(args: &ReadsArgs) -> anyhow::Result<()> {
    ensure!(args.rows > 0, "--rows must be at least 1");
    ensure!(
        !args.clients.is_empty() && args.clients.iter().all(|&c| c > 0),
        "--clients must be positive"
    );
    ensure!(args.seconds > 0, "--seconds must be at least 1");
    let admin = args.store.admin()?;
    let root = harness::workspace_root();
    let out = harness::work_dir(&root, args.out.as_deref(), "bench-reads", args.store.store)?;
    let machine = Machine::probe();
    let server_desc = admin.as_ref().map(Admin::describe).transpose()?;
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_start = sys::load_average();

    let ndx = harness::build_ndx(&root)?;
    let csv = harness::write_population_csv(&out.join("population.csv"), args.rows, args.seed)?;
    let keys = read_keys(&csv.path)?;
    ensure!(keys.len() as u64 == csv.rows, "read {} keys", keys.len());

    let store = FreshStore::create(&ndx, &args.store, &out.join("store"), "reads")?;
    eprintln!("ndx import of {} rows…", csv.rows);
    let m = harness::import(&ndx, &store, &csv, &out)?;
    let import_line = format!(
        "loaded by `ndx import` in {:.1} s ({} records/s)",
        m.wall.as_secs_f64(),
        thousands((csv.rows as f64 / m.wall.as_secs_f64()) as u64)
    );
    eprintln!("  {import_line}");
    let mut prepared = String::new();
    if let (Some(admin), Some(schema)) = (&admin, &store.schema) {
        if args.analyze {
            for t in schema.tables(admin)? {
                admin.execute(&format!("VACUUM (ANALYZE) {}.{t}", schema.name))?;
            }
            prepared = "; then VACUUM (ANALYZE) of its tables".into();
        } else {
            prepared = "; no VACUUM/ANALYZE afterwards (autovacuum is off on this server)".into();
        }
        admin.checkpoint()?;
    }

    let key = store.api_key("population-provider")?;
    let auth = format!("Bearer {key}");
    let server = Server::start(&ndx, &store)?;
    // One request first: the key is readable and the answer is what the clients expect.
    let probe = one_get(&agent(), &server.base, &auth, &keys[0]);
    ensure!(probe.is_ok(), "GET of {} failed: {probe:?}", keys[0]);

    let mut levels = Vec::new();
    let mut others = 0;
    for &clients in &args.clients {
        eprintln!(
            "{clients} clients: {} s warm-up, {} s measured…",
            args.warmup, args.seconds
        );
        if args.warmup > 0 {
            load(
                &server.base,
                &auth,
                &keys,
                clients,
                args.key_seed + 1000,
                Duration::from_secs(args.warmup),
            );
        }
        if let Some(a) = &admin {
            others = others.max(a.other_sessions()?);
        }
        let load_before = sys::load_average();
        let server_cpu0 = sys::cpu_time(server.pid())?;
        let client_cpu0 = sys::cpu_time(std::process::id())?;
        let pg0 = admin.as_ref().map(Admin::meter).transpose()?;
        let start = Instant::now();
        let stats = load(
            &server.base,
            &auth,
            &keys,
            clients,
            args.key_seed,
            Duration::from_secs(args.seconds),
        );
        let wall = start.elapsed();
        let server_cpu = sys::cpu_time(server.pid())?.saturating_sub(server_cpu0);
        let client_cpu = sys::cpu_time(std::process::id())?.saturating_sub(client_cpu0);
        let pg_cpu = match (&admin, pg0) {
            (Some(a), Some(m0)) => {
                others = others.max(a.other_sessions()?);
                Some(m0.until(&a.meter()?).cpu)
            }
            _ => None,
        };
        let level = summarize(
            clients,
            wall,
            stats,
            server_cpu,
            pg_cpu,
            client_cpu,
            load_before,
        );
        eprintln!(
            "  {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            level.per_sec(),
            ms(level.p50),
            ms(level.p99),
            level.errors
        );
        if let Some(e) = &level.first_error {
            eprintln!("  first error: {e}");
        }
        levels.push(level);
    }
    drop(server);
    drop(store);

    let report = Report {
        args,
        machine,
        server: server_desc,
        date,
        rows: csv.rows,
        import_line: format!("{import_line}{prepared}"),
        levels,
        others,
        load_start,
        load_end: sys::load_average(),
    };
    if args.markdown {
        print!("{}", report.markdown());
    } else {
        print!("{}", report.table());
    }
    let errors: u64 = report.levels.iter().map(|l| l.errors).sum();
    ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}

/// The first column (citizen_id) of every data row.
pub(crate) fn read_keys(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut rdr = csv::Reader::from_path(path)?;
    let mut keys = Vec::new();
    let mut record = csv::StringRecord::new();
    while rdr.read_record(&mut record)? {
        keys.push(record.get(0).context("empty CSV row")?.to_owned());
    }
    Ok(keys)
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// One GET: `Ok` for a 200 whose body holds the key.
fn one_get(agent: &ureq::Agent, base: &str, auth: &str, key: &str) -> Result<(), String> {
    let url = format!("{base}/api/v1/datasets/population/records/{key}");
    let mut resp = agent
        .get(&url)
        .header("Authorization", auth)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    if status != 200 {
        return Err(format!("GET {url}: {status} {body}"));
    }
    if !body.contains(&format!("\"key\":\"{key}\"")) {
        return Err(format!("GET {url}: the body does not hold the key: {body}"));
    }
    Ok(())
}

/// `clients` threads sending GETs back to back for `duration` after a common start.
fn load(
    base: &str,
    auth: &str,
    keys: &[String],
    clients: usize,
    seed: u64,
    duration: Duration,
) -> Vec<ClientStats> {
    load_with(keys, clients, seed, duration, &|agent, key| {
        one_get(agent, base, auth, key)
    })
}

/// `clients` threads, each with its own keep-alive agent (one loopback connection), making
/// `request` for keys drawn uniformly by a seeded RNG (thread i: `seed + i`), back to back for
/// `duration` after a common start.
pub(crate) fn load_with(
    keys: &[String],
    clients: usize,
    seed: u64,
    duration: Duration,
    request: &(dyn Fn(&ureq::Agent, &str) -> Result<(), String> + Sync),
) -> Vec<ClientStats> {
    let barrier = Barrier::new(clients);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    let agent = agent();
                    let mut rng = StdRng::seed_from_u64(seed + i as u64);
                    let mut stats = ClientStats {
                        latencies: Vec::with_capacity(1 << 16),
                        ..ClientStats::default()
                    };
                    barrier.wait();
                    let until = Instant::now() + duration;
                    while Instant::now() < until {
                        let key = &keys[rng.random_range(0..keys.len())];
                        let t = Instant::now();
                        let r = request(&agent, key);
                        let micros = t.elapsed().as_micros();
                        stats
                            .latencies
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        match r {
                            Ok(()) => stats.ok += 1,
                            Err(e) => {
                                stats.errors += 1;
                                stats.first_error.get_or_insert(e);
                            }
                        }
                    }
                    stats
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn summarize(
    clients: usize,
    wall: Duration,
    stats: Vec<ClientStats>,
    server_cpu: Duration,
    pg_cpu: Option<Duration>,
    client_cpu: Duration,
    load_before: f64,
) -> Level {
    let mut all: Vec<u32> = Vec::new();
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for s in stats {
        ok += s.ok;
        errors += s.errors;
        if first_error.is_none() {
            first_error = s.first_error;
        }
        all.extend(s.latencies);
    }
    all.sort_unstable();
    let pct = |q: f64| {
        let i = ((all.len().saturating_sub(1)) as f64 * q).round() as usize;
        Duration::from_micros(all.get(i).copied().unwrap_or(0).into())
    };
    Level {
        clients,
        wall,
        ok,
        errors,
        first_error,
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        max: pct(1.0),
        server_cpu,
        pg_cpu,
        client_cpu,
        load_before,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Report<'a> {
    args: &'a ReadsArgs,
    machine: Machine,
    server: Option<String>,
    date: String,
    rows: u64,
    import_line: String,
    levels: Vec<Level>,
    /// Most sessions of other clients seen on the PostgreSQL server.
    others: i64,
    load_start: f64,
    load_end: f64,
}

impl Report<'_> {
    const HEADERS: [&'static str; 12] = [
        "store",
        "clients",
        "requests",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "ndx serve CPU (cores)",
        "PostgreSQL CPU (cores)",
        "client CPU (cores)",
    ];

    fn cells(&self, l: &Level) -> [String; 12] {
        [
            self.args.store.store.name().to_owned(),
            l.clients.to_string(),
            thousands(l.requests()),
            thousands(l.per_sec() as u64),
            format!("{:.2}", ms(l.p50)),
            format!("{:.2}", ms(l.p90)),
            format!("{:.2}", ms(l.p99)),
            format!("{:.1}", ms(l.max)),
            thousands(l.errors),
            l.cores(l.server_cpu),
            l.pg_cpu.map_or_else(|| "–".into(), |c| l.cores(c)),
            l.cores(l.client_cpu),
        ]
    }

    fn header_lines(&self) -> Vec<String> {
        let mut v = vec![
            format!("machine: {}", self.machine.describe()),
            format!(
                "store: {} rows of the demo population (seed {}), {}",
                thousands(self.rows),
                self.args.seed,
                self.import_line
            ),
            format!(
                "load: {} client threads in this process, keep-alive ureq, keys uniform over \
                 the CSV (key seed {}), {} s warm-up + {} s measured per client count",
                self.args
                    .clients
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" / "),
                self.args.key_seed,
                self.args.warmup,
                self.args.seconds
            ),
            format!(
                "1-min load average: {:.2} at start, {} before each measurement, {:.2} at end",
                self.load_start,
                self.levels
                    .iter()
                    .map(|l| format!("{:.2}", l.load_before))
                    .collect::<Vec<_>>()
                    .join(" / "),
                self.load_end
            ),
        ];
        if let Some(s) = &self.server {
            let params = self
                .args
                .store
                .pg_params
                .as_ref()
                .map(|p| format!("; extra store URL parameters: {p}"))
                .unwrap_or_default();
            v.insert(
                1,
                format!(
                    "server: {s}, same machine; at most {} sessions of other clients seen{params}",
                    self.others
                ),
            );
        }
        v
    }

    fn errors(&self) -> Vec<String> {
        self.levels
            .iter()
            .filter_map(|l| {
                l.first_error
                    .as_ref()
                    .map(|e| format!("{} clients, first error: {e}", l.clients))
            })
            .collect()
    }

    fn table(&self) -> String {
        let mut rows = vec![Self::HEADERS.map(str::to_owned)];
        rows.extend(self.levels.iter().map(|l| self.cells(l)));
        let mut s = format!("\nbench-reads ({})\n", self.args.store.store.name());
        for line in self.header_lines() {
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
        for line in harness::aligned(&rows) {
            let _ = writeln!(s, "{line}");
        }
        for e in self.errors() {
            let _ = writeln!(s, "{e}");
        }
        s
    }

    fn markdown(&self) -> String {
        let mut s = format!("Measured {}.\n\n", self.date);
        for line in self.header_lines() {
            let _ = writeln!(s, "- {line}");
        }
        s.push('\n');
        let _ = writeln!(s, "| {} |", Self::HEADERS.join(" | "));
        let _ = writeln!(s, "|{}", " --- |".repeat(Self::HEADERS.len()));
        for l in &self.levels {
            let _ = writeln!(s, "| {} |", self.cells(l).join(" | "));
        }
        for e in self.errors() {
            let _ = writeln!(s, "\n- {e}");
        }
        s
    }
}
