//! A provider's pages: the datasets of their agency with their records, schema versions and
//! quality on the six criteria; uploading a file into one (one batch of the ingest service,
//! kept as an import), and each import's report with its rejected rows.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use ndx_core::access::Caller;
use ndx_core::import::{ImportView, format_of_file};
use ndx_core::ingest::Mode;
use ndx_types::import::ImportStatus;
use ndx_types::quality::Criteria;
use ndx_types::registry::Role;
use std::io::{Seek, Write};

use super::Chrome;
use super::i18n::Lang;
use super::session::{Ctx, Form, check_post};
use crate::problem::ApiError;
use crate::{AppState, blocking};

/// How long an upload's answer waits for its import to finish before showing its progress.
const WAIT_FOR_IMPORT: std::time::Duration = std::time::Duration::from_secs(5);

/// One dataset in the provider's list.
pub struct OwnDataset {
    id: String,
    title: String,
    records: String,
    version: String,
    openness: String,
    quality: String,
}

/// `/provider`: the datasets of the provider's agency.
#[derive(Template)]
#[template(path = "provider.html")]
pub struct ProviderPage {
    c: Chrome,
    member: String,
    datasets: Vec<OwnDataset>,
}

/// A score in percent, or a dash where it cannot be measured.
pub(super) fn percent(lang: Lang, score: Option<f64>) -> String {
    match score {
        Some(s) => match lang {
            Lang::Vi => format!("{:.1} %", s * 100.0).replace('.', ","),
            Lang::En => format!("{:.1}%", s * 100.0),
        },
        None => "—".into(),
    }
}

