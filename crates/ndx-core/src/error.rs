//! The one error type of the core services and the one table of error codes.
//!
//! [`Code`] is the only place an error code is spelled: each code has its stable name, its
//! [`Kind`] (which decides the HTTP status, mapped once by `ndx-http`, and the CLI exit code),
//! a short title and its RFC 9457 problem type URI. A new code is one line in the
//! `error_codes!` table below plus one line in `docs/errors.md` (a test checks both, and that
//! the OpenAPI document lists it).

use ndx_store::StoreError;
use ndx_types::dictionary::DefinitionError;
use ndx_types::validate::FieldError;

/// Result type of core services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure: decides the HTTP status and the CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The request itself is malformed: a query parameter, a header, a JSON body's syntax.
    Malformed,
    /// The input is wrong: invalid values, unknown fields, a refused batch.
    Invalid,
    /// The input is larger than allowed.
    TooLarge,
    /// The input's media type is not accepted.
    UnsupportedMediaType,
    /// The route exists, but not with this method.
    MethodNotAllowed,
    /// The request target is longer than the server reads.
    UriTooLong,
    /// The request's header fields are larger than the server reads.
    HeadersTooLarge,
    /// No representation the request's `Accept` allows.
    NotAcceptable,
    /// A byte range outside the file asked for.
    RangeNotSatisfiable,
    /// A quota or rate is used up for now: try again later.
    TooManyRequests,
    /// The storage is unreachable or busy: try again.
    Unavailable,
    /// Our fault; details are logged, not shown.
    Internal,
}

impl Kind {
    /// Every kind.
    pub const ALL: &'static [Kind] = &[
        Kind::Unauthenticated,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::Gone,
        Kind::Conflict,
        Kind::Malformed,
        Kind::Invalid,
        Kind::TooLarge,
        Kind::UnsupportedMediaType,
        Kind::MethodNotAllowed,
        Kind::UriTooLong,
        Kind::HeadersTooLarge,
        Kind::NotAcceptable,
        Kind::RangeNotSatisfiable,
        Kind::TooManyRequests,
        Kind::Unavailable,
        Kind::Internal,
    ];
}

