//! The citizen's own pages: "my data" — the records every dataset holds about them, and every
//! access to their data from the audit log's tracker (who, when, which fields, for what
//! purpose, allowed or refused). Reading them is itself an access, recorded on the tracker
//! before the page is sent, as the API's tracker is.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::Chrome;
use super::session::{Ctx, to_sign_in};
use crate::{AppState, blocking};

/// Accesses shown on the page (the newest).
const ACCESSES_SHOWN: u64 = 100;

/// One dataset's records about the citizen.
pub struct HeldDataset {
    title: String,
    owner: String,
    records: Vec<HeldRecord>,
}

/// One record: its key, when it was recorded, and its values.
pub struct HeldRecord {
    key: String,
    recorded: String,
    values: Vec<(String, String)>,
}

/// One access to the citizen's data.
pub struct AccessRow {
    time: String,
    who: String,
    operation: String,
    dataset: String,
    fields: String,
    purpose: String,
    legal_basis: String,
    allowed: bool,
    outcome: String,
}

/// The "my data" page.
#[derive(Template)]
#[template(path = "me.html")]
pub struct MePage {
    c: Chrome,
    citizen_id: String,
    held: Vec<HeldDataset>,
    accesses: Vec<AccessRow>,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `GET /me`: the signed-in citizen's data and who accessed it. Anyone else is sent to sign
/// in; a person of an agency is told this page is a citizen's.
pub async fn me(State(st): State<AppState>, ctx: Ctx) -> Response {
    let Some(viewer) = ctx.viewer.clone() else {
        return to_sign_in(&ctx.here);
    };
    let lang = ctx.lang;
    let core = st.core.clone();
    let request_id = crate::problem::current_request_id();
    let session = viewer.session.clone();
    let loaded = blocking(move || {
        let cap = core.session_subject(&session, &request_id)?;
        let held = core.subject_records(&cap)?.into_inner();
        let accesses = core
            .subject_accesses(&cap, None, ACCESSES_SHOWN)?
            .into_inner();
        let members: BTreeMap<String, (String, String)> = core
            .members()?
            .into_iter()
            .map(|m| (m.code, (m.name_vi, m.name_en)))
            .collect();
        Ok((cap.citizen_id().to_owned(), held, accesses, members))
    })
    .await;
    let (citizen_id, held, page, members) = match loaded {
        Ok(l) => l,
        Err(e) => return ctx.error(e),
    };
    let m = lang.messages();
    let member_name = |code: &str| {
        members
            .get(code)
            .map_or_else(|| code.to_owned(), |(vi, en)| lang.pick(vi, en).to_owned())
    };
    let held = held
        .into_iter()
        .map(|d| HeldDataset {
            title: lang.pick(&d.title_vi, &d.title_en).to_owned(),
            owner: member_name(&d.owner),
            records: d
                .records
                .into_iter()
                .map(|r| HeldRecord {
                    key: r.key,
                    recorded: lang.time(r.recorded_at),
                    values: r.data.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                })
                .collect(),
        })
        .collect();
    let accesses = page
        .accesses
        .into_iter()
        .map(|a| {
            let who = match &a.actor {
                Some(actor) => format!("{} ({})", member_name(&actor.member), actor.system),
                None => m.you.to_owned(),
            };
            let allowed = a.outcome.allowed;
            let outcome = match (allowed, &a.outcome.reason) {
                (true, _) => m.allowed.to_owned(),
                (false, Some(reason)) => format!("{}: {reason}", m.refused),
                (false, None) => m.refused.to_owned(),
            };
            AccessRow {
                time: lang.time(a.time),
                who,
                operation: a.operation,
                dataset: a.dataset.unwrap_or_default(),
                fields: a.fields.join(", "),
                purpose: a.purpose.unwrap_or_default(),
                legal_basis: a.legal_basis.unwrap_or_default(),
                allowed,
                outcome,
            }
        })
        .collect();
    super::private_page(
        &MePage {
            c: ctx.chrome("me"),
            citizen_id,
            held,
            accesses,
        },
        lang,
        axum::http::StatusCode::OK,
    )
}
