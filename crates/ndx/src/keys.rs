//! `ndx keys issue`: the break-glass command. Issues an API key on the store directly, for when
//! no operator key is left (lost, or revoked): run it with the server stopped, on the same
//! configuration (`--data-dir`, `--store`) as the server. The secret is printed once, on
//! stdout only; the issuance is recorded in the audit log like one made over the API.

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use ndx_core::registry::NewKey;
use ndx_types::registry::Role;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key on the stopped store (break-glass); prints the secret once on stdout.
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Role the key grants (repeat for several), e.g. `--role operator`.
    #[arg(long = "role", value_enum, required = true)]
    roles: Vec<RoleArg>,
    /// The system the key authenticates [default: the operating member's console].
    #[arg(long, default_value = crate::serve::OPERATOR_SYSTEM)]
    system: String,
    /// A label for people.
    #[arg(long, default_value = "break-glass key")]
    label: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Operator,
    Steward,
    Provider,
    Consumer,
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Operator => Role::Operator,
            RoleArg::Steward => Role::Steward,
            RoleArg::Provider => Role::Provider,
            RoleArg::Consumer => Role::Consumer,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

pub fn run(cfg: &Config, what: KeysCommand) -> anyhow::Result<()> {
    match what {
        KeysCommand::Issue(args) => issue(cfg, args),
    }
}

fn issue(cfg: &Config, args: IssueArgs) -> anyhow::Result<()> {
    let core = crate::open_core(cfg, ndx_store::OpenMode::Existing)?;
    let issued = core.issue_key_break_glass(
        NewKey {
            system: args.system,
            roles: args.roles.into_iter().map(Role::from).collect(),
            label: args.label,
            expires_at: None,
        },
        chrono::Utc::now(),
    );
    // The last event gets its signed head before the process ends, whatever happened.
    core.audit().close();
    let (key, secret) = issued?;
    let roles: Vec<&str> = key.roles.iter().map(|r| r.name()).collect();
    eprintln!(
        "issued key {:?} of system {:?} with roles {} (recorded in the audit log); the secret \
         is shown once, below",
        key.id,
        key.system,
        roles.join(", ")
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "{secret}")?;
    out.flush()?;
    Ok(())
}
