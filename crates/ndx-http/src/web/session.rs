//! Who is looking at a page, and the forms that change it: the session cookie, the page
//! context every handler takes ([`Ctx`]: language, address, viewer), the cross-site request
//! forgery checks every `POST` passes, and the sign-in and sign-out forms.

use std::net::IpAddr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ndx_core::access::Caller;
use ndx_core::account::Credentials;
use ndx_types::account::{SESSION_HOURS, SessionHolder, WebSession};
use ndx_types::registry::Role;

use super::i18n::{Lang, of_headers};
use super::{Chrome, Page, error_page};
use crate::problem::ApiError;
use crate::{AppState, blocking};

/// The session cookie.
pub const SESSION_COOKIE: &str = "ndx_session";
/// The cookie that binds the sign-in form to the browser that loaded it.
pub const FORM_COOKIE: &str = "ndx_csrf";

/// The value of cookie `name`, if the request sent it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

/// Whether the request came over HTTPS (directly or through a proxy that says so): cookies
/// are then `Secure`.
fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value.
fn set_cookie(name: &str, value: &str, max_age: i64, same_site: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The person looking at a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The session.
    pub session: WebSession,
    /// The session's token (from the cookie).
    pub token: String,
    /// How the pages greet them.
    pub name: String,
    /// The roles of a person of an agency (none for a citizen).
    pub roles: Vec<Role>,
}

impl Viewer {
    /// The citizen ID of a citizen's session.
    pub fn citizen_id(&self) -> Option<&str> {
        match &self.session.holder {
            SessionHolder::Citizen { citizen_id } => Some(citizen_id),
            SessionHolder::Account { .. } => None,
        }
    }
}

/// What every page handler knows of its request.
pub struct Ctx {
    /// The reader's language.
    pub lang: Lang,
    /// The page's path and query.
    pub here: String,
    /// Who is signed in, if anyone.
    pub viewer: Option<Viewer>,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// Whether the request came over HTTPS.
    pub https: bool,
}

impl Ctx {
    /// The frame of a page in `section`.
    pub fn chrome(&self, section: &'static str) -> Chrome {
        let mut c = Chrome::new(self.lang, section, self.here.clone());
        if let Some(v) = &self.viewer {
            c.viewer = Some(v.name.clone());
            c.csrf = v.session.csrf.clone();
            c.citizen = v.citizen_id().is_some();
            c.roles = v.roles.clone();
        }
        c
    }

    /// The fields of a form posted by the person signed in, once its origin and token pass
    /// ([`check_post`]); otherwise the refusal's page.
    // The error is the page to answer, made once per refused request: not worth a box.
    #[allow(clippy::result_large_err)]
    pub fn posted_form(&self, headers: &HeaderMap, body: &[u8]) -> Result<Form, Response> {
        let form = Form::parse(body);
        let csrf = self.viewer.as_ref().map(|v| v.session.csrf.as_str());
        check_post(headers, &form, csrf).map_err(|e| self.error(e))?;
        Ok(form)
    }

    /// The caller a person of an agency acts as, if they hold one of `roles`: otherwise the
    /// page to answer (sign in first, or a refusal saying which role the page needs).
    pub async fn caller(&self, st: &AppState, roles: &[Role]) -> Result<Caller, Response> {
        let Some(viewer) = &self.viewer else {
            return Err(to_sign_in(&self.here));
        };
        if !roles.iter().any(|r| viewer.roles.contains(r)) {
            let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            return Err(self.error(ApiError::new(
                ndx_core::Code::RoleRequired,
                format!(
                    "this page is for a person of an agency with the role {}",
                    names.join(" or ")
                ),
            )));
        }
        let core = st.core.clone();
        let session = viewer.session.clone();
        let request_id = crate::problem::current_request_id();
        blocking(move || core.session_caller(&session, &request_id))
            .await
            .map_err(|e| self.error(e))
    }

    /// A service error as a page.
    pub fn error(&self, e: ApiError) -> Response {
        error_page(self.lang, self.here.clone(), e)
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let lang = of_headers(&parts.headers);
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let viewer = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(token) => {
                let core = st.core.clone();
                let found = blocking(move || {
                    let now = chrono::Utc::now();
                    let Some(session) = core.web_session(&token, now)? else {
                        return Ok(None);
                    };
                    let (name, roles) = match &session.holder {
                        SessionHolder::Account { login } => core
                            .session_account(&session)?
                            .map_or_else(|| (login.clone(), Vec::new()), |a| (a.name, a.roles)),
                        SessionHolder::Citizen { citizen_id } => (citizen_id.clone(), Vec::new()),
                    };
                    Ok(Some(Viewer {
                        session,
                        token,
                        name,
                        roles,
                    }))
                })
                .await;
                // A store that cannot answer shows the page signed out rather than no page.
                found.ok().flatten()
            }
            None => None,
        };
        Ok(Ctx {
            lang,
            here,
            viewer,
            client: crate::auth::client_address(parts),
            https: is_https(&parts.headers),
        })
    }
}

/// A form's fields, from an `application/x-www-form-urlencoded` body.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// A form of the given fields (those of a multipart body, say).
    pub fn of_pairs(pairs: Vec<(String, String)>) -> Form {
        Form(pairs)
    }

    /// Every value of a field that may repeat (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The value of a field (empty when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Refuses a cross-site `POST`: one the browser marks `Sec-Fetch-Site: cross-site`, one whose
