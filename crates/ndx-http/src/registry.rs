//! Registry endpoints: members, systems, API keys, and "who am I".

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use ndx_core::registry::{NewKey, NewMember};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::problem::{ApiResult, Problem};
use crate::wire::{ApiKey, Jurisdiction, Member, MemberLevel, Role, System};
use crate::{AppState, JsonBody, blocking, permitted};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/members", get(list_members).post(create_member))
        .route("/api/v1/members/{code}", get(get_member))
        .route("/api/v1/systems", get(list_systems).post(create_system))
        .route(
            "/api/v1/systems/{code}/keys",
            get(list_keys).post(issue_key),
        )
        .route("/api/v1/keys/{id}", delete(revoke_key))
}

/// The authenticated caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// Member code.
    pub member: String,
    /// System code.
    pub system: String,
    /// Key id.
    pub key_id: String,
    /// Roles of the key.
    pub roles: Vec<Role>,
}

/// Who is calling.
#[utoipa::path(get, path = "/api/v1/me", tag = "registry", security(("api_key" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem)))]
async fn me(Auth(c): Auth) -> axum::Json<WhoAmI> {
    axum::Json(WhoAmI {
        member: c.member().code.clone(),
        system: c.system().code.clone(),
        key_id: c.key_id().to_owned(),
        roles: c.roles().iter().copied().map(Role::from).collect(),
    })
}

/// A member to admit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIn {
    /// Code: uppercase letters, digits, `-`.
    #[schema(pattern = "^[A-Z][A-Z0-9-]{1,63}$")]
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Level.
    pub level: MemberLevel,
    /// Country (ISO alpha-2) and 2025 province code.
    pub jurisdiction: Jurisdiction,
}

/// All members.
#[utoipa::path(get, path = "/api/v1/members", tag = "registry", security(("api_key" = [])),
    responses((status = 200, body = Vec<Member>), (status = 401, body = Problem)))]
async fn list_members(
    State(st): State<AppState>,
    Auth(_): Auth,
) -> ApiResult<axum::Json<Vec<Member>>> {
    let core = st.core.clone();
    let members = blocking(move || core.members()).await?;
    Ok(axum::Json(members.into_iter().map(Member::from).collect()))
}

/// Admits a member (operator).
#[utoipa::path(post, path = "/api/v1/members", tag = "registry", security(("api_key" = [])),
    request_body = MemberIn,
    responses((status = 201, body = Member,
               links(("GetMember" = (operation_id = "get_member", parameters(("code" = "$response.body#/code")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)))]
async fn create_member(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<MemberIn>,
) -> ApiResult<(StatusCode, axum::Json<Member>)> {
    let cap = permitted(&st, &c, "member.create", None, |c| c.registry_admin()).await?;
    let m = body.read().await?;
    let core = st.core.clone();
    let member = blocking(move || {
        core.create_member(
            &cap,
            NewMember {
                code: m.code,
                name_vi: m.name_vi,
                name_en: m.name_en,
                level: m.level.into(),
                jurisdiction: m.jurisdiction.into(),
            },
            Utc::now(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(member.into())))
}

/// One member.
#[utoipa::path(get, path = "/api/v1/members/{code}", tag = "registry", security(("api_key" = [])),
    params(("code" = String, Path, description = "member code")),
    responses((status = 200, body = Member), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_member(
    State(st): State<AppState>,
    Auth(_): Auth,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<Member>> {
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || core.member(&code)).await?.into(),
    ))
}

/// A system to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemIn {
    /// Code, unique platform-wide: uppercase letters, digits, `-`.
    #[schema(pattern = "^[A-Z][A-Z0-9-]{1,63}$")]
    pub code: String,
    /// Owning member.
    pub member: String,
    /// Human name.
    pub name: String,
}

/// All systems.
#[utoipa::path(get, path = "/api/v1/systems", tag = "registry", security(("api_key" = [])),
    responses((status = 200, body = Vec<System>), (status = 401, body = Problem)))]
async fn list_systems(
    State(st): State<AppState>,
    Auth(_): Auth,
) -> ApiResult<axum::Json<Vec<System>>> {
    let core = st.core.clone();
    let systems = blocking(move || core.systems()).await?;
    Ok(axum::Json(systems.into_iter().map(System::from).collect()))
}

/// Registers a system of a member (operator).
#[utoipa::path(post, path = "/api/v1/systems", tag = "registry", security(("api_key" = [])),
    request_body = SystemIn,
    responses((status = 201, body = System,
               links(("IssueKey" = (operation_id = "issue_key", parameters(("code" = "$response.body#/code")))),
                     ("ListKeys" = (operation_id = "list_keys", parameters(("code" = "$response.body#/code")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn create_system(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<SystemIn>,
) -> ApiResult<(StatusCode, axum::Json<System>)> {
    let cap = permitted(&st, &c, "system.create", None, |c| c.registry_admin()).await?;
    let s = body.read().await?;
    let core = st.core.clone();
    let system =
        blocking(move || core.create_system(&cap, &s.member, &s.code, &s.name, Utc::now())).await?;
    Ok((StatusCode::CREATED, axum::Json(system.into())))
}

/// A key to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    /// Roles (at least one).
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
    /// Label for people.
    #[serde(default)]
    pub label: String,
    /// Expiry (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A newly issued key: the secret is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyIssued {
    /// The key's metadata.
    pub key: ApiKey,
    /// The secret to send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Issues a key for a system (operator).
#[utoipa::path(post, path = "/api/v1/systems/{code}/keys", tag = "registry", security(("api_key" = [])),
    params(("code" = String, Path, description = "system code")), request_body = KeyIn,
    responses((status = 201, body = KeyIssued,
               links(("RevokeKey" = (operation_id = "revoke_key", parameters(("id" = "$response.body#/key/id")))))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)))]
async fn issue_key(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(code): Path<String>,
    body: JsonBody<KeyIn>,
) -> ApiResult<(StatusCode, axum::Json<KeyIssued>)> {
    let cap = permitted(&st, &c, "key.issue", None, |c| c.registry_admin()).await?;
    let k = body.read().await?;
    let core = st.core.clone();
    let (key, secret) = blocking(move || {
        core.issue_key(
            &cap,
            NewKey {
                system: code,
                roles: k.roles.into_iter().map(Into::into).collect(),
                label: k.label,
                expires_at: k.expires_at,
            },
            Utc::now(),
        )
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(KeyIssued {
            key: key.into(),
            secret,
        }),
    ))
}

/// Keys of a system, without secrets (operator).
#[utoipa::path(get, path = "/api/v1/systems/{code}/keys", tag = "registry", security(("api_key" = [])),
    params(("code" = String, Path, description = "system code")),
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn list_keys(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<Vec<ApiKey>>> {
    let cap = permitted(&st, &c, "key.list", None, |c| c.registry_admin()).await?;
    let core = st.core.clone();
    let keys = blocking(move || core.keys(&cap, &code)).await?;
    Ok(axum::Json(keys.into_iter().map(ApiKey::from).collect()))
}

/// Revokes a key (operator); revoking twice keeps the first time. The last active operator key
/// is not revoked (409 `last-operator-key`).
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "registry", security(("api_key" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = ApiKey), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "the last active operator key", body = Problem)))]
async fn revoke_key(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ApiKey>> {
    let cap = permitted(&st, &c, "key.revoke", None, |c| c.registry_admin()).await?;
    let core = st.core.clone();
    Ok(axum::Json(
        blocking(move || core.revoke_key(&cap, &id, Utc::now()))
            .await?
            .into(),
    ))
}
