//! `cargo xtask bench-import`: the import benchmark of BENCHMARKS.md.
//!
//! 1. builds the release `ndx` and writes `population.csv` (the demo population, 10 columns);
//! 2. bare baseline: a child process bulk-inserts the CSV rows into a fresh SQLite file (WAL,
//!    `synchronous=FULL`, one transaction, one prepared INSERT, no validation);
//! 3. `ndx import` of the same file into a fresh demo store, validated, as one atomic batch,
//!    timed from spawn to exit with its peak RSS from `wait4(2)`;
//! 4. `ndx serve` on another fresh demo store and one streamed `POST …/records?mode=atomic`
//!    of the same file;
//! 5. a table (or with `--markdown`, the block for BENCHMARKS.md).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use serde_json::Value;

use crate::sys::{self, Machine, Measured};

/// Target throughput of the validated import.
const TARGET_RECORDS_PER_SEC: f64 = 300_000.0;
/// Target peak RSS of the import.
const TARGET_RSS_MIB: f64 = 500.0;

/// Options of `bench-import`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rows of the CSV.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Working directory (CSV, stores, logs) [default: target/bench-import].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2030)]
    seed: u64,
    /// Print the block for BENCHMARKS.md instead of the plain table.
    #[arg(long)]
    markdown: bool,
    /// Skip the HTTP measurement.
    #[arg(long)]
    no_http: bool,
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Removes a SQLite file and its WAL companions, or a directory.
fn remove(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)?;
        return Ok(());
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// One measured run.
struct Run {
    name: &'static str,
    rows: u64,
    wall: Duration,
    rss_kib: Option<u64>,
    cpu: Option<Duration>,
    load_before: f64,
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64()
    }
}

