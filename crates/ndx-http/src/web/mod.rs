//! The web UI: server-rendered pages in Vietnamese and English over the same services as the
//! JSON API (ARCHITECTURE.md, "Web UI"). Templates are askama's, compiled into the binary
//! with the assets; no page needs JavaScript.

pub mod agreements;
pub mod assets;
pub mod chart;
pub mod citizen;
pub mod i18n;
pub mod indicators;
pub mod provider;
pub mod public;
pub mod session;
pub mod steward;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use i18n::{LANG_COOKIE, Lang, Messages};

/// The web UI's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(public::home))
        .route("/open-data", get(public::open_data))
        .route("/open-data/{package}", get(public::package_page))
        .route("/dictionary", get(public::dictionary))
        .route("/dictionary/code-lists/{id}", get(public::code_list_page))
        .route("/dictionary/datasets/{dataset}", get(public::dataset_page))
        .route("/language/{lang}", get(switch_language))
        .route(
            "/sign-in",
            get(session::sign_in_form).post(session::sign_in),
        )
        .route("/sign-out", axum::routing::post(session::sign_out))
        .route("/me", get(citizen::me))
        .route("/me/consents", axum::routing::post(citizen::grant))
        .route(
            "/me/consents/{id}/withdraw",
            axum::routing::post(citizen::withdraw),
        )
        .route(
            "/me/report",
            get(citizen::report_form).post(citizen::report),
        )
        .route("/provider/reports", get(provider::reports))
        .route(
            "/provider/reports/{id}",
            axum::routing::post(provider::settle),
        )
        .route("/provider", get(provider::home))
        .route("/provider/datasets/{dataset}", get(provider::dataset))
        .route("/provider/imports/{id}", get(provider::import))
        .route("/reconciliations", get(steward::runs))
        .route("/reconciliations/{id}", get(steward::run))
        .route(
            "/reconciliations/{id}/corrections",
            axum::routing::post(steward::decide),
        )
        .route("/indicators", get(indicators::page))
        .route("/indicators/{file}", get(indicators::csv))
        .route("/catalogue", get(agreements::catalogue))
        .route(
            "/catalogue/{dataset}/request",
            get(agreements::request_form).post(agreements::request),
        )
        .route("/agreements", get(agreements::list))
        .route("/agreements/{id}", get(agreements::show))
        .route(
            "/agreements/{id}/{transition}",
            axum::routing::post(agreements::change),
        )
        .route("/assets/{name}", get(assets::serve))
}

/// The routes that take an uploaded file: the body limit and the time limit of batches.
pub fn upload_routes() -> Router<AppState> {
    Router::new().route(
        "/provider/datasets/{dataset}/imports",
        axum::routing::post(provider::upload),
    )
}

/// What every page's frame needs: the language and its texts, where the page is (for the
/// language switch and the current navigation item), and who is signed in.
pub struct Chrome {
    /// The page's language.
    pub lang: Lang,
    /// Its texts.
    pub m: &'static Messages,
    /// The path and query of the page (the language switch comes back to it).
    pub here: String,
    /// Which navigation item is current (`home`, `open-data`, `dictionary`…).
    pub section: &'static str,
    /// The stylesheet's address (named by its digest).
    pub stylesheet: &'static str,
    /// The icon's address.
    pub favicon: &'static str,
    /// The script's address.
    pub script: &'static str,
    /// The name of the person signed in, if anyone is.
    pub viewer: Option<String>,
    /// The session's form token (the sign-out form carries it).
    pub csrf: String,
    /// Whether the person signed in is a citizen.
    pub citizen: bool,
    /// The roles of the person of an agency signed in.
    pub roles: Vec<ndx_types::registry::Role>,
}

impl Chrome {
    /// The frame of a page in `section`, at `here`.
    pub fn new(lang: Lang, section: &'static str, here: String) -> Chrome {
        Chrome {
            lang,
            m: lang.messages(),
            here,
            section,
            stylesheet: assets::stylesheet_href(),
            favicon: assets::favicon_href(),
            script: assets::script_href(),
            viewer: None,
            csrf: String::new(),
            citizen: false,
            roles: Vec::new(),
        }
    }