/// `GET /provider`: the agency's datasets, with their records, version and quality.
pub async fn home(State(st): State<AppState>, ctx: Ctx) -> Response {
    let caller = match ctx.caller(&st, &[Role::Provider]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    let core = st.core.clone();
    let member = lang
        .pick(&caller.member().name_vi, &caller.member().name_en)
        .to_owned();
    let loaded = blocking(move || {
        let now = Utc::now();
        let mut out = Vec::new();
        for schema in core.datasets()? {
            if schema.owner != caller.member().code {
                continue;
            }
            let quality = core.quality_of(&schema, now)?;
            out.push((schema, quality));
        }
        Ok(out)
    })
    .await;
    let datasets = match loaded {
        Ok(d) => d,
        Err(e) => return ctx.error(e),
    };
    let datasets = datasets
        .into_iter()
        .map(|(s, q)| OwnDataset {
            id: s.dataset.clone(),
            title: lang.pick(&s.title_vi, &s.title_en).to_owned(),
            records: lang.number(q.state.records),
            version: s.version.to_string(),
            openness: super::openness_label(lang, s.openness),
            quality: percent(lang, q.scores.overall),
        })
        .collect();
    super::private_page(
        &ProviderPage {
            c: ctx.chrome("provider"),
            member,
            datasets,
        },
        lang,
        StatusCode::OK,
    )
}

/// One quality criterion.
pub struct Criterion {
    name: &'static str,
    score: String,
}

/// One import in a list.
pub struct ImportRow {
    id: String,
    started: String,
    file_name: String,
    by: String,
    status: String,
    status_class: &'static str,
    received: String,
    accepted: String,
    rejected: String,
}

/// `/provider/datasets/{dataset}`: one dataset, its upload form and its imports.
#[derive(Template)]
#[template(path = "provider_dataset.html")]
pub struct DatasetPage {
    c: Chrome,
    id: String,
    title: String,
    records: String,
    version: String,
    versions: String,
    openness: String,
    quality: String,
    criteria: Vec<Criterion>,
    imports: Vec<ImportRow>,
    max_upload: String,
    mode: String,
    file_error: String,
    form_error: String,
}

fn status_of(lang: Lang, status: ImportStatus) -> (String, &'static str) {
    let m = lang.messages();
    match status {
        ImportStatus::Running => (m.import_running.to_owned(), "warn"),
        ImportStatus::Committed => (m.import_committed.to_owned(), "good"),
        ImportStatus::Rejected => (m.import_rejected.to_owned(), "bad"),
        ImportStatus::Failed => (m.import_failed.to_owned(), "bad"),
    }
}

fn import_row(lang: Lang, v: &ImportView) -> ImportRow {
    let i = &v.import;
    let (status, status_class) = status_of(lang, i.status);
    let received = v.read_so_far.unwrap_or(i.counts.received);
    ImportRow {
        id: i.id.clone(),
        started: lang.time(i.started_at),
        file_name: i.file_name.clone(),
        by: i.by.clone(),
        status,
        status_class,
        received: lang.number(received),
        accepted: lang.number(i.counts.accepted),
        rejected: lang.number(i.counts.rejected),
    }
}

fn criteria(lang: Lang, c: &Criteria) -> Vec<Criterion> {
    let m = lang.messages();
    vec![
        Criterion {
            name: m.quality_accurate,
            score: percent(lang, c.accurate),
        },
        Criterion {
            name: m.quality_complete,
            score: percent(lang, c.complete),
        },
        Criterion {
            name: m.quality_clean,
            score: percent(lang, c.clean),
        },
        Criterion {
            name: m.quality_live,
            score: percent(lang, c.live),
        },
        Criterion {
            name: m.quality_unified,
            score: percent(lang, c.unified),
        },
        Criterion {
            name: m.quality_common_use,
            score: percent(lang, c.common_use),
        },
    ]
}

/// Reads one dataset of the caller's agency for its page.
async fn dataset_page(
    st: &AppState,
    ctx: &Ctx,
    caller: Caller,
    dataset: String,
) -> Result<DatasetPage, ApiError> {
    let lang = ctx.lang;
    let core = st.core.clone();
    let (schema, versions, quality, imports) = blocking(move || {
        let schema = core.schema(&dataset, None)?;
        if schema.owner != caller.member().code {
            return Err(ndx_core::Error::of(
                ndx_core::Code::NotOwner,
                format!(
                    "dataset {dataset:?} is {:?}'s: its page is for that agency's providers",
                    schema.owner
                ),
            ));
        }
        let versions = core.schema_versions(&dataset)?;
        let quality = core.quality_of(&schema, Utc::now())?;
        let imports = core.imports(&caller, &dataset)?;
        Ok((schema, versions, quality, imports))
    })
    .await?;
    Ok(DatasetPage {
        c: ctx.chrome("provider"),
        id: schema.dataset.clone(),
        title: lang.pick(&schema.title_vi, &schema.title_en).to_owned(),
        records: lang.number(quality.state.records),
        version: schema.version.to_string(),
        versions: versions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        openness: super::openness_label(lang, schema.openness),
        quality: percent(lang, quality.scores.overall),
        criteria: criteria(lang, &quality.scores.criteria),
        imports: imports.iter().map(|v| import_row(lang, v)).collect(),
        max_upload: lang.number(st.limits.max_batch_bytes / (1 << 20)),
        mode: "per-record".into(),
        file_error: String::new(),
        form_error: String::new(),
    })
}

/// `GET /provider/datasets/{dataset}`.
pub async fn dataset(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(dataset): Path<String>,
) -> Response {
    let caller = match ctx.caller(&st, &[Role::Provider]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match dataset_page(&st, &ctx, caller, dataset).await {
        Ok(page) => super::private_page(&page, ctx.lang, StatusCode::OK),
        Err(e) => ctx.error(e),
    }
}

/// What the upload form sent: its fields and the file, spooled to a temporary file.
struct Upload {
    form: Form,
    file_name: String,
    file: Option<std::fs::File>,
    bytes: u64,
}

/// Why an upload could not be read.
enum UploadError {
    /// The form's token or origin was refused.
    Refused(ApiError),
    /// The file is larger than the limit.
    TooLarge,
    /// The body is not a readable multipart form.
    Malformed(String),
}

/// Reads the multipart form: its text fields first (the token is checked before any file is
/// read), then the file, written to a temporary file up to `limit` bytes.
async fn read_upload(
    mut multipart: Multipart,
    headers: &HeaderMap,
    csrf: &str,
    limit: u64,
) -> Result<Upload, UploadError> {
    let mut pairs = Vec::new();
    let mut upload = Upload {
        form: Form::of_pairs(Vec::new()),
        file_name: String::new(),
        file: None,
        bytes: 0,
    };
    let mut checked = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(UploadError::Malformed(e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let text = field
                .text()
                .await
                .map_err(|e| UploadError::Malformed(e.body_text()))?;
            pairs.push((name, text.chars().take(200).collect()));
            continue;
        }
        if !checked {
            check_post(headers, &Form::of_pairs(pairs.clone()), Some(csrf))
                .map_err(UploadError::Refused)?;
            checked = true;
        }
        upload.file_name = field.file_name().unwrap_or_default().to_owned();
        let mut file = tempfile::tempfile().map_err(|e| UploadError::Malformed(e.to_string()))?;
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    upload.bytes += chunk.len() as u64;
                    if upload.bytes > limit {
                        return Err(UploadError::TooLarge);
                    }
                    file.write_all(&chunk)
                        .map_err(|e| UploadError::Malformed(e.to_string()))?;
                }
                Ok(None) => break,
                Err(e) => return Err(UploadError::Malformed(e.body_text())),
            }
        }
        file.rewind()
            .map_err(|e| UploadError::Malformed(e.to_string()))?;
        upload.file = Some(file);
    }
    if !checked {
        check_post(headers, &Form::of_pairs(pairs.clone()), Some(csrf))
            .map_err(UploadError::Refused)?;
    }
    upload.form = Form::of_pairs(pairs);
    Ok(upload)
}

