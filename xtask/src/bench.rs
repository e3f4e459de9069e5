//! `cargo xtask bench-import [--store sqlite|postgres]`: the import benchmark of BENCHMARKS.md.
//!
//! 1. builds the release `ndx` and writes `population.csv` (the demo population, 10 columns);
//! 2. bare baseline, in a child process: on SQLite a bulk insert of the CSV rows into a fresh
//!    file (WAL, `synchronous=FULL`, one transaction, one prepared INSERT, no validation); on
//!    PostgreSQL a `COPY … FROM STDIN (FORMAT csv, HEADER)` of the file into a fresh logged
//!    table keyed by citizen_id, in one transaction;
//! 3. `ndx import` of the same file into a fresh demo store, validated, as one atomic batch,
//!    timed from spawn to exit with its peak RSS from `wait4(2)`;
//! 4. `ndx serve` on another fresh demo store and one streamed `POST …/records?mode=atomic`
//!    of the same file;
//! 5. a table (or with `--markdown`, the block for BENCHMARKS.md).
//!
//! Every measured step starts after a `sync` (no write-back left over from the step before); on
//! PostgreSQL also after a `CHECKPOINT`, in schemas of its own that
//! are dropped as soon as the step is measured; the server's CPU time (all its processes) and
//! the WAL it wrote are reported per step.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;
use serde_json::Value;

use crate::harness::{
    self, Backend, Csv, FreshStore, Server, StoreOpts, check_report, mib, thousands,
};
use crate::pg::{self, Admin, ServerUse};
use crate::sys::{self, Machine, Measured};

/// Target throughput of the validated import into the embedded store.
const TARGET_RECORDS_PER_SEC: f64 = 300_000.0;
/// Target peak RSS of the import.
const TARGET_RSS_MIB: f64 = 500.0;
/// Target of the validated import into PostgreSQL, as a fraction of the bare COPY.
const TARGET_PG_RATIO: f64 = 0.5;

/// Options of `bench-import`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    store: StoreOpts,
    /// Rows of the CSV.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Working directory (CSV, stores, logs) [default: target/bench-import, or
    /// target/bench-import-postgres].
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

/// One measured run.
struct Run {
    name: &'static str,
    rows: u64,
    wall: Duration,
    rss_kib: Option<u64>,
    cpu: Option<Duration>,
    /// What the PostgreSQL server did meanwhile.
    server: Option<ServerUse>,
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
        server: None,
        load_before,
    }
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    ensure!(args.rows > 0, "--rows must be at least 1");
    let admin = args.store.admin()?;
    let root = harness::workspace_root();
    let out = harness::work_dir(&root, args.out.as_deref(), "bench-import", args.store.store)?;
    let machine = Machine::probe();
    let server = admin.as_ref().map(Admin::describe).transpose()?;
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_start = sys::load_average();
    let mut others = Others::default();
    others.look(admin.as_ref())?;

    let ndx = harness::build_ndx(&root)?;

    // 1. The CSV.
    let csv = harness::write_population_csv(&out.join("population.csv"), args.rows, args.seed)?;

    // 2. The bare baseline, in a child process so that its RSS is its own.
    let bare = match &admin {
        None => bare_sqlite(&csv, &out)?,
        Some(admin) => bare_postgres(admin, &args.store.pg_url, &csv, &out)?,
    };
    eprintln!(
        "  {:.2} s, {:.0} rows/s",
        bare.wall.as_secs_f64(),
        bare.per_sec()
    );
    others.look(admin.as_ref())?;

    // 3. ndx import (the store, and its schema, are dropped before the next step).
    let import = {
        let store = FreshStore::create(&ndx, &args.store, &out.join("ndx-import"), "import")?;
        eprintln!("ndx import…");
        let before = admin.as_ref().map(meter_fresh).transpose()?;
        sys::settle_disk()?;
        let load = sys::load_average();
        let m = harness::import(&ndx, &store, &csv, &out)?;
        let mut import = from_measured("ndx import (validated, versioned)", csv.rows, &m, load);
        import.server = server_use(admin.as_ref(), before, Some(pg::NDX_APP))?;
        import
    };
    eprintln!(
        "  {:.2} s, {:.0} records/s, peak RSS {:.0} MiB",
        import.wall.as_secs_f64(),
        import.per_sec(),
        import.rss_kib.unwrap_or(0) as f64 / 1024.0
    );
    others.look(admin.as_ref())?;

    // 4. HTTP.
    let http = if args.no_http {
        None
    } else {
        let store = FreshStore::create(&ndx, &args.store, &out.join("ndx-http"), "http")?;
        eprintln!("ndx serve + POST…");
        Some(http_run(&ndx, &store, admin.as_ref(), &csv)?)
    };
    others.look(admin.as_ref())?;
    let load_end = sys::load_average();

    let results = Results {
        args,
        machine,
        server,
        date,
        csv,
        bare,
        import,
        http,
        load_start,
        load_end,
        others: others.max,
    };
    if args.markdown {
        print!("{}", results.markdown());
    } else {
        print!("{}", results.table());
    }
    Ok(())
}

