//! Serves the embedded browser agent at `/agent/vigil.js`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The agent bundle as built when this binary was compiled (empty if it was not built).
pub const AGENT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vigil.js"));

fn etag() -> String {
    // FNV-1a: a stable tag for the embedded bytes, computed once per request (cheap).
    let hash = AGENT_JS.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// `GET /agent/vigil.js`.
pub async fn agent_js(headers: HeaderMap) -> Response {
    if AGENT_JS.is_empty() {
        return (StatusCode::NOT_FOUND, "the browser agent was not built into this binary: run `npm run build` in agent/ and rebuild")
            .into_response();
    }
    let tag = etag();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(tag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut response = AGENT_JS.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex etag"));
    response
}
