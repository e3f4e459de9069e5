//! The citizen's own pages: "my data" — the records every dataset holds about them, and every
//! access to their data from the audit log's tracker (who, when, which fields, for what
//! purpose, allowed or refused). Reading them is itself an access, recorded on the tracker
//! before the page is sent, as the API's tracker is.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::Chrome;
use super::i18n::Lang;
use super::session::{Ctx, to_sign_in};
use crate::{AppState, blocking};
use ndx_types::report::{ErrorReport, ReportStatus};

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
    report_href: String,
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
    consents: Vec<ConsentRow>,
    reports: Vec<ReportRow>,
}

/// An agreement that needs the citizen's consent, and theirs.
pub struct ConsentRow {
    agreement: String,
    consumer: String,
    purpose: String,
    legal_basis: String,
    fields: String,
    consent_id: String,
    given: String,
}

/// One of the citizen's error reports.
pub struct ReportRow {
    pub(super) reported: String,
    pub(super) dataset: String,
    pub(super) key: String,
    pub(super) field: String,
    pub(super) description: String,
    pub(super) status: String,
    pub(super) status_class: &'static str,
    pub(super) answer: String,
}

fn report_status(lang: Lang, s: ReportStatus) -> (String, &'static str) {
    let m = lang.messages();
    match s {
        ReportStatus::Open => (m.report_open.into(), "warn"),
        ReportStatus::Corrected => (m.report_corrected.into(), "good"),
        ReportStatus::Declined => (m.report_declined.into(), "bad"),
    }
}

/// How "my data" shows a report (the provider's list too).
pub fn report_row(lang: Lang, r: &ErrorReport) -> ReportRow {
    let (status, status_class) = report_status(lang, r.status);
    ReportRow {
        reported: lang.time(r.reported_at),
        dataset: r.dataset.clone(),
        key: r.key.clone(),
        field: r.field.clone(),
        description: r.description.clone(),
        status,
        status_class,
        answer: r.answer.clone().unwrap_or_default(),
    }
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
        let choices = core.consent_choices(&cap, chrono::Utc::now())?;
        let reports = core.my_reports(&cap)?;
        let accesses = core
            .subject_accesses(&cap, None, ACCESSES_SHOWN)?
            .into_inner();
        let members: BTreeMap<String, (String, String)> = core
            .members()?
            .into_iter()
            .map(|m| (m.code, (m.name_vi, m.name_en)))
            .collect();
        Ok((
            cap.citizen_id().to_owned(),
            held,
            accesses,
            members,
            choices,
            reports,
        ))
    })
    .await;
    let (citizen_id, held, page, members, choices, reports) = match loaded {
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
                    report_href: format!(
                        "/me/report?dataset={}&key={}",
                        super::urlencode(&d.dataset),
                        super::urlencode(&r.key)
                    ),
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
    let consents = choices
        .into_iter()
        .map(|ch| ConsentRow {
            agreement: ch.agreement.id.clone(),
            consumer: format!(
                "{} ({})",
                member_name(&ch.agreement.consumer_member),
                ch.agreement.consumer
            ),
            purpose: ch.agreement.purpose.clone(),
            legal_basis: format!(
                "{} ({})",
                ch.agreement.legal_basis.text, ch.agreement.legal_basis.reference
            ),
            fields: ch.fields.join(", "),
            consent_id: ch
                .consent
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default(),
            given: ch
                .consent
                .as_ref()
                .map(|c| lang.time(c.granted_at))
                .unwrap_or_default(),
        })
        .collect();
    super::private_page(
        &MePage {
            c: ctx.chrome("me"),
            citizen_id,
            held,
            accesses,
            consents,
            reports: reports.iter().map(|r| report_row(lang, r)).collect(),
        },
        lang,
        axum::http::StatusCode::OK,
    )
}

/// The right a citizen's session gives, or the page to answer instead (sign in; an agency's
/// person is told these pages are a citizen's).
async fn subject(st: &AppState, ctx: &Ctx) -> Result<ndx_core::access::SubjectRead, Response> {
    let Some(viewer) = ctx.viewer.clone() else {
        return Err(to_sign_in(&ctx.here));
    };
    let core = st.core.clone();
    let request_id = crate::problem::current_request_id();
    blocking(move || core.session_subject(&viewer.session, &request_id))
        .await
        .map_err(|e| ctx.error(e))
}

/// `POST /me/consents`: the citizen consents to the consent-bound fields of an agreement in
/// force (all of them: a consent is given for what the agreement releases).
pub async fn grant(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let cap = match subject(&st, &ctx).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let form = match ctx.posted_form(&headers, &body) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let agreement = form.get("agreement").to_owned();
    let core = st.core.clone();
    let done = blocking(move || {
        let choice = core
            .consent_choices(&cap, chrono::Utc::now())?
            .into_iter()
            .find(|c| c.agreement.id == agreement)
            .ok_or_else(|| {
                ndx_core::Error::of(
                    ndx_core::Code::AgreementNotFound,
                    format!("agreement {agreement:?} asks for no consent of yours"),
                )
            })?;
        core.grant_consent(&cap, &agreement, choice.fields, chrono::Utc::now())
    })
    .await;
    match done {
        Ok(_) => axum::response::Redirect::to("/me#consents").into_response(),
        Err(e) => ctx.error(e),
    }
}