/// The most sessions of other clients seen on the PostgreSQL server during the run.
#[derive(Default)]
struct Others {
    max: Option<i64>,
}

impl Others {
    fn look(&mut self, admin: Option<&Admin>) -> anyhow::Result<()> {
        if let Some(a) = admin {
            let n = a.other_sessions()?;
            self.max = Some(self.max.map_or(n, |m| m.max(n)));
        }
        Ok(())
    }
}

/// A `CHECKPOINT`, then the server's meter.
fn meter_fresh(admin: &Admin) -> anyhow::Result<pg::Meter> {
    admin.checkpoint()?;
    admin.meter()
}

/// What the server did since `before`, once the sessions of `app` (if given) have ended.
fn server_use(
    admin: Option<&Admin>,
    before: Option<pg::Meter>,
    app: Option<&str>,
) -> anyhow::Result<Option<ServerUse>> {
    let (Some(admin), Some(before)) = (admin, before) else {
        return Ok(None);
    };
    if let Some(app) = app {
        admin.wait_gone(app)?;
    }
    Ok(Some(before.until(&admin.meter()?)))
}

/// Bare SQLite: `xtask bare-insert CSV DB`.
fn bare_sqlite(csv: &Csv, out: &Path) -> anyhow::Result<Run> {
    let bare_db = out.join("bare.db");
    harness::remove(&bare_db)?;
    let bare_out = out.join("bare.out");
    eprintln!("bare SQLite bulk insert…");
    sys::settle_disk()?;
    let load = sys::load_average();
    let m = sys::run_measured(
        Command::new(std::env::current_exe()?)
            .arg("bare-insert")
            .arg(&csv.path)
            .arg(&bare_db)
            .stdout(std::fs::File::create(&bare_out)?),
    )?;
    ensure!(m.status.success(), "bare insert failed: {}", m.status);
    let inserted: u64 = std::fs::read_to_string(&bare_out)?.trim().parse()?;
    ensure!(
        inserted == csv.rows,
        "bare insert stored {inserted} of {} rows",
        csv.rows
    );
    Ok(from_measured(
        "bare SQLite bulk insert (no validation)",
        csv.rows,
        &m,
        load,
    ))
}

/// Bare PostgreSQL: `xtask bare-copy URL CSV SCHEMA` into a fresh schema, dropped afterwards.
fn bare_postgres(admin: &Admin, url: &str, csv: &Csv, out: &Path) -> anyhow::Result<Run> {
    let schema = pg::Schema::new(url, "bare")?;
    let bare_out = out.join("bare.out");
    eprintln!("bare PostgreSQL COPY…");
    let before = meter_fresh(admin)?;
    sys::settle_disk()?;
    let load = sys::load_average();
    let m = sys::run_measured(
        Command::new(std::env::current_exe()?)
            .arg("bare-copy")
            .arg(url)
            .arg(&csv.path)
            .arg(&schema.name)
            .stdout(std::fs::File::create(&bare_out)?),
    )?;
    ensure!(m.status.success(), "bare COPY failed: {}", m.status);
    let mut run = from_measured("bare PostgreSQL COPY (no validation)", csv.rows, &m, load);
    run.server = server_use(Some(admin), Some(before), Some(pg::BARE_APP))?;
    let copied: u64 = std::fs::read_to_string(&bare_out)?.trim().parse()?;
    let stored = admin.query_i64(&format!("SELECT count(*) FROM {}.population", schema.name))?;
    ensure!(
        copied == csv.rows && stored == i64::try_from(csv.rows)?,
        "bare COPY stored {stored} (reported {copied}) of {} rows",
        csv.rows
    );
    Ok(run)
}

