//! Sharing agreements on the web: the consumer's catalogue and its request form, the list of
//! agreements each party sees (a consumer its own with their use today against the quota, a
//! provider those on its datasets, a steward all), and an agreement's page with the decisions
//! the viewer may take (approve, reject with a reason, suspend, revoke) — the same services
//! and checks as `/api/v1/agreements`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeZone, Utc};
use ndx_core::access::Caller;
use ndx_core::exchange::AgreementDraft;
use ndx_types::exchange::{Agreement, AgreementStatus, LegalBasis, Operation, Quota, Transition};
use ndx_types::registry::Role;

use super::Chrome;
use super::i18n::Lang;
use super::session::{Ctx, Form};
use crate::problem::ApiError;
use crate::{AppState, blocking};

/// One dataset of the consumer's catalogue.
pub struct CatalogueItem {
    id: String,
    title: String,
    owner: String,
    openness: String,
    fields: usize,
}

/// `/catalogue`: what a consumer may ask to share.
#[derive(Template)]
#[template(path = "catalogue.html")]
pub struct CataloguePage {
    c: Chrome,
    items: Vec<CatalogueItem>,
}

fn member_names(st: &AppState, lang: Lang) -> impl Fn(&str) -> String + use<> {
    let names: std::collections::BTreeMap<String, String> = st
        .core
        .members()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let n = lang.pick(&m.name_vi, &m.name_en).to_owned();
            (m.code, n)
        })
        .collect();
    move |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned())
}

