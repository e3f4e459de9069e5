//! `ndx agreements`: the sharing agreements of a running node, through its HTTP API (the same
//! rules and audit as any client): list, show, request, approve, reject, suspend, revoke, and
//! the ODRL form. The key is `--key` or `NDX_KEY`.

use clap::Subcommand;

use crate::api::{Api, Remote, print, read_json};

/// What to do with agreements.
#[derive(Debug, clap::Args)]
pub struct AgreementsArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    what: AgreementsCommand,
}

#[derive(Debug, Subcommand)]
enum AgreementsCommand {
    /// The agreements this key may see.
    List,
    /// One agreement.
    Show {
        /// Agreement id.
        id: String,
    },
    /// Request an agreement (a consumer key): the JSON request body from FILE, or `-` for
    /// stdin (dataset, fields, operations, purpose, legal_basis, and optionally valid_from,
    /// valid_until, quota, mandatory).
    Request {
        /// The request as JSON.
        file: String,
    },
    /// Approve a request, or resume a suspended agreement.
    Approve {
        /// Agreement id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a request (a reason is required).
    Reject {
        /// Agreement id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Suspend an agreement in force.
    Suspend {
        /// Agreement id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revoke an agreement for good.
    Revoke {
        /// Agreement id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The agreement as an ODRL 2.2 policy (JSON-LD).
    Odrl {
        /// Agreement id.
        id: String,
    },
}

/// Runs the command; prints the answer as JSON on stdout.
pub fn run(args: &AgreementsArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.remote);
    let change = |id: &str, action: &str, reason: Option<&str>| {
        let body = match reason {
            Some(r) => serde_json::json!({ "reason": r }),
            None => serde_json::json!({}),
        };
        api.post(&format!("/api/v1/agreements/{id}/{action}"), &body)
    };
    let answer = match &args.what {
        AgreementsCommand::List => api.get("/api/v1/agreements"),
        AgreementsCommand::Show { id } => api.get(&format!("/api/v1/agreements/{id}")),
        AgreementsCommand::Odrl { id } => api.get(&format!("/api/v1/agreements/{id}/odrl")),
        AgreementsCommand::Request { file } => api.post("/api/v1/agreements", &read_json(file)?),
        AgreementsCommand::Approve { id, reason } => change(id, "approve", reason.as_deref()),
        AgreementsCommand::Reject { id, reason } => change(id, "reject", Some(reason)),
        AgreementsCommand::Suspend { id, reason } => change(id, "suspend", reason.as_deref()),
        AgreementsCommand::Revoke { id, reason } => change(id, "revoke", reason.as_deref()),
    }?;
    print(&answer)
}