fn from_measured(name: &'static str, rows: u64, m: &Measured, load_before: f64) -> Run {
    Run {
        name,
        rows,
        wall: m.wall,
        rss_kib: Some(m.max_rss_kib),
        cpu: Some(m.user + m.sys),
        load_before,
    }
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    ensure!(args.rows > 0, "--rows must be at least 1");
    let root = workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| target_dir(&root).join("bench-import"));
    std::fs::create_dir_all(&out)?;
    let out = out.canonicalize()?;
    let machine = Machine::probe();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_start = sys::load_average();

    eprintln!("building the release ndx…");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(&cargo)
        .args(["build", "--release", "--package", "ndx"])
        .current_dir(&root)
        .status()
        .context("cannot run cargo build")?;
    ensure!(built.success(), "cargo build --release -p ndx failed");
    let ndx = target_dir(&root).join("release").join("ndx");
    ensure!(ndx.exists(), "{} was not built", ndx.display());

    // 1. The CSV.
    let csv_path = out.join("population.csv");
    eprintln!("writing {} rows to {}…", args.rows, csv_path.display());
    let t = Instant::now();
    let country = ndx_demo::Country::new(args.seed, args.rows);
    let file = std::fs::File::create(&csv_path)?;
    let written = ndx_demo::write_csv(country.population(), ndx_demo::POPULATION_FIELDS, file)?;
    let gen_secs = t.elapsed().as_secs_f64();
    let csv_bytes = std::fs::metadata(&csv_path)?.len();
    ensure!(written == args.rows as u64, "wrote {written} rows");
    let rows = written;
    eprintln!(
        "  {:.1} MiB in {gen_secs:.1} s",
        mib(csv_bytes),
        gen_secs = gen_secs
    );

    // 2. Bare SQLite, in a child process so that its RSS is its own.
    let bare_db = out.join("bare.db");
    remove(&bare_db)?;
    let bare_out = out.join("bare.out");
    eprintln!("bare SQLite bulk insert…");
    let load = sys::load_average();
    let m = sys::run_measured(
        Command::new(std::env::current_exe()?)
            .arg("bare-insert")
            .arg(&csv_path)
            .arg(&bare_db)
            .stdout(std::fs::File::create(&bare_out)?),
    )?;
    ensure!(m.status.success(), "bare insert failed: {}", m.status);
    let inserted: u64 = std::fs::read_to_string(&bare_out)?.trim().parse()?;
    ensure!(
        inserted == rows,
        "bare insert stored {inserted} of {rows} rows"
    );
    let bare = from_measured("bare SQLite bulk insert (no validation)", rows, &m, load);
    eprintln!(
        "  {:.2} s, {:.0} rows/s",
        bare.wall.as_secs_f64(),
        bare.per_sec()
    );

    // 3. ndx import.
    let cli_dir = out.join("ndx-import");
    let import_report = out.join("import-report.json");
    let import_log = out.join("import.log");
    demo_store(&ndx, &cli_dir)?;
    eprintln!("ndx import…");
    let load = sys::load_average();
    let m = sys::run_measured(
        Command::new(&ndx)
            .args(["import", "--dataset", "population", "--quiet", "--report"])
            .arg(&import_report)
            .arg("--data-dir")
            .arg(&cli_dir)
            .arg(&csv_path)
            .env("NDX_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&import_log)?),
    )?;
    let log = std::fs::read_to_string(&import_log).unwrap_or_default();
    ensure!(
        m.status.success(),
        "ndx import failed ({}): {log}",
        m.status
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&import_report)?)?;
    check_report(&report, rows).with_context(|| format!("ndx import report: {report}"))?;
    let import = from_measured("ndx import (validated, versioned)", rows, &m, load);
    eprintln!(
        "  {:.2} s, {:.0} records/s, peak RSS {:.0} MiB",
        import.wall.as_secs_f64(),
        import.per_sec(),
        import.rss_kib.unwrap_or(0) as f64 / 1024.0
    );

    // 4. HTTP.
    let http = if args.no_http {
        None
    } else {
        let http_dir = out.join("ndx-http");
        demo_store(&ndx, &http_dir)?;
        eprintln!("ndx serve + POST…");
        Some(http_run(&ndx, &http_dir, &csv_path, rows)?)
    };
    let load_end = sys::load_average();

    let results = Results {
        args,
        machine,
        date,
        csv_bytes,
        gen_secs,
        rows,
        bare,
        import,
        http,
        load_start,
        load_end,
    };
    if args.markdown {
        print!("{}", results.markdown());
    } else {
        print!("{}", results.table());
    }
    Ok(())
}

/// A fresh data directory with the demo dictionary and the population schema (1 citizen).
fn demo_store(ndx: &Path, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        remove(dir)?;
    }
    let out = Command::new(ndx)
        .args(["demo", "--no-serve", "--citizens", "1", "--data-dir"])
        .arg(dir)
        .env("NDX_LOG", "warn")
        .output()?;
    ensure!(
        out.status.success(),
        "ndx demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn check_report(report: &Value, rows: u64) -> anyhow::Result<()> {
    ensure!(report["status"] == "committed", "batch not committed");
    ensure!(report["received"] == rows, "received is not {rows}");
    ensure!(report["accepted"] == rows, "accepted is not {rows}");
    ensure!(report["rejected"] == 0, "records were rejected");
    // The demo store's one citizen is person 0 of the same population: `unchanged`.
    let written = ["created", "updated", "unchanged"]
        .iter()
        .map(|k| report[k].as_u64().unwrap_or(0))
        .sum::<u64>();
    ensure!(
        written == rows,
        "created + updated + unchanged is not {rows}"
    );
    Ok(())
}

