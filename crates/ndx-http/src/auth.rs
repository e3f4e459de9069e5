//! Authentication at the edge: `Authorization: Bearer <key>` → a core [`Caller`].

use axum::extract::FromRequestParts;
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
    /// A citizen's token (`ndxc_…`), checked by the service against the citizen asked about.
    Citizen(String),
}

impl FromRequestParts<AppState> for SubjectAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        if token.starts_with("ndxc_") {
            return Ok(SubjectAuth::Citizen(token));
        }
        Ok(SubjectAuth::System(Box::new(
            authenticate(state, token).await?,
        )))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        Ok(Auth(authenticate(state, token).await?))
    }
}

async fn authenticate(state: &AppState, token: String) -> Result<Caller, ApiError> {
    let core = state.core.clone();
    let caller = crate::blocking(move || core.authenticate(&token, chrono::Utc::now())).await?;
    Ok(caller.with_request_id(crate::problem::current_request_id()))
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
