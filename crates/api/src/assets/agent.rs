//! Serves the embedded browser agent: at `/agent/vigil.js`, the stable name a snippet can
//! keep across upgrades (cached briefly, revalidated by ETag), and at
//! `/agent/vigil.<hash>.js`, a name that changes with its content (cached for a year).
//! Both answer with the gzip or brotli variant made when the binary was built, when the
//! browser takes it.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The agent bundle as built when this binary was compiled (empty if it was not built).
pub const AGENT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vigil.js"));
const AGENT_GZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vigil.js.gz"));
const AGENT_BROTLI: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vigil.js.br"));
/// The bundle's content hash (16 hex digits; empty when it was not built).
pub const AGENT_HASH: &str = include_str!(concat!(env!("OUT_DIR"), "/agent_hash.txt"));

/// The agent's versioned path, which changes whenever its content does.
pub fn versioned_path() -> String {
    format!("/agent/vigil.{AGENT_HASH}.js")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding the request accepts: brotli, then gzip, then none. A coding with
/// `q=0` is refused, as RFC 9110 says.
fn negotiate(headers: &HeaderMap) -> Encoding {
    let accepted = |name: &str| {
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let coding = parts.next().unwrap_or("");
                let q_zero = parts.any(|p| {
                    p.strip_prefix("q=")
                        .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
                });
                (coding.eq_ignore_ascii_case(name) || coding == "*") && !q_zero
            })
    };
    if accepted("br") {
        Encoding::Brotli
    } else if accepted("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn serve(headers: &HeaderMap, cache_control: &'static str) -> Response {
    if AGENT_JS.is_empty() {
        return (StatusCode::NOT_FOUND, "the browser agent was not built into this binary: run `npm run build` in agent/ and rebuild")
            .into_response();
    }
    let encoding = negotiate(headers);
    let (body, coding, suffix) = match encoding {
        Encoding::Brotli => (AGENT_BROTLI, Some("br"), "-br"),
        Encoding::Gzip => (AGENT_GZIP, Some("gzip"), "-gz"),
        Encoding::Identity => (AGENT_JS, None, ""),
    };
    // Each variant has its own tag: a cache must not answer a gzip request with brotli.
    let tag = format!("\"{AGENT_HASH}{suffix}\"");
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    if let Some(coding) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex etag"));
    response
}

/// `GET /agent/vigil.js`: the stable name; a release's new agent reaches pages within
/// five minutes.
pub async fn agent_js(headers: HeaderMap) -> Response {
    serve(&headers, "public, max-age=300")
}

/// `GET /agent/{file}`: the versioned name of this build's agent, cacheable for a year;
/// any other name (another build's hash) is not found.
pub async fn agent_versioned(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if AGENT_HASH.is_empty() || file != format!("vigil.{AGENT_HASH}.js") {
        return crate::error::ApiError::NotFound.into_response();
    }
    serve(&headers, "public, max-age=31536000, immutable")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn the_best_accepted_encoding_is_chosen() {
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(negotiate(&accepting("gzip, deflate")), Encoding::Gzip);
        assert_eq!(
            negotiate(&accepting("gzip, deflate, br, zstd")),
            Encoding::Brotli
        );
        assert_eq!(negotiate(&accepting("br;q=0, gzip;q=0.5")), Encoding::Gzip);
        assert_eq!(negotiate(&accepting("BR")), Encoding::Brotli);
        assert_eq!(negotiate(&accepting("identity")), Encoding::Identity);
        assert_eq!(negotiate(&accepting("gzip;q=0")), Encoding::Identity);
    }
}