/// `Origin` is not this node, or one whose form token is not the expected one.
pub fn check_post(
    headers: &HeaderMap,
    form: &Form,
    expected: Option<&str>,
) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::new(
            ndx_core::Code::CsrfFailed,
            format!("the form was refused: {why}"),
        ))
    };
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return refuse("it was sent from another site");
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let own = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host);
        if !own {
            return refuse("it was sent from another origin");
        }
    }
    let sent = form.get("_csrf");
    match expected {
        Some(token) if !token.is_empty() && constant_time_eq(sent.as_bytes(), token.as_bytes()) => {
            Ok(())
        }
        _ => refuse("its token is missing or stale; reload the page and send it again"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where to go after signing in: a path of this node only.
pub fn local_path(next: &str) -> Option<String> {
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\'))
        .then(|| next.to_owned())
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    c: Chrome,
    form_token: String,
    next: String,
    login: String,
    citizen_id: String,
    account_error: String,
    citizen_error: String,
    form_error: String,
}

fn form_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, FORM_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(t) => (t, false),
        None => {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            (hex::encode(bytes), true)
        }
    }
}

fn next_of(raw: Option<&str>) -> String {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "next")
        .and_then(|(_, v)| local_path(&v))
        .unwrap_or_default()
}

fn sign_in_page(
    ctx: &Ctx,
    headers: &HeaderMap,
    status: StatusCode,
    mut page: SignInPage,
) -> Response {
    let (token, fresh) = form_token(headers);
    page.form_token = token.clone();
    let mut response = Page::with_status(status, &page, ctx.lang).into_response();
    if fresh {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(FORM_COOKIE, &token, 3600, "Strict", ctx.https),
        );
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn blank_sign_in(ctx: &Ctx, next: String) -> SignInPage {
    SignInPage {
        c: ctx.chrome("sign-in"),
        form_token: String::new(),
        next,
        login: String::new(),
        citizen_id: String::new(),
        account_error: String::new(),
        citizen_error: String::new(),
        form_error: String::new(),
    }
}

/// `GET /sign-in`: the forms for the people of member agencies and for citizens.
pub async fn sign_in_form(ctx: Ctx, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let page = blank_sign_in(&ctx, next_of(raw.as_deref()));
    sign_in_page(&ctx, &headers, StatusCode::OK, page)
}

/// `POST /sign-in`: checks the form's origin and token, then the credentials; a session
/// cookie and a redirect on success, the form again with the message next to the fields
/// otherwise.
pub async fn sign_in(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let m = ctx.lang.messages();
    let mut page = blank_sign_in(&ctx, local_path(form.get("next")).unwrap_or_default());
    let citizen = form.get("kind") == "citizen";
    page.login = form.get("login").chars().take(64).collect();
    page.citizen_id = form.get("citizen_id").chars().take(12).collect();
    if let Err(e) = check_post(&headers, &form, cookie(&headers, FORM_COOKIE).as_deref()) {
        page.form_error = format!("{} ({})", m.csrf_refused, e.detail());
        return sign_in_page(&ctx, &headers, StatusCode::FORBIDDEN, page);
    }
    let (name, secret) = if citizen {
        (page.citizen_id.clone(), form.get("secret").to_owned())
    } else {
        (
            page.login.trim().to_owned(),
            form.get("password").to_owned(),
        )
    };
    if name.is_empty() || secret.is_empty() {
        let message = m.sign_in_missing.to_owned();
        if citizen {
            page.citizen_error = message;
        } else {
            page.account_error = message;
        }
        return sign_in_page(&ctx, &headers, StatusCode::UNPROCESSABLE_ENTITY, page);
    }
    let core = st.core.clone();
    let client = ctx.client;
    let request_id = crate::problem::current_request_id();
    let signed = blocking(move || {
        let credentials = if citizen {
            Credentials::Citizen {
                citizen_id: &name,
                secret: &secret,
            }
        } else {
            Credentials::Account {
                login: &name,
                password: &secret,
            }
        };
        core.sign_in(credentials, client, &request_id, chrono::Utc::now())
    })
    .await;
    match signed {
        Ok((token, session)) => {
            let to = match (&session.holder, page.next.as_str()) {
                (_, next) if !next.is_empty() => next.to_owned(),
                (SessionHolder::Citizen { .. }, _) => "/me".to_owned(),
                (SessionHolder::Account { .. }, _) => "/".to_owned(),
            };
            let mut response = Redirect::to(&to).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &token,
                    SESSION_HOURS * 3600,
                    "Lax",
                    ctx.https,
                ),
            );
            response
        }
        Err(e) => {
            let (status, message) = match e.code() {
                ndx_core::Code::SignInThrottled => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{} ({})", m.sign_in_throttled, e.detail()),
                ),
                ndx_core::Code::SignInFailed => {
                    (StatusCode::UNAUTHORIZED, m.sign_in_failed.to_owned())
                }
                _ => return ctx.error(e),
            };
            if citizen {
                page.citizen_error = message;
            } else {
                page.account_error = message;
            }
            let mut response = sign_in_page(&ctx, &headers, status, page);
            if status == StatusCode::TOO_MANY_REQUESTS {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(ndx_core::account::THROTTLE_WINDOW_MINUTES as u64 * 60),
                );
            }
            response
        }
    }
}

/// `POST /sign-out`: ends the session (its form carries the session's token).
pub async fn sign_out(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let Some(viewer) = ctx.viewer.clone() else {
        return Redirect::to("/").into_response();
    };
    if let Err(e) = check_post(&headers, &form, Some(&viewer.session.csrf)) {
        return ctx.error(e);
    }
    let core = st.core.clone();
    let token = viewer.token.clone();
    if let Err(e) = blocking(move || core.sign_out(&token, chrono::Utc::now())).await {
        return ctx.error(e);
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, "Lax", ctx.https),
    );
    response
}

/// The redirect to the sign-in form, coming back to `here` afterwards.
pub fn to_sign_in(here: &str) -> Response {
    Redirect::to(&format!("/sign-in?next={}", super::urlencode(here))).into_response()
}
