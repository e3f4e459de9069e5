//! RFC 9457 problem details: the one shape of every error ndx returns over HTTP. Codes, titles
//! and problem types come from the one table, `ndx_core::Code`; [`status_of`] maps each kind of
//! code to its HTTP status, once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ndx_core::{Code, Error, Kind};

use crate::records::IngestReportOut;
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
    pub errors: Vec<FieldErrorOut>,
    /// The ingest report of a refused batch (`batch-rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<IngestReportOut>>,
}

/// What is wrong with one field of a definition or a record.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorOut {
    /// The field (a path for nested definitions); empty when the error is about the whole.
    pub field: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Human message.
    pub message: String,
}

impl From<FieldError> for FieldErrorOut {
    fn from(e: FieldError) -> Self {
        FieldErrorOut {
            field: e.field,
            code: e.code,
            message: e.message,
        }
    }
}

/// The HTTP status of each kind of error: the one place a kind becomes a status.
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Gone => StatusCode::GONE,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::Malformed => StatusCode::BAD_REQUEST,
        Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Kind::UriTooLong => StatusCode::URI_TOO_LONG,
        Kind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        Kind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        Kind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP status of a code.
pub fn status_of_code(code: Code) -> StatusCode {
    status_of(code.kind())
}

/// An error on its way out as a problem response (boxed: handlers return it often).
#[derive(Debug)]
pub struct ApiError(Box<ProblemParts>);

#[derive(Debug)]
struct ProblemParts {
    code: Code,
    detail: String,
    errors: Vec<FieldError>,
    report: Option<Box<IngestReportOut>>,
}

impl ApiError {
    /// A problem the edge itself detects; its status is the code's.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError(Box::new(ProblemParts {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            report: None,
        }))
    }

    /// The problem of a refused atomic batch: `batch-rejected` with its report inside.
    pub fn rejected(report: IngestReportOut) -> Self {
        let detail = format!(
            "{} of {} records are invalid; atomic batch {:?} refused, nothing changed",
            report.rejected, report.received, report.batch_id
        );
        let mut e = Self::new(Code::BatchRejected, detail);
        e.0.report = Some(Box::new(report));
        e
    }

    /// The problem's code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The problem's status.
    pub fn status(&self) -> StatusCode {
        status_of_code(self.0.code)
    }

    /// What the problem says (a server error's detail says nothing inside).
    pub fn detail(&self) -> &str {
        &self.0.detail
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let mut code = e.code;
        let mut detail = e.message.clone();
        if let Some(io) = &e.io
            && crate::records::is_body_too_large(io)
        {
            code = Code::BodyTooLarge;
            detail = io.to_string();
        }
        if status_of_code(code).is_server_error() {
            let id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
            tracing::error!(request_id = %id, code = code.name(), error = %e.message, "request failed");
            if code.kind() == Kind::Internal {
                detail =
                    "an internal error occurred; the operator can find it by request id".into();
            } else {
                detail = "the store is unavailable; retry later".into();
            }
        }
        ApiError(Box::new(ProblemParts {
            code,
            detail,
            errors: e.errors,
            report: None,
        }))
    }
}

impl ApiError {
    /// The problem document, as a response carries it.
    fn into_problem(self) -> (ProblemParts, Problem) {
        let p = *self.0;
        let status = status_of_code(p.code);
        let body = Problem {
            type_uri: p.code.type_uri().to_owned(),
            title: p.code.title().to_owned(),
            status: status.as_u16(),
            detail: p.detail.clone(),
            code: p.code.name().to_owned(),
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            errors: Vec::new(),
            report: None,
        };
        (p, body)
    }

    /// The problem document as one line of JSON (for a stream that a refusal ends).
    pub fn problem_json(self) -> String {
        let (p, mut body) = self.into_problem();
        body.errors = p.errors.into_iter().map(FieldErrorOut::from).collect();
        body.report = p.report;
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (p, mut body) = self.into_problem();
        let status = status_of_code(p.code);
        body.errors = p.errors.into_iter().map(FieldErrorOut::from).collect();
        body.report = p.report;
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1 / RFC 6750 §3: say which scheme, and whether the token was bad.
            let challenge = if matches!(p.code, Code::AuthMissing | Code::AuthScheme) {
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
