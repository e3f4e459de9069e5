//! `cargo xtask bench-quality [--store sqlite|postgres]`: what measuring quality costs.
//!
//! 1. builds the release `ndx` and a fresh demo store, and imports the population CSV of
//!    bench-import (`--rows`, same seed);
//! 2. `ndx quality population`: the first measurement reads every version in the change feed;
//! 3. imports `--updates` of those rows with a new street address (one batch of updates);
//! 4. `ndx quality population` again: the incremental measurement takes back each replaced
//!    version and adds the new one (a history read per update);
//! 5. `ndx quality population` once more, with nothing new: the cost of an answer.
//!
//! Each step is a process of its own, timed from spawn to exit with its peak RSS.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::ensure;
use clap::Args;
use serde_json::Value;

use crate::harness::{self, FreshStore, StoreOpts, mib, thousands};
use crate::sys::{self, Machine, Measured};

/// Options of `bench-quality`.
#[derive(Debug, Args)]
pub struct QualityArgs {
    #[command(flatten)]
    store: StoreOpts,
    /// Rows of the population imported first.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows updated in the batch measured incrementally.
    #[arg(long, default_value_t = 10_000)]
    updates: usize,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2030)]
    seed: u64,
    /// Working directory [default: target/bench-quality, or target/bench-quality-postgres].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the block for BENCHMARKS.md instead of the plain lines.
    #[arg(long)]
    markdown: bool,
}

/// `ndx quality population`, measured; the records it counted.
fn measure(ndx: &std::path::Path, store: &FreshStore) -> anyhow::Result<(Measured, Value)> {
    let out = store.dir.join("quality.json");
    let m = sys::run_measured(
        Command::new(ndx)
            .args(["quality", "population"])
            .args(store.args())
            .env("NDX_LOG", "warn")
            .stdout(std::fs::File::create(&out)?)
            .stderr(Stdio::inherit()),
    )?;
    ensure!(m.status.success(), "ndx quality failed ({})", m.status);
    Ok((m, serde_json::from_slice(&std::fs::read(&out)?)?))
}

pub fn run(args: &QualityArgs) -> anyhow::Result<()> {
    let root = harness::workspace_root();
    let dir = harness::work_dir(
        &root,
        args.out.as_deref(),
        "bench-quality",
        args.store.store,
    )?;
    let ndx = harness::build_ndx(&root)?;
    let machine = Machine::probe();
    let store = FreshStore::create(&ndx, &args.store, &dir.join("data"), "bench_quality")?;
    let csv = harness::write_population_csv(&dir.join("population.csv"), args.rows, args.seed)?;
    eprintln!("importing {} rows…", thousands(csv.rows));
    let load = harness::import(&ndx, &store, &csv, &dir)?;

    eprintln!("first measurement…");
    let (first, q) = measure(&ndx, &store)?;
    let records = q["state"]["records"].as_u64().unwrap_or(0);
    // The demo store's one citizen is person 0 of the same population: unchanged.
    ensure!(
        records == csv.rows,
        "counted {records} records, expected {}",
        csv.rows
    );

    // The same persons with a new street address: one batch of updates.
    let updates_path = dir.join("updates.csv");
    let country = ndx_demo::Country::new(args.seed, args.rows);
    let changed = country.population().take(args.updates).map(|mut r| {
        r.insert("street_address".into(), "Số 1 Đường Thử Nghiệm".into());
        r
    });
    let written = ndx_demo::write_csv(
        changed,
        ndx_demo::POPULATION_FIELDS,
        std::fs::File::create(&updates_path)?,
    )?;
    let batch = harness::Csv {
        path: updates_path,
        rows: written,
        bytes: std::fs::metadata(dir.join("updates.csv"))?.len(),
        gen_secs: 0.0,
    };
    eprintln!("updating {} rows…", thousands(batch.rows));
    let update = harness::import(&ndx, &store, &batch, &dir)?;

    eprintln!("incremental measurement…");
    let (incremental, q) = measure(&ndx, &store)?;
    let filled = q["state"]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "street_address"))
        .and_then(|f| f["filled"].as_u64())
        .unwrap_or(0);
    ensure!(
        q["state"]["records"].as_u64() == Some(records),
        "the update changed the record count: {}",
        q["state"]["records"]
    );
    eprintln!("  street_address filled in {} records", thousands(filled));
    let (idle, _) = measure(&ndx, &store)?;

    let secs = |m: &Measured| m.wall.as_secs_f64();
    let per_s = |n: u64, m: &Measured| n as f64 / m.wall.as_secs_f64();
    let rows = [
        (
            format!("import {} rows (for comparison)", thousands(csv.rows)),
            load,
            csv.rows,
        ),
        (
            format!("first measurement: {} versions", thousands(csv.rows)),
            first,
            csv.rows,
        ),
        (
            format!("import {} updates (for comparison)", thousands(batch.rows)),
            update,
            batch.rows,
        ),
        (
            format!("measurement after {} updates", thousands(batch.rows)),
            incremental,
            batch.rows,
        ),
        ("measurement, nothing new".to_owned(), idle, 0),
    ];
    if args.markdown {
        println!("Machine: {}\n", machine.describe());
        println!(
            "| step ({}) | wall | versions/s | peak RSS |",
            args.store.store.name()
        );
        println!("| --- | ---: | ---: | ---: |");
        for (what, m, n) in &rows {
            let rate = if *n == 0 {
                "—".to_owned()
            } else {
                thousands(per_s(*n, m) as u64)
            };
            println!(
                "| {what} | {:.2} s | {rate} | {:.0} MiB |",
                secs(m),
                mib(m.max_rss_kib * 1024)
            );
        }
    } else {
        for (what, m, n) in &rows {
            println!(
                "{what}: {:.2} s, {:.0} versions/s, peak RSS {:.0} MiB",
                secs(m),
                if *n == 0 { 0.0 } else { per_s(*n, m) },
                mib(m.max_rss_kib * 1024)
            );
        }
    }
    Ok(())
}