    /// The language tag of the page.
    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// The address that switches to the other language and comes back here.
    pub fn switch_href(&self) -> String {
        format!(
            "/language/{}?next={}",
            self.lang.other().tag(),
            urlencode(&self.here)
        )
    }

    /// The tag of the other language.
    pub fn other_tag(&self) -> &'static str {
        self.lang.other().tag()
    }

    /// Whether the person signed in holds the role named `role` (`provider`, `consumer`…).
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.name() == role)
    }

    /// `aria-current="page"` on the current navigation item.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// How a dataset's openness reads in `lang`.
pub fn openness_label(lang: Lang, openness: ndx_types::dictionary::Openness) -> String {
    use ndx_types::dictionary::Openness;
    let m = lang.messages();
    match openness {
        Openness::Open => m.openness_open,
        Openness::Shared => m.openness_shared,
        Openness::Restricted => m.openness_restricted,
    }
    .to_owned()
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A rendered page with the web UI's headers.
pub struct Page {
    status: StatusCode,
    body: Result<String, askama::Error>,
    lang: Lang,
}

impl Page {
    /// A page answered with 200.
    pub fn ok(template: &impl Template, lang: Lang) -> Page {
        Page::with_status(StatusCode::OK, template, lang)
    }

    /// A page answered with `status`.
    pub fn with_status(status: StatusCode, template: &impl Template, lang: Lang) -> Page {
        Page {
            status,
            body: template.render(),
            lang,
        }
    }
}

/// A page for a signed-in person: never cached.
pub fn private_page(template: &impl Template, lang: Lang, status: StatusCode) -> Response {
    let mut response = Page::with_status(status, template, lang).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The headers every page carries: no script or style from elsewhere, no framing, no sniffing.
pub fn page_headers(headers: &mut HeaderMap, lang: Lang) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.tag()),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Accept-Language"),
    );
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        match self.body {
            Ok(html) => {
                let mut response = (self.status, html).into_response();
                page_headers(response.headers_mut(), self.lang);
                response
            }
            Err(e) => {
                tracing::error!("a page did not render: {e}");
                crate::problem::ApiError::from(ndx_core::Error::internal(format!(
                    "a page did not render: {e}"
                )))
                .into_response()
            }
        }
    }
}

/// The page of a failure: 404 for what does not exist, otherwise the status of the problem.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The frame.
    pub c: Chrome,
    /// Whether it is a 404.
    pub not_found: bool,
    /// The problem's message, for a client error.
    pub detail: String,
}

impl ErrorPage {
    /// The request's id, for a report.
    pub fn request_id(&self) -> String {
        crate::problem::current_request_id()
    }
}

/// A service error as a page in the reader's language.
pub fn error_page(lang: Lang, here: String, e: crate::problem::ApiError) -> Response {
    let status = e.status();
    let not_found = status == StatusCode::NOT_FOUND;
    // A server error's detail was logged with the request id; the page shows the id only.
    let detail = if status.is_server_error() {
        String::new()
    } else {
        e.detail().to_owned()
    };
    Page::with_status(
        status,
        &ErrorPage {
            c: Chrome::new(lang, "", here),
            not_found,
            detail,
        },
        lang,
    )
    .into_response()
}

/// Where to come back to after switching language.
#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Keeps the chosen language for a year and goes back to the page (only a path of this
/// node: never another site).
async fn switch_language(Path(tag): Path<String>, Query(q): Query<Next>) -> Response {
    let Some(lang) = Lang::of_tag(&tag).filter(|l| l.tag() == tag) else {
        return error_page(
            Lang::Vi,
            "/".into(),
            crate::problem::ApiError::new(
                ndx_core::Code::NotFound,
                format!("no language {tag:?}: vi or en"),
            ),
        );
    };
    let next = q
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.tag()
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
