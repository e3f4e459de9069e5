//! `ndx reconcile`: cross-checks a target register against a reference register with
//! `ndx-match` — two CSV files here, or two stored datasets on a running node (its
//! `/api/v1/reconciliations`, the reference read under the caller's agreement) — and writes
//! the report as CSV (or NDJSON) with a summary on stderr.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndx_core::{Code, Error};
use ndx_match::address::AddressParser;
use ndx_match::person::Prepared;
use ndx_match::{AddressInput, Config, Linker, PersonRecord, Summary};
use ndx_types::reconcile::ReportRow;

/// Reference records handed from the reading thread to the comparing one at a time.
const PREPARED_BATCH: usize = 1024;

/// Arguments of `ndx reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The reference register (CSV with a header row of element ids), e.g. the population.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "reference_dataset"
    )]
    reference: Option<PathBuf>,
    /// The reference's id column, reported as `reference_id`.
    #[arg(long, value_name = "COLUMN", default_value = "citizen_id")]
    reference_id: String,
    /// The register to check (CSV with a header row of element ids).
    #[arg(long, value_name = "FILE", required_unless_present = "target_dataset")]
    target: Option<PathBuf>,
    /// The target's id column, reported as `target_id`.
    #[arg(
        long,
        value_name = "COLUMN",
        required_unless_present = "target_dataset"
    )]
    target_id: Option<String>,
    /// A stored reference register on the node at `--url`, read under the key's agreement
    /// (instead of `--reference FILE`).
    #[arg(
        long,
        value_name = "DATASET",
        requires = "target_dataset",
        conflicts_with = "reference"
    )]
    reference_dataset: Option<String>,
    /// The key's own stored register on the node (instead of `--target FILE`).
    #[arg(long, value_name = "DATASET", requires = "reference_dataset", conflicts_with_all = ["target", "target_id"])]
    target_dataset: Option<String>,
    /// The purpose of a stored reconciliation (its agreement's), e.g. `cross-checking`.
    #[arg(long, requires = "reference_dataset")]
    purpose: Option<String>,
    /// The node, for stored registers.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key for stored registers (or set NDX_KEY).
    #[arg(long, env = "NDX_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Where the report goes (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Report format: CSV (`target_id,status,reference_id,score,differences,duplicate_of`)
    /// or NDJSON (the same, with each difference's kind and every finding).
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    format: ReportFormat,
    /// A record without a usable citizen ID is `probable` from this match probability on.
    #[arg(long, default_value_t = 0.9)]
    threshold: f64,
    /// No progress bar and no summary.
    #[arg(long)]
    quiet: bool,
}

/// Report formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Csv,
    Ndjson,
}

fn invalid(message: impl Into<String>) -> anyhow::Error {
    Error::of(Code::ReconcileInputInvalid, message).into()
}

/// Which column holds each element, from a header row.
struct Columns {
    id: usize,
    citizen_id: Option<usize>,
    full_name: usize,
    date_of_birth: Option<usize>,
    sex: Option<usize>,
    address: Option<usize>,
    street_address: Option<usize>,
    ward_code: Option<usize>,
    province_code: Option<usize>,
}

impl Columns {
    fn new(
        which: &str,
        path: &Path,
        header: &csv::StringRecord,
        id: &str,
    ) -> anyhow::Result<Columns> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let id_column = find(id).ok_or_else(|| {
            invalid(format!(
                "{which} {}: no id column {id:?} (columns: {})",
                path.display(),
                header.iter().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let full_name = find("full_name")
            .ok_or_else(|| invalid(format!("{which} {}: no full_name column", path.display())))?;
        Ok(Columns {
            id: id_column,
            citizen_id: find("citizen_id"),
            full_name,
            date_of_birth: find("date_of_birth"),
            sex: find("sex"),
            address: find("address"),
            street_address: find("street_address"),
            ward_code: find("ward_code"),
            province_code: find("province_code"),
        })
    }

    fn record(&self, row: &csv::StringRecord) -> PersonRecord {
        let get = |c: Option<usize>| {
            c.and_then(|i| row.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let address = match get(self.address) {
            Some(text) => Some(AddressInput::Text(text)),
            None if self.ward_code.is_some() || self.province_code.is_some() => {
                Some(AddressInput::Codes {
                    street: get(self.street_address),
                    ward_code: get(self.ward_code),
                    province_code: get(self.province_code),
                })
            }
            None => None,
        };
        PersonRecord {
            id: get(Some(self.id)).unwrap_or_default(),
            citizen_id: get(self.citizen_id),
            full_name: get(Some(self.full_name)),
            date_of_birth: get(self.date_of_birth),
            sex: get(self.sex),
            address,
        }
    }
}

/// Reads a CSV register row by row, calling `each` with the record and its line number.
fn read_register(
    which: &str,
    path: &Path,
    input: impl Read,
    id: &str,
    mut each: impl FnMut(PersonRecord, u64) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| invalid(format!("{which} {}: {e}", path.display())))?
        .clone();
    // A byte-order mark some spreadsheet programs write is not part of the first name.
    let header: csv::StringRecord = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            }
        })
        .collect();
    let columns = Columns::new(which, path, &header, id)?;
    let mut row = csv::StringRecord::new();
    let mut rows = 0;
    loop {
        match reader.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(invalid(format!("{which} {}: {e}", path.display()))),
        }
        let line = row.position().map_or(0, |p| p.line());
        let record = columns.record(&row);
        if record.id.is_empty() {
            return Err(invalid(format!(
                "{which} {} line {line}: empty {id}",
                path.display()
            )));
        }
        rows += 1;
        each(record, line)?;
    }
    Ok(rows)
}

