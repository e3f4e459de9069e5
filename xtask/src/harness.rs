//! Running the release `ndx` for the benchmarks, on either backend: build it, write the demo
//! population CSV, make fresh demo stores (a data directory, plus a fresh PostgreSQL schema
//! for `--store postgres`), import a file into one, serve one.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::pg;
use crate::sys::{self, Measured};

/// A storage backend of ndx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The embedded SQLite store in the data directory.
    Sqlite,
    /// PostgreSQL (`--pg-url`), one fresh schema per store.
    Postgres,
}

impl Backend {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Which store the benchmark measures.
#[derive(Debug, Clone, Args)]
pub struct StoreOpts {
    /// Store backend to measure.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub store: Backend,
    /// PostgreSQL server of `--store postgres`; every store (and baseline) gets a fresh
    /// schema there, dropped when the run ends.
    #[arg(long, value_name = "URL", default_value = pg::DEFAULT_URL)]
    pub pg_url: String,
    /// Extra parameters of the ndx store URL on PostgreSQL (e.g. `pool_size=40`), joined
    /// with `&`.
    #[arg(long, value_name = "K=V&…")]
    pub pg_params: Option<String>,
}

impl StoreOpts {
    /// The flag that names this store on a benchmark's command line (empty for the default).
    pub fn flag(&self) -> &'static str {
        match self.store {
            Backend::Postgres => " --store postgres",
            Backend::Sqlite => "",
        }
    }

    /// Checks the options and connects to PostgreSQL when it is the backend.
    pub fn admin(&self) -> anyhow::Result<Option<pg::Admin>> {
        match self.store {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => {
                pg::check_urls(&self.pg_url, self.pg_params.as_deref())?;
                Ok(Some(pg::Admin::connect(&self.pg_url)?))
            }
        }
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// The cargo target directory.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The working directory of a benchmark: `out` if given, else `target/TASK` (`TASK-postgres`
/// on PostgreSQL); created, and made absolute.
pub fn work_dir(
    root: &Path,
    out: Option<&Path>,
    task: &str,
    store: Backend,
) -> std::io::Result<PathBuf> {
    let dir = out.map_or_else(
        || {
            target_dir(root).join(match store {
                Backend::Sqlite => task.to_owned(),
                Backend::Postgres => format!("{task}-postgres"),
            })
        },
        Path::to_path_buf,
    );
    std::fs::create_dir_all(&dir)?;
    dir.canonicalize()
}

/// Lines of a text table: every column as wide as its widest cell, the first column
/// left-aligned and the others (numbers) right-aligned, two spaces between columns.
pub fn aligned<R: AsRef<[String]>>(rows: &[R]) -> Vec<String> {
    let columns = rows.first().map_or(0, |r| r.as_ref().len());
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.as_ref()[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .as_ref()
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    let pad = " ".repeat(w - c.chars().count());
                    if i == 0 {
                        format!("{c}{pad}")
                    } else {
                        format!("{pad}{c}")
                    }
                })
                .collect();
            cells.join("  ")
        })
        .collect()
}

/// Column definitions of a bare baseline table from a CSV header: the first column is the
/// primary key (`key_type`), the others `other_type`; names are quoted.
pub fn bare_columns(header: &[String], key_type: &str, other_type: &str) -> Vec<String> {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = h.replace('"', "");
            let ty = if i == 0 { key_type } else { other_type };
            format!("\"{name}\" {ty}")
        })
        .collect()
}

/// Bytes → MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
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
pub fn remove(path: &Path) -> anyhow::Result<()> {
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

/// `cargo build --release -p ndx`; returns the binary (or the one `NDX_BENCH_BINARY` names).
pub fn build_ndx(root: &Path) -> anyhow::Result<PathBuf> {
    // An A/B comparison measures a binary built elsewhere (a copy of another commit's build)
    // with this harness: `NDX_BENCH_BINARY=/tmp/ndx-before cargo xtask bench-…`.
    if let Some(given) = std::env::var_os("NDX_BENCH_BINARY") {
        let ndx = PathBuf::from(given);
        ensure!(
            ndx.is_file(),
            "NDX_BENCH_BINARY {} is not a file",
            ndx.display()
        );
        eprintln!("measuring {} (NDX_BENCH_BINARY)", ndx.display());
        return Ok(ndx);
    }
    eprintln!("building the release ndx…");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    // `cargo xtask` runs this process with the xtask package's own variables set
    // (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, …). Build scripts such as ring's ask to rerun when
    // those change, and cargo compares them with its own environment: inherited, they made
    // every bench rebuild ring, rustls and the crates above them twice (a few minutes), once
    // for this build and once for the next `cargo xtask`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            build.env_remove(name.as_ref());
        }
    }
    let built = build
        .args(["build", "--release", "--package", "ndx"])
        .current_dir(root)
        .status()
        .context("cannot run cargo build")?;
    ensure!(built.success(), "cargo build --release -p ndx failed");
    let ndx = target_dir(root).join("release").join("ndx");
    ensure!(ndx.exists(), "{} was not built", ndx.display());
    Ok(ndx)
}

/// A fresh demo country of `citizens` in `data` (`ndx demo --no-serve` with `extra` flags, the
/// welfare source left out): its store.
pub fn demo_country(
    ndx: &Path,
    data: &Path,
    citizens: usize,
    extra: &[&str],
) -> anyhow::Result<FreshStore> {
    if data.exists() {
        remove(data)?;
    }
    let mut args: Vec<OsString> = extra.iter().map(OsString::from).collect();
    args.extend(["--data-dir".into(), data.into()]);
    run_demo(ndx, citizens, &args)?;
    Ok(FreshStore::existing(data))
}