/// `GET /catalogue`: the datasets the consumer may discover, without any record.
pub async fn catalogue(State(st): State<AppState>, ctx: Ctx) -> Response {
    let caller = match ctx.caller(&st, &[Role::Consumer]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    let core = st.core.clone();
    let found = blocking(move || core.exchange_datasets(&caller)).await;
    let datasets = match found {
        Ok(d) => d,
        Err(e) => return ctx.error(e),
    };
    let names = member_names(&st, lang);
    let items = datasets
        .into_iter()
        .map(|d| CatalogueItem {
            id: d.schema.dataset.clone(),
            title: lang.pick(&d.schema.title_vi, &d.schema.title_en).to_owned(),
            owner: names(&d.schema.owner),
            openness: super::openness_label(lang, d.schema.openness),
            fields: d.schema.fields.len(),
        })
        .collect();
    super::private_page(
        &CataloguePage {
            c: ctx.chrome("catalogue"),
            items,
        },
        lang,
        StatusCode::OK,
    )
}

/// A choice of the request form (a field, an operation, a purpose).
pub struct Choice {
    value: String,
    label: String,
    checked: bool,
}

/// `/catalogue/{dataset}/request`: the form that asks for an agreement.
#[derive(Template)]
#[template(path = "agreement_request.html")]
pub struct RequestPage {
    c: Chrome,
    dataset: String,
    title: String,
    fields: Vec<Choice>,
    operations: Vec<Choice>,
    purposes: Vec<Choice>,
    legal_text: String,
    legal_reference: String,
    valid_until: String,
    requests_per_day: String,
    records_per_day: String,
    form_error: String,
    fields_error: String,
    operations_error: String,
    purpose_error: String,
    legal_text_error: String,
    legal_reference_error: String,
    valid_until_error: String,
    quota_error: String,
}

impl RequestPage {
    /// Whether any field has an error (the form then says so at its top).
    pub fn has_errors(&self) -> bool {
        [
            &self.form_error,
            &self.fields_error,
            &self.operations_error,
            &self.purpose_error,
            &self.legal_text_error,
            &self.legal_reference_error,
            &self.valid_until_error,
            &self.quota_error,
        ]
        .iter()
        .any(|e| !e.is_empty())
    }
}

/// The request form of `dataset`, with the choices `form` made (none for a fresh form).
async fn request_page(
    st: &AppState,
    ctx: &Ctx,
    caller: Caller,
    dataset: String,
    form: Option<&Form>,
) -> Result<RequestPage, ApiError> {
    let lang = ctx.lang;
    let core = st.core.clone();
    let (found, purposes) = blocking(move || {
        let found = core.exchange_dataset(&caller, &dataset)?;
        let purposes = core.code_list("purpose", None)?;
        Ok((found, purposes))
    })
    .await?;
    let schema = found.schema;
    let chosen = |name: &str| form.map(|f| f.all(name)).unwrap_or_default();
    let fields_chosen = chosen("fields");
    let operations_chosen = chosen("operations");
    let purpose = form.map(|f| f.get("purpose")).unwrap_or_default();
    let value = |name: &str| form.map(|f| f.get(name).to_owned()).unwrap_or_default();
    let m = lang.messages();
    Ok(RequestPage {
        c: ctx.chrome("catalogue"),
        dataset: schema.dataset.clone(),
        title: lang.pick(&schema.title_vi, &schema.title_en).to_owned(),
        fields: schema
            .fields
            .iter()
            .map(|f| Choice {
                value: f.name.clone(),
                label: if f.consent {
                    format!("{} ({}; {})", f.name, f.element, m.consent_needed)
                } else {
                    format!("{} ({})", f.name, f.element)
                },
                checked: fields_chosen.contains(&f.name.as_str()),
            })
            .collect(),
        operations: Operation::ALL
            .iter()
            .map(|o| Choice {
                value: o.name().to_owned(),
                label: operation_label(lang, *o).to_owned(),
                checked: operations_chosen.contains(&o.name()),
            })
            .collect(),
        purposes: purposes
            .entries
            .iter()
            .map(|e| Choice {
                value: e.code.clone(),
                label: lang.pick(&e.label_vi, &e.label_en).to_owned(),
                checked: e.code == purpose,
            })
            .collect(),
        legal_text: value("legal_text"),
        legal_reference: value("legal_reference"),
        valid_until: value("valid_until"),
        requests_per_day: value("requests_per_day"),
        records_per_day: value("records_per_day"),
        form_error: String::new(),
        fields_error: String::new(),
        operations_error: String::new(),
        purpose_error: String::new(),
        legal_text_error: String::new(),
        legal_reference_error: String::new(),
        valid_until_error: String::new(),
        quota_error: String::new(),
    })
}

fn operation_label(lang: Lang, o: Operation) -> &'static str {
    let m = lang.messages();
    match o {
        Operation::Lookup => m.op_lookup,
        Operation::Search => m.op_search,
        Operation::Extract => m.op_extract,
        Operation::Subscribe => m.op_subscribe,
    }
}

/// `GET /catalogue/{dataset}/request`.
pub async fn request_form(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(dataset): Path<String>,
) -> Response {
    let caller = match ctx.caller(&st, &[Role::Consumer]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match request_page(&st, &ctx, caller, dataset, None).await {
        Ok(page) => super::private_page(&page, ctx.lang, StatusCode::OK),
        Err(e) => ctx.error(e),
    }
}

/// A count of the form: empty is no limit; otherwise a whole number from 1 to 10^12.
fn count(text: &str) -> Result<Option<u64>, ()> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.replace(['.', ','], "").parse::<u64>() {
        Ok(n) if (1..=1_000_000_000_000).contains(&n) => Ok(Some(n)),
        _ => Err(()),
    }
}

