//! Authentication at the edge: `Authorization: Bearer <key>` → a core [`Caller`]. A key
//! refused (unknown, revoked, expired, malformed) is recorded in the audit log through
//! `Core::audit_denied`, counted per client address and minute so that a flood of bad keys
//! adds a bounded number of entries.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ndx_core::access::Caller;

use ndx_core::Code;

use crate::AppState;
use crate::problem::ApiError;

/// The authenticated caller of a request.
pub struct Auth(pub Caller);

/// The caller of the data-tracker endpoint: a member's system, or a citizen with their token.
pub enum SubjectAuth {
    /// An API key of a system.
    System(Box<Caller>),
    /// A citizen's token (`ndxc_…`), checked by the service against the citizen asked about
    /// (a refusal is recorded with the client's address).
    Citizen {
        /// The token.
        token: String,
        /// The client's address, if known.
        client: Option<IpAddr>,
    },
}

/// The client's address, when the server that accepted the connection recorded it.
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl FromRequestParts<AppState> for SubjectAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let client = client_address(parts);
        if token.starts_with("ndxc_") {
            return Ok(SubjectAuth::Citizen { token, client });
        }
        Ok(SubjectAuth::System(Box::new(
            authenticate(state, token, client).await?,
        )))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let client = client_address(parts);
        Ok(Auth(authenticate(state, token, client).await?))
    }
}

async fn authenticate(
    state: &AppState,
    token: String,
    client: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let core = state.core.clone();
    let credentials = Credentials {
        token,
        client,
        request_id: crate::problem::current_request_id(),
    };
    crate::blocking(move || credentials.authenticate(&core)).await
}

/// The credentials of a request, checked later on the blocking task that also does the
/// request's work: one thread hand-off instead of two on the hot paths (governed lookups).
#[derive(Clone)]
pub struct Credentials {
    token: String,
    client: Option<IpAddr>,
    request_id: String,
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(Credentials {
            token: bearer_token(parts)?,
            client: client_address(parts),
            request_id: crate::problem::current_request_id(),
        })
    }
}

impl Credentials {
    /// The caller these credentials name, on the calling (blocking) thread. A refused key is
    /// recorded like every refusal of authentication.
    pub fn authenticate(self, core: &ndx_core::Core) -> ndx_core::Result<Caller> {
        self.authenticate_at(core, None)
    }

    /// [`Credentials::authenticate`] on the catalogue as of `generation`, when the caller has
    /// just read it ([`ndx_core::Core::authenticate_at`]).
    pub fn authenticate_at(
        self,
        core: &ndx_core::Core,
        generation: Option<u64>,
    ) -> ndx_core::Result<Caller> {
        let Credentials {
            token,
            client,
            request_id,
        } = self;
        let caller = core
            .authenticate_at(&token, chrono::Utc::now(), generation)
            .map_err(|e| match e.code {
                code if ndx_core::audit::is_recorded_refusal(code) => core.audit_denied(
                    &ndx_core::audit::Denial {
                        client,
                        claimed: &ndx_core::audit::claimed_identity(&token),
                        operation: "auth",
                        subject: None,
                        request_id: &request_id,
                    },
                    e,
                ),
                _ => e,
            })?;
        Ok(caller.with_request_id(request_id))
    }
}

/// The bearer token of a request.
fn bearer_token(parts: &Parts) -> Result<String, ApiError> {
    {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::new(
                Code::AuthMissing,
                "this endpoint needs an api key: send \"Authorization: Bearer <key>\"",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::new(
                    Code::AuthScheme,
                    "the Authorization header must be \"Bearer <key>\"",
                )
            })?
            .to_owned();
        Ok(token)
    }
}
