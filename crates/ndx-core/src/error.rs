//! The one error type of the core services: a kind (what the caller did wrong, or that we
//! failed), a stable code, a human message and, for validation, the field errors.

use ndx_store::StoreError;
use ndx_types::dictionary::DefinitionError;
use ndx_types::validate::FieldError;

use crate::ingest::IngestReport;

/// Result type of core services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure: decides the HTTP status and the CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No or bad credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The thing does not exist.
    NotFound,
    /// The thing existed and was deleted.
    Gone,
    /// Clashes with the current state (exists already, breaking change…).
    Conflict,
    /// The input is wrong: malformed, invalid, unknown fields.
    Invalid,
    /// The input is larger than allowed.
    TooLarge,
    /// The storage is unreachable or busy: try again.
    Unavailable,
    /// Our fault; details are logged, not shown.
    Internal,
}

/// A failure of a core service.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure.
    pub kind: Kind,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human message: lowercase, the offending value quoted.
    pub message: String,
    /// Field-level errors, for validation failures.
    pub errors: Vec<FieldError>,
    /// The ingest report of a refused atomic batch.
    pub report: Option<Box<IngestReport>>,
    /// The underlying I/O error, if reading the input failed.
    #[source]
    pub io: Option<std::io::Error>,
}

impl Error {
    /// A new error without details.
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            code,
            message: message.into(),
            errors: Vec::new(),
            report: None,
            io: None,
        }
    }
    /// Adds field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
    /// Shorthand for an invalid-input error.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, code, message)
    }
    /// Shorthand for a not-found error.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, code, message)
    }
    /// Shorthand for a forbidden error.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, code, message)
    }
    /// An internal error: the message is for logs only.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, "internal", message)
    }
    /// Reading the input failed.
    pub fn io(e: std::io::Error) -> Self {
        let mut err = Self::invalid("body-read-failed", format!("reading the input failed: {e}"));
        err.io = Some(e);
        err
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::new(Kind::Conflict, "conflict", m),
            StoreError::NotFound(m) => Error::not_found("not-found", m),
            StoreError::Config(m) => Error::new(Kind::Internal, "store-config", m),
            StoreError::Incompatible(m) => Error::new(Kind::Internal, "store-incompatible", m),
            StoreError::Backend(m) => Error::new(Kind::Unavailable, "store-unavailable", m),
        }
    }
}

impl From<DefinitionError> for Error {
    fn from(e: DefinitionError) -> Self {
        let field = FieldError {
            field: e.path.clone(),
            code: e.code.to_owned(),
            message: e.message.clone(),
        };
        Error::invalid("definition-invalid", e.message).with_errors(vec![field])
    }
}
