//! The web UI's assets, compiled into the binary: served under a name that carries a prefix
//! of their SHA-256, so that they can be cached for a year and a new build is never served a
//! stale copy.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded asset.
struct Asset {
    /// The name it is served under (`ndx-1a2b3c4d5e6f.css`).
    name: String,
    /// The media type.
    media_type: &'static str,
    /// The bytes.
    bytes: &'static [u8],
    /// The strong ETag (the digest).
    etag: String,
}

fn asset(stem: &str, ext: &str, media_type: &'static str, bytes: &'static [u8]) -> Asset {
    let digest = hex::encode(Sha256::digest(bytes));
    Asset {
        name: format!("{stem}-{}.{ext}", &digest[..12]),
        media_type,
        bytes,
        etag: format!("\"{digest}\""),
    }
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset(
            "ndx",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../../assets/ndx.css"),
        ),
        asset(
            "favicon",
            "svg",
            "image/svg+xml",
            include_bytes!("../../assets/favicon.svg"),
        ),
        asset(
            "ndx",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/ndx.js"),
        ),
    ]
});

static STYLESHEET: LazyLock<String> = LazyLock::new(|| format!("/assets/{}", ASSETS[0].name));
static FAVICON: LazyLock<String> = LazyLock::new(|| format!("/assets/{}", ASSETS[1].name));
static SCRIPT: LazyLock<String> = LazyLock::new(|| format!("/assets/{}", ASSETS[2].name));

/// The address of the stylesheet.
pub fn stylesheet_href() -> &'static str {
    &STYLESHEET
}

/// The address of the icon.
pub fn favicon_href() -> &'static str {
    &FAVICON
}

/// The address of the script (an enhancement: no page needs it).
pub fn script_href() -> &'static str {
    &SCRIPT
}

/// `GET /assets/{name}`: an asset, cached for a year; `304` when the client has it.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        return crate::problem::ApiError::new(
            ndx_core::Code::NotFound,
            format!("no asset {name:?}"),
        )
        .into_response();
    };
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(a.media_type))],
            a.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&a.etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