fn http_run(ndx: &Path, dir: &Path, csv_path: &Path, rows: u64) -> anyhow::Result<Run> {
    let keys: Value = serde_json::from_slice(&std::fs::read(dir.join("demo-keys.json"))?)?;
    let key = keys["population-provider"]
        .as_str()
        .context("no population-provider key")?
        .to_owned();
    let mut child = Command::new(ndx)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("NDX_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log"))?)
        .spawn()?;
    let result = (|| -> anyhow::Result<Run> {
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(a) = line?.strip_prefix("listening on ") {
                        break a.trim().to_owned();
                    }
                }
                None => bail!("ndx serve exited before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let load = sys::load_average();
        let file = std::fs::File::open(csv_path)?;
        let cpu_before = sys::cpu_time(child.id())?;
        let start = Instant::now();
        let mut resp = agent
            .post(format!(
                "{base}/api/v1/datasets/population/records?mode=atomic"
            ))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "text/csv")
            .header("Idempotency-Key", "bench-http-1")
            .send(file)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string()?;
        let wall = start.elapsed();
        ensure!(status == 200, "POST answered {status}: {body}");
        let report: Value = serde_json::from_str(&body)?;
        check_report(&report, rows).with_context(|| format!("HTTP report: {body}"))?;
        let rss = sys::vm_hwm_kib(child.id())?;
        let cpu = sys::cpu_time(child.id())?.saturating_sub(cpu_before);
        let r = Run {
            name: "ndx HTTP POST ?mode=atomic (server)",
            rows,
            wall,
            rss_kib: Some(rss),
            cpu: Some(cpu),
            load_before: load,
        };
        eprintln!(
            "  {:.2} s, {:.0} records/s, server peak RSS {:.0} MiB",
            r.wall.as_secs_f64(),
            r.per_sec(),
            rss as f64 / 1024.0
        );
        Ok(r)
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    result
}

struct Results<'a> {
    args: &'a BenchArgs,
    machine: Machine,
    date: String,
    csv_bytes: u64,
    gen_secs: f64,
    rows: u64,
    bare: Run,
    import: Run,
    http: Option<Run>,
    load_start: f64,
    load_end: f64,
}

