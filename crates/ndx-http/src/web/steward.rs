//! Reconciliation results on the web, for stewards (every agency's) and providers (their own):
//! the runs with their match rates, and a run's proposed corrections — a target record that
//! matched a record of the reference register with differing values — each to accept (the
//! reference's values become a new version of the record, its lineage leading to the
//! decision) or reject, with a note. The same services and checks as
//! `/api/v1/reconciliations/{id}/corrections`; reading a report is audited with its subjects.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use ndx_core::access::Caller;
use ndx_core::reconcile::CorrectionRequest;
use ndx_types::reconcile::{Decision, Reconciliation, RunStatus};
use ndx_types::registry::Role;

use super::Chrome;
use super::i18n::Lang;
use super::session::Ctx;
use crate::problem::ApiError;
use crate::{AppState, blocking};

/// Who may open these pages.
const ROLES: &[Role] = &[Role::Steward, Role::Provider];

/// One run in the list.
pub struct RunRow {
    id: String,
    started: String,
    member: String,
    target: String,
    reference: String,
    status: String,
    status_class: &'static str,
    targets: String,
    matched: String,
    proposals: String,
}

fn run_status(lang: Lang, s: RunStatus) -> (String, &'static str) {
    let m = lang.messages();
    match s {
        RunStatus::Running => (m.import_running.into(), "warn"),
        RunStatus::Done => (m.run_done.into(), "good"),
        RunStatus::Failed => (m.import_failed.into(), "bad"),
    }
}

fn row_of(lang: Lang, run: &Reconciliation) -> RunRow {
    let (status, status_class) = run_status(lang, run.status);
    RunRow {
        id: run.id.clone(),
        started: lang.time(run.started_at),
        member: run.member.clone(),
        target: run.target.clone(),
        reference: run.reference.clone(),
        status,
        status_class,
        targets: lang.number(run.targets),
        matched: super::provider::percent(lang, run.match_rate()),
        proposals: lang.number(
            run.statuses
                .get("match_with_differences")
                .copied()
                .unwrap_or_default(),
        ),
    }
}

/// `/reconciliations`: the runs the viewer may read.
#[derive(Template)]
#[template(path = "reconciliations.html")]
pub struct RunsPage {
    c: Chrome,
    runs: Vec<RunRow>,
}

/// `GET /reconciliations`.
pub async fn runs(State(st): State<AppState>, ctx: Ctx) -> Response {
    let caller = match ctx.caller(&st, ROLES).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let core = st.core.clone();
    let runs = match blocking(move || core.reconciliations(&caller)).await {
        Ok(r) => r,
        Err(e) => return ctx.error(e),
    };
    let lang = ctx.lang;
    super::private_page(
        &RunsPage {
            c: ctx.chrome("reconciliations"),
            runs: runs.iter().map(|r| row_of(lang, r)).collect(),
        },
        lang,
        StatusCode::OK,
    )
}

/// One proposed correction.
pub struct Proposal {
    target_id: String,
    reference_id: String,
    score: String,
    differences: Vec<(String, String, String)>,
    decision: String,
    decision_class: &'static str,
}

/// `/reconciliations/{id}`: a run and its proposed corrections, one report part at a time.
#[derive(Template)]
#[template(path = "reconciliation.html")]
pub struct RunPage {
    c: Chrome,
    run: RunRow,
    statuses: Vec<(String, String)>,
    findings: Vec<(String, String)>,
    error: String,
    proposals: Vec<Proposal>,
    part: u32,
    parts: u32,
    may_decide: bool,
    action_error: String,
    error_for: String,
}

impl RunPage {
    /// The number shown for the current part (1-based).
    pub fn part_shown(&self) -> u32 {
        self.part + 1
    }
}

fn part_of(raw: Option<&str>) -> u32 {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "part")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

