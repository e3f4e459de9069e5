//! The audit log over HTTP: signed tree heads, the public key and proofs for anyone; entries for
//! auditors and operators; a citizen's data tracker for the citizen and auditors.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use ndx_core::Code;

use crate::auth::{Auth, SubjectAuth};
use crate::problem::{ApiError, ApiResult, Problem, current_request_id};
use crate::wire::AuditEvent;
use crate::{AppState, QueryParams, blocking};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/sth", get(sth))
        .route("/api/v1/audit/heads", get(heads))
        .route("/api/v1/audit/public-key", get(public_key))
        .route("/api/v1/audit/entries", get(entries))
        .route("/api/v1/audit/proof/inclusion", get(inclusion))
        .route("/api/v1/audit/proof/consistency", get(consistency))
        .route(
            "/api/v1/subjects/{citizen_id}/accesses",
            get(subject_accesses),
        )
}

/// A signed tree head: Ed25519 over `ndx-audit-sth-v1 ‖ tree_size (u64 BE) ‖ timestamp in ms
/// (u64 BE) ‖ root_hash`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeHead {
    /// Entries covered.
    pub tree_size: u64,
    /// When it was signed (RFC 3339, millisecond precision).
    pub timestamp: String,
    /// Milliseconds since the Unix epoch, as signed.
    pub timestamp_ms: i64,
    /// RFC 9162 root of the first `tree_size` entries, hex.
    pub root_hash: String,
    /// Ed25519 signature, hex.
    pub signature: String,
}

impl From<ndx_audit::SignedTreeHead> for TreeHead {
    fn from(h: ndx_audit::SignedTreeHead) -> Self {
        TreeHead {
            tree_size: h.tree_size,
            timestamp: h
                .timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            timestamp_ms: h.timestamp.timestamp_millis(),
            root_hash: hex::encode(h.root_hash),
            signature: hex::encode(h.signature),
        }
    }
}

/// The latest signed tree head. Public.
#[utoipa::path(get, path = "/api/v1/audit/sth", tag = "audit",
    responses((status = 200, body = TreeHead),
              (status = 404, description = "no head signed yet (empty log)", body = Problem)))]
async fn sth(State(st): State<AppState>) -> ApiResult<axum::Json<TreeHead>> {
    let core = st.core.clone();
    match blocking(move || core.audit().latest_head()).await? {
        Some(h) => Ok(axum::Json(h.into())),
        None => Err(ApiError::new(
            Code::AuditNoHead,
            "no tree head has been signed yet: the audit log is empty",
        )),
    }
}

/// `?from=&limit=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadsQuery {
    #[serde(default, deserialize_with = "crate::int64::optional")]
    from: Option<u64>,
    limit: Option<usize>,
}

/// Signed tree heads with `tree_size >= from`, ascending, at most `limit` (≤ 1000). Public.
#[utoipa::path(get, path = "/api/v1/audit/heads", tag = "audit",
    params(("from" = Option<i64>, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "smallest tree size (default 0)"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "at most this many (default 1000)")),
    responses((status = 200, body = Vec<TreeHead>), (status = 400, body = Problem)))]
async fn heads(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<HeadsQuery>,
) -> ApiResult<axum::Json<Vec<TreeHead>>> {
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::new(
            Code::LimitInvalid,
            format!("limit must be between 1 and 1000, found {limit}"),
        ));
    }
    let core = st.core.clone();
    let from = q.from.unwrap_or(0);
    let heads = blocking(move || core.audit().heads(from, limit)).await?;
    Ok(axum::Json(heads.into_iter().map(TreeHead::from).collect()))
}

/// The key that verifies tree heads.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, hex.
    pub public_key: String,
    /// The same key as a PEM `PUBLIC KEY` (RFC 8410).
    pub pem: String,
}

/// The public key of this node's audit log. Public.
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKey)))]
async fn public_key(State(st): State<AppState>) -> axum::Json<PublicKey> {
    let key = st.core.audit().public_key();
    axum::Json(PublicKey {
        algorithm: "Ed25519".into(),
        public_key: hex::encode(key),
        pem: ndx_audit::head::public_key_to_pem(&key),
    })
}

/// `?start=&end=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    #[serde(deserialize_with = "crate::int64::required")]
    start: u64,
    #[serde(deserialize_with = "crate::int64::required")]
    end: u64,
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryOut {
    /// Leaf index.
    pub index: u64,
    /// The canonical bytes (RFC 8785 JSON), base64: the leaf is SHA-256(0x00 ‖ these bytes).
    pub canonical: String,
    /// The leaf hash, hex.
    pub leaf_hash: String,
    /// The same entry, parsed.
    pub event: AuditEvent,
}

/// Entries `start..end` (at most 1000) with their canonical bytes. Auditors and operators.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", security(("api_key" = [])),
    params(("start" = i64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "first leaf index"),
           ("end" = i64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "one past the last leaf index (clipped to the log)")),
    responses((status = 200, body = Vec<EntryOut>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn entries(
    State(st): State<AppState>,
    Auth(caller): Auth,
    QueryParams(q): QueryParams<RangeQuery>,
) -> ApiResult<axum::Json<Vec<EntryOut>>> {
    let core = st.core.clone();
    let entries = blocking(move || {
        let cap = caller
            .audit_read()
            .map_err(|e| core.audit_refusal(&caller, "audit.entries", None, e))?;
        core.audit_entries(&cap, q.start, q.end)
    })
    .await?
    .into_inner();
    Ok(axum::Json(
        entries
            .into_iter()
            .map(|e| EntryOut {
                index: e.index,
                leaf_hash: hex::encode(ndx_audit::merkle::leaf_hash(&e.bytes)),
                event: AuditEvent(serde_json::from_slice(&e.bytes).unwrap_or_default()),
                canonical: base64::engine::general_purpose::STANDARD.encode(&e.bytes),
            })
            .collect(),
    ))
}

/// `?leaf_index=&tree_size=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    #[serde(deserialize_with = "crate::int64::required")]
    leaf_index: u64,
    #[serde(deserialize_with = "crate::int64::required")]
    tree_size: u64,
}

/// An RFC 9162 inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The entry.
    pub leaf_index: u64,
    /// The tree it is proven in (take it from a signed head).
    pub tree_size: u64,
    /// Sibling hashes from the leaf up, hex.
    pub audit_path: Vec<String>,
}

