//! Authentication at the edge: `Authorization: Bearer <key>` → a core [`Caller`].

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use ndx_core::access::Caller;

use crate::AppState;
use crate::problem::ApiError;

/// The authenticated caller of a request.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth-missing",
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
                    StatusCode::UNAUTHORIZED,
                    "auth-scheme",
                    "the Authorization header must be \"Bearer <key>\"",
                )
            })?
            .to_owned();
        let core = state.core.clone();
        let caller = crate::blocking(move || core.authenticate(&token, chrono::Utc::now())).await?;
        Ok(Auth(caller))
    }
}
