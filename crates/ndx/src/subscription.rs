//! `ndx subscription`: the push subscriptions of a running node, through its HTTP API (the
//! same rules and audit as any client): make one, list them, show one with its dead letters,
//! pause, resume, replay (the dead batch, or from a position), remove. The key is `--key` or
//! `NDX_KEY`.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::api::{Api, Remote, print, read_json};

/// What to do with push subscriptions.
#[derive(Debug, clap::Args)]
pub struct SubscriptionArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    what: SubscriptionCommand,
}

#[derive(Debug, Subcommand)]
enum SubscriptionCommand {
    /// Make a subscription: its JSON from FILE, or `-` for stdin (dataset, purpose, endpoint,
    /// and optionally fields, filters, batch_size, after). Prints it with its secret, which is
    /// never shown again.
    Add {
        /// The subscription as JSON.
        file: String,
    },
    /// The subscriptions this key may see, or one with its dead letters.
    Status {
        /// Subscription id.
        id: Option<String>,
    },
    /// Stop deliveries until resumed.
    Pause {
        /// Subscription id.
        id: String,
    },
    /// Deliver again from where a paused subscription stopped.
    Resume {
        /// Subscription id.
        id: String,
    },
    /// Replay the batch that killed a dead subscription (same delivery id), or, with
    /// `--from`, deliver again from that position.
    Replay {
        /// Subscription id.
        id: String,
        /// The position to deliver the changes after (e.g. a baseline's Ndx-Feed-Position).
        #[arg(long)]
        from: Option<u64>,
    },
    /// Remove a subscription (with its dead letters).
    Remove {
        /// Subscription id.
        id: String,
    },
}

/// Runs the command; prints the answer as JSON on stdout.
pub fn run(args: &SubscriptionArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.remote);
    let at = |id: &str, what: &str| format!("/api/v1/subscriptions/{id}/{what}");
    match &args.what {
        SubscriptionCommand::Add { file } => {
            print(&api.post("/api/v1/subscriptions", &read_json(file)?)?)
        }
        SubscriptionCommand::Status { id: None } => print(&api.get("/api/v1/subscriptions")?),
        SubscriptionCommand::Status { id: Some(id) } => {
            let mut s = api.get(&format!("/api/v1/subscriptions/{id}"))?;
            s["dead_letters_kept"] = api.get(&at(id, "dead-letters"))?;
            print(&s)
        }
        SubscriptionCommand::Pause { id } => print(&api.post(&at(id, "pause"), &json!({}))?),
        SubscriptionCommand::Resume { id } => print(&api.post(&at(id, "resume"), &json!({}))?),
        SubscriptionCommand::Replay { id, from } => {
            let body = from.map_or_else(|| json!({}), |p| json!({ "from": p }));
            print(&api.post(&at(id, "replay"), &body)?)
        }
        SubscriptionCommand::Remove { id } => {
            api.delete(&format!("/api/v1/subscriptions/{id}"))?;
            print(&Value::String(format!("subscription {id} removed")))
        }
    }
}