fn open(which: &str, path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("cannot open {which} {}", path.display()))
}

/// Runs `ndx reconcile`.
pub fn run(args: &ReconcileArgs) -> anyhow::Result<()> {
    if !(0.5..=1.0).contains(&args.threshold) {
        return Err(invalid(format!(
            "threshold {} is outside 0.5–1",
            args.threshold
        )));
    }
    if let (Some(reference), Some(target)) = (&args.reference_dataset, &args.target_dataset) {
        return stored(args, reference, target);
    }
    let (Some(reference), Some(target), Some(target_id)) =
        (&args.reference, &args.target, &args.target_id)
    else {
        return Err(invalid(
            "give --reference FILE, --target FILE and --target-id, or --reference-dataset and --target-dataset",
        ));
    };
    let start = Instant::now();
    let mut linker = Linker::new(Config {
        threshold: args.threshold,
        ..Config::default()
    });
    let target_file = open("target", target)?;
    read_register("target", target, target_file, target_id, |record, line| {
        linker
            .add_target(record)
            .map_err(|e| invalid(format!("target {} line {line}: {e}", target.display())))
    })?;

    let reference_file = open("reference", reference)?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = match reference_file.metadata() {
            Ok(m) => ProgressBar::new(m.len()),
            Err(_) => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("reading the reference");
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    };
    // The reference is read and prepared (CSV, name folding, address parsing: about a third
    // of the work) on a thread of its own, in batches, while this one compares.
    let references = std::thread::scope(|scope| -> anyhow::Result<u64> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Prepared>>(8);
        let input = bar.wrap_read(reference_file);
        let reference_id = &args.reference_id;
        let reader = scope.spawn(move || {
            let mut parser = AddressParser::new();
            let mut batch = Vec::with_capacity(PREPARED_BATCH);
            let rows = read_register("reference", reference, input, reference_id, |record, _| {
                batch.push(Prepared::new(record, &mut parser));
                if batch.len() == PREPARED_BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
                    anyhow::bail!("the comparing thread stopped");
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok(rows)
        });
        for batch in rx {
            for p in batch {
                linker.add_prepared_reference(p);
            }
        }
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reference reader panicked"))?
    })?;
    bar.set_message("deciding");
    let (outcomes, summary) = linker.finish();
    bar.finish_and_clear();
    debug_assert_eq!(summary.references, references);

    write_report(
        &args.out,
        args.format,
        outcomes.into_iter().map(ReportRow::from).collect(),
    )?;
    if !args.quiet {
        print_summary(&summary, start.elapsed());
    }
    Ok(())
}

/// Writes the report to `out` (`-`: standard output).
fn write_report(out: &Path, format: ReportFormat, rows: Vec<ReportRow>) -> anyhow::Result<()> {
    if out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        write_outcomes(&mut w, format, rows)?;
        w.flush()?;
        return Ok(());
    }
    with_partial(out, |w| write_outcomes(w, format, rows))
}

/// Writes `bytes` to `out` (`-`: standard output).
fn write_bytes(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if out.as_os_str() == "-" {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        return Ok(stdout.flush()?);
    }
    with_partial(out, |w| Ok(w.write_all(bytes)?))
}

