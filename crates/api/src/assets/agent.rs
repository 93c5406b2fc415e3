//! Serves the embedded browser agent: at `/agent/vigil.js`, the stable name a snippet can
//! keep across upgrades (cached briefly, revalidated by ETag), and at
//! `/agent/vigil.<hash>.js`, a name that changes with its content (cached for a year).
//! Both answer with the gzip or brotli variant made when the binary was built, when the
//! browser takes it.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A script bundle as built when this binary was compiled (empty if it was not built),
/// with its gzip and brotli variants and its content hash (16 hex digits).
pub struct Bundle {
    /// The stable name (`vigil`, `vigil-replay`).
    pub name: &'static str,
    /// The script.
    pub js: &'static [u8],
    gzip: &'static [u8],
    brotli: &'static [u8],
    /// The content hash; empty when it was not built.
    pub hash: &'static str,
}

macro_rules! bundle {
    ($name:literal) => {
        Bundle {
            name: $name,
            js: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".js")),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".js.gz")),
            brotli: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".js.br")),
            hash: include_str!(concat!(env!("OUT_DIR"), "/", $name, "_hash.txt")),
        }
    };
}

/// The core agent.
pub static AGENT: Bundle = bundle!("vigil");
/// The session replay chunk, loaded by the agent only for sessions sampled for replay.
pub static REPLAY: Bundle = bundle!("vigil-replay");
/// The bundle's content hash (16 hex digits; empty when it was not built).
pub const AGENT_HASH: &str = AGENT.hash;

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

fn serve(bundle: &Bundle, headers: &HeaderMap, cache_control: &'static str) -> Response {
    if bundle.js.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "{}.js was not built into this binary: run `npm run build` in agent/ and rebuild",
                bundle.name
            ),
        )
            .into_response();
    }
    let encoding = negotiate(headers);
    let (body, coding, suffix) = match encoding {
        Encoding::Brotli => (bundle.brotli, Some("br"), "-br"),
        Encoding::Gzip => (bundle.gzip, Some("gzip"), "-gz"),
        Encoding::Identity => (bundle.js, None, ""),
    };
    // Each variant has its own tag: a cache must not answer a gzip request with brotli.
    let tag = format!("\"{}{suffix}\"", bundle.hash);
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
    serve(&AGENT, &headers, "public, max-age=300")
}

/// `GET /agent/vigil-replay.js`: the replay chunk under the name the agent loads it by.
pub async fn replay_js(headers: HeaderMap) -> Response {
    serve(&REPLAY, &headers, "public, max-age=300")
}

/// `GET /agent/{file}`: the versioned name of this build's agent or replay chunk,
/// cacheable for a year; any other name (another build's hash) is not found.
pub async fn agent_versioned(Path(file): Path<String>, headers: HeaderMap) -> Response {
    for bundle in [&AGENT, &REPLAY] {
        if !bundle.hash.is_empty() && file == format!("{}.{}.js", bundle.name, bundle.hash) {
            return serve(bundle, &headers, "public, max-age=31536000, immutable");
        }
    }
    crate::error::ApiError::NotFound.into_response()
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