/// `POST /provider/datasets/{dataset}/imports`: a file uploaded into the dataset. The import
/// starts at once; the answer waits a few seconds for it, then shows its page (its report, or
/// its progress). A form without a file, a file of another format or too large a file is
/// refused next to the file field, and nothing is loaded.
pub async fn upload(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let caller = match ctx.caller(&st, &[Role::Provider]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let csrf = ctx
        .viewer
        .as_ref()
        .map(|v| v.session.csrf.clone())
        .unwrap_or_default();
    let m = ctx.lang.messages();
    let limit = st.limits.max_batch_bytes;
    let read = match multipart {
        Ok(multipart) => read_upload(multipart, &headers, &csrf, limit).await,
        Err(e) => Err(UploadError::Malformed(e.body_text())),
    };
    let refuse = |status: StatusCode, file_error: String, form_error: String| {
        let st = st.clone();
        let caller = caller.clone();
        let dataset = dataset.clone();
        let ctx = &ctx;
        async move {
            match dataset_page(&st, ctx, caller, dataset).await {
                Ok(mut page) => {
                    page.file_error = file_error;
                    page.form_error = form_error;
                    super::private_page(&page, ctx.lang, status)
                }
                Err(e) => ctx.error(e),
            }
        }
    };
    let upload = match read {
        Ok(u) => u,
        Err(UploadError::Refused(e)) => return ctx.error(e),
        Err(UploadError::TooLarge) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                m.upload_too_large
                    .replace("{mib}", &ctx.lang.number(limit / (1 << 20))),
                String::new(),
            )
            .await;
        }
        Err(UploadError::Malformed(why)) => {
            return refuse(StatusCode::BAD_REQUEST, String::new(), why).await;
        }
    };
    let file_error = match &upload.file {
        None => Some(m.upload_choose_file),
        Some(_) if upload.file_name.trim().is_empty() => Some(m.upload_choose_file),
        Some(_) if upload.bytes == 0 => Some(m.upload_empty),
        Some(_) if format_of_file(&upload.file_name).is_none() => Some(m.upload_format),
        Some(_) => None,
    };
    if let Some(message) = file_error {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            message.to_owned(),
            String::new(),
        )
        .await;
    }
    let mode = match upload.form.get("mode") {
        "atomic" => Mode::Atomic,
        _ => Mode::PerRecord,
    };
    let core = st.core.clone();
    let (file_name, bytes) = (upload.file_name.clone(), upload.bytes);
    let started = {
        let core = core.clone();
        let caller = caller.clone();
        let dataset = dataset.clone();
        blocking(move || core.start_import(&caller, &dataset, &file_name, bytes, mode, Utc::now()))
            .await
    };
    let (cap, import) = match started {
        Ok(s) => s,
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.detail().to_owned(),
                String::new(),
            )
            .await;
        }
        Err(e) => return ctx.error(e),
    };
    let id = import.id.clone();
    let file = upload.file.expect("a file was checked above");
    let metrics = st.metrics.clone();
    let running = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        let done = core.run_import(&cap, import, reader, Utc::now());
        if let Ok(done) = &done {
            let labels = crate::metrics::DatasetLabels {
                dataset: done.dataset.clone(),
            };
            metrics
                .records_accepted
                .get_or_create(&labels)
                .inc_by(done.counts.accepted);
            metrics
                .records_rejected
                .get_or_create(&labels)
                .inc_by(done.counts.rejected);
        }
        done
    });
    // A small file is done before the answer; a large one shows its progress.
    let _ = tokio::time::timeout(WAIT_FOR_IMPORT, running).await;
    Redirect::to(&format!("/provider/imports/{id}")).into_response()
}

/// `/provider/imports/{id}`: one import's progress or report.
#[derive(Template)]
#[template(path = "import.html")]
pub struct ImportPage {
    c: Chrome,
    dataset: String,
    dataset_title: String,
    row: ImportRow,
    running: bool,
    bytes: String,
    mode: String,
    finished: String,
    created: String,
    updated: String,
    unchanged: String,
    deleted: String,
    failure: String,
    rejected_rows: Vec<RejectedRowView>,
    rejected_truncated: bool,
}

/// One rejected row as the page shows it.
pub struct RejectedRowView {
    record: String,
    line: String,
    key: String,
    field: String,
    code: String,
    message: String,
}

