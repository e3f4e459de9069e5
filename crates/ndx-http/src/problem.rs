//! RFC 9457 problem details: the one shape of every error ndx returns over HTTP. One table maps
//! each core error kind to its status; the `code` is the stable machine-readable part.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ndx_core::{Error, Kind};
use ndx_types::validate::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being served, for problem bodies and logs.
    pub static REQUEST_ID: String;
}

/// The problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable problem type URI: `urn:ndx:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// The request id (also in the `x-request-id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field-level errors, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
    /// The ingest report of a refused batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// Status and title of each error kind.
pub fn status_of(kind: Kind) -> (StatusCode, &'static str) {
    match kind {
        Kind::Unauthenticated => (StatusCode::UNAUTHORIZED, "Authentication required"),
        Kind::Forbidden => (StatusCode::FORBIDDEN, "Not allowed"),
        Kind::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        Kind::Gone => (StatusCode::GONE, "Deleted"),
        Kind::Conflict => (StatusCode::CONFLICT, "Conflict with the current state"),
        Kind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid input"),
        Kind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Input too large"),
        Kind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable"),
        Kind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    }
}

/// The title of a status: the same words whether the core or the edge found the problem.
fn title_for(status: StatusCode) -> String {
    [
        Kind::Unauthenticated,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::Gone,
        Kind::Conflict,
        Kind::Invalid,
        Kind::TooLarge,
        Kind::Unavailable,
        Kind::Internal,
    ]
    .into_iter()
    .map(status_of)
    .find(|(s, _)| *s == status)
    .map_or_else(
        || status.canonical_reason().unwrap_or("Error").to_owned(),
        |(_, t)| t.to_owned(),
    )
}

/// An error on its way out as a problem response (boxed: handlers return it often).
#[derive(Debug)]
pub struct ApiError(Box<ProblemParts>);

#[derive(Debug)]
struct ProblemParts {
    status: StatusCode,
    code: String,
    title: String,
    detail: String,
    errors: Vec<FieldError>,
    report: Option<serde_json::Value>,
}

impl ApiError {
    /// A problem with an explicit status (for errors the edge itself detects).
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(ProblemParts {
            status,
            code: code.to_owned(),
            title: title_for(status),
            detail: detail.into(),
            errors: Vec::new(),
            report: None,
        }))
    }
    /// A 400 for malformed requests (query strings, headers, JSON bodies).
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (mut status, mut title) = status_of(e.kind);
        let mut code = e.code.to_owned();
        let mut detail = e.message.clone();
        if let Some(io) = &e.io
            && crate::records::is_body_too_large(io)
        {
            (status, title) = status_of(Kind::TooLarge);
            code = "body-too-large".into();
            detail = io.to_string();
        }
        if status.is_server_error() {
            let id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
            tracing::error!(request_id = %id, code = e.code, error = %e.message, "request failed");
            if e.kind == Kind::Internal {
                detail =
                    "an internal error occurred; the operator can find it by request id".into();
            } else {
                detail = "the store is unavailable; retry later".into();
            }
        }
        ApiError(Box::new(ProblemParts {
            status,
            code,
            title: title.to_owned(),
            detail,
            errors: e.errors,
            report: e
                .report
                .map(|r| serde_json::to_value(*r).unwrap_or_default()),
        }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = *self.0;
        let body = Problem {
            type_uri: format!("urn:ndx:problem:{}", p.code),
            title: p.title,
            status: p.status.as_u16(),
            detail: p.detail,
            code: p.code.clone(),
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            errors: p.errors,
            report: p.report,
        };
        let mut resp = (p.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if p.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1 / RFC 6750 §3: say which scheme, and whether the token was bad.
            let challenge = if p.code == "auth-missing" || p.code == "auth-scheme" {
                HeaderValue::from_static("Bearer realm=\"ndx\"")
            } else {
                HeaderValue::from_static("Bearer realm=\"ndx\", error=\"invalid_token\"")
            };
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The id of the request being served (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}
