//! Serves the dashboard: from `--web-dir` when given (for working on it without rebuilding
//! the binary), else the files embedded at build time.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

const NOT_BUILT: &str = "<!doctype html><title>Vigil</title><p>The dashboard was not built into this binary: run <code>npm run build</code> in <code>web/</code> and rebuild.</p>";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn file(web_dir: Option<&std::path::Path>, path: &str) -> Option<Vec<u8>> {
    // Only plain relative names: no `..`, no absolute paths.
    if path.split('/').any(|seg| seg.is_empty() || seg == "..") {
        return None;
    }
    match web_dir {
        Some(dir) => std::fs::read(dir.join(path)).ok(),
        None => WEB_FILES
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| b.to_vec()),
    }
}

fn respond(web_dir: Option<&std::path::Path>, path: &str) -> Response {
    let (path, bytes) = match file(web_dir, path) {
        Some(b) => (path, b),
        // Client-side routes (`/errors`, `/sessions/…`) all load the app's page.
        None if path == "index.html" || !path.contains('.') => match file(web_dir, "index.html") {
            Some(b) => ("index.html", b),
            None => {
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    NOT_BUILT,
                )
                    .into_response();
            }
        },
        None => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"),
    );
    response
}

/// `GET /`.
pub async fn index(State(web_dir): State<Arc<Option<std::path::PathBuf>>>) -> Response {
    respond(web_dir.as_deref(), "index.html")
}

/// `GET /{*path}`: dashboard files and client-side routes.
pub async fn asset(
    State(web_dir): State<Arc<Option<std::path::PathBuf>>>,
    Path(path): Path<String>,
) -> Response {
    // An API path nothing answers is an API error, not the app's page.
    if path.starts_with("api/") {
        return crate::error::json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    }
    respond(web_dir.as_deref(), &path)
}