async fn run_page(
    st: &AppState,
    ctx: &Ctx,
    caller: Caller,
    id: String,
    part: u32,
) -> Result<RunPage, ApiError> {
    let lang = ctx.lang;
    let core = st.core.clone();
    let may_decide = caller.has(Role::Steward);
    let (run, rows, decided) = blocking(move || {
        let run = core.reconciliation(&caller, &id)?;
        let member_decides = caller.has(Role::Provider) && caller.member().code == run.member;
        let (rows, decided) = if run.status == RunStatus::Done && part < run.parts {
            let rows = core
                .reconciliation_report_part(&caller, &id, part)?
                .into_inner()
                .rows;
            let decided: BTreeMap<String, Decision> = core
                .corrections(&caller, &id)?
                .into_iter()
                .map(|c| (c.target_id, c.decision))
                .collect();
            (rows, decided)
        } else {
            (Vec::new(), BTreeMap::new())
        };
        Ok(((run, member_decides), rows, decided))
    })
    .await?;
    let ((run, member_decides), m) = (run, lang.messages());
    let proposals = rows
        .into_iter()
        .filter(|r| r.reference_id.is_some() && !r.differences.is_empty())
        .map(|r| {
            let (decision, decision_class) = match decided.get(&r.target_id) {
                Some(Decision::Accepted) => (m.accepted_decision.to_owned(), "good"),
                Some(Decision::Rejected) => (m.rejected_decision.to_owned(), "bad"),
                None => (String::new(), ""),
            };
            Proposal {
                reference_id: r.reference_id.clone().unwrap_or_default(),
                score: r
                    .score
                    .map(|s| super::provider::percent(lang, Some(s)))
                    .unwrap_or_default(),
                differences: r
                    .differences
                    .iter()
                    .map(|d| (d.field.clone(), d.kind.clone(), d.reference.clone()))
                    .collect(),
                target_id: r.target_id,
                decision,
                decision_class,
            }
        })
        .collect();
    Ok(RunPage {
        c: ctx.chrome("reconciliations"),
        run: row_of(lang, &run),
        statuses: run
            .statuses
            .iter()
            .map(|(k, n)| (k.clone(), lang.number(*n)))
            .collect(),
        findings: run
            .findings
            .iter()
            .map(|(k, n)| (k.clone(), lang.number(*n)))
            .collect(),
        error: run.error.clone().unwrap_or_default(),
        proposals,
        part,
        parts: run.parts,
        may_decide: may_decide || member_decides,
        action_error: String::new(),
        error_for: String::new(),
    })
}

/// `GET /reconciliations/{id}?part=N`.
pub async fn run(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match ctx.caller(&st, ROLES).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match run_page(&st, &ctx, caller, id, part_of(raw.as_deref())).await {
        Ok(page) => super::private_page(&page, ctx.lang, StatusCode::OK),
        Err(e) => ctx.error(e),
    }
}

/// `POST /reconciliations/{id}/corrections`: accepts or rejects the correction proposed for
/// `target_id`, then back to the run's part; a note too long is said next to it.
pub async fn decide(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match ctx.caller(&st, ROLES).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let form = match ctx.posted_form(&headers, &body) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let part: u32 = form.get("part").parse().unwrap_or(0);
    let target_id = form.get("target_id").to_owned();
    let accept = match form.get("decision") {
        "accept" => true,
        "reject" => false,
        other => {
            return ctx.error(ApiError::new(
                ndx_core::Code::ReconcileInputInvalid,
                format!("decision {other:?} is not accept or reject"),
            ));
        }
    };
    let note = form.get("note").trim().to_owned();
    let m = ctx.lang.messages();
    let refuse = |message: String| {
        let (st, ctx, caller, id, target) = (
            st.clone(),
            &ctx,
            caller.clone(),
            id.clone(),
            target_id.clone(),
        );
        async move {
            match run_page(&st, ctx, caller, id, part).await {
                Ok(mut page) => {
                    page.action_error = message;
                    page.error_for = target;
                    super::private_page(&page, ctx.lang, StatusCode::UNPROCESSABLE_ENTITY)
                }
                Err(e) => ctx.error(e),
            }
        }
    };
    if note.chars().count() > 1000 {
        return refuse(m.too_long.into()).await;
    }
    let request = CorrectionRequest {
        target_id: target_id.clone(),
        accept,
        fields: None,
        note: (!note.is_empty()).then_some(note),
    };
    let core = st.core.clone();
    let (c2, id2) = (caller.clone(), id.clone());
    let decided = blocking(move || core.decide_correction(&c2, &id2, &request, Utc::now())).await;
    match decided {
        Ok(_) => Redirect::to(&format!(
            "/reconciliations/{id}?part={part}#row-{}",
            super::urlencode(&target_id)
        ))
        .into_response(),
        Err(e)
            if e.status().is_client_error()
                && e.status() != StatusCode::FORBIDDEN
                && e.status() != StatusCode::NOT_FOUND =>
        {
            refuse(e.detail().to_owned()).await
        }
        Err(e) => ctx.error(e),
    }
}
