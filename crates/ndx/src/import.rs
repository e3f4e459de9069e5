//! `ndx import`: loads a file into a dataset through the same ingest pipeline as HTTP, on the
//! configured store, with a progress bar (rows/s, accepted, rejected, ETA).

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndx_core::ingest::{BatchStatus, IngestOptions, IngestReport, InputFormat, Mode};
use ndx_types::registry::Role;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Dataset to load into.
    #[arg(long)]
    dataset: String,
    /// Input file (`-` for standard input).
    file: PathBuf,
    /// Input format [default: from the file extension: .csv, .ndjson/.jsonl, .json].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// atomic: one invalid record refuses the batch; per-record: keep the valid ones.
    #[arg(long, value_enum, default_value_t = ModeArg::Atomic)]
    mode: ModeArg,
    /// Batch id (idempotency key): importing the same batch again changes nothing.
    #[arg(long)]
    batch_id: Option<String>,
    /// Source system recorded in the lineage [default: the owner's first system].
    #[arg(long)]
    system: Option<String>,
    /// Record errors listed in full (counts are always exact).
    #[arg(long, default_value_t = 20)]
    max_errors: usize,
    /// The code list versions the file's codes use when they are not the dataset's, e.g.
    /// `ethnic-group@1` (converted into the dataset's lists through the crosswalks).
    #[arg(long, value_name = "ID@VERSION,...", value_parser = parse_code_lists)]
    code_lists: Option<CodeLists>,
    /// Write the full JSON report to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// The lists of `--code-lists`, parsed as one value.
#[derive(Debug, Clone)]
struct CodeLists(Vec<ndx_types::codes::CodeListRef>);

fn parse_code_lists(text: &str) -> Result<CodeLists, String> {
    ndx_types::codes::parse_refs(text).map(CodeLists)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Ndjson,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Atomic,
    PerRecord,
}

fn detect_format(args: &ImportArgs) -> anyhow::Result<InputFormat> {
    if let Some(f) = args.format {
        return Ok(match f {
            FormatArg::Csv => InputFormat::Csv,
            FormatArg::Ndjson => InputFormat::Ndjson,
            FormatArg::Json => InputFormat::Json,
        });
    }
    let ext = args
        .file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Ok(InputFormat::Csv),
        Some("ndjson" | "jsonl") => Ok(InputFormat::Ndjson),
        Some("json") => Ok(InputFormat::Json),
        _ => bail!(
            "cannot tell the format of {}: pass --format csv|ndjson|json",
            args.file.display()
        ),
    }
}

pub fn run(cfg: &Config, args: &ImportArgs) -> anyhow::Result<()> {
    let format = detect_format(args)?;
    // A report that cannot be written must stop the import before it commits anything.
    let report_file = args.report.as_deref().map(ReportFile::open).transpose()?;
    let core = crate::open_core(cfg, ndx_store::OpenMode::Existing)?;
    let schema = core.schema(&args.dataset, None)?;
    let system = match &args.system {
        Some(s) => s.clone(),
        None => core
            .systems()?
            .into_iter()
            .find(|s| s.member == schema.owner)
            .map(|s| s.code)
            .with_context(|| {
                format!(
                    "member {:?} owning {:?} has no system to record as the source",
                    schema.owner, schema.dataset
                )
            })?,
    };
    let caller = core.local_caller(&system, vec![Role::Provider])?;
    let cap = caller.dataset_write(&schema)?;

    let (input, total): (Box<dyn Read>, Option<u64>) = if args.file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot open {}", args.file.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    };
    let mut opts = IngestOptions::new(format);
    opts.mode = match args.mode {
        ModeArg::Atomic => Mode::Atomic,
        ModeArg::PerRecord => Mode::PerRecord,
    };
    opts.batch_id = args.batch_id.clone();
    opts.max_listed_errors = args.max_errors;
    opts.code_lists = args.code_lists.clone().map(|l| l.0).unwrap_or_default();
    // The same bound as an upload over HTTP: a batch is one transaction.
    opts.max_input_bytes = cfg.limits.max_batch_bytes;
    let start = Instant::now();
    let result = core.ingest(&cap, input, &opts, chrono::Utc::now(), &mut |p| {
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(p.bytes);
        bar.set_message(format!(
            "{} rows ({:.0}/s) accepted {} rejected {}",
            p.received,
            p.received as f64 / secs,
            p.accepted,
            p.rejected
        ));
    });
    bar.finish_and_clear();
    let elapsed = start.elapsed();
    // The import's audit event gets its signed head before the process ends.
    core.audit().close();
    match result {
        Ok(report) => {
            summarize(&report, elapsed);
            if let Some(file) = report_file {
                file.write(&report)?;
            }
            if report.status == BatchStatus::Rejected && !report.replayed {
                return Err(ndx_core::Error::of(
                    ndx_core::Code::BatchRejected,
                    report.rejection_message(),
                )
                .into());
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn summarize(r: &IngestReport, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let status = match (r.status, r.replayed) {
        (_, true) => "already applied (nothing changed)",
        (BatchStatus::Committed, false) => "committed",
        (BatchStatus::Rejected, false) => "REJECTED (nothing changed)",
    };
    eprintln!(
        "batch {} into {} (schema {}): {status}\n  received {}  accepted {}  rejected {}  \
         created {}  updated {}  unchanged {}  deleted {}\n  {:.2} s, {:.0} records/s",
        r.batch_id,
        r.dataset,
        r.schema_version,
        r.received,
        r.accepted,
        r.rejected,
        r.created,
        r.updated,
        r.unchanged,
        r.deleted,
        secs,
        r.received as f64 / secs
    );
    for e in &r.errors {
        eprintln!(
            "  record {}{}{}{}: [{}] {}",
            e.record,
            e.line.map(|l| format!(" (line {l})")).unwrap_or_default(),
            e.key
                .as_ref()
                .map(|k| format!(" key {k:?}"))
                .unwrap_or_default(),
            e.field
                .as_ref()
                .map(|f| format!(" field {f}"))
                .unwrap_or_default(),
            e.code,
            e.message
        );
    }
    if r.errors_truncated {
        eprintln!(
            "  … {} errors in all; raise --max-errors or use --report FILE",
            r.rejected
        );
    }
}

/// The `--report` file, opened before the import so that a bad path is found before anything
/// is committed. A file created here and never written is removed again.
struct ReportFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    created: bool,
}

impl ReportFile {
    fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        let existed = path.exists();
        if path.is_dir() {
            bail!(
                "cannot write the report to {}: it is a directory",
                path.display()
            );
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        Ok(ReportFile {
            path: path.to_owned(),
            file: Some(file),
            created: !existed,
        })
    }

    fn write(mut self, r: &IngestReport) -> anyhow::Result<()> {
        use std::io::Write;
        let mut file = self.file.take().context("report file already written")?;
        file.set_len(0)?;
        file.write_all(&serde_json::to_vec_pretty(r)?)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        if self.file.is_some() && self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