/// `POST /catalogue/{dataset}/request`: checks the form (each mistake next to its field, in the
/// reader's language), then asks for the agreement; on success, its page.
pub async fn request(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match ctx.caller(&st, &[Role::Consumer]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let form = match ctx.posted_form(&headers, &body) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let mut page = match request_page(&st, &ctx, caller.clone(), dataset.clone(), Some(&form)).await
    {
        Ok(p) => p,
        Err(e) => return ctx.error(e),
    };
    let m = ctx.lang.messages();
    let fields: Vec<String> = form.all("fields").into_iter().map(str::to_owned).collect();
    if fields.is_empty() {
        page.fields_error = m.choose_fields.into();
    } else if fields
        .iter()
        .any(|f| !page.fields.iter().any(|c| &c.value == f))
    {
        page.fields_error = m.unknown_choice.into();
    }
    let mut operations = Vec::new();
    for name in form.all("operations") {
        match Operation::ALL.iter().find(|o| o.name() == name) {
            Some(o) => operations.push(*o),
            None => page.operations_error = m.unknown_choice.into(),
        }
    }
    if operations.is_empty() && page.operations_error.is_empty() {
        page.operations_error = m.choose_operations.into();
    }
    let purpose = form.get("purpose").to_owned();
    if purpose.is_empty() {
        page.purpose_error = m.choose_purpose.into();
    } else if !page.purposes.iter().any(|p| p.value == purpose) {
        page.purpose_error = m.unknown_choice.into();
    }
    let legal_text = form.get("legal_text").trim().to_owned();
    if legal_text.is_empty() {
        page.legal_text_error = m.legal_text_needed.into();
    } else if legal_text.chars().count() > 2000 {
        page.legal_text_error = m.too_long.into();
    }
    let legal_reference = form.get("legal_reference").trim().to_owned();
    if legal_reference.is_empty() {
        page.legal_reference_error = m.legal_reference_needed.into();
    } else if legal_reference.chars().count() > 200 {
        page.legal_reference_error = m.too_long.into();
    }
    let today = Utc::now().date_naive();
    let valid_until = match form.get("valid_until").trim() {
        "" => None,
        text => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) if d > today => d.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t)),
            Ok(_) => {
                page.valid_until_error = m.date_in_future.into();
                None
            }
            Err(_) => {
                page.valid_until_error = m.date_invalid.into();
                None
            }
        },
    };
    let requests_per_day = count(form.get("requests_per_day"));
    let records_per_day = count(form.get("records_per_day"));
    if requests_per_day.is_err() || records_per_day.is_err() {
        page.quota_error = m.quota_invalid.into();
    }
    if page.has_errors() {
        return super::private_page(&page, ctx.lang, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let draft = AgreementDraft {
        dataset,
        fields,
        operations,
        purpose,
        legal_basis: LegalBasis {
            text: legal_text,
            reference: legal_reference,
        },
        valid_from: None,
        valid_until,
        quota: Quota {
            requests_per_day: requests_per_day.unwrap_or_default(),
            records_per_day: records_per_day.unwrap_or_default(),
        },
        mandatory: false,
    };
    let core = st.core.clone();
    let made = blocking(move || core.request_agreement(&caller, draft, Utc::now())).await;
    match made {
        Ok(a) => Redirect::to(&format!("/agreements/{}", a.value.id)).into_response(),
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
            page.form_error = e.detail().to_owned();
            super::private_page(&page, ctx.lang, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => ctx.error(e),
    }
}

/// One agreement in a list or on its page.
pub struct AgreementRow {
    id: String,
    dataset: String,
    provider: String,
    consumer: String,
    purpose: String,
    status: String,
    status_class: &'static str,
    fields: String,
    operations: String,
    valid: String,
    usage: String,
}

fn status_label(lang: Lang, s: AgreementStatus) -> (String, &'static str) {
    let m = lang.messages();
    match s {
        AgreementStatus::Requested => (m.status_requested.into(), "warn"),
        AgreementStatus::Approved => (m.status_approved.into(), "good"),
        AgreementStatus::Rejected => (m.status_rejected.into(), "bad"),
        AgreementStatus::Suspended => (m.status_suspended.into(), "warn"),
        AgreementStatus::Revoked => (m.status_revoked.into(), "bad"),
        AgreementStatus::Expired => (m.status_expired.into(), "bad"),
    }
}

fn row_of(
    lang: Lang,
    names: &dyn Fn(&str) -> String,
    a: &Agreement,
    (requests, records): (u64, u64),
) -> AgreementRow {
    let m = lang.messages();
    let now = Utc::now();
    let (status, status_class) = status_label(lang, a.status_at(now));
    let limit = |n: Option<u64>| n.map_or_else(|| "∞".to_owned(), |n| lang.number(n));
    let usage = format!(
        "{} / {} {} · {} / {} {}",
        lang.number(requests),
        limit(a.quota.requests_per_day),
        m.requests_word,
        lang.number(records),
        limit(a.quota.records_per_day),
        m.records_word,
    );
    AgreementRow {
        id: a.id.clone(),
        dataset: a.dataset.clone(),
        provider: names(&a.provider),
        consumer: format!("{} ({})", names(&a.consumer_member), a.consumer),
        purpose: a.purpose.clone(),
        status,
        status_class,
        fields: a.fields.join(", "),
        operations: a
            .operations
            .iter()
            .map(|o| operation_label(lang, *o))
            .collect::<Vec<_>>()
            .join(", "),
        valid: match a.valid_until {
            Some(u) => format!(
                "{} – {}",
                lang.date(a.valid_from.date_naive()),
                lang.date(u.date_naive())
            ),
            None => format!("{} –", lang.date(a.valid_from.date_naive())),
        },
        usage,
    }
}

/// `/agreements`: the agreements the viewer's agency is party to.
#[derive(Template)]
#[template(path = "agreements.html")]
pub struct AgreementsPage {
    c: Chrome,
    rows: Vec<AgreementRow>,
    pending: usize,
}

/// `GET /agreements`: requests waiting first, then the rest by id.
pub async fn list(State(st): State<AppState>, ctx: Ctx) -> Response {
    let caller = match ctx
        .caller(&st, &[Role::Provider, Role::Consumer, Role::Steward])
        .await
    {
        Ok(c) => c,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    let core = st.core.clone();
    let found = blocking(move || {
        let now = Utc::now();
        let mut out = Vec::new();
        for a in core.agreements(&caller)? {
            let used = core.quota_used(&a.value, now)?;
            out.push((a.value, used));
        }
        Ok(out)
    })
    .await;
    let mut found = match found {
        Ok(f) => f,
        Err(e) => return ctx.error(e),
    };
    found.sort_by_key(|(a, _)| a.status != AgreementStatus::Requested);
    let names = member_names(&st, lang);
    let pending = found
        .iter()
        .filter(|(a, _)| a.status == AgreementStatus::Requested)
        .count();
    let rows = found
        .iter()
        .map(|(a, used)| row_of(lang, &names, a, *used))
        .collect();
    super::private_page(
        &AgreementsPage {
            c: ctx.chrome("agreements"),
            rows,
            pending,
        },
        lang,
        StatusCode::OK,
    )
}

/// A decision the viewer may take on an agreement.
pub struct Action {
    name: &'static str,
    label: &'static str,
    reason_required: bool,
    danger: bool,
}

/// `/agreements/{id}`: one agreement and the decisions the viewer may take.
#[derive(Template)]
#[template(path = "agreement.html")]
pub struct AgreementPage {
    c: Chrome,
    row: AgreementRow,
    legal_text: String,
    legal_reference: String,
    reason: String,
    requested: String,
    changed: String,
    actions: Vec<Action>,
    action_error: String,
    error_for: String,
}

fn actions_for(lang: Lang, caller: &Caller, a: &Agreement) -> Vec<Action> {
    let m = lang.messages();
    let provider = caller.has(Role::Provider) && caller.member().code == a.provider;
    let consumer = caller.has(Role::Consumer) && caller.system().code == a.consumer;
    let steward = a.mandatory && caller.has(Role::Steward);
    let mut out = Vec::new();
    for t in Transition::ALL {
        let allowed = match t {
            Transition::Approve | Transition::Reject => provider || steward,
            Transition::Suspend | Transition::Revoke => provider || consumer || steward,
        };
        if !allowed || t.apply(a.status).is_none() {
            continue;
        }
        out.push(Action {
            name: t.name(),
            label: match t {
                Transition::Approve => m.approve,
                Transition::Reject => m.reject,
                Transition::Suspend => m.suspend,
                Transition::Revoke => m.revoke,
            },
            reason_required: t == Transition::Reject,
            danger: matches!(t, Transition::Reject | Transition::Revoke),
        });
    }
    out
}

async fn agreement_page(
    st: &AppState,
    ctx: &Ctx,
    caller: Caller,
    id: String,
) -> Result<AgreementPage, ApiError> {
    let lang = ctx.lang;
    let core = st.core.clone();
    let c2 = caller.clone();
    let (a, used) = blocking(move || {
        let a = core.agreement(&c2, &id)?.value;
        let used = core.quota_used(&a, Utc::now())?;
        Ok((a, used))
    })
    .await?;
    let names = member_names(st, lang);
    Ok(AgreementPage {
        c: ctx.chrome("agreements"),
        row: row_of(lang, &names, &a, used),
        legal_text: a.legal_basis.text.clone(),
        legal_reference: a.legal_basis.reference.clone(),
        reason: a.reason.clone().unwrap_or_default(),
        requested: format!("{} · {}", lang.time(a.requested_at), a.requested_by),
        changed: match (&a.changed_by, a.changed_at) {
            (Some(by), Some(at)) => format!("{} · {by}", lang.time(at)),
            _ => String::new(),
        },
        actions: actions_for(lang, &caller, &a),
        action_error: String::new(),
        error_for: String::new(),
    })
}

/// `GET /agreements/{id}`.
pub async fn show(State(st): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let caller = match ctx
        .caller(&st, &[Role::Provider, Role::Consumer, Role::Steward])
        .await
    {
        Ok(c) => c,
        Err(page) => return page,
    };
    match agreement_page(&st, &ctx, caller, id).await {
        Ok(page) => super::private_page(&page, ctx.lang, StatusCode::OK),
        Err(e) => ctx.error(e),
    }
}

/// `POST /agreements/{id}/{approve|reject|suspend|revoke}`: the decision, then the
/// agreement's page; a rejection without a reason is refused next to the reason.
pub async fn change(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, transition)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match ctx
        .caller(&st, &[Role::Provider, Role::Consumer, Role::Steward])
        .await
    {
        Ok(c) => c,
        Err(page) => return page,
    };
    let form = match ctx.posted_form(&headers, &body) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let Some(t) = Transition::ALL.into_iter().find(|t| t.name() == transition) else {
        return ctx.error(ApiError::new(
            ndx_core::Code::NotFound,
            format!("no decision {transition:?}: approve, reject, suspend or revoke"),
        ));
    };
    let m = ctx.lang.messages();
    let reason = form.get("reason").trim().to_owned();
    let refuse = |message: String| {
        let (st, ctx, caller, id) = (st.clone(), &ctx, caller.clone(), id.clone());
        async move {
            match agreement_page(&st, ctx, caller, id).await {
                Ok(mut page) => {
                    page.action_error = message;
                    page.error_for = transition.clone();
                    super::private_page(&page, ctx.lang, StatusCode::UNPROCESSABLE_ENTITY)
                }
                Err(e) => ctx.error(e),
            }
        }
    };
    if t == Transition::Reject && reason.is_empty() {
        return refuse(m.reason_needed.into()).await;
    }
    if reason.chars().count() > 1000 {
        return refuse(m.too_long.into()).await;
    }
    let core = st.core.clone();
    let c2 = caller.clone();
    let id2 = id.clone();
    let reason = (!reason.is_empty()).then_some(reason);
    let changed = blocking(move || core.change_agreement(&c2, &id2, t, reason, Utc::now())).await;
    match changed {
        Ok(_) => Redirect::to(&format!("/agreements/{id}")).into_response(),
        Err(e)
            if e.status() == StatusCode::CONFLICT
                || e.status().is_client_error()
                    && e.status() != StatusCode::FORBIDDEN
                    && e.status() != StatusCode::NOT_FOUND =>
        {
            refuse(e.detail().to_owned()).await
        }
        Err(e) => ctx.error(e),
    }
}