/// `ndx demo --no-serve --citizens N` with `args`, quietly and without the demo's welfare
/// table (the demo's own; benchmarks make their own sources).
fn run_demo(ndx: &Path, citizens: usize, args: &[OsString]) -> anyhow::Result<()> {
    let demo = Command::new(ndx)
        .args(["demo", "--no-serve", "--citizens", &citizens.to_string()])
        .args(args)
        .env("NDX_LOG", "warn")
        .env("NDX_DEMO_WELFARE_SOURCE", "none")
        .output()?;
    ensure!(
        demo.status.success(),
        "ndx demo failed: {}",
        String::from_utf8_lossy(&demo.stderr)
    );
    Ok(())
}

/// The written population CSV.
pub struct Csv {
    /// Where it is.
    pub path: PathBuf,
    /// Data rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Seconds it took to generate and write.
    pub gen_secs: f64,
}

/// Writes the demo population (`ndx_demo::Country::new(seed, rows)`, the 10
/// `POPULATION_FIELDS`) to `path`.
pub fn write_population_csv(path: &Path, rows: usize, seed: u64) -> anyhow::Result<Csv> {
    eprintln!("writing {rows} rows to {}…", path.display());
    let t = Instant::now();
    let country = ndx_demo::Country::new(seed, rows);
    let file = std::fs::File::create(path)?;
    let written = ndx_demo::write_csv(country.population(), ndx_demo::POPULATION_FIELDS, file)?;
    let gen_secs = t.elapsed().as_secs_f64();
    ensure!(written == rows as u64, "wrote {written} rows");
    let bytes = std::fs::metadata(path)?.len();
    eprintln!("  {:.1} MiB in {gen_secs:.1} s", mib(bytes));
    Ok(Csv {
        path: path.to_owned(),
        rows: written,
        bytes,
        gen_secs,
    })
}

/// A fresh demo store (dictionary, population schema, one citizen): a data directory (keys,
/// and the SQLite file) and, on PostgreSQL, a schema of its own, dropped with this value.
pub struct FreshStore {
    /// The data directory.
    pub dir: PathBuf,
    /// The PostgreSQL schema, if the store is there.
    pub schema: Option<pg::Schema>,
    /// Extra parameters of the store URL (`--pg-params`).
    store_params: Option<String>,
}

impl FreshStore {
    /// `ndx demo --no-serve --citizens 1` into a fresh `dir` (and a fresh schema named after
    /// `tag` on PostgreSQL).
    pub fn create(
        ndx: &Path,
        opts: &StoreOpts,
        dir: &Path,
        tag: &str,
    ) -> anyhow::Result<FreshStore> {
        if dir.exists() {
            remove(dir)?;
        }
        let schema = match opts.store {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg::Schema::new(&opts.pg_url, tag)?),
        };
        let store = FreshStore {
            dir: dir.to_owned(),
            schema,
            store_params: opts.pg_params.clone(),
        };
        run_demo(ndx, 1, &store.args())?;
        Ok(store)
    }

    /// A data directory some other command filled (SQLite).
    pub fn existing(dir: &Path) -> FreshStore {
        FreshStore {
            dir: dir.to_owned(),
            schema: None,
            store_params: None,
        }
    }

    /// The flags that select this store: `--data-dir DIR [--store URL]`.
    pub fn args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--data-dir".into(), self.dir.clone().into()];
        if let Some(s) = &self.schema {
            v.push("--store".into());
            v.push(s.store_url(self.store_params.as_deref()).into());
        }
        v
    }

    /// An API key of the demo (`population-provider`, …).
    pub fn api_key(&self, name: &str) -> anyhow::Result<String> {
        let keys: Value = serde_json::from_slice(&std::fs::read(self.dir.join("demo-keys.json"))?)?;
        Ok(keys[name]
            .as_str()
            .with_context(|| format!("no {name} key in demo-keys.json"))?
            .to_owned())
    }
}

/// Checks an ingest report of `rows` records into a fresh demo store.
pub fn check_report(report: &Value, rows: u64) -> anyhow::Result<()> {
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

/// `ndx import --dataset population --quiet --report OUT/import-report.json` of `csv` into
/// `store`, timed from spawn to exit with its peak RSS; checks exit status and report.
pub fn import(ndx: &Path, store: &FreshStore, csv: &Csv, out: &Path) -> anyhow::Result<Measured> {
    let report_path = out.join("import-report.json");
    let log_path = out.join("import.log");
    let m = sys::run_measured(
        Command::new(ndx)
            .args(["import", "--dataset", "population", "--quiet", "--report"])
            .arg(&report_path)
            .args(store.args())
            .arg(&csv.path)
            .env("NDX_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?),
    )?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    ensure!(
        m.status.success(),
        "ndx import failed ({}): {log}",
        m.status
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
    check_report(&report, csv.rows).with_context(|| format!("ndx import report: {report}"))?;
    Ok(m)
}

/// A running `ndx serve --listen 127.0.0.1:0`, stopped (SIGTERM) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts the server on `store` and waits for its "listening on" line.
    pub fn start(ndx: &Path, store: &FreshStore) -> anyhow::Result<Server> {
        Self::start_with_env(ndx, store, &[])
    }

    /// [`Server::start`] with extra environment variables (settings).
    pub fn start_with_env(
        ndx: &Path,
        store: &FreshStore,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let child = Command::new(ndx)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(store.args())
            .env("NDX_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(store.dir.join("serve.log"))?)
            .spawn()?;
        let mut server = Server {
            child,
            base: String::new(),
        };
        let stdout = server.child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        server.base = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(a) = line?.strip_prefix("listening on ") {
                        break a.trim().to_owned();
                    }
                }
                None => bail!(
                    "ndx serve exited before listening: {}",
                    std::fs::read_to_string(store.dir.join("serve.log")).unwrap_or_default()
                ),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(server)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