/// `GET /provider/imports/{id}`.
pub async fn import(State(st): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let caller = match ctx
        .caller(&st, &[Role::Provider, Role::Steward, Role::Operator])
        .await
    {
        Ok(c) => c,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    let core = st.core.clone();
    let loaded = blocking(move || {
        let view = core.import(&caller, &id)?;
        let titles: BTreeMap<String, String> = core
            .datasets()?
            .into_iter()
            .map(|s| {
                let t = lang.pick(&s.title_vi, &s.title_en).to_owned();
                (s.dataset, t)
            })
            .collect();
        Ok((view, titles))
    })
    .await;
    let (view, titles) = match loaded {
        Ok(v) => v,
        Err(e) => return ctx.error(e),
    };
    let m = lang.messages();
    let i = &view.import;
    let page = ImportPage {
        c: ctx.chrome("provider"),
        dataset: i.dataset.clone(),
        dataset_title: titles.get(&i.dataset).cloned().unwrap_or_default(),
        row: import_row(lang, &view),
        running: i.status == ImportStatus::Running,
        bytes: lang.number(i.bytes),
        mode: if i.mode == "atomic" {
            m.mode_atomic.to_owned()
        } else {
            m.mode_per_record.to_owned()
        },
        finished: i.finished_at.map(|t| lang.time(t)).unwrap_or_default(),
        created: lang.number(i.counts.created),
        updated: lang.number(i.counts.updated),
        unchanged: lang.number(i.counts.unchanged),
        deleted: lang.number(i.counts.deleted),
        failure: i.failure.clone().unwrap_or_default(),
        rejected_rows: i
            .rejected_rows
            .iter()
            .map(|r| RejectedRowView {
                record: lang.number(r.record),
                line: r.line.map(|l| lang.number(l)).unwrap_or_default(),
                key: r.key.clone().unwrap_or_default(),
                field: r.field.clone().unwrap_or_default(),
                code: r.code.clone(),
                message: r.message.clone(),
            })
            .collect(),
        rejected_truncated: i.rejected_truncated,
    };
    super::private_page(&page, lang, StatusCode::OK)
}

/// `/provider/reports`: citizens' error reports on the agency's datasets.
#[derive(Template)]
#[template(path = "provider_reports.html")]
pub struct ReportsPage {
    c: Chrome,
    reports: Vec<(String, super::citizen::ReportRow, String, String, bool)>,
    action_error: String,
    error_for: String,
}

async fn reports_page(st: &AppState, ctx: &Ctx, caller: Caller) -> Result<ReportsPage, ApiError> {
    let lang = ctx.lang;
    let core = st.core.clone();
    let reports = blocking(move || core.agency_reports(&caller))
        .await?
        .into_inner();
    Ok(ReportsPage {
        c: ctx.chrome("provider"),
        reports: reports
            .iter()
            .map(|r| {
                (
                    r.id.clone(),
                    super::citizen::report_row(lang, r),
                    r.current.clone(),
                    r.proposed.clone().unwrap_or_default(),
                    r.status == ndx_types::report::ReportStatus::Open,
                )
            })
            .collect(),
        action_error: String::new(),
        error_for: String::new(),
    })
}

/// `GET /provider/reports`.
pub async fn reports(State(st): State<AppState>, ctx: Ctx) -> Response {
    let caller = match ctx.caller(&st, &[Role::Provider]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match reports_page(&st, &ctx, caller).await {
        Ok(page) => super::private_page(&page, ctx.lang, StatusCode::OK),
        Err(e) => ctx.error(e),
    }
}

/// `POST /provider/reports/{id}`: settles a report — corrected, or declined with the reason
/// the citizen will read (said next to the answer when missing).
pub async fn settle(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let caller = match ctx.caller(&st, &[Role::Provider]).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let form = match ctx.posted_form(&headers, &body) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let corrected = form.get("decision") == "corrected";
    let answer = form.get("answer").trim().to_owned();
    let m = ctx.lang.messages();
    let refuse = |message: String| {
        let (st, ctx, caller, id) = (st.clone(), &ctx, caller.clone(), id.clone());
        async move {
            match reports_page(&st, ctx, caller).await {
                Ok(mut page) => {
                    page.action_error = message;
                    page.error_for = id;
                    super::private_page(&page, ctx.lang, StatusCode::UNPROCESSABLE_ENTITY)
                }
                Err(e) => ctx.error(e),
            }
        }
    };
    if !corrected && answer.is_empty() {
        return refuse(m.reason_needed_decline.into()).await;
    }
    let core = st.core.clone();
    let (c2, id2) = (caller.clone(), id.clone());
    let answer = (!answer.is_empty()).then_some(answer);
    match blocking(move || core.settle_report(&c2, &id2, corrected, answer, Utc::now())).await {
        Ok(_) => Redirect::to("/provider/reports").into_response(),
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
