//! `ndx agreements`: the sharing agreements of a running node, through its HTTP API (the same
//! rules and audit as any client): list, show, request, approve, reject, suspend, revoke, and
//! the ODRL form. The key is `--key` or `NDX_KEY`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

/// What to do with agreements.
#[derive(Debug, clap::Args)]
pub struct AgreementsArgs {
    /// The node, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (or set NDX_KEY).
    #[arg(long, env = "NDX_KEY", hide_env_values = true)]
    key: String,
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
    let base = args.url.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {}", args.key);
    let id_path = |id: &str, tail: &str| format!("{base}/api/v1/agreements/{id}{tail}");
    let change = |id: &str, action: &str, reason: Option<&str>| {
        let body = match reason {
            Some(r) => serde_json::json!({ "reason": r }),
            None => serde_json::json!({}),
        };
        agent
            .post(id_path(id, &format!("/{action}")))
            .header("Authorization", &auth)
            .send_json(body)
    };
    let get = |url: String| agent.get(url).header("Authorization", &auth).call();
    let resp = match &args.what {
        AgreementsCommand::List => get(format!("{base}/api/v1/agreements")),
        AgreementsCommand::Show { id } => get(id_path(id, "")),
        AgreementsCommand::Odrl { id } => get(id_path(id, "/odrl")),
        AgreementsCommand::Request { file } => {
            let mut text = String::new();
            if file == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            }
            let body: Value =
                serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
            agent
                .post(format!("{base}/api/v1/agreements"))
                .header("Authorization", &auth)
                .send_json(body)
        }
        AgreementsCommand::Approve { id, reason } => change(id, "approve", reason.as_deref()),
        AgreementsCommand::Reject { id, reason } => change(id, "reject", Some(reason)),
        AgreementsCommand::Suspend { id, reason } => change(id, "suspend", reason.as_deref()),
        AgreementsCommand::Revoke { id, reason } => change(id, "revoke", reason.as_deref()),
    };
    let mut resp = resp.with_context(|| format!("cannot reach {base}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .body_mut()
        .read_json()
        .with_context(|| format!("the answer of {base} (HTTP {status}) is not JSON"))?;
    if status >= 400 {
        // The problem's code names the refusal; its kind gives the exit code.
        let code = body["code"].as_str().unwrap_or("");
        let detail = body["detail"].as_str().unwrap_or("");
        let known = ndx_core::Code::ALL.iter().find(|c| c.name() == code);
        return Err(match known {
            Some(c) => anyhow::Error::new(ndx_core::Error::of(*c, detail.to_owned())),
            None => anyhow::anyhow!("HTTP {status}: {body}"),
        });
    }
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}
