//! `ndx connector`: the connectors of a running node, through its HTTP API (the same rules and
//! audit as any client): add one from a JSON definition, run it (and wait for the run's end),
//! show their status, fetch a run's rejected rows, remove one. The key is `--key` or `NDX_KEY`.

use std::time::Duration;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::api::{Api, Remote, print, read_json};

/// What to do with connectors.
#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    what: ConnectorCommand,
}

#[derive(Debug, Subcommand)]
enum ConnectorCommand {
    /// Add a connector: its JSON definition from FILE, or `-` for stdin (id, dataset, system,
    /// source {engine, url, password_env, table}, mapping [{column, field, values}],
    /// change_column, batch_rows, schedule {every_seconds, snapshot_every_seconds}).
    Add {
        /// The definition as JSON.
        file: String,
    },
    /// Run a connector now and wait for the run to end (exit code 6 if it failed).
    Run {
        /// Connector id.
        id: String,
        /// Compare a snapshot of the whole table (finds deletions) instead of reading changes.
        #[arg(long)]
        snapshot: bool,
        /// Print the started run and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// The connectors this key may see, or one with its latest runs.
    Status {
        /// Connector id.
        id: Option<String>,
    },
    /// The rows a run rejected (the latest run if none is given).
    Rejected {
        /// Connector id.
        id: String,
        /// Run number.
        run: Option<u64>,
        /// As CSV instead of JSON.
        #[arg(long)]
        csv: bool,
    },
    /// Remove a connector (what it wrote stays).
    Remove {
        /// Connector id.
        id: String,
    },
}

/// Runs the command; prints the answer as JSON on stdout.
pub fn run(args: &ConnectorArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.remote);
    match &args.what {
        ConnectorCommand::Add { file } => {
            print(&api.post("/api/v1/connectors", &read_json(file)?)?)
        }
        ConnectorCommand::Run {
            id,
            snapshot,
            no_wait,
        } => {
            let body = if *snapshot {
                json!({"kind": "snapshot"})
            } else {
                json!({})
            };
            let mut run = api.post(&format!("/api/v1/connectors/{id}/runs"), &body)?;
            let number = run["number"].as_u64().unwrap_or(0);
            while !*no_wait && run["status"] == "running" {
                std::thread::sleep(Duration::from_millis(300));
                run = api.get(&format!("/api/v1/connectors/{id}/runs/{number}"))?;
            }
            print(&run)?;
            if run["status"] == "failed" || run["status"] == "interrupted" {
                let detail = run["error"].as_str().unwrap_or("the run failed").to_owned();
                return Err(anyhow::Error::new(ndx_core::Error::of(
                    ndx_core::Code::ConnectorSourceUnavailable,
                    detail,
                )));
            }
            Ok(())
        }
        ConnectorCommand::Status { id: None } => print(&api.get("/api/v1/connectors")?),
        ConnectorCommand::Status { id: Some(id) } => {
            let mut c = api.get(&format!("/api/v1/connectors/{id}"))?;
            c["runs"] = api.get(&format!("/api/v1/connectors/{id}/runs?limit=10"))?;
            print(&c)
        }
        ConnectorCommand::Rejected { id, run, csv } => {
            let number = match run {
                Some(n) => *n,
                None => api.get(&format!("/api/v1/connectors/{id}"))?["state"]["runs"]
                    .as_u64()
                    .unwrap_or(0),
            };
            let path = format!("/api/v1/connectors/{id}/runs/{number}/rejected");
            if *csv {
                print!("{}", api.get_text(&path, "text/csv")?);
                Ok(())
            } else {
                print(&api.get(&path)?)
            }
        }
        ConnectorCommand::Remove { id } => {
            api.delete(&format!("/api/v1/connectors/{id}"))?;
            print(&Value::String(format!("connector {id} removed")))
        }
    }
}