/// The prefix of every problem type URI; the code follows it.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:ndx:problem:";

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, $kind:ident, $title:literal; )*) => {
        /// Every stable error code of ndx: the problem `code` of HTTP answers, the `code` of
        /// record errors in ingest reports, and the codes the CLI prints.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable name, e.g. `limit-invalid`.
            pub const fn name(self) -> &'static str {
                match self { $( Code::$variant => $name, )* }
            }

            /// The kind, which decides the HTTP status.
            pub const fn kind(self) -> Kind {
                match self { $( Code::$variant => Kind::$kind, )* }
            }

            /// A short summary of the problem type, the same every time.
            pub const fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )* }
            }

            /// The RFC 9457 problem type URI: `urn:ndx:problem:<name>`.
            pub const fn type_uri(self) -> &'static str {
                match self { $( Code::$variant => concat!("urn:ndx:problem:", $name), )* }
            }

            /// What the code means (its line in the table), for docs.
            pub fn description(self) -> &'static str {
                match self { $( Code::$variant => concat!($($doc),*).trim(), )* }
            }

            /// The code of a name, if it is one.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $( $name => Some(Code::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    // 401
    /// No `Authorization` header.
    AuthMissing = "auth-missing", Unauthenticated, "Authentication required";
    /// An `Authorization` header that is not `Bearer <key>`.
    AuthScheme = "auth-scheme", Unauthenticated, "Unsupported authorization scheme";
    /// A token that is not an ndx key.
    KeyMalformed = "key-malformed", Unauthenticated, "Malformed API key";
    /// A key that is not known.
    KeyUnknown = "key-unknown", Unauthenticated, "Unknown API key";
    /// A key past its expiry.
    KeyExpired = "key-expired", Unauthenticated, "Expired API key";
    /// A revoked key.
    KeyRevoked = "key-revoked", Unauthenticated, "Revoked API key";
    /// A citizen token that does not verify.
    TokenInvalid = "token-invalid", Unauthenticated, "Invalid citizen token";
    /// A web sign-in whose name and password (or citizen ID and secret) do not match.
    SignInFailed = "sign-in-failed", Unauthenticated, "Sign-in failed";
    /// A web session that no longer acts: its account was closed or its system removed.
    SessionRequired = "session-required", Unauthenticated, "Sign-in required";
    // 403
    /// The key lacks the role the operation needs.
    RoleRequired = "role-required", Forbidden, "Role required";
    /// The caller's member does not own the thing.
    NotOwner = "not-owner", Forbidden, "Not the owner";
    /// A citizen asked about another citizen's data.
    NotYourData = "not-your-data", Forbidden, "Not your data";
    /// A web form sent from another site, or without its form token.
    CsrfFailed = "csrf-failed", Forbidden, "Cross-site request refused";
    /// The key lacks the role the exchange needs (`consumer`).
    ConsumerRequired = "consumer-required", Forbidden, "Consumer role required";
    /// The consumer system has no sharing agreement on the dataset.
    NoAgreement = "no-agreement", Forbidden, "No sharing agreement";
    /// The agreement is requested and not yet approved.
    AgreementPending = "agreement-pending", Forbidden, "Agreement not yet approved";
    /// The agreement was rejected.
    AgreementRejected = "agreement-rejected", Forbidden, "Agreement rejected";
    /// The agreement is suspended.
    AgreementSuspended = "agreement-suspended", Forbidden, "Agreement suspended";
    /// The agreement was revoked.
    AgreementRevoked = "agreement-revoked", Forbidden, "Agreement revoked";
    /// The agreement is not in force yet.
    AgreementNotYetValid = "agreement-not-yet-valid", Forbidden, "Agreement not yet valid";
    /// The agreement's validity is over.
    AgreementExpired = "agreement-expired", Forbidden, "Agreement expired";
    /// The purpose stated (`Ndx-Purpose`) is not the agreement's.
    PurposeMismatch = "purpose-mismatch", Forbidden, "Purpose does not match the agreement";
    /// The agreement does not cover the operation (lookup, search, extract).
    OperationNotCovered = "operation-not-covered", Forbidden, "Operation not covered";
    /// The agreement does not cover a field asked for.
    FieldNotCovered = "field-not-covered", Forbidden, "Field not covered";
    /// The data may not go to the consumer's jurisdiction (core data abroad, or important or personal data without a transfer assessment).
    Sovereignty = "sovereignty", Forbidden, "Refused by the sovereignty guard";
    /// The record holds consent-bound fields and its data subject has not consented (or withdrew).
    ConsentMissing = "consent-missing", Forbidden, "Consent missing";
    /// Only the provider (or, for mandatory sharing, the steward) or the consumer may change this agreement this way.
    AgreementNotYours = "agreement-not-yours", Forbidden, "Not a party to the agreement";
    // 404
    /// Something the store does not hold.
    NotFound = "not-found", NotFound, "Not found";
    /// No route for this method and path.
    RouteNotFound = "route-not-found", NotFound, "No such route";
    /// No such member.
    MemberNotFound = "member-not-found", NotFound, "Member not found";
    /// No such system.
    SystemNotFound = "system-not-found", NotFound, "System not found";
    /// No such API key.
    KeyNotFound = "key-not-found", NotFound, "API key not found";
    /// No such data element.
    ElementNotFound = "element-not-found", NotFound, "Data element not found";
    /// No such code list (or version).
    CodeListNotFound = "code-list-not-found", NotFound, "Code list not found";
    /// No crosswalk joins the two code list versions.
    CrosswalkNotFound = "crosswalk-not-found", NotFound, "Crosswalk not found";
    /// No such open-data package.
    PackageNotFound = "package-not-found", NotFound, "Package not found";
    /// No list of that name (the lists are original, master, open, shared).
    DataListNotFound = "data-list-not-found", NotFound, "No such data list";
    /// A `Range` that starts beyond the end of the file.
    RangeNotSatisfiable = "range-not-satisfiable", RangeNotSatisfiable, "Range not satisfiable";
    /// No such release of a package (or file of a release).
    ReleaseNotFound = "release-not-found", NotFound, "Release not found";
    /// No such dataset.
    DatasetNotFound = "dataset-not-found", NotFound, "Dataset not found";
    /// No such schema version.
    SchemaVersionNotFound = "schema-version-not-found", NotFound, "Schema version not found";
    /// No such record (or none at that time).
    RecordNotFound = "record-not-found", NotFound, "Record not found";
    /// The audit log has no signed head yet.
    AuditNoHead = "audit-no-head", NotFound, "No signed tree head yet";
    /// No such agreement (or not one the caller may see).
    AgreementNotFound = "agreement-not-found", NotFound, "Agreement not found";
    /// No such connector (or not one the caller may see).
    ConnectorNotFound = "connector-not-found", NotFound, "Connector not found";
    /// The connector has no run of that number (runs beyond the newest 500 are deleted).
    ConnectorRunNotFound = "connector-run-not-found", NotFound, "Connector run not found";
    /// No such push subscription (or not one the caller may see).
    SubscriptionNotFound = "subscription-not-found", NotFound, "Subscription not found";
    /// No reconciliation run with that id (or not one of the caller's member's).
    ReconciliationNotFound = "reconciliation-not-found", NotFound, "Reconciliation not found";
    /// No import with that id (or not one of the caller's member's).
    ImportNotFound = "import-not-found", NotFound, "Import not found";
    /// No error report with that id (or not one the caller may see).
    ReportNotFound = "report-not-found", NotFound, "Error report not found";
    // 410
    /// The record is deleted.
    RecordDeleted = "record-deleted", Gone, "Record deleted";
    /// A change-feed position older than the feed keeps: re-baseline with an extract.
    FeedPositionExpired = "feed-position-expired", Gone, "Feed position expired";
    // 409
    /// The change clashes with the stored state.
    Conflict = "conflict", Conflict, "Conflict with the current state";
    /// The dataset exists already.
    DatasetExists = "dataset-exists", Conflict, "Dataset exists";
    /// A breaking schema change without `major=true`.
    SchemaBreakingChange = "schema-breaking-change", Conflict, "Breaking schema change";
    /// Another submission of this batch id is being applied.
    BatchInProgress = "batch-in-progress", Conflict, "Batch in progress";
    /// A reconciliation's report asked for before the run is done (or after it failed).
    ReconciliationNotDone = "reconciliation-not-done", Conflict, "Reconciliation not done";
    /// The correction of that record in that run is already decided.
    CorrectionDecided = "correction-decided", Conflict, "Correction already decided";
    /// The report row proposes no correction (or none of that field), or the corrected
    /// record would not validate against the target's schema.
    CorrectionNotApplicable = "correction-not-applicable", Conflict, "No such correction proposed";
    /// The batch id was used with another body or options.
    BatchIdReused = "batch-id-reused", Conflict, "Batch id reused";
    /// Revoking the last active operator key would leave the platform without an operator.
    LastOperatorKey = "last-operator-key", Conflict, "Last operator key";
    /// The agreement's status does not allow this change (e.g. approving a revoked agreement).
    AgreementTransitionInvalid = "agreement-transition-invalid", Conflict, "Agreement status does not allow this";
    /// A connector with this id exists.
    ConnectorExists = "connector-exists", Conflict, "Connector exists";
    /// A run of the connector holds its lease (in this process or another), or a run lost its lease.
    ConnectorBusy = "connector-busy", Conflict, "Connector run in progress";
    /// A run of a folder connector was asked for, but no file waits in its folder.
    ConnectorNoFile = "connector-no-file", Conflict, "No file waiting";
    /// The subscription's status does not allow this (replaying a batch of a subscription that is not dead, resuming one that ended…).
    SubscriptionTransitionInvalid = "subscription-transition-invalid", Conflict, "Subscription status does not allow this";
    // 429
    /// The agreement's requests or records for the day are used up.
    QuotaExhausted = "quota-exhausted", TooManyRequests, "Quota exhausted";
    /// Too many failed web sign-ins from one client or for one name within the window.
    SignInThrottled = "sign-in-throttled", TooManyRequests, "Too many failed sign-ins";
    // 400
    /// A query string that does not parse, or an unknown or mistyped parameter.
    QueryInvalid = "query-invalid", Malformed, "Invalid query parameters";
    /// A JSON request body that is not JSON.
    BodyMalformed = "body-malformed", Malformed, "Malformed JSON body";
    /// `limit` out of its range.
    LimitInvalid = "limit-invalid", Malformed, "Invalid limit";
    /// A change-feed position that is not a whole number, or lies beyond the feed's head.
    FeedPositionInvalid = "feed-position-invalid", Malformed, "Invalid feed position";
    /// `mode` is not `atomic` or `per-record`.
    ModeInvalid = "mode-invalid", Malformed, "Invalid mode";
    /// `max_errors` out of its range.
    MaxErrorsInvalid = "max-errors-invalid", Malformed, "Invalid max_errors";
    /// `as_of` is not an RFC 3339 time.
    AsOfInvalid = "as-of-invalid", Malformed, "Invalid as_of";
    /// `format` is not a known export.
    FormatUnknown = "format-unknown", Malformed, "Unknown format";
    /// `version` is not `MAJOR.MINOR`.
    VersionInvalid = "version-invalid", Malformed, "Invalid version";
    /// A reconciliation input that cannot be read: a ragged or unreadable CSV row, a missing
    /// id or name column, an empty or repeated id, a threshold out of range.
    ReconcileInputInvalid = "reconcile-input-invalid", Malformed, "Invalid reconciliation input";
    /// Not a valid 12-digit citizen ID.
    CitizenIdInvalid = "citizen-id-invalid", Malformed, "Invalid citizen ID";
    /// An exchange request without the `Ndx-Purpose` header.
    PurposeMissing = "purpose-missing", Malformed, "Purpose missing";
    /// A purpose that is not a code of the code list `purpose`.
    PurposeUnknown = "purpose-unknown", Malformed, "Unknown purpose";
    /// A batch id (`Idempotency-Key`) of the wrong shape.
    BatchIdInvalid = "batch-id-invalid", Malformed, "Invalid batch id";
    /// A request path whose percent-decoded bytes are not UTF-8 or hold a control character.
    PathInvalid = "path-invalid", Malformed, "Invalid path";
    /// A header value with a byte HTTP or ndx does not accept there (a control character such as DEL, or a non-ASCII byte).
    HeaderInvalid = "header-invalid", Malformed, "Invalid header";
    /// A request head that does not parse as HTTP/1.1 (request line or header syntax).
    RequestMalformed = "request-malformed", Malformed, "Malformed request";
    // 405, 414, 431
    /// The route exists, but does not take this method (the `Allow` header lists those it does).
    MethodNotAllowed = "method-not-allowed", MethodNotAllowed, "Method not allowed";
    /// The request target (path and query) is longer than the server reads.
    UriTooLong = "uri-too-long", UriTooLong, "URI too long";
    /// The request's header fields are larger than the server reads.
    HeadersTooLarge = "headers-too-large", HeadersTooLarge, "Header fields too large";
    // 406
    /// The `Accept` header allows none of the representations the resource has.
    NotAcceptable = "not-acceptable", NotAcceptable, "Not acceptable";
    // 413, 415
    /// The body is over the size limit.
    BodyTooLarge = "body-too-large", TooLarge, "Body too large";
    /// The Content-Type is not accepted.
    UnsupportedMediaType = "unsupported-media-type", UnsupportedMediaType, "Unsupported media type";
    /// The Content-Type names a charset ndx does not decode (only UTF-8, and US-ASCII as its subset).
    CharsetUnsupported = "charset-unsupported", UnsupportedMediaType, "Unsupported charset";
    // 422: requests
    /// A JSON body of the wrong shape.
    BodyInvalid = "body-invalid", Invalid, "Invalid body";
    /// An uploaded file without a usable name, or of a format ndx does not read.
    UploadInvalid = "upload-invalid", Invalid, "Invalid upload";
    /// An error report without a description, on a field the record does not have, or too long.
    ReportInvalid = "report-invalid", Invalid, "Invalid error report";
    /// Reading the input failed.
    BodyReadFailed = "body-read-failed", Invalid, "Reading the input failed";
    /// The body's id differs from the path's.
    IdMismatch = "id-mismatch", Invalid, "Id mismatch";
    /// A code of the wrong shape.
    CodeInvalid = "code-invalid", Invalid, "Invalid code";
    /// A required name is empty.
    NameMissing = "name-missing", Invalid, "Name missing";
    /// A name holding a control, bidirectional, invisible or no visible character; any text holding NUL.
    TextInvalid = "text-invalid", Invalid, "Invalid characters in text";
    /// A web account's login name that breaks its rules.
    LoginInvalid = "login-invalid", Invalid, "Invalid login name";
    /// A password too short, too long, or one character repeated.
    PasswordWeak = "password-weak", Invalid, "Password too weak";
    /// Not an ISO 3166 alpha-2 country.
    CountryInvalid = "country-invalid", Invalid, "Invalid country";
    /// A Vietnamese member without a province.
    ProvinceMissing = "province-missing", Invalid, "Province missing";
    /// Not a 2025 province code.
    ProvinceUnknown = "province-unknown", Invalid, "Unknown province";
    /// A key without roles.
    RolesMissing = "roles-missing", Invalid, "Roles missing";
    /// A key expiring in the past.
    ExpiryInPast = "expiry-in-past", Invalid, "Expiry in the past";
    /// A definition refers to an unknown code list.
    CodeListUnknown = "code-list-unknown", Invalid, "Unknown code list";
    /// A crosswalk names codes its lists do not have, or duplicates one registered the other way.
    CrosswalkInvalid = "crosswalk-invalid", Invalid, "Invalid crosswalk";
    /// A code list named by a caller (`Ndx-Code-Lists`) applies to no field of the dataset, or no crosswalk joins it to the field's list.
    CodeListNotApplicable = "code-list-not-applicable", Invalid, "Code list not applicable";
    /// The privacy a package declares (k-anonymity, l-diversity) cannot be reached within its suppression limit: nothing is published.
    AnonymisationUnreachable = "anonymisation-unreachable", Invalid, "Anonymisation unreachable";
    /// A dataset's owner is not a member.
    OwnerUnknown = "owner-unknown", Invalid, "Unknown owner";
    /// A definition breaks a dictionary rule.
    DefinitionInvalid = "definition-invalid", Invalid, "Invalid definition";
    /// A field change that breaks compatibility (a field error of a refused schema).
    BreakingChange = "breaking-change", Invalid, "Breaking change";
    /// An agreement request that breaks a rule (fields not in the schema, no operation, an empty legal basis, a validity that ends before it starts…).
    AgreementInvalid = "agreement-invalid", Invalid, "Invalid agreement";
    /// A connector definition that breaks a rule (a password in the URL, an unknown field, a key field no column fills, a table name that is not one…); each fault is listed.
    ConnectorInvalid = "connector-invalid", Invalid, "Invalid connector";
    /// A push subscription that breaks a rule (an endpoint that is not https, or is a loopback address; a batch size out of range); each fault is listed.
    SubscriptionInvalid = "subscription-invalid", Invalid, "Invalid subscription";
    /// A file dropped into a connector's folder that cannot be read as its extension says (a CSV without a header row, an NDJSON line that is not an object, text that is not UTF-8), or that holds no row.
    ConnectorFileInvalid = "connector-file-invalid", Invalid, "Invalid dropped file";
    /// A filter names a field the dataset does not have.
    FilterUnknownField = "filter-unknown-field", Invalid, "Unknown filter field";
    /// A filter value of the wrong type.
    FilterValueInvalid = "filter-value-invalid", Invalid, "Invalid filter value";
    /// A cursor that is not one this server gave for this listing (cursors are opaque and carry a MAC).
    CursorInvalid = "cursor-invalid", Invalid, "Invalid cursor";
    /// A record key of the wrong shape: empty, longer than 1,024 bytes, a control character, parts missing.
    KeyInvalid = "key-invalid", Invalid, "Invalid record key";
    /// An entry range that is empty, reversed or too long.
    RangeInvalid = "range-invalid", Invalid, "Invalid range";
    /// A proof asked for sizes the log does not have.
    ProofRangeInvalid = "proof-range-invalid", Invalid, "Invalid proof range";
    // 422: batches and their records
    /// An atomic batch with invalid records; its report says which.
    BatchRejected = "batch-rejected", Invalid, "Batch rejected";
    /// A batch with no records.
    BatchEmpty = "batch-empty", Invalid, "Empty batch";
    /// A CSV header column that is not UTF-8.
    CsvHeaderInvalid = "csv-header-invalid", Invalid, "Invalid CSV header";
    /// A CSV input without a header row.
    CsvHeaderMissing = "csv-header-missing", Invalid, "CSV header missing";
    /// A CSV column named twice.
    CsvDuplicateColumn = "csv-duplicate-column", Invalid, "Duplicate CSV column";
    /// A CSV column that is not a field.
    CsvUnknownColumn = "csv-unknown-column", Invalid, "Unknown CSV column";
    /// A required CSV column is missing.
    CsvMissingColumn = "csv-missing-column", Invalid, "CSV column missing";
    /// A CSV input that does not parse.
    CsvMalformed = "csv-malformed", Invalid, "Malformed CSV";
    /// A CSV row with another number of fields than the header.
    CsvFieldCount = "csv-field-count", Invalid, "Wrong number of CSV fields";
    /// A quote inside an unquoted CSV field, or text after a quoted field's closing quote.
    CsvStrayQuote = "csv-stray-quote", Invalid, "Stray quote in CSV field";
    /// Batch input (or one NDJSON line) that is not JSON.
    JsonMalformed = "json-malformed", Invalid, "Malformed JSON input";
    /// A JSON record that is not an object.
    JsonNotObject = "json-not-object", Invalid, "Record is not an object";
    /// A JSON object that names the same member twice.
    JsonDuplicateMember = "json-duplicate-member", Invalid, "Duplicate JSON member";
    /// A record over the size limit.
    RecordTooLarge = "record-too-large", Invalid, "Record too large";
    /// Bytes that are not UTF-8.
    NotUtf8 = "not-utf8", Invalid, "Not UTF-8";
    /// `_op` is not `upsert` or `delete`.
    OpInvalid = "op-invalid", Invalid, "Invalid operation";
    /// A record member that is not a field.
    UnknownField = "unknown-field", Invalid, "Unknown field";
    /// A deletion without every key field.
    DeleteWithoutKey = "delete-without-key", Invalid, "Deletion without key";
    /// A key that appears earlier in the same batch.
    DuplicateKeyInBatch = "duplicate-key-in-batch", Invalid, "Duplicate key in batch";
    // 503
    /// The store is unreachable or busy.
    StoreUnavailable = "store-unavailable", Unavailable, "Store unavailable";
    /// A connector's source database could not be reached or read (down, refused the login or the TLS handshake, a missing password variable, a query past its deadline, a table or column it does not have).
    ConnectorSourceUnavailable = "connector-source-unavailable", Unavailable, "Connector source unavailable";
    /// The batch writer stopped.
    WriterStopped = "writer-stopped", Unavailable, "Store writer stopped";
    /// The audit log cannot be written.
    AuditUnavailable = "audit-unavailable", Unavailable, "Audit log unavailable";
    /// A reconciliation run that ended in an error (a quota exhausted or an agreement ended
    /// while it read the reference, the store or the audit log failing): its `error` says which.
    ReconciliationFailed = "reconciliation-failed", Unavailable, "Reconciliation failed";
    /// The request took too long.
    Timeout = "timeout", Unavailable, "Request timed out";
    /// The server holds as many connections as it is configured to (in all, or from this client address); retry after `Retry-After`.
    TooManyConnections = "too-many-connections", Unavailable, "Too many connections";
    // 500
    /// Our fault.
    Internal = "internal", Internal, "Internal error";
    /// The store is misconfigured.
    StoreConfig = "store-config", Internal, "Store misconfigured";
    /// The store is of another version.
    StoreIncompatible = "store-incompatible", Internal, "Store incompatible";
    /// The audit keys cannot be read.
    AuditKey = "audit-key", Internal, "Audit key unavailable";
    /// The stored audit log is inconsistent.
    AuditDamaged = "audit-damaged", Internal, "Audit log damaged";
    /// The clock is unusable for the audit log.
    AuditClock = "audit-clock", Internal, "Audit clock unusable";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure of a core service.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure (always `code.kind()`).
    pub kind: Kind,
    /// Stable machine-readable code.
    pub code: Code,
    /// Human message: lowercase, the offending value quoted.
    pub message: String,
    /// Field-level errors, for validation failures.
    pub errors: Vec<FieldError>,
    /// The underlying I/O error, if reading the input failed.
    #[source]
    pub io: Option<std::io::Error>,
}