fn http_run(
    ndx: &Path,
    store: &FreshStore,
    admin: Option<&Admin>,
    csv: &Csv,
) -> anyhow::Result<Run> {
    let key = store.api_key("population-provider")?;
    let server = Server::start(ndx, store)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let before = admin.map(meter_fresh).transpose()?;
    sys::settle_disk()?;
    let load = sys::load_average();
    let file = std::fs::File::open(&csv.path)?;
    let cpu_before = sys::cpu_time(server.pid())?;
    let start = Instant::now();
    let mut resp = agent
        .post(format!(
            "{}/api/v1/datasets/population/records?mode=atomic",
            server.base
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
    check_report(&report, csv.rows).with_context(|| format!("HTTP report: {body}"))?;
    let rss = sys::vm_hwm_kib(server.pid())?;
    let cpu = sys::cpu_time(server.pid())?.saturating_sub(cpu_before);
    // The server's sessions are still open: their CPU time is read from the live backends.
    let server_use = server_use(admin, before, None)?;
    let r = Run {
        name: "ndx HTTP POST ?mode=atomic (server)",
        rows: csv.rows,
        wall,
        rss_kib: Some(rss),
        cpu: Some(cpu),
        server: server_use,
        load_before: load,
    };
    eprintln!(
        "  {:.2} s, {:.0} records/s, server peak RSS {:.0} MiB",
        r.wall.as_secs_f64(),
        r.per_sec(),
        rss as f64 / 1024.0
    );
    Ok(r)
}

struct Results<'a> {
    args: &'a BenchArgs,
    machine: Machine,
    /// The PostgreSQL server and its settings.
    server: Option<String>,
    date: String,
    csv: Csv,
    bare: Run,
    import: Run,
    http: Option<Run>,
    load_start: f64,
    load_end: f64,
    /// Most sessions of other clients seen on the PostgreSQL server.
    others: Option<i64>,
}

impl Results<'_> {
    fn runs(&self) -> Vec<&Run> {
        let mut v = vec![&self.bare, &self.import];
        v.extend(self.http.as_ref());
        v
    }

    fn postgres(&self) -> bool {
        self.args.store.store == Backend::Postgres
    }

    fn verdicts(&self) -> Vec<String> {
        let rate = self.import.per_sec();
        let ratio = rate / self.bare.per_sec();
        let rss = self.import.rss_kib.unwrap_or(0) as f64 / 1024.0;
        let met = |ok: bool| if ok { "MET" } else { "NOT MET" };
        let mut v = Vec::new();
        if self.postgres() {
            v.push(format!(
                "ndx import on PostgreSQL {} records/s = {ratio:.2} × the bare COPY ({} rows/s): \
                 target ≥ {TARGET_PG_RATIO} × — {}",
                thousands(rate as u64),
                thousands(self.bare.per_sec() as u64),
                met(ratio >= TARGET_PG_RATIO)
            ));
        } else {
            v.push(format!(
                "ndx import throughput {} records/s: target ≥ {} — {}",
                thousands(rate as u64),
                thousands(TARGET_RECORDS_PER_SEC as u64),
                met(rate >= TARGET_RECORDS_PER_SEC)
            ));
        }
        v.push(format!(
            "ndx import peak RSS {rss:.0} MiB: target < {TARGET_RSS_MIB:.0} MiB — {}",
            met(rss < TARGET_RSS_MIB)
        ));
        v
    }

    fn headers(&self) -> Vec<&'static str> {
        let mut h = vec![
            "run",
            "rows",
            "seconds",
            "records/s",
            "throughput / bare",
            "peak RSS",
            "CPU (user+sys)",
        ];
        if self.postgres() {
            h.extend(["PostgreSQL CPU", "WAL written"]);
        }
        h
    }

    fn row_cells(&self, r: &Run) -> Vec<String> {
        let base = self.bare.per_sec();
        let mut cells = vec![
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
        ];
        if self.postgres() {
            cells.push(
                r.server
                    .map_or_else(|| "–".into(), |s| format!("{:.2} s", s.cpu.as_secs_f64())),
            );
            cells.push(
                r.server
                    .map_or_else(|| "–".into(), |s| format!("{:.0} MiB", mib(s.wal_bytes))),
            );
        }
        cells
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

    /// The server line (PostgreSQL only).
    fn server_line(&self) -> Option<String> {
        self.server.as_ref().map(|s| {
            let params = self
                .args
                .store
                .pg_params
                .as_ref()
                .map(|p| format!("; extra store URL parameters: {p}"))
                .unwrap_or_default();
            format!(
                "{s}, same machine; at most {} sessions of other clients seen during the \
                 run{params}",
                self.others.unwrap_or(0)
            )
        })
    }

    fn csv_line(&self) -> String {
        format!(
            "{} rows × {} columns, {:.1} MiB (seed {}, written in {:.1} s)",
            thousands(self.csv.rows),
            ndx_demo::POPULATION_FIELDS.len(),
            mib(self.csv.bytes),
            self.args.seed,
            self.csv.gen_secs
        )
    }

    fn table(&self) -> String {
        let mut rows = vec![self.headers().into_iter().map(str::to_owned).collect()];
        rows.extend(self.runs().into_iter().map(|r| self.row_cells(r)));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nbench-import ({}): CSV of {}",
            self.args.store.store.name(),
            self.csv_line()
        );
        let _ = writeln!(s, "machine: {}", self.machine.describe());
        if let Some(line) = self.server_line() {
            let _ = writeln!(s, "server: {line}");
        }
        let _ = writeln!(s, "{}\n", self.load_line());
        for line in harness::aligned(&rows) {
            let _ = writeln!(s, "{line}");
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
            "Measured {} on {}.{}\n\nCSV: {}; {}.\n",
            self.date,
            self.machine.describe(),
            self.server_line()
                .map(|l| format!("\n{l}."))
                .unwrap_or_default(),
            self.csv_line(),
            self.load_line()
        );
        let headers = self.headers();
        let _ = writeln!(s, "| {} |", headers.join(" | "));
        let _ = writeln!(s, "|{}", " --- |".repeat(headers.len()));
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
    harness::remove(db)?;
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
    let columns = harness::bare_columns(&header, "TEXT PRIMARY KEY", "TEXT");
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