/// Proves that entry `leaf_index` is in the tree of `tree_size` entries. Public.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit",
    params(("leaf_index" = i64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "the entry"),
           ("tree_size" = i64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "a signed head's tree size")),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn inclusion(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<InclusionQuery>,
) -> ApiResult<axum::Json<InclusionProof>> {
    let core = st.core.clone();
    let path = blocking(move || core.audit().inclusion_proof(q.leaf_index, q.tree_size)).await?;
    Ok(axum::Json(InclusionProof {
        leaf_index: q.leaf_index,
        tree_size: q.tree_size,
        audit_path: path.iter().map(hex::encode).collect(),
    }))
}

/// `?first=&second=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    #[serde(deserialize_with = "crate::int64::required")]
    first: u64,
    #[serde(deserialize_with = "crate::int64::required")]
    second: u64,
}

/// An RFC 9162 consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub first: u64,
    /// The newer tree size.
    pub second: u64,
    /// The proof's hashes, hex.
    pub proof: Vec<String>,
}

/// Proves that the tree of `first` entries is a prefix of the tree of `second`. Public.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit",
    params(("first" = i64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "older tree size"),
           ("second" = i64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "newer tree size")),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn consistency(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<ConsistencyQuery>,
) -> ApiResult<axum::Json<ConsistencyProof>> {
    let core = st.core.clone();
    let proof = blocking(move || core.audit().consistency_proof(q.first, q.second)).await?;
    Ok(axum::Json(ConsistencyProof {
        first: q.first,
        second: q.second,
        proof: proof.iter().map(hex::encode).collect(),
    }))
}

/// `?before=&limit=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessesQuery {
    #[serde(default, deserialize_with = "crate::int64::optional")]
    before: Option<u64>,
    #[serde(default, deserialize_with = "crate::int64::optional")]
    limit: Option<u64>,
}

/// Who accessed this citizen's data: when, which fields, for what purpose; newest first. The
/// citizen (with their `ndxc_…` token) or an auditor.
#[utoipa::path(get, path = "/api/v1/subjects/{citizen_id}/accesses", tag = "audit", security(("api_key" = [])),
    params(("citizen_id" = String, Path, pattern = "^[0-9]{12}$", description = "12-digit citizen ID"),
           ("before" = Option<i64>, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "from a previous page's next_before"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "at most this many (default 50)")),
    responses((status = 200, body = AccessPage), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn subject_accesses(
    State(st): State<AppState>,
    auth: SubjectAuth,
    Path(citizen_id): Path<String>,
    QueryParams(q): QueryParams<AccessesQuery>,
) -> ApiResult<axum::Json<AccessPage>> {
    if ndx_types::formats::parse_citizen_id(&citizen_id).is_err() {
        return Err(ApiError::new(
            Code::CitizenIdInvalid,
            format!("{citizen_id:?} is not a valid 12-digit citizen ID"),
        ));
    }
    let core = st.core.clone();
    let request_id = current_request_id();
    let page = blocking(move || {
        let cap = match auth {
            SubjectAuth::Citizen { token, client } => {
                core.citizen_subject_read(&token, &citizen_id, &request_id, client)?
            }
            SubjectAuth::System(caller) => caller
                .subject_read(&citizen_id)
                .map_err(|e| core.audit_refusal(&caller, "subject.accesses", None, e))?,
        };
        core.subject_accesses(&cap, q.before, q.limit.unwrap_or(50))
    })
    .await?
    .into_inner();
    Ok(axum::Json(AccessPage {
        accesses: page
            .accesses
            .into_iter()
            .map(|a| AccessOut {
                entry: a.entry,
                time: a.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                actor: a.actor.map(|x| ActorOut {
                    member: x.member,
                    system: x.system,
                }),
                operation: a.operation,
                dataset: a.dataset,
                fields: a.fields,
                purpose: a.purpose,
                legal_basis: a.legal_basis,
                agreement: a.agreement,
                allowed: a.outcome.allowed,
                reason: a.outcome.reason,
            })
            .collect(),
        next_before: page.next_before,
    }))
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorOut {
    /// Member agency code.
    pub member: String,
    /// Its system.
    pub system: String,
}

/// One access to a citizen's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessOut {
    /// Leaf index of the audit entry (prove it with /api/v1/audit/proof/inclusion).
    pub entry: u64,
    /// When (RFC 3339).
    pub time: String,
    /// Who; absent for the citizen's own requests.
    pub actor: Option<ActorOut>,
    /// What, e.g. `record.read`.
    pub operation: String,
    /// Which dataset.
    pub dataset: Option<String>,
    /// Which fields were returned.
    pub fields: Vec<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// The legal basis invoked.
    pub legal_basis: Option<String>,
    /// The sharing agreement it was decided under (exchange requests).
    pub agreement: Option<String>,
    /// Whether it was allowed.
    pub allowed: bool,
    /// Why (always for refusals).
    pub reason: Option<String>,
}

/// A page of accesses, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessPage {
    /// The accesses.
    pub accesses: Vec<AccessOut>,
    /// Pass as `before` for older accesses; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}