impl Error {
    /// A new error with a code from the table.
    pub fn of(code: Code, message: impl Into<String>) -> Self {
        Error {
            kind: code.kind(),
            code,
            message: message.into(),
            errors: Vec::new(),
            io: None,
        }
    }
    /// Adds field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
    /// An internal error: the message is for logs only.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::of(Code::Internal, message)
    }
    /// Reading the input failed.
    pub fn io(e: std::io::Error) -> Self {
        if let Some(limit) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<crate::ingest::InputTooLarge>())
        {
            return Self::of(Code::BodyTooLarge, limit.to_string());
        }
        let mut err = Self::of(
            Code::BodyReadFailed,
            format!("reading the input failed: {e}"),
        );
        err.io = Some(e);
        err
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::of(Code::Conflict, m),
            StoreError::NotFound(m) => Error::of(Code::NotFound, m),
            StoreError::Config(m) => Error::of(Code::StoreConfig, m),
            StoreError::Incompatible(m) => Error::of(Code::StoreIncompatible, m),
            StoreError::KeyInvalid(m) => Error::of(Code::KeyInvalid, m),
            StoreError::TextInvalid(m) => Error::of(Code::TextInvalid, m),
            StoreError::Backend(m) => Error::of(Code::StoreUnavailable, m),
        }
    }
}

impl From<DefinitionError> for Error {
    fn from(e: DefinitionError) -> Self {
        Error::definition_faults(Code::DefinitionInvalid, vec![e])
    }
}

impl Error {
    /// A definition refused for `faults` (each a field error, all of them in the message).
    pub(crate) fn definition_faults(code: Code, faults: Vec<DefinitionError>) -> Self {
        let message = faults
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Error::of(code, message).with_errors(
            faults
                .into_iter()
                .map(|e| FieldError {
                    field: e.path,
                    code: e.code.to_owned(),
                    message: e.message,
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in Code::ALL {
            let n = c.name();
            assert!(seen.insert(n), "code {n:?} is spelled twice");
            assert!(
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !n.starts_with('-')
                    && !n.ends_with('-'),
                "code {n:?} is not kebab-case"
            );
            assert_eq!(Code::from_name(n), Some(c));
            assert_eq!(c.type_uri(), format!("{PROBLEM_TYPE_PREFIX}{n}"));
            assert!(!c.title().is_empty());
        }
    }
}
