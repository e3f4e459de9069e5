//! `/api/v1/addresses/normalize`: a free-text Vietnamese address read into the units of
//! 1 July 2025 (`ndx-match::address`): the street, the ward(s) and province, the address
//! written with the current units, and — for an address that cannot be mapped to one ward —
//! every candidate or the reason, never a guess.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ndx_core::Code;
use ndx_match::address::{AddressParser, Form, Resolution};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::{AppState, QueryParams};

/// Longest address read, in characters.
const MAX_ADDRESS_CHARS: usize = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/addresses/normalize", get(normalize))
}

/// `?text=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressQuery {
    text: Option<String>,
}

/// A unit with its official name.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitOut {
    /// Statistics-office code.
    pub code: String,
    /// Official name with its prefix.
    pub name: String,
}

/// An address read into the 2025 units.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressOut {
    /// The text as given.
    pub input: String,
    /// What is left of the ward: street, house number.
    pub street: String,
    /// `current` (ward, province) or `legacy` (ward, district, province of before 2025).
    #[schema(example = "legacy")]
    pub form: String,
    /// `resolved` (one 2025 ward), `ambiguous` (several: `wards` lists them) or `unresolved`
    /// (`reason` says why).
    #[schema(example = "resolved")]
    pub resolution: String,
    /// Why it is unresolved (empty otherwise).
    pub reason: String,
    /// The 2025 province, when known.
    pub province: Option<UnitOut>,
    /// The candidate 2025 wards.
    pub wards: Vec<UnitOut>,
    /// The address written with the 2025 units, when resolved.
    pub current: Option<String>,
}

/// Reads a free-text Vietnamese address — with or without diacritics, abbreviated prefixes
/// (`P.`, `Q.`, `TP.`, `TX.`, `H.`, `TT.`), in the units of 2025 or of before (ward, district,
/// province) — into the 2025 units. A pre-2025 ward maps through the official conversion
/// table; one that was split between several wards is `ambiguous` with every candidate.
#[utoipa::path(get, path = "/api/v1/addresses/normalize", tag = "dictionary", security(("api_key" = [])),
    params(("text" = String, Query, description = "the address (at most 1,000 characters: longer is 400), e.g. `5 Phó Đức Chính, P. Phúc Xá, Q. Ba Đình, Hà Nội`")),
    responses((status = 200, body = AddressOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 414, description = "the request target is longer than the edge accepts (8 KiB)", body = Problem)))]
async fn normalize(
    State(_): State<AppState>,
    Auth(_): Auth,
    QueryParams(q): QueryParams<AddressQuery>,
) -> ApiResult<axum::Json<AddressOut>> {
    let Some(text) = q.text else {
        return Err(ApiError::new(
            Code::QueryInvalid,
            "the address is the query parameter text",
        ));
    };
    if text.chars().count() > MAX_ADDRESS_CHARS {
        return Err(ApiError::new(
            Code::QueryInvalid,
            format!("an address is at most {MAX_ADDRESS_CHARS} characters"),
        ));
    }
    if let Err(fault) = ndx_types::text::check_characters(&text, false) {
        return Err(ApiError::new(
            Code::QueryInvalid,
            format!("text: {}", fault.describe()),
        ));
    }
    Ok(axum::Json(read(&text)))
}

/// The answer for one address (also what `ndx address` prints).
pub fn read(text: &str) -> AddressOut {
    let parsed = AddressParser::new().parse(text);
    let units = &parsed.units;
    let province = units
        .province
        .and_then(ndx_types::reference::province_2025)
        .map(|p| UnitOut {
            code: p.code.clone(),
            name: p.name.clone(),
        });
    let wards = units
        .wards
        .iter()
        .filter_map(|w| ndx_types::reference::ward_2025(w))
        .map(|w| UnitOut {
            code: w.code.clone(),
            name: w.name.clone(),
        })
        .collect();
    AddressOut {
        input: text.to_owned(),
        street: parsed.street.clone(),
        form: match units.form {
            Form::Current => "current",
            Form::Legacy => "legacy",
        }
        .to_owned(),
        resolution: match units.resolution {
            Resolution::Resolved => "resolved",
            Resolution::Ambiguous => "ambiguous",
            Resolution::Unresolved => "unresolved",
        }
        .to_owned(),
        reason: units.reason.to_owned(),
        province,
        wards,
        current: parsed.current_text(),
    }
}