impl Results<'_> {
    fn runs(&self) -> Vec<&Run> {
        let mut v = vec![&self.bare, &self.import];
        v.extend(self.http.as_ref());
        v
    }

    fn verdicts(&self) -> Vec<String> {
        let rate = self.import.per_sec();
        let rss = self.import.rss_kib.unwrap_or(0) as f64 / 1024.0;
        vec![
            format!(
                "ndx import throughput {} records/s: target ≥ {} — {}",
                thousands(rate as u64),
                thousands(TARGET_RECORDS_PER_SEC as u64),
                if rate >= TARGET_RECORDS_PER_SEC {
                    "MET"
                } else {
                    "NOT MET"
                }
            ),
            format!(
                "ndx import peak RSS {rss:.0} MiB: target < {TARGET_RSS_MIB:.0} MiB — {}",
                if rss < TARGET_RSS_MIB {
                    "MET"
                } else {
                    "NOT MET"
                }
            ),
        ]
    }

    fn row_cells(&self, r: &Run) -> [String; 7] {
        let base = self.bare.per_sec();
        [
            r.name.to_owned(),
            thousands(r.rows),
            format!("{:.2}", r.wall.as_secs_f64()),
            thousands(r.per_sec() as u64),
            if std::ptr::eq(r, &self.bare) {
                "1 (baseline)".to_owned()
            } else {
                format!(
                    "{:.2} ({:.1}× slower)",
                    r.per_sec() / base,
                    base / r.per_sec()
                )
            },
            r.rss_kib
                .map_or_else(|| "–".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
            r.cpu
                .map_or_else(|| "–".into(), |c| format!("{:.2} s", c.as_secs_f64())),
        ]
    }

    const HEADERS: [&'static str; 7] = [
        "run",
        "rows",
        "seconds",
        "records/s",
        "throughput / bare",
        "peak RSS",
        "CPU (user+sys)",
    ];

    fn machine_line(&self) -> String {
        let m = &self.machine;
        format!(
            "{} × {} , {:.1} GiB RAM, Linux {}, {}",
            m.cpus,
            m.cpu_model,
            m.mem_mib as f64 / 1024.0,
            m.kernel,
            m.rustc
        )
        .replace(" ,", ",")
    }

    fn load_line(&self) -> String {
        let loads: Vec<String> = self
            .runs()
            .iter()
            .map(|r| format!("{:.2}", r.load_before))
            .collect();
        format!(
            "1-min load average: {:.2} at start, {} before each run, {:.2} at end",
            self.load_start,
            loads.join(" / "),
            self.load_end
        )
    }

    fn table(&self) -> String {
        let mut rows = vec![Self::HEADERS.map(str::to_owned)];
        rows.extend(self.runs().into_iter().map(|r| self.row_cells(r)));
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nbench-import: {} rows × {} columns, {:.1} MiB CSV (seed {}, written in {:.1} s)",
            thousands(self.rows),
            ndx_demo::POPULATION_FIELDS.len(),
            mib(self.csv_bytes),
            self.args.seed,
            self.gen_secs
        );
        let _ = writeln!(s, "machine: {}", self.machine_line());
        let _ = writeln!(s, "{}\n", self.load_line());
        for r in &rows {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    let pad = w - c.chars().count();
                    if i == 0 {
                        format!("{c}{}", " ".repeat(pad))
                    } else {
                        format!("{}{c}", " ".repeat(pad))
                    }
                })
                .collect();
            let _ = writeln!(s, "{}", cells.join("  "));
        }
        s.push('\n');
        for v in self.verdicts() {
            let _ = writeln!(s, "{v}");
        }
        s
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Measured {} on {}.\n\n{}; {}.\n",
            self.date,
            self.machine_line(),
            format_args!(
                "CSV: {} rows × {} columns, {:.1} MiB (seed {})",
                thousands(self.rows),
                ndx_demo::POPULATION_FIELDS.len(),
                mib(self.csv_bytes),
                self.args.seed
            ),
            self.load_line()
        );
        let _ = writeln!(s, "| {} |", Self::HEADERS.join(" | "));
        let _ = writeln!(s, "|{}", " --- |".repeat(Self::HEADERS.len()));
        for r in self.runs() {
            let _ = writeln!(s, "| {} |", self.row_cells(r).join(" | "));
        }
        s.push('\n');
        for v in self.verdicts() {
            let _ = writeln!(s, "- {v}");
        }
        s
    }
}

/// The bare baseline, run as `xtask bare-insert CSV DB`: every row of the CSV into a fresh
/// SQLite table, as TEXT, keyed by the first column, in one transaction with one prepared
/// statement; the same journal, sync and cache settings as the ndx store. Prints the row count.
pub fn bare_insert(csv_path: &Path, db: &Path) -> anyhow::Result<()> {
    remove(db)?;
    let mut rdr = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 16)
        .from_path(csv_path)?;
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_owned).collect();
    ensure!(!header.is_empty(), "the CSV has no header");
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch(
        "PRAGMA page_size=16384;
         PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA temp_store=MEMORY;
         PRAGMA cache_size=-65536;",
    )?;
    let columns: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = h.replace('"', "");
            if i == 0 {
                format!("\"{name}\" TEXT PRIMARY KEY")
            } else {
                format!("\"{name}\" TEXT")
            }
        })
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE population ({});",
        columns.join(", ")
    ))?;
    let placeholders: Vec<String> = (1..=header.len()).map(|i| format!("?{i}")).collect();
    let tx = conn.transaction()?;
    let mut n = 0u64;
    {
        let mut stmt = tx.prepare(&format!(
            "INSERT INTO population VALUES ({})",
            placeholders.join(", ")
        ))?;
        let mut record = csv::StringRecord::new();
        while rdr.read_record(&mut record)? {
            stmt.execute(rusqlite::params_from_iter(
                record.iter().map(|f| (!f.is_empty()).then_some(f)),
            ))?;
            n += 1;
        }
    }
    tx.commit()?;
    println!("{n}");
    Ok(())
}