/// `POST /me/consents/{id}/withdraw`: the consent ends now; the next request is refused.
pub async fn withdraw(
    State(st): State<AppState>,
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let cap = match subject(&st, &ctx).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    if let Err(page) = ctx.posted_form(&headers, &body) {
        return page;
    }
    let core = st.core.clone();
    match blocking(move || core.withdraw_consent(&cap, &id, chrono::Utc::now())).await {
        Ok(_) => axum::response::Redirect::to("/me#consents").into_response(),
        Err(e) => ctx.error(e),
    }
}

/// `/me/report`: the form that reports an error in one of the citizen's records.
#[derive(Template)]
#[template(path = "report_error.html")]
pub struct ReportPage {
    c: Chrome,
    dataset: String,
    title: String,
    key: String,
    fields: Vec<(String, String, bool)>,
    description: String,
    proposed: String,
    field_error: String,
    description_error: String,
    proposed_error: String,
    form_error: String,
}

/// The form for `dataset`'s record `key`, which must be one of the citizen's; the right is
/// given back for what the form does next.
async fn report_page(
    st: &AppState,
    ctx: &Ctx,
    cap: ndx_core::access::SubjectRead,
    dataset: String,
    key: String,
    chosen: &str,
) -> Result<(ReportPage, ndx_core::access::SubjectRead), crate::problem::ApiError> {
    let lang = ctx.lang;
    let core = st.core.clone();
    let (d, k) = (dataset.clone(), key.clone());
    let (held, cap) = blocking(move || {
        let held = core.subject_records(&cap)?.into_inner();
        let found = held.into_iter().filter(|h| h.dataset == d).find_map(|h| {
            let title = lang.pick(&h.title_vi, &h.title_en).to_owned();
            h.records
                .into_iter()
                .find(|r| r.key == k)
                .map(|r| (title, r))
        });
        Ok((found, cap))
    })
    .await?;
    let Some((title, record)) = held else {
        return Err(crate::problem::ApiError::new(
            ndx_core::Code::NotYourData,
            format!("record {key:?} of {dataset:?} is not one of yours"),
        ));
    };
    let page = ReportPage {
        c: ctx.chrome("me"),
        dataset,
        title,
        key,
        fields: record
            .data
            .iter()
            .map(|(name, v)| (name.clone(), format!("{name}: {}", text(v)), name == chosen))
            .collect(),
        description: String::new(),
        proposed: String::new(),
        field_error: String::new(),
        description_error: String::new(),
        proposed_error: String::new(),
        form_error: String::new(),
    };
    Ok((page, cap))
}

fn query_value(raw: Option<&str>, name: &str) -> String {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `GET /me/report?dataset=D&key=K`.
pub async fn report_form(
    State(st): State<AppState>,
    ctx: Ctx,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let cap = match subject(&st, &ctx).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let (dataset, key) = (
        query_value(raw.as_deref(), "dataset"),
        query_value(raw.as_deref(), "key"),
    );
    match report_page(&st, &ctx, cap, dataset, key, "").await {
        Ok((page, _)) => super::private_page(&page, ctx.lang, axum::http::StatusCode::OK),
        Err(e) => ctx.error(e),
    }
}

/// `POST /me/report`: files the report (each mistake next to its field), then "my data".
pub async fn report(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let cap = match subject(&st, &ctx).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let form = match ctx.posted_form(&headers, &body) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let (dataset, key, field) = (
        form.get("dataset").to_owned(),
        form.get("key").to_owned(),
        form.get("field").to_owned(),
    );
    let (mut page, cap) =
        match report_page(&st, &ctx, cap, dataset.clone(), key.clone(), &field).await {
            Ok(p) => p,
            Err(e) => return ctx.error(e),
        };
    let m = ctx.lang.messages();
    page.description = form.get("description").to_owned();
    page.proposed = form.get("proposed").to_owned();
    if !page.fields.iter().any(|(name, _, _)| *name == field) {
        page.field_error = m.choose_field.into();
    }
    let limit = ndx_types::report::MAX_TEXT;
    if page.description.trim().is_empty() {
        page.description_error = m.describe_error.into();
    } else if page.description.chars().count() > limit {
        page.description_error = m.too_long.into();
    }
    if page.proposed.chars().count() > limit {
        page.proposed_error = m.too_long.into();
    }
    if !(page.field_error.is_empty()
        && page.description_error.is_empty()
        && page.proposed_error.is_empty())
    {
        return super::private_page(
            &page,
            ctx.lang,
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let draft = ndx_core::subject::ErrorReportDraft {
        dataset,
        key,
        field,
        description: page.description.clone(),
        proposed: Some(page.proposed.clone()),
    };
    let core = st.core.clone();
    match blocking(move || core.report_error(&cap, draft, chrono::Utc::now())).await {
        Ok(_) => axum::response::Redirect::to("/me#reports").into_response(),
        Err(e)
            if e.status().is_client_error() && e.status() != axum::http::StatusCode::FORBIDDEN =>
        {
            page.form_error = e.detail().to_owned();
            super::private_page(
                &page,
                ctx.lang,
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => ctx.error(e),
    }
}
