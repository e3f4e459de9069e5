//! The indicators page of the operator and the steering committee: the strategy's data
//! indicators per agency and overall (`ndx_core::indicators`), as SVG charts drawn on the
//! server, tables of the same figures, and a CSV of each chart's data.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ndx_core::indicators::{AgencyIndicators, Indicators};
use ndx_types::registry::Role;

use super::Chrome;
use super::chart::{self, Bar};
use super::i18n::Lang;
use super::provider::percent;
use super::session::Ctx;
use crate::problem::ApiError;
use crate::{AppState, blocking};

/// Who may read the indicators.
const ROLES: &[Role] = &[Role::Operator, Role::Steward, Role::Auditor];

/// The charts, each with its CSV (`/indicators/{name}.csv`).
const CHARTS: [&str; 5] = ["datasets", "quality", "sharing", "errors", "match-rate"];

/// One agency's row of the table.
pub struct AgencyRow {
    name: String,
    datasets: String,
    original: String,
    master: String,
    open: String,
    shared: String,
    packages: String,
    systems: String,
    quality: String,
    live: String,
    match_rate: String,
    requests: String,
    refused: String,
}

/// One chart on the page.
pub struct ChartView {
    name: &'static str,
    heading: &'static str,
    svg: String,
}

/// `/indicators`.
#[derive(Template)]
#[template(path = "indicators.html")]
pub struct IndicatorsPage {
    c: Chrome,
    measured: String,
    overall: AgencyRow,
    agreements_in_force: String,
    agreements_requested: String,
    shared_today: String,
    refused_today: String,
    charts: Vec<ChartView>,
    rows: Vec<AgencyRow>,
}

fn share(lang: Lang, part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".into();
    }
    format!(
        "{} ({})",
        lang.number(part),
        percent(lang, Some(part as f64 / whole as f64))
    )
}

fn row_of(lang: Lang, a: &AgencyIndicators) -> AgencyRow {
    AgencyRow {
        name: if a.member.is_empty() {
            lang.messages().all_agencies.to_owned()
        } else {
            lang.pick(&a.name_vi, &a.name_en).to_owned()
        },
        datasets: lang.number(a.datasets),
        original: share(lang, a.original, a.datasets),
        master: share(lang, a.master, a.datasets),
        open: share(lang, a.open, a.datasets),
        shared: share(lang, a.shared, a.datasets),
        packages: lang.number(a.packages),
        systems: lang.number(a.systems),
        quality: percent(lang, a.quality.overall()),
        live: percent(lang, a.quality.live),
        match_rate: percent(lang, a.match_rate),
        requests: lang.number(a.requests),
        refused: lang.number(a.refused),
    }
}

async fn load(st: &AppState, ctx: &Ctx) -> Result<Indicators, Response> {
    let caller = ctx.caller(st, ROLES).await?;
    let core = st.core.clone();
    blocking(move || core.indicators(&caller, Utc::now()))
        .await
        .map_err(|e| ctx.error(e))
}

fn agency_name(lang: Lang, a: &AgencyIndicators) -> String {
    lang.pick(&a.name_vi, &a.name_en).to_owned()
}

/// `GET /indicators`.
pub async fn page(State(st): State<AppState>, ctx: Ctx) -> Response {
    let ind = match load(&st, &ctx).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let lang = ctx.lang;
    let m = lang.messages();
    // Agencies that hold no dataset and share nothing make no bar.
    let active: Vec<&AgencyIndicators> = ind
        .agencies
        .iter()
        .filter(|a| a.datasets > 0 || a.requests > 0 || a.refused > 0)
        .collect();
    let charts = vec![
        ChartView {
            name: "datasets",
            heading: m.chart_datasets,
            svg: chart::horizontal_bars(
                "chart-datasets",
                m.chart_datasets,
                m.chart_datasets_desc,
                &active
                    .iter()
                    .map(|a| Bar {
                        label: agency_name(lang, a),
                        value: a.datasets as f64,
                        shown: lang.number(a.datasets),
                    })
                    .collect::<Vec<_>>(),
                0.0,
            ),
        },
        ChartView {
            name: "quality",
            heading: m.chart_quality,
            svg: chart::horizontal_bars(
                "chart-quality",
                m.chart_quality,
                m.chart_quality_desc,
                &active
                    .iter()
                    .filter(|a| a.datasets > 0)
                    .map(|a| Bar {
                        label: agency_name(lang, a),
                        value: a.quality.overall().unwrap_or(0.0),
                        shown: percent(lang, a.quality.overall()),
                    })
                    .collect::<Vec<_>>(),
                1.0,
            ),
        },
        ChartView {
            name: "sharing",
            heading: m.chart_sharing,
            svg: chart::columns(
                "chart-sharing",
                m.chart_sharing,
                m.chart_sharing_desc,
                &ind.sharing
                    .iter()
                    .map(|d| Bar {
                        label: lang.date(d.day),
                        value: d.requests as f64,
                        shown: lang.number(d.requests),
                    })
                    .collect::<Vec<_>>(),
                7,
            ),
        },
        ChartView {
            name: "errors",
            heading: m.chart_errors,
            svg: chart::columns(
                "chart-errors",
                m.chart_errors,
                m.chart_errors_desc,
                &ind.sharing
                    .iter()
                    .map(|d| Bar {
                        label: lang.date(d.day),
                        value: d.refused as f64,
                        shown: lang.number(d.refused),
                    })
                    .collect::<Vec<_>>(),
                7,
            ),
        },
        ChartView {
            name: "match-rate",
            heading: m.chart_match_rate,
            svg: chart::horizontal_bars(
                "chart-match-rate",
                m.chart_match_rate,
                m.chart_match_rate_desc,
                &active
                    .iter()
                    .filter(|a| a.match_rate.is_some())
                    .map(|a| Bar {
                        label: agency_name(lang, a),
                        value: a.match_rate.unwrap_or(0.0),
                        shown: percent(lang, a.match_rate),
                    })
                    .collect::<Vec<_>>(),
                1.0,
            ),
        },
    ];
    let today = ind.sharing.last().map_or(0, |d| d.requests);
    let refused_today = ind.sharing.last().map_or(0, |d| d.refused);
    super::private_page(
        &IndicatorsPage {
            c: ctx.chrome("indicators"),
            measured: lang.time(ind.measured_at),
            overall: row_of(lang, &ind.overall),
            agreements_in_force: lang.number(ind.agreements_in_force),
            agreements_requested: lang.number(ind.agreements_requested),
            shared_today: lang.number(today),
            refused_today: lang.number(refused_today),
            charts,
            rows: active.iter().map(|a| row_of(lang, a)).collect(),
        },
        lang,
        StatusCode::OK,
    )
}

