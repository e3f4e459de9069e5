//! Project automation in Rust, run as `cargo xtask TASK` (the alias is in `.cargo/config.toml`
//! and builds this crate in release mode).
//!
//! - `bench-import`: the import benchmark behind BENCHMARKS.md.

mod bench;
mod sys;

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
    /// Import benchmark: a 10-column population CSV into a bare SQLite table, through
    /// `ndx import` (validated) and through `POST …/records`, in one run.
    BenchImport(bench::BenchArgs),
    /// The bare SQLite baseline of bench-import, run as a child process so that its peak RSS
    /// is measured on its own: CSV rows → fresh SQLite table. Prints the row count.
    #[command(hide = true)]
    BareInsert {
        /// CSV with a header row; the first column is the primary key.
        csv: PathBuf,
        /// SQLite file to create (replaced if present).
        db: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::BenchImport(args) => bench::run(&args),
        Task::BareInsert { csv, db } => bench::bare_insert(&csv, &db),
    }
}