/// Runs `write` on a file beside `out` and renames it into place once synced; removes it if
/// anything fails, so that a failed run leaves no half report.
fn with_partial(
    out: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let name = out
        .file_name()
        .ok_or_else(|| invalid(format!("--out {}: not a file name", out.display())))?;
    let partial = out.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let file = File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Reconciles two stored registers through the node's API: starts the run, waits for it,
/// writes its report and prints its summary.
fn stored(args: &ReconcileArgs, reference: &str, target: &str) -> anyhow::Result<()> {
    let Some(key) = args.key.clone() else {
        return Err(invalid("stored registers need --key (or NDX_KEY)"));
    };
    let Some(purpose) = args.purpose.as_deref() else {
        return Err(invalid("stored registers need --purpose (the agreement's)"));
    };
    let api = crate::api::Api::new(&crate::api::Remote {
        url: args.url.clone(),
        key,
    });
    let start = Instant::now();
    let run = api.post_with(
        "/api/v1/reconciliations",
        &serde_json::json!({"target": target, "reference": reference, "threshold": args.threshold}),
        &[("Ndx-Purpose", purpose)],
    )?;
    let id = run["id"].as_str().unwrap_or_default().to_owned();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_message(format!(
            "{id}: reading {target} and {reference} on the node"
        ));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    };
    let run = loop {
        let run = api.get(&format!("/api/v1/reconciliations/{id}"))?;
        if run["status"] != "running" {
            break run;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    bar.finish_and_clear();
    if run["status"] != "done" {
        return Err(Error::of(
            Code::ReconciliationFailed,
            format!(
                "reconciliation {id} failed: {}",
                run["error"].as_str().unwrap_or("no reason given")
            ),
        )
        .into());
    }
    let accept = match args.format {
        ReportFormat::Csv => "text/csv",
        ReportFormat::Ndjson => "application/x-ndjson",
    };
    let report = api.get_text(&format!("/api/v1/reconciliations/{id}/report"), accept)?;
    write_bytes(&args.out, report.as_bytes())?;
    if !args.quiet {
        eprintln!(
            "reconciled {} records of {target} against {} of {reference} ({id}, agreement {}) in {:.1} s",
            run["targets"],
            run["references"],
            run["agreement"].as_str().unwrap_or(""),
            start.elapsed().as_secs_f64()
        );
        let list = |v: &serde_json::Value| -> String {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        eprintln!(
            "  {}, duplicates {}",
            list(&run["statuses"]),
            run["duplicates"]
        );
        eprintln!("  findings: {}", list(&run["findings"]));
        for line in run["model"].as_array().into_iter().flatten() {
            eprintln!("    {}", line.as_str().unwrap_or(""));
        }
    }
    Ok(())
}

fn write_outcomes(
    w: &mut impl Write,
    format: ReportFormat,
    rows: Vec<ReportRow>,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(ndx_types::reconcile::REPORT_COLUMNS)?;
            for row in rows {
                csv.write_record(row.csv_cells())?;
            }
            csv.flush()?;
        }
        ReportFormat::Ndjson => {
            for row in rows {
                serde_json::to_writer(&mut *w, &row)?;
                w.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

fn print_summary(s: &Summary, elapsed: Duration) {
    eprintln!(
        "reconciled {} target records against {} reference records in {:.1} s",
        s.targets,
        s.references,
        elapsed.as_secs_f64()
    );
    let statuses: Vec<String> = s
        .by_status
        .iter()
        .map(|(status, n)| format!("{} {n}", status.as_str()))
        .collect();
    eprintln!("  {}, duplicates {}", statuses.join(", "), s.duplicates);
    if !s.by_finding.is_empty() {
        let findings: Vec<String> = s
            .by_finding
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        eprintln!("  findings: {}", findings.join(", "));
    }
    let m_source = match s.model.m_source {
        ndx_match::model::MSource::Default => "built-in defaults (too few pairs to estimate)",
        ndx_match::model::MSource::KeyPairs => "pairs whose citizen ID agrees",
        ndx_match::model::MSource::Em => "EM over the candidate pairs",
    };
    eprintln!(
        "  model: m from {m_source} ({} pairs), u from {} random pairs, {} candidate pairs; {:.1} % of the target estimated to be in the reference",
        s.key_pairs,
        s.random_pairs,
        s.candidate_pairs,
        s.in_reference * 100.0
    );
    eprintln!(
        "  {:.1} % of the records whose citizen ID the reference holds are that person",
        s.model.key_prior * 100.0
    );
    for line in s.model.describe() {
        eprintln!("    {line}");
    }
}
