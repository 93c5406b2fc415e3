//! Projects and who may do what in them: settings, API tokens (`tokens.rs`), members and
//! invitations (`members.rs`), and erasure of a user's or a monitored session's data. Every
//! route here that names a project takes it through [`ProjectAccess`], whose type parameter
//! says what the caller needs.

mod members;
mod tokens;

use crate::access::{Actor, ChangeSettings, Erase, ProjectAccess, Read, SignedIn, with_meta};
use crate::login::parse_body;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use vigil_meta::{Project, Scope};

/// Projects, their settings, tokens, members, invitations and erasure.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/projects", post(create_project))
        .route(
            "/api/v1/projects/{id}",
            get(project_settings).put(update_project),
        )
        .route(
            "/api/v1/projects/{id}/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route(
            "/api/v1/projects/{id}/tokens/{token_id}",
            delete(tokens::revoke),
        )
        .route(
            "/api/v1/projects/{id}/members",
            get(members::list).post(members::invite),
        )
        .route(
            "/api/v1/projects/{id}/members/{user_id}",
            put(members::change_role).delete(members::remove),
        )
        .route(
            "/api/v1/projects/{id}/invitations",
            get(members::list_invitations),
        )
        .route(
            "/api/v1/projects/{id}/invitations/{invitation_id}",
            delete(members::revoke_invitation),
        )
        .route("/api/v1/projects/{id}/erasure", post(erase))
}

/// The scheme and host the client used, for links back to us.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if crate::access::forwarded_https(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// A project's settings as the dashboard shows them, with the install snippet.
fn settings_body(project: &Project, headers: &HeaderMap) -> serde_json::Value {
    let script = |path: &str| {
        format!(
            "<script async src=\"{}{path}\" data-key=\"{}\"></script>",
            base_url(headers),
            project.public_key
        )
    };
    serde_json::json!({
        "id": project.id, "name": project.name, "public_key": project.public_key,
        "allowed_origins": project.allowed_origins, "retention_days": project.retention_days,
        // The stable name picks up each upgrade's agent; the pinned one is cached for a
        // year and changes only when the snippet is pasted again.
        "snippet": script("/agent/vigil.js"),
        "pinned_snippet": script(&crate::assets::agent_versioned_path()),
    })
}

/// The answer to a DELETE: 204 when something was removed, else 404.
fn deleted(removed: bool) -> Result<Response, ApiError> {
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `GET /api/v1/projects/{id}`.
async fn project_settings(
    headers: HeaderMap,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    Ok(Json(settings_body(&access.project, &headers)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    allowed_origins: Option<Vec<String>>,
    retention_days: Option<u32>,
}

/// `PUT /api/v1/projects/{id}`: allowed origins and retention. Owners, admin tokens, and
/// ingest-admin tokens for the origins only (retention deletes data).
async fn update_project(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    access: ProjectAccess<ChangeSettings>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let change: SettingsChange = parse_body(&body)?;
    if change.retention_days.is_some()
        && matches!(access.actor, Actor::Token(scope) if scope < Scope::Admin)
    {
        return Err(ApiError::Forbidden(
            "changing retention needs an api token with the admin scope".into(),
        ));
    }
    if let Some(origins) = &change.allowed_origins {
        check_origins(origins)?;
    }
    let id = access.project.id;
    let updated = with_meta(&state, move |meta| {
        if let Some(days) = change.retention_days {
            meta.set_retention_days(id, days)?;
        }
        if let Some(origins) = &change.allowed_origins {
            meta.set_allowed_origins(id, origins)?;
        }
        meta.project_by_id(id)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(Json(settings_body(&updated, &headers)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasureRequest {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
}

/// `POST /api/v1/projects/{id}/erasure` `{"user_id"}` or `{"session_id"}` (a monitored
/// session): deletes every event of that user or session acknowledged so far, from every
/// table and file (replaced files are gone within seconds). Owners and admin tokens only.
async fn erase(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Erase>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: ErasureRequest = parse_body(&body)?;
    let valid = |v: &String| !v.is_empty() && v.len() <= 1024;
    let erasure = match (request.user_id, request.session_id) {
        (Some(user), None) if valid(&user) => vigil_store::Erasure::User(user),
        (None, Some(session)) if valid(&session) => vigil_store::Erasure::Session(session),
        _ => {
            return Err(ApiError::InvalidBody(
                "name exactly one of user_id or session_id, 1 to 1024 bytes".into(),
            ));
        }
    };
    let replay_segments = erase_replay(&state, access.project.id, &erasure).await?;
    let report = match state.queries.remote() {
        // ClickHouse behind the local store: both, with shipping held off meanwhile.
        Some(remote) => {
            let (store, project) = (state.store.clone(), access.project.id);
            tokio::task::spawn_blocking(move || remote.erase(&store, project, &erasure))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(ApiError::Internal)?
        }
        None => state
            .store
            .erase(access.project.id, erasure)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    Ok(Json(serde_json::json!({
        "rows_removed": report.rows_removed,
        "files_rewritten": report.files_rewritten,
        "replay_segments_removed": replay_segments,
        "files_deleted_within_seconds": vigil_store::ERASURE_GRACE.as_secs() + 5,
    }))
    .into_response())
}

/// Deletes the replay of the erased session, or of every session of the erased user (found
/// in the events before they are erased; at most the 1,000 latest sessions per request).
async fn erase_replay(
    state: &AppState,
    project: u32,
    erasure: &vigil_store::Erasure,
) -> Result<u64, ApiError> {
    let sessions: Vec<String> = match erasure {
        vigil_store::Erasure::Session(s) => vec![s.clone()],
        vigil_store::Erasure::User(user) => {
            state.queries.sessions_of_user(project, user, 1000).await?
        }
    };
    let replay = state.replay.clone();
    tokio::task::spawn_blocking(move || {
        sessions
            .iter()
            .map(|s| replay.erase_session(project, s))
            .sum::<std::io::Result<u64>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: String,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    retention_days: Option<u32>,
}

fn check_origins(origins: &[String]) -> Result<(), ApiError> {
    let valid = |o: &String| o == "*" || o.starts_with("https://") || o.starts_with("http://");
    match origins.iter().find(|o| !valid(o)) {
        Some(bad) => Err(ApiError::InvalidBody(format!(
            "origin {bad:?} must be * or start with http:// or https://"
        ))),
        None => Ok(()),
    }
}

/// `POST /api/v1/projects`: a signed-in user creates a project and becomes its owner. The
/// answer carries its first API token (read scope), shown only this once. Tokens cannot
/// create projects.
async fn create_project(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let new: NewProject = parse_body(&body)?;
    check_origins(&new.allowed_origins)?;
    let retention = new.retention_days.unwrap_or(90);
    if retention == 0 {
        return Err(ApiError::InvalidBody(
            "retention must be at least 1 day".into(),
        ));
    }
    let owner = signed_in.login_session.user.id;
    let (project, token) = with_meta(&state, move |meta| {
        let (project, token) =
            meta.create_project(new.name.trim(), &new.allowed_origins, retention)?;
        meta.add_member(owner, project.id)?;
        Ok((project, token))
    })
    .await?;
    let mut body = settings_body(&project, &headers);
    body["api_token"] = token.into();
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
