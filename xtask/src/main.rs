//! Project automation in Rust, run as `cargo xtask TASK` (the alias is in `.cargo/config.toml`
//! and builds this crate in release mode).
//!
//! - `bench-import [--store sqlite|postgres]`: the import benchmark behind BENCHMARKS.md.
//! - `bench-reads [--store sqlite|postgres]`: the point-read benchmark behind BENCHMARKS.md.
//! - `bench-exchange [--store sqlite|postgres]`: governed lookups against a bare axum endpoint,
//!   and the bulk extract (BENCHMARKS.md).
//! - `bench-audit`: durable audit appends, proof latency and `ndx audit verify` (BENCHMARKS.md).
//! - `bench-feed [--store sqlite|postgres]`: change-feed streams: delivered changes/s and
//!   commit-to-delivery latency (BENCHMARKS.md).
//! - `bench-connector [--store sqlite|postgres]`: a connector's initial load of a PostgreSQL
//!   table against a bare SELECT, and its lag under a steady stream of changes (BENCHMARKS.md).
//! - `bench-ckan`: CKAN's `package_search` over 10,000 packages (p50, p99), a release, and
//!   downloads (BENCHMARKS.md).
//! - `bench-quality [--store sqlite|postgres]`: the first and the incremental quality
//!   measurement of the population after a batch of updates (BENCHMARKS.md).
//! - `bench-reconcile`: `ndx reconcile` and Splink side by side on synthetic registers, scored
//!   against the ground truth (BENCHMARKS.md).
//! - `bench-web`: the web UI's main pages on the demo country, each as its user (p50, p99,
//!   max; BENCHMARKS.md).

mod audit;
mod bench;
mod ckan;
mod connector;
mod exchange;
mod feed;
mod harness;
mod pg;
mod quality;
mod reads;
mod reconcile;
mod sys;
mod web;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// ndx project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Import benchmark: a 10-column population CSV into a bare table (SQLite insert or
    /// PostgreSQL COPY), through `ndx import` (validated) and through `POST …/records`, in one
    /// run.
    BenchImport(bench::BenchArgs),
    /// Point-read benchmark: `GET …/records/{key}` of random keys from concurrent loopback
    /// clients, after importing the population.
    BenchReads(reads::ReadsArgs),
    /// Governed exchange benchmark: lookups under an agreement from concurrent loopback
    /// clients against a bare axum JSON endpoint in the same run, and one bulk extract.
    BenchExchange(exchange::ExchangeArgs),
    /// Change-feed benchmark: Server-Sent Events subscribers follow batches of changes.
    BenchFeed(feed::FeedArgs),
    /// Connector benchmark: the initial load of a PostgreSQL table against a bare SELECT of
    /// it, then the lag while its rows change at a steady rate.
    BenchConnector(connector::ConnectorArgs),
    /// Reconciliation benchmark: `ndx reconcile` and Splink (DuckDB) on the same synthetic
    /// population and agency registers: precision, recall, F1, wall time and peak memory.
    BenchReconcile(reconcile::ReconcileArgs),
    /// Open-data benchmark: `package_search` over 10,000 packages (p50, p99) and downloads.
    BenchCkan(ckan::CkanArgs),
    /// Web UI benchmark: the main pages on the demo country, each as its user, one client.
    BenchWeb(web::WebArgs),
    /// Quality benchmark: the first measurement of a large register, then the incremental
    /// one after a batch of updates, against the imports themselves.
    BenchQuality(quality::QualityArgs),
    /// The bare axum JSON endpoint of bench-exchange, run as a child process.
    #[command(hide = true)]
    BareJson,
    /// Audit log benchmark: durable appends from concurrent writers against the machine's
    /// SHA-256 + fsync limit, proof latency, and verifying a log of 1,000,000 entries.
    BenchAudit(audit::AuditArgs),
    /// The bare SQLite baseline of bench-import, run as a child process so that its peak RSS
    /// is measured on its own: CSV rows → fresh SQLite table. Prints the row count.
    #[command(hide = true)]
    BareInsert {
        /// CSV with a header row; the first column is the primary key.
        csv: PathBuf,
        /// SQLite file to create (replaced if present).
        db: PathBuf,
    },
    /// The bare PostgreSQL baseline of bench-import, run as a child process: creates
    /// SCHEMA.population and COPYs the CSV into it in one transaction. Prints the row count.
    #[command(hide = true)]
    BareCopy {
        /// Server URL (no ndx parameters).
        url: String,
        /// CSV with a header row; the first column is the primary key.
        csv: PathBuf,
        /// Schema to create (must not exist).
        schema: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::BenchImport(args) => bench::run(&args),
        Task::BenchReads(args) => reads::run(&args),
        Task::BenchAudit(args) => audit::run(&args),
        Task::BenchExchange(args) => exchange::run(&args),
        Task::BenchFeed(args) => feed::run(&args),
        Task::BenchConnector(args) => connector::run(&args),
        Task::BenchReconcile(args) => reconcile::run(&args),
        Task::BenchQuality(args) => quality::run(&args),
        Task::BenchCkan(args) => ckan::run(&args),
        Task::BenchWeb(args) => web::run(&args),
        Task::BareJson => exchange::bare_json(),
        Task::BareInsert { csv, db } => bench::bare_insert(&csv, &db),
        Task::BareCopy { url, csv, schema } => pg::bare_copy(&url, &csv, &schema),
    }
}