/// A fraction as a CSV cell (`0.9412`, empty when not measured).
fn ratio(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// `GET /indicators/{chart}.csv`: the data of one chart, with a header row, machine-readable
/// (codes, ISO dates, fractions with a dot), whatever the page's language.
pub async fn csv(State(st): State<AppState>, ctx: Ctx, Path(file): Path<String>) -> Response {
    let Some(name) = file
        .strip_suffix(".csv")
        .filter(|n| CHARTS.contains(n))
        .map(str::to_owned)
    else {
        return ctx.error(ApiError::new(
            ndx_core::Code::NotFound,
            format!(
                "no chart {file:?}: {}",
                CHARTS.map(|c| format!("{c}.csv")).join(", ")
            ),
        ));
    };
    let ind = match load(&st, &ctx).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: Vec<String>| w.write_record(&cells).map_err(|e| e.to_string());
    let written: Result<(), String> = (|| {
        match name.as_str() {
            "datasets" => {
                write(
                    [
                        "member", "name_vi", "name_en", "datasets", "original", "master", "open",
                        "shared", "packages", "systems",
                    ]
                    .map(String::from)
                    .to_vec(),
                )?;
                for a in &ind.agencies {
                    write(vec![
                        a.member.clone(),
                        a.name_vi.clone(),
                        a.name_en.clone(),
                        a.datasets.to_string(),
                        a.original.to_string(),
                        a.master.to_string(),
                        a.open.to_string(),
                        a.shared.to_string(),
                        a.packages.to_string(),
                        a.systems.to_string(),
                    ])?;
                }
            }
            "quality" => {
                write(
                    [
                        "member",
                        "overall",
                        "accurate",
                        "complete",
                        "clean",
                        "live",
                        "unified",
                        "common_use",
                    ]
                    .map(String::from)
                    .to_vec(),
                )?;
                for a in ind.agencies.iter().filter(|a| a.datasets > 0) {
                    let q = &a.quality;
                    write(vec![
                        a.member.clone(),
                        ratio(q.overall()),
                        ratio(q.accurate),
                        ratio(q.complete),
                        ratio(q.clean),
                        ratio(q.live),
                        ratio(q.unified),
                        ratio(q.common_use),
                    ])?;
                }
            }
            "sharing" => {
                write(["day", "requests", "records"].map(String::from).to_vec())?;
                for d in &ind.sharing {
                    write(vec![
                        d.day.to_string(),
                        d.requests.to_string(),
                        d.records.to_string(),
                    ])?;
                }
            }
            "errors" => {
                write(["day", "refused"].map(String::from).to_vec())?;
                for d in &ind.sharing {
                    write(vec![d.day.to_string(), d.refused.to_string()])?;
                }
            }
            _ => {
                write(["member", "match_rate"].map(String::from).to_vec())?;
                for a in ind.agencies.iter().filter(|a| a.match_rate.is_some()) {
                    write(vec![a.member.clone(), ratio(a.match_rate)])?;
                }
            }
        }
        Ok(())
    })();
    let body = match written.and_then(|()| w.into_inner().map_err(|e| e.to_string())) {
        Ok(b) => b,
        Err(e) => {
            return ctx.error(ApiError::from(ndx_core::Error::internal(format!(
                "the CSV was not written: {e}"
            ))));
        }
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"ndx-indicators-{name}-{}.csv\"",
        ind.measured_at.format("%Y-%m-%d")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
