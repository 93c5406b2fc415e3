//! Source maps: uploaded by a release script (an ingest-admin or admin token) or a member,
//! listed for everyone of the project, deleted by members. One request carries one file of
//! a bundle: `POST /api/v1/sourcemaps?release=R&url=U&kind=map|script` with the file as the
//! body; `vigil sourcemaps upload` sends a folder this way.

use crate::access::{ManageSourceMaps, ProjectAccess, Read};
use crate::{ApiError, AppState};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;
use std::sync::Arc;
use vigil_errors::{ErrorProcessor, SourceMapStore, UploadError};
use vigil_meta::BundleFile;

/// What the source-map routes share.
pub struct SourceMaps {
    /// The uploads of the data folder.
    pub store: Arc<SourceMapStore>,
    /// Intake's error processor, whose remembered lookups an upload makes stale.
    pub processor: Arc<ErrorProcessor>,
    /// Uploads read whole into memory; two at a time bound that memory.
    pub slots: tokio::sync::Semaphore,
}

impl SourceMaps {
    /// The routes' state over a store and intake's processor.
    pub fn new(store: Arc<SourceMapStore>, processor: Arc<ErrorProcessor>) -> Self {
        Self {
            store,
            processor,
            slots: tokio::sync::Semaphore::new(2),
        }
    }
}

/// The source-map routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/v1/sourcemaps",
            get(list).post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/sourcemaps/{map_id}", delete(remove))
}

#[derive(Deserialize)]
struct UploadParams {
    release: String,
    url: String,
    #[serde(default)]
    kind: Option<String>,
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        ApiError::Upload(e)
    }
}

async fn run<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// `POST /api/v1/sourcemaps`: one file of a bundle. The map must parse and the script be
/// text; either may carry the bundle's debug id. 201 with the bundle's entry.
async fn upload(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageSourceMaps>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = match params.kind.as_deref() {
        None | Some("map") => BundleFile::Map,
        Some("script") => BundleFile::Source,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "kind {other:?} is not map or script"
            )));
        }
    };
    let maps = &state.sourcemaps;
    let limits = maps.store.limits();
    let (what, limit) = match kind {
        BundleFile::Map => ("source map", limits.max_map_bytes),
        BundleFile::Source => ("script", limits.max_source_bytes),
    };
    // The declared length is not trusted: the body is read up to the limit, so a client
    // still sending sees the 413 rather than a broken pipe.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = |bytes: Option<usize>| {
        ApiError::Upload(UploadError::TooLarge {
            what,
            bytes: bytes.unwrap_or(limit + 1),
            limit,
        })
    };
    let _slot = maps
        .slots
        .try_acquire()
        .map_err(|_| ApiError::Busy(2, "two uploads are running; retry in a moment".into()))?;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(declared))?;
    let store = maps.store.clone();
    let project = access.project.id;
    let entry = run(move || {
        store
            .upload(project, &params.release, &params.url, kind, &bytes)
            .map_err(ApiError::from)
    })
    .await?;
    if let Some(s) = maps.processor.symbolicator() {
        s.forget_lookups();
    }
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// `GET /api/v1/sourcemaps`: the project's uploads and their totals.
async fn list(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let store = state.sourcemaps.store.clone();
    let meta = state.meta.clone();
    let project = access.project.id;
    let (entries, totals) =
        run(move || Ok((store.list(project)?, meta.sourcemap_totals(project)?))).await?;
    Ok(Json(serde_json::json!({ "sourcemaps": entries, "totals": totals })).into_response())
}

/// `DELETE /api/v1/sourcemaps/{map_id}`: an upload and its files.
async fn remove(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageSourceMaps>,
    Path(map_id): Path<i64>,
) -> Result<Response, ApiError> {
    let store = state.sourcemaps.store.clone();
    let project = access.project.id;
    let removed = run(move || Ok(store.delete(project, map_id)?)).await?;
    if let Some(s) = state.sourcemaps.processor.symbolicator() {
        s.forget_lookups();
    }
    if removed.is_some() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}
