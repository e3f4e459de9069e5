//! `ndx`: the national data integration and sharing platform in one binary. This crate is the
//! command line and glue only: parsing flags, loading configuration, wiring the store, core and
//! HTTP server, progress bars and exit codes.

mod agreements;
mod api;
mod audit;
mod config;
mod connector;
mod demo;
mod demo_open;
mod demo_web;
mod demo_welfare;
mod import;
mod keys;
mod reconcile;
mod serve;
mod subscription;

/// jemalloc, whose background thread (started by `ndx serve`) gives freed memory back to the
/// system: glibc's allocator and mimalloc kept the memory of thousands of closed connections
/// (`tests/slow_clients.rs` measures it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// National data integration and sharing platform.
#[derive(Debug, Parser)]
#[command(name = "ndx", version, about)]
struct Cli {
    /// Configuration file (default: ./ndx.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (embedded store, keys) [default: ./ndx-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL: sqlite://PATH (default: DIR/ndx.db) or postgres://… .
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a synthetic country (once per data directory) and serve it.
    Demo(demo::DemoArgs),
    /// Serve the HTTP API.
    Serve {
        /// Listen address [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Load a file of records into a dataset, validated, as one batch.
    Import(import::ImportArgs),
    /// Print the data dictionary or a dataset schema.
    Dictionary {
        #[command(subcommand)]
        what: DictionaryCommand,
    },
    /// Data quality on the six criteria (accurate, complete, clean, live, unified, common use):
    /// every dataset with the means per member and overall, or one dataset per field and rule
    /// (JSON). Measures from the change feed first, as the server does after each batch.
    Quality {
        /// One dataset.
        dataset: Option<String>,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        what: audit::AuditCommand,
    },
    /// Sharing agreements of a running node, through its API.
    Agreements(agreements::AgreementsArgs),
    /// Connectors to agencies' databases on a running node, through its API.
    Connector(connector::ConnectorArgs),
    /// Push subscriptions of a running node, through its API.
    Subscription(subscription::SubscriptionArgs),
    /// Cross-check a register against a reference register (two CSV files): one status per
    /// record, the differences, the duplicates.
    Reconcile(reconcile::ReconcileArgs),
    /// Read free-text Vietnamese addresses into the 2025 administrative units (pre-2025
    /// addresses through the official conversion); `-` reads one address per line from stdin
    /// and prints NDJSON.
    Address {
        /// The address (or `-`).
        text: String,
    },
    /// API keys on the stopped store (break-glass).
    Keys {
        #[command(subcommand)]
        what: keys::KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DictionaryCommand {
    /// The whole dictionary as JSON.
    Export,
    /// Data elements.
    Elements,
    /// Code lists (id and latest version).
    CodeLists,
    /// One code list.
    CodeList {
        /// Code list id.
        id: String,
        /// Version (default latest).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Datasets (latest schemas).
    Datasets,
    /// A dataset's schema.
    Schema {
        /// Dataset id.
        dataset: String,
        /// Export form.
        #[arg(long, value_enum, default_value_t = SchemaForm::Native)]
        format: SchemaForm,
        /// Schema version MAJOR.MINOR (default latest).
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaForm {
    Native,
    JsonSchema,
    TableSchema,
}

/// Exit codes: 0 success, 1 other failure, 2 usage (clap), 3 invalid input, 4 not found,
/// 5 conflict, 6 store unavailable.
fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<ndx_core::Error>().map(|e| e.kind) {
        Some(
            ndx_core::Kind::Invalid
            | ndx_core::Kind::Malformed
            | ndx_core::Kind::TooLarge
            | ndx_core::Kind::UnsupportedMediaType,
        ) => 3,
        Some(ndx_core::Kind::NotFound | ndx_core::Kind::Gone) => 4,
        Some(ndx_core::Kind::Conflict) => 5,
        Some(ndx_core::Kind::Unavailable) => 6,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        Command::Demo(a) => a.listen.clone(),
        _ => None,
    };
    let cfg = config::load(
        cli.config.as_deref(),
        config::Overrides {
            data_dir: cli.data_dir,
            listen,
            store: cli.store,
        },
    )?;
    init_logging(&cfg);
    match cli.command {
        Command::Demo(args) => demo::run(&cfg, &args),
        Command::Serve { .. } => serve::run(&cfg),
        Command::Import(args) => import::run(&cfg, &args),
        Command::Dictionary { what } => dictionary(&cfg, what),
        Command::Quality { dataset } => quality(&cfg, dataset.as_deref()),
        Command::Audit { what } => audit::run(&cfg, what),
        Command::Keys { what } => keys::run(&cfg, what),
        Command::Agreements(args) => agreements::run(&args),
        Command::Connector(args) => connector::run(&args),
        Command::Subscription(args) => subscription::run(&args),
        Command::Reconcile(args) => reconcile::run(&args),
        Command::Address { text } => address(&text),
    }
}

/// `ndx address`: one address as pretty JSON, or `-`: each line of stdin as an NDJSON line.
fn address(text: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    if text != "-" {
        return print_json(&ndx_http::address::read(text));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        serde_json::to_writer(&mut out, &ndx_http::address::read(line.trim()))?;
        out.write_all(b"\n")?;
    }
    Ok(out.flush()?)
}

fn init_logging(cfg: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens the store (`mode`: whether a missing one is created) and its audit log and makes sure
/// the built-in dictionary is there.
fn open_core(cfg: &config::Config, mode: ndx_store::OpenMode) -> anyhow::Result<ndx_core::Core> {
    let store = open_store(cfg, mode)?;
    let audit = open_audit(cfg, store.clone())?;
    let core = ndx_core::Core::new(store, audit)
        .with_connector_lease(cfg.connector_lease)
        .with_drop_root(cfg.drop_root.clone())
        .with_push_policy(cfg.push.clone())
        .with_feed_retention(cfg.feed_retention)
        .with_operator(cfg.operator.clone());
    core.ensure_builtins(chrono::Utc::now())?;
    Ok(core)
}

/// Opens the store: created if missing only by the commands that make one (`serve`, `demo`);
/// every other command refuses a data directory or URL without a store, so a mistyped
/// `--data-dir` is an error instead of a new empty store.
fn open_store(cfg: &config::Config, mode: ndx_store::OpenMode) -> anyhow::Result<ndx_core::Store> {
    ndx_core::Store::open_with(&cfg.store, mode).map_err(|e| match e {
        ndx_store::StoreError::NotFound(_) => anyhow::Error::new(ndx_core::Error::of(
            ndx_core::Code::NotFound,
            format!("cannot open store: {e}"),
        )),
        e => anyhow::anyhow!("cannot open store: {e}"),
    })
}

/// The audit keys of this node: in the data directory, or the configured signing key file.
fn audit_keys(cfg: &config::Config) -> anyhow::Result<ndx_core::audit::AuditKeys> {
    Ok(ndx_core::audit::AuditKeys::load_or_create(
        &cfg.data_dir,
        cfg.audit_key_file.as_deref(),
    )?)
}

fn open_audit(
    cfg: &config::Config,
    store: ndx_core::Store,
) -> anyhow::Result<ndx_core::audit::AuditLog> {
    Ok(ndx_core::audit::AuditLog::start(
        store,
        audit_keys(cfg)?,
        std::sync::Arc::new(chrono::Utc::now),
    )?)
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let out = serde_json::to_string_pretty(v)?;
    println!("{out}");
    Ok(())
}

fn quality(cfg: &config::Config, dataset: Option<&str>) -> anyhow::Result<()> {
    let core = open_core(cfg, ndx_store::OpenMode::Existing)?;
    let now = chrono::Utc::now();
    match dataset {
        Some(d) => print_json(&core.quality_of(&core.schema(d, None)?, now)?),
        None => print_json(&core.quality_overview(None, now)?),
    }
}

fn dictionary(cfg: &config::Config, what: DictionaryCommand) -> anyhow::Result<()> {
    use ndx_core::dictionary::SchemaExport;
    let core = open_core(cfg, ndx_store::OpenMode::Existing)?;
    match what {
        DictionaryCommand::Export => print_json(&core.export_dictionary()?),
        DictionaryCommand::Elements => print_json(&core.elements()?),
        DictionaryCommand::CodeLists => print_json(
            &core
                .code_lists()?
                .into_iter()
                .map(|(id, version)| serde_json::json!({"id": id, "version": version}))
                .collect::<Vec<_>>(),
        ),
        DictionaryCommand::CodeList { id, version } => print_json(&core.code_list(&id, version)?),
        DictionaryCommand::Datasets => print_json(&core.datasets()?),
        DictionaryCommand::Schema {
            dataset,
            format,
            version,
        } => {
            let version = match version {
                None => None,
                Some(v) => {
                    let (a, b) = v
                        .split_once('.')
                        .ok_or_else(|| anyhow::anyhow!("version {v:?} must be MAJOR.MINOR"))?;
                    Some(ndx_types::dictionary::SchemaVersion {
                        major: a.parse()?,
                        minor: b.parse()?,
                    })
                }
            };
            let form = match format {
                SchemaForm::Native => SchemaExport::Native,
                SchemaForm::JsonSchema => SchemaExport::JsonSchema,
                SchemaForm::TableSchema => SchemaExport::TableSchema,
            };
            print_json(&core.export_schema(&dataset, version, form)?)
        }
    }
}
