//! `cargo xtask bench-reconcile`: `ndx reconcile` and Splink (DuckDB backend) side by side on
//! the same synthetic Vietnamese registers — a population register and an agency's register
//! copied from it with the errors real registers have (`ndx-demo`: typos, lost diacritics,
//! swapped day and month, pre-2025 addresses, about a third of the citizen IDs missing, wrong
//! or unknown, duplicates) — scored against the ground truth: precision, recall, F1, wall time
//! and peak memory of each (BENCHMARKS.md).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;

use crate::harness::{self, Backend, mib, thousands};
use crate::sys::{self, Measured};

const SPLINK_SCRIPT: &str = include_str!("../splink_reconcile.py");
/// The Splink release the figures were taken with; installed from PyPI when missing.
const SPLINK: &str = "splink==5.0.0";

/// Arguments of `bench-reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Persons in the reference (population) register.
    #[arg(long, default_value_t = 1_000_000)]
    register: usize,
    /// Records in the agency's register.
    #[arg(long, default_value_t = 100_000)]
    target: usize,
    /// Seed of the synthetic country.
    #[arg(long, default_value_t = 2030)]
    seed: u64,
    /// Run ndx only.
    #[arg(long)]
    skip_splink: bool,
    /// Working directory (default: target/bench-reconcile).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the results as a Markdown table.
    #[arg(long)]
    markdown: bool,
}

/// Precision, recall and F1 of one tool's matches against the truth.
struct Score {
    true_positive: u64,
    false_positive: u64,
    false_negative: u64,
}

impl Score {
    fn of(predicted: &HashMap<String, String>, truth: &HashMap<String, String>) -> Score {
        let mut s = Score {
            true_positive: 0,
            false_positive: 0,
            false_negative: 0,
        };
        for (target, person) in truth {
            match predicted.get(target) {
                Some(p) if p == person => s.true_positive += 1,
                Some(_) => {
                    s.false_positive += 1;
                    s.false_negative += 1;
                }
                None => s.false_negative += 1,
            }
        }
        // Matches for records that are nobody in the reference.
        s.false_positive += predicted.keys().filter(|t| !truth.contains_key(*t)).count() as u64;
        s
    }
    fn precision(&self) -> f64 {
        self.true_positive as f64 / (self.true_positive + self.false_positive).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.true_positive as f64 / (self.true_positive + self.false_negative).max(1) as f64
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// The written data: the two registers and the truth (target id → the person's citizen ID,
/// for records that are a person of the reference).
struct Data {
    reference: PathBuf,
    target: PathBuf,
    truth: HashMap<String, String>,
    targets: usize,
}

fn address(ward_code: &str, street: &str) -> String {
    match ndx_types::reference::ward_2025(ward_code) {
        Some(w) => {
            let province = ndx_types::reference::province_2025(&w.province_code)
                .map_or("", |p| p.name.as_str());
            format!("{street}, {}, {province}", w.name)
        }
        None => street.to_owned(),
    }
}

fn write_data(dir: &Path, args: &ReconcileArgs) -> anyhow::Result<Data> {
    let t = Instant::now();
    let country = ndx_demo::Country::new(args.seed, args.register);
    let reference = dir.join("reference.csv");
    let target = dir.join("target.csv");
    eprintln!("writing {} reference records…", args.register);
    let mut w = csv::Writer::from_path(&reference)?;
    w.write_record(["citizen_id", "full_name", "sex", "date_of_birth", "address"])?;
    for p in country.population() {
        let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
        w.write_record([
            s("citizen_id"),
            s("full_name"),
            s("sex"),
            s("date_of_birth"),
            &address(s("ward_code"), s("street_address")),
        ])?;
    }
    w.flush()?;
    eprintln!("writing {} agency records…", args.target);
    let staff = country.civil_servants_sized(args.target);
    let mut w = csv::Writer::from_path(&target)?;
    w.write_record([
        "staff_id",
        "citizen_id",
        "full_name",
        "sex",
        "date_of_birth",
        "address",
    ])?;
    let mut truth = HashMap::new();
    for s in &staff {
        let r = &s.record;
        let v = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("");
        w.write_record([
            v("staff_id"),
            v("citizen_id"),
            v("full_name"),
            v("sex"),
            v("date_of_birth"),
            v("address"),
        ])?;
        if let Some(i) = s.truth.person_index {
            truth.insert(v("staff_id").to_owned(), country.citizen_id(i));
        }
    }
    w.flush()?;
    eprintln!("  in {:.1} s", t.elapsed().as_secs_f64());
    Ok(Data {
        reference,
        target,
        truth,
        targets: staff.len(),
    })
}

/// Reads `id_column → match_column` for rows where the match is not empty.
fn read_matches(path: &Path, id: &str, matched: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = r.headers()?.clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (i, m) = (col(id)?, col(matched)?);
    let mut out = HashMap::new();
    for row in r.records() {
        let row = row?;
        if !row[m].is_empty() {
            out.insert(row[i].to_owned(), row[m].to_owned());
        }
    }
    Ok(out)
}

fn ensure_splink() -> anyhow::Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import splink, duckdb"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        eprintln!("installing {SPLINK} from PyPI…");
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", SPLINK])
            .status()
            .context("cannot run pip")?;
        ensure!(ok.success(), "pip install {SPLINK} failed");
    }
    Ok(())
}

struct Row {
    tool: &'static str,
    run: Measured,
    score: Score,
}

/// Runs the benchmark.
pub fn run(args: &ReconcileArgs) -> anyhow::Result<()> {
    let root = harness::workspace_root();
    let dir = harness::work_dir(
        &root,
        args.out.as_deref(),
        "bench-reconcile",
        Backend::Sqlite,
    )?;
    let ndx = harness::build_ndx(&root)?;
    let machine = sys::Machine::probe();
    let data = write_data(&dir, args)?;
    let mut rows = Vec::new();

    sys::settle_disk()?;
    eprintln!("ndx reconcile…");
    let report = dir.join("ndx-report.csv");
    let run = sys::run_measured(
        Command::new(&ndx)
            .arg("reconcile")
            .arg("--reference")
            .arg(&data.reference)
            .args(["--reference-id", "citizen_id", "--target"])
            .arg(&data.target)
            .args(["--target-id", "staff_id", "--quiet", "--out"])
            .arg(&report)
            .current_dir(&dir),
    )?;
    ensure!(run.status.success(), "ndx reconcile failed: {}", run.status);
    let predicted = read_matches(&report, "target_id", "reference_id")?;
    rows.push(Row {
        tool: "ndx reconcile",
        run,
        score: Score::of(&predicted, &data.truth),
    });

    if !args.skip_splink {
        ensure_splink()?;
        let script = dir.join("splink_reconcile.py");
        std::fs::File::create(&script)?.write_all(SPLINK_SCRIPT.as_bytes())?;
        sys::settle_disk()?;
        eprintln!("splink…");
        let out = dir.join("splink-matches.csv");
        let run = sys::run_measured(
            Command::new("python3")
                .arg(&script)
                .arg(&data.reference)
                .arg(&data.target)
                .arg(&out)
                .current_dir(&dir),
        )?;
        ensure!(run.status.success(), "splink failed: {}", run.status);
        let predicted = read_matches(&out, "target_id", "reference_id")?;
        rows.push(Row {
            tool: "Splink 5.0.0 (DuckDB)",
            run,
            score: Score::of(&predicted, &data.truth),
        });
    }

    let header = [
        "tool",
        "precision",
        "recall",
        "F1",
        "matched right",
        "matched wrong",
        "missed",
        "wall s",
        "CPU s",
        "peak RSS MiB",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for r in &rows {
        table.push(vec![
            r.tool.to_owned(),
            format!("{:.4}", r.score.precision()),
            format!("{:.4}", r.score.recall()),
            format!("{:.4}", r.score.f1()),
            thousands(r.score.true_positive),
            thousands(r.score.false_positive),
            thousands(r.score.false_negative),
            format!("{:.1}", r.run.wall.as_secs_f64()),
            format!("{:.1}", (r.run.user + r.run.sys).as_secs_f64()),
            format!("{:.0}", mib(r.run.max_rss_kib * 1024)),
        ]);
    }
    println!(
        "{} reference records × {} agency records ({} of them a person of the reference), seed {}",
        thousands(args.register as u64),
        thousands(data.targets as u64),
        thousands(data.truth.len() as u64),
        args.seed
    );
    println!("machine: {}", machine.describe());
    if args.markdown {
        println!("| {} |", table[0].join(" | "));
        println!("|{}", " --- |".repeat(header.len()));
        for r in &table[1..] {
            println!("| {} |", r.join(" | "));
        }
    } else {
        for line in harness::aligned(&table) {
            println!("{line}");
        }
    }
    if rows.len() == 2 {
        let speedup = rows[1].run.wall.as_secs_f64() / rows[0].run.wall.as_secs_f64();
        println!("ndx is {speedup:.1} × faster than Splink (wall time)");
    }
    Ok(())
}
